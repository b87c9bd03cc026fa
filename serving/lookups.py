"""Store access for the service: look-ups of leads and deals given by id, idempotent ingest.

A lead given by id is read by ``LeadReader``: a few indexed SQL queries through SQLAlchemy Core
(the lead by its key, its account by key, the account's other leads by
``ix_leads_account_id``, their activities by ``ix_activities_lead_id`` /
``ix_activities_account_id``) that give plain records and arrays, no pandas, and a short-lived
cache of what was read (``LEADSCORE_SERVING_LEAD_CACHE_SECONDS``) that ``/events`` invalidates
for the leads and accounts it touches. For a lead it fetches everything its features need: the
lead, its account, the other leads of the account (account lead counts) and the activities of
the lead and of every contact of the account (account roll-up features). Deals are looked up
with one query per table and returned as canonical frames.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa
from cachetools import TTLCache

from crm import schema
from crm.store import CRMStore
from crm.timestamps import parse_utc, to_utc_series
from features.activities import AccountLeads, LeadEvents, type_code

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadContext:
    """A lead's stored records as plain values: the lead and account records (typed values,
    UTC timestamps, None for missing; None when not stored), the other leads of the account
    and the activities of the lead and of the account's contacts."""

    lead: dict[str, Any] | None
    account: dict[str, Any] | None
    account_leads: AccountLeads
    activities: LeadEvents


def _read_in(store: CRMStore, table: str, column: str, values: Iterable[str]) -> pd.DataFrame:
    values = sorted({v for v in values if isinstance(v, str)})
    if not values:
        return schema.empty_frame(table)
    return store.read_table(table, where=store.table(table).c[column].in_(values))


def _read_activities(store: CRMStore, lead_ids: set[str], account_ids: set[str]) -> pd.DataFrame:
    table = store.table("activities")
    clauses = []
    if lead_ids:
        clauses.append(table.c.lead_id.in_(sorted(lead_ids)))
    if account_ids:
        clauses.append(table.c.account_id.in_(sorted(account_ids)))
    if not clauses:
        return schema.empty_frame("activities")
    return store.read_table("activities", where=sa.or_(*clauses))


def _utc(value: object, name: str) -> pd.Timestamp | None:
    """A stored time as a UTC Timestamp (SQLite gives naive UTC, PostgreSQL aware values)."""
    return None if value is None else parse_utc(value, name)


def _record(row: sa.Row, spec: schema.TableSpec) -> dict[str, Any]:
    """A stored row as a canonical record: the schema's columns, typed, None for missing."""
    values = row._mapping
    return {column.name: (_utc(values[column.name], f"{spec.name}.{column.name}")
                          if column.kind == "datetime" else values[column.name])
            for column in spec.columns}


def _microseconds(values: Iterable[str | datetime]) -> np.ndarray:
    """UTC µs of stored times: SQLite's UTC text (read as text, parsed by numpy at once) or
    PostgreSQL's timezone-aware datetimes. Text with an offset (a store written by another
    tool) goes through pandas' ISO 8601 parser instead."""
    values = [v if isinstance(v, str) or v.tzinfo is None
              else v.astimezone(timezone.utc).replace(tzinfo=None) for v in values]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy only warns about an offset it drops
            return np.array(values, dtype="datetime64[us]").astype(np.int64)
    except (ValueError, UserWarning):
        stamps = to_utc_series(pd.Series(values, dtype=object), format="ISO8601")
        return stamps.astype("int64").to_numpy()


def _events(rows: list[sa.Row]) -> LeadEvents:
    """Activity rows (``occurred_at``, ``type``, ``lead_id``, ``account_id``) as arrays."""
    if not rows:
        return LeadEvents.concat([])
    times, kinds, leads, accounts = zip(*rows)
    return LeadEvents(_microseconds(times),
                      np.fromiter(map(type_code, kinds), dtype=np.int8, count=len(kinds)),
                      np.array(leads, dtype=object), np.array(accounts, dtype=object))


