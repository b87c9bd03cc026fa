"""KPI reverse plan: arithmetic checked by hand on a one-month window."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from crm.schema import coerce_rows
from reports.plan import build_kpi_plan, reverse_plan

RATES = {"average_deal": 2000.0, "opportunity→won": 0.5, "sql→opportunity": 1.0,
         "mql→sql": 0.8, "lead→mql": 0.5, "connect_rate": 0.4, "connected_per_sql": 1.0}


def test_reverse_plan_rounds_up_at_every_step():
    assert reverse_plan(10_000, RATES) == {
        "revenue": 10_000, "wins": 5, "opportunities": 10, "sqls": 10,
        "mqls": 13,             # 10 / 0.8 = 12.5
        "leads": 26, "connected_calls": 10, "dials": 25}


def test_reverse_plan_without_call_data_leaves_calls_unknown():
    plan = reverse_plan(10_000, {**RATES, "connect_rate": math.nan,
                                 "connected_per_sql": math.nan})
    assert math.isnan(plan["dials"]) and plan["leads"] == 26


def test_a_stage_never_converting_is_refused():
    with pytest.raises(ValueError, match="the measured mql→sql is 0.0"):
        reverse_plan(10_000, {**RATES, "mql→sql": 0.0})


@pytest.fixture
def crm(crm_rows) -> dict[str, pd.DataFrame]:
    """January (the window): 10 leads, 5 MQL, 4 SQL, 4 deals created, 2 won for 1,000 and
    3,000, 6 unanswered dials and 4 connected calls. February: 3 leads, 1 MQL, a January deal
    won for 5,000 on the 10th, 2 connected calls by the 15th, one more dial on the 20th."""
    r = crm_rows
    leads = [r.lead(i, f"01-{i + 1:02d}", mql="01-12" if i <= 5 else None,
                    sql="01-14" if i <= 4 else None) for i in range(1, 11)]
    leads += [r.lead(10 + i, f"02-0{i + 1}", mql="02-05" if i == 1 else None)
              for i in range(1, 4)]
    deals = [r.deal(1, 1, "01-16", "01-25", "won", 1000.0),
             r.deal(2, 2, "01-16", "01-28", "won", 3000.0), r.deal(3, 3, "01-16", "01-30", "lost"),
             r.deal(4, 4, "01-16", "02-10", "won", 5000.0)]
    calls = ([r.activity(i, 1, "01-20", "call_attempt") for i in range(6)]
             + [r.activity(10 + i, 2, "01-21", "call_connected") for i in range(4)]
             + [r.activity(20 + i, 11, "02-12", "call_connected") for i in range(2)]
             + [r.activity(30, 12, "02-20", "call_attempt")])
    return {"leads": coerce_rows("leads", leads),
            "opportunities": coerce_rows("opportunities", deals),
            "activities": coerce_rows("activities", calls)}


def test_plan_measures_the_window_and_counts_the_month_so_far(crm):
    plan = build_kpi_plan(crm, 10_000, "2026-02", as_of="2026-02-15T00:00:00Z",
                          window_months=1)
    assert plan.rates == pytest.approx(RATES)
    table = plan.table
    assert table["required"].to_dict() == reverse_plan(10_000, RATES)
    assert table["actual"].to_dict() == {"revenue": 5000, "wins": 1, "opportunities": 0,
                                         "sqls": 0, "mqls": 1, "leads": 3,
                                         "connected_calls": 2, "dials": 2}
    assert plan.elapsed == pytest.approx(14 / 28)
    assert table.loc["revenue", "remaining"] == 5000
    assert table.loc["wins", "expected_by_now"] == pytest.approx(2.5)
    assert not table.loc["wins", "on_pace"]
    assert plan.window == (pd.Timestamp("2026-01-01", tz="UTC"),
                           pd.Timestamp("2026-02-01", tz="UTC"))
    assert plan.currency == "USD"


def test_month_end_counts_the_whole_month(crm):
    plan = build_kpi_plan(crm, 10_000, "2026-02", as_of="2026-02-28T23:59:00Z",
                          window_months=1)
    assert plan.table.loc["dials", "actual"] == 3
    assert plan.elapsed == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"revenue_target": 0}, "revenue_target must be a positive number"),
    ({"month": "Feb"}, "month 'Feb' is not a month"),
    ({"month": "2026-13"}, "month '2026-13' is not a month"),
    ({"window_months": 0}, "window_months must be at least 1"),
    ({"as_of": "2026-01-15T00:00:00Z"}, "is before the month"),
])
def test_bad_arguments_are_named(crm, kwargs, message):
    arguments = {"revenue_target": 10_000, "month": "2026-02", "window_months": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_kpi_plan(crm, **arguments)


def test_mixed_currencies_need_converting(crm):
    deals = crm["opportunities"].assign(currency=["USD", "JPY", "USD", "USD"])
    with pytest.raises(ValueError, match="mixes JPY, USD: convert"):
        build_kpi_plan({**crm, "opportunities": deals}, 10_000, "2026-02")
