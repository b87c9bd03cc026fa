"""Online lead features: the batch pipeline's vector for one lead, in well under a millisecond.

``build_lead_features`` is built for millions of (lead, as_of) pairs: it sorts, factorises and
indexes whole tables, which costs ~20 ms of fixed pandas overhead even for one lead. A scoring
request holds one lead, its company and a few dozen activities, so ``build_online_lead_features``
computes the same features directly from plain records and small numpy arrays (Feast's split
between historical and online retrieval, with one feature list for both).

The two paths must agree, and tests prove they do: every feature of every generated lead at
many ``as_of`` times equals the batch value (``tests/code/test_online_features.py``; decayed
engagement to 1e-12 relative, since sums may run in another order; everything else exactly).
The semantics are the batch modules' (read their docstrings for the *why*):

* behavioral (``features.behavioral``): the lead's own activities strictly before ``as_of`` —
  counts per type and window ``[as_of - w d, as_of)``, active UTC days, recency, velocity,
  e-mail rates, decayed engagement (the same 512-half-life chunks); account roll-up over every
  activity of the lead's company (an activity's company is its ``account_id``, else its lead's);
* BANT and status (``features.bant``): values count once confirmed strictly before ``as_of``;
* firmographics and title (``features.firmographic``, ``features.titles``), the number of the
  company's leads created before ``as_of``, the ICP score (``features.icp``) and declared
  attributes (``features.attributes``).

Inputs are canonical records whose values are already typed (timezone-aware timestamps,
numbers, text; None or "" for missing) — what the scoring service holds after validating a
request, or rows read from the store.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from features.attributes import (
    attribute_feature_name,
    convert_attribute,
    parse_attribute_object,
    parse_attribute_spec,
)
from features.bant import BANT_ELEMENTS, SQL_MIN_MET
from features.behavioral import CHUNK_HALF_LIVES
from features.config import FeatureConfig
from features.firmographic import (
    EMPLOYEE_BANDS,
    EMPLOYEE_EDGES,
    REVENUE_BANDS,
    REVENUE_EDGES,
    UNKNOWN,
    clean_or_unknown,
    email_domain,
    is_free_mail_domain,
    normalize_country,
    normalize_domain,
    normalize_industry,
    normalize_region,
    region_of_country,
    same_company,
)
from features.icp import IcpConfig, score_icp_values
from features.pointintime import NAT_US, US_PER_DAY, assemble_feature_frame, timestamps_to_us
from features.registry import FeatureRegistry
from features.titles import parse_title
from crm.schema import ACTIVITY_TYPES

_TYPE_CODE = {name: code for code, name in enumerate(ACTIVITY_TYPES)}
_N_TYPES = len(ACTIVITY_TYPES)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class LeadEvents:
    """Activities as arrays: UTC µs, type code, lead id and account id (None when blank)."""

    times: np.ndarray
    kinds: np.ndarray
    leads: np.ndarray
    accounts: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]]) -> "LeadEvents":
        """Events from activity records (``occurred_at``, ``type``, ``lead_id``,
        ``account_id``).

        Raises:
            ValueError: a missing or naive ``occurred_at``, or an unknown ``type``.
        """
        times = np.fromiter((_us(r.get("occurred_at"), "activities.occurred_at")
                             for r in records), dtype=np.int64, count=len(records))
        kinds = np.fromiter((_type_code(r.get("type")) for r in records), dtype=np.int8,
                            count=len(records))
        leads = np.array([_text(r.get("lead_id")) for r in records] or [], dtype=object)
        accounts = np.array([_text(r.get("account_id")) for r in records] or [], dtype=object)
        return cls(times, kinds, leads, accounts)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "LeadEvents":
        """Events from a canonical activities frame (e.g. read from the store)."""
        times = timestamps_to_us(frame["occurred_at"], "activities.occurred_at")
        if (times == NAT_US).any():
            raise ValueError("activities.occurred_at is missing in "
                             f"{int((times == NAT_US).sum())} row(s)")
        kinds = np.fromiter((_type_code(t) for t in frame["type"].tolist()), dtype=np.int8,
                            count=len(frame))
        return cls(times, kinds, _id_array(frame, "lead_id"), _id_array(frame, "account_id"))

    @classmethod
    def concat(cls, parts: Iterable["LeadEvents"]) -> "LeadEvents":
        """All events of ``parts`` in one object."""
        parts = list(parts)
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, object),
                       np.zeros(0, object))
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("times", "kinds", "leads", "accounts")))


@dataclass(frozen=True)
class AccountLeads:
    """Other leads of the lead's company: ids, account ids and creation times (UTC µs)."""

    ids: list[str | None]
    accounts: list[str | None]
    created: list[int]

    @classmethod
    def from_frame(cls, leads: pd.DataFrame | None) -> "AccountLeads":
        """From a canonical leads frame (e.g. read from the store); None for no other leads."""
        if leads is None or len(leads) == 0:
            return cls([], [], [])
        return cls(_id_array(leads, "lead_id").tolist(), _id_array(leads, "account_id").tolist(),
                   timestamps_to_us(leads["created_at"], "leads.created_at").tolist())


