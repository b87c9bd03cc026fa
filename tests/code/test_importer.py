"""CRM import: each mapping feature and each failure mode on tiny exports written to tmp_path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from crm import schema
from crm.importer import (
    MappingError,
    format_rejection_report,
    import_crm,
    load_mapping,
    slugify,
    snake_case,
)

LEADS_CSV = """\
Id,Src,Created,Converted,Visits,Opt Out,Company,Notes
L1,Google,2024-04-01 09:00,1,3,Yes,Acme K.K.,called
L2,Seminar,2024-04-01 10:00,0,,No,Select,called
L3,,2024-04-02 11:30,0,1.5,No,株式会社テスト,
"""

LEADS_MAPPING = """\
version: 1
name: tiny
timezone: Asia/Tokyo
missing_values: ["", Select]
tables:
  leads:
    file: leads.csv
    columns:
      lead_id: Id
      source:
        from: Src
        values: {Google: paid_ads, Seminar: webinar}
        default: other
      created_at: {from: Created, date_format: "%Y-%m-%d %H:%M"}
      status: {from: Converted, values: {"1": sql, "0": new}}
      sql_at: {copy_of: created_at, offset: 1D, when: {column: Converted, in: ["1"]}}
      account_id: {from: Company, transform: slug}
    attributes:
      - {from: Visits, type: number}
      - {from: Opt Out, type: bool}
    exclude:
      Notes: written by sales after contact
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _import(tmp_path: Path, csv: str = LEADS_CSV, mapping: str = LEADS_MAPPING,
            name: str = "leads.csv"):
    _write(tmp_path, name, csv)
    return import_crm(load_mapping(_write(tmp_path, "mapping.yaml", mapping)), tmp_path)


def _mapping_error(tmp_path: Path, mapping: str) -> str:
    with pytest.raises(MappingError) as err:
        load_mapping(_write(tmp_path, "mapping.yaml", mapping))
    return str(err.value)


