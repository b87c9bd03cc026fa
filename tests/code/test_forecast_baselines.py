"""Historical stage win rates and the analyst baselines, on hand-computable deals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.baselines import (fit_stage_win_rates, forecast_in_month_pace,
                                forecast_naive_run_rate, forecast_same_day_history,
                                forecast_stage_weighted, same_day_rest)
from forecast.snapshot import period_containing, pipeline_as_of
from crm import schema

AS_OF = "2025-03-11"


def stamp(day: str) -> str:
    return f"{day}T00:00:00Z"


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    closed = [  # id, path of stages while open, outcome, closed on, amount
        ("W1", ["a", "b"], "won", "2025-02-20", 300.0),
        ("W2", ["a", "b"], "lost", "2025-02-21", 100.0),
        ("W3", ["a"], "lost", "2025-02-22", 100.0),
        ("W4", ["a", "b", "c"], "won", "2025-03-05", 500.0),
        ("L1", ["a", "b", "c"], "lost", "2025-03-20", 100.0),   # closes after as_of
    ]
    open_ = [  # id, stage, amount, expected close
        ("O1", "b", 1000.0, "2025-03-31"), ("O2", "c", 600.0, "2025-04-30"),
        ("O3", "z", 200.0, None),
    ]
    deals, history = [], []
    for oid, path, outcome, day, amount in closed:
        deals.append({"opportunity_id": oid, "created_at": stamp("2025-01-01"),
                      "closed_at": stamp(day), "outcome": outcome, "amount": amount})
        history += [{"opportunity_id": oid, "stage": s, "entered_at": stamp(f"2025-01-0{i + 1}"),
                     "amount": amount} for i, s in enumerate(path)]
        history.append({"opportunity_id": oid, "stage": outcome, "entered_at": stamp(day),
                        "amount": amount})
    for oid, stage, amount, close in open_:
        deals.append({"opportunity_id": oid, "created_at": stamp("2025-02-01"),
                      "closed_at": None, "outcome": "open", "amount": amount})
        history.append({"opportunity_id": oid, "stage": stage, "entered_at": stamp("2025-02-01"),
                        "amount": amount, "expected_close_date": close and stamp(close)})
    deals = pd.DataFrame(deals).assign(currency="USD", stage="s")
    return {"opportunities": schema.split_valid("opportunities", deals)[0],
            "opportunity_stage_history": schema.split_valid("opportunity_stage_history",
                                                            pd.DataFrame(history))[0]}


def test_stage_win_rates_with_prior(tables: dict) -> None:
    rates = fit_stage_win_rates(tables, AS_OF, prior_strength=2.0)
    assert rates.overall == 0.5                       # W1, W4 won of 4 closed before as_of
    assert rates.counts == {"a": 4, "b": 3, "c": 1}   # closing rows are not stages visited
    assert rates.rates["a"] == pytest.approx((2 + 2 * 0.5) / (4 + 2))
    assert rates.rates["b"] == pytest.approx((2 + 2 * 0.5) / (3 + 2))
    assert rates.rates["c"] == pytest.approx((1 + 2 * 0.5) / (1 + 2))
    snapshot = pipeline_as_of(tables, AS_OF)
    assert snapshot["opportunity_id"].tolist() == ["L1", "O1", "O2", "O3"]  # L1 closes later
    assert rates(snapshot).tolist() == pytest.approx([2 / 3, 0.6, 2 / 3, 0.5])  # z: overall


def test_no_prior_gives_raw_rates(tables: dict) -> None:
    rates = fit_stage_win_rates(tables, AS_OF, prior_strength=0.0)
    assert rates.rates == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 1.0})


def test_stage_weighted_counts_deals_due_in_the_period(tables: dict) -> None:
    period = period_containing(AS_OF)
    forecast = forecast_stage_weighted(tables, AS_OF, period)
    rates = fit_stage_win_rates(tables, AS_OF)
    # booked: W4 (500, won 2025-03-05); O1 due in March; O2 due in April is left out;
    # L1 (in stage c on as_of) and O3 have no expected close date, so they count
    expected = (500.0 + 1000.0 * rates.rates["b"] + 100.0 * rates.rates["c"]
                + 200.0 * rates.overall)
    assert forecast == pytest.approx(expected)


def test_naive_run_rate(tables: dict) -> None:
    period = period_containing(AS_OF)
    # won in the 30 days before 2025-03-11: W1 (300) and W4 (500); 21 days left in March
    assert forecast_naive_run_rate(tables, AS_OF, period, window_days=30) == pytest.approx(
        500.0 + 800.0 / 30 * 21)


def test_in_month_pace(tables: dict) -> None:
    period = period_containing(AS_OF)
    # booked W4 (500) in the 10 days 2025-03-01 .. 03-10: on pace for 500 x 31 / 10
    assert forecast_in_month_pace(tables, AS_OF, period) == pytest.approx(500.0 * 31 / 10)
    assert np.isnan(forecast_in_month_pace(tables, "2025-03-01", period))   # nothing elapsed


def test_same_day_history(tables: dict) -> None:
    period, april = period_containing(AS_OF), period_containing("2025-04-11")
    january = pd.Timestamp("2025-01-01", tz="UTC")
    # months before the first close (2025-02-20) do not count: February is one of them
    assert np.isnan(same_day_rest(tables, AS_OF, period))
    # from January on: January won nothing after the 10th, February W1 (300) on the 20th
    assert same_day_rest(tables, AS_OF, period, data_start=january) == pytest.approx(150.0)
    # April from its 1st: March won W4 (500); from the 11th: nothing (L1 was lost)
    assert same_day_rest(tables, "2025-04-01", april, n_periods=1) == pytest.approx(500.0)
    assert forecast_same_day_history(tables, "2025-04-11", april) == pytest.approx(0.0)
    # the same position in the quarter: April is a first month, like January (nothing won)
    assert same_day_rest(tables, "2025-04-01", april, match_quarter_position=True,
                         data_start=january) == pytest.approx(0.0)
    assert np.isnan(same_day_rest(tables, "2025-04-01", april, match_quarter_position=True))


@pytest.mark.parametrize("call,message", [
    (lambda t: same_day_rest(t, AS_OF, period_containing(AS_OF), n_periods=0),
     "n_periods must be >= 1"),
    (lambda t: fit_stage_win_rates(t, "2025-01-15"), "no deal closed in the 365 days"),
    (lambda t: fit_stage_win_rates(t, AS_OF, prior_strength=-1), "prior_strength must be >= 0"),
    (lambda t: forecast_naive_run_rate(t, AS_OF, period_containing(AS_OF), window_days=0),
     "window_days must be positive"),
])
def test_errors_are_named(tables: dict, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(tables)
