"""The inside-sales leader's pages: funnel, KPI plan, recycling and 名寄せ (dedupe).

Each page calls one ``reports`` function on the store's tables (the same functions as
``leadscore funnel | plan | recycle | dedupe`` and notebook 04) and turns its result into plain
rows for a template. Reports are cached per parameters for a few minutes (``ReportCache``):
they read whole tables, and a leader reloads a page far more often than the CRM changes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import pandas as pd

from crm.store import CRMStore
from reports import (
    build_funnel,
    build_kpi_plan,
    build_recycle_report,
    find_duplicate_accounts,
    find_duplicate_leads,
)
from reports.dedupe import DUPLICATE_RATE_TARGET
from reports.recycle import REENGAGEMENT_TARGET, ScoreFunction
from serving.ui import charts

FUNNEL_TABLES = ("leads", "opportunities")
PLAN_TABLES = ("leads", "opportunities", "activities", "opportunity_stage_history")
RECYCLE_TABLES = ("leads", "opportunities", "activities", "accounts")
DEDUPE_TABLES = ("leads", "accounts")


class ReportCache:
    """The last ``size`` reports by key, each kept ``seconds``; one build per key at a time."""

    def __init__(self, seconds: float = 300.0, size: int = 16) -> None:
        self.seconds, self.size = seconds, size
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.seconds:
                self._items.move_to_end(key)
                return hit[1]
            value = build()
            self._items[key] = (time.monotonic(), value)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value


def read_report_tables(store: CRMStore, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The canonical tables a report reads."""
    return store.read_tables(list(names))


def _rows(frame: pd.DataFrame, index_name: str | None = None) -> list[dict[str, Any]]:
    """A frame as template rows (its index as ``index_name`` first; NaN as None)."""
    shown = frame.reset_index(names=index_name) if index_name else frame
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in shown.to_dict("records")]


# --- funnel ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelView:
    """What the funnel page shows."""

    period: str
    freq: str
    as_of: pd.Timestamp
    stages: list[dict[str, Any]]
    bottleneck: dict[str, Any] | None
    transitions: list[str]
    by_source: list[dict[str, Any]]
    by_owner: list[dict[str, Any]]
    stage_names: list[str]
    chart: Any


def period_before(moment: pd.Timestamp, freq: str) -> str:
    """The period (``M``, ``Q``, ``W``) holding the last instant before ``moment``: on the first
    day of a month (today 00:00, nothing of it known yet) the month that just ended."""
    return str(pd.Period((moment - pd.Timedelta(microseconds=1)).tz_localize(None), freq))


def funnel_view(tables: dict[str, pd.DataFrame], period: str | None, freq: str,
                as_of: pd.Timestamp | None, default_day: pd.Timestamp,
                chart_title: str) -> FunnelView:
    """``reports.build_funnel`` for ``period`` (default: ``period_before(as_of or default_day)``).

    Raises:
        ValueError: a period or frequency pandas cannot read, or ``as_of`` before the period.
    """
    if freq not in ("M", "Q", "W"):
        raise ValueError(f"freq: {freq!r} is not one of M, Q, W")
    chosen = period or period_before(as_of or default_day, freq)
    report = build_funnel(tables, chosen, freq=freq, as_of=as_of)
    stages = _rows(report.stages, "stage")
    for row in stages:
        row["is_bottleneck"] = row["stage"] == report.bottleneck
    bottleneck = next((row for row in stages if row["is_bottleneck"]), None)
    transitions = [c for c in report.history.columns if "→" in c and c != "lead→won"]
    history = report.history
    points = {name: [(float(i), float(v)) for i, v in enumerate(history[name]) if v == v]
              for name in transitions}
    labels = [(float(i), str(p)) for i, p in enumerate(history.index)]
    top = max([1.0, *(y for line in points.values() for _, y in line)])  # may pass 100%
    return FunnelView(
        period=str(report.period), freq=freq, as_of=report.as_of, stages=stages,
        bottleneck=bottleneck, transitions=[*transitions, "lead→won"],
        by_source=_rows(report.by_source, "group"), by_owner=_rows(report.by_owner, "group"),
        stage_names=[c for c in report.by_source.columns if "→" not in c],
        chart=charts.line_chart(points, chart_title, x_labels=labels, y_range=(0, top * 1.05)))