def _listed(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


def _counts(result, table: str = "leads") -> dict:
    row = result.counts.set_index("table").loc[table]
    return {k: int(row[k]) for k in ("read", "filtered", "rejected", "loaded")}


# ---------------------------------------------------------------- the happy path, feature by feature

def test_every_feature_of_the_leads_mapping_lands_in_canonical_columns(tmp_path: Path) -> None:
    result = _import(tmp_path)
    leads = schema.validate_table("leads", result.tables["leads"]).set_index("lead_id")
    assert leads["source"].to_dict() == {"L1": "paid_ads", "L2": "webinar", "L3": "other"}
    assert leads.loc["L1", "created_at"] == pd.Timestamp("2024-04-01T00:00Z")  # 09:00 JST
    assert leads.loc["L1", "sql_at"] == pd.Timestamp("2024-04-02T00:00Z")
    assert leads["sql_at"].isna().tolist() == [False, True, True]
    assert leads["status"].tolist() == ["sql", "new", "new"]
    assert _listed(leads["account_id"]) == ["acme-k-k", None, "株式会社テスト"]
    assert result.rejections.empty
    assert _counts(result) == {"read": 3, "filtered": 0, "rejected": 0, "loaded": 3}


def test_attributes_keep_numbers_and_booleans_and_write_null_for_missing(tmp_path: Path) -> None:
    leads = _import(tmp_path).tables["leads"].set_index("lead_id")
    attrs = {k: json.loads(v) for k, v in leads["attributes"].items()}
    assert attrs == {"L1": {"visits": 3, "opt_out": True},
                     "L2": {"visits": None, "opt_out": False},
                     "L3": {"visits": 1.5, "opt_out": False}}


def test_excluded_and_unused_source_values_never_reach_the_tables(tmp_path: Path) -> None:
    leads = _import(tmp_path).tables["leads"]
    text = leads.astype("str").to_string()
    assert "called" not in text and "Select" not in text


@pytest.mark.parametrize(("name", "snake"), [
    ("TotalVisits", "total_visits"), ("Total Time Spent on Website", "total_time_spent_on_website"),
    ("How did you hear about X Education", "how_did_you_hear_about_x_education"),
    ("Do Not Email", "do_not_email"), ("会社名", "会社名"),
])
def test_snake_case_names_attribute_keys(name: str, snake: str) -> None:
    assert snake_case(name) == snake


@pytest.mark.parametrize(("name", "slug"), [
    ("Acme Corporation", "acme-corporation"), ("Gekko & Co", "gekko-co"),
    ("  ＡＣＭＥ  Inc. ", "acme-inc"), ("株式会社 テスト", "株式会社-テスト"), ("!!!", None),
])
def test_slugify_makes_stable_keys(name: str, slug: str | None) -> None:
    assert slugify(name) == slug


def test_filters_count_rows_as_filtered_not_rejected(tmp_path: Path) -> None:
    mapping = LEADS_MAPPING.replace("    file: leads.csv\n", "    file: leads.csv\n"
                                    "    filters: [{column: Src, not_in: [Seminar]}]\n")
    result = _import(tmp_path, mapping=mapping)
    assert result.tables["leads"]["lead_id"].tolist() == ["L1", "L3"]
    assert _counts(result) == {"read": 3, "filtered": 1, "rejected": 0, "loaded": 2}
    assert result.rejections.empty


def test_unmapped_keep_passes_values_through_and_constant_fills_every_row(tmp_path: Path) -> None:
    csv = "Id,Src\nA,Google\nB,Seminar\nC,webinar\n"
    mapping = """\
        version: 1
        name: t
        timezone: UTC
        tables:
          leads:
            file: leads.csv
            columns:
              lead_id: Id
              source: {from: Src, values: {Google: paid_ads}, unmapped: keep}
              status: {constant: new}
              owner: {constant: Sato}
              created_at: {constant: "2024-01-01T00:00:00Z"}
        """
    result = _import(tmp_path, csv=csv, mapping=mapping)
    leads = result.tables["leads"]
    assert leads["source"].tolist() == ["paid_ads", "webinar"]  # C's webinar passed through
    assert set(leads["owner"]) == {"Sato"} and set(leads["status"]) == {"new"}
    # B's "Seminar" passed through too, and the schema rejects it as not a lead source.
    assert result.rejections[["source_row", "column", "value"]].values.tolist() == [
        [2, "source", "Seminar"]]
    assert result.rejections["reason"].iloc[0].startswith("not one of inbound_form, webinar")


def test_column_missing_values_and_offsets_in_dates(tmp_path: Path) -> None:
    csv = "Id,Created\nA,2024-04-01T09:00:00+09:00\nB,2024-03-31T20:00:00Z\nC,n/a\n"
    mapping = """\
        version: 1
        name: t
        tables:
          leads:
            file: leads.csv
            columns:
              lead_id: Id
              source: {constant: referral}
              status: {constant: new}
              created_at: {from: Created, missing_values: [n/a]}
        """
    result = _import(tmp_path, csv=csv, mapping=mapping)
    assert result.tables["leads"]["created_at"].tolist() == [
        pd.Timestamp("2024-04-01T00:00Z"), pd.Timestamp("2024-03-31T20:00Z")]
    assert result.rejections[["source_row", "column", "reason"]].values.tolist() == [
        [3, "created_at", "is required but missing"]]


def test_timeline_orders_rows_by_a_monotone_id(tmp_path: Path) -> None:
    csv = "Id,Number\nA,105\nB,101\nC,103\n"
    mapping = """\
        version: 1
        name: t
        tables:
          leads:
            file: leads.csv
            columns:
              lead_id: Id
              source: {constant: organic}
              status: {constant: new}
              created_at: {from: Number, timeline: {start: "2019-01-01T00:00:00Z", step: 1h}}
        """
    leads = _import(tmp_path, csv=csv, mapping=mapping).tables["leads"]
    assert leads.set_index("lead_id")["created_at"].to_dict() == {
        "A": pd.Timestamp("2019-01-01T02:00Z"), "B": pd.Timestamp("2019-01-01T00:00Z"),
        "C": pd.Timestamp("2019-01-01T01:00Z")}


# ------------------------------------------------------------ several tables, templates, references

PIPELINE_CSV = """\
id,agent,product,account,stage,engage,close,value
D1,Ann,GTXPro,Acme Corp,Won,2017-01-02,2017-02-01,100
D2,Bob,MG Special,,Lost,2017-01-03,2017-01-20,0
D3,Ann,GTX Basic,Acme Corp,Engaging,2017-01-05,,
D4,Bob,GTX Basic,Nobody Inc,Prospecting,,,
D5,Ann,Toaster,Acme Corp,Won,2017-01-05,2017-01-09,50
D6,Bob,GTX Basic,Acme Corp,Won,2017-01-09,2017-01-05,70
"""

PIPELINE_MAPPING = """\
version: 1
name: pipeline
timezone: UTC
tables:
  accounts:
    file: accounts.csv
    columns:
      account_id: {from: account, transform: slug}
      name: account
      annual_revenue: {from: revenue, scale: 1000000}
      employees: employees
      country: {from: office, values: {Norway: NO, United States: US}}
  opportunities:
    file: pipeline.csv
    references: {account_id: accounts.account_id}
    columns:
      opportunity_id: id
      owner: agent
      product:
        from: product
        values: {GTXPro: GTX Pro}
        unmapped: keep
        allowed_from: {file: products.csv, column: product}
      account_id: {from: account, transform: slug}
      created_at: {from: engage, date_format: "%Y-%m-%d"}
      closed_at: {from: close, date_format: "%Y-%m-%d"}
      amount: {from: value, when: {column: stage, not_in: [Lost]}}
      currency: {constant: USD}
      stage: {from: stage, values: {Prospecting: prospecting, Engaging: engaging, Won: won, Lost: lost}}
      outcome: {from: stage, values: {Prospecting: open, Engaging: open, Won: won, Lost: lost}}
  opportunity_stage_history:
    file: pipeline.csv
    references: {opportunity_id: opportunities.opportunity_id}
    columns:
      opportunity_id: id
    rows:
      - when: {column: stage, in: [Engaging, Won, Lost]}
        columns:
          stage: {constant: engaging}
          entered_at: {from: engage, date_format: "%Y-%m-%d"}
      - when: {column: stage, in: [Won, Lost]}
        columns:
          stage: {from: stage, values: {Won: won, Lost: lost}}
          entered_at: {from: close, date_format: "%Y-%m-%d"}
"""


@pytest.fixture()
def pipeline(tmp_path: Path):
    _write(tmp_path, "accounts.csv", "account,revenue,employees,office\n"
           "Acme Corp,1.5,12,Norway\nNobody Inc,0.25,3,United States\n")
    _write(tmp_path, "products.csv", "product,price\nGTX Pro,1\nGTX Basic,2\nMG Special,3\n")
    _write(tmp_path, "pipeline.csv", PIPELINE_CSV)
    _write(tmp_path, "mapping.yaml", PIPELINE_MAPPING)
    return import_crm(load_mapping(tmp_path / "mapping.yaml"), tmp_path)


def test_accounts_get_slug_keys_scaled_revenue_and_yaml_no_stays_norway(pipeline) -> None:
    accounts = schema.validate_table("accounts", pipeline.tables["accounts"])
    assert accounts[["account_id", "annual_revenue", "employees", "country"]].values.tolist() == [
        ["acme-corp", 1_500_000.0, 12, "NO"], ["nobody-inc", 250_000.0, 3, "US"]]


def test_opportunities_map_stage_outcome_product_and_amount(pipeline) -> None:
    opps = schema.validate_table("opportunities", pipeline.tables["opportunities"])
    opps = opps.set_index("opportunity_id")
    assert opps.index.tolist() == ["D1", "D2", "D3"]
    assert opps["product"].tolist() == ["GTX Pro", "MG Special", "GTX Basic"]
    assert opps["outcome"].tolist() == ["won", "lost", "open"]
    assert opps["amount"].isna().tolist() == [False, True, True]  # Lost: value is revenue, not size
    assert _listed(opps["account_id"]) == ["acme-corp", None, "acme-corp"]
    assert opps["closed_at"].isna().tolist() == [False, False, True]


def test_rejections_carry_source_file_row_key_column_and_reason(pipeline) -> None:
    rejected = pipeline.rejections.query("table == 'opportunities'")
    assert rejected[["source_file", "source_row", "row_key", "column", "reason"]].values.tolist() == [
        ["pipeline.csv", 4, "D4", "created_at", "is required but missing"],
        ["pipeline.csv", 5, "D5", "product", "is not listed in products.csv column 'product'"],
        ["pipeline.csv", 6, "D6", "closed_at,created_at", "closed_at is before created_at"],
    ]
    assert rejected["value"].tolist()[1] == "Toaster"


def test_stage_history_rows_come_from_two_dates_and_need_a_loaded_deal(pipeline) -> None:
    history = schema.validate_table("opportunity_stage_history",
                                    pipeline.tables["opportunity_stage_history"])
    assert history[["opportunity_id", "stage"]].values.tolist() == [
        ["D1", "engaging"], ["D1", "won"], ["D2", "engaging"], ["D2", "lost"], ["D3", "engaging"]]
    rejected = pipeline.rejections.query("table == 'opportunity_stage_history'")
    assert sorted(set(rejected["row_key"].str[:2])) == ["D5", "D6"]
    assert set(rejected["reason"]) == {"is not among the loaded opportunities.opportunity_id"}


def test_counts_add_up_for_every_table(pipeline) -> None:
    counts = pipeline.counts.set_index("table")
    assert counts.loc["opportunities"].to_dict() == {
        "source_rows": 6, "read": 6, "filtered": 0, "rejected": 3, "loaded": 3}
    # 6 deals x 2 templates; D4 (Prospecting) makes no row, D3 (Engaging) no close row.
    assert counts.loc["opportunity_stage_history"].to_dict() == {
        "source_rows": 6, "read": 12, "filtered": 3, "rejected": 4, "loaded": 5}
    assert (counts["read"] == counts["loaded"] + counts["rejected"] + counts["filtered"]).all()


def test_reference_to_an_account_not_loaded_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "accounts.csv", "account,revenue,employees,office\nAcme Corp,1,1,Norway\n")
    _write(tmp_path, "products.csv", "product\nGTX Basic\n")
    _write(tmp_path, "pipeline.csv", "id,agent,product,account,stage,engage,close,value\n"
           "D9,Ann,GTX Basic,Ghost Ltd,Engaging,2017-01-05,,\n")
    result = import_crm(load_mapping(_write(tmp_path, "m.yaml", PIPELINE_MAPPING)), tmp_path)
    assert result.rejections.query("table == 'opportunities'")[
        ["column", "value", "reason"]].values.tolist() == [
        ["account_id", "ghost-ltd", "is not among the loaded accounts.account_id"]]


