"""Funnel report on a CRM small enough to count by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.schema import coerce_rows
from reports.funnel import build_funnel
from reports.stages import build_stage_times


@pytest.fixture
def crm(crm_rows) -> dict[str, pd.DataFrame]:
    """January: 10 leads, 5 MQL, 4 SQL, 4 deals, 1 won. February: 10 leads (2 from
    referral), 5 MQL + 1 lead straight to SQL (counts as MQL), 4 SQL, 2 deals, 1 won; a
    third February SQL's deal is created in March."""
    _lead, _deal = crm_rows.lead, crm_rows.deal
    jan = [_lead(i, f"01-{i + 1:02d}", mql="01-12" if i <= 5 else None,
                 sql="01-14" if i <= 4 else None) for i in range(1, 11)]
    feb = [_lead(10 + i, f"02-{i + 1:02d}", mql="02-12" if i <= 5 else None,
                 sql="02-14" if i <= 3 else None,
                 source="referral" if i in (1, 9) else "webinar",
                 owner=None if i == 10 else "Aoki") for i in range(1, 11)]
    feb[6]["sql_at"] = crm_rows.stamp("02-15")  # L17: SQL without MQL
    deals = [_deal(i, i, "01-16", *(("01-25", "won") if i == 1 else ("01-30", "lost")))
             for i in range(1, 5)]
    deals += [_deal(11, 11, "02-16", "02-20", "won"), _deal(12, 12, "02-16", "02-21", "lost"),
              _deal(13, 13, "03-02")]
    return {"leads": coerce_rows("leads", jan + feb),
            "opportunities": coerce_rows("opportunities", deals)}


def test_stage_times_are_monotone_and_point_in_time(crm):
    times = build_stage_times(crm, "2026-02-15T00:00:00Z")
    assert "L17" in times.index and pd.isna(times.loc["L17", "mql"])  # its SQL is later
    late = build_stage_times(crm, "2026-03-31T00:00:00Z")
    assert late.loc["L17", "mql"] == late.loc["L17", "sql"]  # SQL implies MQL
    assert pd.notna(late.loc["L13", "opportunity"])
    assert pd.isna(times.loc["L13", "opportunity"])


def test_february_funnel_counts_and_rates_by_hand(crm):
    report = build_funnel(crm, "2026-02", as_of="2026-02-28T23:00:00Z", history_periods=1,
                          min_entries=1)
    stages = report.stages
    assert stages["entered"].to_dict() == {"lead": 10, "mql": 6, "sql": 4, "opportunity": 2,
                                           "won": 1}
    assert stages.loc["lead", "conversion"] == pytest.approx(0.6)
    assert stages.loc["mql", "conversion"] == pytest.approx(4 / 6)
    assert stages.loc["sql", "conversion"] == pytest.approx(0.5)
    assert stages.loc["opportunity", "conversion"] == pytest.approx(0.5)
    # January: 0.5, 0.8, 1.0, 0.25
    assert stages.loc["sql", "last_conversion"] == pytest.approx(1.0)
    assert stages.loc["sql", "change_vs_history"] == pytest.approx(-0.5)
    assert stages.loc["mql", "change_vs_last"] == pytest.approx((4 / 6) / 0.8 - 1)
    assert stages.loc["mql", "median_days_to_next"] == pytest.approx(2.0)  # 2, 2, 2 and 0 days
    assert report.bottleneck == "sql"
    assert "sql→opportunity" in report.describe_bottleneck()


def test_sources_and_owners_split_the_period(crm):
    report = build_funnel(crm, "2026-02", as_of="2026-02-28T23:00:00Z", history_periods=1)
    by_source = report.by_source
    assert by_source.loc["referral", ["lead", "mql", "sql", "opportunity", "won"]].tolist() == [
        2, 1, 1, 1, 1]
    assert by_source.loc["referral", "lead→won"] == pytest.approx(0.5)
    assert by_source["lead"].sum() == 10
    assert report.by_owner.loc["(none)", "lead"] == 1


def test_as_of_inside_the_period_counts_only_what_was_known(crm):
    report = build_funnel(crm, "2026-02", as_of="2026-02-15T00:00:00Z", history_periods=1)
    assert report.stages["entered"].to_dict() == {"lead": 10, "mql": 5, "sql": 3,
                                                  "opportunity": 0, "won": 0}


def test_no_drop_means_no_bottleneck(crm):
    report = build_funnel(crm, "2026-01", as_of="2026-01-31T23:00:00Z", history_periods=1,
                          min_entries=1)
    assert report.bottleneck is None
    assert "no stage" in report.describe_bottleneck()


def test_min_entries_keeps_small_stages_from_being_named(crm):
    report = build_funnel(crm, "2026-02", as_of="2026-02-28T23:00:00Z", history_periods=1,
                          min_entries=5)
    assert report.bottleneck == "mql"  # sql (-50%) had 4 entries; mql fell 0.8 -> 0.67 on 6


@pytest.mark.parametrize("kwargs, message", [
    ({"period": "2026-13"}, "period '2026-13' is not a M period"),
    ({"period": "2026-02", "as_of": "2026-02-15"}, "as_of needs a time zone"),
    ({"period": "2026-02", "as_of": "2026-01-15T00:00:00Z"}, "is before the period"),
    ({"period": "2026-02", "history_periods": 0}, "history_periods must be at least 1"),
])
def test_bad_arguments_are_named(crm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_funnel(crm, **kwargs)


def test_missing_columns_are_named(crm):
    with pytest.raises(ValueError, match=r"leads is missing column\(s\) mql_at"):
        build_funnel({**crm, "leads": crm["leads"].drop(columns="mql_at")}, "2026-02")
    with pytest.raises(ValueError, match="tables has no 'opportunities' table"):
        build_funnel({"leads": crm["leads"]}, "2026-02")
