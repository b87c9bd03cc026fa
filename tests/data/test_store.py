"""Round trips through the SQL store (SQLite and PostgreSQL) and table files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from crm import schema
from crm.store import CRMStore, export_tables, read_table_files


def _canonical(table: str, rows: list[dict]) -> pd.DataFrame:
    valid, violations = schema.split_valid(table, pd.DataFrame(rows))
    assert violations.empty, violations.to_dict("records")
    return valid


@pytest.fixture
def tiny_crm() -> dict[str, pd.DataFrame]:
    """All five tables, with Japanese text, quotes, JSON, NULLs and several time zones."""
    return {
        "accounts": _canonical("accounts", [
            {"account_id": "A1", "name": "株式会社サンプル技研", "domain": "sample.co.jp",
             "industry": "software", "employees": 250, "annual_revenue": 1.2e7, "country": "JP",
             "region": "JP", "founded_year": 1998},
            {"account_id": "A2", "name": 'Acme, "The" Company'},
        ]),
        "leads": _canonical("leads", [
            {"lead_id": "L1", "account_id": "A1", "email": "taro@sample.co.jp", "name": "山田 太郎",
             "job_title": "情報システム部　部長", "source": "webinar",
             "created_at": "2025-04-01T09:00:00+09:00", "status": "sql",
             "mql_at": "2025-04-03T00:00Z", "sql_at": "2025-04-20T00:00Z", "budget": True,
             "budget_confirmed_at": "2025-04-10T00:00Z", "timeline_months": 2.5,
             "timeline_confirmed_at": "2025-04-11T00:00Z",
             "attributes": '{"total_visits": 3, "note": "a,b \\"c\\""}'},
            {"lead_id": "L2", "source": "organic", "created_at": "2025-05-01T00:00:00Z",
             "status": "new", "need": False, "need_confirmed_at": "2025-05-02T00:00Z"},
        ]),
        "activities": _canonical("activities", [
            {"event_id": "E1", "lead_id": "L1", "account_id": "A1",
             "occurred_at": "2025-04-02T10:00:00.123456Z", "type": "pricing_page_view",
             "channel": "web", "properties": '{"url": "/pricing"}'},
            {"event_id": "E2", "account_id": "A2", "occurred_at": "2025-04-05T00:00Z",
             "type": "exhibition_visit"},
        ]),
        "opportunities": _canonical("opportunities", [
            {"opportunity_id": "O1", "account_id": "A1", "lead_id": "L1", "amount": 12000.5,
             "currency": "USD", "created_at": "2025-04-21T00:00Z", "stage": "won",
             "expected_close_date": "2025-06-30T00:00Z", "closed_at": "2025-06-28T00:00Z",
             "outcome": "won"},
        ]),
        "opportunity_stage_history": _canonical("opportunity_stage_history", [
            {"opportunity_id": "O1", "stage": "prospecting", "entered_at": "2025-04-21T00:00Z",
             "amount": 10000, "expected_close_date": "2025-06-15T00:00Z"},
            {"opportunity_id": "O1", "stage": "won", "entered_at": "2025-06-28T00:00Z",
             "amount": 12000.5},
        ]),
    }


def _round_trip(store: CRMStore, tables: dict[str, pd.DataFrame]) -> None:
    store.drop_schema()
    counts = store.write_tables(tables)
    assert counts == {name: len(frame) for name, frame in tables.items()}
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(store.read_table(name), frame, check_like=False)


def test_sqlite_round_trip_is_lossless(tmp_path: Path, tiny_crm: dict) -> None:
    _round_trip(CRMStore(f"sqlite:///{tmp_path}/crm.db"), tiny_crm)


@pytest.mark.postgres
def test_postgres_round_trip_is_lossless(fresh_postgres_url: str, tiny_crm: dict) -> None:
    store = CRMStore(fresh_postgres_url)
    _round_trip(store, tiny_crm)
    store.drop_schema()


@pytest.mark.postgres
def test_postgres_rejects_invalid_frame_and_writes_nothing(fresh_postgres_url: str,
                                                           tiny_crm: dict) -> None:
    store = CRMStore(fresh_postgres_url)
    bad = tiny_crm["leads"].assign(status=["sql", "hot"])
    with pytest.raises(schema.SchemaViolationError, match=r"leads\.status \[L2\]"):
        store.write_table("leads", bad)
    assert store.count_rows()["leads"] == 0


def test_write_is_validated_and_atomic(tmp_path: Path, tiny_crm: dict) -> None:
    store = CRMStore(f"sqlite:///{tmp_path}/crm.db")
    store.write_table("leads", tiny_crm["leads"])
    with pytest.raises(sa.exc.IntegrityError):
        store.write_table("leads", tiny_crm["leads"])  # same keys again
    assert store.count_rows()["leads"] == 2


def test_insert_new_is_idempotent_by_key(tmp_path: Path, tiny_crm: dict) -> None:
    store = CRMStore(f"sqlite:///{tmp_path}/crm.db")
    events = tiny_crm["activities"]
    assert store.insert_new("activities", events.iloc[:1]) == 1
    assert store.insert_new("activities", events) == 1
    assert store.insert_new("activities", events) == 0
    assert sorted(store.read_table("activities")["event_id"]) == ["E1", "E2"]


def test_read_with_filter(tmp_path: Path, tiny_crm: dict) -> None:
    store = CRMStore(f"sqlite:///{tmp_path}/crm.db")
    store.write_tables(tiny_crm)
    activities = store.table("activities")
    rows = store.read_table("activities", where=activities.c.lead_id == "L1")
    assert rows["event_id"].tolist() == ["E1"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_export_and_import_round_trip(tmp_path: Path, tiny_crm: dict, fmt: str) -> None:
    export_tables(tiny_crm, tmp_path, fmt)
    tables, violations = read_table_files(tmp_path)
    assert violations.empty
    for name, frame in tiny_crm.items():
        pd.testing.assert_frame_equal(tables[name], frame)


def test_file_import_reports_bad_rows(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "lead_id,source,created_at,status\n"
        "L1,organic,2025-01-01T00:00:00Z,new\n"
        "L2,organic,not a date,new\n")
    tables, violations = read_table_files(tmp_path)
    assert tables["leads"]["lead_id"].tolist() == ["L1"]
    assert violations[["row_key", "column"]].values.tolist() == [["L2", "created_at"]]


def test_missing_folder_contents_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no <table>.parquet or <table>.csv"):
        read_table_files(tmp_path)
