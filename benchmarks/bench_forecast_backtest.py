"""Print the landing backtests (months and quarters) of the generated CRM and Maven CRM, and speed.

    .venv/bin/python benchmarks/bench_forecast_backtest.py
    .venv/bin/python benchmarks/bench_forecast_backtest.py --dataset maven --win both
    .venv/bin/python benchmarks/bench_forecast_backtest.py --freq quarter --no-speed
    .venv/bin/python benchmarks/bench_forecast_backtest.py --dataset generated --freq quarter \
        --months 60 --leads 50000 --seed 7 --no-speed
    .venv/bin/python benchmarks/bench_forecast_backtest.py --tracking-uri sqlite:///mlruns/mlflow.db

For every complete month with enough history (as-of days 1, 10, 15 and 20) and every complete
quarter (days 1, 31 and 61 of the quarter), the pipeline is rebuilt point in time and the
forecast is compared with what closed, next to every baseline an analyst would use: in-period
pace, same-day history, the trailing 90-day run-rate and the stage-weighted pipeline. Then the
speed: the morning job (month and quarter forecast) on a ~2,500-deal pipeline, from scratch and
then every morning for two months, each in a new process on that day's data with the fits kept
on disk by ``forecast.FitStore``, and the 24-forecast backtest of Maven (8 months x days 1/10/20)
from scratch, as wall-clock and CPU seconds (on a shared machine the CPU figure is the one that
does not depend on the neighbours). Deterministic for a given seed. The generated CRM covers 24
months by default (6 backtestable quarters); ``--months`` lengthens it (keep the density with
``--leads``: 60 months and 50,000 leads give 17 quarters) so that quarter figures are measured on
enough quarters to tell methods apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from forecast.backtest import (MONTH_AS_OF_DAYS, QUARTER_AS_OF_DAYS, BacktestConfig,
                               format_summary, log_backtest, run_backtest, summarize_backtest)
from forecast.fitstore import FitStore
from forecast.simulate import FitCache, fit_forecaster
from forecast.snapshot import as_known_at, convert_currency

ROOT = Path(__file__).resolve().parents[1]
FREQ_DAYS = {"month": MONTH_AS_OF_DAYS, "quarter": QUARTER_AS_OF_DAYS}
MAVEN = ROOT.parent / "shared" / "datasets" / "maven_crm"


def load_generated(n_leads: int, seed: int, months: int = 24) -> dict[str, pd.DataFrame]:
    from crm.sample import USD_JPY, GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=n_leads, seed=seed, months=months))
    return convert_currency(tables, {"USD": 1.0, "JPY": 1.0 / USD_JPY}, "USD")


def load_maven() -> dict[str, pd.DataFrame]:
    from crm.importer import import_crm, load_mapping

    mapping = load_mapping(ROOT / "config" / "mappings" / "maven_crm.yaml")
    return import_crm(mapping, MAVEN).tables


def run(name: str, tables: dict, wins: list[str], args: argparse.Namespace) -> None:
    cache = FitCache(tables)
    for win in wins:
        for freq, days in FREQ_DAYS.items():
            if args.freq not in (freq, "both"):
                continue
            config = BacktestConfig(as_of_days=days, n_simulations=args.sims, seed=args.seed,
                                    win_probability=win, freq=freq)
            started = time.perf_counter()
            rows = run_backtest(tables, config, cache=cache)
            seconds = time.perf_counter() - started
            summary = summarize_backtest(rows)
            periods = f"{rows['month'].iloc[0]} .. {rows['month'].iloc[-1]}"
            print(f"\n### {name}, {freq}s: P(win) = {win} ({periods}, {len(rows)} forecasts, "
                  f"{seconds:.0f} s, monthly fits shared across tables)\n")
            print(format_summary(summary))
            if args.verbose:
                print(rows.round(3).to_string(index=False))
            if args.tracking_uri:
                run_id = log_backtest(rows, summary, args.tracking_uri,
                                      run_name=f"{name}-{freq}-{win}",
                                      params={"dataset": name}, config=config)
                print(f"\nlogged to MLflow run {run_id}")


def time_mornings(tables: dict, first: str, last: str, sims: int) -> None:
    """CPU seconds of one month forecast and of the morning job (month and quarter, as
    ``leadscore forecast`` runs them): from scratch on ``first``, then every morning to ``last``
    in a new process on that day's data (``as_known_at``) with the fits kept in one folder
    (``forecast.FitStore``)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for day in pd.date_range(first, last, freq="D", tz="UTC"):
            seen = as_known_at(tables, day)
            started, cpu = time.perf_counter(), time.process_time()
            forecaster = fit_forecaster(seen, day, cache=FitCache(seen, store=FitStore(folder)))
            forecaster.forecast("month", n_simulations=sims)
            month = time.process_time() - cpu
            forecaster.forecast("quarter", n_simulations=sims)
            rows.append((day, month, time.process_time() - cpu, time.perf_counter() - started,
                         len(forecaster.snapshot)))
    runs = pd.DataFrame(rows, columns=["day", "month", "job", "wall", "open"])
    print(f"{len(runs)} mornings {first} .. {last}, {runs['open'].min():,}-{runs['open'].max():,} "
          f"open deals; CPU s of the month forecast / of the month + quarter job (wall s):")
    for label, part in (("from scratch (every month's fits made)", runs.iloc[:1]),
                        ("first morning of a month (its new fit)",
                         runs.iloc[1:][runs["day"].iloc[1:].dt.day == 1]),
                        ("every other morning (median, max)",
                         runs.iloc[1:][runs["day"].iloc[1:].dt.day != 1])):
        if len(part) == 1:
            print(f"  {label}: {part['month'].iloc[0]:.2f} / {part['job'].iloc[0]:.2f} "
                  f"({part['wall'].iloc[0]:.2f})")
        elif len(part) > 1:
            print(f"  {label}: {part['month'].median():.2f}, {part['month'].max():.2f} / "
                  f"{part['job'].median():.2f}, {part['job'].max():.2f} "
                  f"({part['wall'].median():.2f}, {part['wall'].max():.2f})")