def build_online_lead_features(lead: Mapping[str, Any], account: Mapping[str, Any] | None,
                               events: LeadEvents, as_of: pd.Timestamp | datetime,
                               config: FeatureConfig, icp: IcpConfig,
                               account_leads: AccountLeads | None = None) -> dict[str, Any]:
    """Every lead feature of one lead at ``as_of``, as ``build_lead_features`` computes it.

    Args:
        lead: the canonical leads record (typed values; ``lead_id`` and ``created_at`` needed).
        account: the lead's accounts record, or None.
        events: the lead's activities and those of the other contacts of its company.
        as_of: timezone-aware scoring time.
        config: the model's ``features.config.FeatureConfig``.
        icp: the resolved ICP of ``config`` (``features.config.resolve_icp``).
        account_leads: the other leads of the company (blank activity accounts and lead
            counts); None for none.

    Returns:
        Feature name -> value in registry order: floats (NaN = unknown) for numbers and flags,
        text (None = missing) for categories.

    Raises:
        ValueError: naive ``as_of``, missing or naive ``created_at``, or a lead created at or
            after ``as_of``.
    """
    as_of_us = _us(as_of, "as_of")
    created = _us(lead.get("created_at"), "leads.created_at")
    if created >= as_of_us:
        raise ValueError(f"as_of is at or before the lead's created_at (a lead cannot be scored "
                         f"before it exists): {lead.get('lead_id')}")
    others = account_leads or AccountLeads([], [], [])
    lead_id, account_id = _text(lead.get("lead_id")), _text(lead.get("account_id"))
    out: dict[str, Any] = {}
    out.update(_lead_behavior(events, events.leads == lead_id, as_of_us, config))
    out.update(_account_behavior(events, others, lead_id, account_id, as_of_us, config))
    out.update(_bant(lead, as_of_us, config.sql_timeline_months))
    out.update(_status(lead, created, as_of_us))
    firmographics = _firmographics(lead, account, pd.Timestamp(as_of).tz_convert("UTC").year)
    out.update(firmographics)
    out["account_known_leads"] = _known_leads(others, lead_id, account_id, created, as_of_us)
    out.update(score_icp_values(firmographics, icp))
    out.update(_attributes(lead.get("attributes"), config.attributes))
    return out


def online_feature_frame(rows: Sequence[Mapping[str, Any]], lead_ids: Sequence[str],
                         as_ofs: Sequence[pd.Timestamp], registry: FeatureRegistry
                         ) -> pd.DataFrame:
    """Rows of ``build_online_lead_features`` as the frame ``build_lead_features`` returns
    (``lead_id``, ``as_of``, then the registry's features with the same dtypes)."""
    pairs = pd.DataFrame({"lead_id": pd.array(list(lead_ids), dtype="str"),
                          "as_of": pd.Series(pd.to_datetime(list(as_ofs), utc=True)
                                             ).dt.as_unit("us")})
    columns = {name: [row[name] for row in rows] for name in registry.names}
    return assemble_feature_frame(pairs, columns, registry, "lead_id")