def test_a_single_source_file_imports_only_its_tables(tmp_path: Path) -> None:
    _write(tmp_path, "products.csv", "product\nGTX Basic\n")
    source = _write(tmp_path, "pipeline.csv", "id,agent,product,account,stage,engage,close,value\n"
                    "D9,Ann,GTX Basic,,Engaging,2017-01-05,,\n")
    result = import_crm(load_mapping(_write(tmp_path, "m.yaml", PIPELINE_MAPPING)), source)
    assert sorted(result.tables) == ["opportunities", "opportunity_stage_history"]
    assert any("accounts: not imported" in w for w in result.warnings)
    assert any("not checked against accounts.account_id" in w for w in result.warnings)


def test_several_files_and_parquet_are_read_with_their_own_row_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Id": ["P1", "P2"], "Created": pd.to_datetime(
        ["2024-01-01 09:00", "2024-01-02 09:00"]), "Score": [1.0, None]})
    frame.to_parquet(tmp_path / "leads_b.parquet")
    _write(tmp_path, "leads_a.csv", "Id,Created,Score\nC1,2024-01-03 09:00,2\nC2,oops,3\n")
    mapping = """\
        version: 1
        name: t
        timezone: Asia/Tokyo
        tables:
          leads:
            file: ["leads_*.csv", "leads_*.parquet"]
            columns:
              lead_id: Id
              source: {constant: organic}
              status: {constant: new}
              created_at: Created
            attributes: [{from: Score, type: number}]
        """
    result = import_crm(load_mapping(_write(tmp_path, "m.yaml", mapping)), tmp_path)
    leads = result.tables["leads"].set_index("lead_id")
    assert leads["created_at"].to_dict() == {
        "C1": pd.Timestamp("2024-01-03T00:00Z"), "P1": pd.Timestamp("2024-01-01T00:00Z"),
        "P2": pd.Timestamp("2024-01-02T00:00Z")}
    assert json.loads(leads.loc["P1", "attributes"]) == {"score": 1}
    assert result.rejections[["source_file", "source_row", "reason"]].values.tolist() == [
        ["leads_a.csv", 2, "does not match an ISO 8601 date (source column 'Created')"]]


