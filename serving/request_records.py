"""Turn one scoring request into canonical CRM records, and say what had to be assumed.

A request becomes canonical records (a lead, its account, its activities, and what the store
holds about its company), from which ``features.leads.build_single_lead_features`` computes
the features the batch builder would compute for the same tables. Several requests are scored together: every id of
request ``slot`` is prefixed with ``"<slot>|"`` so the requests of one batch can never see each
other's data.

Values the request leaves out are handled the way the feature pipeline handles missing data
(unknown), except where a value is required by the canonical schema; those are imputed and
every imputation is reported in the answer's ``warnings``:

* ``lead.source`` missing or not a canonical source -> ``other``;
* ``lead.status`` not a canonical status -> ``new`` (missing: ``new``, silently);
* ``lead.created_at`` missing -> one second before the earliest time the request mentions;
* a BANT value without its ``*_confirmed_at`` -> confirmed one microsecond before ``as_of``;
* activities of an unknown type are dropped; activities at or after ``as_of`` are ignored by
  the (point-in-time) features.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm.schema import (
    ACTIVITY_TYPES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    PANDAS_DTYPES,
    SchemaViolationError,
    coerce_table,
    empty_frame,
    table_spec,
)
from features.activities import AccountLeads, LeadEvents
from serving.lookups import DealContext, LeadContext
from serving.schemas import BantIn, CompanyIn, LeadIn, ScoreRequest, WinRequest

SLOT_SEPARATOR = "|"
INLINE_ACCOUNT = "company"
_BANT = (("budget", "budget"), ("authority", "authority"), ("need", "need"),
         ("timeline", "timeline_months"))
_ONE_US = pd.Timedelta(microseconds=1)


class RequestError(ValueError):
    """A request that cannot be scored as sent (answered with 422 naming ``field``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def slot_id(slot: int | str, value: object) -> str | None:
    """``value`` prefixed with the request slot, or None when it is missing."""
    return f"{slot}{SLOT_SEPARATOR}{value}" if isinstance(value, str) and value else None


def unslot(value: str) -> str:
    """The id as the client sent it."""
    return value.split(SLOT_SEPARATOR, 1)[1]


def slot_events(events: LeadEvents, slot: int | str) -> LeadEvents:
    """``events`` with their lead and account ids prefixed by the slot (missing stay missing)."""
    return dataclasses.replace(events, leads=_slot_ids(events.leads, slot),
                               accounts=_slot_ids(events.accounts, slot))


def slot_leads(leads: AccountLeads, slot: int | str) -> AccountLeads:
    """``leads`` with their lead and account ids prefixed by the slot."""
    return AccountLeads([slot_id(slot, i) for i in leads.ids],
                        [slot_id(slot, a) for a in leads.accounts], leads.created)


def _slot_ids(values: np.ndarray, slot: int | str) -> np.ndarray:
    values = values.tolist()
    slotted = {value: slot_id(slot, value) for value in set(values)}  # few distinct ids
    return np.array([slotted[value] for value in values], dtype=object)


def _normalise(value: str | None) -> str | None:
    return None if value is None else value.strip().lower().replace(" ", "_").replace("-", "_")


def _closed_value(value: str | None, allowed: tuple[str, ...], default: str, name: str,
                  warnings: list[str], warn_missing: bool) -> str:
    key = _normalise(value)
    if key in allowed:
        return key  # type: ignore[return-value]
    if value is None:
        if warn_missing:
            warnings.append(f"{name} is missing: scored as '{default}'")
    else:
        warnings.append(f"{name} '{value}' is not one of {', '.join(allowed)}: scored as "
                        f"'{default}'")
    return default


@dataclass
class LeadRecords:
    """One request as canonical records (ids slotted) plus stored frames and warnings."""

    lead_id: str
    lead: dict[str, Any]
    account: dict[str, Any] | None
    activities: list[dict[str, Any]]
    stored_activities: LeadEvents | None = None
    account_leads: AccountLeads | None = None
    warnings: list[str] = field(default_factory=list)


def _stamp(value: object) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def _plain(row: pd.Series) -> dict[str, Any]:
    """A stored row as a record (missing values as None)."""
    return {key: (None if _is_missing(value) else value) for key, value in row.items()}


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _lead_from_request(lead: LeadIn, lead_id: str, warnings: list[str]) -> dict[str, Any]:
    if not lead.job_title:
        warnings.append("lead.job_title is missing: title features are unknown")
    if not lead.email:
        warnings.append("lead.email is missing: e-mail domain features are unknown")
    return {
        "lead_id": lead_id, "account_id": None, "email": lead.email or None, "name": None,
        "job_title": lead.job_title or None, "department": lead.department or None,
        "source": _closed_value(lead.source, LEAD_SOURCES, "other", "lead.source", warnings,
                                warn_missing=True),
        "owner": lead.owner or None,
        "status": _closed_value(lead.status, LEAD_STATUSES, "new", "lead.status", warnings,
                                warn_missing=False),
        "created_at": _stamp(lead.created_at), "mql_at": _stamp(lead.mql_at), "sql_at": None,
        "disqualified_at": _stamp(lead.disqualified_at), "recycled_at": _stamp(lead.recycled_at),
        **{column: None for element, value in _BANT
           for column in (value, f"{element}_confirmed_at")},
        "attributes": json.dumps(lead.attributes, ensure_ascii=False) if lead.attributes else None,
    }


def _base_lead(request: ScoreRequest, context: LeadContext | None,
               warnings: list[str]) -> dict[str, Any]:
    if request.lead is not None:
        return _lead_from_request(request.lead, request.lead_id or "lead", warnings)
    if context is None:  # looked up only when a store is configured
        raise RequestError("lead_id", "no CRM store is configured; send the lead inline")
    if context.lead is not None:
        return {**context.lead, "name": None}
    raise RequestError("lead_id", f"lead_id '{request.lead_id}' is not in the store; "
                                  "send the lead inline")


def _account(request: ScoreRequest, context: LeadContext | None,
             warnings: list[str]) -> dict[str, Any] | None:
    if request.company is not None:
        return _account_from_request(request.company, warnings)
    if context is not None and context.account is not None:
        return {**context.account, "name": None}
    warnings.append("company is missing: firmographic and ICP features are unknown")
    return None


def _account_from_request(company: CompanyIn, warnings: list[str]) -> dict[str, Any]:
    for name in ("industry", "employees", "country"):
        if getattr(company, name) in (None, ""):
            warnings.append(f"company.{name} is missing: treated as unknown")
    record = company.model_dump()
    record = {key: (None if value == "" else value) for key, value in record.items()}
    record.update(account_id=company.account_id or INLINE_ACCOUNT, name=None)
    return record


def _apply_bant(lead: dict[str, Any], bant: BantIn | None, as_of: pd.Timestamp,
                warnings: list[str]) -> None:
    if bant is None:
        return
    for element, column in _BANT:
        value, confirmed = getattr(bant, column), _stamp(getattr(bant, f"{element}_confirmed_at"))
        if value is not None and confirmed is None:
            confirmed = as_of - _ONE_US
            warnings.append(f"bant.{element}_confirmed_at is missing: {column} counted as "
                            "confirmed just before as_of")
        elif value is None and confirmed is not None:
            confirmed = None
            warnings.append(f"bant.{element}_confirmed_at without bant.{column}: ignored")
        lead[column], lead[f"{element}_confirmed_at"] = value, confirmed


def _inline_activities(request: ScoreRequest, as_of: pd.Timestamp,
                       warnings: list[str]) -> list[dict[str, Any]]:
    records, unknown, late = [], Counter(), 0
    for position, activity in enumerate(request.activities or []):
        kind = _normalise(activity.type)
        if kind not in ACTIVITY_TYPES:
            unknown[activity.type] += 1
            continue
        occurred = activity.occurred_at  # validated: timezone-aware, in UTC
        late += occurred >= as_of
        records.append({
            "event_id": activity.event_id or f"inline-{position}", "lead_id": None,
            "account_id": None, "occurred_at": occurred, "type": kind,
            "channel": activity.channel or None,
            "properties": (json.dumps(activity.properties, ensure_ascii=False)
                           if activity.properties else None)})
    for kind, count in sorted(unknown.items()):
        warnings.append(f"activities: {count} of unknown type '{kind}' ignored")
    if late:
        warnings.append(f"activities: {late} at or after as_of ignored (point in time)")
    return records


def _stored_activities(request: ScoreRequest, context: LeadContext | None,
                       lead_id: str) -> LeadEvents | None:
    """Stored activities to add: all of them when none are inline, else only the colleagues'
    (inline activities replace the lead's own)."""
    if context is None:
        return None
    stored = context.activities
    if request.activities is None:
        return stored
    keep = np.array([lead != lead_id for lead in stored.leads.tolist()], dtype=bool)
    return LeadEvents(stored.times[keep], stored.kinds[keep], stored.leads[keep],
                      stored.accounts[keep])


def _impute_created_at(lead: dict[str, Any], activities: list[dict[str, Any]],
                       as_of: pd.Timestamp, warnings: list[str]) -> None:
    if lead["created_at"] is not None:
        return
    known = [a["occurred_at"] for a in activities] + [
        lead[c] for c in ("mql_at", "recycled_at", "disqualified_at") if lead[c] is not None]
    known += [lead[f"{e}_confirmed_at"] for e, _ in _BANT
              if lead[f"{e}_confirmed_at"] is not None]
    lead["created_at"] = min([*known, as_of]) - pd.Timedelta(seconds=1)
    warnings.append(f"lead.created_at is missing: assumed {lead['created_at'].isoformat()}")


def build_lead_records(request: ScoreRequest, slot: int, as_of: pd.Timestamp,
                       context: LeadContext | None) -> LeadRecords:
    """One request as canonical records with slotted ids.

    Args:
        request: the validated request.
        slot: its position in the batch (prefix of every id).
        as_of: the scoring time (UTC).
        context: the stored records of ``request.lead_id`` (None when not looked up).

    Raises:
        RequestError: the lead is neither inline nor stored, or it was created at or after
            ``as_of``.
    """
    warnings: list[str] = []
    lead = _base_lead(request, context, warnings)
    account = _account(request, context, warnings)
    lead["account_id"] = account["account_id"] if account else None
    _apply_bant(lead, request.bant, as_of, warnings)
    activities = _inline_activities(request, as_of, warnings)
    stored = _stored_activities(request, context, lead["lead_id"])
    _impute_created_at(lead, activities, as_of, warnings)
    if lead["created_at"] >= as_of:
        field = "lead.created_at" if request.lead is not None else "as_of"
        raise RequestError(field, f"the lead was created at {lead['created_at'].isoformat()}, "
                                  f"not before as_of {as_of.isoformat()}")
    return _slotted(slot, lead, account, activities, stored, context, warnings)


def _slotted(slot: int, lead: dict[str, Any], account: dict[str, Any] | None,
             activities: list[dict[str, Any]], stored: LeadEvents | None,
             context: LeadContext | None, warnings: list[str]) -> LeadRecords:
    lead = {**lead, "lead_id": slot_id(slot, lead["lead_id"]),
            "account_id": slot_id(slot, lead["account_id"])}
    if account is not None:
        account = {**account, "account_id": slot_id(slot, account["account_id"])}
    for record in activities:
        record.update(event_id=slot_id(slot, record["event_id"]), lead_id=lead["lead_id"])
    return LeadRecords(
        lead_id=lead["lead_id"], lead=lead, account=account, activities=activities,
        stored_activities=None if stored is None else slot_events(stored, slot),
        account_leads=None if context is None else slot_leads(context.account_leads, slot),
        warnings=warnings)


@dataclass
class DealRecords:
    """One win request as canonical records plus the stored frames its features need."""

    opportunity_id: str
    opportunity: dict[str, Any]
    history: list[dict[str, Any]] | pd.DataFrame
    context: DealContext | None
    warnings: list[str] = field(default_factory=list)


def _base_deal(request: WinRequest, context: DealContext | None,
               warnings: list[str]) -> dict[str, Any]:
    deal_id = request.opportunity_id or "opportunity"
    if request.opportunity is not None:
        record = request.opportunity.model_dump()
        for name in ("created_at", "expected_close_date"):
            record[name] = _stamp(record[name])
        return {**record, "opportunity_id": deal_id, "closed_at": None, "outcome": "open",
                "loss_reason": None}
    if context is not None and context.opportunity is not None:
        record = _plain(context.opportunity)
        if record["outcome"] != "open":
            warnings.append(f"the deal is already {record['outcome']}: scored as if open")
        return {**record, "closed_at": None, "outcome": "open", "loss_reason": None}
    raise RequestError("opportunity_id", f"opportunity_id '{request.opportunity_id}' is not in "
                                         "the store; send the opportunity inline")


def _deal_history(request: WinRequest, deal: dict[str, Any], context: DealContext | None,
                  warnings: list[str]) -> list[dict[str, Any]] | pd.DataFrame:
    if request.stage_history is not None:
        return [{**change.model_dump(), "opportunity_id": deal["opportunity_id"],
                 "entered_at": _stamp(change.entered_at),
                 "expected_close_date": _stamp(change.expected_close_date)}
                for change in request.stage_history]
    if request.opportunity is None and context is not None and len(context.history):
        return context.history
    warnings.append("stage_history is missing: the deal is taken to be in stage "
                    f"'{deal['stage']}' since its created_at")
    return [{"opportunity_id": deal["opportunity_id"], "stage": deal["stage"],
             "entered_at": deal["created_at"], "amount": deal["amount"],
             "expected_close_date": deal["expected_close_date"]}]


def build_deal_records(request: WinRequest, as_of: pd.Timestamp,
                       context: DealContext | None) -> DealRecords:
    """One win request as canonical records.

    Raises:
        RequestError: the deal is neither inline nor stored, or it was created at or after
            ``as_of``.
    """
    warnings: list[str] = []
    deal = _base_deal(request, context, warnings)
    if deal["created_at"] >= as_of:
        field = "opportunity.created_at" if request.opportunity is not None else "as_of"
        raise RequestError(field, f"the deal was created at {deal['created_at'].isoformat()}, "
                                  f"not before as_of {as_of.isoformat()}")
    history = _deal_history(request, deal, context, warnings)
    return DealRecords(deal["opportunity_id"], deal, history, context, warnings)


# --- canonical tables ---------------------------------------------------------------------


_NAT_US = np.iinfo(np.int64).min


def _typed_column(kind: str, values: list[Any]) -> pd.Series:
    """One column in its canonical dtype; TypeError for a value of an unexpected type."""
    if kind == "datetime":
        if not all(v is None or (isinstance(v, pd.Timestamp) and v.tz is not None)
                   for v in values):
            raise TypeError("not a timezone-aware Timestamp")
        us = np.array([_NAT_US if v is None else v.value // 1000 for v in values], dtype=np.int64)
        return pd.Series(pd.DatetimeIndex(us.view("datetime64[us]")).tz_localize("UTC"))
    if kind in ("str", "json"):
        if not all(v is None or isinstance(v, str) for v in values):
            raise TypeError("not text")
        return pd.Series([v.strip() or None if v is not None else None for v in values],
                         dtype="str")
    allowed = {"int": (int, np.integer), "float": (int, float, np.integer, np.floating),
               "bool": (bool, np.bool_)}[kind]
    if not all(v is None or (isinstance(v, allowed) and not (kind != "bool" and isinstance(
            v, (bool, np.bool_))) and (kind != "float" or np.isfinite(v))) for v in values):
        raise TypeError(f"not a {kind}")
    return pd.Series(values, dtype=PANDAS_DTYPES[kind])


def typed_frame(table: str, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records of plain typed values (None for missing) as a canonical frame, without parsing.

    Gives what ``coerce_table`` gives for such records, in a fraction of the time; raises
    TypeError for a value that needs parsing (text numbers, naive times, non-finite floats).
    """
    spec = table_spec(table)
    return pd.DataFrame({column.name: _typed_column(column.kind,
                                                    [r.get(column.name) for r in records])
                         for column in spec.columns})


def canonical_frame(table: str, records: list[dict[str, Any]],
                    frames: list[pd.DataFrame | None] = ()) -> pd.DataFrame:
    """Records in the canonical dtypes of ``table``, followed by ``frames`` (already
    canonical). Raises ``SchemaViolationError`` when a record value does not convert."""
    parts = [frame for frame in frames if frame is not None and len(frame)]
    if records:
        try:
            parts.insert(0, typed_frame(table, records))
        except TypeError:  # values that need parsing: the schema's own coercion
            coerced, problems = coerce_table(table, pd.DataFrame(records))
            if len(problems):
                raise SchemaViolationError(problems) from None
            parts.insert(0, coerced)
    if not parts:
        return empty_frame(table)
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def assemble_deal_tables(records: DealRecords) -> dict[str, pd.DataFrame]:
    """The tables the win features of one deal read."""
    context = records.context
    history = records.history
    return {
        "opportunities": canonical_frame("opportunities", [records.opportunity],
                                         [context.owner_deals if context else None]),
        "opportunity_stage_history": (history if isinstance(history, pd.DataFrame) else
                                      canonical_frame("opportunity_stage_history", history)),
        "activities": context.activities if context else empty_frame("activities"),
        "leads": context.account_leads if context else empty_frame("leads"),
    }


def describe_schema_problems(error: SchemaViolationError) -> str:
    """The columns and reasons of a schema violation, without the offending values."""
    problems = error.violations[["column", "reason"]].drop_duplicates()
    return "; ".join(f"{row.column} {row.reason}" for row in problems.itertuples())


_LEAD_FIELDS = ("email", "job_title", "department", "source", "status", "created_at", "mql_at",
                "recycled_at")
_BANT_FIELDS = ("budget", "budget_confirmed_at", "authority", "authority_confirmed_at", "need",
                "need_confirmed_at", "timeline_months", "timeline_confirmed_at")


def json_ready(row: pd.Series) -> dict:
    """A canonical row as JSON values: None for missing, ISO text for timestamps."""
    out = {}
    for key, value in row.items():
        if pd.isna(value):
            value = None
        elif isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    return out


def score_request_from_tables(tables: Mapping[str, pd.DataFrame], lead_id: str,
                              as_of: pd.Timestamp) -> dict:
    """The inline ``POST /score`` body of a stored lead: contact data, company, BANT and the
    lead's activities before ``as_of`` (what a CRM would send; used by tests and benchmarks).

    Raises:
        KeyError: ``lead_id`` is not in ``tables["leads"]``.
    """
    lead = json_ready(tables["leads"].set_index("lead_id").loc[lead_id])
    accounts = tables["accounts"].set_index("account_id")
    company = None
    if lead["account_id"] in accounts.index:
        fields = json_ready(accounts.loc[lead["account_id"]])
        company = {"account_id": lead["account_id"],
                   **{k: v for k, v in fields.items() if k != "name"}}
    acts = tables["activities"]
    mine = acts[(acts["lead_id"] == lead_id) & (acts["occurred_at"] < as_of)]
    return {
        "lead_id": lead_id, "as_of": as_of.isoformat(),
        "lead": {**{k: lead[k] for k in _LEAD_FIELDS},
                 "attributes": json.loads(lead["attributes"]) if lead.get("attributes") else None},
        "company": company,
        "bant": {k: lead[k] for k in _BANT_FIELDS},
        "activities": [{"event_id": a["event_id"], "occurred_at": a["occurred_at"],
                        "type": a["type"]} for a in (json_ready(r) for _, r in mine.iterrows())],
    }
