"""Recycling: which leads are held, whose score rose, and the re-engagement rate by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.schema import coerce_rows
from reports.recycle import build_recycle_report, find_held_leads

AS_OF = "2026-12-01T00:00:00Z"


def count_calls_score(tables, pairs: pd.DataFrame) -> np.ndarray:
    """10 points per activity strictly before as_of: easy to follow by hand."""
    events = tables["activities"]
    return np.array([10.0 * ((events["lead_id"] == lead) & (events["occurred_at"] < at)).sum()
                     for lead, at in zip(pairs["lead_id"], pairs["as_of"])])


@pytest.fixture
def crm(crm_rows) -> dict[str, pd.DataFrame]:
    """L01 lost its deal, L02 disqualified, L03 recycled after SQL, L04 untouched since
    January (nurturing), L05 an open deal, L06 SQL, L07 created 10 days ago. L02 and L04 show
    activity in the last 30 days; L03 requalified (SQL again) 40 days after being recycled."""
    r = crm_rows
    leads = [r.lead(1, "01-05", mql="01-10", sql="01-20"),
             r.lead(2, "01-05", disqualified_at=r.stamp("02-01")),
             r.lead(3, "01-05", mql="01-10", sql="05-01", recycled_at=r.stamp("03-01")),
             r.lead(4, "01-05"), r.lead(5, "01-05", sql="02-01"), r.lead(6, "01-05", sql="11-01"),
             r.lead(7, "11-21")]
    deals = [r.deal(1, 1, "01-22", "03-01", "lost"), r.deal(5, 5, "02-02")]
    events = [r.activity(1, 2, "01-06", "page_view"), r.activity(2, 2, "11-20", "demo_request"),
              r.activity(3, 2, "11-25", "pricing_page_view"),
              r.activity(4, 4, "11-28", "page_view"), r.activity(5, 3, "03-20", "email_reply")]
    return {"leads": coerce_rows("leads", leads),
            "opportunities": coerce_rows("opportunities", deals),
            "activities": coerce_rows("activities", events)}


def test_held_states_point_in_time(crm):
    held = find_held_leads(crm, AS_OF).set_index("lead_id")
    assert held["state"].to_dict() == {"L01": "lost", "L02": "disqualified",
                                       "L04": "nurturing"}   # L03 is SQL again since May
    assert held.loc["L04", "held_since"] == pd.Timestamp("2026-02-04T10:00:00Z")
    march = find_held_leads(crm, "2026-03-15T00:00:00Z").set_index("lead_id")
    assert march.loc["L03", "state"] == "recycled"
    assert march.loc["L01", "held_since"] == pd.Timestamp("2026-03-01T10:00:00Z")


def test_rising_held_leads_are_ranked_by_their_rise(crm):
    report = build_recycle_report(crm, as_of=AS_OF, score=count_calls_score,
                                  score_source="test", horizon_days=90, cohort_days=365)
    ranked = report.candidates
    assert ranked["lead_id"].tolist() == ["L02", "L04"]
    assert ranked[["score_then", "score_now", "rise"]].to_numpy().tolist() == [
        [10, 30, 20], [0, 10, 10]]
    assert report.held == 3 and report.score_source == "test"


def test_reengagement_rate_by_hand(crm):
    report = build_recycle_report(crm, as_of=AS_OF, score=count_calls_score,
                                  horizon_days=90, cohort_days=365)
    # became held before 2026-09-02: L01 (lost 03-01), L02 (disqualified 02-01),
    # L03 (recycled 03-01; SQL on 05-01 = requalified, a reply on 03-20 = re-engaged)
    assert (report.cohort, report.requalified, report.reengaged) == (3, 1, 1)
    assert report.requalified_rate == pytest.approx(1 / 3)
    assert report.meets_target
    shorter = build_recycle_report(crm, as_of=AS_OF, score=count_calls_score,
                                   horizon_days=30, cohort_days=365)
    assert (shorter.requalified, shorter.reengaged) == (0, 1)   # the SQL came 61 days later
    assert not shorter.meets_target


def test_without_activities_reengagement_is_unknown(crm):
    tables = {k: v for k, v in crm.items() if k != "activities"}
    report = build_recycle_report(tables, as_of=AS_OF, score=lambda t, p: np.zeros(len(p)))
    assert report.reengaged is None and np.isnan(report.reengaged_rate)
    assert report.candidates.empty


@pytest.mark.parametrize("kwargs, message", [
    ({"lookback_days": 0}, "lookback_days must be at least 1"),
    ({"horizon_days": 0}, "horizon_days must be at least 1"),
    ({"as_of": "2026-12-01"}, "as_of needs a time zone"),
])
def test_bad_arguments_are_named(crm, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_recycle_report(crm, score=count_calls_score, **kwargs)


class _FixedBundle:
    """Stands in for a trained ModelBundle: a probability from one feature."""

    feature_config: dict = {}

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.where(frame["lead_id"] == "L02", 0.42, 0.004)


def test_model_scorer_scores_with_the_bundle_on_point_in_time_features(crm):
    from reports.recycle import model_scorer

    pairs = pd.DataFrame({"lead_id": ["L02", "L04"],
                          "as_of": pd.to_datetime([AS_OF, AS_OF], utc=True)})
    assert model_scorer(_FixedBundle())(crm, pairs).tolist() == [42, 1]   # 1-99 scores
    report = build_recycle_report(crm, as_of=AS_OF, score=model_scorer(_FixedBundle()),
                                  score_source="models:/leadscore-sql@champion")
    assert report.candidates.empty  # a constant score never rises
    assert report.score_source == "models:/leadscore-sql@champion"
