"""``leadscore forecast | backtest``: month- and quarter-end landing forecasts.

The ``forecast`` package (lifelines, matplotlib) is imported when a command runs, not when the
CLI starts: it would add about a second to every ``leadscore`` invocation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.table import Table

from leadscore.cli.common import (
    CurrencyOption,
    DatabaseOption,
    FxOption,
    console,
    open_store,
    parse_as_of,
    print_mapping,
    quiet_mlflow,
    settings_for,
    to_reporting_currency,
)

commands = typer.Typer()

WinOption = Annotated[str, typer.Option(
    help="P(win) source: time_to_close | stage_rates | lightgbm.")]


def _forecast_tables(settings, currency: str | None, fx: list[str] | None):
    """Deals and stage history in the reporting currency (``to_reporting_currency``), and that
    currency."""
    tables = open_store(settings).read_tables(["opportunities", "opportunity_stage_history"])
    return to_reporting_currency(tables, settings, currency, fx)


def _fit_cache(tables, settings):
    """Fits shared with earlier runs and the service through ``<data_dir>/forecast_fits``: a
    forecast on another day refits only what the new data changed (``forecast.fitstore``)."""
    from forecast import FitCache, FitStore

    return FitCache(tables, store=FitStore.in_data_dir(settings.data_dir))


_DEAL_COLUMNS = ("opportunity_id", "stage", "amount", "expected_close_date", "n_slips", "p_win",
                 "p_close_in_period_if_won", "expected_value", "expected_slip_value")


def _print_deals(title: str, deals: pd.DataFrame) -> None:
    table = Table(title=title)
    columns = [c for c in _DEAL_COLUMNS if c in deals.columns]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column in (
            "opportunity_id", "stage") else "right")
    for row in deals[columns].itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def _cell(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


@commands.command()
def forecast(
    as_of: Annotated[str, typer.Option("--as-of", help="Forecast day, YYYY-MM-DD (a time counts as its UTC day).")],
    target: Annotated[Optional[float], typer.Option(
        min=0, help="Monthly target: alert when P50 falls below it.")] = None,
    quarter_target: Annotated[Optional[float], typer.Option(min=0, help="Quarter target.")] = None,
    win_probability: WinOption = "time_to_close",
    currency: CurrencyOption = None,
    fx: FxOption = None,
    chart: Annotated[Path, typer.Option(help="Fan chart PNG.")] = Path("forecast_fan.png"),
    simulations: Annotated[int, typer.Option(min=100)] = 4000,
    seed: Annotated[Optional[int], typer.Option(help="Default: settings seed.")] = None,
    db: DatabaseOption = None,
) -> None:
    """Month- and quarter-end landing forecast (P10/P50/P90), top deals, slip risks, fan chart."""
    from forecast import fit_forecaster
    from forecast.plots import plot_fan_chart

    day = parse_as_of(as_of, day="start")
    settings = settings_for(db)
    tables, currency = _forecast_tables(settings, currency, fx)
    try:
        forecaster = fit_forecaster(tables, day, win_probability,
                                    _fit_cache(tables, settings))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for freq, goal in (("month", target), ("quarter", quarter_target)):
        result = forecaster.forecast(freq, goal, simulations,
                                     settings.seed if seed is None else seed)
        print_mapping(f"{result.period.label} landing as of {result.as_of.date()} ({currency})",
                      {"P10": result.p10, "P50": result.p50, "P90": result.p90,
                       "expected": result.expected, **result.breakdown})
        if result.alert:
            console.print(f"[red]ALERT {result.alert_message}[/red]", highlight=False)
        _print_deals("Deals that contribute most", result.top_deals(10))
        _print_deals("Deals likely to slip past the period end", result.slip_risks(10))
        if freq == "month":
            console.print(f"fan chart: {plot_fan_chart(result, chart)}")


@commands.command()
def backtest(
    win_probability: WinOption = "time_to_close",
    days: Annotated[str, typer.Option(
        help="As-of days of the period, comma separated.")] = "1,10,15,20",
    freq: Annotated[str, typer.Option(help="month | quarter (days then count in the "
                                           "quarter, e.g. 1,31,61).")] = "month",
    simulations: Annotated[int, typer.Option(min=100)] = 2000,
    seed: Annotated[Optional[int], typer.Option(help="Default: settings seed.")] = None,
    currency: CurrencyOption = None,
    fx: FxOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the tables and the chart.")] = Path(
        "backtest"),
    db: DatabaseOption = None,
) -> None:
    """Point-in-time month- or quarter-end backtest against the analyst baselines (pace,
    same-day history, run-rate, stage-weighted)."""
    from forecast import BacktestConfig, log_backtest, run_backtest, summarize_backtest
    from forecast.backtest import format_summary
    from forecast.plots import plot_backtest

    settings = settings_for(db)
    try:
        as_of_days = tuple(int(d) for d in days.split(","))
    except ValueError:
        raise typer.BadParameter(f"{days!r} is not a list of days", param_hint="--days") from None
    config = BacktestConfig(as_of_days=as_of_days, n_simulations=simulations,
                            seed=settings.seed if seed is None else seed,
                            win_probability=win_probability, freq=freq)
    tables, _ = _forecast_tables(settings, currency, fx)
    rows = run_backtest(tables, config, cache=_fit_cache(tables, settings))
    summary = summarize_backtest(rows)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "backtest_forecasts.csv", index=False)
    summary.to_csv(out / "backtest_summary.csv", index=False)
    plot_backtest(rows, out / "backtest.png")
    console.print(format_summary(summary), markup=False)
    quiet_mlflow()
    run_id = log_backtest(rows, summary, settings.mlflow_tracking_uri, config=config,
                          artifact_location=settings.mlflow_artifact_root)
    console.print(f"tables and chart in {out}/; logged to MLflow run {run_id}")
