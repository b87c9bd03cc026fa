"""The single-lead reader of the store path (``serving.lookups``): what it reads equals the
batch path's tables, its cache ends with the TTL and with events of the lead, a colleague or
the account, and a stored lead scores the same by id as sent inline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from serving.lookups import LeadQueries, LeadReader
from serving.request_records import score_request_from_tables
from serving.schemas import ScoreRequest
from serving.scorer import LeadJob, LeadScorer
from training.rules import load_rules

AS_OF = pd.Timestamp("2026-09-01T00:00:00Z")


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, CRMStore]:
    tables, _ = generate_crm(GeneratorConfig(n_leads=300, seed=9))
    store = CRMStore(f"sqlite:///{tmp_path_factory.mktemp('reader') / 'crm.db'}")
    store.write_tables(tables)
    return tables, store


def _account_with_colleagues(tables: dict) -> tuple[str, str, list[str]]:
    leads = tables["leads"]
    sizes = leads["account_id"].value_counts()
    account = str(sizes.index[0])
    members = sorted(leads.loc[leads["account_id"] == account, "lead_id"])
    return account, members[0], members[1:]


def test_a_stored_lead_is_read_with_its_account_colleagues_and_their_events(crm) -> None:
    tables, store = crm
    account, lead_id, colleagues = _account_with_colleagues(tables)
    context = LeadQueries(store).read(lead_id)
    stored = tables["leads"].set_index("lead_id").loc[lead_id]
    assert context.lead["lead_id"] == lead_id and context.lead["created_at"] == stored["created_at"]
    assert context.lead["created_at"].tzinfo is not None
    assert context.account["account_id"] == account
    assert sorted(context.account_leads.ids) == colleagues
    acts = tables["activities"]
    mine = acts[acts["lead_id"].isin([lead_id, *colleagues]) | (acts["account_id"] == account)]
    expected = np.sort(mine["occurred_at"].dt.as_unit("us").astype("int64").to_numpy())
    assert np.array_equal(np.sort(context.activities.times), expected)
    unknown = LeadQueries(store).read("no-such-lead")
    assert unknown.lead is None and len(unknown.activities.times) == 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _counting(reader: LeadReader) -> list[str]:
    reads: list[str] = []
    original = reader.queries.read

    def read(lead_id, account_id=None):
        reads.append(lead_id)
        return original(lead_id, account_id)

    reader.queries.read = read
    return reads


def test_the_cache_ends_with_the_ttl_and_with_events_of_the_lead_colleagues_or_account(
        crm) -> None:
    tables, store = crm
    account, lead_id, colleagues = _account_with_colleagues(tables)
    clock = _Clock()
    reader = LeadReader(store, ttl_seconds=10, clock=clock)
    reads = _counting(reader)
    first = reader.read(lead_id)
    assert reader.read(lead_id) is first and reads == [lead_id]
    for touched in ([lead_id], [colleagues[0]], [], ["someone-else"]):
        clock.now += 1
        reader.forget(touched, [account] if not touched else [None])
        clock.now += 1
        reader.read(lead_id)
    assert len(reads) == 4  # the lead, a colleague, the account; not an unrelated lead
    clock.now += 10
    reader.read(lead_id)
    assert len(reads) == 5  # the TTL passed


def test_without_a_ttl_every_look_up_reads_the_store(crm) -> None:
    tables, store = crm
    reader = LeadReader(store, ttl_seconds=0)
    reads = _counting(reader)
    lead_id = _account_with_colleagues(tables)[1]
    reader.read(lead_id)
    reader.read(lead_id)
    assert reads == [lead_id, lead_id]


def test_a_lead_scores_the_same_by_id_as_sent_inline(crm) -> None:
    """The store path and the inline path of one lead give the same answer (leads that share
    no account: an inline request cannot carry colleagues' activities)."""
    tables, store = crm
    leads = tables["leads"]
    alone = leads[(leads["created_at"] < AS_OF)
                  & ~leads["account_id"].duplicated(keep=False) & leads["account_id"].notna()]
    ids = list(alone["lead_id"].head(15))
    assert len(ids) >= 10
    scorer = LeadScorer(load_rules(), store, lead_cache_seconds=30)
    by_id = [LeadJob(ScoreRequest(lead_id=i, as_of=AS_OF.to_pydatetime())) for i in ids]
    inline = [LeadJob(ScoreRequest.model_validate(score_request_from_tables(tables, i, AS_OF)))
              for i in ids]
    stored = scorer.build_features(scorer.fetch_contexts(by_id))
    sent = scorer.build_features(inline)
    pd.testing.assert_frame_equal(stored.drop(columns="lead_id"), sent.drop(columns="lead_id"))
    answers = [a.model_dump(exclude={"warnings"}) for a in scorer.score_leads(by_id)]
    assert answers == [a.model_dump(exclude={"warnings"}) for a in scorer.score_leads(inline)]


def test_stored_times_in_any_iso_form_are_read_as_utc() -> None:
    from datetime import datetime, timedelta, timezone

    from serving.lookups import _microseconds

    expected = pd.Timestamp("2024-10-20T01:02:35.5Z").value // 1000
    forms = ["2024-10-20 01:02:35.500000", "2024-10-20T10:02:35.5+09:00",
             datetime(2024, 10, 20, 10, 2, 35, 500000, tzinfo=timezone(timedelta(hours=9)))]
    for form in forms:
        assert _microseconds([form]).tolist() == [expected], form
    assert _microseconds(forms[:2]).tolist() == [expected, expected]
