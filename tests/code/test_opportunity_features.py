"""Opportunity features as of t: state rebuilt from the stage history, regressions, pushes,
owner win rate from deals closed strictly before t, account activity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FeatureConfig, build_opportunity_features, opportunity_feature_registry
from crm.schema import coerce_rows

AS_OF = pd.Timestamp("2025-06-01T00:00:00Z")
CONFIG = FeatureConfig()


canon = coerce_rows  # canonical frame of inline records; raises on a bad value


def day(n: float) -> pd.Timestamp:
    """``n`` days after AS_OF (negative: before)."""
    return AS_OF + pd.Timedelta(days=n)


def deal(opportunity_id: str, created: float, owner: str | None = "sato",
         closed: float | None = None, outcome: str = "open", **values) -> dict:
    return {"opportunity_id": opportunity_id, "account_id": "A1", "owner": owner,
            "product": "Pro", "amount": 999.0, "currency": "JPY", "created_at": day(created),
            "stage": "negotiation" if outcome == "open" else outcome,
            "closed_at": None if closed is None else day(closed), "outcome": outcome, **values}


def history_row(opportunity_id: str, stage: str, entered: float, amount: float,
                close: float | None) -> dict:
    return {"opportunity_id": opportunity_id, "stage": stage, "entered_at": day(entered),
            "amount": amount, "expected_close_date": None if close is None else day(close)}


def sample_tables() -> dict[str, pd.DataFrame]:
    deals = [deal("O1", -60), deal("O2", -10), deal("O3", -30, owner="suzuki"),
             deal("O4", -30, owner=None),
             deal("W1", -150, closed=-100, outcome="won"),
             deal("W2", -90, closed=-50, outcome="lost"),
             deal("W3", -60, closed=-30, outcome="won"),
             deal("W4", -40, closed=-25, outcome="lost")]
    history = [history_row("O1", "prospecting", -60, 100, 30),
               history_row("O1", "qualification", -50, 120, 30),
               history_row("O1", "qualification", -40, 150, 45),   # amount change + push
               history_row("O1", "prospecting", -30, 150, 45),     # regression
               history_row("O1", "proposal", -20, 200, 60),        # push
               history_row("O1", "negotiation", -5, 999, 60),
               history_row("O3", "prospecting", -30, 50, None),
               history_row("O4", "custom_stage", -30, 10, -1)]
    activities = [
        {"event_id": "e1", "lead_id": "L1", "account_id": "A1", "type": "page_view",
         "occurred_at": day(-1)},
        {"event_id": "e2", "lead_id": "L2", "account_id": None, "type": "meeting_held",
         "occurred_at": day(-3)},
        {"event_id": "e3", "lead_id": None, "account_id": "A1", "type": "email_sent",
         "occurred_at": day(-40)},
        {"event_id": "e4", "lead_id": "L3", "account_id": "A2", "type": "chat",
         "occurred_at": day(-2)}]
    leads = [{"lead_id": f"L{i}", "account_id": account, "source": "referral",
              "status": "sql", "created_at": day(-200)}
             for i, account in ((1, "A1"), (2, "A1"), (3, "A2"))]
    return {"opportunities": canon("opportunities", deals),
            "opportunity_stage_history": canon("opportunity_stage_history", history),
            "activities": canon("activities", activities), "leads": canon("leads", leads)}


def features_at(opportunity_id: str, *days: float, tables=None) -> pd.DataFrame:
    pairs = pd.DataFrame({"opportunity_id": [opportunity_id] * len(days),
                          "as_of": [day(d) for d in days]})
    return build_opportunity_features(tables or sample_tables(), pairs, CONFIG)


STATE = ["opp_stage", "opp_stage_rank", "opp_days_in_stage", "opp_amount",
         "opp_stage_regressions", "opp_stage_changes", "opp_close_date_pushes",
         "opp_days_to_expected_close", "opp_age_days"]


@pytest.mark.parametrize("as_of, expected", [
    (-35, ["qualification", 2, 15, 150, 0, 1, 1, 80, 25]),
    (-25, ["prospecting", 1, 5, 150, 1, 2, 1, 70, 35]),
    (-20, ["prospecting", 1, 10, 150, 1, 2, 1, 65, 40]),    # row entered at t is not yet seen
    (0, ["negotiation", 4, 5, 999, 1, 4, 2, 60, 60]),
])
def test_state_is_rebuilt_from_history(as_of, expected):
    row = features_at("O1", as_of).iloc[0]
    assert row[STATE].tolist() == expected


def test_current_columns_are_never_read_for_state():
    tables = sample_tables()
    tables["opportunities"].loc[0, ["stage", "amount"]] = ["proposal", 1.0]
    tables["opportunities"].loc[0, "expected_close_date"] = day(999)
    pd.testing.assert_frame_equal(features_at("O1", -35, tables=tables), features_at("O1", -35))


def test_deal_without_history_before_as_of_has_unknown_state():
    row = features_at("O2", -1).iloc[0]
    assert pd.isna(row["opp_stage"]) and np.isnan(row["opp_amount"])
    assert np.isnan(row["opp_days_in_stage"]) and np.isnan(row["opp_days_to_expected_close"])
    assert (row["opp_stage_changes"], row["opp_age_days"]) == (0, 9)


def test_stage_outside_the_order_has_no_rank_and_overdue_close_is_negative():
    row = features_at("O4", 0).iloc[0]
    assert row["opp_stage"] == "custom_stage" and np.isnan(row["opp_stage_rank"])
    assert row["opp_days_to_expected_close"] == -1


@pytest.mark.parametrize("as_of, rate, closed", [
    (-35, 0.5, 2),            # W1 won, W2 lost
    (-25, 2 / 3, 3),          # + W3 won; W4 closed exactly at as_of is not counted
    (-24, 0.5, 4),            # + W4 lost
    (-59, 1.0, 1),            # only W1 (won) closed so far
])
def test_owner_win_rate_uses_only_deals_closed_before_as_of(as_of, rate, closed):
    row = features_at("O1", as_of).iloc[0]
    np.testing.assert_equal(row["owner_win_rate"], rate)
    assert row["owner_closed_deals"] == closed


def test_owner_without_closed_deals_and_deal_without_owner():
    tables = sample_tables()
    pairs = pd.DataFrame({"opportunity_id": ["O3", "O4"], "as_of": [AS_OF, AS_OF]})
    frame = build_opportunity_features(tables, pairs, CONFIG)
    assert np.isnan(frame.loc[0, "owner_win_rate"]) and frame.loc[0, "owner_closed_deals"] == 0
    assert frame[["owner_win_rate", "owner_closed_deals"]].iloc[1].isna().all()


def test_account_activity_and_engaged_contacts():
    row = features_at("O1", 0).iloc[0]
    assert (row["account_activity_count_7d"], row["account_activity_count_90d"]) == (2, 3)
    assert row["account_engaged_contacts_30d"] == 2       # L1 and L2 (via the leads table)


def test_columns_follow_the_registry():
    frame = features_at("O1", 0, -10)
    registry = opportunity_feature_registry(CONFIG)
    assert list(frame.columns) == ["opportunity_id", "as_of", *registry.names]
    assert registry.categorical() == ["opp_stage", "opp_product"]
    assert str(frame["opp_stage"].dtype) == "category"
    assert list(frame["opp_stage"].cat.categories[:4]) == list(CONFIG.stage_order)
    for definition in registry:
        assert "{value}" in definition.phrase_en and "{value}" in definition.phrase_ja


@pytest.mark.parametrize("opportunity_id, as_of, message", [
    ("O2", -10, r"as_of at or before the opportunity's created_at .*O2"),
    ("O2", -11, "a deal cannot be scored before it exists"),
    ("O9", 0, r"unknown opportunity_id\(s\) not in opportunities: O9"),
])
def test_bad_pairs_raise(opportunity_id, as_of, message):
    with pytest.raises(ValueError, match=message):
        features_at(opportunity_id, as_of)


def test_history_without_stage_is_rejected():
    tables = sample_tables()
    tables["opportunity_stage_history"].loc[0, "stage"] = None
    with pytest.raises(ValueError, match=r"opportunity_stage_history.stage is missing in 1 row"):
        features_at("O1", 0, tables=tables)
