"""The KPI reverse plan (KPI逆算): from a month's revenue target back to the wins,
opportunities, SQLs, MQLs, leads and calls it needs, and the gap to the month so far.

Measured over a trailing window of whole months before the planned month (what was known when
the month began):

* average deal size = mean amount of deals won in the window;
* opportunity → won = deals won / deals created in the window (all deals);
* lead → MQL, MQL → SQL, SQL → opportunity = the funnel's flows in the window
  (``reports.stages``: next stage's entries / this stage's entries);
* calls: a dial is one ``call_attempt`` (not reached) or ``call_connected`` (reached) event;
  connect rate = connected / dials, connected calls per SQL = connected / SQL entries.

Then, rounding up at every step: wins = ⌈target / average deal⌉, opportunities =
⌈wins / win rate⌉, SQLs = ⌈opportunities / SQL→opportunity⌉, MQLs, leads likewise; connected
calls = ⌈SQLs × connected per SQL⌉, dials = ⌈connected / connect rate⌉. The actuals are the
month's flows up to ``as_of``; ``expected_by_now`` is the requirement × the share of the month
elapsed (a straight-line pace).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from crm.schema import require_columns
from reports.stages import (
    build_stage_times,
    count_entries,
    latest_time,
    to_utc_timestamp,
)

logger = logging.getLogger(__name__)

PLAN_ROWS: tuple[str, ...] = ("revenue", "wins", "opportunities", "sqls", "mqls", "leads",
                              "connected_calls", "dials")
_DEAL_COLUMNS = ("amount", "currency", "created_at", "closed_at", "outcome")


@dataclass(frozen=True)
class KpiPlan:
    """The month's reverse plan.

    Attributes:
        month: the planned month.
        as_of: actuals are counted up to here (UTC).
        revenue_target: the month's revenue target, in ``currency``.
        currency: the deals' currency.
        window: (start, end) of the trailing window the rates were measured on.
        rates: ``average_deal``, ``lead→mql``, ``mql→sql``, ``sql→opportunity``,
            ``opportunity→won``, ``connect_rate``, ``connected_per_sql`` (NaN when the window
            has no data for it).
        table: one row per ``PLAN_ROWS`` item: ``required``, ``actual`` (month to date),
            ``remaining`` (required − actual, at least 0), ``expected_by_now`` (straight-line
            pace) and ``on_pace`` (actual >= expected_by_now). Calls are NaN when no call
            activities were recorded in the window.
        elapsed: share of the month elapsed at ``as_of`` (0 .. 1).
    """

    month: pd.Period
    as_of: pd.Timestamp
    revenue_target: float
    currency: str
    window: tuple[pd.Timestamp, pd.Timestamp]
    rates: dict[str, float]
    table: pd.DataFrame
    elapsed: float


def _to_month(month: object) -> pd.Period:
    if isinstance(month, pd.Period):
        return month.asfreq("M")
    if not (isinstance(month, str) and re.fullmatch(r"\d{4}-\d{2}", month.strip())):
        raise ValueError(f"month {month!r} is not a month like 2026-10")
    try:
        return pd.Period(month.strip(), freq="M")
    except ValueError:
        raise ValueError(f"month {month!r} is not a month like 2026-10") from None


def _month_bounds(month: pd.Period) -> tuple[pd.Timestamp, pd.Timestamp]:
    return month.start_time.tz_localize("UTC"), (month + 1).start_time.tz_localize("UTC")


def _one_currency(opportunities: pd.DataFrame) -> str:
    currencies = sorted(opportunities["currency"].dropna().unique())
    if len(currencies) > 1:
        raise ValueError(f"opportunities.currency mixes {', '.join(currencies)}: convert the "
                         "amounts to one currency first (forecast.convert_currency)")
    return currencies[0] if currencies else "USD"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _deal_flows(deals: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    created = deals["created_at"].between(start, end, inclusive="left")
    won = (deals["outcome"] == "won") & deals["closed_at"].between(start, end, inclusive="left")
    return {"opportunities": int(created.sum()), "wins": int(won.sum()),
            "revenue": float(deals.loc[won, "amount"].sum())}


def _call_flows(activities: pd.DataFrame | None, start: pd.Timestamp,
                end: pd.Timestamp) -> dict[str, float]:
    if activities is None:
        return {"dials": float("nan"), "connected_calls": float("nan")}
    inside = activities["occurred_at"].between(start, end, inclusive="left")
    types = activities.loc[inside, "type"]
    connected = int((types == "call_connected").sum())
    return {"dials": connected + int((types == "call_attempt").sum()),
            "connected_calls": connected}


def measure_flows(tables: Mapping[str, pd.DataFrame], start: pd.Timestamp,
                  end: pd.Timestamp, as_of: pd.Timestamp) -> dict[str, float]:
    """Entries in [start, end) known at ``as_of``: leads, mqls, sqls (funnel flows),
    lead_opportunities (deals from leads), opportunities, wins and revenue (all deals),
    dials and connected_calls (NaN without an activities table)."""
    end = min(end, as_of + pd.Timedelta(microseconds=1))
    stages = count_entries(build_stage_times(tables, as_of), start, end).iloc[0]
    deals = tables["opportunities"]
    deals = deals[deals["created_at"] <= as_of]
    return {"leads": int(stages["lead"]), "mqls": int(stages["mql"]), "sqls": int(stages["sql"]),
            "lead_opportunities": int(stages["opportunity"]),
            **_deal_flows(deals, start, end),
            **_call_flows(tables.get("activities"), start, end)}


def measure_rates(flows: Mapping[str, float]) -> dict[str, float]:
    """Conversion rates and average deal size from window flows (see the module doc)."""
    return {
        "average_deal": _ratio(flows["revenue"], flows["wins"]),
        "lead→mql": _ratio(flows["mqls"], flows["leads"]),
        "mql→sql": _ratio(flows["sqls"], flows["mqls"]),
        "sql→opportunity": _ratio(flows["lead_opportunities"], flows["sqls"]),
        "opportunity→won": _ratio(flows["wins"], flows["opportunities"]),
        "connect_rate": _ratio(flows["connected_calls"], flows["dials"]),
        "connected_per_sql": _ratio(flows["connected_calls"], flows["sqls"]),
    }


def _up(value: float) -> float:
    return float(math.ceil(value - 1e-9)) if math.isfinite(value) else float("nan")


def reverse_plan(revenue_target: float, rates: Mapping[str, float]) -> dict[str, float]:
    """Required counts for ``revenue_target`` from ``rates``, rounded up at every step."""
    for name in ("average_deal", "opportunity→won", "sql→opportunity", "mql→sql", "lead→mql"):
        if not rates[name] > 0:
            raise ValueError(f"cannot plan: the measured {name} is {rates[name]} (the window "
                             "needs deals won and entries at every stage)")
    wins = _up(revenue_target / rates["average_deal"])
    opportunities = _up(wins / rates["opportunity→won"])
    sqls = _up(opportunities / rates["sql→opportunity"])
    mqls = _up(sqls / rates["mql→sql"])
    connected = _up(sqls * rates["connected_per_sql"])
    return {"revenue": float(revenue_target), "wins": wins, "opportunities": opportunities,
            "sqls": sqls, "mqls": mqls, "leads": _up(mqls / rates["lead→mql"]),
            "connected_calls": connected, "dials": _up(connected / rates["connect_rate"])}


def _plan_table(required: Mapping[str, float], actual: Mapping[str, float],
                elapsed: float) -> pd.DataFrame:
    table = pd.DataFrame({"required": [required[r] for r in PLAN_ROWS],
                          "actual": [float(actual[r]) for r in PLAN_ROWS]},
                         index=pd.Index(PLAN_ROWS, name="kpi"))
    table["remaining"] = (table["required"] - table["actual"]).clip(lower=0)
    table["expected_by_now"] = table["required"] * elapsed
    table["on_pace"] = table["actual"] >= table["expected_by_now"]
    return table


def build_kpi_plan(tables: Mapping[str, pd.DataFrame], revenue_target: float, month: object,
                   *, as_of: object | None = None, window_months: int = 6) -> KpiPlan:
    """The KPI reverse plan of ``month`` for ``revenue_target``, with the month's actuals.

    Args:
        tables: canonical ``leads``, ``opportunities`` (one currency) and, for calls,
            ``activities``.
        revenue_target: the month's revenue target in the deals' currency (> 0).
        month: the planned month, e.g. ``"2026-10"``.
        as_of: count actuals up to here (timezone-aware); default the month's end or the
            data's newest timestamp, whichever is earlier.
        window_months: whole months before ``month`` to measure the rates on (>= 1).

    Returns:
        A ``KpiPlan``.
    """
    if not (isinstance(revenue_target, (int, float)) and revenue_target > 0):
        raise ValueError(f"revenue_target must be a positive number, got {revenue_target!r}")
    if window_months < 1:
        raise ValueError(f"window_months must be at least 1, got {window_months}")
    require_columns(tables, {"opportunities": _DEAL_COLUMNS})
    currency = _one_currency(tables["opportunities"])
    month = _to_month(month)
    start, end = _month_bounds(month)
    as_of = to_utc_timestamp(as_of if as_of is not None else min(
        end - pd.Timedelta(microseconds=1), latest_time(tables)), "as_of")
    if as_of < start:
        raise ValueError(f"as_of {as_of} is before the month {month} starts ({start})")
    window = (_month_bounds(month - window_months)[0], start)
    rates = measure_rates(measure_flows(tables, *window, start))
    required = reverse_plan(float(revenue_target), rates)
    actual = measure_flows(tables, start, end, as_of)
    elapsed = min(1.0, (as_of - start) / (end - start))
    logger.info("plan %s: %s", month, required)
    return KpiPlan(month=month, as_of=as_of, revenue_target=float(revenue_target),
                   currency=currency, window=window,
                   rates=rates, table=_plan_table(required, actual, elapsed), elapsed=elapsed)
