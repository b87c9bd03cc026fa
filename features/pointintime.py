"""Point-in-time machinery shared by every feature group: times, pairs, row look-ups, indexes.

Every feature at ``as_of`` uses only records with timestamps strictly before ``as_of``. Times
are int64 UTC microseconds (``timestamps_to_us``; ``NAT_US`` = missing). ``normalize_pairs``
checks and canonicalises a ``(id, as_of)`` frame; ``lookup_rows`` finds each pair's lead (or
deal) and refuses one scored at or before its creation.

How a window count works. Event times are replaced by their dense rank among the distinct
event times, so (entity code, time rank, kind) packs into one sortable int64 key without
overflow (µs timestamps times a million leads would not fit). The sorted keys form an
``EventIndex``; ``index.positions(codes, t)`` gives, per query, the position just past the
entity's last event before ``t``. Counts in ``[as_of - w, as_of)`` are differences of two
positions; counts per kind are differences of a per-kind prefix count (``prefix_count``), and
sums over an entity's events before ``as_of`` run over its own slice (``segment_sums``), so
adding a record at or after ``as_of`` cannot change a single bit of a feature.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from features.registry import FeatureRegistry

logger = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000
NAT_US = np.iinfo(np.int64).min


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Log how long ``stage`` took (DEBUG on the ``features`` loggers; benchmarks read it)."""
    start = time.perf_counter()
    yield
    logger.debug("stage %s took %.3f s", stage, time.perf_counter() - start)


def timestamps_to_us(values: pd.Series, name: str) -> np.ndarray:
    """UTC microseconds since the epoch as int64 (NaT → ``NAT_US``).

    Raises:
        ValueError: when ``values`` are not timezone-aware timestamps.
    """
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{name} must hold timezone-aware timestamps "
                         f"(e.g. pd.to_datetime(..., utc=True)), got dtype {values.dtype}")
    return np.asarray(values.dt.tz_convert("UTC").dt.as_unit("us").array.asi8, dtype=np.int64)


