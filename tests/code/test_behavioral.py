"""Behavioral features on small hand-made frames: every window, recency, decay, velocity, rate,
active-day and account roll-up value is computed by hand here, and a property test compares
the vectorised code with a plain per-pair reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.schema import ACTIVITY_TYPES, coerce_rows
from features.account import account_feature_defs
from features.behavior import behavior_feature_defs
from features.config import DEFAULT_EVENT_WEIGHTS, HIGH_INTENT_TYPES, FeatureConfig
from features.leads import build_lead_features

AS_OF = pd.Timestamp("2025-06-01T00:00:00Z")
CONFIG = FeatureConfig()


canon = coerce_rows  # canonical frame of inline records; raises on a bad value


def ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


def events(*rows: tuple) -> pd.DataFrame:
    """rows of (lead_id, type, days before AS_OF[, account_id])."""
    return canon("activities", [
        {"event_id": f"e{i}", "lead_id": r[0], "type": r[1], "occurred_at": ago(r[2]),
         "account_id": r[3] if len(r) > 3 else None} for i, r in enumerate(rows)])


def leads(*rows: tuple[str, str | None]) -> pd.DataFrame:
    return canon("leads", [{"lead_id": lead, "account_id": account, "source": "webinar",
                            "status": "new", "created_at": ago(400)} for lead, account in rows])


def behavioral_feature_defs(config: FeatureConfig) -> list:
    """The behavior and account roll-up groups' features, in output order."""
    return [*behavior_feature_defs(config), *account_feature_defs(config)]


def build_behavioral_features(activities: pd.DataFrame, pairs: pd.DataFrame,
                              config: FeatureConfig, lead_table: pd.DataFrame | None = None
                              ) -> pd.DataFrame:
    """The behavior and account columns of ``build_lead_features``; leads the tables do not
    hold (pairs, activities) are added without an account, created long before AS_OF."""
    known = set() if lead_table is None else set(lead_table["lead_id"])
    ids = [*pairs["lead_id"].dropna()] if "lead_id" in pairs.columns else []
    if "lead_id" in activities.columns:
        ids += list(activities["lead_id"].dropna())
    extra = leads(*((lead, None) for lead in dict.fromkeys(ids) if lead not in known))
    table = extra if lead_table is None else pd.concat([lead_table, extra], ignore_index=True)
    frame = build_lead_features({"activities": activities, "leads": table}, pairs, config)
    return frame[[d.name for d in behavioral_feature_defs(config)]]


def features(activities: pd.DataFrame, lead_ids=("L1",), as_of=AS_OF, config=CONFIG,
             lead_table: pd.DataFrame | None = None) -> pd.DataFrame:
    pairs = pd.DataFrame({"lead_id": list(lead_ids), "as_of": [as_of] * len(lead_ids)})
    return build_behavioral_features(activities, pairs, config, lead_table)


def test_columns_follow_the_registry_and_are_float64():
    frame = features(events(("L1", "page_view", 1)))
    assert list(frame.columns) == [d.name for d in behavioral_feature_defs(CONFIG)]
    assert set(frame.dtypes) == {np.dtype("float64")}


@pytest.mark.parametrize("window, expected", [(7, 3), (30, 5), (90, 6)])
def test_window_counts_include_the_window_start_and_exclude_as_of(window, expected):
    acts = events(("L1", "pricing_page_view", 1), ("L1", "pricing_page_view", 6),
                  ("L1", "pricing_page_view", 7),      # exactly as_of - 7d: inside
                  ("L1", "pricing_page_view", 8), ("L1", "pricing_page_view", 29.5),
                  ("L1", "pricing_page_view", 31), ("L1", "pricing_page_view", 120),
                  ("L1", "pricing_page_view", 0),      # at as_of: not before it
                  ("L1", "pricing_page_view", -3),     # after as_of
                  ("L2", "pricing_page_view", 1))      # another lead
    row = features(acts).iloc[0]
    assert row[f"pricing_page_view_count_{window}d"] == expected
    assert row[f"activity_count_{window}d"] == expected
    assert row[f"high_intent_count_{window}d"] == expected
    assert row[f"page_view_count_{window}d"] == 0


