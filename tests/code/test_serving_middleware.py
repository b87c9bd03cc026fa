"""GuardMiddleware in front of a stand-in app: API key, size limit, JSON only, 422 errors.

Every route of the real service is walked in ``tests/model/test_serving_http.py``."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from serving.middleware import (
    GuardMiddleware,
    dotted_field,
    is_public,
    rewrite_validation_error,
)

KEY = "s3cret-key"


async def _stand_in(scope, receive, send) -> None:
    """Echoes the body size; answers a BentoML-style 400 when the body contains "bad"."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, payload = 200, {"path": scope["path"], "bytes": len(body)}
    if b"bad" in body:
        status, payload = 400, {"error": "2 validation error for ScoreRequest", "detail": [
            {"type": "finite_number", "loc": ["company", "employees"],
             "msg": "Input should be a finite number"},
            {"type": "extra_forbidden", "loc": ["leads", 2, "lead", "bad"],
             "msg": "Extra inputs are not permitted"}]}
    if b"notjson" in body:
        status, payload = 400, {"error": "1 validation error", "detail": [
            {"type": "json_invalid", "loc": [], "msg": "Invalid JSON: expected value"}]}
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _call(method: str, path: str, *, api_key: str | None = KEY, limit: int = 1_000,
          authorisers=(), **kwargs) -> httpx.Response:
    app = GuardMiddleware(_stand_in, api_key=api_key, max_body_bytes=limit,
                          authorisers=authorisers)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"X-API-Key": KEY + "x"}, {"Authorization": KEY}])
@pytest.mark.parametrize(("method", "path"), [("POST", "/score"), ("POST", "/score/batch"),
                                              ("POST", "/opportunities/win"),
                                              ("POST", "/events"), ("GET", "/model"),
                                              ("GET", "/model/"), ("GET", "/schema.json"),
                                              ("GET", "/a-route-added-later"),
                                              ("POST", "/admin/reports"), ("GET", "/livez/x")])
def test_protected_routes_need_the_key(method: str, path: str, headers: dict) -> None:
    response = _call(method, path, headers=headers, json={})
    assert response.status_code == 401
    assert response.json() == {"error": "missing or invalid API key"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"},
                                     {"authorization": f"bearer {KEY}"}, {"X-API-Key": KEY}])
def test_the_right_key_passes(headers: dict) -> None:
    response = _call("POST", "/score", headers=headers, json={"lead_id": "L1"})
    assert response.status_code == 200 and response.json()["path"] == "/score"


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/healthz", "/metrics", "/docs.json",
                                  "/", "/metrics/", "/static_content/swagger-ui.css"])
def test_declared_public_routes_stay_open(path: str) -> None:
    assert is_public(path)
    assert _call("GET", path).status_code == 200


def test_public_routes_can_be_extended_without_opening_others() -> None:
    app = GuardMiddleware(_stand_in, api_key=KEY, max_body_bytes=1_000,
                          public_paths=frozenset({"/livez", "/app/login"}), public_prefixes=())

    async def go(path: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get(path)).status_code

    assert asyncio.run(go("/app/login")) == 200
    assert asyncio.run(go("/app")) == 401 and asyncio.run(go("/metrics")) == 401
    assert asyncio.run(go("/ui/")) == 401  # the default prefixes replaced


def test_an_authoriser_admits_what_it_recognises_and_nothing_else() -> None:
    def session_cookie(scope, key: bytes) -> bool:  # what a web page's login would check
        cookie = dict(scope["headers"]).get(b"cookie", b"")
        return cookie == b"session=" + key[::-1]

    ok = {"Cookie": "session=" + KEY[::-1]}
    assert _call("GET", "/leads/L1/handoff", headers=ok, authorisers=[session_cookie]).status_code == 200
    bad = {"Cookie": "session=forged"}
    assert _call("GET", "/leads/L1/handoff", headers=bad, authorisers=[session_cookie]).status_code == 401
    assert _call("GET", "/leads/L1/handoff", headers=ok).status_code == 401


def test_without_a_configured_key_nothing_is_asked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="serving.middleware"):
        assert _call("POST", "/score", api_key=None, json={"lead_id": "L1"}).status_code == 200
        assert _call("GET", "/model", api_key=None).status_code == 200
    assert "API key auth is OFF" in caplog.text and "LEADSCORE_API_KEY" in caplog.text


