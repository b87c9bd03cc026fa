"""ASGI middleware in front of the scoring routes: API key, size limit, JSON, 422 errors.

* **API key.** When ``LEADSCORE_API_KEY`` is set, every protected path (scoring, ingest and
  ``/model``) needs it as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, compared in
  constant time (``hmac.compare_digest``); otherwise 401. ``/livez``, ``/readyz``,
  ``/metrics`` and the OpenAPI document stay open.
* **Size.** A body over ``max_body_bytes`` is refused with 413 before it reaches the service
  (by ``Content-Length`` when sent, else while reading).
* **JSON only.** A body declared as anything but ``application/json`` is a 415 (BentoML would
  otherwise parse it as a form and echo the raw body into its error log).
* **Validation errors.** BentoML answers pydantic validation errors with 400; they become 422
  with one entry per bad field (``leads[3].lead.created_at``); a body that is not JSON at all
  stays 400.

Pure ASGI (no ``BaseHTTPMiddleware``), so the hot path costs a few dict look-ups.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Awaitable, Callable

logger = logging.getLogger(__name__)

API_PATHS = frozenset({"/score", "/score/batch", "/opportunities/win", "/events", "/forecast"})
PROTECTED_PATHS = API_PATHS | {"/model"}
FROM_SETTINGS: Any = object()

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _configured_key() -> str | None:
    from crm.settings import load_settings

    secret = load_settings().api_key
    return secret.get_secret_value() if secret is not None else None


def _configured_limit() -> int:
    from serving.settings import ServingSettings

    return ServingSettings().max_body_bytes


def dotted_field(loc: list | tuple) -> str:
    """``["leads", 3, "lead", "created_at"]`` -> ``leads[3].lead.created_at`` (``body`` if
    empty)."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def rewrite_validation_error(raw: bytes) -> tuple[int, bytes]:
    """BentoML's 400 validation body as (status, body) of our error format (422 per field)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return 400, raw
    if not isinstance(data, dict) or not isinstance(data.get("detail"), list):
        return 400, raw
    fields = [{"field": dotted_field(item.get("loc", ())), "message": str(item.get("msg", "")),
               "type": str(item.get("type", ""))}
              for item in data["detail"] if isinstance(item, dict)]
    if fields and all(f["type"] == "json_invalid" for f in fields):
        body = {"error": "the request body is not valid JSON", "fields": fields}
        return 400, json.dumps(body).encode()
    body = {"error": f"{len(fields)} invalid field(s)", "fields": fields}
    return 422, json.dumps(body, ensure_ascii=False).encode()


async def _send_json(send: Send, status: int, body: dict,
                     headers: list[tuple[bytes, bytes]] = ()) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    """API key, body-size limit, JSON-only bodies and 422 validation errors (see module).

    Args:
        app: the ASGI app behind.
        api_key: the key (None or empty: no key needed); default: ``LEADSCORE_API_KEY``.
        max_body_bytes: largest body accepted; default: ``LEADSCORE_SERVING_MAX_BODY_BYTES``.
    """

    def __init__(self, app: Callable, *, api_key: str | None = FROM_SETTINGS,
                 max_body_bytes: int | None = None,
                 protected_paths: frozenset[str] = PROTECTED_PATHS,
                 api_paths: frozenset[str] = API_PATHS):
        self.app = app
        key = _configured_key() if api_key is FROM_SETTINGS else api_key
        self._key = key.encode() if key else None
        self.max_body_bytes = max_body_bytes or _configured_limit()
        self.protected_paths = protected_paths
        self.api_paths = api_paths
        logger.info("API key %s", "required on scoring routes" if self._key else "not configured")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        headers = dict(scope.get("headers") or [])
        if path in self.protected_paths and not self._authorised(headers):
            await _send_json(send, 401, {"error": "missing or invalid API key"},
                             [(b"www-authenticate", b"Bearer")])
            return
        if path in self.api_paths and scope.get("method") == "POST":
            await self._guard_body(scope, receive, send, headers)
            return
        await self.app(scope, receive, send)

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        if self._key is None:
            return True
        presented = headers.get(b"x-api-key", b"")
        bearer = headers.get(b"authorization", b"")
        if bearer[:7].lower() == b"bearer ":
            presented = bearer[7:].strip()
        return hmac.compare_digest(presented, self._key)

    async def _guard_body(self, scope: Scope, receive: Receive, send: Send,
                          headers: dict[bytes, bytes]) -> None:
        media = headers.get(b"content-type", b"application/json").split(b";")[0].strip().lower()
        if media != b"application/json":
            await _send_json(send, 415, {"error": "send the body as application/json"})
            return
        too_large = {"error": f"the request body is larger than {self.max_body_bytes} bytes"}
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_json(send, 413, too_large)
            return
        body = await self._read_body(receive)
        if body is None:
            await _send_json(send, 413, too_large)
            return
        await self.app(scope, _replay(body, receive), _rewriting(send))

    async def _read_body(self, receive: Receive) -> bytes | None:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _rewriting(send: Send) -> Send:
    """A ``send`` that turns BentoML's 400 validation answers into our 422 format."""
    held: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def rewrite(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            held["start"] = message
            return
        if "start" not in held or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, body = rewrite_validation_error(b"".join(chunks))
        start = held["start"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return rewrite
