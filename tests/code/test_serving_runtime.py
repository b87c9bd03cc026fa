"""The request handlers in-process: statuses, limits, languages, idempotent ingest, /model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crm.settings import Settings
from serving.runtime import (
    build_runtime,
    handle_events,
    handle_score,
    handle_score_batch,
    handle_win,
    model_status,
    resolve_language,
)
from serving.schemas import EventsRequest, ScoreBatchRequest, ScoreRequest, WinRequest
from serving.settings import ServingSettings

LEAD = {"lead": {"job_title": "Head of Sales", "source": "referral",
                 "created_at": "2026-01-05T00:00:00Z"},
        "company": {"industry": "software", "employees": 250, "country": "JP"},
        "as_of": "2026-03-01T00:00:00Z"}


class EmptyRegistry:
    def champion(self, name: str):
        return None

    def refused(self, name: str) -> bool:
        return name == "refused-win"

    def load(self, name: str, version: str):
        raise AssertionError("nothing to load")


@pytest.fixture()
def runtime(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'crm.db'}",
                        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'absent.db'}",
                        win_model_name="refused-win")
    serving = ServingSettings(max_batch_leads=3, max_events=4, poll_seconds=60)
    runtime = build_runtime(settings, serving, registry=EmptyRegistry())
    runtime.watcher.check_once()
    runtime.scorer.mark_ready()
    runtime.start_batchers()
    yield runtime
    runtime.stop()


def _run(coroutine):
    return asyncio.run(coroutine)


@pytest.mark.parametrize(("requested", "header", "expected"), [
    (None, None, "en"), ("ja", "en-US", "ja"), (None, "ja-JP,ja;q=0.9,en;q=0.8", "ja"),
    (None, "fr-FR, en;q=0.5, ja;q=0.7", "ja"), (None, "de, fr", "en"), (None, "ja;q=bad", "en"),
    (None, "EN", "en"),
])
def test_language_comes_from_the_request_then_the_header(requested, header, expected) -> None:
    assert resolve_language(requested, header) == expected


def test_score_answers_with_rules_when_no_model(runtime) -> None:
    status, body = _run(handle_score(runtime, ScoreRequest.model_validate(LEAD), "ja"))
    assert status == 200 and body.source == "rules" and body.language == "ja"
    assert body.fallback_reason == "no_champion"


def test_an_unscorable_lead_is_422_naming_the_field(runtime) -> None:
    status, body = _run(handle_score(runtime, ScoreRequest(lead_id="ghost")))
    assert status == 422 and body.fields[0].field == "lead_id"
    assert body.fields[0].message == "lead_id 'ghost' is not in the store; send the lead inline"


def test_batch_over_the_limit_is_413(runtime) -> None:
    request = ScoreBatchRequest.model_validate({"leads": [LEAD] * 4})
    status, body = _run(handle_score_batch(runtime, request))
    assert status == 413 and body.error == "a batch holds at most 3 leads, got 4"


def test_batch_errors_name_the_lead(runtime) -> None:
    request = ScoreBatchRequest.model_validate({"leads": [LEAD, {"lead_id": "ghost"}]})
    status, body = _run(handle_score_batch(runtime, request))
    assert status == 422 and body.error == "1 lead(s) cannot be scored as sent"
    assert [f.field for f in body.fields] == ["leads[1].lead_id"]


def test_batch_answers_in_order(runtime) -> None:
    second = {**LEAD, "lead_id": "B", "language": "ja"}
    request = ScoreBatchRequest.model_validate({"leads": [{**LEAD, "lead_id": "A"}, second]})
    status, body = _run(handle_score_batch(runtime, request, "en"))
    assert status == 200
    assert [(r.lead_id, r.language) for r in body.results] == [("A", "en"), ("B", "ja")]


def test_events_are_ingested_once(runtime) -> None:
    events = [{"event_id": f"e{i}", "lead_id": "L1", "type": "page_view",
               "occurred_at": f"2026-02-0{i + 1}T00:00:00Z"} for i in range(3)]
    first = _run(handle_events(runtime, EventsRequest.model_validate({"events": events})))
    again = _run(handle_events(runtime, EventsRequest.model_validate(
        {"events": events[1:] + [{**events[0], "event_id": "e9"}, events[1]]})))
    assert first == (200, first[1]) and first[1].model_dump() == {
        "received": 3, "inserted": 3, "duplicates": 0, "conflicts": [], "unknown_leads": ["L1"]}
    assert again[1].model_dump() == {"received": 4, "inserted": 1, "duplicates": 3,
                                     "conflicts": [], "unknown_leads": ["L1"]}
    stored = runtime.store.read_table("activities")
    assert sorted(stored["event_id"]) == ["e0", "e1", "e2", "e9"]


def test_a_resent_event_id_that_differs_is_a_conflict(runtime) -> None:
    """Issue 14, item 11: a re-sent id with another type or time was a silent duplicate."""
    from crm.sample import GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=50, seed=3))
    runtime.store.write_tables(tables)
    lead = str(tables["leads"]["lead_id"].iloc[0])
    event = {"event_id": "c1", "lead_id": lead, "type": "page_view",
             "occurred_at": "2026-02-01T00:00:00Z"}
    first = _run(handle_events(runtime, EventsRequest.model_validate({"events": [event]})))
    assert first[1].unknown_leads == [] and first[1].inserted == 1
    same = _run(handle_events(runtime, EventsRequest.model_validate({"events": [event]})))
    assert (same[1].duplicates, same[1].conflicts) == (1, [])
    changed = [{**event, "type": "demo_request"}, {**event, "event_id": "c2"},
               {**event, "event_id": "c3", "lead_id": "not-a-lead"}]
    status, body = _run(handle_events(runtime, EventsRequest.model_validate(
        {"events": changed})))
    assert status == 200 and body.conflicts == ["c1"] and body.inserted == 2
    assert body.unknown_leads == ["not-a-lead"]
    stored = runtime.store.read_table("activities").set_index("event_id")
    assert stored.loc["c1", "type"] == "page_view"  # the stored event is kept


def test_too_many_events_is_413(runtime) -> None:
    event = {"lead_id": "L1", "type": "chat", "occurred_at": "2026-02-01T00:00:00Z"}
    request = EventsRequest.model_validate(
        {"events": [{**event, "event_id": str(i)} for i in range(5)]})
    status, body = _run(handle_events(runtime, request))
    assert status == 413 and body.error == "a request holds at most 4 events, got 5"


def test_stored_leads_are_scored_by_id(runtime) -> None:
    from crm.sample import GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=1000, seed=2))
    runtime.store.write_tables(tables)
    lead = tables["leads"].iloc[10]
    request = ScoreRequest(lead_id=lead["lead_id"])
    status, body = _run(handle_score(runtime, request))
    assert status == 200 and body.lead_id == lead["lead_id"] and body.source == "rules"


def test_win_without_a_model_uses_stage_rates_and_names_refusal(runtime) -> None:
    request = WinRequest.model_validate({"opportunity": {
        "created_at": "2026-01-01T00:00:00Z", "stage": "proposal", "amount": 1_000_000},
        "as_of": "2026-03-01T00:00:00Z"})
    status, body = _run(handle_win(runtime, request, "en"))
    assert status == 200 and body.source == "rules"
    assert body.fallback_reason == "insufficient_data" and body.probability == 0.4
    assert body.reasons.positive[0].feature == "opp_stage"
    assert "stage_history is missing" in body.warnings[0]


def test_win_for_an_unknown_deal_is_422(runtime) -> None:
    status, body = _run(handle_win(runtime, WinRequest(opportunity_id="nope")))
    assert status == 422 and body.fields[0].field == "opportunity_id"


def test_model_status_reports_the_fallbacks(runtime) -> None:
    _run(handle_score(runtime, ScoreRequest.model_validate(LEAD)))
    status = model_status(runtime)
    assert status.ready and status.models == {"sql": None, "win": None}
    assert status.fallback == {"sql": "no_champion", "win": "insufficient_data"}
    assert status.rule_answers == {"sql:no_champion": 1}
    assert status.rules_path.endswith("rules.yaml") and status.poll_seconds == 60


def test_a_failing_store_is_503_not_a_crash(runtime, monkeypatch) -> None:
    def down(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr("serving.lookups.LeadQueries.read", down)
    monkeypatch.setattr("serving.runtime.ingest_events", down)
    status, body = _run(handle_score(runtime, ScoreRequest(lead_id="L1")))
    assert status == 503 and body.error == "scoring is unavailable right now; try again"
    event = {"event_id": "x", "lead_id": "L1", "type": "chat",
             "occurred_at": "2026-02-01T00:00:00Z"}
    status, body = _run(handle_events(runtime, EventsRequest.model_validate(
        {"events": [event]})))
    assert status == 503


def test_events_end_the_cached_context_of_their_lead(tmp_path: Path) -> None:
    """By lead_id, a lead's stored context is reused for LEADSCORE_SERVING_LEAD_CACHE_SECONDS;
    events stored for it through /events must show in the next answer at once."""
    from crm.sample import GeneratorConfig, generate_crm

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'crm.db'}",
                        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'absent.db'}")
    runtime = build_runtime(settings, ServingSettings(lead_cache_seconds=600, poll_seconds=60),
                            registry=EmptyRegistry())
    runtime.watcher.check_once()
    runtime.start_batchers()
    try:
        tables, _ = generate_crm(GeneratorConfig(n_leads=200, seed=5))
        runtime.store.write_tables(tables)
        lead = str(tables["leads"].sort_values("created_at")["lead_id"].iloc[0])
        request = ScoreRequest(lead_id=lead, as_of="2026-10-01T00:00:00Z")
        _, before = _run(handle_score(runtime, request))
        _, cached = _run(handle_score(runtime, request))
        assert cached.score == before.score
        events = [{"event_id": f"hot-{i}", "lead_id": lead, "type": kind,
                   "occurred_at": "2026-09-30T12:00:00Z"}
                  for i, kind in enumerate(["demo_request", "pricing_page_view", "meeting_held"])]
        status, _ = _run(handle_events(runtime, EventsRequest.model_validate({"events": events})))
        assert status == 200
        _, after = _run(handle_score(runtime, request))
        assert after.score > before.score, (before, after)
    finally:
        runtime.stop()
