"""Store access for the service: look-ups of leads and deals given by id, idempotent ingest.

Look-ups are batched (one query per table for a whole micro-batch) and return canonical
frames. For a lead they fetch everything its features need: the lead, its account, the other
leads of the account (account lead counts) and the activities of the lead and of every contact
of the account (account roll-up features).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crm import schema
from crm.store import CRMStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadContext:
    """A lead's stored records: the lead row, its account row (if any), the other leads of the
    account and the activities of the lead and of the account's contacts (canonical frames)."""

    lead: pd.Series | None
    account: pd.Series | None
    account_leads: pd.DataFrame
    activities: pd.DataFrame


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


def fetch_lead_contexts(store: CRMStore, lead_ids: list[str],
                        account_ids: dict[str, str | None] | None = None
                        ) -> dict[str, LeadContext]:
    """Stored context of each lead id (``lead`` is None for ids not in the store).

    Args:
        store: the CRM store.
        lead_ids: leads to look up.
        account_ids: account to use per lead id instead of the stored one (inline companies).
    """
    leads = _read_in(store, "leads", "lead_id", lead_ids)
    by_id = {leads["lead_id"].iloc[i]: leads.iloc[i] for i in range(len(leads))}
    accounts_of = {lid: (account_ids or {}).get(lid) or
                   (by_id[lid]["account_id"] if lid in by_id else None) for lid in lead_ids}
    wanted = {a for a in accounts_of.values() if isinstance(a, str)}
    accounts = _read_in(store, "accounts", "account_id", wanted)
    account_leads = _read_in(store, "leads", "account_id", wanted)
    activities = _read_activities(store, set(lead_ids) | set(account_leads["lead_id"]), wanted)
    index = _Positions(accounts, account_leads, activities)
    return {lid: index.context(lid, by_id.get(lid), accounts_of[lid]) for lid in lead_ids}


class _Positions:
    """Row positions of the fetched frames by lead and by account, to split them per lead."""

    def __init__(self, accounts: pd.DataFrame, account_leads: pd.DataFrame,
                 activities: pd.DataFrame):
        self.accounts, self.account_leads, self.activities = accounts, account_leads, activities
        self.account_row = {a: i for i, a in enumerate(accounts["account_id"])}
        self.leads_of_account = account_leads.groupby("account_id").indices
        self.acts_of_lead = activities.groupby("lead_id").indices
        self.acts_of_account = activities.groupby("account_id").indices

    def context(self, lead_id: str, lead: pd.Series | None,
                account_id: str | None) -> LeadContext:
        empty = np.empty(0, dtype=np.int64)
        if not isinstance(account_id, str):
            rows = self.acts_of_lead.get(lead_id, empty)
            return LeadContext(lead, None, schema.empty_frame("leads"), self._take(rows))
        colleagues = self.leads_of_account.get(account_id, empty)
        colleagues = colleagues[self.account_leads["lead_id"].to_numpy()[colleagues] != lead_id]
        contacts = {lead_id, *self.account_leads["lead_id"].to_numpy()[colleagues]}
        rows = np.unique(np.concatenate(
            [self.acts_of_account.get(account_id, empty)]
            + [self.acts_of_lead.get(c, empty) for c in contacts]).astype(np.int64))
        row = self.account_row.get(account_id)
        return LeadContext(lead, None if row is None else self.accounts.iloc[row],
                           self.account_leads.take(colleagues).reset_index(drop=True),
                           self._take(rows))

    def _take(self, rows: np.ndarray) -> pd.DataFrame:
        return self.activities.take(np.sort(rows)).reset_index(drop=True)


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
