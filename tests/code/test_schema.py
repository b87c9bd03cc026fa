"""Each class of schema violation is caught and reported with table, column, row key, reason."""

from __future__ import annotations

import pandas as pd
import pytest

from crm import schema


def _lead(**overrides: object) -> dict:
    row = {"lead_id": "L1", "source": "webinar", "created_at": "2025-04-01T09:00:00+09:00",
           "status": "new"}
    row.update(overrides)
    return row


def _one_violation(table: str, rows: list[dict]) -> pd.Series:
    _, violations = schema.split_valid(table, pd.DataFrame(rows))
    assert len(violations) == 1, violations.to_dict("records")
    return violations.iloc[0]


@pytest.mark.parametrize(
    ("overrides", "column", "reason"),
    [
        ({"created_at": None}, "created_at", "is required but missing"),
        ({"created_at": "2025-04-01 09:00"}, "created_at", "is not a timezone-aware timestamp"),
        ({"created_at": "yesterday-ish"}, "created_at", "is not a timezone-aware timestamp"),
        ({"source": "carrier_pigeon"}, "source", "not one of inbound_form"),
        ({"status": "hot"}, "status", "not one of new, mql, sql"),
        ({"timeline_months": "soon", "timeline_confirmed_at": "2025-04-02T00:00Z"},
         "timeline_months", "is not a number"),
        ({"timeline_months": -1, "timeline_confirmed_at": "2025-04-02T00:00Z"},
         "timeline_months", "is below 0"),
        ({"budget": "maybe", "budget_confirmed_at": "2025-04-02T00:00Z"}, "budget",
         "is not a yes/no value"),
        ({"attributes": "[1, 2]"}, "attributes", "is not a JSON object"),
        ({"sql_at": "2025-03-01T00:00Z"}, "sql_at,created_at", "sql_at is before created_at"),
        ({"need": True}, "need,need_confirmed_at", "need and need_confirmed_at must be set together"),
    ],
)
def test_lead_violation_names_column_and_reason(overrides: dict, column: str, reason: str) -> None:
    violation = _one_violation("leads", [_lead(**overrides)])
    assert violation["table"] == "leads"
    assert violation["column"] == column
    assert violation["row_key"] == "L1"
    assert violation["reason"].startswith(reason)


def test_duplicate_key_keeps_first_row_and_reports_the_second() -> None:
    valid, violations = schema.split_valid("leads", pd.DataFrame([_lead(), _lead(source="organic")]))
    assert valid["source"].tolist() == ["webinar"]
    assert violations[["column", "row_key", "reason"]].values.tolist() == [
        ["lead_id", "L1", "duplicate key (first row kept)"]]


def test_bad_rows_are_rejected_whole_and_good_rows_kept() -> None:
    rows = [_lead(lead_id="ok"), _lead(lead_id="bad", source="nope"), _lead(lead_id="ok2")]
    valid, violations = schema.split_valid("leads", pd.DataFrame(rows))
    assert valid["lead_id"].tolist() == ["ok", "ok2"]
    assert violations["row_key"].tolist() == ["bad"]


def test_integer_column_rejects_fractions_and_range() -> None:
    accounts = pd.DataFrame({"account_id": ["A", "B", "C"], "name": ["x", "y", "z"],
                             "employees": ["12.5", "-3", "40"], "founded_year": [None, None, 3000]})
    valid, violations = schema.split_valid("accounts", accounts)
    reasons = dict(zip(violations["row_key"], violations["reason"]))
    assert reasons == {"A": "is not a whole number", "B": "is below 0", "C": "is above 2100"}
    assert valid.empty


def test_opportunity_closed_at_must_match_outcome() -> None:
    opp = {"opportunity_id": "O1", "currency": "USD", "created_at": "2025-01-01T00:00Z",
           "stage": "proposal", "outcome": "won"}
    violation = _one_violation("opportunities", [opp])
    assert violation["reason"] == "closed_at must be set exactly when outcome is won or lost"


def test_activity_needs_a_subject() -> None:
    event = {"event_id": "E1", "occurred_at": "2025-01-01T00:00Z", "type": "page_view"}
    assert _one_violation("activities", [event])["reason"] == "lead_id or account_id is required"


def test_missing_required_column_is_reported_once_for_all_rows() -> None:
    frame = pd.DataFrame([{"lead_id": "L1", "source": "organic", "status": "new"}])
    coerced, violations = schema.coerce_table("leads", frame)
    assert violations.iloc[0][["column", "reason"]].tolist() == [
        "created_at", "required column is missing"]
    assert list(coerced.columns) == schema.LEADS.column_names


def test_validate_table_raises_with_readable_message() -> None:
    frame, _ = schema.coerce_table("leads", pd.DataFrame([_lead(status="hot")]))
    with pytest.raises(schema.SchemaViolationError, match=r"leads\.status \[L1\]: not one of"):
        schema.validate_table("leads", frame)


def test_validate_table_rejects_extra_and_wrongly_typed_columns() -> None:
    frame, _ = schema.coerce_table("leads", pd.DataFrame([_lead()]))
    with pytest.raises(schema.SchemaViolationError, match="is not a canonical column"):
        schema.validate_table("leads", frame.assign(score=1))
    naive = frame.assign(created_at=frame["created_at"].dt.tz_localize(None))
    with pytest.raises(schema.SchemaViolationError, match="created_at .*expected"):
        schema.validate_table("leads", naive)


def test_timestamps_are_converted_to_utc() -> None:
    valid, _ = schema.split_valid("leads", pd.DataFrame([_lead()]))
    assert valid["created_at"].iloc[0] == pd.Timestamp("2025-04-01T00:00:00Z")
    assert valid["created_at"].dtype == schema.TIMESTAMP_DTYPE


def test_unknown_table_is_named() -> None:
    with pytest.raises(ValueError, match="unknown table 'lead'"):
        schema.table_spec("lead")


def test_empty_frame_has_canonical_dtypes_and_validates() -> None:
    for name in schema.TABLES:
        assert schema.find_violations(name, schema.empty_frame(name)).empty


def test_coerce_rows_raises_on_any_unconvertible_value() -> None:
    frame = schema.coerce_rows("leads", [_lead()])
    assert frame["created_at"].dtype == schema.TIMESTAMP_DTYPE
    with pytest.raises(schema.SchemaViolationError, match=r"leads\.created_at \[L1\]"):
        schema.coerce_rows("leads", [_lead(created_at="not a time")])
