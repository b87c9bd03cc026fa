"""Benchmark the scoring service over HTTP and print the figures (not a timed test).

One run, all on 127.0.0.1:

1. a generated CRM (5,000 leads) in a temporary SQLite store and a lead (SQL) model trained
   with ``train_model`` into a temporary MLflow store, registered as ``champion``;
2. ``bentoml serve serving.service:LeadScoring``: ``GET /livez`` at concurrency 8 (what the
   framework alone costs per request), ``POST /score`` with reasons (lead sent inline: contact
   data, company, BANT, activities) at concurrency 1 and 8 (also at 8 with only the leads that
   have a company: a lead sent without one makes the service look its company up in the store),
   and by ``lead_id`` (store look-up) at 8, with and without the lead cache; then at 8 with
   micro-batching off, and with two worker processes (``--store-only``: only inline and by
   ``lead_id`` at 8, a short run for the store path's target);
3. the same registered model behind ``mlflow models serve --env-manager local`` (the peer: it
   takes a ready feature vector and returns probability/score/grade, no reasons), at
   concurrency 1 and 8;
4. in-process limits for one lead: ``booster.predict`` + ``pred_contrib`` on a numpy row, and
   the breakdown of the service's own path (request -> records -> features -> model -> answer).

Load comes from a separate client process (``benchmarks/loadgen.py``: asyncio + aiohttp,
keep-alive, closed loop); latency is per request, req/s is requests / wall time. Client and
server share the machine's two cores. The machine is shared: run it on an idle machine for
publishable numbers.

    .venv/bin/python benchmarks/bench_serving.py --requests 2000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from features.training_sets import build_sql_examples  # noqa: E402
from features.config import FeatureConfig  # noqa: E402
from features.leads import build_lead_features, lead_feature_registry  # noqa: E402
from crm.sample import GeneratorConfig, generate_crm  # noqa: E402
from crm.store import CRMStore  # noqa: E402
from loadgen import LoadResult, measure  # noqa: E402
from serving.process import ServerProcess  # noqa: E402
from serving.request_records import score_request_from_tables  # noqa: E402
from training.bundle import signature_frame  # noqa: E402
from training.train import TrainConfig, train_model  # noqa: E402

MODEL = "bench-sql"
AS_OF = pd.Timestamp("2026-09-01T00:00:00Z")
AS_OF_END = pd.Timestamp("2026-10-31T23:59:59Z")


@dataclass
class Case:
    """One measured case."""

    name: str
    concurrency: int
    result: LoadResult

    def row(self) -> str:
        r = self.result
        return (f"{self.name:<52}{self.concurrency:>4}{len(r.latencies):>7}"
                f"{r.percentile(50):>9.2f}{r.percentile(99):>9.2f}{r.rate:>9.1f}{r.errors:>7}")


def build_world(root: Path, n_leads: int) -> dict:
    """Generated CRM in SQLite, model trained and registered as champion."""
    tables, _ = generate_crm(GeneratorConfig(n_leads=n_leads, seed=42))
    crm_url = f"sqlite:///{root / 'crm.db'}"
    CRMStore(crm_url).write_tables(tables)
    config = FeatureConfig()
    examples = build_sql_examples(tables, config, AS_OF_END)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    result = train_model(examples, lead_feature_registry(config), model_name=MODEL,
                         tracking_uri=tracking_uri, feature_config=config.to_dict(),
                         config=TrainConfig(make_plots=False))
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(
        MODEL, "champion", result.version)
    return {"tables": tables, "crm_url": crm_url, "tracking_uri": tracking_uri,
            "bundle": result.bundle, "config": config}


def lead_payloads(tables: dict, n: int) -> tuple[list[dict], list[str]]:
    """Inline /score bodies for ``n`` leads created before AS_OF, and their ids."""
    leads = tables["leads"][tables["leads"]["created_at"] < AS_OF].head(n)
    ids = list(leads["lead_id"])
    return [score_request_from_tables(tables, lead_id, AS_OF) for lead_id in ids], ids


def mlflow_payloads(world: dict, lead_ids: list[str]) -> list[dict]:
    """``dataframe_split`` bodies with each lead's feature vector (what the peer needs)."""
    pairs = pd.DataFrame({"lead_id": pd.array(lead_ids, dtype="str"),
                          "as_of": pd.Series([AS_OF] * len(lead_ids)).dt.as_unit("us")})
    features = build_lead_features(world["tables"], pairs, world["config"])
    frame = signature_frame(world["bundle"], features)
    records = json.loads(frame.to_json(orient="split", index=False))
    return [{"dataframe_split": {"columns": records["columns"], "data": [row]}}
            for row in records["data"]]


