"""Assembling the canonical frames (``crm.schema``) from the simulated arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm import schema
from crm.sample.accounts import _Accounts
from crm.sample.calendar import _DAY_US, _Calendar
from crm.sample.deals import _Deals
from crm.sample.leads import _People
from crm.sample.simulate import _Fates
from crm.sample.story import (
    ACCOUNT_EXECUTIVES_GLOBAL,
    ACCOUNT_EXECUTIVES_JP,
    COUNTRIES,
    COUNTRY_REGION,
    INDUSTRIES,
    INSIDE_SALES_GLOBAL,
    INSIDE_SALES_JP,
    LOSS_REASONS,
    PRODUCTS,
    SENIORITY_LEVELS,
    STAGES,
    USD_JPY,
)
from crm.sample.streams import _Streams
from crm.sample.strings import _cat, _null_where, _pa
from crm.sample.vocabulary import _STATUS, _T, _TYPE_CHANNEL, CHANNELS, _Vocabulary


def _ids(prefix: str, first: int, count: int, width: int) -> pa.Array:
    """prefix + zero-padded numbers first, first+1, ... (``count`` of them)."""
    numbers = pa.array(np.arange(first, first + count)).cast(pa.string())
    return _cat(prefix, pc.utf8_lpad(numbers, width, "0"))


def _text(values: object, codes: np.ndarray | None = None) -> pd.api.extensions.ExtensionArray:
    """A ``str`` array from pyarrow strings, or from codes into ``values`` (-1 = missing)."""
    if codes is None:
        return pd.array(values, dtype="str")
    codes = np.asarray(codes, dtype=np.int64)
    return pd.array(pc.take(_pa(values), pa.array(codes, mask=codes < 0)), dtype="str")


def _stamps(days: np.ndarray, end: float) -> pd.api.extensions.ExtensionArray:
    """float days -> datetime64[us, UTC]; anything after ``end`` (or inf) becomes NaT."""
    ok = np.isfinite(days) & (days <= end)
    us = np.where(ok, np.round(np.where(ok, days, 0.0) * _DAY_US), 0).astype(np.int64)
    values = us.view("M8[us]").copy()
    values[~ok] = np.datetime64("NaT")
    return pd.array(pd.DatetimeIndex(values).tz_localize("UTC"), dtype=schema.TIMESTAMP_DTYPE)


def _ints(values: np.ndarray, present: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.IntegerArray(values.astype(np.int64), ~present)


def _id_width(n: int) -> int:
    return max(7, len(str(n)))


def _activities_frame(events: tuple[np.ndarray, ...], people: _People, ids: _Ids,
                      vocab: _Vocabulary, cal: _Calendar, start: int, offset: int,
                      st: _Streams) -> pd.DataFrame:
    """One chunk's events as canonical rows, ordered by (lead, time, type); ids continue."""
    lead, t, kind, channel, prop = events
    keep = t <= cal.end
    lead, t, kind, channel, prop = lead[keep], t[keep], kind[keep], channel[keep], prop[keep]
    order = np.lexsort((kind, t, lead))
    lead, t, kind, channel, prop = lead[order], t[order], kind[order], channel[order], prop[order]
    glead = lead + start
    account = people.account[glead]
    anonymous = (kind == _T["page_view"]) & (account >= 0) & st.bern(lead, 0.03)
    default = np.array([CHANNELS.index(_TYPE_CHANNEL[k]) for k in schema.ACTIVITY_TYPES])
    channel = np.where(channel < 0, default[kind], channel)
    event_ids = _ids("E", offset + 1, len(t), 10)
    return pd.DataFrame({
        "event_id": _text(event_ids),
        "lead_id": _text(ids.lead, np.where(anonymous, -1, glead)),
        "account_id": _text(ids.account, account),
        "occurred_at": _stamps(t, cal.end),
        "type": _text(schema.ACTIVITY_TYPES, kind.astype(np.int64)),
        "channel": _text(CHANNELS, channel.astype(np.int64)),
        "properties": _text(vocab.texts, prop.astype(np.int64)),
    })


@dataclass(frozen=True)
class _Ids:
    lead: pa.Array
    account: pa.Array

    @classmethod
    def build(cls, n_leads: int, n_accounts: int) -> _Ids:
        return cls(_ids("L", 1, n_leads, _id_width(n_leads)), _ids("A", 1, n_accounts, 6))