def test_repeated_rows_are_reported_not_dropped(tmp_path: Path) -> None:
    csv = LEADS_CSV + "L4,Google,2024-04-01 09:00,1,3,Yes,Acme K.K.,called\n"
    mapping = LEADS_MAPPING.replace("    file: leads.csv\n", "    file: leads.csv\n"
                                    "    duplicates: {ignore: [Id]}\n")
    result = _import(tmp_path, csv=csv, mapping=mapping)
    assert len(result.tables["leads"]) == 4
    assert result.duplicates[["source_row", "first_source_row"]].values.tolist() == [[4, 1]]
    assert result.warnings == ["leads: 1 source rows repeat an earlier row in every column "
                               "except Id (reported in duplicates, not dropped)"]


# ------------------------------------------------------------------------ row-level failure modes

@pytest.mark.parametrize(("row", "column", "value", "reason"), [
    ("L9,Fax,2024-04-01 09:00,0,1,No,,", "source", "Fax",
     "has a value that is not in its value map (source column 'Src')"),
    ("L9,Google,01/04/2024,0,1,No,,", "created_at", "01/04/2024",
     "does not match date format '%Y-%m-%d %H:%M' (source column 'Created')"),
    ("L9,Google,2024-04-01 09:00,0,many,No,,", "attributes.visits", "many",
     "is not a number (source column 'Visits')"),
    ("L9,Google,2024-04-01 09:00,0,1,Maybe,,", "attributes.opt_out", "Maybe",
     "is not a yes/no value (source column 'Opt Out')"),
    ("L9,Google,2024-04-01 09:00,2,1,No,,", "status", "2",
     "has a value that is not in its value map (source column 'Converted')"),
    (",Google,2024-04-01 09:00,0,1,No,,", "lead_id", None, "is required but missing"),
    ("L1,Google,2024-04-01 09:00,0,1,No,,", "lead_id", "first row kept: leads.csv row 1",
     "duplicate key (first row kept)"),
])
def test_a_bad_row_is_rejected_with_file_row_column_value_and_reason(
        tmp_path: Path, row: str, column: str, value: str | None, reason: str) -> None:
    result = _import(tmp_path, csv=LEADS_CSV + row + "\n")
    assert _counts(result) == {"read": 4, "filtered": 0, "rejected": 1, "loaded": 3}
    rejection = result.rejections.iloc[0]
    assert (rejection["table"], rejection["source_file"], rejection["source_row"]) == (
        "leads", "leads.csv", 4)
    assert (rejection["column"], rejection["reason"]) == (column, reason)
    assert (None if pd.isna(rejection["value"]) else rejection["value"]) == value


