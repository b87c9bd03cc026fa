"""Time in the simulation: float days since the Unix epoch (``_NEVER`` = inf = never
happens), local office hours, Japanese holidays, the webinar and exhibition calendar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.sample.config import GeneratorConfig
from crm.sample.story import LEAD_GROWTH_PER_YEAR
from crm.sample.streams import _Streams
from crm.sample.words import _EXHIBITIONS

_DAY_US = 86_400_000_000
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_NEVER = np.inf


def _to_days(ts: pd.Timestamp) -> float:
    return float((ts.tz_convert("UTC") - _EPOCH) / pd.Timedelta(days=1))


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday=0 .. Sunday=6 of (UTC or local) day numbers."""
    return (np.floor(days).astype(np.int64) + 3) % 7


def _month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of finite day values."""
    return np.floor(days).astype(np.int64).astype("M8[D]").astype("M8[M]").astype(np.int64)


def _month_last_day(days: np.ndarray, months_ahead: object = 0) -> np.ndarray:
    """00:00 UTC of the last day of the month ``months_ahead`` after the month of ``days``."""
    month = _month_index(days) + np.asarray(months_ahead, dtype=np.int64)
    first_next = (month + 1).astype("M8[M]").astype("M8[D]").astype(np.int64)
    return first_next.astype(float) - 1.0


def _at_local_hour(t: np.ndarray, tz_hours: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Move each time to ``hour`` (local) of its local calendar day."""
    local_day = np.floor(t + tz_hours / 24.0)
    return local_day + (hour - tz_hours) / 24.0


def _daytime_hours(st: _Streams, owner: np.ndarray) -> np.ndarray:
    """Local hour of web activity: 85% office hours N(13.5, 3), 15% any time."""
    office = np.clip(st.normal(owner, 13.5, 3.0), 6.0, 23.5)
    return np.where(st.bern(owner, 0.85), office, st.uniform(owner, 0.0, 23.99))


def _business_time(st: _Streams, owner: np.ndarray, t: np.ndarray,
                   tz: np.ndarray) -> np.ndarray:
    """Sales touches: weekdays 9:30-18:00 local; weekend touches move to Monday."""
    hour = st.uniform(owner, 9.5, 18.0)
    moved = _at_local_hour(t, tz, hour)
    wd = _weekday(moved + tz / 24.0)
    return moved + np.where(wd == 5, 2.0, np.where(wd == 6, 1.0, 0.0))


@dataclass(frozen=True)
class _Calendar:
    start: float
    end: float
    days: np.ndarray            # day numbers start..end
    day_weight: np.ndarray      # lead-creation weight per day (growth x weekday x holidays)
    webinars: np.ndarray        # webinar start times
    exhibitions: np.ndarray     # first day (00:00 UTC) of each 3-day exhibition
    exhibition_names: tuple[str, ...]
    first_month: int            # month index of start - 1


def _build_calendar(config: GeneratorConfig) -> _Calendar:
    end_ts = config.end.tz_convert("UTC")
    start, end = _to_days(end_ts - pd.DateOffset(months=config.months)), _to_days(end_ts)
    days = np.arange(math.floor(start), math.floor(end) + 1, dtype=float)
    weekday_w = np.array([1.1, 1.15, 1.15, 1.1, 1.0, 0.25, 0.15])[_weekday(days)]
    growth = np.exp(LEAD_GROWTH_PER_YEAR * (days - end) / 365.25)
    weight = growth * weekday_w * np.where(_is_holiday(days), 0.3, 1.0)
    first_thursday = days[0] + (3 - _weekday(days[:1])[0]) % 7
    webinars = np.arange(first_thursday, end, 14.0) + 7.0 / 24.0  # 16:00 JST
    webinars = webinars[(webinars >= start + 10.0) & (webinars <= end)]
    exhibitions, names = _exhibition_days(end_ts.year - config.months // 12 - 1, end_ts.year,
                                          start, end)
    return _Calendar(start, end, days, weight, webinars, exhibitions, names,
                     int(_month_index(np.array([start]))[0]) - 1)


def _is_holiday(days: np.ndarray) -> np.ndarray:
    """Japanese holiday seasons: New Year (Dec 29-Jan 3), Golden Week, Obon."""
    d = days.astype(np.int64).astype("M8[D]")
    month = d.astype("M8[M]").astype(np.int64) % 12 + 1
    dom = (d - d.astype("M8[M]").astype("M8[D]")).astype(np.int64) + 1
    new_year = ((month == 12) & (dom >= 29)) | ((month == 1) & (dom <= 3))
    golden = ((month == 4) & (dom >= 29)) | ((month == 5) & (dom <= 5))
    obon = (month == 8) & (dom >= 13) & (dom <= 16)
    return new_year | golden | obon


def _exhibition_days(first_year: int, last_year: int, start: float,
                     end: float) -> tuple[np.ndarray, tuple[str, ...]]:
    days, names = [], []
    for year in range(first_year, last_year + 1):
        for month, day, name in _EXHIBITIONS:
            d = _to_days(pd.Timestamp(year=year, month=month, day=day, tz="UTC"))
            if start <= d and d + 3.0 <= end:
                days.append(d)
                names.append(f"{name} {year}")
    return np.array(days, dtype=float), tuple(names)
