"""Periods, as-of dates, currency conversion and the running history columns."""

from __future__ import annotations

import pandas as pd
import pytest

from forecast.snapshot import (check_tables, convert_currency, fill_missing_amounts,
                               past_periods, period_containing, pipeline_as_of, prepare_history,
                               to_as_of)
from crm import schema


def make_tables(deals: list[dict], history: list[dict]) -> dict[str, pd.DataFrame]:
    opportunities, problems = schema.split_valid("opportunities", pd.DataFrame(deals))
    assert problems.empty, problems
    rows, problems = schema.split_valid("opportunity_stage_history", pd.DataFrame(history))
    assert problems.empty, problems
    return {"opportunities": opportunities, "opportunity_stage_history": rows}


def deal(oid: str, created: str, amount: float | None = 100.0, currency: str = "USD",
         closed: str | None = None, outcome: str = "open", product: str = "A") -> dict:
    return {"opportunity_id": oid, "created_at": created, "closed_at": closed,
            "outcome": outcome, "stage": "x", "amount": amount, "currency": currency,
            "product": product}


def row(oid: str, stage: str, at: str, amount: float | None = 100.0,
        ecd: str | None = None) -> dict:
    return {"opportunity_id": oid, "stage": stage, "entered_at": at, "amount": amount,
            "expected_close_date": ecd}


@pytest.mark.parametrize("as_of,freq,start,end", [
    ("2025-02-14", "month", "2025-02-01", "2025-03-01"),
    ("2025-12-31", "month", "2025-12-01", "2026-01-01"),
    ("2025-05-20", "quarter", "2025-04-01", "2025-07-01"),
    ("2025-12-01", "quarter", "2025-10-01", "2026-01-01"),
])
def test_period_containing(as_of: str, freq: str, start: str, end: str) -> None:
    period = period_containing(as_of, freq)  # type: ignore[arg-type]
    assert period.start == pd.Timestamp(start, tz="UTC")
    assert period.end == pd.Timestamp(end, tz="UTC")
    assert period.n_days == (period.end - period.start).days


def test_past_periods_are_the_complete_ones_before() -> None:
    labels = [p.label for p in past_periods("2025-02-14", "month", 3)]
    assert labels == ["2024-11", "2024-12", "2025-01"]
    assert [p.label for p in past_periods("2025-02-14", "quarter", 2)] == ["2024-Q3", "2024-Q4"]


def test_as_of_is_midnight_utc() -> None:
    assert to_as_of("2025-03-05T17:30:00+09:00") == pd.Timestamp("2025-03-05", tz="UTC")
    assert to_as_of("2025-03-05") == pd.Timestamp("2025-03-05", tz="UTC")


@pytest.mark.parametrize("value", ["not a date", None, ""])
def test_bad_as_of_is_named(value: object) -> None:
    with pytest.raises(ValueError, match="as_of: .* is not a date"):
        to_as_of(value)


def test_bad_freq_is_named() -> None:
    with pytest.raises(ValueError, match="freq must be 'month' or 'quarter'"):
        period_containing("2025-01-01", "week")  # type: ignore[arg-type]


def test_missing_table_and_column_are_named() -> None:
    tables = make_tables([deal("D1", "2025-01-01T00:00:00Z")], [])
    with pytest.raises(ValueError, match="no 'opportunity_stage_history' table"):
        check_tables({"opportunities": tables["opportunities"]})
    broken = dict(tables, opportunities=tables["opportunities"].drop(columns="closed_at"))
    with pytest.raises(ValueError, match="opportunities is missing column\\(s\\) closed_at"):
        check_tables(broken)


