"""Points in time typed by people (``--as-of``, ``?as_of=``) or read back from a store or a
file: one rule for the CLI, the pages, serving and the features.

A time without a zone is UTC; a time with a zone is converted to UTC (``as_utc`` for one
timestamp, ``to_utc`` / ``parse_utc`` for one value, ``to_utc_series`` for many at once). A day
is a UTC day: its start is 00:00 UTC and its end is its last microsecond, so ``t <= end`` takes
in the whole day (and the end still falls on that day, its month and its quarter).
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
_LAST_MICROSECOND = DAY - pd.Timedelta(microseconds=1)


def as_utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """``stamp`` in UTC: a timestamp without a zone is taken as UTC, one with a zone converted."""
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_utc(value: object) -> pd.Timestamp:
    """``value`` (text, datetime or Timestamp) as a UTC timestamp (``as_utc``); NaT when it is
    missing or not a date or time."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        return pd.NaT
    return pd.NaT if stamp is pd.NaT else as_utc(stamp)


def parse_utc(value: object, name: str) -> pd.Timestamp:
    """``value`` (text, datetime or Timestamp) as a UTC timestamp; no zone means UTC.

    Raises:
        ValueError: ``value`` is not a date or time (the message names ``name`` and the value).
    """
    stamp = to_utc(value)
    if stamp is pd.NaT:
        raise ValueError(f"{name}: {value!r} is not a date or time (e.g. 2026-10-15, "
                         f"2026-10-15T09:30 in UTC, or 2026-10-15T18:30+09:00)")
    return stamp


def to_utc_series(values: pd.Series | Sequence | np.ndarray, *,
                  format: str | None = None) -> pd.Series:
    """Many times at once (text, datetimes or Timestamps) as ``datetime64[us, UTC]``: the
    vectorised ``to_utc`` (no zone means UTC, a zone is converted; missing values are NaT).

    Args:
        values: a Series keeps its index; anything else gets a fresh ``RangeIndex``.
        format: ``pd.to_datetime``'s format (e.g. ``"ISO8601"`` for stored text).

    Raises:
        ValueError: a value that is not a date or time.
    """
    stamps = pd.to_datetime(values, utc=True, format=format)
    return (stamps if isinstance(stamps, pd.Series) else pd.Series(stamps)).dt.as_unit("us")


def parse_day(value: object, name: str, *, end: bool = False) -> pd.Timestamp:
    """The UTC day ``value`` falls on: its start, or with ``end`` its last microsecond.

    Raises:
        ValueError: ``value`` is not a date or time (the message names ``name``).
    """
    day = parse_utc(value, name).floor("D")
    return day + _LAST_MICROSECOND if end else day


def is_date_alone(text: str) -> bool:
    """Whether ``text`` is a calendar date with no time of day (``2026-10-15``)."""
    try:
        dt.date.fromisoformat(text.strip())
    except ValueError:
        return False
    return True
