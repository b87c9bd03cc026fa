"""ASGI middleware in front of every route: API key, size limit, JSON, 422 errors.

* **API key, secure by default.** When ``LEADSCORE_API_KEY`` is set, EVERY path needs it
  as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (compared in constant time,
  ``hmac.compare_digest``), otherwise 401 — unless it is declared public: ``PUBLIC_PATHS``
  (``/livez``, ``/readyz``, ``/healthz``, ``/metrics``, the OpenAPI document ``/docs.json``
  and the docs page ``/``) and ``PUBLIC_PREFIXES`` (the docs page's assets; the web page
  ``/ui``, which asks for the key itself and then holds a session cookie). A new route is
  therefore protected without anyone remembering to list it. Other ways to prove the same
  right (e.g. a web page's session cookie) plug in as ``authorisers``. An empty key is an
  error, not "auth off"; the middleware logs at start whether auth is on.
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
from typing import Any, Awaitable, Callable, Sequence

from crm.settings import API_KEY_VARIABLE, check_api_key, load_settings

logger = logging.getLogger(__name__)

API_PATHS = frozenset({"/score", "/score/batch", "/opportunities/win", "/events", "/forecast"})
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/",
                          "/ui"})
PUBLIC_PREFIXES: tuple[str, ...] = (
    "/static_content/",  # the docs page's scripts and styles
    "/ui/",  # the web page signs in itself (serving.ui: key prompt, then a session cookie)
)
FROM_SETTINGS: Any = object()

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Authoriser = Callable[[Scope, bytes], bool]
"""``(scope, key) -> True`` when the request proves the right to the API another way than
the key header (e.g. a session cookie issued after the key was entered on a web page)."""


def is_public(path: str, public_paths: frozenset[str] = PUBLIC_PATHS,
              public_prefixes: Sequence[str] = PUBLIC_PREFIXES) -> bool:
    """True when ``path`` is open without the API key (everything else needs it)."""
    path = path.rstrip("/") or "/"
    return path in public_paths or any(path.startswith(p.rstrip("/") + "/")
                                       for p in public_prefixes)


def _configured_key() -> str | None:
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
        api_key: the key (None: no key needed; empty: ``ValueError``); default:
            ``LEADSCORE_API_KEY``.
        max_body_bytes: largest body accepted; default: ``LEADSCORE_SERVING_MAX_BODY_BYTES``.
        public_paths / public_prefixes: what stays open when a key is set (exact paths;
            path prefixes); every other path needs the key.
        authorisers: other proofs of the right to the API, tried after the key headers.
        api_paths: paths whose POST bodies are checked (JSON, size, 422 errors).
    """

    def __init__(self, app: Callable, *, api_key: str | None = FROM_SETTINGS,
                 max_body_bytes: int | None = None,
                 public_paths: frozenset[str] = PUBLIC_PATHS,
                 public_prefixes: Sequence[str] = PUBLIC_PREFIXES,
                 authorisers: Sequence[Authoriser] = (),
                 api_paths: frozenset[str] = API_PATHS):
        self.app = app
        key = check_api_key(_configured_key() if api_key is FROM_SETTINGS else api_key)
        self._key = key.encode() if key is not None else None
        self.max_body_bytes = max_body_bytes or _configured_limit()
        self.public_paths = frozenset(public_paths)
        self.public_prefixes = tuple(public_prefixes)
        self.authorisers = tuple(authorisers)
        self.api_paths = api_paths
        if self._key is None:
            logger.warning("API key auth is OFF: every route is open (set %s to require a key)",
                           API_KEY_VARIABLE)
        else:
            logger.info("API key auth is ON: every route needs the key except %s",
                        ", ".join(sorted(self.public_paths) + [f"{p}*" for p in
                                                               self.public_prefixes]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "websocket":
            if self._authorised(scope, path, headers):
                await self.app(scope, receive, send)
            else:  # closing before accepting refuses the handshake (403)
                await send({"type": "websocket.close", "code": 1008})
            return
        if not self._authorised(scope, path, headers):
            await _send_json(send, 401, {"error": "missing or invalid API key"},
                             [(b"www-authenticate", b"Bearer")])
            return
        if path in self.api_paths and scope.get("method") == "POST":
            await self._guard_body(scope, receive, send, headers)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope, path: str, headers: dict[bytes, bytes]) -> bool:
        if self._key is None or is_public(path, self.public_paths, self.public_prefixes):
            return True
        presented = headers.get(b"x-api-key", b"")
        bearer = headers.get(b"authorization", b"")
        if bearer[:7].lower() == b"bearer ":
            presented = bearer[7:].strip()
        if hmac.compare_digest(presented, self._key):
            return True
        return any(authorise(scope, self._key) for authorise in self.authorisers)

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
