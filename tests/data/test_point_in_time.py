"""Point in time: adding, deleting or changing any record at or after ``as_of`` never changes a
feature at ``as_of`` — lead features (behavioral, account, BANT, status, firmographic, ICP) and
opportunity features alike, compared exactly (NaN-aware).

Hypothesis draws a small CRM on an hour grid (so records often fall exactly on the cut-off),
a cut-off, pairs with ``as_of`` at or before it, and then rewrites the future: every record
whose timestamp is at or after the cut-off may be deleted, moved (still at or after it) or
changed, and new future records are added.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FeatureConfig, build_lead_features, build_opportunity_features
from features.icp import load_icp
from features.config import DEFAULT_ICP_FILE
from crm.schema import ACTIVITY_TYPES, coerce_table

BASE = pd.Timestamp("2025-06-01T00:00:00Z")
ACCOUNTS = ["A1", "A2", "A3"]
OWNERS = ["sato", "tanaka", None]
STAGES = ["prospecting", "qualification", "proposal", "negotiation", "custom"]
TITLES = ["営業部長", "Engineer", "CEO", None]
DATED = {"budget": st.booleans(), "authority": st.booleans(), "need": st.booleans(),
         "timeline": st.sampled_from([1.0, 3.0, 6.0])}
CONFIG = FeatureConfig(windows_days=(1, 7, 30), engaged_contact_days=7, half_life_days=2.0,
                       icp=load_icp(DEFAULT_ICP_FILE))
SPAN = 24 * 60                      # records fall within +- 60 days of BASE, on whole hours


def moment(data, cut: int, low: int, high: int) -> int:
    """An hour in [low, high], often exactly ``cut`` (boundary bugs live there)."""
    if low <= cut <= high and data.draw(st.booleans()):
        return cut
    return data.draw(st.integers(low, high))


def at(hours: int | None) -> pd.Timestamp | None:
    return None if hours is None else BASE + pd.Timedelta(hours=hours)


def canon(table: str, records: list[dict]) -> pd.DataFrame:
    frame, problems = coerce_table(table, pd.DataFrame(records) if records else
                                   pd.DataFrame(columns=["event_id"]))
    problems = problems[problems["reason"] != "required column is missing"]
    assert problems.empty, problems
    return frame


# ------------------------------------------------------------------------------- records

def draw_lead(data, cut: int, lead_id: str, low: int, high: int) -> dict:
    created = moment(data, cut, low, high)
    record = {"lead_id": lead_id, "account_id": data.draw(st.sampled_from(ACCOUNTS + [None])),
              "source": "webinar", "status": "new", "created_at": created,
              "email": f"{lead_id.lower()}@example.co.jp",
              "job_title": data.draw(st.sampled_from(TITLES))}
    for element, values in DATED.items():
        if data.draw(st.booleans()):
            column = "timeline_months" if element == "timeline" else element
            record[column] = data.draw(values)
            record[f"{element}_confirmed_at"] = moment(data, cut, created, created + SPAN)
    for column in ("mql_at", "recycled_at"):
        if data.draw(st.booleans()):
            record[column] = moment(data, cut, created, created + SPAN)
    return record


def draw_activity(data, cut: int, event_id: str, leads: list[dict], low: int,
                  high: int) -> dict:
    hour = moment(data, cut, low, high)
    known = [lead for lead in leads if lead["created_at"] <= hour]
    lead = data.draw(st.sampled_from(known + [None])) if known else None
    account = data.draw(st.sampled_from(ACCOUNTS + [None]))
    if lead is None and account is None:
        account = "A1"
    return {"event_id": event_id, "lead_id": None if lead is None else lead["lead_id"],
            "account_id": account, "type": data.draw(st.sampled_from(ACTIVITY_TYPES)),
            "occurred_at": hour}


def draw_deal(data, cut: int, opportunity_id: str, low: int,
              high: int) -> tuple[dict, list[dict]]:
    created = moment(data, cut, low, high)
    closed = moment(data, cut, created, created + SPAN) if data.draw(st.booleans()) else None
    deal = {"opportunity_id": opportunity_id, "account_id": data.draw(st.sampled_from(ACCOUNTS)),
            "owner": data.draw(st.sampled_from(OWNERS)),
            "product": data.draw(st.sampled_from(["Pro", "Lite"])), "currency": "JPY",
            "stage": "proposal", "created_at": created, "closed_at": closed,
            "outcome": "open" if closed is None else data.draw(st.sampled_from(["won", "lost"]))}
    history = [draw_history(data, cut, opportunity_id, created, created + SPAN)
               for _ in range(data.draw(st.integers(0, 4)))]
    return deal, history


def draw_history(data, cut: int, opportunity_id: str, low: int, high: int) -> dict:
    return {"opportunity_id": opportunity_id, "stage": data.draw(st.sampled_from(STAGES)),
            "entered_at": moment(data, cut, low, high),
            "amount": data.draw(st.sampled_from([100.0, 250.0, None])),
            "expected_close_date": data.draw(st.one_of(st.none(), st.integers(low, high + SPAN)))}


def draw_world(data, cut: int) -> dict[str, list[dict]]:
    leads = [draw_lead(data, cut, f"L{i}", -SPAN, SPAN // 2)
             for i in range(data.draw(st.integers(1, 5)))]
    activities = [draw_activity(data, cut, f"E{i}", leads, -SPAN, SPAN)
                  for i in range(data.draw(st.integers(0, 30)))]
    deals, history = [], []
    for i in range(data.draw(st.integers(0, 4))):
        deal, rows = draw_deal(data, cut, f"O{i}", -SPAN, SPAN // 2)
        deals.append(deal)
        history += rows
    return {"leads": leads, "activities": activities, "opportunities": deals,
            "opportunity_stage_history": history}


# ---------------------------------------------------------------------- rewrite the future

def rewrite_future(data, world: dict[str, list[dict]], cut: int) -> dict[str, list[dict]]:
    """Delete, move, change and add records with timestamps at or after ``cut``."""
    activities = []
    for record in world["activities"]:
        if record["occurred_at"] < cut:
            activities.append(record)
        elif data.draw(st.booleans()):        # else: deleted
            activities.append({**record, "occurred_at": moment(data, cut, cut, cut + SPAN),
                               "type": data.draw(st.sampled_from(ACTIVITY_TYPES))})
    leads = [rewrite_lead(data, lead, cut) for lead in world["leads"]
             if lead["created_at"] < cut or data.draw(st.booleans())]
    leads += [draw_lead(data, cut, f"N{i}", cut, cut + SPAN)
              for i in range(data.draw(st.integers(0, 2)))]
    activities += [draw_activity(data, cut, f"F{i}", leads, cut, cut + SPAN)
                   for i in range(data.draw(st.integers(0, 10)))]
    deals = [rewrite_deal(data, deal, cut) for deal in world["opportunities"]]
    history = [row for row in world["opportunity_stage_history"] if row["entered_at"] < cut]
    history += [draw_history(data, cut, deal["opportunity_id"], max(cut, deal["created_at"]),
                             cut + SPAN)
                for deal in deals for _ in range(data.draw(st.integers(0, 2)))]
    for i in range(data.draw(st.integers(0, 2))):
        deal, rows = draw_deal(data, cut, f"P{i}", cut, cut + SPAN)
        deals.append(deal)
        history += rows
    return {"leads": leads, "activities": activities, "opportunities": deals,
            "opportunity_stage_history": history}


def rewrite_lead(data, lead: dict, cut: int) -> dict:
    lead = dict(lead)
    for element, values in DATED.items():
        column = "timeline_months" if element == "timeline" else element
        stamp = f"{element}_confirmed_at"
        if lead.get(stamp) is None or lead[stamp] >= cut:
            if data.draw(st.booleans()):
                lead[column], lead[stamp] = data.draw(values), moment(data, cut, cut, cut + SPAN)
            else:
                lead[column], lead[stamp] = None, None
    for column in ("mql_at", "recycled_at"):
        if lead.get(column) is None or lead[column] >= cut:
            lead[column] = moment(data, cut, cut, cut + SPAN) if data.draw(st.booleans()) else None
    return lead


def rewrite_deal(data, deal: dict, cut: int) -> dict:
    deal = dict(deal)
    if deal["closed_at"] is None or deal["closed_at"] >= cut:
        closed = (moment(data, cut, max(cut, deal["created_at"]), cut + SPAN)
                  if data.draw(st.booleans()) else None)
        deal["closed_at"] = closed
        deal["outcome"] = "open" if closed is None else data.draw(st.sampled_from(["won", "lost"]))
    return deal


# --------------------------------------------------------------------------------- tables

TIME_COLUMNS = {"created_at", "occurred_at", "closed_at", "entered_at", "expected_close_date",
                "mql_at", "recycled_at"} | {f"{e}_confirmed_at" for e in DATED}


def to_tables(world: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    tables = {name: canon(name, [{k: at(v) if k in TIME_COLUMNS else v for k, v in r.items()}
                                 for r in records]) for name, records in world.items()}
    tables["accounts"] = canon("accounts", [
        {"account_id": a, "name": a, "industry": "software", "employees": 100 * (i + 1),
         "country": "JP", "founded_year": 2000} for i, a in enumerate(ACCOUNTS)])
    return tables


def draw_pairs(data, records: list[dict], id_column: str, cut: int) -> pd.DataFrame:
    rows = []
    for record in records:
        if record["created_at"] < cut:
            for _ in range(data.draw(st.integers(1, 2))):
                hour = moment(data, cut, record["created_at"] + 1, cut)
                rows.append({id_column: record[id_column], "as_of": at(hour)})
    return pd.DataFrame(rows, columns=[id_column, "as_of"])


def assert_same(before: pd.DataFrame, after: pd.DataFrame) -> None:
    """Exact, NaN-aware equality; categorical values compared, not their category lists."""
    pd.testing.assert_frame_equal(before.astype(object), after.astype(object), check_exact=True)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_records_at_or_after_as_of_never_change_features(data):
    cut = data.draw(st.integers(-SPAN // 2, SPAN // 2), label="cut")
    world = draw_world(data, cut)
    lead_pairs = draw_pairs(data, world["leads"], "lead_id", cut)
    deal_pairs = draw_pairs(data, world["opportunities"], "opportunity_id", cut)
    rewritten = rewrite_future(data, world, cut)
    before, after = to_tables(world), to_tables(rewritten)
    if len(lead_pairs):
        assert_same(build_lead_features(before, lead_pairs, CONFIG),
                    build_lead_features(after, lead_pairs, CONFIG))
    if len(deal_pairs):
        assert_same(build_opportunity_features(before, deal_pairs, CONFIG),
                    build_opportunity_features(after, deal_pairs, CONFIG))


@pytest.mark.parametrize("change", ["add", "move", "retype"])
def test_an_activity_exactly_at_as_of_is_not_seen(change):
    """A hand-made case of the property: the boundary record sits exactly at as_of."""
    world = {"leads": [{"lead_id": "L1", "account_id": "A1", "source": "webinar",
                        "status": "new", "created_at": -100}],
             "activities": [{"event_id": "E1", "lead_id": "L1", "account_id": "A1",
                             "type": "page_view", "occurred_at": -5}],
             "opportunities": [], "opportunity_stage_history": []}
    boundary = {"event_id": "E2", "lead_id": "L1", "account_id": "A1", "type": "demo_request",
                "occurred_at": 0}
    before = dict(world, activities=world["activities"] + [boundary])
    after = {"add": dict(world, activities=world["activities"] + [boundary, {**boundary,
                                                                             "event_id": "E3"}]),
             "move": dict(world, activities=world["activities"] + [{**boundary,
                                                                    "occurred_at": 7}]),
             "retype": dict(world, activities=world["activities"] + [{**boundary,
                                                                      "type": "chat"}])}[change]
    pairs = pd.DataFrame({"lead_id": ["L1"], "as_of": [at(0)]})
    features = build_lead_features(to_tables(before), pairs, CONFIG)
    assert features.loc[0, "activity_count_1d"] == 1           # E1, five hours earlier
    assert features.loc[0, "demo_request_count_1d"] == 0       # E2 sits exactly at as_of
    assert features.loc[0, "days_since_last_activity"] == 5 / 24
    assert_same(features, build_lead_features(to_tables(after), pairs, CONFIG))
