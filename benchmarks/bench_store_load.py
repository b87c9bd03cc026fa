"""Load throughput of the CRM store: generated CRM -> SQLite (and PostgreSQL if given).

Prints rows/s per table and the peak resident memory of this process.

    python benchmarks/bench_store_load.py --leads 100000 [--postgres URL]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(store: CRMStore, tables: dict) -> None:
    store.drop_schema()
    store.create_schema()
    print(f"\n{store.engine.dialect.name}")
    print(f"{'table':<28}{'rows':>12}{'write s':>10}{'rows/s':>12}{'read s':>10}")
    for name, frame in tables.items():
        start = time.perf_counter()
        store.write_table(name, frame, mode="replace")
        written = time.perf_counter() - start
        start = time.perf_counter()
        store.read_table(name)
        read = time.perf_counter() - start
        rate = len(frame) / written if written else float("inf")
        print(f"{name:<28}{len(frame):>12,}{written:>10.2f}{rate:>12,.0f}{read:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", help="PostgreSQL URL to load into as well")
    args = parser.parse_args()

    start = time.perf_counter()
    tables, _ = generate_crm(GeneratorConfig(n_leads=args.leads, seed=args.seed))
    seconds = time.perf_counter() - start
    rows = sum(len(f) for f in tables.values())
    print(f"generated {args.leads:,} leads / {rows:,} rows in {seconds:.1f} s "
          f"({rows / seconds:,.0f} rows/s); peak RSS so far {_peak_mib():,.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        _load(CRMStore(f"sqlite:///{Path(tmp) / 'bench.db'}"), tables)
    if args.postgres:
        _load(CRMStore(args.postgres), tables)
    print(f"\npeak RSS {_peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