def test_counts_per_type_and_high_intent():
    acts = events(("L1", "page_view", 1), ("L1", "page_view", 2), ("L1", "demo_request", 3),
                  ("L1", "email_reply", 10), ("L1", "email_sent", 11))
    row = features(acts).iloc[0]
    assert (row["page_view_count_7d"], row["demo_request_count_7d"]) == (2, 1)
    assert (row["email_reply_count_7d"], row["email_reply_count_30d"]) == (0, 1)
    assert (row["high_intent_count_7d"], row["high_intent_count_30d"]) == (1, 2)
    assert row["activity_count_30d"] == 5


def test_recency_features():
    acts = events(("L1", "page_view", 0.5), ("L1", "meeting_held", 2.25),
                  ("L1", "email_open", 10), ("L1", "demo_request", -1))
    row = features(acts).iloc[0]
    assert row["days_since_last_activity"] == 0.5
    assert row["days_since_last_high_intent"] == 2.25
    assert row["days_since_first_activity"] == 10


def test_lead_without_high_intent_or_activity_gets_missing_recency():
    frame = features(events(("L1", "page_view", 3), ("L2", "email_sent", 1)), ("L1", "L3"))
    assert np.isnan(frame.loc[0, "days_since_last_high_intent"])
    assert frame.loc[0, "days_since_last_activity"] == 3
    empty = frame.iloc[1]
    assert np.isnan(empty["days_since_last_activity"]) and np.isnan(empty["email_open_rate"])
    assert empty["activity_count_90d"] == 0 and empty["engagement_decayed"] == 0
    assert empty["activity_velocity"] == 1.0


@pytest.mark.parametrize("half_life, expected", [
    (14.0, 5 * 0.5 + 1 * 0.25 + 0 * 1.0),      # demo 14 days ago, page view 28, sent 1
    (7.0, 5 * 0.25 + 1 * 0.0625 + 0 * 1.0),
])
def test_decayed_engagement_uses_type_weights_and_half_life(half_life, expected):
    acts = events(("L1", "demo_request", 14), ("L1", "page_view", 28), ("L1", "email_sent", 1))
    row = features(acts, config=FeatureConfig(half_life_days=half_life)).iloc[0]
    assert row["engagement_decayed"] == pytest.approx(expected, rel=1e-12)


def test_decayed_engagement_with_custom_weights():
    config = FeatureConfig(event_weights={"page_view": 2.0})
    acts = events(("L1", "page_view", 14), ("L1", "demo_request", 1))
    assert features(acts, config=config).loc[0, "engagement_decayed"] == pytest.approx(1.0)


def test_decay_stays_finite_over_thousands_of_half_lives():
    config = FeatureConfig(half_life_days=0.01)     # 512 half-lives = 5.12 days per chunk
    ages = [40, 20.0, 9.99, 5.13, 5.11, 0.02, 0.01]
    acts = events(*[("L1", "page_view", a) for a in ages])
    expected = sum(0.5 ** (a / 0.01) for a in ages)
    value = features(acts, config=config).loc[0, "engagement_decayed"]
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("recent, before, expected", [(2, 6, 1.0), (4, 0, 5.0), (0, 3, 0.5)])
def test_velocity_compares_last_7_days_with_the_21_before(recent, before, expected):
    rows = [("L1", "page_view", 1 + i * 0.5) for i in range(recent)]
    rows += [("L1", "page_view", 8 + i) for i in range(before)]
    rows += [("L1", "page_view", 40)]              # older than 28 days: ignored
    assert features(events(*rows)).loc[0, "activity_velocity"] == pytest.approx(expected)


def test_email_rates_are_per_email_sent():
    rows = [("L1", "email_sent", d) for d in (1, 2, 3, 50)]
    rows += [("L1", "email_open", 1), ("L1", "email_open", 2), ("L1", "email_click", 2)]
    row = features(events(*rows)).iloc[0]
    assert (row["email_open_rate"], row["email_click_rate"], row["email_reply_rate"]) == (
        0.5, 0.25, 0.0)


