"""Activities as integer arrays, prepared from a table (batch) or from one lead's records.

Every behavioral and account feature reads ``PreparedActivities``: UTC µs times, activity type
codes, and lead / account codes (positions in ``lead_ids`` / ``account_ids``; -1 = none). An
activity's company is its ``account_id``, or, when that is blank, its lead's ``account_id``.

Two preparations give the same arrays, so the feature kernels have one implementation:

* ``prepare_activities(activities, leads)`` — a canonical activities table (training, batch);
* ``features.leads.lead_inputs_from_records`` — ``LeadEvents``, the plain arrays the scoring
  service holds per request for a lead, its company and the company's contacts (no pandas per
  request), several requests at once, each in its own code space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from crm.schema import ACTIVITY_TYPES
from features.pointintime import (
    NAT_US,
    EventIndex,
    build_event_index,
    id_column,
    rank_times,
    record_text,
    required_us,
    take_ids,
    timestamps_to_us,
)

TYPE_CODE: dict[str, int] = {name: code for code, name in enumerate(ACTIVITY_TYPES)}
N_TYPES = len(ACTIVITY_TYPES)


@dataclass(frozen=True)
class PreparedActivities:
    """Activities reduced to integer arrays: times, type codes, lead and account codes.

    Codes are int32 positions in ``lead_ids`` / ``account_ids``; -1 = none.
    """

    times: np.ndarray
    ranks: np.ndarray
    unique_times: np.ndarray
    kinds: np.ndarray
    lead_codes: np.ndarray
    lead_ids: Sequence
    account_codes: np.ndarray
    account_ids: Sequence


def index_by(prepared: PreparedActivities, codes: np.ndarray, n_codes: int) -> EventIndex:
    """EventIndex of all activities by ``codes``; code -1 goes to a spare code ``n_codes``."""
    spare = np.where(codes >= 0, codes, np.int32(n_codes))
    return build_event_index(spare, prepared.times, n_codes + 1, prepared.kinds,
                             N_TYPES, (prepared.ranks, prepared.unique_times))


# --------------------------------------------------------------------------------- batch

def _activity_kinds(types: pd.Series) -> np.ndarray:
    """Code of each activity type in ACTIVITY_TYPES (factorize first: few distinct values)."""
    codes, uniques = pd.factorize(types, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"activities.type is missing in {int((codes < 0).sum())} row(s)")
    mapping = pd.Index(ACTIVITY_TYPES).get_indexer(pd.Index(uniques, dtype="str"))
    if (mapping < 0).any():
        unknown = sorted(map(str, pd.Index(uniques)[mapping < 0]))
        raise ValueError(f"activities.type has unknown value(s) {unknown[:5]}; "
                         f"allowed: {', '.join(ACTIVITY_TYPES)}")
    return mapping.astype(np.int8)[codes]


def prepare_activities(activities: pd.DataFrame,
                       leads: pd.DataFrame | None = None) -> PreparedActivities:
    """Turn canonical activities into integer arrays (blank account ← the lead's account).

    Raises:
        ValueError: missing columns, missing or naive ``occurred_at``, unknown types.
    """
    for column in ("occurred_at", "type"):
        if column not in activities.columns:
            raise ValueError(f"activities is missing column {column!r}")
    times = timestamps_to_us(activities["occurred_at"], "activities.occurred_at")
    if (times == NAT_US).any():
        raise ValueError(f"activities.occurred_at is missing in {int((times == NAT_US).sum())} "
                         "row(s)")
    kinds = _activity_kinds(activities["type"])
    lead_codes, lead_ids = pd.factorize(id_column(activities, "lead_id"), use_na_sentinel=True)
    lead_codes, lead_ids = lead_codes.astype(np.int32), pd.Index(lead_ids)
    account_codes, account_ids = _activity_accounts(activities, lead_codes, lead_ids, leads)
    ranks, unique_times = rank_times(times)
    return PreparedActivities(times, ranks, unique_times, kinds, lead_codes, lead_ids,
                              account_codes, account_ids)


def _activity_accounts(activities: pd.DataFrame, lead_codes: np.ndarray, lead_ids: pd.Index,
                       leads: pd.DataFrame | None) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(id_column(activities, "account_id"), use_na_sentinel=True)
    codes, account_ids = codes.astype(np.int32), pd.Index(uniques)
    blank = (codes < 0) & (lead_codes >= 0)
    if leads is None or not blank.any():
        return codes, account_ids
    rows = pd.Index(leads["lead_id"]).get_indexer(lead_ids)
    lead_accounts = take_ids(leads["account_id"], rows)
    extra = pd.Index(lead_accounts.dropna().unique()).difference(account_ids)
    account_ids = account_ids.append(extra)
    lead_account_codes = account_ids.get_indexer(lead_accounts).astype(np.int32)
    codes[blank] = lead_account_codes[lead_codes[blank]]
    return codes, account_ids


# ------------------------------------------------------------------------------ one lead

@dataclass(frozen=True)
class LeadEvents:
    """Activities as plain arrays: UTC µs, type code, lead id and account id (None = blank)."""

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
        times = np.fromiter((required_us(r.get("occurred_at"), "activities.occurred_at")
                             for r in records), dtype=np.int64, count=len(records))
        kinds = np.fromiter((type_code(r.get("type")) for r in records), dtype=np.int8,
                            count=len(records))
        leads = np.array([record_text(r.get("lead_id")) for r in records] or [], dtype=object)
        accounts = np.array([record_text(r.get("account_id")) for r in records] or [],
                            dtype=object)
        return cls(times, kinds, leads, accounts)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "LeadEvents":
        """Events from a canonical activities frame (e.g. read from the store)."""
        times = timestamps_to_us(frame["occurred_at"], "activities.occurred_at")
        if (times == NAT_US).any():
            raise ValueError("activities.occurred_at is missing in "
                             f"{int((times == NAT_US).sum())} row(s)")
        kinds = np.fromiter((type_code(t) for t in frame["type"].tolist()), dtype=np.int8,
                            count=len(frame))
        return cls(times, kinds, object_ids(frame, "lead_id"), object_ids(frame, "account_id"))

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
        return cls(object_ids(leads, "lead_id").tolist(), object_ids(leads, "account_id").tolist(),
                   timestamps_to_us(leads["created_at"], "leads.created_at").tolist())


def type_code(value: object) -> int:
    """Position of an activity type in ACTIVITY_TYPES.

    Raises:
        ValueError: for a missing or unknown type, listing the allowed ones.
    """
    code = TYPE_CODE.get(value) if isinstance(value, str) else None
    if code is None:
        raise ValueError(f"activities.type has unknown value {value!r}; allowed: "
                         f"{', '.join(ACTIVITY_TYPES)}")
    return code


def object_ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as an object array with None for missing (all None when absent)."""
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    values = frame[column].astype(object).to_numpy()
    return np.where(pd.isna(values), None, values)


def factorize_small(values: Iterable[object]) -> tuple[np.ndarray, list]:
    """(int32 code per value in order of first appearance, distinct values); None -> -1.

    ``pd.factorize`` without its fixed cost, for the few dozen ids of one request.
    """
    seen: dict[object, int] = {}
    codes = [-1 if v is None else seen.setdefault(v, len(seen)) for v in values]
    return np.asarray(codes, dtype=np.int32), list(seen)