def test_naive_dates_without_a_timezone_are_rejected(tmp_path: Path) -> None:
    result = _import(tmp_path, mapping=LEADS_MAPPING.replace("timezone: Asia/Tokyo\n", ""))
    assert _counts(result)["rejected"] == 3
    assert set(result.rejections["reason"]) == {
        "has no timezone and the mapping sets none (add timezone:)"}


def test_local_times_in_a_daylight_saving_gap_move_forward_and_overlaps_take_the_first(
        tmp_path: Path) -> None:
    # 2024-03-10 02:30 does not exist in New York (clocks jump 02:00 -> 03:00); a date-only
    # export at midnight hits this on DST days in zones that switch at midnight.
    csv = "Id,Created\nA,2024-03-10 02:30\nB,2024-03-10 03:30\nC,2024-11-03 01:30\n"
    mapping = """\
        version: 1
        name: t
        timezone: America/New_York
        tables:
          leads:
            file: leads.csv
            columns: {lead_id: Id, source: {constant: chat}, status: {constant: new},
                      created_at: Created}
        """
    result = _import(tmp_path, csv=csv, mapping=mapping)
    created = result.tables["leads"].set_index("lead_id")["created_at"]
    assert len(result.rejections) == 0
    assert created["A"] == pd.Timestamp("2024-03-10 07:00", tz="UTC")  # 03:00 EDT
    assert created["B"] == pd.Timestamp("2024-03-10 07:30", tz="UTC")
    assert created["C"] == pd.Timestamp("2024-11-03 05:30", tz="UTC")  # 01:30 EDT, the first