def test_active_days_count_distinct_utc_days_in_the_window():
    acts = events(("L1", "page_view", 0.1), ("L1", "page_view", 0.2),   # 31 May
                  ("L1", "page_view", 2.5), ("L1", "email_open", 2.6),  # 29 May
                  ("L1", "page_view", 6.9), ("L1", "page_view", 7.5))   # 25 / 24 May
    row = features(acts).iloc[0]
    assert (row["active_days_7d"], row["active_days_30d"]) == (3, 4)


def test_account_roll_up_counts_company_activity_and_engaged_contacts():
    lead_table = leads(("L1", "A"), ("L2", "A"), ("L3", "A"), ("L4", "B"))
    acts = events(("L1", "page_view", 1, "A"),
                  ("L2", "webinar_attend", 10),          # blank account: L2's account A
                  ("L2", "page_view", 12, "A"),
                  ("L3", "email_sent", 2, "A"),           # weight 0: not engagement
                  ("L3", "page_view", 40, "A"),           # outside 30 days
                  (None, "exhibition_visit", 5, "A"),    # company-only event: no contact
                  ("L4", "page_view", 1, "B"))
    row = features(acts, lead_table=lead_table).iloc[0]
    assert row["account_engaged_contacts_30d"] == 2      # L1 and L2
    assert (row["account_activity_count_7d"], row["account_activity_count_30d"],
            row["account_activity_count_90d"]) == (3, 5, 6)


def test_engaged_contacts_follow_the_window_edges():
    lead_table = leads(("L1", "A"), ("L2", "A"), ("L3", "A"))
    acts = events(("L2", "page_view", 30, "A"),           # exactly as_of - 30d: inside
                  ("L3", "page_view", 30.001, "A"),       # just outside
                  ("L3", "page_view", 65, "A"), ("L3", "page_view", 45, "A"),
                  ("L2", "page_view", 0, "A"))            # at as_of: not counted
    assert features(acts, lead_table=lead_table).loc[0, "account_engaged_contacts_30d"] == 1


def test_pair_account_overrides_and_missing_account_gives_nan():
    acts = events(("L1", "page_view", 1, "A"), ("L9", "page_view", 1, "B"))
    pairs = pd.DataFrame({"lead_id": ["L1", "L1", "L2"], "as_of": [AS_OF] * 3,
                          "account_id": ["A", "B", None]})
    frame = build_behavioral_features(acts, pairs, CONFIG)
    assert list(frame["account_activity_count_7d"].iloc[:2]) == [1, 1]
    assert frame["account_engaged_contacts_30d"].iloc[:2].tolist() == [1, 1]
    assert np.isnan(frame.loc[2, "account_activity_count_7d"])


def test_output_keeps_pair_order_and_duplicates():
    acts = events(("L1", "page_view", 1), ("L2", "page_view", 1), ("L2", "page_view", 2))
    pairs = pd.DataFrame({"lead_id": ["L2", "L1", "L2", "L2"],
                          "as_of": [AS_OF, AS_OF, AS_OF, ago(1.5)]})
    frame = build_behavioral_features(acts, pairs, CONFIG)
    assert frame["activity_count_7d"].tolist() == [2, 1, 2, 1]


def test_type_may_be_categorical():
    acts = events(("L1", "page_view", 1), ("L1", "chat", 2))
    categorical = acts.assign(type=acts["type"].astype("category"))
    pd.testing.assert_frame_equal(features(categorical), features(acts))


@pytest.mark.parametrize("change, message", [
    (lambda a: a.assign(type=["page_view", "visit"]), r"activities.type has unknown value"),
    (lambda a: a.assign(type=["page_view", None]), r"activities.type is missing in 1 row"),
    (lambda a: a.assign(occurred_at=a["occurred_at"].dt.tz_localize(None)),
     r"activities.occurred_at must hold timezone-aware timestamps"),
    (lambda a: a.assign(occurred_at=[AS_OF, pd.NaT]), r"activities.occurred_at is missing"),
    (lambda a: a.drop(columns="type"), r"activities is missing column 'type'"),
])
def test_bad_activities_raise_clear_errors(change, message):
    acts = events(("L1", "page_view", 1), ("L1", "chat", 2))
    with pytest.raises(ValueError, match=message):
        features(change(acts))


