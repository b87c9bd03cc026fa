"""The lead population and its ground truth, in one vectorised pass over all leads: arrival,
person, near-duplicates, ICP fit, latent interest, true BANT and the 90-day SQL draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from crm.sample.accounts import _Accounts
from crm.sample.calendar import _NEVER, _at_local_hour, _Calendar, _daytime_hours
from crm.sample.config import GeneratorConfig
from crm.sample.names import _render_people
from crm.sample.story import (
    AUTHORITY_P,
    BUDGET_COEF,
    COUNTRY_REGION,
    DEPARTMENT_P,
    DEPARTMENTS,
    INSIDE_SALES_GLOBAL,
    INSIDE_SALES_JP,
    LEAD_GROWTH_PER_YEAR,
    LEAD_SOURCE_P,
    NEED_COEF,
    NO_ACCOUNT_SHARE,
    SENIORITY_P,
    SOURCE_EFFECT,
    SQL_B0,
    SQL_HORIZON_DAYS,
    SQL_ICP,
    SQL_INTERACTION,
    SQL_Z,
    TIMELINE_CHOICES,
    TIMELINE_COEF,
    UTC_OFFSET_HOURS,
    Z_DEPT,
    Z_ICP,
    Z_NOISE_SD,
    _icp_rule,
    _sigmoid,
    _softplus,
)
from crm.sample.streams import _Streams
from crm.sample.vocabulary import _SRC, _Vocabulary
from crm.sample.words import _EN_FAMILY, _EN_GIVEN, _JP_FAMILY, _JP_GIVEN, _PREFECTURES


@dataclass
class _People:
    created: np.ndarray
    source: np.ndarray
    source_time: np.ndarray     # webinar start of webinar-sourced leads, else inf
    account: np.ndarray         # -1: no account (free-mail individual)
    tz: np.ndarray
    ja: np.ndarray              # Japanese person
    seniority: np.ndarray
    dept: np.ndarray
    owner: np.ndarray           # index into the inside-sales pool
    icp: np.ndarray
    z: np.ndarray
    budget: np.ndarray
    authority: np.ndarray
    need: np.ndarray
    timeline: np.ndarray
    bant_ok: np.ndarray
    p_sql: np.ndarray
    sql90: np.ndarray
    sql_delay: np.ndarray
    bounce: np.ndarray          # e-mail address bounces
    blank_owner: np.ndarray     # owner left empty if the lead is never worked
    dup_of: np.ndarray          # -1: original
    attributes: np.ndarray      # vocabulary code of leads.attributes (-1: missing)
    text: dict[str, pa.Array]   # rendered CRM strings (null = missing)

    def take(self, start: int, stop: int) -> _People:
        parts = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "text"}
        return _People(**{k: v[start:stop] for k, v in parts.items()},
                       text={k: v[start:stop] for k, v in self.text.items()})


def _generate_people(config: GeneratorConfig, cal: _Calendar, accounts: _Accounts,
                     vocab: _Vocabulary, st: _Streams) -> _People:
    n = config.n_leads
    idx = np.arange(n)
    account, source, created, source_time = _draw_arrivals(config, cal, accounts, st, idx)
    has_acc = account >= 0
    country = np.where(has_acc, accounts.country[np.maximum(account, 0)], -1)
    ja = np.where(has_acc, country == 0, st.bern(idx, 0.6)) ^ st.bern(idx, 0.04)
    tz = np.where(country >= 0, np.take(UTC_OFFSET_HOURS, np.maximum(country, 0)),
                  np.where(ja, 9.0, -5.0))
    person = _draw_persons(st, idx, accounts, account, ja)
    dup_of = _draw_duplicates(config, st, created)
    person = {key: _copy_from_original(dup_of, values) for key, values in person.items()}
    account, ja, tz = (_copy_from_original(dup_of, v) for v in (account, ja, tz))
    truth = _draw_ground_truth(st, idx, accounts, account, source, person, dup_of,
                               _drift_log_odds(config.sql_drift, created))
    owner = np.where(ja, st.pick(idx, len(INSIDE_SALES_JP)),
                     len(INSIDE_SALES_JP) + st.pick(idx, len(INSIDE_SALES_GLOBAL)))
    text = _render_people(st, idx, accounts.domain, account, ja, person, dup_of)
    attributes = _lead_attribute_codes(st, idx, ja, source, vocab)
    return _People(created=created, source=source, source_time=source_time, account=account,
                   tz=tz, ja=ja, seniority=person["seniority"], dept=person["dept"],
                   owner=owner, bounce=st.bern(idx, 0.02), blank_owner=st.bern(idx, 0.03),
                   dup_of=dup_of, attributes=attributes, text=text, **truth)


def _copy_from_original(dup_of: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A duplicate is the same person: take the original's value."""
    return np.where(dup_of >= 0, values[np.maximum(dup_of, 0)], values)


