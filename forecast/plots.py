"""Charts (PNG, matplotlib's Agg backend): the landing fan through the period, and the backtest.

matplotlib is imported inside the functions, so importing ``forecast`` draws nothing and sets
no backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.simulate import LandingForecast


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_fan_chart(forecast: LandingForecast, path: Path | str) -> Path:
    """Cumulative closed-won revenue through the period: booked so far, then P10-P90 fan.

    Args:
        forecast: a forecast made ``with_fan=True``.
        path: PNG file to write (its folder must exist).

    Raises:
        ValueError: if the forecast has no daily paths.
    """
    if forecast.fan is None:
        raise ValueError("forecast has no fan: make it with with_fan=True")
    plt = _pyplot()
    fan, path = forecast.fan, Path(path)
    days = fan["date"].dt.tz_localize(None)
    figure, axes = plt.subplots(figsize=(9, 5))
    future = fan["p50"].notna()
    start = _fan_start(fan, future)
    x = np.concatenate([[start[0]], days[future].to_numpy()])
    band = {c: np.concatenate([[start[1]], fan.loc[future, c].to_numpy()])
            for c in ("p10", "p50", "p90")}
    axes.fill_between(x, band["p10"], band["p90"], alpha=0.25, label="P10-P90")
    axes.plot(x, band["p50"], label="P50")
    axes.plot(days[~future], fan.loc[~future, "booked"], color="black", label="booked")
    if forecast.target is not None:
        axes.axhline(forecast.target, color="red", linestyle="--", label="target")
    axes.set_title(f"{forecast.period.label} landing as of {forecast.as_of.date()}: "
                   f"P50 {forecast.p50:,.0f} (P10 {forecast.p10:,.0f} - P90 {forecast.p90:,.0f})")
    axes.set_ylabel("cumulative closed-won revenue")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _fan_start(fan: pd.DataFrame, future: pd.Series) -> tuple[np.datetime64, float]:
    """Where the fan leaves the booked line: its last day (or the period's eve) and value."""
    booked = fan.loc[~future, "booked"]
    if len(booked):
        last = fan.loc[~future, "date"].iloc[-1].tz_localize(None)
        return np.datetime64(last), float(booked.iloc[-1])
    eve = fan["date"].iloc[0].tz_localize(None) - pd.Timedelta(days=1)
    return np.datetime64(eve), 0.0


_BASELINE_LINES = (("in_month_pace", "in-period pace", "-."),
                   ("same_day_history", "same-day history", (0, (5, 1))),
                   ("naive_run_rate", "trailing run-rate", "--"),
                   ("stage_weighted", "stage-weighted", ":"))


def plot_backtest(rows: pd.DataFrame, path: Path | str) -> Path:
    """Actual vs forecast per period, one panel per as-of day: P10-P90 band, P50, baselines.

    Args:
        rows: ``forecast.backtest.run_backtest`` output.
        path: PNG file to write.
    """
    plt = _pyplot()
    days = sorted(rows["as_of_day"].unique())
    figure, panels = plt.subplots(len(days), 1, figsize=(10, 3.2 * len(days)), sharex=True,
                                  squeeze=False)
    for axes, day in zip(panels[:, 0], days):
        part = rows[rows["as_of_day"] == day]
        x = np.arange(len(part))
        axes.fill_between(x, part["p10"], part["p90"], alpha=0.25, label="model P10-P90")
        axes.plot(x, part["p50"], marker="o", label="model P50")
        for column, label, style in _BASELINE_LINES:
            if column in part.columns and part[column].notna().any():
                axes.plot(x, part[column], linestyle=style, label=label)
        axes.plot(x, part["actual"], color="black", marker="s", label="actual")
        axes.set_title(f"as of day {day}")
        axes.set_xticks(x, part["month"], rotation=45)
    panels[0, 0].legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