def test_a_value_the_canonical_type_cannot_hold_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "accounts.csv", "name,staff\nA,12\nB,12.5\n")
    mapping = """\
        version: 1
        name: t
        tables:
          accounts:
            file: accounts.csv
            columns: {account_id: {from: name, transform: lower}, name: name, employees: staff}
        """
    result = import_crm(load_mapping(_write(tmp_path, "m.yaml", mapping)), tmp_path)
    assert result.tables["accounts"]["account_id"].tolist() == ["a"]
    assert result.rejections[["source_row", "row_key", "column", "value", "reason"]
                             ].values.tolist() == [[2, "b", "employees", "12.5",
                                                    "is not a whole number"]]


def test_report_lists_counts_problems_rows_and_warnings(pipeline) -> None:
    report = format_rejection_report(pipeline, max_rows=2)
    assert "read = loaded + rejected + filtered" in report
    assert "created_at is required but missing" in report
    assert "opportunities pipeline.csv row 4 [D4]: created_at is required but missing" in report
    assert "First 2 of 7 rejections" in report
    assert "row 6 [D6]" not in report  # only max_rows rows are listed


# ----------------------------------------------------------- problems with the mapping or the export

def test_missing_source_column_names_the_column_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"leads\.csv: missing source column\(s\) 'Src' "
                                           r"\(used by tables\.leads\.columns\.source\)"):
        _import(tmp_path, csv=LEADS_CSV.replace("Src", "Source"))


def test_unmentioned_source_column_is_an_error(tmp_path: Path) -> None:
    csv = LEADS_CSV.replace("Notes\n", "Notes,Tags\n", 1).replace("called\n", "called,x\n")
    with pytest.raises(MappingError, match=r"leads\.csv: column\(s\) \['Tags'\] are not in the "
                                           r"mapping.*tables\.leads\.exclude"):
        _import(tmp_path, csv=csv)


def test_excluded_columns_may_be_glob_patterns(tmp_path: Path) -> None:
    csv = LEADS_CSV.replace("Notes\n", "Notes,Asym A,Asym B\n", 1).replace(
        "called\n", "called,1,2\n").replace("テスト,\n", "テスト,,1,2\n")
    mapping = LEADS_MAPPING + '      "Asym *": post-contact scores\n'
    assert _counts(_import(tmp_path, csv=csv, mapping=mapping))["loaded"] == 3


def test_missing_source_file_is_an_error(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path, "m.yaml", LEADS_MAPPING))
    with pytest.raises(MappingError, match=r"tables\.leads\.file: no file 'leads\.csv'"):
        import_crm(mapping, tmp_path)


