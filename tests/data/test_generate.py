"""The sample CRM: schema, integrity, censoring, determinism and the realised ground truth."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from crm import schema
from crm.sample import GeneratorConfig, generate_crm, icp_fit
from crm.sample.story import COUNTRIES, COUNTRY_REGION, HIGH_INTENT_TYPES

END = GeneratorConfig().end
N_LEADS = 3000


@pytest.fixture(scope="module")
def crm() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_crm(GeneratorConfig(n_leads=N_LEADS, seed=7))


@pytest.fixture(scope="module")
def tables(crm):
    return crm[0]


@pytest.fixture(scope="module")
def truth(crm):
    return crm[1]


def _assert_same(a: tuple, b: tuple) -> None:
    (tables_a, truth_a), (tables_b, truth_b) = a, b
    assert list(tables_a) == list(tables_b)
    for name in tables_a:
        pd.testing.assert_frame_equal(tables_a[name], tables_b[name], obj=name)
    pd.testing.assert_frame_equal(truth_a, truth_b, obj="ground_truth")


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_tables():
    config = GeneratorConfig(n_leads=1500, seed=11)
    _assert_same(generate_crm(config), generate_crm(config))


def test_different_seed_gives_different_tables():
    a, _ = generate_crm(GeneratorConfig(n_leads=1500, seed=11))
    b, _ = generate_crm(GeneratorConfig(n_leads=1500, seed=12))
    assert not a["leads"].equals(b["leads"])
    assert not a["activities"].equals(b["activities"])


def test_chunk_size_does_not_change_output():
    one_chunk = generate_crm(GeneratorConfig(n_leads=2500, seed=3, chunk_size=50_000))
    small_chunks = generate_crm(GeneratorConfig(n_leads=2500, seed=3, chunk_size=1000))
    _assert_same(one_chunk, small_chunks)


# The fingerprint of a small sample CRM, taken before crm.generate became the crm.sample package
# (the split moved code only). If you change what the generator draws on purpose, update it.
SAMPLE_FINGERPRINT = "5a8224621ae141bb7231cc4fd4de44416f9de9358a2f420f4cd3a10883126fb5"


def test_output_for_a_seed_is_pinned():
    tables, truth = generate_crm(GeneratorConfig(n_leads=1000, seed=5))
    digest = hashlib.sha256()
    for name, frame in [*tables.items(), ("ground_truth", truth)]:
        digest.update(name.encode())
        digest.update(",".join(f"{c}:{t}" for c, t in frame.dtypes.items()).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    assert digest.hexdigest() == SAMPLE_FINGERPRINT


# --- schema and integrity ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(schema.TABLES))
def test_every_table_passes_the_schema(tables, name):
    frame = tables[name]
    assert list(frame.columns) == schema.TABLES[name].column_names
    schema.validate_table(name, frame)
    for col in schema.TABLES[name].columns:
        assert frame[col.name].dtype == schema.PANDAS_DTYPES[col.kind], col.name


def test_every_event_timestamp_is_at_or_before_end(tables):
    for name, frame in tables.items():
        for col in schema.TABLES[name].columns:
            if col.kind == "datetime" and col.name != "expected_close_date":
                assert not (frame[col.name] > END).any(), f"{name}.{col.name} after end"


def test_recent_leads_are_censored(tables):
    leads = tables["leads"]
    recent = leads["created_at"] > END - pd.Timedelta(days=14)
    assert recent.sum() > 10
    assert leads.loc[recent, "status"].isin(["new", "mql", "sql", "disqualified"]).all()
    assert (tables["opportunities"]["outcome"] == "open").any()


def test_references_resolve(tables, truth):
    leads, accounts = set(tables["leads"]["lead_id"]), set(tables["accounts"]["account_id"])
    acts, opps = tables["activities"], tables["opportunities"]
    assert set(acts["lead_id"].dropna()) <= leads
    assert set(acts["account_id"].dropna()) <= accounts
    assert set(tables["leads"]["account_id"].dropna()) <= accounts
    assert set(opps["lead_id"].dropna()) <= leads
    assert set(opps["account_id"].dropna()) <= accounts
    history_ids = set(tables["opportunity_stage_history"]["opportunity_id"])
    assert history_ids == set(opps["opportunity_id"])
    assert truth["lead_id"].tolist() == tables["leads"]["lead_id"].tolist()


def test_event_ids_follow_lead_and_time(tables):
    acts = tables["activities"]
    assert acts["event_id"].str.fullmatch(r"E\d{10}").all()
    assert acts["event_id"].is_monotonic_increasing
    named = acts.dropna(subset=["lead_id"])
    assert named["lead_id"].is_monotonic_increasing


def test_sql_follows_the_bant_rule_of_practice(tables):
    leads = tables["leads"]
    sql = leads[leads["sql_at"].notna()]
    assert len(sql) > 50
    confirmed = sum(
        (sql[value].fillna(False).astype(bool) & (sql[f"{name}_confirmed_at"] <= sql["sql_at"]))
        .astype(int) for name, value in (("budget", "budget"), ("authority", "authority"),
                                         ("need", "need")))
    timeline_ok = (sql["timeline_months"] <= 3) & (sql["timeline_confirmed_at"] <= sql["sql_at"])
    assert timeline_ok.all()
    assert (confirmed + timeline_ok.astype(int) >= 3).all()


def test_opportunity_state_matches_its_last_history_row(tables):
    opps = tables["opportunities"].set_index("opportunity_id")
    history = tables["opportunity_stage_history"]
    last = history.sort_values(["opportunity_id", "entered_at"]).groupby("opportunity_id").last()
    last = last.reindex(opps.index)
    assert (last["stage"] == opps["stage"]).all()
    assert np.allclose(last["amount"], opps["amount"])
    assert (last["expected_close_date"] == opps["expected_close_date"]).all()
    closed = opps["outcome"] != "open"
    assert (opps.loc[closed, "stage"] == opps.loc[closed, "outcome"]).all()
    assert (last.loc[closed, "entered_at"] == opps.loc[closed, "closed_at"]).all()
    assert not opps.loc[~closed, "stage"].isin(["won", "lost"]).any()
    assert opps.loc[opps["outcome"] == "lost", "loss_reason"].notna().all()
    assert opps.loc[opps["outcome"] != "lost", "loss_reason"].isna().all()


def test_deals_start_after_their_lead_became_sql(tables):
    opps = tables["opportunities"].dropna(subset=["lead_id"])
    sql_at = tables["leads"].set_index("lead_id")["sql_at"].reindex(opps["lead_id"])
    assert (opps["created_at"].to_numpy() >= sql_at.to_numpy()).all()
    assert len(tables["opportunities"]) > len(opps)  # some direct (lead-less) deals


def test_currency_follows_the_account_region(tables):
    opps = tables["opportunities"].merge(tables["accounts"][["account_id", "country"]],
                                         on="account_id", how="left")
    with_account = opps.dropna(subset=["country"])
    expected = np.where(with_account["country"] == "JP", "JPY", "USD")
    assert (with_account["currency"] == expected).all()


def test_history_records_pushed_close_dates_and_regressions(tables):
    history = tables["opportunity_stage_history"].sort_values(["opportunity_id", "entered_at"])
    same_deal = history["opportunity_id"].eq(history["opportunity_id"].shift())
    pushed = same_deal & (history["expected_close_date"]
                          > history["expected_close_date"].shift())
    order = {s: i for i, s in enumerate(["prospecting", "qualification", "proposal",
                                         "negotiation"])}
    rank = history["stage"].map(order)
    regressed = same_deal & (rank < rank.shift())
    assert pushed.sum() > 10
    assert regressed.sum() > 0


# --- the story ---------------------------------------------------------------------------------

def test_accounts_are_japan_heavy_with_matching_regions(tables):
    accounts = tables["accounts"]
    assert 0.4 < (accounts["country"] == "JP").mean() < 0.6
    region = dict(zip(COUNTRIES, COUNTRY_REGION))
    assert (accounts["region"] == accounts["country"].map(region)).all()
    jp = accounts[accounts["country"] == "JP"]
    assert jp["name"].str.contains("株式会社|有限会社").all()


def test_japanese_accounts_have_mostly_japanese_names(tables):
    leads = tables["leads"].merge(tables["accounts"][["account_id", "country"]], on="account_id")
    jp_names = leads.loc[leads["country"] == "JP", "name"].dropna()
    cjk = jp_names.str.contains(r"[\u3040-\u30ff\u4e00-\u9fff\uff66-\uff9f]")
    assert cjk.mean() > 0.85


def test_activity_volume_and_funnel(tables):
    counts = tables["activities"]["type"].value_counts()
    per_lead = len(tables["activities"]) / N_LEADS
    assert 17 < per_lead < 24
    assert counts["page_view"] > 3 * counts["email_open"]
    assert counts["email_open"] > counts["email_click"] > counts["demo_request"]
    assert counts["page_view"] > counts["pricing_page_view"] > counts["demo_request"]
    assert counts["email_open"] > counts["meeting_booked"]


def test_icp_fit_leads_reach_sql_at_least_twice_as_often(tables, truth):
    leads = tables["leads"]
    mature = leads["created_at"] <= END - pd.Timedelta(days=90)
    sql90 = leads["sql_at"].notna() & (leads["sql_at"] <= leads["created_at"]
                                       + pd.Timedelta(days=90))
    fit = truth["icp_fit"].to_numpy(dtype=bool)
    fit_rate, other_rate = sql90[mature & fit].mean(), sql90[mature & ~fit].mean()
    assert other_rate > 0.01
    assert fit_rate >= 2 * other_rate


def test_ground_truth_icp_is_the_documented_rule(tables, truth):
    leads = tables["leads"].merge(tables["accounts"], on="account_id", how="left",
                                  suffixes=("", "_account"))
    known = leads["employees"].notna() & leads["industry"].notna()
    rule = icp_fit(leads["industry"], leads["employees"], leads["region"],
                   truth["seniority_level"])
    assert (rule[known.to_numpy()] == truth["icp_fit"].to_numpy(dtype=bool)[known.to_numpy()]).all()
    assert truth["icp_fit"].sum() > 100


def test_p_sql_is_a_probability_that_matches_realised_conversion(tables, truth):
    p = truth["p_sql"]
    assert p.between(0, 1).all()
    leads = tables["leads"]
    mature = (leads["created_at"] <= END - pd.Timedelta(days=90)).to_numpy()
    sql90 = (leads["sql_at"] <= leads["created_at"] + pd.Timedelta(days=90)).to_numpy()
    expected, realised = p[mature].sum(), sql90[mature].sum()
    assert abs(realised - expected) < 4 * np.sqrt(expected)


def test_duplicate_share_and_duplicates_come_later(tables, truth):
    dup = truth.dropna(subset=["duplicate_of"])
    assert 0.05 <= len(dup) / len(truth) <= 0.08
    created = tables["leads"].set_index("lead_id")["created_at"]
    assert (created[dup["lead_id"]].to_numpy() >= created[dup["duplicate_of"]].to_numpy()).all()
    assert not set(dup["duplicate_of"]) & set(dup["lead_id"])
    leads = tables["leads"].set_index("lead_id")
    same_account = (leads.loc[dup["lead_id"], "account_id"].to_numpy()
                    == leads.loc[dup["duplicate_of"], "account_id"].to_numpy())
    assert same_account[leads.loc[dup["lead_id"], "account_id"].notna().to_numpy()].all()


def test_high_intent_events_rise_before_sql(tables):
    leads, acts = tables["leads"], tables["activities"]
    intent = acts[acts["type"].isin(HIGH_INTENT_TYPES) & acts["lead_id"].notna()]
    intent = intent.merge(leads[["lead_id", "created_at", "sql_at"]], on="lead_id")
    converters = leads.loc[leads["sql_at"].notna(), "lead_id"]
    mature = leads["created_at"] <= END - pd.Timedelta(days=90)
    others = leads.loc[leads["sql_at"].isna() & mature, "lead_id"]
    before_sql = intent[intent["occurred_at"] < intent["sql_at"]].groupby("lead_id").size()
    first_90d = intent[intent["sql_at"].isna()
                       & (intent["occurred_at"] < intent["created_at"] + pd.Timedelta(days=90))]
    per_converter = before_sql.reindex(converters, fill_value=0).mean()
    per_other = first_90d.groupby("lead_id").size().reindex(others, fill_value=0).mean()
    assert per_converter > 3 * per_other
    lead_time = (intent["sql_at"] - intent["occurred_at"]).dt.total_seconds() / 86_400
    assert (lead_time.between(0, 14)).sum() > (lead_time.between(14, 28)).sum() * 2


def test_closes_cluster_at_month_end(tables):
    closed = tables["opportunities"].dropna(subset=["closed_at"])
    days_left = closed["closed_at"].dt.days_in_month - closed["closed_at"].dt.day
    assert (days_left < 5).mean() > 5 / 30.4 + 0.1


def test_dirty_values_stay_valid(tables):
    leads = tables["leads"]
    assert leads["department"].isin(["n/a", "N/A", "-", "不明", "その他"]).any()
    assert leads["job_title"].str.contains("\u3000|  |[Ａ-Ｚ]", regex=True).any()
    assert leads["job_title"].isna().any() and leads["email"].isna().any()
    assert tables["accounts"]["employees"].isna().any()
    assert not leads["job_title"].dropna().map(lambda s: s != s.strip()).any()
    assert leads["email"].dropna().map(lambda s: re.fullmatch(r"[^@\s]+@[a-z0-9.-]+", s)
                                       is not None).all()