def _draw_arrivals(config: GeneratorConfig, cal: _Calendar, accounts: _Accounts, st: _Streams,
                   idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Account, source and created_at per lead; returned sorted by created_at."""
    cum = np.cumsum(accounts.weight)
    account = np.searchsorted(cum / cum[-1], st.u(idx), side="right")
    account = np.where(st.bern(idx, NO_ACCOUNT_SHARE), -1, np.minimum(account, len(cum) - 1))
    tz = np.where(account >= 0,
                  np.take(UTC_OFFSET_HOURS, accounts.country[np.maximum(account, 0)]), 9.0)
    source = st.cat(idx, LEAD_SOURCE_P)
    created, source_time = _draw_created(cal, st, idx, source, tz)
    order = np.argsort(created, kind="stable")
    return account[order], source[order], created[order], source_time[order]


def _draw_created(cal: _Calendar, st: _Streams, idx: np.ndarray, source: np.ndarray,
                  tz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Creation time: weighted calendar days; webinar and exhibition leads at their events."""
    cum = np.cumsum(cal.day_weight)
    day = cal.days[np.minimum(np.searchsorted(cum / cum[-1], st.u(idx), side="right"),
                              len(cum) - 1)]
    general = _at_local_hour(day, tz, _daytime_hours(st, idx))
    webinar = _pick_weighted_event(st, idx, cal.webinars, cal)
    registered = webinar - 10.0 * st.beta(idx, 1.0, 2.0)
    exhibition = _pick_weighted_event(st, idx, cal.exhibitions, cal)
    at_booth = exhibition + st.pick(idx, 3) + st.uniform(idx, 1.0 / 24, 8.0 / 24)
    created = np.where(source == _SRC["webinar"], registered, general)
    created = np.where(source == _SRC["exhibition"], at_booth, created)
    created = np.clip(created, cal.start, cal.end - 1e-6)
    source_time = np.where(source == _SRC["webinar"], webinar, _NEVER)
    return created, source_time


def _pick_weighted_event(st: _Streams, idx: np.ndarray, events: np.ndarray,
                         cal: _Calendar) -> np.ndarray:
    """One of ``events`` per lead, weighted by lead growth (or general days if none)."""
    if len(events) == 0:
        return cal.start + st.u(idx) * (cal.end - cal.start - 3.0)
    w = np.exp(LEAD_GROWTH_PER_YEAR * (events - cal.end) / 365.25)
    pick = np.searchsorted(np.cumsum(w) / w.sum(), st.u(idx), side="right")
    return events[np.minimum(pick, len(events) - 1)]


def _draw_persons(st: _Streams, idx: np.ndarray, accounts: _Accounts, account: np.ndarray,
                  ja: np.ndarray) -> dict[str, np.ndarray]:
    seniority = st.cat(idx, SENIORITY_P)
    small = np.where(account >= 0, accounts.employees[np.maximum(account, 0)], 5) < 50
    seniority = np.where(small & st.bern(idx, 0.25), 0, seniority)
    dept = np.where(seniority == 0, DEPARTMENTS.index("corporate"), st.cat(idx, DEPARTMENT_P))
    given = np.where(ja, st.pick(idx, len(_JP_GIVEN)), st.pick(idx, len(_EN_GIVEN)))
    family = np.where(ja, st.pick(idx, len(_JP_FAMILY)), st.pick(idx, len(_EN_FAMILY)))
    return {"seniority": seniority, "dept": dept, "given": given, "family": family,
            "style": st.pick(idx, 1000)}


def _draw_duplicates(config: GeneratorConfig, st: _Streams,
                     created: np.ndarray) -> np.ndarray:
    """duplicate_of per lead (-1: an original). A duplicate re-enters an original lead that was
    created about Exp(60 days) before it (any earlier original if none is that old)."""
    n = len(created)
    n_dup = min(round(config.duplicate_rate * n), max(n - 1, 0) // 2)
    dup_of = np.full(n, -1, dtype=np.int64)
    if n_dup == 0:
        return dup_of
    dups = np.sort(1 + np.argsort(st.u(np.arange(n - 1)), kind="stable")[:n_dup])
    is_dup = np.zeros(n, dtype=bool)
    is_dup[dups] = True
    originals = np.flatnonzero(~is_dup)
    k = np.arange(n_dup)
    earlier = np.searchsorted(originals, dups)  # originals listed before each duplicate (>= 1)
    target = created[dups] - st.exp(k, 60.0)
    pos = np.searchsorted(created[originals], target, side="right") - 1
    pos = np.where(pos >= 0, pos, st.pick(k, earlier))
    dup_of[dups] = originals[np.minimum(pos, earlier - 1)]
    return dup_of


def _drift_log_odds(drift: float, created: np.ndarray) -> np.ndarray | float:
    """``drift`` x the lead's place in time (0 oldest .. 1 newest); 0.0 when there is none."""
    if drift == 0.0 or len(created) < 2 or created[-1] == created[0]:
        return 0.0
    return drift * (created - created[0]) / (created[-1] - created[0])


def _draw_ground_truth(st: _Streams, idx: np.ndarray, accounts: _Accounts,
                       account: np.ndarray, source: np.ndarray, person: dict[str, np.ndarray],
                       dup_of: np.ndarray, drift: np.ndarray | float = 0.0
                       ) -> dict[str, np.ndarray]:
    """ICP fit, latent interest, true BANT, p_sql and the 90-day SQL draw (documented);
    ``drift`` is added to the SQL log-odds (``GeneratorConfig.sql_drift``)."""
    acc = np.maximum(account, 0)
    has = account >= 0
    emp = np.where(has, accounts.employees[acc], 10.0)
    icp = has & _icp_rule(accounts.industry[acc], emp,
                          np.take(COUNTRY_REGION, accounts.country[acc]), person["seniority"])
    target_dept = np.isin(person["dept"], [0, 1, 2])
    z = (Z_ICP * icp + np.take(SOURCE_EFFECT, source) + Z_DEPT * target_dept
         + np.where(has, accounts.effect[acc], 0.0) + st.normal(idx, 0.0, Z_NOISE_SD))
    z = _copy_from_original(dup_of, z) - 0.3 * (dup_of >= 0)
    authority = st.bern(idx, np.take(AUTHORITY_P, person["seniority"]))
    b0, b_size, b_z = BUDGET_COEF
    budget = st.bern(idx, _sigmoid(b0 + b_size * np.log10(emp / 100.0) + b_z * z))
    n0, n_icp, n_z = NEED_COEF
    need = st.bern(idx, _sigmoid(n0 + n_icp * icp + n_z * z))
    t_median, t_z, t_icp, t_sd = TIMELINE_COEF
    raw_t = np.exp(st.normal(idx, math.log(t_median) + t_z * z + t_icp * icp, t_sd))
    timeline = np.array(TIMELINE_CHOICES)[np.abs(
        np.log(raw_t)[:, None] - np.log(TIMELINE_CHOICES)[None, :]).argmin(axis=1)]
    # a duplicate is the same person: same buying situation as the original
    budget, authority, need, timeline = (_copy_from_original(dup_of, v)
                                         for v in (budget, authority, need, timeline))
    bant_ok = (timeline <= 3.0) & (budget.astype(int) + authority + need >= 2)
    log_odds = SQL_B0 + SQL_ICP * icp + SQL_Z * z + SQL_INTERACTION * icp * _softplus(z)
    p_sql = bant_ok * _sigmoid(log_odds if np.isscalar(drift) and drift == 0.0
                               else log_odds + drift)
    b_speed = np.where(np.isin(source, [_SRC["inbound_form"], _SRC["chat"],
                                        _SRC["referral"]]), 6.0, 3.5)
    return {"icp": icp, "z": z, "budget": budget, "authority": authority, "need": need,
            "timeline": timeline, "bant_ok": bant_ok, "p_sql": p_sql,
            "sql90": st.bern(idx, p_sql),
            "sql_delay": SQL_HORIZON_DAYS * np.maximum(st.beta(idx, 1.5, b_speed), 1e-3)}


def _lead_attribute_codes(st: _Streams, idx: np.ndarray, ja: np.ndarray, source: np.ndarray,
                          vocab: _Vocabulary) -> np.ndarray:
    """leads.attributes: prefecture (Japanese), UTM tags (paid ads) or opt-in; 35% missing."""
    pref = vocab.code("prefecture", st.cat(idx, [p for _, p in _PREFECTURES]))
    utm = vocab.code("utm", st.pick(idx, 3))
    opt = vocab.code("opt_in", st.pick(idx, 2))
    kind = np.where(source == _SRC["paid_ads"], 1, np.where(ja, 0, 2))
    kind = np.where(st.bern(idx, 0.35), 3, kind)
    return np.choose(kind, [pref, utm, opt, np.full(len(idx), -1)])