def normalize_pairs(pairs: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Check and canonicalise a ``(id, as_of)`` frame: UTC µs timestamps, RangeIndex.

    Raises:
        ValueError: missing columns, missing ids or as_of, or naive timestamps.
    """
    for column in (id_column, "as_of"):
        if column not in pairs.columns:
            raise ValueError(f"pairs is missing column {column!r}")
    for column in (id_column, "as_of"):
        if pairs[column].isna().any():
            raise ValueError(f"pairs.{column} has {int(pairs[column].isna().sum())} "
                             "missing value(s)")
    timestamps_to_us(pairs["as_of"], "pairs.as_of")
    out = pairs.reset_index(drop=True).copy()
    out["as_of"] = out["as_of"].dt.tz_convert("UTC").dt.as_unit("us")
    return out


_SORT_NEEDLES_FROM = 4096


def _searchsorted_batch(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(haystack, needles, 'left')``, faster for large unsorted needles."""
    if needles.size < _SORT_NEEDLES_FROM:
        return np.searchsorted(haystack, needles, side="left")
    flat = needles.ravel()
    order = np.argsort(flat, kind="stable")
    found = np.empty(len(flat), dtype=np.int64)
    found[order] = np.searchsorted(haystack, flat[order], side="left")
    return found.reshape(needles.shape)


def rank_times(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense int32 rank of each time, sorted distinct times)."""
    order = np.argsort(times)
    ordered = times[order]
    is_new = np.empty(len(times), dtype=bool)
    is_new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=is_new[1:])
    ranks = np.empty(len(times), dtype=np.int32)
    ranks[order] = np.cumsum(is_new, dtype=np.int32) - 1
    return ranks, ordered[is_new]


@dataclass(frozen=True)
class EventIndex:
    """Events sorted by (entity code, time, kind); answers "events of c before t" by search.

    Attributes:
        keys: sorted packed keys ``(code · (n_times + 1) + time_rank) · n_kinds + kind``.
        codes, times, kinds: per event, in sorted order.
        starts: ``starts[c]`` is the first position of code ``c``; ``starts[n_codes]`` = n.
        unique_times: the sorted distinct event times the ranks refer to.
        order: input position of each sorted event (only when built with ``keep_order``).
    """

    keys: np.ndarray
    codes: np.ndarray
    times: np.ndarray
    kinds: np.ndarray
    starts: np.ndarray
    unique_times: np.ndarray
    n_kinds: int
    order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def starts_of(self, codes: np.ndarray) -> np.ndarray:
        """First position of each code (``len(self)`` for code -1: an empty range)."""
        return np.where(codes >= 0, self.starts[np.maximum(codes, 0)], len(self.keys))

    def positions(self, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Position just past the last event of ``codes`` strictly before ``times``.

        Events of code c before t occupy ``[starts_of(c), positions(c, t))``; ``codes`` and
        ``times`` broadcast against each other.
        """
        width = np.int64(len(self.unique_times) + 1)
        ranks = _searchsorted_batch(self.unique_times, times)
        keys = (np.maximum(codes, 0) * width + ranks) * np.int64(self.n_kinds)
        found = _searchsorted_batch(self.keys, keys)
        return np.where(codes >= 0, found, len(self.keys))


def _kind_dtype(n_kinds: int) -> type:
    return np.int8 if n_kinds <= 127 else np.int32


def build_event_index(codes: np.ndarray, times: np.ndarray, n_codes: int,
                      kinds: np.ndarray | None = None, n_kinds: int = 1,
                      ranked: tuple[np.ndarray, np.ndarray] | None = None,
                      keep_order: bool = False) -> EventIndex:
    """Sort events by (code, time, kind) into an ``EventIndex``.

    Args:
        codes: entity code per event, 0..n_codes-1.
        times: UTC µs per event.
        n_codes: number of entity codes.
        kinds: small non-negative int per event (e.g. activity type), default 0.
        n_kinds: 1 + the largest kind.
        ranked: precomputed ``rank_times(times)`` to reuse across indexes.
        keep_order: also keep the input position of each sorted event (costs an argsort).
    """
    ranks, unique_times = rank_times(times) if ranked is None else ranked
    width = np.int64(len(unique_times) + 1)
    n_kinds = max(n_kinds, 1)
    if (n_codes + 1) * int(width) * n_kinds >= 2**62:
        raise ValueError(f"too many codes ({n_codes}) x distinct times ({width}) to index")
    packed = codes.astype(np.int64) * width
    packed += ranks
    packed *= n_kinds
    if kinds is not None:
        packed += kinds
    order = np.argsort(packed) if keep_order else None
    packed = packed[order] if keep_order else np.sort(packed)
    sorted_codes = (packed // (width * n_kinds)).astype(np.int32)
    return EventIndex(
        keys=packed, codes=sorted_codes,
        times=unique_times[(packed // n_kinds) % width] if len(packed) else times[:0],
        kinds=(packed % n_kinds).astype(_kind_dtype(n_kinds)),
        starts=np.searchsorted(sorted_codes, np.arange(n_codes + 1), side="left"),
        unique_times=unique_times, n_kinds=n_kinds, order=order)


def cutoff_positions(index: EventIndex, codes: np.ndarray, as_of: np.ndarray,
                     days: set[int]) -> dict[int, np.ndarray]:
    """Positions for the cut-offs ``as_of - d days`` (d = 0 is as_of itself), one search."""
    cuts = sorted(days | {0})
    times = as_of[None, :] - np.asarray(cuts, dtype=np.int64)[:, None] * US_PER_DAY
    return dict(zip(cuts, index.positions(codes[None, :], times)))


def assemble_feature_frame(pairs: pd.DataFrame, columns: Mapping[str, object],
                           registry: FeatureRegistry, id_column: str) -> pd.DataFrame:
    """Frame of ``id_column``, ``as_of`` and the registry's features in registry order.

    Categorical features stay categorical; every other feature becomes float64 (bool → 0/1).
    ``pairs`` must be normalised (RangeIndex); array-likes are taken by position.
    """
    data: dict[str, object] = {id_column: pairs[id_column].astype("str"), "as_of": pairs["as_of"]}
    for definition in registry:
        data[definition.name] = _model_values(columns[definition.name], definition.dtype)
    return pd.DataFrame(data, index=pairs.index, copy=False)


def _model_values(value: object, dtype: str) -> object:
    value = value.array if isinstance(value, pd.Series) else value
    if dtype != "category" and isinstance(value, pd.api.extensions.ExtensionArray):
        return value.to_numpy(dtype=np.float64, na_value=np.nan)
    if dtype != "category":
        return np.asarray(value, dtype=np.float64)
    return value if isinstance(value, pd.Categorical) else pd.Categorical(value)


def prefix_count(mask: np.ndarray) -> np.ndarray:
    """``out[i]`` = number of True in ``mask[:i]`` (length n + 1, int32)."""
    out = np.zeros(len(mask) + 1, dtype=np.int32)
    np.cumsum(mask, out=out[1:])
    return out


def segment_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``values[lo[i]:hi[i]].sum()`` per query (0 for empty ranges).

    Each sum depends only on the values inside its range (``np.add.reduceat`` sums a slice on
    its own), never on what lies elsewhere in the array — needed for exact point-in-time
    results. Queries are sorted by ``lo`` so the gaps reduceat also sums stay short.
    """
    if len(lo) == 0:
        return np.zeros(0)
    padded = np.append(values, 0.0)
    order = np.argsort(lo, kind="stable")
    bounds = np.empty(2 * len(lo), dtype=np.int64)
    bounds[0::2], bounds[1::2] = lo[order], hi[order]
    sums = np.empty(len(lo))
    sums[order] = np.add.reduceat(padded, bounds)[0::2]
    return np.where(hi > lo, sums, 0.0)


def id_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column]
    return pd.Series(None, index=frame.index, dtype="str")


def take_ids(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values`` at positions ``rows`` as a fresh str Series; -1 gives a missing value."""
    return pd.Series(values.array.take(rows, allow_fill=True)).astype("str")



def lookup_rows(table: pd.DataFrame, pairs: pd.DataFrame, key: str = "lead_id",
                table_name: str = "leads") -> np.ndarray:
    """Row position in ``table`` of each pair's ``key`` (a lead or a deal), checked.

    Raises:
        ValueError: unknown ids, duplicated ids in ``table``, or a record created at or after
            its ``as_of`` (it cannot be scored before it exists).
    """
    ids = table[key]
    if ids.duplicated().any():
        sample = ids[ids.duplicated()].unique()[:5]
        raise ValueError(f"{table_name}.{key} has duplicate values: "
                         f"{', '.join(map(str, sample))}")
    rows = pd.Index(ids).get_indexer(pairs[key])
    if (rows < 0).any():
        unknown = pairs.loc[rows < 0, key].unique()[:5]
        raise ValueError(f"unknown {key}(s) not in {table_name}: "
                         f"{', '.join(map(str, unknown))}")
    created = timestamps_to_us(table["created_at"], f"{table_name}.created_at")[rows]
    early = created >= timestamps_to_us(pairs["as_of"], "pairs.as_of")
    if early.any():
        sample = pairs.loc[early, key].unique()[:5]
        thing = "lead" if table_name == "leads" else "deal"
        owner = "the lead's" if table_name == "leads" else "the opportunity's"
        raise ValueError(
            f"{int(early.sum())} pair(s) have as_of at or before {owner} created_at "
            f"(a {thing} cannot be scored before it exists): {', '.join(map(str, sample))}")
    return rows


# ------------------------------------------------------------------ one lead's plain records

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def record_us(value: object, name: str) -> int:
    """UTC microseconds of one timezone-aware timestamp value (``NAT_US`` for a missing one).

    Raises:
        ValueError: naming ``name`` when the value is naive or not a timestamp.
    """
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


def required_us(value: object, name: str) -> int:
    """``record_us`` for a timestamp that must be there.

    Raises:
        ValueError: ``{name} is missing`` for a missing value (and ``record_us``'s errors).
    """
    stamp = record_us(value, name)
    if stamp == NAT_US:
        raise ValueError(f"{name} is missing")
    return stamp


def record_text(value: object) -> str | None:
    """Ids and labels as the canonical tables hold them: stripped text, blank -> None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def record_number(value: object) -> float:
    """A plain number as float (None / NA -> NaN)."""
    if value is None or value is pd.NA:
        return math.nan
    return float(value)