# --- behavior -----------------------------------------------------------------------------


def _lead_behavior(events: LeadEvents, own: np.ndarray, as_of: int, config) -> dict[str, float]:
    times, kinds = events.times[own], events.kinds[own]
    order = np.lexsort((kinds, times))
    times, kinds = times[order], kinds[order]
    before = times < as_of
    times, kinds = times[before], kinds[before]
    out = _window_counts(times, kinds, as_of, config)
    out.update(_recency(times, kinds, as_of, config))
    out["engagement_decayed"] = _decayed(times, kinds, as_of, config)
    out["activity_velocity"] = _velocity(times, as_of, config)
    out.update(_email_rates(kinds))
    return out


@lru_cache(maxsize=64)
def _type_tables(config) -> tuple[np.ndarray, np.ndarray]:
    """Per activity type code: is it high intent, and its engagement weight."""
    high = np.zeros(_N_TYPES, dtype=bool)
    high[[_TYPE_CODE[t] for t in config.high_intent_types]] = True
    weights = np.zeros(_N_TYPES)
    for name, weight in config.event_weights.items():
        weights[_TYPE_CODE[name]] = weight
    return high, weights


def _window_counts(times: np.ndarray, kinds: np.ndarray, as_of: int, config) -> dict[str, float]:
    high = _type_tables(config)[0][kinds]
    days = times // US_PER_DAY
    columns: dict[int, dict[str, float]] = {}
    for window in config.windows_days:
        inside = times >= as_of - window * US_PER_DAY
        per_type = np.bincount(kinds[inside], minlength=_N_TYPES)
        values = {f"{name}_count_{window}d": float(per_type[_TYPE_CODE[name]])
                  for name in config.count_types}
        values[f"activity_count_{window}d"] = float(inside.sum())
        values[f"high_intent_count_{window}d"] = float((high & inside).sum())
        values[f"active_days_{window}d"] = float(len(np.unique(days[inside])))
        columns[window] = values
    out: dict[str, float] = {}
    for window in config.windows_days:  # batch order: per window, types then totals
        out.update(columns[window])
    return out


def _recency(times: np.ndarray, kinds: np.ndarray, as_of: int, config) -> dict[str, float]:
    if len(times) == 0:
        return dict.fromkeys(("days_since_last_activity", "days_since_last_high_intent",
                              "days_since_first_activity"), math.nan)
    high = times[_type_tables(config)[0][kinds]]
    return {"days_since_last_activity": _days(as_of - int(times[-1])),
            "days_since_last_high_intent": (_days(as_of - int(high[-1])) if len(high)
                                            else math.nan),
            "days_since_first_activity": _days(as_of - int(times[0]))}


def _days(microseconds: int) -> float:
    return float(np.int64(microseconds) / np.int64(US_PER_DAY))


def _velocity(times: np.ndarray, as_of: int, config) -> float:
    recent_days, baseline_days = config.velocity_recent_days, config.velocity_baseline_days
    recent_start = as_of - recent_days * US_PER_DAY
    recent = int((times >= recent_start).sum())
    baseline = int(((times >= recent_start - baseline_days * US_PER_DAY)
                    & (times < recent_start)).sum())
    return (recent + 1.0) / (baseline * (recent_days / baseline_days) + 1.0)


def _email_rates(kinds: np.ndarray) -> dict[str, float]:
    per_type = np.bincount(kinds, minlength=_N_TYPES).astype(np.float64)
    sent = per_type[_TYPE_CODE["email_sent"]]
    return {f"email_{kind}_rate": (float(per_type[_TYPE_CODE[f"email_{kind}"]] / sent)
                                   if sent > 0 else math.nan)
            for kind in ("open", "click", "reply")}


