"""The service probed as an operator would before production, on a real ``bentoml serve``.

One server (no registered model, so the rules answer; a small generated CRM store) takes a
flood of random paths, log-forging paths, bad requests and half-sent headers; each check names
the fault of issue 14 it guards against.
"""

from __future__ import annotations

import itertools
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from serving.process import ServiceProcess
from serving.request_records import score_request_from_tables
from serving.soak import run_soak, standard_traffic

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving_hardening")]

REPO = Path(__file__).resolve().parents[2]
HEADER_TIMEOUT = 4.0


Server = ServiceProcess


@pytest.fixture(scope="module")
def crm_tables(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hardening")
    tables, _ = generate_crm(GeneratorConfig(n_leads=300, seed=5))
    url = f"sqlite:///{root / 'crm.db'}"
    CRMStore(url).write_tables(tables)
    return root, url, tables


@pytest.fixture(scope="module")
def server(crm_tables, tmp_path_factory: pytest.TempPathFactory):
    root, url, _ = crm_tables
    env = {"LEADSCORE_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'no-registry' / 'mlflow.db'}",
           "LEADSCORE_DATABASE_URL": url,
           "LEADSCORE_CONFIG": str(REPO / "no-such-leadscore.yaml"),
           "LEADSCORE_SERVING_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT)}
    process = Server(env, tmp_path_factory.mktemp("logs") / "hardening.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def _metrics(server: Server) -> str:
    return server.client.get("/metrics").text


def test_a_path_flood_keeps_metrics_bounded(server: Server) -> None:
    """Issue 14, item 2: every new path added ~20 series; unknown paths now share one label."""
    def flood(count: int) -> list[str]:
        tokens = [secrets.token_hex(6) for _ in range(count)]
        for token in tokens:
            assert server.client.get(f"/{token}/x").status_code == 404
            server.client.get(f"/static_content/{token}")
            server.client.post(f"/score/{token}", json={})
        return tokens

    flood(20)  # the shared labels' series exist from here on
    before = len(_metrics(server))
    tokens = flood(300)
    metrics = _metrics(server)
    assert len(metrics) - before < 2_000, "the path flood grew /metrics"
    assert not any(token in metrics for token in tokens)
    assert 'endpoint="/{unmatched}"' in metrics
    assert 'endpoint="/score"' in metrics  # known routes keep their own label


def test_the_access_log_cannot_be_forged(server: Server) -> None:
    """Issue 14, item 7: the decoded path went to the access log raw (``%0a``, ``%1b``)."""
    server.client.get("/x%0aFORGED-LINE%20status=200")
    server.client.get("/y%1b[31mRED")
    time.sleep(0.5)
    log = server.log()
    assert not any(line.startswith("FORGED-LINE") for line in log.splitlines())
    assert "\x1b[31mRED" not in log and "FORGED-LINE" not in log


def test_the_index_page_loads_nothing_from_third_parties(server: Server) -> None:
    """Issue 14, item 11: BentoML's index page loads a tag manager script."""
    page = server.client.get("/")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "googletagmanager" not in page.text and "https://" not in page.text
    assert server.client.get("/static_content/swagger-ui-bundle.js").status_code == 200


def test_client_errors_are_one_warning_line_without_their_input(server: Server) -> None:
    """Issue 14, item 7: each 422 was an ERROR with a traceback quoting the input (fx keys)."""
    secret_key = "NOT-A-CURRENCY-kazuko@private.example"
    for _ in range(10):
        response = server.client.post("/forecast", json={"fx": {secret_key: 1.5}})
        assert response.status_code == 422
        assert server.client.post("/score", json={"lead": {"created_at": "soon"}}
                                  ).status_code == 422
    time.sleep(0.5)
    log = server.log()
    assert "Traceback" not in log and secret_key not in log and "kazuko" not in log
    warnings = [line for line in log.splitlines() if "invalid request on /forecast" in line]
    assert len(warnings) == 10 and all("WARNING" in line for line in warnings)


def test_half_sent_headers_are_cut_after_the_header_timeout(server: Server) -> None:
    """Issue 14, item 8: 1,500 connections holding half-sent headers stayed open 150 s+."""
    sockets = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sockets.append(sock)
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # sends nothing
    sockets.append(idle)
    try:
        time.sleep(HEADER_TIMEOUT + 2.0)
        for sock in sockets:
            sock.settimeout(5)
            assert sock.recv(1024) == b"", "the connection is still open"
        assert server.client.get("/livez").status_code == 200  # others still served
    finally:
        for sock in sockets:
            sock.close()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server: Server,
                                                                    tmp_path: Path) -> None:
    """Issue 14, item 6: every answer follows the served document (``null`` included), the
    document is valid OpenAPI 3.0 (no ``exclusiveMinimum: 0``), and nothing is a 5xx."""
    document = server.client.get("/docs.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    assert "/forecast" in document["paths"]
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.url}/docs.json",
         "--checks", "not_a_server_error,response_schema_conformance,"
                     "status_code_conformance,content_type_conformance",
         "--phases", "coverage,fuzzing", "--max-examples", "5",
         "--generation-deterministic", "--request-timeout", "60",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-5000:]
    assert f"Selected: {operations}/{operations}" in run.stdout
    assert f"Tested: {operations}" in run.stdout


def _traffic(crm_tables, prefix: str):
    _, _, tables = crm_tables
    as_of = pd.Timestamp.now(tz="UTC")
    leads = tables["leads"][tables["leads"]["created_at"] < as_of]
    ids = [str(lead) for lead in leads["lead_id"].head(60)]
    inline = [score_request_from_tables(tables, lead, as_of) for lead in ids[:20]]
    return ids, standard_traffic(ids, inline, prefix)


def test_a_fixed_rate_soak_holds_without_errors_or_memory_growth(server: Server,
                                                                  crm_tables) -> None:
    """Issue 14, CI checks: a short fixed-rate soak (the full one: benchmarks/bench_soak.py)."""
    _, traffic = _traffic(crm_tables, "ci-soak")
    run_soak(server.url, traffic, rate=20, seconds=5)  # warm-up
    report = run_soak(server.url, traffic, rate=30, seconds=25, server_pid=server.process.pid)
    assert report.errors == [], report.errors[:5]
    assert report.sent >= 700
    assert report.rss_growth(skip_seconds=3) < 0.05, report.rss


def test_sigkill_during_event_ingest_loses_no_acknowledged_event(crm_tables,
                                                                 tmp_path: Path) -> None:
    """Issue 14, CI checks: ``kill -9`` of the service while /events is busy."""
    root, url, _ = crm_tables
    env = {"LEADSCORE_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'no-registry' / 'mlflow.db'}",
           "LEADSCORE_DATABASE_URL": url,
           "LEADSCORE_CONFIG": str(REPO / "no-such-leadscore.yaml")}
    process = Server(env, tmp_path / "killed.log")
    ids, _ = _traffic(crm_tables, "unused")
    acknowledged: list[str] = []
    stop = threading.Event()

    def ingest() -> None:
        with httpx.Client(base_url=process.url, timeout=10) as http:
            for batch in itertools.count():
                if stop.is_set():
                    return
                events = [{"event_id": f"kill-{batch}-{k}", "lead_id": ids[k % len(ids)],
                           "type": "email_open", "occurred_at": "2026-06-02T00:00:00Z"}
                          for k in range(50)]
                try:
                    answer = http.post("/events", json={"events": events})
                except httpx.HTTPError:
                    continue
                if answer.status_code == 200:
                    acknowledged.extend(e["event_id"] for e in events)

    try:
        process.wait_ready()
        sender = threading.Thread(target=ingest)
        sender.start()
        time.sleep(3.0)
        server_tree = [psutil.Process(process.process.pid),
                       *psutil.Process(process.process.pid).children(recursive=True)]
        for member in server_tree:
            member.kill()  # SIGKILL: no shutdown hook runs
        stop.set()
        sender.join(30)
    finally:
        process.stop()
    stored = set(CRMStore(url).read_table("activities")["event_id"])
    assert len(acknowledged) >= 100
    assert [event for event in acknowledged if event not in stored] == []