def test_naive_timestamps_are_rejected() -> None:
    tables = make_tables([deal("D1", "2025-01-01T00:00:00Z")], [])
    naive = tables["opportunities"].assign(
        created_at=tables["opportunities"]["created_at"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="opportunities.created_at must be a timezone-aware"):
        check_tables(dict(tables, opportunities=naive))


def test_mixed_currencies_must_be_converted() -> None:
    tables = make_tables(
        [deal("D1", "2025-01-01T00:00:00Z", 100.0, "USD"),
         deal("D2", "2025-01-01T00:00:00Z", 15000.0, "JPY")],
        [row("D1", "a", "2025-01-01T00:00:00Z", 100.0),
         row("D2", "a", "2025-01-01T00:00:00Z", 15000.0)])
    with pytest.raises(ValueError, match="currency mixes JPY, USD"):
        check_tables(tables, one_currency=True)
    converted = convert_currency(tables, {"USD": 1.0, "JPY": 1 / 150}, "USD")
    check_tables(converted, one_currency=True)
    assert converted["opportunities"]["amount"].tolist() == pytest.approx([100.0, 100.0])
    assert converted["opportunity_stage_history"]["amount"].tolist() == pytest.approx(
        [100.0, 100.0])


@pytest.mark.parametrize("rates,message", [
    ({"USD": 1.0}, "no exchange rate for currency JPY"),
    ({"USD": 1.0, "JPY": 0.0}, "rates must be positive numbers"),
])
def test_bad_rates_are_named(rates: dict, message: str) -> None:
    tables = make_tables([deal("D1", "2025-01-01T00:00:00Z", 1.0, "JPY")], [])
    with pytest.raises(ValueError, match=message):
        convert_currency(tables, rates, "USD")


def test_running_history_columns() -> None:
    history = pd.DataFrame([
        row("D1", "a", "2025-01-01T00:00:00Z", ecd="2025-01-31T00:00:00Z"),
        row("D1", "b", "2025-01-05T00:00:00Z", ecd="2025-01-31T00:00:00Z"),
        row("D1", "b", "2025-02-01T00:00:00Z", ecd="2025-02-28T00:00:00Z"),
        row("D1", "b", "2025-03-01T00:00:00Z", ecd="2025-02-20T00:00:00Z"),
        row("D1", "c", "2025-03-02T00:00:00Z", ecd="2025-03-31T00:00:00Z"),
    ])
    history, _ = schema.split_valid("opportunity_stage_history", history)
    prepared = prepare_history(history.iloc[::-1])
    assert prepared["n_slips"].tolist() == [0, 0, 1, 1, 2]
    assert prepared["slip_days"].tolist() == [0.0, 0.0, 28.0, 28.0, 67.0]
    assert prepared["n_stage_changes"].tolist() == [0, 1, 1, 1, 2]
    assert prepared["stage_entered_at"].dt.day.tolist() == [1, 5, 5, 5, 2]


def test_amount_missing_is_filled_from_won_deals_of_the_product() -> None:
    tables = make_tables(
        [deal("W1", "2025-01-01T00:00:00Z", 300.0, closed="2025-01-20T00:00:00Z",
              outcome="won", product="A"),
         deal("W2", "2025-01-01T00:00:00Z", 500.0, closed="2025-01-25T00:00:00Z",
              outcome="won", product="A"),
         deal("W3", "2025-01-01T00:00:00Z", 900.0, closed="2025-03-25T00:00:00Z",
              outcome="won", product="A"),
         deal("O1", "2025-01-10T00:00:00Z", None, product="A"),
         deal("O2", "2025-01-10T00:00:00Z", None, product="B")],
        [row("O1", "a", "2025-01-10T00:00:00Z", None),
         row("O2", "a", "2025-01-10T00:00:00Z", None)])
    snapshot = pipeline_as_of(tables, "2025-02-01")
    filled = fill_missing_amounts(snapshot, tables, "2025-02-01").set_index("opportunity_id")
    # W3 is still open on 2025-02-01: its final 900 is not known yet, so it is filled too.
    assert filled["amount"].to_dict() == {"O1": 400.0, "O2": 400.0, "W3": 400.0}
    assert filled["amount_imputed"].all()


def test_won_revenue_index_equals_filtering_the_table() -> None:
    import numpy as np

    from forecast.snapshot import WonRevenue, won_between

    rng = np.random.default_rng(3)
    n = 300
    closed = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 400 * 24, n), unit="h")
    deals = pd.DataFrame({
        "opportunity_id": [f"D{i}" for i in range(n)],
        "created_at": closed - pd.Timedelta(days=30),
        "closed_at": closed.where(rng.random(n) < 0.8),
        "outcome": rng.choice(["won", "lost"], n),
        "amount": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 500.0, n)),
    })
    deals.loc[deals["closed_at"].isna(), "outcome"] = "open"
    tables = {"opportunities": deals}
    index = WonRevenue(tables)
    for _ in range(50):
        start = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 400)))
        end = start + pd.Timedelta(days=int(rng.integers(0, 120)))
        expected = won_between(tables, start, end)["amount"].sum()
        assert index(start, end) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert index(pd.Timestamp("2030-01-01", tz="UTC"), pd.Timestamp("2031-01-01", tz="UTC")) == 0
