"""The funnel report: conversion per stage, source and owner for a period, and its bottleneck.

For a period (a month by default) as known at ``as_of``, each stage's conversion is the next
stage's entries over its own entries in that period (flows; see ``reports.stages``). The
**bottleneck** is the stage whose conversion fell most against its own history — the same
stage's pooled conversion over the previous ``history_periods`` periods — among stages with at
least ``min_entries`` entries; none when no stage fell. The previous period is shown beside it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from reports.stages import (
    STAGES,
    build_stage_times,
    count_entries,
    latest_time,
    median_days_in_stage,
    to_utc_timestamp,
)

logger = logging.getLogger(__name__)

TRANSITIONS: tuple[tuple[str, str], ...] = tuple(zip(STAGES[:-1], STAGES[1:]))


@dataclass(frozen=True)
class FunnelReport:
    """The funnel of one period.

    Attributes:
        period: the reported period (e.g. ``Period('2026-09', 'M')``).
        as_of: what was known then (UTC); a period still running is counted up to it.
        stages: one row per stage (index ``STAGES``): ``entered`` (entries in the period),
            ``next_stage``, ``conversion`` (next stage's entries / entries), the previous
            period's ``last_conversion``, the pooled ``history_conversion`` of the previous
            ``history_periods`` periods, ``change_vs_last`` and ``change_vs_history``
            (relative: -0.25 = a quarter lower), ``z_vs_history`` (two-proportion z-score) and
            ``median_days_to_next`` (time in stage of the period's entries into the next).
            The last stage (won) has no conversion.
        by_source, by_owner: one row per source / owner: entries per stage, then one
            conversion column per transition (``lead→mql`` …) and ``lead→won``.
        history: one row per period (oldest first, the reported one last): entries per stage
            and conversion per transition — for charts.
        bottleneck: the stage (its name, e.g. ``sql`` for sql→opportunity) with the largest
            relative drop against its history, or None when no eligible stage dropped.
    """

    period: pd.Period
    as_of: pd.Timestamp
    stages: pd.DataFrame
    by_source: pd.DataFrame
    by_owner: pd.DataFrame
    history: pd.DataFrame
    bottleneck: str | None

    def describe_bottleneck(self) -> str:
        """One sentence for people: which stage, how far below its history and last period."""
        if self.bottleneck is None:
            return f"{self.period}: no stage converted worse than its history."
        row = self.stages.loc[self.bottleneck]
        return (f"{self.period}: bottleneck {self.bottleneck}→{row['next_stage']}: "
                f"{row['conversion']:.1%} vs {row['history_conversion']:.1%} over the previous "
                f"periods ({row['change_vs_history']:+.0%}) and {row['last_conversion']:.1%} "
                f"last period; median {row['median_days_to_next']:.1f} days in stage.")


def _period_bounds(period: pd.Period) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = period.start_time.tz_localize("UTC")
    return start, (period + 1).start_time.tz_localize("UTC")


def add_conversions(entries: pd.DataFrame) -> pd.DataFrame:
    """``entries`` (one column per stage) plus a conversion column per transition and
    ``lead→won``; NaN where the earlier stage had no entries."""
    out = entries.copy()
    for stage, following in (*TRANSITIONS, ("lead", "won")):
        denominator = entries[stage].where(entries[stage] > 0)
        out[f"{stage}→{following}"] = entries[following] / denominator
    return out


def _to_period(period: object, freq: str) -> pd.Period:
    try:
        return pd.Period(period, freq=freq)
    except (TypeError, ValueError) as error:
        raise ValueError(f"period {period!r} is not a {freq} period: {error}") from None


def _history_table(times: pd.DataFrame, period: pd.Period, history_periods: int) -> pd.DataFrame:
    rows = {}
    for k in range(history_periods, -1, -1):
        start, end = _period_bounds(period - k)
        rows[str(period - k)] = count_entries(times, start, end).iloc[0]
    return add_conversions(pd.DataFrame(rows).T.astype("int64"))


def _z_score(hits: float, n: float, base_hits: float, base_n: float) -> float:
    """Two-proportion z-score of hits/n against base_hits/base_n (NaN when undefined)."""
    if n <= 0 or base_n <= 0:
        return float("nan")
    pooled = (hits + base_hits) / (n + base_n)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / base_n))
    return (hits / n - base_hits / base_n) / spread if spread > 0 else float("nan")


def _stage_table(history: pd.DataFrame, days: dict[str, float]) -> pd.DataFrame:
    current, last, before = history.iloc[-1], history.iloc[-2], history.iloc[:-1]
    pooled = before[list(STAGES)].sum()
    rows = []
    for stage, following in TRANSITIONS:
        base = pooled[following] / pooled[stage] if pooled[stage] > 0 else float("nan")
        rate, last_rate = current[f"{stage}→{following}"], last[f"{stage}→{following}"]
        rows.append({"stage": stage, "entered": int(current[stage]), "next_stage": following,
                     "conversion": rate, "last_conversion": last_rate,
                     "history_conversion": base, "change_vs_last": rate / last_rate - 1,
                     "change_vs_history": rate / base - 1,
                     "z_vs_history": _z_score(current[following], current[stage],
                                              pooled[following], pooled[stage]),
                     "median_days_to_next": days[stage]})
    rows.append({"stage": STAGES[-1], "entered": int(current[STAGES[-1]])})
    with np.errstate(divide="ignore", invalid="ignore"):
        table = pd.DataFrame(rows).set_index("stage")
    return table.replace([np.inf, -np.inf], np.nan)


def find_bottleneck(stages: pd.DataFrame, history: pd.DataFrame,
                    min_entries: int) -> str | None:
    """The stage with the most negative ``change_vs_history`` among stages with at least
    ``min_entries`` entries in the period and in its history; None if none fell."""
    pooled = history.iloc[:-1][list(STAGES)].sum()
    eligible = stages[(stages["entered"] >= min_entries)
                      & (pooled.reindex(stages.index) >= min_entries)
                      & (stages["change_vs_history"] < 0)]
    if eligible.empty:
        return None
    return str(eligible["change_vs_history"].idxmin())


def build_funnel(tables: Mapping[str, pd.DataFrame], period: object, *, freq: str = "M",
                 as_of: object | None = None, history_periods: int = 6,
                 min_entries: int = 10) -> FunnelReport:
    """The funnel of ``period``: conversion per stage, source and owner, time in stage, and the
    bottleneck against the stage's own history.

    Args:
        tables: canonical ``leads`` and ``opportunities``.
        period: the period to report, e.g. ``"2026-09"`` (a pandas Period string).
        freq: period length, a pandas period alias (``M`` month, ``Q`` quarter, ``W`` week).
        as_of: what is known (timezone-aware); default the period's end or the data's newest
            timestamp, whichever is earlier.
        history_periods: previous periods pooled as each stage's history (>= 1).
        min_entries: a stage needs this many entries in the period and in its history to be
            named the bottleneck.

    Returns:
        A ``FunnelReport``.
    """
    if history_periods < 1:
        raise ValueError(f"history_periods must be at least 1, got {history_periods}")
    period = _to_period(period, freq)
    start, end = _period_bounds(period)
    if as_of is None:
        as_of = min(end - pd.Timedelta(microseconds=1), latest_time(tables))
    as_of = to_utc_timestamp(as_of, "as_of")
    if as_of < start:
        raise ValueError(f"as_of {as_of} is before the period {period} starts ({start})")
    times = build_stage_times(tables, as_of)
    history = _history_table(times, period, history_periods)
    stages = _stage_table(history, median_days_in_stage(times, start, end))
    report = FunnelReport(
        period=period, as_of=as_of, stages=stages,
        by_source=add_conversions(count_entries(times, start, end, by="source")),
        by_owner=add_conversions(count_entries(times, start, end, by="owner")),
        history=history, bottleneck=find_bottleneck(stages, history, min_entries))
    logger.info("funnel %s as of %s: bottleneck %s", period, as_of, report.bottleneck)
    return report
