"""Generator API: config validation, the ICP rule, summaries, documentation, progress."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from crm import schema
from crm.sample import (
    GeneratorConfig,
    describe_ground_truth,
    generate_crm,
    icp_fit,
    summarize_crm,
)
from crm.sample.story import ICP_EMPLOYEES, SQL_B0, SQL_ICP, SQL_INTERACTION, SQL_Z


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"n_leads": 0}, ValueError, "n_leads must be between 1 and 10000000, got 0"),
        ({"n_leads": 2.5}, TypeError, "n_leads must be an integer, got 2.5"),
        ({"n_leads": True}, TypeError, "n_leads must be an integer, got True"),
        ({"seed": -1}, ValueError, "seed must be between 0 and 4294967295, got -1"),
        ({"months": 0}, ValueError, "months must be between 1 and 120, got 0"),
        ({"duplicate_rate": 0.9}, ValueError,
         "duplicate_rate must be between 0.0 and 0.5, got 0.9"),
        ({"duplicate_rate": "high"}, TypeError, "duplicate_rate must be a number, got 'high'"),
        ({"activities_per_lead": 0}, ValueError,
         "activities_per_lead must be between 0.1 and 500.0"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be between 1000 and 10000000, got 0"),
        ({"chunk_size": 1500}, ValueError, "chunk_size must be a multiple of 1000, got 1500"),
        ({"end": pd.Timestamp("2026-01-01")}, ValueError, "end must be timezone-aware"),
        ({"end": "2026-01-01T00:00:00Z"}, TypeError, "end must be a pandas Timestamp"),
        ({"sql_drift": 6}, ValueError, "sql_drift must be between -5.0 and 5.0, got 6"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(changes, error, message):
    with pytest.raises(error, match=re.escape(message)):
        GeneratorConfig(**changes)


def test_config_defaults_are_fixed_and_documented():
    config = GeneratorConfig()
    assert config.end == pd.Timestamp("2026-10-31T23:59:59Z")  # not now(): deterministic
    assert (config.n_leads, config.seed, config.months) == (5000, 42, 24)
    assert config.n_accounts == 1250
    assert GeneratorConfig(n_leads=10).n_accounts == 50


@pytest.mark.parametrize(
    ("industry", "employees", "region", "seniority", "fits"),
    [
        ("software", 100, "JP", "manager", True),
        ("finance", 5000, "APAC", "executive", True),
        ("manufacturing", 800, "JP", "director", True),
        ("software", 99, "JP", "manager", False),
        ("finance", 5001, "APAC", "executive", False),
        ("manufacturing", 500, "EMEA", "vp", False),
        ("retail", 500, "JP", "vp", False),
        ("software", 500, "JP", "team_lead", False),
        ("software", None, "JP", "director", False),
        (None, 500, "JP", "director", False),
    ],
)
def test_icp_fit_is_the_exact_rule(industry, employees, region, seniority, fits):
    assert icp_fit([industry], [employees], [region], [seniority]).tolist() == [fits]


def test_icp_fit_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="equal-length inputs.*'employees': 1"):
        icp_fit(["software", "finance"], [500], ["JP", "JP"], ["vp", "vp"])


def _frame(table: str, rows: dict[str, list]) -> pd.DataFrame:
    frame, problems = schema.coerce_table(table, pd.DataFrame(rows))
    assert problems.empty, problems
    return frame


@pytest.fixture
def small_crm() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    ids = [f"L{i}" for i in range(1, 8)]
    created = ["2026-01-01T00:00:00Z"] * 6 + ["2026-10-20T00:00:00Z"]
    sql = ["2026-01-20T00:00:00Z", None, "2026-06-01T00:00:00Z", "2026-02-01T00:00:00Z",
           None, None, "2026-10-25T00:00:00Z"]
    leads = _frame("leads", {"lead_id": ids, "source": ["other"] * 7, "created_at": created,
                             "status": ["new"] * 7, "sql_at": sql})
    opps = _frame("opportunities", {
        "opportunity_id": ["O1", "O2", "O3"], "currency": ["USD"] * 3,
        "created_at": ["2026-01-25T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-15T00:00:00Z"],
        "closed_at": ["2026-03-29T00:00:00Z", "2026-02-11T00:00:00Z", None],
        "stage": ["won", "lost", "proposal"], "outcome": ["won", "lost", "open"]})
    tables = {name: schema.empty_frame(name) for name in schema.TABLES}
    tables.update(leads=leads, opportunities=opps)
    truth = pd.DataFrame({
        "lead_id": ids, "icp_fit": [True, True, False, False, False, False, True],
        "seniority_level": ["manager"] * 7, "latent_interest": [0.0] * 7, "p_sql": [0.1] * 7,
        "duplicate_of": [None, "L1", None, None, None, None, None]})
    return tables, truth


def test_summarize_crm_computes_headline_numbers(small_crm):
    tables, truth = small_crm
    summary = summarize_crm(tables, truth, end=pd.Timestamp("2026-10-31T23:59:59Z"))
    # mature leads L1-L6; SQL within 90 days: L1 (fit) and L4 (not fit); L3 is too late
    assert summary["sql_rate_90d"] == pytest.approx(2 / 6)
    assert summary["icp_sql_rate_90d"] == pytest.approx(1 / 2)
    assert summary["non_icp_sql_rate_90d"] == pytest.approx(1 / 4)
    assert summary["icp_sql_ratio"] == pytest.approx(2.0)
    assert summary["duplicate_share"] == pytest.approx(1 / 7)
    assert summary["win_rate"] == pytest.approx(0.5)
    assert summary["median_days_to_close"] == pytest.approx((63 + 10) / 2)
    assert summary["median_days_to_win"] == pytest.approx(63)
    assert summary["month_end_close_share"] == pytest.approx(0.5)  # Mar 29 yes, Feb 11 no
    assert summary["opportunities_per_month"] == {"2026-01": 1, "2026-02": 2}
    assert summary["rows"] == {"accounts": 0, "leads": 7, "activities": 0, "opportunities": 3,
                               "opportunity_stage_history": 0}


def test_summarize_crm_defaults_end_to_the_latest_timestamp(small_crm):
    tables, truth = small_crm
    summary = summarize_crm(tables, truth)  # latest: created 2026-10-20 -> L1..L6 mature
    assert summary["sql_rate_90d"] == pytest.approx(2 / 6)


def test_summarize_crm_names_a_missing_table(small_crm):
    tables, truth = small_crm
    del tables["opportunities"]
    with pytest.raises(ValueError, match=r"tables is missing \['opportunities'\]"):
        summarize_crm(tables, truth)


def test_summarize_crm_names_missing_ground_truth_columns(small_crm):
    tables, truth = small_crm
    with pytest.raises(ValueError, match=r"ground_truth is missing columns \['p_sql'\]"):
        summarize_crm(tables, truth.drop(columns="p_sql"))


def test_describe_ground_truth_renders_the_equations_in_use():
    text = describe_ground_truth()
    assert text.startswith("## The sample CRM")
    for heading in ("### Accounts", "### Leads", "### Hidden ground truth", "### Activities",
                    "### Status", "### Opportunities", "### Near-duplicates"):
        assert heading in text
    flat = " ".join(text.split())
    assert f"{ICP_EMPLOYEES[0]} ≤ employees ≤ {ICP_EMPLOYEES[1]}" in flat
    assert (f"σ({SQL_B0:g} + {SQL_ICP:g}·icp + {SQL_Z:g}·z + "
            f"{SQL_INTERACTION:g}·icp·softplus(z))") in flat
    for source in schema.LEAD_SOURCES:
        assert source in text


def test_progress_is_reported_once_per_chunk():
    seen: list[int] = []
    generate_crm(GeneratorConfig(n_leads=2500, chunk_size=1000), progress=seen.append)
    assert seen == [1000, 2000, 2500]


def test_a_single_lead_still_gives_valid_tables():
    tables, truth = generate_crm(GeneratorConfig(n_leads=1, seed=5))
    assert len(tables["leads"]) == 1 and len(truth) == 1
    assert len(tables["accounts"]) == 50
    for name, frame in tables.items():
        schema.validate_table(name, frame)
    assert not math.isnan(truth["latent_interest"].iloc[0])
    assert np.isfinite(truth["p_sql"]).all()


def test_sql_drift_raises_the_newest_leads_sql_rate_and_nothing_else() -> None:
    plain_tables, plain = generate_crm(GeneratorConfig(n_leads=3000, seed=9))
    tables, truth = generate_crm(GeneratorConfig(n_leads=3000, seed=9, sql_drift=2.0))
    third = np.arange(len(truth)) * 3 // len(truth)  # leads are in creation order
    ratio = (truth["p_sql"].groupby(third).mean() / plain["p_sql"].groupby(third).mean())
    assert ratio.iloc[0] < 1.4 < ratio.iloc[1] < ratio.iloc[2] and ratio.iloc[2] > 1.8
    pd.testing.assert_frame_equal(tables["accounts"], plain_tables["accounts"])
    pd.testing.assert_series_equal(tables["leads"]["created_at"],
                                   plain_tables["leads"]["created_at"])
    newest = tables["leads"]["created_at"] > tables["leads"]["created_at"].quantile(0.67)
    assert (tables["leads"].loc[newest, "sql_at"].notna().mean()
            > 1.5 * plain_tables["leads"].loc[newest, "sql_at"].notna().mean())
