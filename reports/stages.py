"""When each lead reached each funnel stage, as known at a point in time.

The inside-sales funnel is lead → MQL → SQL → opportunity → won. A lead *reaches* a stage at
the earliest time it reached that stage or any later one (a hot lead qualified straight to SQL
has passed MQL too), so the counts never grow down the funnel. Only what happened at or before
``as_of`` counts: a later ``sql_at`` or a deal won after ``as_of`` is unknown then.

Stage entries are counted as *flows* per period — leads created, MQLs reached, SQLs reached,
deals created and deals won within the period — and a stage's conversion is the next stage's
entries over its own entries in the same period (the KPI sheet's 商談化率 = アポ獲得数 ÷ MQL数).
Flows need no maturity window, so the latest (partial) period compares fairly with history.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from crm.schema import require_columns

STAGES: tuple[str, ...] = ("lead", "mql", "sql", "opportunity", "won")
GROUP_COLUMNS: tuple[str, ...] = ("source", "owner")
UNASSIGNED = "(none)"

_LEAD_COLUMNS = ("lead_id", "created_at", "mql_at", "sql_at", "source", "owner")
_DEAL_COLUMNS = ("lead_id", "created_at", "closed_at", "outcome")


def to_utc_timestamp(value: object, name: str) -> pd.Timestamp:
    """A timezone-aware timestamp in UTC; a clear error naming ``name`` otherwise."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a timestamp: {value!r}") from None
    if stamp is pd.NaT:
        raise ValueError(f"{name} is missing")
    if stamp.tzinfo is None:
        raise ValueError(f"{name} needs a time zone, e.g. 2026-10-01T00:00:00Z, got {value!r}")
    return stamp.tz_convert("UTC")


def latest_time(tables: Mapping[str, pd.DataFrame]) -> pd.Timestamp:
    """The newest created/status/closed/occurred timestamp in the tables (the CRM's "now")."""
    stamps = [frame[c].max() for frame in tables.values() for c in frame.columns
              if isinstance(frame[c].dtype, pd.DatetimeTZDtype) and c != "expected_close_date"]
    stamps = [s for s in stamps if s is not pd.NaT and pd.notna(s)]
    if not stamps:
        raise ValueError("tables hold no timestamps: pass as_of explicitly")
    return max(stamps).tz_convert("UTC")


def _known(values: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    return values.where(values <= as_of)


def _first_deal_times(opportunities: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per lead: first deal created and first deal won, both at or before ``as_of``."""
    deals = opportunities[opportunities["lead_id"].notna()]
    created = _known(deals["created_at"], as_of)
    won = _known(deals["closed_at"].where(deals["outcome"] == "won"), as_of)
    frame = pd.DataFrame({"lead_id": deals["lead_id"], "opportunity": created, "won": won})
    return frame.groupby("lead_id").min()


def build_stage_times(tables: Mapping[str, pd.DataFrame], as_of: object) -> pd.DataFrame:
    """When each lead reached each stage, as known at ``as_of``.

    Args:
        tables: canonical ``leads`` and ``opportunities`` (deals link to leads by lead_id;
            deals without a lead are not part of the lead funnel).
        as_of: timezone-aware time; later events count as not happened yet.

    Returns:
        One row per lead created at or before ``as_of``, indexed by lead_id: ``source``,
        ``owner`` (``(none)`` when blank), then one UTC timestamp column per stage in
        ``STAGES`` (NaT = not reached), monotone: a stage is reached no later than the next.
    """
    require_columns(tables, {"leads": _LEAD_COLUMNS, "opportunities": _DEAL_COLUMNS})
    as_of = to_utc_timestamp(as_of, "as_of")
    leads = tables["leads"]
    leads = leads[leads["created_at"] <= as_of]
    out = pd.DataFrame({
        "source": leads["source"].astype("str").to_numpy(),
        "owner": leads["owner"].fillna(UNASSIGNED).astype("str").to_numpy(),
        "lead": leads["created_at"].to_numpy(),
        "mql": _known(leads["mql_at"], as_of).to_numpy(),
        "sql": _known(leads["sql_at"], as_of).to_numpy(),
    }, index=pd.Index(leads["lead_id"], name="lead_id"))
    deals = _first_deal_times(tables["opportunities"], as_of).reindex(out.index)
    out["opportunity"] = deals["opportunity"]
    out["won"] = deals["won"]
    return _make_monotone(out)


def _make_monotone(times: pd.DataFrame) -> pd.DataFrame:
    """Each stage reached at the earliest of its own and every later stage's time."""
    later = times[STAGES[-1]]
    for stage in reversed(STAGES[:-1]):
        later = times[stage].where(times[stage].notna() & ~(later < times[stage]), later)
        times[stage] = later
    return times


def count_entries(times: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp,
                  by: str | None = None) -> pd.DataFrame:
    """Stage entries with start <= time < end, per group of ``by`` (or one ``all`` row).

    Returns:
        Counts indexed by group value, one int column per stage in ``STAGES``.
    """
    inside = {stage: (times[stage] >= start) & (times[stage] < end) for stage in STAGES}
    flags = pd.DataFrame(inside, index=times.index).astype("int64")
    if by is None:
        return flags.sum().to_frame("all").T
    return flags.groupby(times[by].to_numpy()).sum().rename_axis(by)


def median_days_in_stage(times: pd.DataFrame, start: pd.Timestamp,
                         end: pd.Timestamp) -> dict[str, float]:
    """Median days from reaching each stage to reaching the next, for entries into the next
    stage within [start, end); keyed by the earlier stage (NaN without entries)."""
    out = {}
    for stage, following in zip(STAGES[:-1], STAGES[1:]):
        entered = (times[following] >= start) & (times[following] < end)
        days = (times.loc[entered, following] - times.loc[entered, stage]).dt.total_seconds()
        out[stage] = float(np.median(days / 86400.0)) if len(days) else float("nan")
    return out
