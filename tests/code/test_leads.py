"""Lead features: registry, BANT/status rules, batch pairs, errors, config (``features.leads``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.schema import ACTIVITY_TYPES, coerce_rows
from features import FeatureConfig, FeatureRegistry, build_lead_features, lead_feature_registry
from features.bant import STATUS_FEATURES
from features.config import DEFAULT_ICP_FILE
from features.icp import load_icp

AS_OF = pd.Timestamp("2025-06-01T00:00:00Z")
CONFIG = FeatureConfig()
ATTRIBUTE_CONFIG = FeatureConfig(attributes={"visits": "float", "origin": "category",
                                             "opted_out": "bool:actionable"})


canon = coerce_rows  # canonical frame of inline records; raises on a bad value


def ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


def lead(lead_id: str, account_id: str | None = "A1", created_days_ago: float = 200,
         **values) -> dict:
    return {"lead_id": lead_id, "account_id": account_id, "source": "webinar", "status": "new",
            "created_at": ago(created_days_ago), "email": f"{lead_id.lower()}@a.co.jp",
            "job_title": "営業部長", **values}


def sample_tables(seed: int = 7) -> dict[str, pd.DataFrame]:
    """Three accounts, eight leads with BANT and status dates, 80 activities."""
    rng = np.random.default_rng(seed)
    accounts = canon("accounts", [
        {"account_id": "A1", "name": "株式会社テスト", "industry": "ソフトウェア",
         "employees": 300, "country": "Japan", "domain": "a.co.jp"},
        {"account_id": "A2", "name": "Acme", "industry": "retail", "employees": 40,
         "country": "US"},
        {"account_id": "A3", "name": "Beta", "industry": None, "employees": None}])
    leads = canon("leads", [
        lead("L1", budget=True, budget_confirmed_at=ago(30), need=True,
             need_confirmed_at=ago(20), timeline_months=2.0, timeline_confirmed_at=ago(5),
             mql_at=ago(60), attributes='{"visits": 4, "origin": "API", "opted_out": false}'),
        lead("L2", authority=False, authority_confirmed_at=ago(3), recycled_at=ago(10),
             attributes='{"visits": "2.5", "origin": null, "opted_out": "Yes"}'),
        lead("L3b", account_id="A3", created_days_ago=40, attributes='{"origin": "Landing Page"}'),
        lead("L3", account_id="A2", created_days_ago=50, job_title="Engineer"),
        lead("L4", account_id="A2", created_days_ago=20),
        lead("L5", account_id="A3"), lead("L6", account_id=None),
        lead("L7", account_id="A1", created_days_ago=100), lead("L8", account_id="A2")])
    lead_ids = leads["lead_id"].tolist()
    account_of = dict(zip(leads["lead_id"], leads["account_id"]))
    rows = []
    for i in range(80):
        lead_id = str(rng.choice(lead_ids + [None]))
        lead_id = None if lead_id == "None" else lead_id
        account = account_of.get(lead_id) if lead_id else str(rng.choice(["A1", "A2"]))
        rows.append({"event_id": f"E{i}", "lead_id": lead_id, "account_id": account,
                     "type": str(rng.choice(ACTIVITY_TYPES)),
                     "occurred_at": ago(float(rng.uniform(-20, 150)))})
    return {"accounts": accounts, "leads": leads, "activities": canon("activities", rows)}


# ----------------------------------------------------------------------------- registry

def test_registry_phrases_render_in_both_languages():
    registry = lead_feature_registry(CONFIG)
    feature = registry["pricing_page_view_count_7d"]
    assert feature.phrase(3.0) == "visited the pricing page 3 times in the last 7 days"
    assert feature.phrase(3.0, "ja") == "直近7日で料金ページを3回閲覧"
    for definition in registry:
        assert "{value}" in definition.phrase_en and "{value}" in definition.phrase_ja, \
            definition.name
        definition.phrase(1.5)
        definition.phrase(1.5, "ja")


def test_registry_kinds_by_group():
    registry = lead_feature_registry(CONFIG)
    groups = {d.group for d in registry}
    assert {"behavioral", "account", "bant", "lifecycle", "firmographic", "icp"} <= groups
    assert all(d.kind == "actionable" for d in registry if d.group in ("bant", "account"))
    assert [d.name for d in registry if d.group == "behavioral" and d.kind == "fixed"] == [
        "days_since_first_activity"]
    assert registry["industry"].kind == "fixed"


def test_registry_follows_the_configured_windows_and_round_trips():
    config = FeatureConfig(windows_days=(3, 14), engaged_contact_days=14,
                           count_types=("pricing_page_view",))
    registry = lead_feature_registry(config)
    assert "pricing_page_view_count_3d" in registry and "page_view_count_3d" not in registry
    assert "account_engaged_contacts_14d" in registry
    assert FeatureRegistry.from_dict(registry.to_dict()).names == registry.names


def test_frame_columns_and_dtypes_follow_the_registry():
    tables = sample_tables()
    pairs = pd.DataFrame({"lead_id": ["L1", "L3"], "as_of": [AS_OF, AS_OF]})
    frame = build_lead_features(tables, pairs, CONFIG)
    registry = lead_feature_registry(CONFIG)
    assert list(frame.columns) == ["lead_id", "as_of", *registry.names]
    for definition in registry:
        expected = "category" if definition.dtype == "category" else "float64"
        assert str(frame[definition.name].dtype) == expected, definition.name
    assert str(frame["as_of"].dtype) == "datetime64[us, UTC]"


# -------------------------------------------------------------------------- BANT / status

def bant_row(**values) -> pd.DataFrame:
    return canon("leads", [lead("L1", **values)])


@pytest.mark.parametrize("values, as_of_days_ago, expected", [
    # B yes, N no, A yes, T 2 months -> 3 met, rule met
    (dict(budget=True, budget_confirmed_at=ago(10), authority=True,
          authority_confirmed_at=ago(5), need=False, need_confirmed_at=ago(20),
          timeline_months=2.0, timeline_confirmed_at=ago(1)), 0, (1, 1, 0, 2.0, 3, 1)),
    # same lead three days earlier: timeline not yet confirmed
    (dict(budget=True, budget_confirmed_at=ago(10), authority=True,
          authority_confirmed_at=ago(5), need=False, need_confirmed_at=ago(20),
          timeline_months=2.0, timeline_confirmed_at=ago(1)), 3, (1, 1, 0, np.nan, 2, 0)),
    # confirmed exactly at as_of: not yet known
    (dict(budget=True, budget_confirmed_at=ago(5)), 5, (np.nan, np.nan, np.nan, np.nan, 0, 0)),
    # B, A, N yes but timeline 6 months: 3 met, rule not met
    (dict(budget=True, budget_confirmed_at=ago(9), authority=True,
          authority_confirmed_at=ago(9), need=True, need_confirmed_at=ago(9),
          timeline_months=6.0, timeline_confirmed_at=ago(9)), 0, (1, 1, 1, 6.0, 3, 0)),
    # timeline exactly 3 months counts; 2 of B/A/N + T
    (dict(authority=True, authority_confirmed_at=ago(9), need=True, need_confirmed_at=ago(9),
          timeline_months=3.0, timeline_confirmed_at=ago(9)), 0, (np.nan, 1, 1, 3.0, 3, 1)),
])
def test_bant_as_confirmed_before_as_of(values, as_of_days_ago, expected):
    pairs = pd.DataFrame({"lead_id": ["L1"], "as_of": [ago(as_of_days_ago)]})
    row = build_lead_features({"leads": bant_row(**values)}, pairs, CONFIG).iloc[0]
    names = ["bant_budget", "bant_authority", "bant_need", "bant_timeline_months",
             "bant_met_count", "bant_meets_sql_rule"]
    np.testing.assert_array_equal(row[names].to_numpy(float), np.asarray(expected, float))


def test_status_features_use_dated_columns():
    leads = bant_row(mql_at=ago(10), recycled_at=ago(2))
    pairs = pd.DataFrame({"lead_id": ["L1", "L1"], "as_of": [AS_OF, ago(5)]})
    frame = build_lead_features({"leads": leads}, pairs, CONFIG)[[d.name
                                                                  for d in STATUS_FEATURES]]
    assert frame["lead_age_days"].tolist() == [200, 195]
    assert frame["is_mql"].tolist() == [1, 1]
    assert frame["days_since_mql"].tolist() == [10, 5]
    assert frame["is_recycled"].tolist() == [1, 0]


# ------------------------------------------------------------------------------ batch

def test_pair_order_and_duplicates_are_kept():
    tables = sample_tables()
    pairs = pd.DataFrame({"lead_id": ["L3", "L1", "L3"], "as_of": [AS_OF, AS_OF, ago(30)]})
    frame = build_lead_features(tables, pairs, CONFIG)
    assert frame["lead_id"].tolist() == ["L3", "L1", "L3"]
    assert frame["as_of"].tolist() == pairs["as_of"].tolist()
    alone = build_lead_features(tables, pairs.iloc[[2]], CONFIG)
    pd.testing.assert_frame_equal(alone.astype(object),
                                  frame.iloc[[2]].reset_index(drop=True).astype(object))


def test_account_known_leads_counts_the_whole_table_strictly_before_as_of():
    tables = sample_tables()
    pairs = pd.DataFrame({"lead_id": ["L4", "L4"],
                          "as_of": [AS_OF, ago(20) + pd.Timedelta(1, "us")]})
    frame = build_lead_features(tables, pairs, CONFIG)
    # A2 holds L3 (50 d ago), L4 (20 d ago), L8 (200 d ago)
    assert frame["account_known_leads"].tolist() == [3, 3]
    earlier = pairs.assign(lead_id="L3", as_of=[ago(20), ago(21)])
    assert build_lead_features(tables, earlier, CONFIG)["account_known_leads"].tolist() == [2, 2]


@pytest.mark.parametrize("pairs, message", [
    (pd.DataFrame({"lead_id": ["L4"], "as_of": [ago(20)]}),
     r"1 pair\(s\) have as_of at or before the lead's created_at .*: L4"),
    (pd.DataFrame({"lead_id": ["L4"], "as_of": [ago(25)]}), "cannot be scored before it exists"),
    (pd.DataFrame({"lead_id": ["nobody"], "as_of": [AS_OF]}), "unknown lead_id.*nobody"),
])
def test_batch_bad_pairs(pairs, message):
    with pytest.raises(ValueError, match=message):
        build_lead_features(sample_tables(), pairs, CONFIG)


def test_duplicate_lead_ids_are_rejected():
    tables = sample_tables()
    tables["leads"] = pd.concat([tables["leads"], tables["leads"].iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="leads.lead_id has duplicate values: L1"):
        build_lead_features(tables, pd.DataFrame({"lead_id": ["L2"], "as_of": [AS_OF]}), CONFIG)


# ------------------------------------------------------------------------------ config

@pytest.mark.parametrize("kwargs, message", [
    (dict(windows_days=(0, 7)), "windows_days must be positive whole days"),
    (dict(windows_days=(7, 7)), "windows_days has duplicates"),
    (dict(windows_days=()), "windows_days must be positive"),
    (dict(half_life_days=0), "half_life_days must be a positive number"),
    (dict(horizon_days=-5), "horizon_days must be a positive whole number"),
    (dict(max_snapshots=0), "max_snapshots must be a positive whole number"),
    (dict(event_weights={"visit": 1.0}), r"event_weights has unknown activity type\(s\)"),
    (dict(event_weights={"page_view": -1.0}), r"event_weights\['page_view'\] must be a number"),
    (dict(count_types=("chat", "call")), r"count_types has unknown activity type\(s\) \['call'\]"),
    (dict(high_intent_types=("pricing",)), "high_intent_types has unknown activity type"),
    (dict(stage_order=("a", "a")), "stage_order has duplicates"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig(**kwargs)


def test_config_round_trips_through_a_dict_with_its_icp():
    config = FeatureConfig(windows_days=[7, 28], icp=load_icp(DEFAULT_ICP_FILE),
                           event_weights={"demo_request": 9.0})
    data = config.to_dict()
    assert data["windows_days"] == [7, 28] and isinstance(data["icp"], dict)
    assert FeatureConfig.from_dict(data) == config
    with pytest.raises(ValueError, match=r"unknown FeatureConfig key\(s\) \['windows'\]"):
        FeatureConfig.from_dict({"windows": [7]})


def test_missing_value_reads_as_no_data_or_unknown_in_each_language():
    from features.registry import FeatureDef

    number = FeatureDef("days_since_visit", "float", "actionable", "behavioral",
                        "last visit {value} days ago", "最終訪問から{value}日")
    assert number.phrase(float("nan"), "en") == "days since visit: no data"
    assert number.phrase(None, "ja") == "days since visit: データなし"
    assert number.phrase(3.0, "ja") == "最終訪問から3日"
    category = FeatureDef("industry", "category", "fixed", "firmographic", "industry is {value}",
                          "業種は{value}")
    assert category.phrase(None, "en") == "industry is unknown"
    assert category.phrase(None, "ja") == "業種は不明"