class LeadQueries:
    """The single-lead look-ups as statements built once (bound parameters), each answered
    by an index: the lead and the account by key, the account's other leads by
    ``ix_leads_account_id``, activities by ``ix_activities_lead_id`` and
    ``ix_activities_account_id``. Times are read as stored and converted by numpy at once."""

    def __init__(self, store: CRMStore):
        self.store = store
        self._schema_checked = False  # tables are created on the first read (empty store)
        leads, accounts, acts = (store.table(n) for n in ("leads", "accounts", "activities"))
        lead_id, account_id = sa.bindparam("lead_id"), sa.bindparam("account_id")
        events = sa.select(sa.type_coerce(acts.c.occurred_at, sa.String), acts.c.type,
                           acts.c.lead_id, acts.c.account_id)
        self.lead = sa.select(leads).where(leads.c.lead_id == lead_id)
        self.account = sa.select(accounts).where(accounts.c.account_id == account_id)
        self.colleagues = sa.select(
            leads.c.lead_id, leads.c.account_id, sa.type_coerce(leads.c.created_at, sa.String)
        ).where(leads.c.account_id == account_id, leads.c.lead_id != lead_id)
        self.own_events = events.where(acts.c.lead_id == lead_id)
        self.account_events = events.where(sa.or_(
            acts.c.lead_id.in_(sa.bindparam("contacts", expanding=True)),
            acts.c.account_id == account_id))

    def read(self, lead_id: str, account_id: str | None = None) -> LeadContext:
        """The stored context of one lead (``lead`` None for an id not in the store).

        Args:
            lead_id: the lead to look up.
            account_id: the account to use instead of the stored one (an inline company).
        """
        if not self._schema_checked:
            self.store.create_schema()
            self._schema_checked = True
        with self.store.engine.connect() as conn:
            row = conn.execute(self.lead, {"lead_id": lead_id}).first()
            lead = None if row is None else _record(row, schema.LEADS)
            account_id = account_id or (lead or {}).get("account_id")
            if account_id is None:
                rows = conn.execute(self.own_events, {"lead_id": lead_id}).all()
                return LeadContext(lead, None, AccountLeads([], [], []), _events(rows))
            ids = {"lead_id": lead_id, "account_id": account_id}
            row = conn.execute(self.account, ids).first()
            others = conn.execute(self.colleagues, ids).all()
            rows = conn.execute(self.account_events, {
                **ids, "contacts": [lead_id, *(other[0] for other in others)]}).all()
        colleagues = AccountLeads([o[0] for o in others], [o[1] for o in others],
                                  _microseconds(o[2] for o in others).tolist())
        return LeadContext(lead, None if row is None else _record(row, schema.ACCOUNTS),
                           colleagues, _events(rows))