def test_unknown_encoding_bytes_ask_for_an_encoding(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_bytes(LEADS_CSV.encode("cp932"))
    mapping = load_mapping(_write(tmp_path, "m.yaml", LEADS_MAPPING))
    with pytest.raises(MappingError, match="cannot be read as utf-8-sig; set encoding"):
        import_crm(mapping, tmp_path)
    cp932 = LEADS_MAPPING.replace("    file: leads.csv\n", "    file: leads.csv\n    encoding: cp932\n")
    result = import_crm(load_mapping(_write(tmp_path, "m.yaml", cp932)), tmp_path)
    assert "株式会社テスト" in result.tables["leads"]["account_id"].tolist()


@pytest.mark.parametrize(("old", "new", "message"), [
    ("        default: other", "        defualt: other",
     "tables.leads.columns.source: unknown key 'defualt'"),
    ("name: tiny", "name: tiny\ntimezones: UTC", "unknown key 'timezones'"),
    ("      lead_id: Id", "      lead_key: Id",
     "tables.leads.columns.lead_key: not a column of leads"),
    ("      lead_id: Id", "      email: Id",
     "tables.leads.columns: required column(s) of leads not mapped: lead_id"),
    ("  leads:", "  lead:", "tables.lead: not a canonical table"),
    ("timezone: Asia/Tokyo", "timezone: Asia/Osaka", "timezone: unknown timezone 'Asia/Osaka'"),
    ("status: {from: Converted,", "status: {constant: new, from: Converted,",
     "tables.leads.columns.status: needs exactly one of from, constant, copy_of, row_id, "
     "row_order, period (got from, constant)"),
    ("offset: 1D", "offset: a while",
     "tables.leads.columns.sql_at.offset: 'a while' is not a duration"),
    ("transform: slug}", "transform: camel}", "tables.leads.columns.account_id.transform"),
    ("{column: Converted, in: [\"1\"]}", "{column: Converted}",
     "tables.leads.columns.sql_at.when.0: condition on 'Converted' needs exactly one of in, "
     "not_in, missing (got none)"),
    ("copy_of: created_at", "copy_of: mql_at",
     "tables.leads.columns.sql_at: copy_of 'mql_at' must name a column mapped with from"),
    ("      Notes: written", "      Visits: oops\n      Notes: written",
     "tables.leads.exclude: 'Visits' is excluded but used by attributes.visits"),
    ("      account_id: {from: Company, transform: slug}",
     "      account_id: {from: Company, date_format: '%Y'}",
     "tables.leads.columns.account_id: date_format is only for timestamp columns"),
    ("    exclude:", "    references: {account_id: accounts.account_id}\n    exclude:",
     "tables.leads.references.account_id: 'accounts.account_id' must be <table>.<column> of a "
     "table mapped here"),
    ("{from: Opt Out, type: bool}", "{from: Visits, type: bool}",
     "tables.leads.attributes: key 'visits' appears more than once"),
    ("Google: paid_ads, Seminar: webinar", "Google: paid_ads, Google: webinar",
     "duplicate key 'Google'"),
    ("version: 1", "version: 2", "version: Input should be 1"),
])
def test_bad_mapping_raises_an_error_naming_the_key(tmp_path: Path, old: str, new: str,
                                                    message: str) -> None:
    assert old in LEADS_MAPPING
    assert message in _mapping_error(tmp_path, LEADS_MAPPING.replace(old, new))


def test_mapping_file_that_is_not_yaml_or_absent_is_a_clear_error(tmp_path: Path) -> None:
    assert "not valid YAML" in _mapping_error(tmp_path, "tables: [unclosed\n")
    assert "a mapping must be a YAML mapping" in _mapping_error(tmp_path, "- just\n- a list\n")
    with pytest.raises(MappingError, match="mapping file not found"):
        load_mapping(tmp_path / "absent.yaml")


def test_yes_no_and_country_codes_stay_text_in_value_maps(tmp_path: Path) -> None:
    mapping = LEADS_MAPPING.replace("{from: Opt Out, type: bool}",
                                    "{from: Opt Out, values: {Yes: NO, No: off}}")
    leads = _import(tmp_path, mapping=mapping).tables["leads"]
    assert [json.loads(a)["opt_out"] for a in leads["attributes"]] == ["NO", "off", "off"]


def test_source_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path, "m.yaml", LEADS_MAPPING))
    with pytest.raises(FileNotFoundError, match="source not found"):
        import_crm(mapping, tmp_path / "nowhere")


def test_numeric_codes_in_value_maps_match_the_text_as_written(tmp_path: Path) -> None:
    csv = "Id,Code\nA,01\nB,1\nC,1.50\n"
    mapping = """\
        version: 1
        name: t
        timezone: UTC
        tables:
          leads:
            file: leads.csv
            columns:
              lead_id: Id
              source: {from: Code, values: {01: webinar, 1.50: chat, "1": referral}}
              status: {constant: new}
              created_at: {constant: "2024-01-01T00:00:00Z"}
        """
    leads = _import(tmp_path, csv=csv, mapping=mapping).tables["leads"]
    assert leads["source"].tolist() == ["webinar", "referral", "chat"]


def test_all_rows_filtered_gives_an_empty_canonical_table(tmp_path: Path) -> None:
    mapping = LEADS_MAPPING.replace("    file: leads.csv\n", "    file: leads.csv\n"
                                    "    filters: {column: Src, missing: true}\n")
    mapping = mapping.replace("default: other", "default: other\n        unmapped: keep")
    result = _import(tmp_path, csv=LEADS_CSV.replace("L3,,", "L3,Google,"), mapping=mapping)
    assert _counts(result) == {"read": 3, "filtered": 3, "rejected": 0, "loaded": 0}
    leads = result.tables["leads"]
    assert leads.empty and list(leads.columns) == schema.TABLES["leads"].column_names
    assert leads["created_at"].dtype == schema.TIMESTAMP_DTYPE
    schema.validate_table("leads", leads)
