"""Log hygiene of the service process: client errors as one-line warnings, no request data.

BentoML logs every request its validation refuses as ERROR with a full traceback (100 bad
requests: 229 KB), and the traceback's message quotes the refused input, so whatever a client
sent (``fx`` keys, e-mail addresses in a misplaced field) reached the log. ``ClientErrorFilter``
turns those records into one WARNING line naming the route, the number of bad fields and their
error types (never their values); server errors keep their tracebacks.
"""

from __future__ import annotations

import logging

BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


def describe_client_error(error: BaseException) -> str | None:
    """A one-line summary of a client error without its input, or None for other errors."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        kinds = sorted({str(item.get("type", "")) for item in error.errors()})
        return f"{error.error_count()} invalid field(s) ({', '.join(kinds)})"
    if isinstance(error, BentoMLException) and error.error_code.value < 500:
        return f"{type(error).__name__} ({error.error_code.value})"
    return None


class ClientErrorFilter(logging.Filter):
    """Rewrites BentoML's "Exception on <path>" records of client errors (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        summary = describe_client_error(error) if error is not None else None
        if summary is None:
            return True
        path, method = (record.args or ("?", "?"))[:2]
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg, record.args = "invalid request on %s [%s]: %s", (path, method, summary)
        record.exc_info, record.exc_text = None, None
        return True


def install_log_filters() -> None:
    """Add ``ClientErrorFilter`` to BentoML's HTTP logger once (call in the service process)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, ClientErrorFilter) for f in logger.filters):
        logger.addFilter(ClientErrorFilter())
