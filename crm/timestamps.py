"""Points in time typed by people (``--as-of``, ``?as_of=``): one rule for the CLI and the pages.

A time without a zone is UTC; a time with a zone is converted to UTC. A day is a UTC day: its
start is 00:00 UTC and its end is its last microsecond, so ``t <= end`` takes in the whole day
(and the end still falls on that day, its month and its quarter).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

DAY = pd.Timedelta(days=1)
_LAST_MICROSECOND = DAY - pd.Timedelta(microseconds=1)


def parse_utc(value: object, name: str) -> pd.Timestamp:
    """``value`` (text, datetime or Timestamp) as a UTC timestamp; no zone means UTC.

    Raises:
        ValueError: ``value`` is not a date or time (the message names ``name`` and the value).
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValueError(f"{name}: {value!r} is not a date or time (e.g. 2026-10-15, "
                         f"2026-10-15T09:30 in UTC, or 2026-10-15T18:30+09:00)")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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