def test_with_a_key_the_start_log_says_auth_is_on(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="serving.middleware"):
        GuardMiddleware(_stand_in, api_key=KEY, max_body_bytes=1_000)
    assert "API key auth is ON" in caplog.text and "/livez" in caplog.text
    assert KEY not in caplog.text


@pytest.mark.parametrize("key", ["", "  "])
def test_an_empty_key_is_an_error_naming_the_variable(key: str) -> None:
    with pytest.raises(ValueError, match="LEADSCORE_API_KEY is set but empty"):
        GuardMiddleware(_stand_in, api_key=key, max_body_bytes=1_000)


def test_an_empty_key_variable_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_API_KEY", "")
    with pytest.raises(ValueError, match="LEADSCORE_API_KEY is set but empty"):
        GuardMiddleware(_stand_in, max_body_bytes=1_000)


def test_large_bodies_are_refused_by_declared_length() -> None:
    response = _call("POST", "/score", headers={"X-API-Key": KEY}, limit=100,
                     content=b"{" + b" " * 200 + b"}",
                     )
    assert response.status_code == 413
    assert response.json() == {"error": "the request body is larger than 100 bytes"}


def test_large_streamed_bodies_are_refused_while_reading() -> None:
    async def chunks():
        for _ in range(10):
            yield b" " * 50

    response = _call("POST", "/events", headers={"X-API-Key": KEY,
                                                 "content-type": "application/json"},
                     limit=100, content=chunks())
    assert response.status_code == 413


def test_bodies_within_the_limit_reach_the_app_whole() -> None:
    body = json.dumps({"lead_id": "x" * 50}).encode()
    response = _call("POST", "/score", headers={"X-API-Key": KEY,
                                                "content-type": "application/json"},
                     content=body)
    assert response.status_code == 200 and response.json()["bytes"] == len(body)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_non_json_bodies_are_415(content_type: str) -> None:
    response = _call("POST", "/score", headers={"X-API-Key": KEY, "content-type": content_type},
                     content=b'{"lead_id": "L1"}')
    assert response.status_code == 415
    assert response.json() == {"error": "send the body as application/json"}


def test_validation_errors_become_422_naming_each_field() -> None:
    response = _call("POST", "/score", headers={"X-API-Key": KEY}, json={"x": "bad"})
    assert response.status_code == 422
    assert response.json() == {"error": "2 invalid field(s)", "fields": [
        {"field": "company.employees", "message": "Input should be a finite number",
         "type": "finite_number"},
        {"field": "leads[2].lead.bad", "message": "Extra inputs are not permitted",
         "type": "extra_forbidden"}]}
    assert int(response.headers["content-length"]) == len(response.content)


def test_a_body_that_is_not_json_stays_400() -> None:
    response = _call("POST", "/score", headers={"X-API-Key": KEY}, json={"x": "notjson"})
    assert response.status_code == 400
    assert response.json()["error"] == "the request body is not valid JSON"


@pytest.mark.parametrize(("loc", "expected"), [
    ([], "body"), (["as_of"], "as_of"), (["lead", "created_at"], "lead.created_at"),
    (["leads", 3, "company", "employees"], "leads[3].company.employees"),
    (["events", 0], "events[0]"),
])
def test_dotted_field(loc: list, expected: str) -> None:
    assert dotted_field(loc) == expected


def test_other_400_bodies_are_left_alone() -> None:
    raw = b'[{"error": "something else"}]'
    assert rewrite_validation_error(raw) == (400, raw)
    assert rewrite_validation_error(b"plain text") == (400, b"plain text")


def test_a_websocket_without_the_key_is_refused_and_lifespan_passes() -> None:
    reached, sent = [], []

    async def app(scope, receive, send) -> None:
        reached.append(scope["type"])

    async def send(message) -> None:
        sent.append(message)

    guard = GuardMiddleware(app, api_key=KEY, max_body_bytes=1_000)
    socket = {"type": "websocket", "path": "/stream", "headers": []}
    asyncio.run(guard(socket, None, send))
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    keyed = {**socket, "headers": [(b"x-api-key", KEY.encode())]}
    asyncio.run(guard(keyed, None, send))
    asyncio.run(guard({"type": "lifespan"}, None, send))
    assert reached == ["websocket", "lifespan"]
