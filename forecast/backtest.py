"""Backtest: forecast past months (or quarters) as they stood on chosen days, compare with what
closed.

For each complete past period and each as-of day (default the 1st, 10th, 15th and 20th of the
month) the pipeline is rebuilt point in time, every model is fitted on what was known at that
moment, and the forecast is compared with the period's final closed-won revenue, side by side
with the simple forecasts a sales-ops analyst makes (``BASELINES``): in-period pace, same-day
history, the trailing 90-day run-rate and the stage-weighted pipeline. ``summarize_backtest``
gives MAPE, bias and P10-P90 coverage per as-of day and whether the model beat every baseline;
``log_backtest`` records both tables and a chart in MLflow.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from forecast.baselines import (fit_stage_win_rates, forecast_in_month_pace,
                                forecast_naive_run_rate, forecast_same_day_history,
                                weighted_pipeline)
from forecast.simulate import FitCache, WinProbability, fit_forecaster
from forecast.snapshot import (DAY, Freq, Period, Tables, actual_won_revenue, check_tables,
                               period_containing, to_as_of, won_between)

logger = logging.getLogger(__name__)

WinProbabilityFactory = Callable[[Tables, pd.Timestamp], WinProbability]
BASELINES = ("in_month_pace", "same_day_history", "naive_run_rate", "stage_weighted")
_METHODS = {"model": "p50", **{name: name for name in BASELINES}}
MONTH_AS_OF_DAYS = (1, 10, 15, 20)
QUARTER_AS_OF_DAYS = (1, 31, 61)
_MAX_DAY = {"month": 28, "quarter": 89}


@dataclass(frozen=True)
class BacktestConfig:
    """What to backtest.

    Attributes:
        months: period labels (``YYYY-MM``, or ``YYYY-Qn`` for quarters); empty means every
            complete period with at least ``min_history_months`` months of closes before it.
        as_of_days: days of the period the forecast is made on (1 = before anything is
            booked); 1-28 for months, 1-89 for quarters.
        n_simulations: Monte Carlo draws per forecast.
        seed: random seed (the whole backtest is reproducible with it).
        min_history_months: months of closed deals needed before the first backtested period.
        min_closed_deals: deals (won or lost) that must have closed before a backtested period.
        win_probability: ``"time_to_close"``, ``"stage_rates"`` or ``"lightgbm"`` (see
            ``fit_forecaster``); ignored when ``run_backtest`` gets a
            ``win_probability_factory``.
        freq: ``month`` or ``quarter``.
    """

    months: tuple[str, ...] = ()
    as_of_days: tuple[int, ...] = MONTH_AS_OF_DAYS
    n_simulations: int = 2000
    seed: int = 0
    min_history_months: int = 2
    min_closed_deals: int = 100
    win_probability: str = "time_to_close"
    freq: Freq = "month"

    def __post_init__(self) -> None:
        if self.freq not in _MAX_DAY:
            raise ValueError(f"freq must be 'month' or 'quarter', got {self.freq!r}")
        top = _MAX_DAY[self.freq]
        bad = [d for d in self.as_of_days if not 1 <= d <= top]
        if not self.as_of_days or bad:
            raise ValueError(f"as_of_days must be days 1-{top} of the {self.freq}, "
                             f"got {self.as_of_days}")
        if self.n_simulations < 100:
            raise ValueError(f"n_simulations must be >= 100, got {self.n_simulations}")


def backtest_months(tables: Tables, min_history_months: int = 2, min_closed_deals: int = 100,
                    freq: Freq = "month") -> list[Period]:
    """Complete periods with enough closed history before them to fit the models.

    A period qualifies when at least ``min_history_months`` months of closes and
    ``min_closed_deals`` closed deals precede it, and the data reach its end.
    """
    opportunities = tables["opportunities"]
    closed = opportunities["closed_at"].dropna().sort_values()
    if len(closed) < max(min_closed_deals, 1):
        return []
    latest = max(closed.iloc[-1], opportunities["created_at"].max(),
                 tables["opportunity_stage_history"]["entered_at"].max())
    data_end = latest.normalize() + DAY
    month = period_containing(closed.iloc[0], "month").start
    earliest = pd.Timestamp(month + pd.DateOffset(months=min_history_months))
    earliest = max(earliest, period_containing(closed.iloc[max(min_closed_deals, 1) - 1],
                                               "month").end)
    period = period_containing(earliest, freq)
    if period.start < earliest:
        period = period_containing(period.end, freq)
    periods = []
    while period.end <= data_end:
        periods.append(period)
        period = period_containing(period.end, freq)
    return periods


def run_backtest(tables: Tables, config: BacktestConfig = BacktestConfig(),
                 win_probability_factory: WinProbabilityFactory | None = None,
                 cache: FitCache | None = None) -> pd.DataFrame:
    """Forecast every (period, as-of day) of ``config`` and record the actual outcome.

    Args:
        tables: canonical tables with the full history (the actuals come from it), in one
            currency.
        config: periods, as-of days, simulations, seed and the named win probability.
        win_probability_factory: ``f(tables, as_of) -> win_probability`` fitted point in time
            (e.g. the LightGBM win model trained on deals closed before ``as_of``); overrides
            ``config.win_probability`` for the forecast itself (past periods that calibrate it
            use the hazard model's own).
        cache: a ``FitCache`` of ``tables`` to reuse fitted models (e.g. across two runs).

    Returns:
        One row per forecast: month (the period label), as_of_day, as_of, actual (and its
        parts actual_pipeline, actual_new), booked, mean, p10, p50, p90, pipeline, new, the
        combination's prior_weight_days / model_share_of_prior / spread_log_sd, each of
        ``BASELINES``, n_open_deals, seconds.
    """
    check_tables(tables, one_currency=True)
    periods = _selected_periods(tables, config)
    cache = cache or FitCache(tables)
    if cache.tables is not tables:
        raise ValueError("cache was built for other tables")
    rows = []
    for period in periods:
        actual = actual_won_revenue(tables, period)
        for day in config.as_of_days:
            as_of = to_as_of(period.start + (day - 1) * DAY)
            if as_of >= period.end:
                continue
            rows.append(_backtest_one(cache, period, as_of, actual, config,
                                      win_probability_factory))
            logger.info("backtest %s day %d: p50 %.0f actual %.0f (%.1fs)", period.label, day,
                        rows[-1]["p50"], actual, rows[-1]["seconds"])
    return pd.DataFrame(rows)


def _selected_periods(tables: Tables, config: BacktestConfig) -> list[Period]:
    eligible = backtest_months(tables, config.min_history_months, config.min_closed_deals,
                               config.freq)
    if not config.months:
        if not eligible:
            raise ValueError(f"no complete {config.freq} with enough closed history to backtest")
        return eligible
    by_label = {p.label: p for p in eligible}
    unknown = [m for m in config.months if m not in by_label]
    if unknown:
        raise ValueError(f"months {unknown} cannot be backtested: eligible periods are "
                         f"{sorted(by_label)}")
    return [by_label[m] for m in config.months]


def _backtest_one(cache: FitCache, period: Period, as_of: pd.Timestamp, actual: float,
                  config: BacktestConfig, factory: WinProbabilityFactory | None) -> dict:
    started = time.perf_counter()
    tables = cache.tables
    win_probability = factory(tables, as_of) if factory is not None else config.win_probability
    forecaster = fit_forecaster(tables, as_of, win_probability, cache)
    forecast = forecaster.forecast(config.freq, None, config.n_simulations, config.seed,
                                   with_fan=False)
    rest = won_between(tables, as_of, period.end)
    actual_new = float(rest.loc[rest["created_at"] >= as_of, "amount"].sum())
    method = forecast.method
    return {
        "month": period.label, "as_of_day": period.day_index(as_of) + 1,
        "as_of": as_of.date().isoformat(),
        "actual": actual, "booked": forecast.booked,
        "actual_pipeline": actual - forecast.booked - actual_new, "actual_new": actual_new,
        "mean": forecast.expected,
        "p10": forecast.p10, "p50": forecast.p50, "p90": forecast.p90,
        "pipeline": forecast.breakdown["pipeline"], "new": forecast.breakdown["new"],
        "model_rest": method["model_rest"], "prior_weight_days": method["prior_weight_days"],
        "model_share_of_prior": method["model_share_of_prior"],
        "spread_log_sd": method["spread_log_sd"],
        **_baselines(cache, forecaster.snapshot, period, as_of, forecast.booked),
        "n_open_deals": len(forecaster.snapshot),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _baselines(cache: FitCache, snapshot: pd.DataFrame, period: Period, as_of: pd.Timestamp,
               booked: float) -> dict[str, float]:
    tables = cache.tables
    rates = fit_stage_win_rates(tables, as_of, cache.history)
    return {"in_month_pace": forecast_in_month_pace(tables, as_of, period),
            "same_day_history": forecast_same_day_history(tables, as_of, period),
            "naive_run_rate": forecast_naive_run_rate(tables, as_of, period),
            "stage_weighted": booked + weighted_pipeline(snapshot, period, rates)}


def summarize_backtest(rows: pd.DataFrame) -> pd.DataFrame:
    """MAPE, bias and P10-P90 coverage per as-of day and over all forecasts, against baselines.

    MAPE is ``mean(|forecast - actual| / actual)`` over periods with actual > 0; bias is
    ``sum(forecast - actual) / sum(actual)`` (the mean of ratios would read a calibrated
    forecast of a noisy month as biased upwards). The model's point forecast is its P50. A
    baseline missing on some rows (in-period pace on day 1, same-day history without a past
    period) is scored on the rows it has and does not count as best where it has none.
    ``best_baseline`` is the baseline with the lowest MAPE; ``model_beats_baselines`` says the
    model's MAPE is at most its. Coverage is the share of periods whose actual falls inside
    [P10, P90].
    """
    usable = rows[rows["actual"] > 0]
    groups = [(str(day), part) for day, part in usable.groupby("as_of_day")]
    groups.append(("all", usable))
    return pd.DataFrame([_summary_record(label, part) for label, part in groups])


def _summary_record(label: str, part: pd.DataFrame) -> dict:
    record: dict = {"as_of_day": label, "n_months": len(part)}
    for name, column in _METHODS.items():
        known = part[part[column].notna()]
        miss = known[column] - known["actual"]
        record[f"mape_{name}"] = (float((miss.abs() / known["actual"]).mean()) if len(known)
                                  else np.nan)
        record[f"bias_{name}"] = (float(miss.sum() / known["actual"].sum()) if len(known)
                                  else np.nan)
    scores = {name: record[f"mape_{name}"] for name in BASELINES
              if pd.notna(record[f"mape_{name}"])}
    best = min(scores, key=scores.get) if scores else None
    record["best_baseline"] = best or ""
    record["mape_best_baseline"] = scores[best] if best else np.nan
    record["model_beats_baselines"] = bool(best is None
                                           or record["mape_model"] <= scores[best] + 1e-12)
    record["coverage_p10_p90"] = float(
        ((part["actual"] >= part["p10"]) & (part["actual"] <= part["p90"])).mean())
    return record


SUMMARY_COLUMNS = ("as_of_day", "n_months", "mape_model", *(f"mape_{b}" for b in BASELINES),
                   "best_baseline", "model_beats_baselines", "bias_model", "coverage_p10_p90")


def format_summary(summary: pd.DataFrame, digits: int = 3) -> str:
    """The summary as a Markdown table (for the README, reports and the CLI)."""
    columns = [c for c in SUMMARY_COLUMNS if c in summary.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in summary[columns].to_dict(orient="records"):
        cells = [("–" if np.isnan(v) else f"{v:.{digits}f}") if isinstance(v, float)
                 else str(v) for v in record.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def log_backtest(rows: pd.DataFrame, summary: pd.DataFrame, tracking_uri: str,
                 experiment: str = "leadscore-forecast-backtest", run_name: str | None = None,
                 params: dict | None = None, config: BacktestConfig | None = None,
                 artifact_location: str | Path | None = None) -> str:
    """Log the backtest to MLflow: metrics, both tables as CSV and the chart as PNG.

    Args:
        rows: ``run_backtest`` output.
        summary: ``summarize_backtest`` output.
        tracking_uri: MLflow tracking URI (tests pass ``sqlite:///<tmp>/mlflow.db``).
        experiment: experiment name.
        run_name: optional run name (e.g. the dataset).
        params: extra parameters to record (e.g. dataset name, number of leads).
        config: the backtest configuration, recorded as parameters.
        artifact_location: artifact root if the experiment is new; default for a SQLite store:
            ``artifacts/`` beside the database file (never the working directory's mlruns/).

    Returns:
        The MLflow run id.
    """
    import mlflow

    from crm.tracking import ensure_experiment
    from forecast.plots import plot_backtest

    client_params = {**(asdict(config) if config else {}), **(params or {})}
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(experiment, tracking_uri, artifact_location)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run, \
            tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params({k: str(v) for k, v in client_params.items()})
        mlflow.log_metrics(_summary_metrics(summary))
        folder = Path(tmp)
        rows.to_csv(folder / "backtest_forecasts.csv", index=False)
        summary.to_csv(folder / "backtest_summary.csv", index=False)
        plot_backtest(rows, folder / "backtest.png")
        for name in ("backtest_forecasts.csv", "backtest_summary.csv", "backtest.png"):
            mlflow.log_artifact(str(folder / name))
        return run.info.run_id


def _summary_metrics(summary: pd.DataFrame) -> dict[str, float]:
    metrics = {}
    for record in summary.to_dict(orient="records"):
        suffix = "all" if record["as_of_day"] == "all" else f"day{record['as_of_day']}"
        for key, value in record.items():
            if key not in ("as_of_day", "n_months", "best_baseline") and pd.notna(value):
                metrics[f"{key}_{suffix}"] = float(value)
    return metrics