# --- KPI plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanView:
    """What the KPI plan page shows."""

    month: str
    as_of: pd.Timestamp
    revenue_target: float
    currency: str
    window: tuple[str, str]
    elapsed: float
    rates: list[tuple[str, float | None]]
    rows: list[dict[str, Any]]


def plan_view(tables: dict[str, pd.DataFrame], revenue_target: float, month: str,
              as_of: pd.Timestamp | None) -> PlanView:
    """``reports.build_kpi_plan`` (tables already in one currency).

    Raises:
        ValueError: a target that is not positive, a month pandas cannot read, mixed
            currencies.
    """
    plan = build_kpi_plan(tables, revenue_target, month, as_of=as_of)
    last = plan.window[1] - pd.Timedelta(days=1)
    return PlanView(
        month=str(plan.month), as_of=plan.as_of, revenue_target=plan.revenue_target,
        currency=plan.currency, window=(f"{plan.window[0]:%Y-%m}", f"{last:%Y-%m}"),
        elapsed=plan.elapsed,
        rates=[(name, None if value != value else value) for name, value in plan.rates.items()],
        rows=_rows(plan.table, "kpi"))


# --- recycling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecycleView:
    """What the recycling page shows."""

    as_of: pd.Timestamp
    candidates: list[dict[str, Any]]
    total_candidates: int
    held: int
    cohort: int
    requalified: int
    requalified_rate: float | None
    reengaged_rate: float | None
    meets_target: bool
    target: float
    score_source: str


def recycle_view(tables: dict[str, pd.DataFrame], as_of: pd.Timestamp | None,
                 score: ScoreFunction | None, score_source: str, top: int) -> RecycleView:
    """``reports.build_recycle_report``: the ``top`` held leads whose score rose most."""
    report = build_recycle_report(tables, as_of=as_of, score=score, score_source=score_source)
    rate, engaged = report.requalified_rate, report.reengaged_rate
    return RecycleView(
        as_of=report.as_of, candidates=_rows(report.candidates.head(top)),
        total_candidates=len(report.candidates), held=report.held, cohort=report.cohort,
        requalified=report.requalified, requalified_rate=None if rate != rate else rate,
        reengaged_rate=None if engaged != engaged else engaged,
        meets_target=report.meets_target, target=REENGAGEMENT_TARGET,
        score_source=score_source)


# --- dedupe ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DedupeView:
    """What the 名寄せ page shows: per entity the rate against the target, and suggestions."""

    entities: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    total_suggestions: int
    target: float


def dedupe_view(tables: dict[str, pd.DataFrame], threshold: float, top: int) -> DedupeView:
    """``reports.find_duplicate_leads`` and ``find_duplicate_accounts`` at ``threshold``."""
    leads = find_duplicate_leads(tables["leads"], threshold=threshold)
    accounts = find_duplicate_accounts(tables["accounts"], tables["leads"], threshold=threshold)
    entities = [{"entity": r.entity, "records": r.records,
                 "pairs": int(r.pairs["match"].sum()) if len(r.pairs) else 0,
                 "rate": r.duplicate_rate, "meets_target": r.meets_target}
                for r in (leads, accounts)]
    suggestions = pd.concat([r.merge_suggestions().assign(entity=r.entity)
                             for r in (leads, accounts)], ignore_index=True)
    return DedupeView(entities=entities, suggestions=_rows(suggestions.head(top)),
                      total_suggestions=len(suggestions), target=DUPLICATE_RATE_TARGET)
