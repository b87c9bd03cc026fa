"""One chunk of leads simulated after creation (marketing, sales, deals) and the fates it
records per lead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from crm.sample.accounts import _Accounts
from crm.sample.calendar import _NEVER, _Calendar
from crm.sample.config import GeneratorConfig
from crm.sample.deals import _Deals, _work_deals
from crm.sample.events import _add_intent_ramp, _add_marketing_events, _EventLog, _first_mql
from crm.sample.leads import _People
from crm.sample.sales import _work_leads
from crm.sample.streams import _Streams
from crm.sample.vocabulary import _Vocabulary


@dataclass
class _Fates:
    """What happened to each lead (float days; inf = never). Filled chunk by chunk."""

    mql: np.ndarray
    sql: np.ndarray
    disqualified: np.ndarray
    recycled: np.ndarray
    converted: np.ndarray
    budget_at: np.ndarray
    authority_at: np.ndarray
    need_at: np.ndarray
    timeline_at: np.ndarray
    worked: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Fates:
        never = {f.name: np.full(n, _NEVER) for f in fields(cls) if f.name != "worked"}
        return cls(worked=np.zeros(n, dtype=bool), **never)

    def store(self, start: int, values: dict[str, np.ndarray]) -> None:
        for name, arr in values.items():
            getattr(self, name)[start:start + len(arr)] = arr


@dataclass
class _ChunkResult:
    events: tuple[np.ndarray, ...]
    deals: _Deals
    streams: _Streams


def _simulate_chunk(config: GeneratorConfig, cal: _Calendar, vocab: _Vocabulary,
                    accounts: _Accounts, people: _People, fates: _Fates, start: int,
                    stop: int) -> _ChunkResult:
    p = people.take(start, stop)
    st = _Streams.for_chunk(config.seed, start, stop)
    log = _EventLog()
    scale = config.activities_per_lead / 20.0
    _add_marketing_events(log, p, st, cal, vocab, scale)
    leads = np.arange(stop - start)
    sql90_at = np.where(p.sql90, p.created + p.sql_delay, _NEVER)
    _add_intent_ramp(log, p, st, vocab, leads[p.sql90], sql90_at[p.sql90], p.created[p.sql90])
    mql = _first_mql(log, p)
    work = _work_leads(log, p, st, cal, vocab, mql, sql90_at)
    deals = _work_deals(log, p, st, cal, vocab, accounts, work, start)
    fates.store(start, {"mql": mql, **work})
    return _ChunkResult(log.arrays(), deals, st)