def load(url: str, path: str, bodies: list[dict] | None, requests: int, concurrency: int,
         name: str) -> Case:
    """``requests`` calls at ``concurrency`` from a separate client process (``loadgen``)."""
    result = measure(url, path, bodies, requests, concurrency)
    if result.errors:
        print(f"  {name}: {result.errors} errors, first: {result.first_error}")
    return Case(name, concurrency, result)


def in_process_limit(bundle, features: pd.DataFrame, loops: int = 2000) -> list[str]:
    """booster.predict + pred_contrib for one lead on a numpy row (the floor)."""
    row = bundle.matrix(features.iloc[:1])
    times = []
    for _ in range(loops):
        began = time.perf_counter()
        bundle.booster.predict(row, num_threads=1)
        bundle.booster.predict(row, pred_contrib=True, num_threads=1)
        times.append(time.perf_counter() - began)
    ms = np.array(times) * 1000
    return [f"{'in-process booster.predict + pred_contrib':<52}{1:>4}{loops:>7}"
            f"{np.percentile(ms, 50):>9.3f}{np.percentile(ms, 99):>9.3f}"
            f"{loops / ms.sum() * 1000:>9.0f}{0:>7}"]


def path_breakdown(world: dict, body: dict, loops: int = 500) -> list[str]:
    """Median time of each step of the service's /score path for one lead, in-process."""
    from serving.request_records import build_lead_records
    from serving.schemas import ScoreRequest
    from serving.scorer import LeadJob, LeadScorer, online_request_features, prepare_model
    from training.rules import load_rules

    bundle, config = world["bundle"], world["config"]
    scorer = LeadScorer(load_rules())
    scorer.swap(prepare_model("sql", MODEL, "1", bundle))
    config = scorer.active.sql.feature_config
    steps: dict[str, list[float]] = {}

    def timed(name, function):
        began = time.perf_counter()
        out = function()
        steps.setdefault(name, []).append(time.perf_counter() - began)
        return out

    for _ in range(loops):
        request = timed("validate request (pydantic)", lambda: ScoreRequest.model_validate(body))
        records = timed("request -> canonical records",
                        lambda: build_lead_records(request, 0, AS_OF, None))
        row = timed("records -> features (single-lead path)",
                    lambda: online_request_features([records], [AS_OF], config)[0])
        matrix = timed("features -> model matrix", lambda: bundle.matrix_from_rows([row]))
        timed("booster.predict + pred_contrib + calibration",
              lambda: bundle.predict_matrix(matrix))
        timed("whole LeadScorer.score_leads (answer with reasons)",
              lambda: scorer.score_leads([LeadJob(request)]))
    return [f"  {name:<52}{statistics.median(t) * 1000:>8.3f} ms" for name, t in steps.items()]


@contextmanager
def running(command: list[str], env: dict[str, str], ready_path: str,
            log: Path) -> Iterator[ServerProcess]:
    """A server on a free loopback port with ``env`` over this process's, once ready."""
    server = ServerProcess(command, {**os.environ, **env}, log, ready_path)
    try:
        server.wait_ready(timeout=180)
        yield server
    finally:
        server.stop()


def bentoml_runs(bodies: list[dict], ids: list[str], store_only: bool) -> list[tuple]:
    """(server variant, [(path, bodies, concurrency, case name)]) of each server to start;
    ``store_only``: inline and by ``lead_id`` at 8, with and without the lead cache."""
    by_id = [{"lead_id": lead, "as_of": AS_OF.isoformat()} for lead in ids]
    inline = "bentoml /score + reasons (inline lead)"
    by_id_name = "bentoml /score + reasons (lead_id, store)"
    no_cache = {"LEADSCORE_SERVING_LEAD_CACHE_SECONDS": "0"}
    if store_only:
        return [({}, [("/score", bodies, 8, inline), ("/score", by_id, 8, by_id_name)]),
                (no_cache, [("/score", by_id, 8, by_id_name + ", no cache")])]
    # a lead sent without a company makes the service look the company up in the store
    complete = [body for body in bodies if body["company"] is not None]
    return [
        ({}, [("/livez", None, 8, "bentoml GET /livez (the framework's floor)"),
              ("/score", bodies, 1, inline), ("/score", bodies, 8, inline),
              ("/score", complete, 8, "bentoml /score + reasons (inline, with company)"),
              ("/score", by_id, 8, by_id_name)]),
        (no_cache, [("/score", by_id, 8, by_id_name + ", no cache")]),
        ({"LEADSCORE_SERVING_MICRO_BATCH_SIZE": "1"},
         [("/score", bodies, 8, "bentoml /score + reasons, micro-batching off")]),
        ({"LEADSCORE_SERVING_WORKERS": "2"},
         [("/score", bodies, 8, "bentoml /score + reasons, 2 workers")]),
    ]


