"""A bound on the time a client may take to send its request headers (slowloris).

uvicorn, under BentoML 1.4.39, has no header-read timeout: its keep-alive timer only runs
between requests, and BentoML passes no protocol option through. A client that opens
connections and sends half a header line kept 1,500 of them for over 150 s.

``HeaderTimeoutProtocol`` is uvicorn's own HTTP protocol (httptools, or h11 without it) with
one timer: armed when a connection opens and when data of a new request arrives, cancelled once
the request's headers are complete; when it fires the connection is closed. The limit is
``LEADSCORE_SERVING_HEADER_TIMEOUT_SECONDS``. ``limit_header_time`` makes uvicorn use it; it
must run when the service module is imported, before the worker's uvicorn loads its config.
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.auto import AutoHTTPProtocol

logger = logging.getLogger(__name__)

PROTOCOL = "serving.http_limits:HeaderTimeoutProtocol"


class HeaderTimeoutProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, closing connections whose headers take too long (see module)."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self._between_requests():
            self._arm_header_timer()
        super().data_received(data)
        if not self._between_requests():
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or cycle.response_complete

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._between_requests() and not self.transport.is_closing():
            logger.debug("closing a connection whose request headers took over %gs",
                         self.header_timeout)
            self.transport.close()


def limit_header_time(seconds: float) -> None:
    """Make uvicorn's ``auto`` protocol (BentoML's choice) ``HeaderTimeoutProtocol`` with a
    ``seconds`` limit (process-wide)."""
    from uvicorn import config

    HeaderTimeoutProtocol.header_timeout = seconds
    config.HTTP_PROTOCOLS["auto"] = PROTOCOL
