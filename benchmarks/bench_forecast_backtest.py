"""Print the month-end landing backtest tables on the generated CRM and on Maven CRM.

    .venv/bin/python benchmarks/bench_forecast_backtest.py
    .venv/bin/python benchmarks/bench_forecast_backtest.py --dataset maven --win time_to_close
    .venv/bin/python benchmarks/bench_forecast_backtest.py --tracking-uri sqlite:///mlruns/mlflow.db

For every complete month with enough history and as-of days 1, 10 and 20, the pipeline is
rebuilt point in time and the forecast is compared with what closed, next to the
stage-weighted pipeline and a naive run-rate. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from forecast.backtest import (BacktestConfig, format_summary, log_backtest, run_backtest,
                               summarize_backtest)
from forecast.simulate import FitCache
from forecast.snapshot import convert_currency

ROOT = Path(__file__).resolve().parents[1]
MAVEN = ROOT.parent / "shared" / "datasets" / "maven_crm"


def load_generated(n_leads: int, seed: int) -> dict[str, pd.DataFrame]:
    from crm.sample import USD_JPY, GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=n_leads, seed=seed))
    return convert_currency(tables, {"USD": 1.0, "JPY": 1.0 / USD_JPY}, "USD")


def load_maven() -> dict[str, pd.DataFrame]:
    from crm.importer import import_crm, load_mapping

    mapping = load_mapping(ROOT / "config" / "mappings" / "maven_crm.yaml")
    return import_crm(mapping, MAVEN).tables


def run(name: str, tables: dict, wins: list[str], args: argparse.Namespace) -> None:
    cache = FitCache(tables)
    for win in wins:
        config = BacktestConfig(n_simulations=args.sims, seed=args.seed, win_probability=win)
        started = time.perf_counter()
        rows = run_backtest(tables, config, cache=cache)
        seconds = time.perf_counter() - started
        summary = summarize_backtest(rows)
        months = f"{rows['month'].iloc[0]} .. {rows['month'].iloc[-1]}"
        print(f"\n### {name}: P(win) = {win} ({months}, {len(rows)} forecasts, "
              f"{seconds:.0f} s{' with fits reused' if win != wins[0] else ''})\n")
        print(format_summary(summary))
        if args.verbose:
            print(rows.round(2).to_string(index=False))
        if args.tracking_uri:
            run_id = log_backtest(rows, summary, args.tracking_uri, run_name=f"{name}-{win}",
                                  params={"dataset": name}, config=config)
            print(f"\nlogged to MLflow run {run_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["generated", "maven", "both"], default="both")
    parser.add_argument("--win", choices=["stage_rates", "time_to_close", "both"],
                        default="both", help="P(win) source (time_to_close is the default)")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--verbose", action="store_true", help="also print every forecast")
    args = parser.parse_args()
    wins = ["stage_rates", "time_to_close"] if args.win == "both" else [args.win]
    if args.dataset in ("generated", "both"):
        started = time.perf_counter()
        tables = load_generated(args.leads, args.seed)
        n_deals = len(tables["opportunities"])
        print(f"generated CRM: {args.leads:,} leads, {n_deals:,} deals, "
              f"{time.perf_counter() - started:.1f} s to generate")
        run(f"generated-{args.leads // 1000}k", tables, wins, args)
    if args.dataset in ("maven", "both"):
        if not MAVEN.is_dir():
            print(f"Maven CRM not found at {MAVEN}: skipped")
            return
        run("maven", load_maven(), wins, args)


if __name__ == "__main__":
    main()
