"""The fan chart and the backtest chart are written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.plots import plot_backtest, plot_fan_chart
from forecast.simulate import LandingForecast
from forecast.snapshot import period_containing

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def landing(with_fan: bool) -> LandingForecast:
    as_of = pd.Timestamp("2025-03-11", tz="UTC")
    days = pd.date_range("2025-03-01", "2025-03-31", freq="D", tz="UTC")
    past = np.arange(31) < 10
    path = np.linspace(0.0, 300.0, 31)
    fan = pd.DataFrame({"date": days, "day": np.arange(31),
                        "booked": np.where(past, path, np.nan)})
    for name, scale in (("p10", 0.8), ("p50", 1.0), ("p90", 1.2), ("mean", 1.0)):
        fan[name] = np.where(past, np.nan, path * scale)
    return LandingForecast(as_of, period_containing(as_of), booked=100.0, expected=300.0,
                           quantiles={"p10": 240.0, "p50": 300.0, "p90": 360.0},
                           breakdown={"booked": 100.0, "pipeline": 200.0, "new": 0.0},
                           deals=pd.DataFrame(), target=320.0, fan=fan if with_fan else None)


def test_fan_chart_is_a_png(tmp_path: Path) -> None:
    path = plot_fan_chart(landing(with_fan=True), tmp_path / "fan.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_fan_chart_needs_daily_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="forecast has no fan: make it with with_fan=True"):
        plot_fan_chart(landing(with_fan=False), tmp_path / "fan.png")


def test_backtest_chart_is_a_png(tmp_path: Path) -> None:
    rows = pd.DataFrame({"month": ["2025-01", "2025-02"] * 2, "as_of_day": [1, 1, 10, 10],
                         "p10": [1.0, 2, 3, 4], "p50": [2.0, 3, 4, 5], "p90": [3.0, 4, 5, 6],
                         "stage_weighted": [5.0, 5, 5, 5], "naive_run_rate": [2.0, 2, 2, 2],
                         "in_month_pace": [None, None, 4.5, 4.0],
                         "same_day_history": [2.2, 2.4, 3.9, 4.1], "actual": [2.5, 3, 4, 4]})
    assert plot_backtest(rows, tmp_path / "b.png").read_bytes()[:8] == PNG_MAGIC