def time_maven_backtest(tables: dict, sims: int) -> None:
    """The 24-forecast backtest of issue 12 (8 months x days 1/10/20), from scratch."""
    started, cpu = time.perf_counter(), time.process_time()
    rows = run_backtest(tables, BacktestConfig(as_of_days=(1, 10, 20), n_simulations=sims))
    print(f"Maven {len(rows)}-forecast backtest from scratch: "
          f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["generated", "maven", "both"], default="both")
    parser.add_argument("--win", choices=["time_to_close", "lightgbm", "stage_rates", "both"],
                        default="time_to_close",
                        help="P(win) source; both = the hazard model's own and LightGBM")
    parser.add_argument("--freq", choices=["month", "quarter", "both"], default="both",
                        help="which periods to backtest")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--months", type=int, default=24,
                        help="months of generated history (1-120; 48-60 give 14-18 quarters)")
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--no-speed", action="store_true", help="skip the timings")
    parser.add_argument("--verbose", action="store_true", help="also print every forecast")
    args = parser.parse_args()
    wins = ["time_to_close", "lightgbm"] if args.win == "both" else [args.win]
    if args.dataset in ("generated", "both"):
        started = time.perf_counter()
        tables = load_generated(args.leads, args.seed, args.months)
        n_deals = len(tables["opportunities"])
        print(f"generated CRM: {args.leads:,} leads over {args.months} months (seed "
              f"{args.seed}), {n_deals:,} deals, {time.perf_counter() - started:.1f} s to generate")
        run(f"generated-{args.leads // 1000}k-{args.months}m", tables, wins, args)
    if args.dataset in ("maven", "both"):
        if not MAVEN.is_dir():
            print(f"Maven CRM not found at {MAVEN}: skipped")
            return
        tables = load_maven()
        run("maven", tables, wins, args)
        if not args.no_speed:
            print("\n### speed\n")
            time_mornings(tables, "2017-09-04", "2017-11-03", args.sims)
            time_maven_backtest(tables, args.sims)


if __name__ == "__main__":
    main()
