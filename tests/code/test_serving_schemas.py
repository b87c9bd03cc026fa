"""The HTTP contract's request models: bounds, types, timestamps, and no input in errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from serving.schemas import (
    MAX_ACTIVITIES,
    EventsRequest,
    ScoreBatchRequest,
    ScoreRequest,
    WinRequest,
)

NOW = datetime.now(timezone.utc)


def _errors(model, body: str) -> list[tuple[tuple, str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    return [(e["loc"], e["type"], e["msg"]) for e in caught.value.errors()]


def test_inline_and_id_only_requests_parse() -> None:
    by_id = ScoreRequest.model_validate_json('{"lead_id": " L1 "}')
    assert by_id.lead_id == "L1" and by_id.top_k == 3 and by_id.activities is None
    inline = ScoreRequest.model_validate({
        "lead": {"job_title": "営業部長", "created_at": "2026-01-10T09:00:00+09:00"},
        "activities": [{"occurred_at": "2026-02-01T00:00:00Z", "type": "demo_request"}]})
    assert inline.lead.created_at == datetime(2026, 1, 10, tzinfo=timezone.utc)
    assert inline.activities[0].type == "demo_request"


@pytest.mark.parametrize(
    ("body", "loc", "kind", "message"),
    [
        ('{"lead_id": "L1", "company": {"employees": NaN}}', ("company", "employees"),
         "finite_number", "finite number"),
        ('{"lead_id": "L1", "company": {"annual_revenue": Infinity}}',
         ("company", "annual_revenue"), "finite_number", "finite number"),
        ('{"lead_id": "L1", "bant": {"timeline_months": -Infinity}}',
         ("bant", "timeline_months"), "finite_number", "finite number"),
        ('{"lead_id": "L1", "company": {"employees": -3}}', ("company", "employees"),
         "greater_than_equal", "greater than or equal to 0"),
        ('{"lead_id": "L1", "company": {"employees": "many"}}', ("company", "employees"),
         "int_parsing", "valid integer"),
        ('{"lead_id": 17}', ("lead_id",), "string_type", "valid string"),
        ('{"lead_id": "L1", "bant": {"budget": "perhaps"}}', ("bant", "budget"),
         "bool_type", "valid boolean"),
        ('{"lead_id": "L1", "as_of": "2026-01-01T00:00:00"}', ("as_of",),
         "timestamp_timezone", "needs a time zone"),
        ('{"lead_id": "L1", "as_of": "1899-12-31T00:00:00Z"}', ("as_of",), "timestamp_range",
         "between 1990-01-01"),
        ('{"lead_id": "L1", "as_of": "2999-01-01T00:00:00Z"}', ("as_of",), "timestamp_range",
         "between 1990-01-01"),
        ('{"lead_id": "L1", "as_of": 2026}', ("as_of",), "timestamp_range", "between"),
        ('{"lead_id": "L1", "activities": [{"occurred_at": "3000-01-01T00:00:00Z", '
         '"type": "chat"}]}', ("activities", 0, "occurred_at"), "timestamp_range", "between"),
        ('{"lead_id": "L1", "activities": [{"type": "chat"}]}',
         ("activities", 0, "occurred_at"), "missing", "Field required"),
        ('{"lead_id": "L1", "lead_score": 99}', ("lead_score",), "extra_forbidden",
         "Extra inputs"),
        ('{"lead_id": "L1", "top_k": 0}', ("top_k",), "greater_than_equal",
         "greater than or equal to 1"),
        ('{"lead_id": "L1", "language": "fr"}', ("language",), "literal_error", "'en' or 'ja'"),
        ('{"as_of": "2026-01-01T00:00:00Z"}', (), "missing_lead", "give lead_id, lead"),
        ('{"lead_id": "bad\\nid"}', ("lead_id",), "string_pattern_mismatch", "match pattern"),
    ],
)
def test_bad_score_input_names_the_field(body: str, loc: tuple, kind: str, message: str) -> None:
    errors = _errors(ScoreRequest, body)
    assert any(e[0] == loc and e[1] == kind and message in e[2] for e in errors), errors


def test_activity_list_is_bounded() -> None:
    activity = {"occurred_at": "2026-01-01T00:00:00Z", "type": "chat"}
    body = json.dumps({"lead_id": "L1", "activities": [activity] * (MAX_ACTIVITIES + 1)})
    assert _errors(ScoreRequest, body)[0][:2] == (("activities",), "too_long")


def test_errors_never_echo_the_input() -> None:
    secret = "Yamada.Taro@secret-company.example"
    body = json.dumps({"lead_id": "L1", "lead": {"email": secret, "name": secret * 20,
                                                   "created_at": "2026-01-01T00:00:00"}})
    with pytest.raises(ValidationError) as caught:
        ScoreRequest.model_validate_json(body)
    assert secret not in str(caught.value) and "Yamada" not in repr(caught.value)


def test_timestamps_become_utc_and_close_dates_may_be_years_ahead() -> None:
    ahead = (NOW + timedelta(days=3 * 365)).isoformat()
    request = WinRequest.model_validate({
        "opportunity": {"created_at": "2026-01-01T09:00:00+09:00", "stage": "proposal",
                        "expected_close_date": ahead}})
    assert request.opportunity.created_at.tzinfo == timezone.utc
    assert request.opportunity.created_at.hour == 0
    errors = _errors(WinRequest, json.dumps({"opportunity": {
        "created_at": "2026-01-01T00:00:00Z", "stage": "proposal",
        "expected_close_date": (NOW + timedelta(days=20 * 365)).isoformat()}}))
    assert errors[0][:2] == (("opportunity", "expected_close_date"), "timestamp_range")


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ('{"opportunity": {"stage": "proposal"}}', ("opportunity", "created_at"), "missing"),
        ('{"opportunity": {"created_at": "2026-01-01T00:00:00Z", "stage": "proposal", '
         '"currency": "yen"}}', ("opportunity", "currency"), "string_pattern_mismatch"),
        ('{"opportunity_id": "O1", "stage_history": [{"stage": "", '
         '"entered_at": "2026-01-01T00:00:00Z"}]}', ("stage_history", 0, "stage"),
         "string_too_short"),
        ('{}', (), "missing_opportunity"),
    ],
)
def test_bad_win_input_names_the_field(body: str, loc: tuple, kind: str) -> None:
    assert any(e[:2] == (loc, kind) for e in _errors(WinRequest, body))


@pytest.mark.parametrize(
    ("event", "loc", "kind"),
    [
        ({"event_id": "e1", "lead_id": "L1", "occurred_at": "2026-01-01T00:00:00Z",
          "type": "zoom_call"}, ("events", 0, "type"), "literal_error"),
        ({"event_id": "e1", "occurred_at": "2026-01-01T00:00:00Z", "type": "chat"},
         ("events", 0), "missing_subject"),
        ({"lead_id": "L1", "occurred_at": "2026-01-01T00:00:00Z", "type": "chat"},
         ("events", 0, "event_id"), "missing"),
    ],
)
def test_bad_events_name_the_field(event: dict, loc: tuple, kind: str) -> None:
    errors = _errors(EventsRequest, json.dumps({"events": [event]}))
    assert any(e[:2] == (loc, kind) for e in errors), errors


def test_empty_batches_are_refused() -> None:
    assert _errors(ScoreBatchRequest, '{"leads": []}')[0][:2] == (("leads",), "too_short")
    assert _errors(EventsRequest, '{"events": []}')[0][:2] == (("events",), "too_short")


@pytest.mark.parametrize("value", ["yes", "true", "1", "no"])
def test_bant_flags_are_strict_booleans(value) -> None:
    """Issue 14, item 11: ``budget: "yes"`` was read as true."""
    with pytest.raises(ValidationError) as error:
        ScoreRequest.model_validate({"lead_id": "L1", "bant": {"budget": value}})
    assert error.value.errors()[0]["loc"] == ("bant", "budget")
    assert ScoreRequest.model_validate({"lead_id": "L1", "bant": {"budget": True}}).bant.budget


def test_stage_history_after_as_of_is_refused_with_its_index() -> None:
    """Issue 14, item 11: history after ``as_of`` was accepted silently."""
    body = {"opportunity": {"created_at": "2026-01-05T00:00:00Z", "stage": "proposal"},
            "as_of": "2026-03-01T00:00:00Z",
            "stage_history": [{"stage": "discovery", "entered_at": "2026-01-05T00:00:00Z"},
                              {"stage": "proposal", "entered_at": "2026-04-01T00:00:00Z"}]}
    with pytest.raises(ValidationError) as error:
        WinRequest.model_validate(body)
    assert error.value.errors()[0]["type"] == "history_after_as_of"
    assert "stage_history[1].entered_at" in error.value.errors()[0]["msg"]
    body["stage_history"].pop()
    assert len(WinRequest.model_validate(body).stage_history) == 1
