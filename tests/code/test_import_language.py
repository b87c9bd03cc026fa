"""The import mapping language beyond column renames: joins on a second file, generated row ids
and timestamps (row order, period columns), conditional values and their precedence, values
checked when the mapping loads. Each on a tiny export written to tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from crm.importer import MappingError, import_crm, load_mapping


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _import(tmp_path: Path, mapping: str, **files: str):
    for name, text in files.items():
        _write(tmp_path, name.replace("_csv", ".csv"), text)
    return import_crm(load_mapping(_write(tmp_path, "mapping.yaml", mapping)), tmp_path)


def _mapping_error(tmp_path: Path, mapping: str) -> str:
    with pytest.raises(MappingError) as err:
        load_mapping(_write(tmp_path, "mapping.yaml", mapping))
    return str(err.value)


# ------------------------------------------------------------------------ joins on a second file

MQLS = """\
mql_id,first_contact_date,origin
m1,2018-01-02,organic_search
m2,2018-01-05,paid_search
m3,2018-01-09,email
"""
DEALS = """\
mql_id,won_date,business_segment
m2,2018-02-01,pet
m3,2018-03-01,car
"""
JOIN_MAPPING = """\
version: 1
name: funnel
timezone: UTC
tables:
  leads:
    file: mqls.csv
    join:
      - file: deals.csv
        on: mql_id
        present_as: became_customer
        columns: [won_date]
        exclude: {business_segment: known only after winning}
    columns:
      lead_id: mql_id
      created_at: {from: first_contact_date, date_format: "%Y-%m-%d"}
      source: {from: origin, values: {organic_search: organic, paid_search: paid_ads,
                                      email: email_campaign}}
      status: {constant: converted, when: {column: became_customer, in: [true]}, default: new}
      sql_at: {from: deals.won_date, date_format: "%Y-%m-%d"}
"""


def test_a_label_in_a_second_file_joins_on_the_key(tmp_path: Path) -> None:
    result = _import(tmp_path, JOIN_MAPPING, mqls_csv=MQLS, deals_csv=DEALS)
    leads = result.tables["leads"].set_index("lead_id")
    assert leads["status"].to_dict() == {"m1": "new", "m2": "converted", "m3": "converted"}
    assert pd.isna(leads.loc["m1", "sql_at"])
    assert leads.loc["m3", "sql_at"] == pd.Timestamp("2018-03-01", tz="UTC")
    assert result.counts.set_index("table").loc["leads", "loaded"] == 3


def test_a_column_of_the_joined_file_neither_used_nor_excluded_is_an_error(tmp_path: Path
                                                                            ) -> None:
    mapping = JOIN_MAPPING.replace("        exclude: {business_segment: known only after "
                                   "winning}\n", "")
    with pytest.raises(MappingError, match=r"deals.csv: column\(s\) \['business_segment'\] are "
                                           r"not in the mapping.*join\[0\]\.exclude"):
        _import(tmp_path, mapping, mqls_csv=MQLS, deals_csv=DEALS)


def test_a_key_repeated_in_the_joined_file_needs_keep(tmp_path: Path) -> None:
    deals = DEALS + "m2,2018-02-09,pet\n"
    with pytest.raises(MappingError, match=r"2 rows of deals.csv share a key 'mql_id'.*keep"):
        _import(tmp_path, JOIN_MAPPING, mqls_csv=MQLS, deals_csv=deals)
    mapping = JOIN_MAPPING.replace("        on: mql_id\n", "        on: mql_id\n        keep: last\n")
    result = _import(tmp_path, mapping, mqls_csv=MQLS, deals_csv=deals)
    sql_at = result.tables["leads"].set_index("lead_id")["sql_at"]
    assert sql_at["m2"] == pd.Timestamp("2018-02-09", tz="UTC")


def test_join_keys_may_have_other_names_on_each_side(tmp_path: Path) -> None:
    deals = DEALS.replace("mql_id,", "lead,")
    mapping = JOIN_MAPPING.replace("on: mql_id", "on: {left: mql_id, right: lead}")
    result = _import(tmp_path, mapping, mqls_csv=MQLS, deals_csv=deals)
    assert (result.tables["leads"]["status"] == "converted").sum() == 2


# ----------------------------------------------------- generated ids and times, from row order

CALLS = """\
age,job,month,y
41,admin.,may,no
35,services,may,yes
52,retired,jun,no
29,student,dec,yes
44,admin.,mar,no
38,technician,mar,no
"""
CALLS_MAPPING = """\
version: 1
name: telemarketing
tables:
  leads:
    file: calls.csv
    columns:
      lead_id: {row_id: {prefix: call-, width: 5}}
      created_at: {period: {column: month, first_year: 2008}}
      source: {constant: outbound_list}
      status: {constant: converted, when: {column: y, in: ["yes"]}, default: new}
      sql_at: {copy_of: created_at, offset: 1h, when: {column: y, in: ["yes"]}}
    attributes:
      - {from: age, type: number}
      - job
