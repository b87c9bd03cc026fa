"""Benchmark the sample-CRM generator: wall time, rows/s per table and peak memory.

Usage:
    python benchmarks/bench_generate.py --leads 100000 [--activities-per-lead 20] [--validate]

Prints its figures (this is a script, not a timed test). Peak memory is the process's maximum
resident set size (``ru_maxrss``), which also counts pyarrow buffers that tracemalloc misses;
the baseline after imports is shown so the generator's own share can be read off.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

from crm import schema
from crm.sample import GeneratorConfig, generate_crm, summarize_crm


def _peak_rss_mb() -> float:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / scale / 1024


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000, help="number of leads")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--activities-per-lead", type=float, default=20.0)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--validate", action="store_true",
                        help="also time schema.validate_table on every table")
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    config = GeneratorConfig(n_leads=args.leads, seed=args.seed,
                             activities_per_lead=args.activities_per_lead,
                             chunk_size=args.chunk_size)
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    tables, truth = generate_crm(config)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()
    print(f"generate_crm: {args.leads:,} leads in {seconds:.2f} s "
          f"(chunk_size={args.chunk_size:,})")
    print(f"{'table':<28}{'rows':>14}{'rows/s':>14}{'memory MB':>12}")
    for name, frame in tables.items():
        mb = frame.memory_usage(deep=True).sum() / 1e6
        print(f"{name:<28}{len(frame):>14,}{len(frame) / seconds:>14,.0f}{mb:>12,.0f}")
    total = sum(len(f) for f in tables.values())
    print(f"{'all tables':<28}{total:>14,}{total / seconds:>14,.0f}")
    print(f"peak RSS: {peak:,.0f} MB (baseline after imports {baseline:,.0f} MB, "
          f"generator +{peak - baseline:,.0f} MB)")
    if args.validate:
        started = time.perf_counter()
        for name, frame in tables.items():
            schema.validate_table(name, frame)
        print(f"validate_table (all tables): {time.perf_counter() - started:.2f} s")
    summary = summarize_crm(tables, truth)
    for key in ("sql_rate_90d", "icp_sql_rate_90d", "non_icp_sql_rate_90d", "icp_sql_ratio",
                "duplicate_share", "win_rate", "median_days_to_close",
                "month_end_close_share"):
        print(f"{key}: {summary[key]:.3f}")


if __name__ == "__main__":
    main()
