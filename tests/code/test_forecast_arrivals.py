"""New deals: the run-rate by day of period of deals created and won inside a period."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from forecast.arrivals import ArrivalModel
from forecast.snapshot import period_containing
from crm import schema


def deal(oid: str, created: str, closed: str | None, outcome: str, amount: float) -> dict:
    return {"opportunity_id": oid, "created_at": f"{created}T00:00:00Z",
            "closed_at": None if closed is None else f"{closed}T12:00:00Z",
            "outcome": outcome, "amount": amount, "currency": "USD", "stage": "s"}


@pytest.fixture()
def tables() -> dict[str, pd.DataFrame]:
    deals = pd.DataFrame([
        deal("J1", "2025-01-05", "2025-01-25", "won", 100.0),
        deal("J2", "2025-01-20", "2025-01-28", "won", 200.0),
        deal("J3", "2025-01-10", "2025-02-03", "won", 999.0),    # won the next month
        deal("J4", "2025-01-12", "2025-01-30", "lost", 999.0),   # lost
        deal("F1", "2025-02-02", "2025-02-10", "won", 50.0),
        deal("F2", "2025-02-16", "2025-02-20", "won", 70.0),
        deal("M1", "2025-03-01", "2025-03-30", "won", 1000.0),
        deal("P1", "2025-03-20", "2025-04-10", "won", 999.0),    # still open on April 1st
        deal("O1", "2025-02-20", None, "open", 999.0),
    ])
    return {"opportunities": schema.split_valid("opportunities", deals)[0]}


@pytest.mark.parametrize("as_of,match,expected", [
    ("2025-04-01", True, 300.0),                        # January: same place in the quarter
    ("2025-04-01", False, (300.0 + 120.0 + 1000.0) / 3),
    ("2025-04-16", True, 200.0),                        # half the month gone: J2 only
    ("2025-04-16", False, (200.0 + 70.0 + 0.0) / 3),    # ... F2 in February, none in March
])
def test_run_rate_by_day_of_period(tables: dict, as_of: str, match: bool,
                                   expected: float) -> None:
    model = ArrivalModel(lookback_periods=6, match_quarter_position=match)
    model.fit(tables, as_of, "month")
    assert [p.label for p in model.periods_] == ["2025-01", "2025-02", "2025-03"]
    period = period_containing(as_of, "month")
    assert model.expected_revenue(period, as_of) == pytest.approx(expected)


def test_simulated_new_revenue_matches_the_run_rate(tables: dict) -> None:
    as_of = "2025-04-01"
    model = ArrivalModel().fit(tables, as_of, "month")
    period = period_containing(as_of, "month")
    n = 20_000
    draws = model.sample(period, as_of, n, np.random.default_rng(0))
    revenue = draws.revenue_by_simulation(n)
    assert abs(revenue.mean() - 300.0) < 4 * revenue.std() / np.sqrt(n)
    assert set(np.unique(draws.amount)) <= {100.0, 200.0}
    assert draws.day.min() >= 0 and draws.day.max() < period.n_days


def test_new_deals_land_after_as_of(tables: dict) -> None:
    as_of = "2025-04-16"
    model = ArrivalModel().fit(tables, as_of, "month")
    period = period_containing(as_of, "month")
    draws = model.sample(period, as_of, 2000, np.random.default_rng(1))
    assert len(draws.day) > 0
    assert draws.day.min() >= 15


def test_no_complete_period_means_no_new_deals(tables: dict,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="forecast.arrivals"):
        model = ArrivalModel().fit(tables, "2025-01-15", "month")
    assert "no complete month with closes before 2025-01-15" in caplog.text
    period = period_containing("2025-01-15", "month")
    assert model.expected_revenue(period, "2025-01-15") == 0.0
    draws = model.sample(period, "2025-01-15", 100, np.random.default_rng(0))
    assert draws.revenue_by_simulation(100).sum() == 0.0


def test_quarters_use_past_quarters(tables: dict) -> None:
    model = ArrivalModel().fit(tables, "2025-04-01", "quarter")
    assert [p.label for p in model.periods_] == ["2025-Q1"]
    period = period_containing("2025-04-01", "quarter")
    # in Q1: J1, J2, J3 (won in February, still in Q1), F1, F2, M1
    assert model.expected_revenue(period, "2025-04-01") == pytest.approx(2419.0)


def test_errors_are_named(tables: dict) -> None:
    with pytest.raises(ValueError, match="lookback_periods must be >= 1"):
        ArrivalModel(lookback_periods=0)
    with pytest.raises(RuntimeError, match="ArrivalModel is not fitted"):
        ArrivalModel().expected_revenue(period_containing("2025-04-01"), "2025-04-01")