def _bools(values: np.ndarray, present: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return pd.arrays.BooleanArray(values.astype(bool), ~present)


def _accounts_frame(accounts: _Accounts, ids: _Ids) -> pd.DataFrame:
    shown = accounts.shown
    return pd.DataFrame({
        "account_id": _text(ids.account),
        "name": _text(accounts.name),
        "domain": _text(_null_where(~shown["domain"], accounts.domain)),
        "industry": _text(INDUSTRIES, np.where(shown["industry"], accounts.industry, -1)),
        "employees": _ints(accounts.employees, shown["employees"]),
        "annual_revenue": np.where(shown["annual_revenue"], accounts.revenue, np.nan),
        "country": _text(COUNTRIES, accounts.country),
        "region": _text(COUNTRY_REGION, accounts.country),
        "founded_year": _ints(accounts.founded, shown["founded_year"]),
    })


def _lead_status(people: _People, fates: _Fates, end: float) -> np.ndarray:
    """The status of the latest transition up to ``end``; old untouched leads are nurturing."""
    steps = (("new", people.created), ("mql", fates.mql), ("sql", fates.sql),
             ("disqualified", fates.disqualified), ("recycled", fates.recycled),
             ("converted", fates.converted))
    times = np.stack([t for _, t in steps])
    times = np.where(times <= end, times, -np.inf)
    latest = len(steps) - 1 - np.argmax(times[::-1], axis=0)
    status = np.array([_STATUS[name] for name, _ in steps])[latest]
    stale = (status == _STATUS["new"]) & (people.created < end - 30.0)
    return np.where(stale, _STATUS["nurturing"], status)


def _leads_frame(people: _People, fates: _Fates, ids: _Ids, vocab: _Vocabulary,
                 end: float) -> pd.DataFrame:
    owner = np.where(~fates.worked & people.blank_owner, -1, people.owner)
    frame = {
        "lead_id": _text(ids.lead),
        "account_id": _text(ids.account, people.account),
        **{col: _text(people.text[col]) for col in ("email", "name", "job_title",
                                                    "department")},
        "source": _text(schema.LEAD_SOURCES, people.source),
        "owner": _text(INSIDE_SALES_JP + INSIDE_SALES_GLOBAL, owner),
        "created_at": _stamps(people.created, end),
        "status": _text(schema.LEAD_STATUSES, _lead_status(people, fates, end)),
        "mql_at": _stamps(fates.mql, end),
        "sql_at": _stamps(fates.sql, end),
        "disqualified_at": _stamps(fates.disqualified, end),
        "recycled_at": _stamps(fates.recycled, end),
    }
    for element in ("budget", "authority", "need"):
        at = getattr(fates, f"{element}_at")
        frame[element] = _bools(getattr(people, element), at <= end)
        frame[f"{element}_confirmed_at"] = _stamps(at, end)
    frame["timeline_months"] = np.where(fates.timeline_at <= end, people.timeline, np.nan)
    frame["timeline_confirmed_at"] = _stamps(fates.timeline_at, end)
    frame["attributes"] = _text(vocab.texts, people.attributes)
    return pd.DataFrame(frame)


def _to_currency(usd: np.ndarray, japan: np.ndarray) -> np.ndarray:
    return np.where(japan, np.round(usd * USD_JPY, -3), np.round(usd, -2))


def _deal_tables(batches: list[_Deals], ids: _Ids,
                 end: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Opportunities (current state at ``end``) and their change history."""
    opps, history = [], []
    direct_count = 0
    for deals in batches:
        if np.all(deals.lead < 0):
            opp_ids = _ids("OPP-D", direct_count + 1, len(deals.lead), 6)
            direct_count += len(deals.lead)
        else:
            opp_ids = _cat("OPP-", ids.lead.take(pa.array(deals.lead)))
        o, h = _deal_frames(deals, opp_ids, ids, end)
        opps.append(o)
        history.append(h)
    return pd.concat(opps, ignore_index=True), pd.concat(history, ignore_index=True)


def _deal_frames(deals: _Deals, opp_ids: pa.Array, ids: _Ids,
                 end: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(deals.created)
    last = np.flatnonzero(np.r_[deals.h_deal[1:] != deals.h_deal[:-1], True]) if n else \
        np.zeros(0, dtype=np.int64)
    if len(last) != n:
        raise RuntimeError("internal error: a deal has no history row")
    closed = deals.close <= end
    outcome = np.where(closed, np.where(deals.won, 1, 2), 0)
    all_deals = np.arange(n)
    opportunities = pd.DataFrame({
        "opportunity_id": _text(opp_ids),
        "account_id": _text(ids.account, deals.account),
        "lead_id": _text(ids.lead, deals.lead),
        "owner": _text(ACCOUNT_EXECUTIVES_JP + ACCOUNT_EXECUTIVES_GLOBAL, deals.executive),
        "product": _text(PRODUCTS, deals.product),
        "amount": _to_currency(deals.h_amount[last], deals.japan),
        "currency": _text(("USD", "JPY"), deals.japan.astype(np.int64)),
        "created_at": _stamps(deals.created, end),
        "stage": _text(STAGES, deals.h_stage[last]),
        "expected_close_date": _stamps(deals.h_ecd[last], np.inf),
        "closed_at": _stamps(np.where(closed, deals.close, np.inf), end),
        "outcome": _text(schema.OUTCOMES, outcome),
        "loss_reason": _text(LOSS_REASONS, np.where(outcome == 2, deals.loss_reason, -1)),
    })
    del all_deals
    history = pd.DataFrame({
        "opportunity_id": _text(opp_ids, deals.h_deal),
        "stage": _text(STAGES, deals.h_stage),
        "entered_at": _stamps(deals.h_time, end),
        "amount": _to_currency(deals.h_amount, deals.japan[deals.h_deal]),
        "expected_close_date": _stamps(deals.h_ecd, np.inf),
    })
    return opportunities, history


def _ground_truth_frame(people: _People, ids: _Ids) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": _text(ids.lead),
        "icp_fit": pd.array(people.icp, dtype="boolean"),
        "seniority_level": _text(SENIORITY_LEVELS, people.seniority),
        "latent_interest": people.z.astype(float),
        "p_sql": people.p_sql.astype(float),
        "duplicate_of": _text(ids.lead, people.dup_of),
    })
