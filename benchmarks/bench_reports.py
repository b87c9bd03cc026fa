"""Benchmark the leader's reports on a generated CRM: wall time of each, and 名寄せ's blocking.

Usage:
    python benchmarks/bench_reports.py --leads 100000 [--seed 1] [--skip-recycle]

Prints its figures (a script, not a timed test): seconds per report, the dedupe candidate pairs
against the n·(n−1)/2 an all-pairs comparison would score (same run), and precision/recall
against the generator's planted duplicates.
"""

from __future__ import annotations

import argparse
import time

from crm.sample import GeneratorConfig, generate_crm
from forecast import convert_currency
from reports import (
    build_funnel,
    build_kpi_plan,
    build_recycle_report,
    evaluate_duplicates,
    find_duplicate_accounts,
    find_duplicate_leads,
)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-recycle", action="store_true",
                        help="leave out the recycle report (it builds features twice)")
    return parser.parse_args()


def _timed(label: str, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    print(f"{label:<28} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    args = _parse_args()
    tables, truth = generate_crm(GeneratorConfig(n_leads=args.leads, seed=args.seed))
    n = len(tables["leads"])
    print(f"{n:,} leads, {len(tables['accounts']):,} accounts, "
          f"{len(tables['activities']):,} activities")
    _timed("funnel (2026-10)", build_funnel, tables, "2026-10")
    leads = _timed("dedupe leads", find_duplicate_leads, tables["leads"])
    _timed("dedupe accounts", find_duplicate_accounts, tables["accounts"], tables["leads"])
    usd = convert_currency(tables, {"USD": 1.0, "JPY": 1 / 150}, "USD")
    _timed("plan (2026-10)", build_kpi_plan, usd, 1_000_000, "2026-10")
    if not args.skip_recycle:
        _timed("recycle (rules score)", build_recycle_report, tables)
    quality = evaluate_duplicates(leads, truth.set_index("lead_id")["duplicate_of"])
    all_pairs = n * (n - 1) // 2
    print(f"dedupe: {len(leads.pairs):,} candidate pairs scored vs {all_pairs:,} all pairs "
          f"({len(leads.pairs) / all_pairs:.2e}); duplicate rate {leads.duplicate_rate:.2%}; "
          f"precision {quality.precision:.3f}, recall {quality.recall:.3f}")


if __name__ == "__main__":
    main()
