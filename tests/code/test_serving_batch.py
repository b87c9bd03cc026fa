"""Batch scoring's local engine without a model: lead selection, errors, files, rules answers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from crm import schema
from serving.batch import (SCORE_COLUMNS, load_scorer, read_lead_file, score_pairs,
                           select_pairs, write_scores)
from crm.settings import Settings

AS_OF = pd.Timestamp("2026-03-01T00:00:00Z")


class EmptyRegistry:
    def champion(self, name: str):
        return None

    def refused(self, name: str) -> bool:
        return False

    def latest(self, name: str):
        return None

    def load(self, name: str, version: str):
        raise AssertionError("nothing to load")


def _tables(crm_rows) -> dict[str, pd.DataFrame]:
    leads = [crm_rows.lead(1, "01-05"), crm_rows.lead(2, "02-10", source="referral"),
             crm_rows.lead(3, "03-15")]  # lead 3 is created after AS_OF
    acts = [crm_rows.activity(1, 1, "02-01", "pricing_page_view"),
            crm_rows.activity(2, 2, "02-20", "demo_request")]
    return {"leads": schema.coerce_rows("leads", leads),
            "activities": schema.coerce_rows("activities", acts),
            "accounts": schema.empty_frame("accounts")}


@pytest.fixture
def scorer(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'crm.db'}",
                        mlflow_tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    return load_scorer(settings, registry=EmptyRegistry())


def test_the_whole_store_is_every_lead_created_before_as_of(crm_rows) -> None:
    pairs = select_pairs(_tables(crm_rows)["leads"], AS_OF)
    assert pairs["lead_id"].tolist() == ["L01", "L02"]
    assert (pairs["as_of"] == AS_OF).all()


@pytest.mark.parametrize(("wanted", "message"), [
    (pd.DataFrame({"lead_id": ["L01", "L99"]}), "lead_id 'L99' is not in the store"),
    (pd.DataFrame({"lead_id": ["L03"]}), "lead_id 'L03' was created at or after its as_of"),
    (pd.DataFrame({"id": ["L01"]}), "the lead file needs a lead_id column"),
])
def test_a_bad_lead_list_is_refused_naming_the_lead(crm_rows, wanted, message) -> None:
    with pytest.raises(ValueError, match=message):
        select_pairs(_tables(crm_rows)["leads"], AS_OF, wanted)


def test_a_lead_list_may_give_each_lead_its_own_as_of(crm_rows) -> None:
    wanted = pd.DataFrame({"lead_id": ["L03", "L01"],
                           "as_of": ["2026-04-01T00:00:00Z", "2026-01-06T00:00:00Z"]})
    pairs = select_pairs(_tables(crm_rows)["leads"], AS_OF, wanted)
    assert pairs["lead_id"].tolist() == ["L03", "L01"]
    assert pairs["as_of"].dt.month.tolist() == [4, 1]


def test_without_a_model_the_rules_answer_every_lead(crm_rows, scorer) -> None:
    tables = _tables(crm_rows)
    seen = []
    scores = score_pairs(tables, select_pairs(tables["leads"], AS_OF), scorer, chunk_size=1,
                         progress=lambda done, total: seen.append((done, total)))
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["lead_id"].tolist() == ["L01", "L02"]
    assert (scores["source"] == "rules").all() and scores["probability"].isna().all()
    assert scores["score"].between(1, 99).all() and set(scores["grade"]) <= set("ABCD")
    assert scores["reasons_up"].str.len().gt(0).any()
    assert seen == [(1, 2), (2, 2)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_scores_round_trip_through_their_file(crm_rows, scorer, tmp_path: Path,
                                              suffix: str) -> None:
    tables = _tables(crm_rows)
    scores = score_pairs(tables, select_pairs(tables["leads"], AS_OF), scorer)
    path = write_scores(scores, tmp_path / f"out{suffix}")
    back = read_lead_file(path)
    assert back["lead_id"].tolist() == ["L01", "L02"]
    assert back["score"].astype(int).tolist() == scores["score"].tolist()


def test_an_unknown_file_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"out.txt: the file name must end in .parquet or .csv"):
        write_scores(pd.DataFrame(), tmp_path / "out.txt")
