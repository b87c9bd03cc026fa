"""serving.cli: the serve command line and the OpenAPI document written to a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from serving.cli import PROJECT_ROOT, build_serve_command, serve, write_openapi
from serving.process import free_port


def test_openapi_is_written_with_every_route_and_error(tmp_path: Path) -> None:
    path = write_openapi(tmp_path / "docs" / "openapi.json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert {"/score", "/score/batch", "/opportunities/win", "/events", "/model", "/readyz",
            "/livez", "/metrics"} <= set(spec["paths"])
    score = spec["paths"]["/score"]["post"]
    assert {"200", "401", "413", "415", "422", "503"} <= set(score["responses"])
    assert "401" not in spec["paths"]["/livez"]["get"]["responses"]
    assert set(spec["paths"]["/model"]["get"]["responses"]) >= {"200", "401"}
    for path in ("/livez", "/readyz", "/healthz", "/metrics"):  # public: no key declared
        assert "security" not in spec["paths"][path]["get"], path
    assert spec["paths"]["/model"]["get"]["security"][0] == {"bearer": []}
    schemas = spec["components"]["schemas"]
    assert {"ScoreRequest", "ScoreResponse", "ErrorResponse", "FieldError"} <= set(schemas)
    assert schemas["CompanyIn"]["properties"]["employees"]["maximum"] == 5_000_000


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_openapi_is_the_services_contract_in_openapi_30(tmp_path: Path) -> None:
    """Issue 14, item 6: null kept, OpenAPI 3.0 only, cross-field rules documented."""
    spec = json.loads(write_openapi(tmp_path / "openapi.json").read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.0")
    nodes = list(_walk(spec))
    assert not [n for n in nodes if isinstance(n.get("exclusiveMinimum"), (int, float))
                and not isinstance(n["exclusiveMinimum"], bool)]
    assert not [n for n in nodes if n.get("type") == "null" or "propertyNames" in n]
    schemas = spec["components"]["schemas"]
    answer = schemas["ScoreResponse"]["properties"]
    assert answer["probability"]["nullable"] and None in answer["fallback_reason"]["enum"]
    assert {"enum": [None], "nullable": True} in answer["model"]["anyOf"]
    score = spec["paths"]["/score"]["post"]
    body = score["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["as_of"]["nullable"] is True  # null means "now", as served
    assert [rule["required"] for rule in body["anyOf"]] == [["lead_id"], ["lead"]]
    response = score["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["properties"]["probability"]["nullable"] is True
    forecast = spec["paths"]["/forecast"]["post"]["requestBody"]["content"]
    fx = forecast["application/json"]["schema"]["properties"]["fx"]
    assert fx["additionalProperties"]["exclusiveMinimum"] is True


def test_serve_command_targets_the_service() -> None:
    command = build_serve_command("127.0.0.1", 3123)
    assert command[1:] == ["serve", "serving.service:LeadScoring", "--host", "127.0.0.1",
                           "--port", "3123"]
    assert Path(command[0]).name == "bentoml"


@pytest.mark.parametrize("port", [0, 70000])
def test_bad_ports_are_named(port: int) -> None:
    with pytest.raises(ValueError, match=f"port must be between 1 and 65535, got {port}"):
        build_serve_command(port=port)


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_leadscore_serve_stops_bentoml_and_its_worker(tmp_path: Path,
                                                               signum: int) -> None:
    """``leadscore serve`` stopped by its PID leaves nothing answering on the port."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
           "BENTOML_HOME": str(tmp_path / "bentoml"),
           "LEADSCORE_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}",
           "LEADSCORE_CONFIG": str(tmp_path / "absent.yaml")}
    with open(tmp_path / "serve.log", "wb") as log:
        cli = subprocess.Popen([sys.executable, "-m", "leadscore.cli", "serve", "--port",
                                str(port)], cwd=PROJECT_ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and cli.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("not ready: " + (tmp_path / "serve.log").read_text()[-2000:])
        children = _descendants(cli.pid)
        assert len(children) >= 2  # bentoml serve and its worker
        cli.send_signal(signum)
        assert cli.wait(60) is not None
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert alive == []
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)
    finally:
        for process in children:
            if process.is_running():
                process.kill()
        cli.kill()
def test_serve_refuses_an_empty_api_key_before_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    monkeypatch.setattr("serving.cli.subprocess.Popen", lambda *a, **k: started.append(a))
    with pytest.raises(ValueError, match="LEADSCORE_API_KEY is set but empty"):
        serve(env={"LEADSCORE_API_KEY": ""})
    assert started == []