def bentoml_cases(world: dict, bodies: list[dict], ids: list[str], args,
                  root: Path) -> list[Case]:
    env = {"LEADSCORE_MLFLOW_TRACKING_URI": world["tracking_uri"],
           "LEADSCORE_DATABASE_URL": world["crm_url"], "LEADSCORE_SQL_MODEL_NAME": MODEL,
           "LEADSCORE_CONFIG": str(root / "none.yaml"), "LEADSCORE_SERVING_POLL_SECONDS": "60",
           "LEADSCORE_SERVING_LOAD_WIN_MODEL": "false"}
    command = [str(Path(sys.executable).parent / "bentoml"), "serve",
               "serving.service:LeadScoring", "--host", "127.0.0.1", "--port", "{port}"]
    cases = []
    for number, (variant, measured) in enumerate(bentoml_runs(bodies, ids, args.store_only)):
        with running(command, {**env, **variant}, "/readyz",
                     root / f"bentoml-{number}.log") as server:
            cases += [load(server.url, path, payloads, args.requests, concurrency, name)
                      for path, payloads, concurrency, name in measured]
    return cases


def mlflow_cases(world: dict, payloads: list[dict], args, root: Path) -> list[Case]:
    command = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m",
               f"models:/{MODEL}@champion", "--env-manager", "local", "-h", "127.0.0.1",
               "-p", "{port}"]
    venv_bin = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` from PATH
    env = {"MLFLOW_TRACKING_URI": world["tracking_uri"], "PYTHONPATH": str(REPO),
           "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "")}
    with running(command, env, "/ping", root / "mlflow.log") as server:
        return [load(server.url, "/invocations", payloads, args.requests, c,
                     "mlflow models serve /invocations (no reasons)") for c in (1, 8)]


def print_store_ratio(cases: list[Case]) -> None:
    """By ``lead_id`` against inline at concurrency 8, measured in this run."""
    at8 = {c.name: c.result for c in cases if c.concurrency == 8}
    inline = at8.get("bentoml /score + reasons (inline lead)")
    for name, result in at8.items():
        if inline is not None and "(lead_id, store)" in name:
            print(f"  {name}: p50 {result.percentile(50) / inline.percentile(50):.2f}x and "
                  f"throughput {inline.rate / result.rate:.2f}x slower than inline; p99 "
                  f"{result.percentile(99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per case")
    parser.add_argument("--leads", type=int, default=5000, help="leads in the generated CRM")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--store-only", action="store_true",
                        help="only /score inline and by lead_id at concurrency 8 (the store "
                             "path's target: within 1.5x of inline, p99 <= 30 ms)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    try:
        began = time.perf_counter()
        world = build_world(root, args.leads)
        bodies, ids = lead_payloads(world["tables"], 300)
        print(f"setup: {args.leads} leads, model trained and registered in "
              f"{time.perf_counter() - began:.1f} s; {len(bodies)} distinct leads, "
              f"{np.mean([len(b['activities']) for b in bodies]):.1f} activities each")
        cases = bentoml_cases(world, bodies, ids, args, root)
        if not args.store_only:
            cases += mlflow_cases(world, mlflow_payloads(world, ids), args, root)
        pairs = pd.DataFrame({"lead_id": pd.array(ids[:1], dtype="str"),
                              "as_of": pd.Series([AS_OF]).dt.as_unit("us")})
        features = build_lead_features(world["tables"], pairs, world["config"])
        print(f"\n{'case':<52}{'conc':>4}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
              f"{'errors':>7}")
        for case in cases:
            print(case.row())
        print_store_ratio(cases)
        if args.store_only:
            return
        for line in in_process_limit(world["bundle"], features):
            print(line)
        print("\nin-process /score path for one lead (median of 100):")
        for line in path_breakdown(world, bodies[0]):
            print(line)
        print(f"\nmachine: {os.cpu_count()} cores, load average "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
