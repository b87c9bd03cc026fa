"""Opportunities: SQLs that become deals, direct (account-based) deals, their stage path,
amounts, slipping close dates and every change as history rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crm.sample.accounts import _Accounts
from crm.sample.calendar import (
    _NEVER,
    _at_local_hour,
    _business_time,
    _Calendar,
    _month_index,
    _month_last_day,
)
from crm.sample.config import GeneratorConfig
from crm.sample.events import _EventLog
from crm.sample.leads import _People
from crm.sample.story import (
    ACCOUNT_EXECUTIVES_JP,
    CLOSE_MEDIAN_DAYS,
    COUNTRY_REGION,
    LOSS_REASONS,
    LOST_AT_STAGE_P,
    MONTH_END_PUSH_P,
    PRODUCT_BASE_USD,
    QUARTER_END_PUSH_P,
    UTC_OFFSET_HOURS,
    WIN_COEF,
    _icp_rule,
    _sigmoid,
)
from crm.sample.streams import _Streams
from crm.sample.vocabulary import _T, _Vocabulary

_MAX_PUSHES = 12


@dataclass
class _Deals:
    """Simulated deals (times in days) and every change to them (history rows)."""

    created: np.ndarray
    product: np.ndarray
    japan: np.ndarray
    won: np.ndarray
    close: np.ndarray
    loss_reason: np.ndarray
    executive: np.ndarray
    lead: np.ndarray            # global lead index (-1: direct deal)
    account: np.ndarray         # account index (-1: none)
    h_deal: np.ndarray
    h_time: np.ndarray
    h_stage: np.ndarray
    h_amount: np.ndarray        # USD
    h_ecd: np.ndarray


def _simulate_deals(st: _Streams, owner: np.ndarray, created: np.ndarray, icp: np.ndarray,
                    z: np.ndarray, employees: np.ndarray, japan: np.ndarray,
                    end: float) -> _Deals:
    """Deals from creation to won/lost: amounts, stage path, slipping close dates.

    ``owner`` is the chunk-local lead index of each deal (sorted), used for the random draws.
    """
    size = np.where(employees < 100, 0, np.where(employees < 1000, 1, 2))
    product = np.choose(size, [
        st.cat(owner, (0.60, 0.35, 0.05)), st.cat(owner, (0.25, 0.55, 0.20)),
        st.cat(owner, (0.05, 0.45, 0.50))])
    amount = np.take(PRODUCT_BASE_USD, product) * np.exp(
        0.15 * np.log(np.clip(employees, 10, 1e5) / 300.0) + st.normal(owner, 0.0, 0.45))
    w0, w_icp, w_z, w_amount = WIN_COEF
    won = st.bern(owner, _sigmoid(w0 + w_icp * icp + w_z * z + w_amount * np.log(amount / 24e3)))
    reached = np.where(won, 3, st.cat(owner, LOST_AT_STAGE_P))
    cycle = np.exp(st.normal(owner, math.log(CLOSE_MEDIAN_DAYS) + 0.2 * np.log(amount / 24e3),
                             0.5))
    frac = st.gamma(np.repeat(owner, 4), 2.0).reshape(-1, 4)
    frac /= frac.sum(axis=1, keepdims=True)
    entry = created[:, None] + cycle[:, None] * np.cumsum(
        np.concatenate([np.zeros((len(owner), 1)), frac[:, :3]], axis=1), axis=1)
    rows = np.arange(len(owner))
    lost_close = entry[rows, reached] + cycle * frac[rows, reached] * st.uniform(owner, 0.5, 2.0)
    close = _push_close(st, owner, np.where(won, created + cycle, lost_close), won)
    history = _deal_history(st, owner, created, amount, cycle, entry, reached, won, close, end)
    reason = st.cat(owner, (0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.1))
    reason = np.where(~icp & st.bern(owner, 0.3), LOSS_REASONS.index("product_fit"), reason)
    executive = np.where(japan, st.pick(owner, len(ACCOUNT_EXECUTIVES_JP)),
                         len(ACCOUNT_EXECUTIVES_JP) + st.pick(owner, 2))
    none = np.full(len(owner), -1)
    return _Deals(created, product, japan, won, close, reason, executive, none, none, *history)


def _push_close(st: _Streams, owner: np.ndarray, close: np.ndarray,
                won: np.ndarray) -> np.ndarray:
    """Month-end push (close in the month's last 5 days) and quarter-end slips of won deals."""
    month = _month_index(close) % 12
    to_quarter_end = 2 - month % 3
    quarter = won & (to_quarter_end > 0) & st.bern(owner, QUARTER_END_PUSH_P)
    push = st.bern(owner, np.where(won, MONTH_END_PUSH_P[0], MONTH_END_PUSH_P[1])) | quarter
    target = (_month_last_day(close, np.where(quarter, to_quarter_end, 0))
              - st.pick(owner, 5) + st.uniform(owner, 0.25, 0.45))
    return np.where(push & (target > close), target, close)


def _deal_history(st: _Streams, owner: np.ndarray, created: np.ndarray, amount: np.ndarray,
                  cycle: np.ndarray, entry: np.ndarray, reached: np.ndarray, won: np.ndarray,
                  close: np.ndarray, end: float) -> tuple[np.ndarray, ...]:
    """Rows (deal, time, stage, amount, ecd); -1 / NaN = unchanged, forward-filled per deal."""
    n = len(owner)
    deals = np.arange(n)
    ecd0 = _month_last_day(created + cycle * np.exp(st.normal(owner, -0.25, 0.3)))
    rows = [(deals, created, np.zeros(n), amount, ecd0)]
    scoped = np.where(st.bern(owner, 0.2), np.exp(st.normal(owner, 0.05, 0.2)), 1.0)
    discount = np.where(st.bern(owner, 0.4), st.uniform(owner, 0.8, 0.97), 1.0)
    changes = {1: np.nan, 2: amount * scoped, 3: amount * scoped * discount}
    for k in (1, 2, 3):
        d = deals[reached >= k]
        change = changes[k] if k == 1 else changes[k][d]
        rows.append((d, entry[d, k], np.full(len(d), k), np.broadcast_to(change, (len(d),)),
                     np.full(len(d), np.nan)))
    rows += _regressions(st, owner, deals, entry, reached, close)
    rows += _close_date_pushes(st, owner, ecd0, np.minimum(close, end))
    rows.append((deals, close, np.where(won, 4, 5), np.full(n, np.nan), np.floor(close)))
    return _forward_fill(rows, end)


def _regressions(st: _Streams, owner: np.ndarray, deals: np.ndarray, entry: np.ndarray,
                 reached: np.ndarray, close: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """10% of deals that reach proposal fall back to qualification, then return to proposal."""
    hit = (reached >= 2) & st.bern(owner, 0.1)
    d = deals[hit]
    seg_end = np.where(reached[d] > 2, entry[d, 3], close[d])
    back = entry[d, 2] + (seg_end - entry[d, 2]) * st.uniform(owner[hit], 0.2, 0.5)
    again = back + (seg_end - back) * st.uniform(owner[hit], 0.3, 0.7)
    blank = np.full(len(d), np.nan)
    return [(d, back, np.full(len(d), 1), blank, blank),
            (d, again, np.full(len(d), 2), blank, blank)]


def _close_date_pushes(st: _Streams, owner: np.ndarray, ecd0: np.ndarray,
                       stop: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """When the expected close date passes with the deal still open, it moves 1-2 months on."""
    ecd, rows = ecd0.copy(), []
    for _ in range(_MAX_PUSHES):
        d = np.flatnonzero(ecd + 1.0 < stop)
        when = ecd[d] + 1.0 + st.uniform(owner[d], 0.3, 0.7)
        d, when = d[when < stop[d]], when[when < stop[d]]
        new = _month_last_day(ecd[d] + 1.0, np.where(st.bern(owner[d], 0.2), 1, 0))
        blank = np.full(len(d), np.nan)
        rows.append((d, when, np.full(len(d), -1), blank, new))
        ecd[d] = new
    return rows


def _forward_fill(rows: list[tuple[np.ndarray, ...]], end: float) -> tuple[np.ndarray, ...]:
    deal, t, stage, amount, ecd = (np.concatenate(col) for col in zip(*rows))
    seq = np.concatenate([np.full(len(r[0]), i) for i, r in enumerate(rows)])
    order = np.lexsort((seq, t, deal))
    deal, t, stage, amount, ecd = deal[order], t[order], stage[order], amount[order], ecd[order]
    positions = np.arange(len(deal))
    for values, unchanged in ((stage, stage < 0), (amount, np.isnan(amount)),
                              (ecd, np.isnan(ecd))):
        source = np.maximum.accumulate(np.where(unchanged, 0, positions))
        values[:] = values[source]
    keep = t <= end
    return deal[keep], t[keep], stage[keep].astype(np.int64), amount[keep], ecd[keep]


def _work_deals(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
                accounts: _Accounts, work: dict[str, np.ndarray], start: int) -> _Deals:
    """SQLs become deals (90%) or go back to nurture; lost deals recycle or disqualify."""
    leads = np.arange(len(p.created))
    sql = work["sql"]
    accepted = st.bern(leads, 0.9)
    opened_at = sql + st.gamma(leads, 2.0, 1.5)
    rejected = leads[(sql <= cal.end) & ~accepted]
    work["recycled"][rejected] = sql[rejected] + st.uniform(rejected, 3.0, 20.0)
    lead = leads[(opened_at <= cal.end) & accepted]
    acc = np.maximum(p.account[lead], 0)
    has = p.account[lead] >= 0
    deals = _simulate_deals(st, lead, opened_at[lead], p.icp[lead], p.z[lead],
                            np.where(has, accounts.employees[acc], 10.0),
                            np.where(has, accounts.country[acc] == 0, p.ja[lead]), cal.end)
    work["converted"] = np.full(len(leads), _NEVER)
    work["converted"][lead[deals.won]] = deals.close[deals.won]
    lost = lead[~deals.won]
    after = st.cat(lost, (0.55, 0.25, 0.20))
    work["recycled"][lost[after == 0]] = (deals.close[~deals.won][after == 0]
                                         + st.uniform(lost[after == 0], 1.0, 14.0))
    work["disqualified"][lost[after == 1]] = (deals.close[~deals.won][after == 1]
                                             + st.uniform(lost[after == 1], 0.0, 3.0))
    _add_deal_activities(log, p, st, vocab, lead, deals)
    deals.lead, deals.account = lead + start, p.account[lead]
    return deals


def _add_deal_activities(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                         lead: np.ndarray, deals: _Deals) -> None:
    """Meetings and replies while a deal is open (after SQL: point-in-time bait)."""
    life = np.minimum(deals.close, deals.created + 120.0) - deals.created
    for kind, mean, prop in (("meeting_held", 1.5, vocab.code("meeting", 1)),
                             ("email_reply", 1.0, vocab.code("sales_email"))):
        pos = np.repeat(np.arange(len(lead)), st.poisson(lead, mean))
        d_lead = lead[pos]
        t = deals.created[pos] + st.u(d_lead) * life[pos]
        t = np.maximum(_business_time(st, d_lead, t, p.tz[d_lead]), deals.created[pos])
        during = t < deals.close[pos]
        log.add(d_lead[during], t[during], _T[kind], prop)


def _simulate_direct_deals(config: GeneratorConfig, cal: _Calendar,
                           accounts: _Accounts) -> _Deals:
    """Account-based deals without a lead (field sales, renewals): account-level ICP, z=0."""
    st = _Streams.single(config.seed, 3)
    n = round(config.direct_opportunity_rate * config.n_leads)
    idx = np.arange(n)
    cum = np.cumsum(accounts.weight)
    acc = np.minimum(np.searchsorted(cum / cum[-1], st.u(idx), side="right"), len(cum) - 1)
    day_cum = np.cumsum(cal.day_weight)
    day = cal.days[np.minimum(np.searchsorted(day_cum / day_cum[-1], st.u(idx), side="right"),
                              len(day_cum) - 1)]
    tz = np.take(UTC_OFFSET_HOURS, accounts.country[acc])
    created = np.clip(_at_local_hour(day, tz, st.uniform(idx, 9.5, 18.0)), cal.start, cal.end)
    order = np.argsort(created, kind="stable")
    acc, created = acc[order], created[order]
    icp = _icp_rule(accounts.industry[acc], accounts.employees[acc],
                    np.take(COUNTRY_REGION, accounts.country[acc]), np.zeros(n, dtype=np.int64))
    deals = _simulate_deals(st, idx, created, icp, st.normal(idx, 0.0, 0.5),
                            accounts.employees[acc], accounts.country[acc] == 0, cal.end)
    deals.account = acc
    return deals