def _decayed(times: np.ndarray, kinds: np.ndarray, as_of: int, config) -> float:
    """The batch formula (``features.behavioral._decayed_engagement``) on one lead."""
    if len(times) == 0:
        return 0.0
    half_life_us = config.half_life_days * US_PER_DAY
    span = np.int64(round(CHUNK_HALF_LIVES * half_life_us))
    first = times[0]
    terms = ((times - first) % span).astype(np.float64)
    terms /= half_life_us
    np.exp2(terms, out=terms)
    terms *= _type_tables(config)[1][kinds]
    chunk_start = first + (times[-1] - first) // span * span
    current = times >= chunk_start
    previous = ~current & (times >= chunk_start - span)
    value = terms[current].sum() * np.exp2((chunk_start - np.int64(as_of)) / half_life_us)
    value += terms[previous].sum() * np.exp2((chunk_start - span - np.int64(as_of))
                                             / half_life_us)
    return float(value)


def _resolve_accounts(events: LeadEvents, lead_accounts: Mapping[str | None, str | None]
                      ) -> np.ndarray:
    """Each event's company: its own account_id, else its lead's account."""
    return np.array([account if account is not None else lead_accounts.get(lead)
                     for account, lead in zip(events.accounts, events.leads)] or [],
                    dtype=object)


def _account_behavior(events: LeadEvents, others: AccountLeads, lead_id: str | None,
                      account_id: str | None, as_of: int, config) -> dict[str, float]:
    engaged_name = f"account_engaged_contacts_{config.engaged_contact_days}d"
    names = [f"account_activity_count_{w}d" for w in config.windows_days] + [engaged_name]
    if account_id is None:
        return dict.fromkeys(names, math.nan)
    accounts = _resolve_accounts(events, {**dict(zip(others.ids, others.accounts)),
                                          lead_id: account_id})
    mine = (accounts == account_id) & (events.times < as_of)
    times = events.times[mine]
    out = {f"account_activity_count_{w}d": float((times >= as_of - w * US_PER_DAY).sum())
           for w in config.windows_days}
    recent = mine & (events.times >= as_of - config.engaged_contact_days * US_PER_DAY)
    engaged = recent & (_type_tables(config)[1][events.kinds] > 0)
    out[engaged_name] = float(len({lead for lead in events.leads[engaged] if lead is not None}))
    return out


# --- BANT and status ----------------------------------------------------------------------


def _confirmed(lead: Mapping[str, Any], column: str, as_of: int) -> bool:
    stamp = _us_or_nat(lead.get(column), f"leads.{column}")
    return stamp != NAT_US and stamp < as_of


def _number(value: object) -> float:
    if value is None or value is pd.NA:
        return math.nan
    return float(value)


def _bant(lead: Mapping[str, Any], as_of: int, timeline_months: float) -> dict[str, float]:
    out: dict[str, float] = {}
    met = 0
    for element in BANT_ELEMENTS:
        value = (_number(lead.get(element)) if _confirmed(lead, f"{element}_confirmed_at", as_of)
                 else math.nan)
        out[f"bant_{element}"] = value
        met += value == 1.0
    timeline = (_number(lead.get("timeline_months"))
                if _confirmed(lead, "timeline_confirmed_at", as_of) else math.nan)
    timeline_met = timeline <= timeline_months
    met += timeline_met
    out["bant_timeline_months"] = timeline
    out["bant_met_count"] = float(met)
    out["bant_meets_sql_rule"] = float(met >= SQL_MIN_MET and timeline_met)
    return out


def _status(lead: Mapping[str, Any], created: int, as_of: int) -> dict[str, float]:
    is_mql = _confirmed(lead, "mql_at", as_of)
    mql = _us_or_nat(lead.get("mql_at"), "leads.mql_at")
    return {"lead_age_days": _days(as_of - created), "is_mql": float(is_mql),
            "days_since_mql": _days(as_of - mql) if is_mql else math.nan,
            "is_recycled": float(_confirmed(lead, "recycled_at", as_of))}


# --- firmographics ------------------------------------------------------------------------