@pytest.mark.parametrize("pairs, message", [
    (pd.DataFrame({"lead_id": ["L1"]}), r"pairs is missing column 'as_of'"),
    (pd.DataFrame({"lead_id": ["L1"], "as_of": [pd.Timestamp("2025-01-01")]}),
     r"pairs.as_of must hold timezone-aware"),
    (pd.DataFrame({"lead_id": [None], "as_of": [AS_OF]}), r"pairs.lead_id has 1 missing"),
])
def test_bad_pairs_raise_clear_errors(pairs, message):
    with pytest.raises(ValueError, match=message):
        build_behavioral_features(events(("L1", "page_view", 1)), pairs, CONFIG)


# ------------------------------------------------------------- property: matches a reference

def reference(acts: pd.DataFrame, lead_id: str, account_id: str | None, as_of: pd.Timestamp,
              config: FeatureConfig) -> dict[str, float]:
    """Plain per-pair computation of a sample of the features."""
    before = acts[acts["occurred_at"] < as_of]
    own = before[before["lead_id"] == lead_id]
    out: dict[str, float] = {}
    for w in config.windows_days:
        window = own[own["occurred_at"] >= as_of - pd.Timedelta(days=w)]
        out[f"activity_count_{w}d"] = len(window)
        out[f"page_view_count_{w}d"] = int((window["type"] == "page_view").sum())
        out[f"high_intent_count_{w}d"] = int(window["type"].isin(HIGH_INTENT_TYPES).sum())
        out[f"active_days_{w}d"] = window["occurred_at"].dt.floor("D").nunique()
        company = before[before["account_id"] == account_id]
        out[f"account_activity_count_{w}d"] = int(
            (company["occurred_at"] >= as_of - pd.Timedelta(days=w)).sum())
    age = (as_of - own["occurred_at"]) / pd.Timedelta(days=config.half_life_days)
    out["engagement_decayed"] = float(
        (own["type"].map(config.event_weights).astype(float).fillna(0) * 0.5 ** age).sum())
    recent = before[(before["account_id"] == account_id) & before["lead_id"].notna()
                    & (before["occurred_at"] >= as_of - pd.Timedelta(days=30))
                    & (before["type"].map(config.event_weights).astype(float).fillna(0) > 0)]
    out["account_engaged_contacts_30d"] = recent["lead_id"].nunique()
    return out


@st.composite
def activity_sets(draw):
    n = draw(st.integers(0, 40))
    hours = st.integers(-24 * 100, 24 * 5)             # hour grid: many ties and exact edges
    rows = [{"event_id": f"e{i}", "lead_id": draw(st.sampled_from(["L1", "L2", "L3", None])),
             "account_id": draw(st.sampled_from(["A", "B"])),
             "type": draw(st.sampled_from(ACTIVITY_TYPES)),
             "occurred_at": AS_OF + pd.Timedelta(hours=draw(hours))} for i in range(n)]
    return canon("activities", rows) if rows else canon("activities", [
        {"event_id": "x", "lead_id": "L9", "account_id": "Z", "type": "chat",
         "occurred_at": AS_OF}])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(acts=activity_sets(), as_of_hours=st.lists(st.integers(-24 * 90, 24), min_size=1,
                                                  max_size=4))
def test_vectorised_features_match_the_per_pair_reference(acts, as_of_hours):
    pairs = pd.DataFrame({"lead_id": ["L1", "L2", "L3", "L1"][:len(as_of_hours)],
                          "account_id": ["A", "B", "A", "B"][:len(as_of_hours)],
                          "as_of": [AS_OF + pd.Timedelta(hours=h) for h in as_of_hours]})
    frame = build_behavioral_features(acts, pairs, CONFIG)
    for i, pair in pairs.iterrows():
        expected = reference(acts, pair["lead_id"], pair["account_id"], pair["as_of"], CONFIG)
        for name, value in expected.items():
            assert frame.loc[i, name] == pytest.approx(value, rel=1e-12, abs=1e-300), name


def test_default_weights_cover_every_activity_type():
    assert set(DEFAULT_EVENT_WEIGHTS) == set(ACTIVITY_TYPES)
