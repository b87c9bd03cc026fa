"""The shipped mappings on the real shared datasets: exact counts, leaks excluded, schema valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from crm import schema
from crm.importer import ImportResult, format_rejection_report, import_crm, load_mapping

pytestmark = pytest.mark.datasets

MAPPINGS = Path(__file__).resolve().parents[2] / "config" / "mappings"
POST_CONTACT = ["Tags", "Lead Quality", "Lead Profile", "Asymmetrique Activity Index",
                "Asymmetrique Profile Index", "Asymmetrique Activity Score",
                "Asymmetrique Profile Score", "Last Activity", "Last Notable Activity"]
PRE_CONTACT_KEYS = [
    "lead_origin", "lead_source_detail", "do_not_email", "do_not_call", "total_visits",
    "total_time_spent_on_website", "page_views_per_visit", "country", "specialization",
    "how_did_you_hear_about_x_education", "what_is_your_current_occupation",
    "what_matters_most_to_you_in_choosing_a_course", "search", "magazine", "newspaper_article",
    "x_education_forums", "newspaper", "digital_advertisement", "through_recommendations",
    "receive_more_updates_about_our_courses", "update_me_on_supply_chain_content",
    "get_updates_on_dm_content", "city", "i_agree_to_pay_the_amount_through_cheque",
    "a_free_copy_of_mastering_the_interview",
]


@pytest.fixture(scope="module")
def xeducation(datasets_dir: Path) -> ImportResult:
    return import_crm(load_mapping(MAPPINGS / "xeducation.yaml"),
                      datasets_dir / "leads_xeducation")


@pytest.fixture(scope="module")
def xeducation_raw(datasets_dir: Path) -> pd.DataFrame:
    return pd.read_csv(datasets_dir / "leads_xeducation" / "Leads.csv", dtype="str",
                       keep_default_na=False)


@pytest.fixture(scope="module")
def maven(datasets_dir: Path) -> ImportResult:
    return import_crm(load_mapping(MAPPINGS / "maven_crm.yaml"), datasets_dir / "maven_crm")


@pytest.fixture(scope="module")
def pipeline_raw(datasets_dir: Path) -> pd.DataFrame:
    return pd.read_csv(datasets_dir / "maven_crm" / "sales_pipeline.csv", dtype="str",
                       keep_default_na=False)


def _counts(result: ImportResult) -> dict[str, dict[str, int]]:
    counts = result.counts.set_index("table")[["read", "filtered", "rejected", "loaded"]]
    return {t: {k: int(v) for k, v in row.items()} for t, row in counts.iterrows()}


def _attributes(result: ImportResult) -> pd.DataFrame:
    return pd.DataFrame([json.loads(a) for a in result.tables["leads"]["attributes"]])


# ----------------------------------------------------------------------------- X Education

def test_xeducation_loads_every_lead_and_rejects_none(xeducation: ImportResult) -> None:
    assert _counts(xeducation) == {
        "leads": {"read": 9240, "filtered": 0, "rejected": 0, "loaded": 9240}}
    assert xeducation.rejections.empty
    schema.validate_table("leads", xeducation.tables["leads"])


def test_xeducation_reports_the_1281_repeated_rows_without_dropping_them(
        xeducation: ImportResult, xeducation_raw: pd.DataFrame) -> None:
    duplicates = xeducation.duplicates
    assert len(duplicates) == 1281
    assert any("1,281 source rows repeat" in w for w in xeducation.warnings)
    content = xeducation_raw.drop(columns=["Prospect ID", "Lead Number"])
    rows = duplicates["source_row"].to_numpy() - 1
    firsts = duplicates["first_source_row"].to_numpy() - 1
    assert (content.iloc[rows].to_numpy() == content.iloc[firsts].to_numpy()).all()
    assert (firsts < rows).all()
    ids = set(xeducation.tables["leads"]["lead_id"])
    assert set(xeducation_raw["Prospect ID"].iloc[rows]) <= ids


def test_xeducation_keeps_no_post_contact_column(xeducation: ImportResult) -> None:
    attributes = _attributes(xeducation)
    assert list(attributes.columns) == PRE_CONTACT_KEYS
    leaked = {c.lower().replace(" ", "_") for c in POST_CONTACT} | {"tags", "lead_quality"}
    assert not leaked & set(attributes.columns)
    text = xeducation.tables["leads"]["attributes"].str.cat(sep="\n")
    for marker in ("Will revert after reading the email", "High in Relevance", "02.Medium",
                   "Potential Lead", "Had a Phone Conversation", "Modified"):
        assert marker not in text


def test_xeducation_select_never_appears_as_a_value(xeducation: ImportResult,
                                                    xeducation_raw: pd.DataFrame) -> None:
    assert (xeducation_raw == "Select").to_numpy().sum() > 0  # the trap is in the source
    leads = xeducation.tables["leads"]
    assert not (leads.astype("str") == "Select").to_numpy().any()
    assert not (_attributes(xeducation) == "Select").to_numpy().any()


def test_xeducation_attribute_values_keep_their_types(xeducation: ImportResult,
                                                      xeducation_raw: pd.DataFrame) -> None:
    attributes = _attributes(xeducation)
    assert pd.api.types.is_numeric_dtype(attributes["total_visits"])
    assert attributes["total_visits"].isna().sum() == (xeducation_raw["TotalVisits"] == "").sum()
    assert attributes["do_not_email"].sum() == (xeducation_raw["Do Not Email"] == "Yes").sum()
    assert attributes["country"].notna().sum() == (
        ~xeducation_raw["Country"].isin(["", "unknown"])).sum()


def test_xeducation_label_and_synthetic_timeline(xeducation: ImportResult,
                                                 xeducation_raw: pd.DataFrame) -> None:
    leads = xeducation.tables["leads"].set_index("lead_id")
    raw = xeducation_raw.set_index("Prospect ID").loc[leads.index]
    converted = raw["Converted"] == "1"
    assert (leads["sql_at"].notna() == converted).all() and converted.sum() == 3561
    assert ((leads["sql_at"] - leads["created_at"])[converted] == pd.Timedelta("1D")).all()
    assert (leads["status"] == converted.map({True: "converted", False: "new"})).all()
    order = raw["Lead Number"].astype(int).sort_values().index
    assert leads.loc[order, "created_at"].is_monotonic_increasing
    assert leads["created_at"].min() == pd.Timestamp("2019-01-01T00:00Z")
    span = leads["created_at"].max() - leads["created_at"].min()
    assert pd.Timedelta("360D") < span < pd.Timedelta("370D")


def test_xeducation_sources_are_canonical_and_raw_source_is_kept(
        xeducation: ImportResult, xeducation_raw: pd.DataFrame) -> None:
    leads = xeducation.tables["leads"]
    assert set(leads["source"]) <= set(schema.LEAD_SOURCES)
    assert (leads["source"] == "other").sum() == (
        xeducation_raw["Lead Source"].isin(["", "testone"])).sum()
    detail = _attributes(xeducation)["lead_source_detail"]
    assert detail.isna().sum() == (xeducation_raw["Lead Source"] == "").sum()


# ------------------------------------------------------------------------------- Maven CRM

def test_maven_counts_are_exact(maven: ImportResult) -> None:
    assert _counts(maven) == {
        "accounts": {"read": 85, "filtered": 0, "rejected": 0, "loaded": 85},
        "opportunities": {"read": 8800, "filtered": 0, "rejected": 500, "loaded": 8300},
        "opportunity_stage_history": {"read": 17600, "filtered": 2589, "rejected": 0,
                                      "loaded": 15011},
    }
    for table, frame in maven.tables.items():
        schema.validate_table(table, frame)


def test_maven_rejects_exactly_the_500_prospecting_deals(maven: ImportResult,
                                                         pipeline_raw: pd.DataFrame) -> None:
    rejected = maven.rejections
    assert len(rejected) == 500
    assert set(zip(rejected["table"], rejected["column"], rejected["reason"])) == {
        ("opportunities", "created_at", "is required but missing")}
    assert set(rejected["source_file"]) == {"sales_pipeline.csv"}
    stages = pipeline_raw["deal_stage"].iloc[rejected["source_row"].to_numpy() - 1]
    assert set(stages) == {"Prospecting"}
    assert set(rejected["row_key"]) == set(
        pipeline_raw.loc[pipeline_raw["deal_stage"] == "Prospecting", "opportunity_id"])
    assert re.search(r"opportunities\s+created_at is required but missing\s+500\n",
                     format_rejection_report(maven))


def test_maven_accounts_fix_typos_units_and_countries(maven: ImportResult) -> None:
    accounts = maven.tables["accounts"].set_index("account_id")
    assert "technolgy" not in set(accounts["industry"])
    assert (accounts["industry"] == "technology").sum() == 12
    assert accounts.loc["acme-corporation", "annual_revenue"] == pytest.approx(1_100_040_000)
    assert accounts["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert accounts.loc["globex-corporation", ["country", "region"]].tolist() == ["NO", "EMEA"]
    assert accounts.loc["ganjaflex", ["country", "region"]].tolist() == ["JP", "JP"]


def test_maven_opportunities_map_products_accounts_and_outcomes(
        maven: ImportResult, pipeline_raw: pd.DataFrame) -> None:
    opps = maven.tables["opportunities"]
    assert "GTXPro" not in set(opps["product"]) and (opps["product"] == "GTX Pro").sum() == 1400
    assert opps["outcome"].value_counts().to_dict() == {"won": 4238, "lost": 2473, "open": 1589}
    assert set(opps["account_id"].dropna()) <= set(maven.tables["accounts"]["account_id"])
    loaded_raw = pipeline_raw.set_index("opportunity_id").loc[opps["opportunity_id"]]
    assert opps["account_id"].isna().sum() == (loaded_raw["account"] == "").sum() == 1088
    assert opps.loc[opps["outcome"] != "won", "amount"].isna().all()
    assert opps.loc[opps["outcome"] == "won", "amount"].notna().all()
    assert (opps["closed_at"].isna() == (opps["outcome"] == "open")).all()


def test_maven_stage_history_follows_the_two_dates(maven: ImportResult) -> None:
    history = maven.tables["opportunity_stage_history"]
    opps = maven.tables["opportunities"].set_index("opportunity_id")
    assert history["stage"].value_counts().to_dict() == {
        "engaging": 8300, "won": 4238, "lost": 2473}
    engaging = history[history["stage"] == "engaging"].set_index("opportunity_id")
    assert (engaging["entered_at"] == opps.loc[engaging.index, "created_at"]).all()
    closes = history[history["stage"] != "engaging"].set_index("opportunity_id")
    assert (closes["entered_at"] == opps.loc[closes.index, "closed_at"]).all()
    assert (closes["stage"] == opps.loc[closes.index, "outcome"]).all()