"""


def test_rows_without_id_or_time_get_both_from_their_order_and_month(tmp_path: Path) -> None:
    result = _import(tmp_path, CALLS_MAPPING, calls_csv=CALLS)
    leads = result.tables["leads"]
    assert leads["lead_id"].tolist() == [f"call-{i:05d}" for i in range(1, 7)]
    created = leads["created_at"].tolist()
    assert created == sorted(created)  # row order is time order
    months = [(t.year, t.month) for t in created]
    # the year rolls over where the month goes back (dec -> mar)
    assert months == [(2008, 5), (2008, 5), (2008, 6), (2008, 12), (2009, 3), (2009, 3)]
    # two rows of May 2008 spread over the month: at 1/4 and 3/4 of it
    assert created[0] == pd.Timestamp("2008-05-08 18:00", tz="UTC")
    assert created[1] == pd.Timestamp("2008-05-24 06:00", tz="UTC")
    assert leads["status"].tolist() == ["new", "converted", "new", "converted", "new", "new"]


def test_filters_do_not_move_generated_ids_or_times(tmp_path: Path) -> None:
    full = _import(tmp_path, CALLS_MAPPING, calls_csv=CALLS).tables["leads"]
    filtered_mapping = CALLS_MAPPING.replace("    file: calls.csv\n", "    file: calls.csv\n"
                                             "    filters: [{column: job, not_in: [retired]}]\n")
    filtered = _import(tmp_path, filtered_mapping, calls_csv=CALLS).tables["leads"]
    assert "call-00003" not in filtered["lead_id"].tolist()
    pd.testing.assert_frame_equal(full[full["lead_id"] != "call-00003"].reset_index(drop=True),
                                  filtered.reset_index(drop=True))


def test_a_month_only_period_without_first_year_is_rejected_by_row(tmp_path: Path) -> None:
    mapping = CALLS_MAPPING.replace(", first_year: 2008", "")
    result = _import(tmp_path, mapping, calls_csv=CALLS)
    assert len(result.tables["leads"]) == 0
    assert set(result.rejections["reason"]) == {"has no year: set period.first_year"}


def test_year_month_periods_and_bad_months(tmp_path: Path) -> None:
    calls = "age,job,month,y\n30,a,2019-03,no\n31,b,2019-03,no\n32,c,13,no\n33,d,2019-04,no\n"
    result = _import(tmp_path, CALLS_MAPPING, calls_csv=calls)
    created = result.tables["leads"].set_index("lead_id")["created_at"]
    assert [(t.year, t.month) for t in created] == [(2019, 3), (2019, 3), (2019, 4)]
    rejected = result.rejections.iloc[0]
    assert (rejected["value"], rejected["reason"]) == (
        "13", "is not a month (1-12, a month name or YYYY-MM)")


def test_row_order_times_step_from_a_start(tmp_path: Path) -> None:
    mapping = CALLS_MAPPING.replace(
        "{period: {column: month, first_year: 2008}}",
        "{row_order: {start: \"2010-01-01T00:00:00Z\", step: 1h}}").replace(
        "    attributes:\n", "    exclude: {month: only the month; row order gives the time}\n"
                            "    attributes:\n")
    created = _import(tmp_path, mapping, calls_csv=CALLS).tables["leads"]["created_at"]
    assert created.iloc[5] - created.iloc[0] == pd.Timedelta(hours=5)
    assert created.iloc[0] == pd.Timestamp("2010-01-01", tz="UTC")


# ---------------------------------------------- precedence, and values checked when loading


def test_default_fills_the_rows_a_condition_leaves_out(tmp_path: Path) -> None:
    result = _import(tmp_path, CALLS_MAPPING, calls_csv=CALLS)
    assert result.tables["leads"]["status"].notna().all()


def test_a_value_map_ignores_rows_its_condition_leaves_out(tmp_path: Path) -> None:
    mapping = CALLS_MAPPING.replace(
        "{constant: outbound_list}",
        "{from: job, values: {student: referral}, when: {column: job, in: [student]}, "
        "default: outbound_list}").replace("      - job\n", "")
    result = _import(tmp_path, mapping, calls_csv=CALLS)
    assert len(result.rejections) == 0
    assert result.tables["leads"]["source"].tolist() == ["outbound_list"] * 3 + ["referral",
    "outbound_list", "outbound_list"]


@pytest.mark.parametrize(("old", "new", "message"), [
    ("{constant: outbound_list}", "{constant: cold_call}",
     "tables.leads.columns.source.constant: 'cold_call' is not one of"),
    ("default: new}", "default: hot}", "tables.leads.columns.status.default: 'hot' is not one of"),
    ("{constant: outbound_list}", "{from: job, values: {admin.: outbound, student: flyer}}",
     "tables.leads.columns.source.values['student']: 'flyer' is not one of"),
    ("lead_id: {row_id: {prefix: call-, width: 5}}",
     "lead_id: {row_id: {prefix: call-}}\n      budget: {constant: maybe}",
     "tables.leads.columns.budget.constant: 'maybe' is not a yes/no value"),
    ("lead_id: {row_id: {prefix: call-, width: 5}}",
     "lead_id: {row_id: {prefix: call-}}\n      timeline_months: {constant: soon}",
     "tables.leads.columns.timeline_months.constant: 'soon' is not a number"),
    ("      source: {constant: outbound_list}", "      source: {row_order: {start: "
     "\"2010-01-01T00:00:00Z\", step: 1h}}",
     "tables.leads.columns.source: row_order and period make timestamps"),
])
def test_bad_constants_and_enum_values_fail_once_when_the_mapping_loads(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in CALLS_MAPPING
    assert message in _mapping_error(tmp_path, CALLS_MAPPING.replace(old, new))


# --------------------------------------------------------------------- leadscore import --check

def test_import_check_prints_counts_and_rejections_and_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from crm.store import CRMStore
    from leadscore.cli import app

    calls = CALLS + "30,admin.,smarch,no\n"
    _write(tmp_path, "calls.csv", calls)
    mapping = _write(tmp_path, "mapping.yaml", CALLS_MAPPING)
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    args = ["import", "--mapping", str(mapping), "--source", str(tmp_path), "--db", url]
    checked = CliRunner().invoke(app, [*args, "--check"], terminal_width=200)
    assert checked.exit_code == 0, checked.output
    assert "leads" in checked.output and "smarch" in checked.output
    assert "nothing was written" in checked.output
    assert CRMStore(url).count_rows().get("leads", 0) == 0
    loaded = CliRunner().invoke(app, args, terminal_width=200)
    assert loaded.exit_code == 0, loaded.output
    assert CRMStore(url).count_rows()["leads"] == 6


def test_import_with_a_bad_mapping_exits_2_naming_the_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from leadscore.cli import app

    _write(tmp_path, "calls.csv", CALLS)
    mapping = _write(tmp_path, "mapping.yaml",
                     CALLS_MAPPING.replace("{constant: outbound_list}", "{constant: cold}"))
    result = CliRunner().invoke(app, ["import", "--mapping", str(mapping), "--source",
                                      str(tmp_path), "--check"], terminal_width=200)
    assert result.exit_code == 2
    assert "tables.leads.columns.source.constant: 'cold' is not one of" in result.output
