"""The web page's sign-in: the API key typed once into a form, then a signed session cookie.

The key never travels in a URL. ``POST /ui/login`` compares the typed key with
``LEADSCORE_API_KEY`` in constant time and, when it matches, sets ``leadscore_session``:
HttpOnly, SameSite=Strict, signed with a secret derived from the API key (itsdangerous, HMAC
SHA-1 over a timestamp), so rotating the key ends every session. A session lasts
``SESSION_SECONDS``. Programs keep using ``Authorization: Bearer <key>`` / ``X-API-Key``.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie
from typing import Mapping

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

COOKIE_NAME = "leadscore_session"
SESSION_SECONDS = 12 * 3600
_SESSION_VALUE = b"leadscore-ui"


def _signer(api_key: str) -> TimestampSigner:
    secret = hmac.new(api_key.encode(), b"leadscore ui session v1", hashlib.sha256).digest()
    return TimestampSigner(secret, salt="leadscore-session")


def issue_session(api_key: str) -> str:
    """A signed session token for the cookie (valid for ``SESSION_SECONDS``)."""
    return _signer(api_key).sign(_SESSION_VALUE).decode()


def session_is_valid(token: str | None, api_key: str, max_age: int = SESSION_SECONDS) -> bool:
    """True when ``token`` was issued with ``api_key`` no longer than ``max_age`` seconds ago."""
    if not token:
        return False
    try:
        return _signer(api_key).unsign(token, max_age=max_age) == _SESSION_VALUE
    except (BadSignature, SignatureExpired):
        return False


def key_matches(presented: str | bytes | None, api_key: str) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if presented is None:
        return False
    if isinstance(presented, str):
        presented = presented.encode()
    return hmac.compare_digest(presented, api_key.encode())


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key sent as ``Authorization: Bearer <key>`` or ``X-API-Key`` (None if neither)."""
    bearer = headers.get("authorization", "")
    if bearer[:7].lower() == "bearer ":
        return bearer[7:].strip()
    return headers.get("x-api-key")


def request_is_authorised(headers: Mapping[str, str], cookies: Mapping[str, str],
                          api_key: str | None) -> bool:
    """True when no key is configured, or the request carries the key or a valid session."""
    if not api_key:
        return True
    return (key_matches(presented_key(headers), api_key)
            or session_is_valid(cookies.get(COOKIE_NAME), api_key))


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path inside ``/ui`` only (no open redirect)."""
    if target and target.startswith("/ui") and "//" not in target and "\\" not in target:
        return target
    return "/ui/"


SESSION_PREFIXES = ("/ui/", "/leads/")
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def session_authoriser(scope: dict, key: bytes) -> bool:
    """A ``GuardMiddleware`` authoriser: a valid session cookie stands in for the key when a
    browser reads the page (``GET`` under ``/ui/``) or a lead's hand-off package (the lead
    page's download links). Never for other routes or writes, so a cookie cannot score,
    ingest or change anything (no cross-site request can ride on it)."""
    path = scope.get("path", "")
    if scope.get("method") not in _SAFE_METHODS or not (
            path == "/ui" or path.startswith(SESSION_PREFIXES[0])
            or (path.startswith(SESSION_PREFIXES[1]) and path.endswith("/handoff"))):
        return False
    cookies = SimpleCookie()
    for name, value in scope.get("headers") or ():
        if name == b"cookie":
            try:
                cookies.load(value.decode("latin-1"))
            except CookieError:
                return False
    token = cookies[COOKIE_NAME].value if COOKIE_NAME in cookies else None
    return session_is_valid(token, key.decode())