class LeadReader:
    """``LeadQueries.read`` with a short-lived cache, invalidated by stored events.

    An entry is answered while it is younger than ``ttl_seconds`` and no event of its lead,
    of a colleague or of its account was stored after it was read (``forget``). With
    ``ttl_seconds`` 0 every look-up reads the store.

    Args:
        store: the CRM store.
        ttl_seconds: how long a context is reused (0: no cache).
        max_leads: most contexts kept (least recently used beyond that are dropped).
        clock: monotonic seconds (tests).
    """

    def __init__(self, store: CRMStore, ttl_seconds: float = 0.0, max_leads: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.queries, self.ttl = LeadQueries(store), ttl_seconds
        self._clock = clock
        self._cache: TTLCache | None = (TTLCache(max_leads, ttl_seconds, timer=clock)
                                        if ttl_seconds > 0 else None)
        self._touched: dict[str, float] = {}  # lead or account id -> when an event was stored
        self._lock = threading.Lock()

    def read(self, lead_id: str, account_id: str | None = None) -> LeadContext:
        """The stored context of ``lead_id`` (see ``LeadQueries.read``)."""
        key = (lead_id, account_id)
        if self._cache is not None:
            with self._lock:
                entry = self._cache.get(key)
                if entry is not None and not self._stale(*entry):
                    return entry[1]
        read_at = self._clock()  # before the read: an event stored meanwhile makes it stale
        context = self.queries.read(lead_id, account_id)
        if self._cache is not None:
            with self._lock:
                self._cache[key] = (read_at, context, _subjects(lead_id, context))
        return context

    def _stale(self, read_at: float, context: LeadContext, subjects: tuple[str, ...]) -> bool:
        return any(self._touched.get(subject, -1.0) >= read_at for subject in subjects)

    def forget(self, lead_ids: Iterable[object], account_ids: Iterable[object]) -> None:
        """Mark the contexts that include these leads or accounts as stale (call after
        events were stored)."""
        if self._cache is None:
            return
        now = self._clock()
        with self._lock:
            for subject in (*lead_ids, *account_ids):
                if isinstance(subject, str):
                    self._touched[subject] = now
            if len(self._touched) > 4 * self._cache.maxsize:  # marks older than the TTL
                self._touched = {k: t for k, t in self._touched.items() if now - t <= self.ttl}


def _subjects(lead_id: str, context: LeadContext) -> tuple[str, ...]:
    """Ids whose new events change ``context``: the lead, its colleagues, its account."""
    account = [context.account["account_id"]] if context.account else []
    return (lead_id, *context.account_leads.ids, *account, *(
        a for a in set(context.activities.accounts.tolist()) if isinstance(a, str)))


@dataclass(frozen=True)
class DealContext:
    """A deal's stored records for the win features."""

    opportunity: pd.Series | None
    history: pd.DataFrame
    owner_deals: pd.DataFrame
    account_leads: pd.DataFrame
    activities: pd.DataFrame


def fetch_deal_context(store: CRMStore, opportunity_id: str | None, owner: str | None,
                       account_id: str | None) -> DealContext:
    """Stored deal (if ``opportunity_id`` is known), its history, the owner's other deals and
    the account's leads and activities. ``owner`` / ``account_id`` override the stored ones."""
    deals = _read_in(store, "opportunities", "opportunity_id", [opportunity_id or ""])
    deal = deals.iloc[0] if len(deals) else None
    if deal is not None:
        owner = owner or _text(deal["owner"])
        account_id = account_id or _text(deal["account_id"])
    history = _read_in(store, "opportunity_stage_history", "opportunity_id",
                       [opportunity_id or ""])
    owner_deals = _read_in(store, "opportunities", "owner", [owner or ""])
    owner_deals = owner_deals[owner_deals["opportunity_id"] != opportunity_id]
    account_leads = _read_in(store, "leads", "account_id", [account_id or ""])
    activities = _read_activities(store, set(account_leads["lead_id"]),
                                  {account_id} if account_id else set())
    return DealContext(deal, history, owner_deals.reset_index(drop=True), account_leads,
                       activities)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def ingest_events(store: CRMStore, events: pd.DataFrame) -> int:
    """Store the activities whose ``event_id`` is new; return how many were inserted.

    Repeated ids within ``events`` keep their first row. A concurrent ingest of the same ids
    can make the insert collide; it is retried once (the retry skips the ids stored meanwhile).
    """
    events = events.drop_duplicates("event_id", keep="first").reset_index(drop=True)
    try:
        inserted = store.insert_new("activities", events)
    except sa.exc.IntegrityError:
        logger.info("event ingest collided with a concurrent one; retrying once")
        inserted = store.insert_new("activities", events)
    logger.info("ingested %d new of %d events", inserted, len(events))
    return inserted


def find_unknown_leads(store: CRMStore, events: pd.DataFrame) -> list[int]:
    """Positions of the ``events`` rows whose ``lead_id`` is not a stored lead."""
    wanted = events["lead_id"].dropna()
    if wanted.empty:
        return []
    known = set(_read_in(store, "leads", "lead_id", wanted)["lead_id"])
    return [i for i, lead in enumerate(events["lead_id"]) if isinstance(lead, str)
            and lead not in known]


def find_conflicts(store: CRMStore, events: pd.DataFrame) -> list[str]:
    """``event_id`` values already stored with another type, time or subject (a re-sent id
    that is not the same event; ingest keeps the stored one)."""
    stored = _read_in(store, "activities", "event_id", events["event_id"])
    if stored.empty:
        return []
    columns = ["event_id", "type", "occurred_at", "lead_id", "account_id"]
    both = events[columns].merge(stored[columns], on="event_id", suffixes=("", "_stored"))
    differs = np.zeros(len(both), dtype=bool)
    for column in columns[1:]:
        new, old = both[column], both[f"{column}_stored"]
        differs |= ~((new == old).fillna(False).to_numpy(dtype=bool)
                     | (new.isna() & old.isna()).to_numpy())
    return sorted(set(both.loc[differs, "event_id"]))