def _firmographics(lead: Mapping[str, Any], account: Mapping[str, Any] | None,
                   year: int) -> dict[str, Any]:
    if account is not None and _text(account.get("account_id")) != _text(lead.get("account_id")):
        account = None  # not the lead's company: as the batch join would find it
    company = account or {}
    employees = _number(company.get("employees"))
    revenue = _number(company.get("annual_revenue"))
    country = _cached(normalize_country, company.get("country"))
    region = _cached(normalize_region, company.get("region"))
    founded = _number(company.get("founded_year"))
    age = year - founded
    domain = _cached(email_domain, lead.get("email"))
    title = _parse_title(_text(lead.get("job_title")), _text(lead.get("department")))
    return {
        "industry": _cached(normalize_industry, company.get("industry")),
        "employees": employees,
        "employee_band": _band(employees, EMPLOYEE_EDGES, EMPLOYEE_BANDS),
        "annual_revenue": revenue,
        "revenue_band": _band(revenue, REVENUE_EDGES, REVENUE_BANDS),
        "country": country,
        "region": region_of_country(country) if region == UNKNOWN else region,
        "company_age_years": age if age >= 0 else math.nan,
        "source": _cached(clean_or_unknown, lead.get("source")),
        "free_mail": float(is_free_mail_domain(domain)),
        "email_matches_account_domain": float(same_company(
            domain, _cached(normalize_domain, company.get("domain")))),
        "has_account": float(account is not None and _text(lead.get("account_id")) is not None),
        "title_seniority": title.seniority,
        "title_seniority_rank": float(title.seniority_rank),
        "title_department": title.department,
    }


@lru_cache(maxsize=65_536)
def _cached_call(normalize, value: object) -> Any:
    return normalize(value)


def _cached(normalize, value: object) -> Any:
    """``normalize(value)``, memoised for hashable values (labels repeat across requests)."""
    value = None if value is pd.NA else value
    try:
        return _cached_call(normalize, value)
    except TypeError:  # unhashable
        return normalize(value)


@lru_cache(maxsize=65_536)
def _parse_title(title: str | None, department: str | None):
    return parse_title(title, department)


def _band(value: float, edges: tuple[float, ...], labels: tuple[str, ...]) -> str:
    if math.isnan(value):
        return UNKNOWN
    return labels[min(bisect_right(edges, value), len(labels) - 1)]


def _known_leads(others: AccountLeads, lead_id: str | None, account_id: str | None,
                 created: int, as_of: int) -> float:
    """Leads of the company created before ``as_of``, this one included (NaN: no company)."""
    if account_id is None:
        return math.nan
    count = int(created < as_of)
    for other, account, stamp in zip(others.ids, others.accounts, others.created):
        count += other != lead_id and account == account_id and NAT_US != stamp < as_of
    return float(count)


def _attributes(raw: object, specs: Mapping[str, str]) -> dict[str, Any]:
    if not specs:
        return {}
    values = parse_attribute_object(raw)
    return {attribute_feature_name(key): convert_attribute(
        parse_attribute_spec(key, spec)[0], values.get(key)) for key, spec in specs.items()}


# --- values -------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """Text ids and labels as the canonical tables hold them: stripped, blank -> None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _id_array(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[column].astype(object).to_numpy()
    return np.where(pd.isna(values), None, values)


def _type_code(value: object) -> int:
    code = _TYPE_CODE.get(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"activities.type has unknown value {value!r}; allowed: "
                         f"{', '.join(ACTIVITY_TYPES)}")
    return code


def _us(value: object, name: str) -> int:
    stamp = _us_or_nat(value, name)
    if stamp == NAT_US:
        raise ValueError(f"{name} is missing")
    return stamp


def _us_or_nat(value: object, name: str) -> int:
    """UTC microseconds of a timezone-aware timestamp (NAT_US for a missing one)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return NAT_US
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware timestamp, got {value!r}")
        return value.value // 1000  # .value is nanoseconds whatever the unit
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware timestamp, got {value!r}")
        return (value - _EPOCH) // _ONE_US
    raise ValueError(f"{name} must be a timezone-aware timestamp, got {type(value).__name__}")
