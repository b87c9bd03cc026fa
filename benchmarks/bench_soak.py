"""Soak the scoring service at a fixed rate and print errors, latency and memory over time.

One run on 127.0.0.1: a generated CRM (``--leads``) in a temporary SQLite store and a lead
model trained into a temporary MLflow store and registered as ``champion`` (as
``bench_serving.py`` builds them), then ``bentoml serve serving.service:LeadScoring`` under
``--rate`` requests a second for ``--minutes`` (open loop) of mixed traffic
(``serving.soak.standard_traffic``: 40% ``/score`` by id, 30% inline, 10% ``/score/batch`` of
five, 20% ``/events``). Printed: per-kind count, p50/p99 (ms), every error, the server tree's
RSS each minute, events acknowledged vs stored after the run.

    .venv/bin/python benchmarks/bench_soak.py                      # 10 minutes at 200 req/s
    .venv/bin/python benchmarks/bench_soak.py --minutes 1 --rate 50

Client and server share the machine; on a shared 2-core machine 200 req/s may not be
reachable (the figures then show queueing, not a fault).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_serving import AS_OF, MODEL, build_world, lead_payloads  # noqa: E402
from crm.store import CRMStore  # noqa: E402
from serving.process import ServiceProcess  # noqa: E402
from serving.soak import SoakReport, run_soak, standard_traffic  # noqa: E402


def print_report(report: SoakReport, stored_events: set[str]) -> None:
    """The figures of one soak."""
    print(f"\n{report.sent} requests in {report.seconds:.0f} s "
          f"({report.sent / report.seconds:.1f} req/s), errors: {len(report.errors)}")
    print(f"{'kind':<14}{'count':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, values in report.latencies.items():
        print(f"{name:<14}{len(values):>8}{report.percentile(50, name):>9.1f}"
              f"{report.percentile(99, name):>9.1f}")
    print(f"{'all':<14}{sum(map(len, report.latencies.values())):>8}"
          f"{report.percentile(50):>9.1f}{report.percentile(99):>9.1f}")
    for error in report.errors[:20]:
        print("  error:", error)
    print("RSS of the server tree (MB):")
    for at, mb in report.rss[::60] + report.rss[-1:]:
        print(f"  {at:7.0f} s  {mb:8.1f}")
    print(f"RSS growth after the first minute: {report.rss_growth(60) * 100:+.2f}%")
    lost = [e for e in report.events_acknowledged if e not in stored_events]
    print(f"events acknowledged {len(report.events_acknowledged)}, lost {len(lost)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--leads", type=int, default=5000, help="leads in the generated CRM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadscore-soak-") as tmp:
        root = Path(tmp)
        world = build_world(root, args.leads)
        bodies, ids = lead_payloads(world["tables"], 200)
        env = {"LEADSCORE_MLFLOW_TRACKING_URI": world["tracking_uri"],
               "LEADSCORE_DATABASE_URL": world["crm_url"], "LEADSCORE_SQL_MODEL_NAME": MODEL,
               "LEADSCORE_CONFIG": str(root / "none.yaml"),
               "LEADSCORE_SERVING_LOAD_WIN_MODEL": "false", **{
                   k: v for k, v in os.environ.items() if k.startswith("LEADSCORE_SERVING_")}}
        server = ServiceProcess(env, root / "server.log")
        try:
            server.wait_ready(timeout=180)
            traffic = standard_traffic(ids, bodies, prefix="soak")
            run_soak(server.url, traffic, rate=min(args.rate, 50), seconds=10)  # warm-up
            print(f"soak: {args.rate:g} req/s for {args.minutes:g} min, as_of {AS_OF.date()}")
            report = run_soak(server.url, traffic, rate=args.rate, seconds=args.minutes * 60,
                              server_pid=server.process.pid)
        finally:
            server.stop()
        print_report(report, set(CRMStore(world["crm_url"]).read_table("activities")
                                 ["event_id"]))


if __name__ == "__main__":
    main()
