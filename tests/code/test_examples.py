"""Training-set builders: snapshot times, open-lead rule, censoring and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import (
    FeatureConfig,
    build_lead_features,
    build_opportunity_features,
    build_sql_examples,
    build_win_examples,
)
from features.training_sets import sql_labels
from crm.schema import coerce_rows

T0 = pd.Timestamp("2025-01-01T00:00:00Z")
END = T0 + pd.Timedelta(days=200)
CONFIG = FeatureConfig()          # horizon 90 days, a snapshot every 14 days, at most 12


canon = coerce_rows  # canonical frame of inline records; raises on a bad value


def day(n: float | None) -> pd.Timestamp | None:
    return None if n is None else T0 + pd.Timedelta(days=n)


def lead(lead_id: str, created: float, sql: float | None = None, disqualified=None,
         recycled=None) -> dict:
    return {"lead_id": lead_id, "account_id": "A1", "source": "webinar", "status": "new",
            "created_at": day(created), "sql_at": day(sql),
            "disqualified_at": day(disqualified), "recycled_at": day(recycled)}


LEADS = {
    "A": lead("A", 0, sql=50),                           # converts: every snapshot positive
    "B": lead("B", 150),                                 # all snapshots censored
    "C": lead("C", 0),                                   # negatives while horizon observed
    "D": lead("D", 150, sql=170),                        # converted, horizon unobserved: censored
    "E": lead("E", 0, sql=250),                          # converts after the cut: unknown
    "F": lead("F", 0, sql=100),                          # first snapshot too early for horizon
    "G": lead("G", 0, disqualified=30, recycled=60),     # not open between 30 and 60
    "H": lead("H", 210),                                 # created after the cut
}
EXPECTED = {   # lead -> [(snapshot day, label)]
    "A": [(0, 1), (14, 1), (28, 1), (42, 1)],
    "B": [],
    "C": [(d, 0) for d in range(0, 99, 14)],
    "D": [],
    "E": [(d, 0) for d in range(0, 99, 14)],
    "F": [(0, 0)] + [(d, 1) for d in range(14, 99, 14)],
    "G": [(0, 0), (14, 0), (28, 0), (70, 0), (84, 0), (98, 0)],
    "H": [],
}


def lead_tables(names=tuple(LEADS)) -> dict[str, pd.DataFrame]:
    leads = canon("leads", [LEADS[n] for n in names])
    activities = canon("activities", [
        {"event_id": "e1", "lead_id": "A", "type": "pricing_page_view", "occurred_at": day(20)},
        {"event_id": "e2", "lead_id": "C", "type": "page_view", "occurred_at": day(1)}])
    return {"leads": leads, "activities": activities,
            "accounts": canon("accounts", [{"account_id": "A1", "name": "Acme"}])}


def snapshots(frame: pd.DataFrame, id_column: str) -> dict[str, list[tuple[float, int]]]:
    days = (frame["as_of"] - T0) / pd.Timedelta(days=1)
    out: dict[str, list] = {}
    for key, d, label in zip(frame[id_column], days, frame["label"]):
        out.setdefault(key, []).append((round(d, 6), int(label)))
    return out


@pytest.mark.parametrize("name", list(LEADS))
def test_sql_snapshots_and_labels_follow_the_censoring_rule(name):
    frame = build_sql_examples(lead_tables([name]), CONFIG, END)
    assert snapshots(frame, "lead_id").get(name, []) == EXPECTED[name]


def test_first_snapshot_is_just_after_creation():
    frame = build_sql_examples(lead_tables(["A"]), CONFIG, END)
    assert frame["as_of"].iloc[0] == T0 + pd.Timedelta(1, "us")
    assert frame["as_of"].dt.tz is not None


def test_sql_examples_carry_the_lead_features_of_their_snapshot():
    tables = lead_tables()
    frame = build_sql_examples(tables, CONFIG, END)
    assert list(frame.columns[:3]) == ["lead_id", "as_of", "label"]
    assert str(frame["label"].dtype) == "int64"
    expected = build_lead_features(tables, frame[["lead_id", "as_of"]], CONFIG)
    pd.testing.assert_frame_equal(frame.drop(columns="label"), expected)
    visits = frame.loc[frame["lead_id"] == "A", "pricing_page_view_count_90d"]
    assert visits.tolist() == [0, 0, 1, 1]     # the day-20 visit shows from day 28 on


def test_snapshot_spacing_and_count_come_from_the_config():
    config = FeatureConfig(snapshot_every_days=30, max_snapshots=2)
    frame = build_sql_examples(lead_tables(["C"]), config, END)
    assert snapshots(frame, "lead_id") == {"C": [(0, 0), (30, 0)]}


@pytest.mark.parametrize("sql_day, as_of_day, label, censored", [
    (None, 100, 0, False),        # 100 + 90 <= 200: observed negative
    (None, 111, 0, True),         # horizon reaches past the cut: censored
    (150, 111, 0, True),          # converted before the cut, horizon unobserved: censored
    (205, 111, 0, True),          # converts after the cut: unknown, censored
    (205, 100, 0, False),         # ... but outside an observed horizon: negative
    (190, 100, 0, False),         # exactly at as_of + horizon: outside the horizon
    (100, 100, 1, False),         # at as_of itself: inside
])
def test_sql_label_rule(sql_day, as_of_day, label, censored):
    us = lambda d: np.asarray([day(d).value // 1000 if d is not None else np.iinfo(np.int64).min])
    got_label, got_censored = sql_labels(us(sql_day), us(as_of_day), 90, END.value // 1000)
    assert (got_label[0], got_censored[0]) == (label, censored)


def test_as_of_end_must_be_timezone_aware():
    with pytest.raises(ValueError, match="as_of_end must be a timezone-aware timestamp"):
        build_sql_examples(lead_tables(["A"]), CONFIG, pd.Timestamp("2025-07-01"))


# --------------------------------------------------------------------------- win examples

def deal(opportunity_id: str, created: float, closed: float | None, outcome: str) -> dict:
    return {"opportunity_id": opportunity_id, "account_id": "A1", "owner": "sato",
            "currency": "JPY", "created_at": day(created), "closed_at": day(closed),
            "stage": outcome if outcome != "open" else "proposal", "outcome": outcome}


def deal_tables() -> dict[str, pd.DataFrame]:
    deals = [deal("D1", 0, 50, "won"), deal("D2", 0, 20, "lost"), deal("D3", 100, None, "open"),
             deal("D4", 150, 230, "won"), deal("D5", 210, 215, "lost")]
    history = [{"opportunity_id": d["opportunity_id"], "stage": "prospecting",
                "entered_at": d["created_at"], "amount": 10.0} for d in deals]
    history.append({"opportunity_id": "D1", "stage": "proposal", "entered_at": day(30),
                    "amount": 20.0})
    return {"opportunities": canon("opportunities", deals),
            "opportunity_stage_history": canon("opportunity_stage_history", history),
            "activities": canon("activities", [{"event_id": "e", "account_id": "A1",
                                                "type": "chat", "occurred_at": day(1)}]),
            "leads": canon("leads", [lead("L", -10)])}


def test_win_examples_label_only_deals_closed_before_the_cut():
    frame = build_win_examples(deal_tables(), CONFIG, END)
    assert snapshots(frame, "opportunity_id") == {
        "D1": [(0, 1), (14, 1), (28, 1), (42, 1)], "D2": [(0, 0), (14, 0)]}
    expected = build_opportunity_features(deal_tables(), frame[["opportunity_id", "as_of"]],
                                          CONFIG)
    pd.testing.assert_frame_equal(frame.drop(columns="label"), expected)
    assert frame.loc[frame["opportunity_id"] == "D1", "opp_stage"].tolist() == [
        "prospecting", "prospecting", "prospecting", "proposal"]


def test_win_examples_before_anything_closed_are_empty():
    frame = build_win_examples(deal_tables(), CONFIG, day(10))
    assert frame.empty
    assert list(frame.columns[:3]) == ["opportunity_id", "as_of", "label"]
