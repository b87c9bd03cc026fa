"""The arrays every lead feature group reads, for N ``(lead, as_of)`` pairs.

A group's kernel takes a ``LeadInputs`` and returns its features as arrays over the pairs. Two
builders fill it, so each feature has one implementation:

* ``features.leads.build_lead_features`` — whole tables, any number of pairs (training, batch);
* ``features.leads.build_single_lead_features`` — one lead's plain records (the scoring
  service: no pandas on the request path).

Lead columns come typed by kind: ``time`` (UTC µs, ``NAT_US`` = missing), ``number`` (float64,
NaN = missing) and ``value`` (the stored values, None / NA = missing; text, JSON, ...). Each
group declares the columns it reads (``LeadGroup.lead_columns``), so a builder reads only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from features.activities import PreparedActivities
from features.pointintime import record_number, record_us, timestamps_to_us

ColumnKind = Literal["time", "number", "value"]


@dataclass(frozen=True)
class LeadInputs:
    """Everything a lead feature group may read, as arrays over the pairs.

    Attributes:
        as_of: UTC µs per pair.
        lead: lead column -> values per pair (typed by kind, see the module docstring).
        has_account: the pair's lead has an ``account_id`` (given with the pair or its own).
        accounts: accounts column -> values per accounts row (``value`` kind).
        account_rows: position of each pair's account in ``accounts`` (-1: none / not found).
        activities: the activities as integer arrays (``features.activities``).
        lead_codes: position of each pair's lead in ``activities.lead_ids`` (-1: none).
        account_codes: position of each pair's account in ``activities.account_ids`` (-1).
        lead_accounts / lead_created / n_lead_accounts: every known lead's account code and
            creation time, for counting a company's leads.
        known_lead_accounts: each pair's account code among ``lead_accounts`` (-1: none).
    """

    as_of: np.ndarray
    lead: Mapping[str, Any]
    has_account: np.ndarray
    accounts: Mapping[str, Any]
    account_rows: np.ndarray
    activities: PreparedActivities
    lead_codes: np.ndarray
    account_codes: np.ndarray
    lead_accounts: np.ndarray
    lead_created: np.ndarray
    n_lead_accounts: int
    known_lead_accounts: np.ndarray

    def __len__(self) -> int:
        return len(self.as_of)


def read_columns(frame: pd.DataFrame, rows: np.ndarray, columns: Mapping[str, ColumnKind],
                 table: str = "leads") -> dict[str, Any]:
    """``columns`` of a canonical table at ``rows``, typed by kind (the batch builder)."""
    out: dict[str, Any] = {}
    for name, kind in columns.items():
        if kind == "time":
            out[name] = timestamps_to_us(frame[name], f"{table}.{name}")[rows]
        elif kind == "number":
            out[name] = pd.to_numeric(frame[name]).to_numpy(
                dtype=np.float64, na_value=np.nan)[rows]
        else:
            out[name] = frame[name].array.take(rows)
    return out


def record_columns(records: Sequence[Mapping[str, Any]], columns: Mapping[str, ColumnKind],
                   table: str = "leads") -> dict[str, Any]:
    """``columns`` of a few plain records, typed by kind (the single-lead builder).

    Raises:
        ValueError: a naive timestamp or a value that is not a number, naming the column.
    """
    times = [name for name, kind in columns.items() if kind == "time"]
    numbers = [name for name, kind in columns.items() if kind == "number"]
    stamps = np.array([[record_us(r.get(name), f"{table}.{name}") for r in records]
                       for name in times], dtype=np.int64).reshape(len(times), len(records))
    values = np.array([[record_number(r.get(name)) for r in records] for name in numbers],
                      dtype=np.float64).reshape(len(numbers), len(records))
    out: dict[str, Any] = {**dict(zip(times, stamps)), **dict(zip(numbers, values))}
    for name, kind in columns.items():
        if kind == "value":
            out[name] = [record.get(name) for record in records]
    return out


def account_positions(lead_accounts: pd.Series, account_ids: pd.Series) -> np.ndarray:
    """Row position of each lead's account in ``accounts`` (-1 when missing or unknown).

    Raises:
        ValueError: duplicated ``accounts.account_id``.
    """
    duplicated = account_ids[account_ids.duplicated() & account_ids.notna()]
    if len(duplicated):
        sample = ", ".join(map(str, duplicated.unique()[:5]))
        raise ValueError(f"accounts.account_id has duplicate values: {sample}")
    positions = pd.Index(account_ids).get_indexer(lead_accounts)
    return np.where(lead_accounts.isna().to_numpy(), -1, positions)


SMALL_INPUT = 64  # up to this many values, map each through a memo instead of factorizing


def _missing_to_none(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT or (
            isinstance(value, float) and value != value):
        return None
    return value


@lru_cache(maxsize=65_536)
def _memo(function: Callable[..., Any], *values: object) -> Any:
    return function(*values)


def _call(function: Callable[..., Any], values: tuple) -> Any:
    try:
        return _memo(function, *values)
    except TypeError:  # an unhashable value
        return function(*values)


def object_array(values: Sequence) -> np.ndarray:
    """``values`` as a 1-d object array (tuples and other sequences stay elements)."""
    out = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        out[position] = value
    return out


def map_distinct(function: Callable[..., Any], *columns: Sequence) -> np.ndarray:
    """``function(*row)`` for every row of ``columns``, computed once per distinct row.

    Missing values (None, NA, NaN) reach ``function`` as None. Large inputs are factorized;
    the few values of one request go through a memo shared across requests (labels repeat).
    """
    n = len(columns[0])
    if n <= SMALL_INPUT:
        return object_array([_call(function, tuple(_missing_to_none(v) for v in row))
                             for row in zip(*columns)])
    codes, uniques = [], []
    for column in columns:
        column_codes, column_uniques = pd.factorize(np.asarray(column, dtype=object)
                                                    if isinstance(column, list) else column,
                                                    use_na_sentinel=True)
        codes.append(np.where(column_codes < 0, len(column_uniques), column_codes))
        uniques.append([*column_uniques, None])
    key = np.zeros(n, dtype=np.int64)
    for column_codes, column_uniques in zip(codes, uniques):
        key = key * len(column_uniques) + column_codes
    row_codes, distinct = pd.factorize(key)
    values = []
    for packed in distinct.tolist():
        row = []
        for column_uniques in reversed(uniques):
            packed, code = divmod(packed, len(column_uniques))
            row.append(column_uniques[code])
        values.append(function(*reversed(row)))
    return object_array(values)[row_codes]
