"""The priority list: the store's open leads scored by the service's scorer, ranked.

Scoring every open lead one request at a time would take minutes for 10,000 leads, so the
board builds their features at once with ``features.leads.build_lead_features`` (the
definitions ``/score`` computes online; parity-tested) and hands them to
``LeadScorer.score_feature_frame`` — the same model, calibration, grades, actions and reasons
as ``/score/batch``. Ranking needs no reasons, so TreeSHAP runs only for the leads a page
shows, per language, when first shown. Boards are cached per (model version, as-of day); a new
model or a new day builds a new one.

"Open" at a time: created before it, neither sales-qualified (SQL) nor disqualified before it
unless recycled since. A board holds the leads open today or yesterday (so yesterday's leads
that became SQL today still show among the changes); its list shows today's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crm import schema
from crm.store import CRMStore
from crm.timestamps import DAY, parse_day
from features.leads import build_lead_features
from serving.schemas import ReasonOut, ScoreResponse
from serving.scorer import LeadScorer

logger = logging.getLogger(__name__)

_CACHE_SIZE = 6


@dataclass(frozen=True)
class BoardLead:
    """One lead on the board: who it is and what the scorer said."""

    lead_id: str
    name: str | None
    company: str | None
    owner: str | None
    source: str
    score: int
    probability: float | None
    grade: str
    action: str
    icp_tier: str | None
    meets_sql_rule: bool
    is_open: bool


def order_reasons(reasons: Sequence[ReasonOut]) -> list[ReasonOut]:
    """``reasons`` with the actionable ones (sales can change them) first, each group by the
    size of its push on the score."""
    return sorted(reasons, key=lambda r: (r.kind != "actionable", -abs(r.contribution)))


def rank_key(lead_id: str, score: int, probability: float | None) -> tuple:
    """Sort key of the priority order: score, then probability, high first; then lead id."""
    return (-score, -(probability if probability is not None else 0.0), lead_id)


@dataclass
class Board:
    """The ranked leads of one as-of day, as the active model (or the rules) scored them."""

    as_of: pd.Timestamp
    scored_by: str
    leads: list[BoardLead]
    features: pd.DataFrame
    seconds: float
    by_id: dict[str, BoardLead] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {lead.lead_id: lead for lead in self.leads}
        self._rows = {lead_id: i for i, lead_id in enumerate(self.features["lead_id"])}
        self._reasons: dict[tuple[str, str], list[ReasonOut]] = {}
        self._lock = threading.Lock()

    def reasons(self, scorer: LeadScorer, lead_ids: Sequence[str], language: str
                ) -> dict[str, list[ReasonOut]]:
        """Each lead's reasons (up and down) in ``language``, actionable first; explained by
        ``scorer`` on first request and kept."""
        with self._lock:
            todo = [i for i in lead_ids if (i, language) not in self._reasons]
        if todo:
            rows = self.features.iloc[[self._rows[i] for i in todo]]
            answers = scorer.score_feature_frame(rows, language)
            with self._lock:
                for lead_id, answer in zip(todo, answers):
                    self._reasons[lead_id, language] = order_reasons(
                        answer.reasons.positive + answer.reasons.negative)
        with self._lock:
            return {i: self._reasons[i, language] for i in lead_ids}

    def open_leads(self, owner: str | None = None, source: str | None = None,
                   grade: str | None = None, icp_tier: str | None = None) -> list[BoardLead]:
        """The open leads in priority order, filtered (None: any value)."""
        wanted = {"owner": owner, "source": source, "grade": grade, "icp_tier": icp_tier}
        wanted = {k: v for k, v in wanted.items() if v}
        return [lead for lead in self.leads if lead.is_open
                and all(getattr(lead, k) == v for k, v in wanted.items())]

    def choices(self) -> dict[str, list[str]]:
        """The values each filter can take on this board."""
        open_leads = [lead for lead in self.leads if lead.is_open]
        return {name: sorted({getattr(lead, name) for lead in open_leads
                              if getattr(lead, name) is not None})
                for name in ("owner", "source", "grade", "icp_tier")}


@dataclass(frozen=True)
class Change:
    """A lead that moved since yesterday."""

    lead: BoardLead
    yesterday_score: int | None

    @property
    def jump(self) -> int:
        return self.lead.score - (self.yesterday_score or 0)


def find_changes(today: Board, yesterday: Board, min_jump: int
                 ) -> tuple[list[Change], list[Change]]:
    """(score jumps of at least ``min_jump`` points, leads that crossed the SQL rule) between
    yesterday's board and today's, biggest jump first."""
    jumps, crossed = [], []
    for lead in today.leads:
        before = yesterday.by_id.get(lead.lead_id)
        if before is None:
            continue
        change = Change(lead, before.score)
        if lead.is_open and change.jump >= min_jump:
            jumps.append(change)
        if lead.meets_sql_rule and not before.meets_sql_rule:
            crossed.append(change)
    jumps.sort(key=lambda c: (-c.jump, c.lead.lead_id))
    return jumps, crossed


def open_at(leads: pd.DataFrame, moment: pd.Timestamp) -> pd.Series:
    """True for leads open at ``moment``: created before it, and neither sales-qualified nor
    disqualified before it (unless recycled after that)."""
    recycled = leads["recycled_at"].where(leads["recycled_at"] < moment)

    def closed(column: str) -> pd.Series:
        done = leads[column] < moment
        return done & ~(recycled > leads[column]).fillna(False).astype(bool)

    return ((leads["created_at"] < moment) & ~closed("sql_at").fillna(False).astype(bool)
            & ~closed("disqualified_at").fillna(False).astype(bool))


def select_open_leads(leads: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Leads open at ``as_of`` or the day before, with ``is_open``: open at ``as_of``."""
    today, yesterday = open_at(leads, as_of), open_at(leads, as_of - DAY)
    out = leads[today | yesterday].copy()
    out["is_open"] = today[today | yesterday].to_numpy()
    return out.reset_index(drop=True)


def build_board(store: CRMStore, scorer: LeadScorer, as_of: pd.Timestamp,
                tables: dict[str, pd.DataFrame] | None = None) -> Board:
    """Score the store's open leads as of ``as_of`` and rank them (reasons come later, per
    page: ``Board.reasons``)."""
    started = time.perf_counter()
    tables = tables or read_board_tables(store)
    leads = select_open_leads(tables["leads"], as_of)
    scored_by = describe_scorer(scorer)
    if leads.empty:
        return Board(as_of, scored_by, [], schema.empty_frame("leads")[["lead_id"]],
                     time.perf_counter() - started)
    pairs = pd.DataFrame({"lead_id": leads["lead_id"],
                          "as_of": pd.Series(as_of, index=leads.index).dt.as_unit("us")})
    features = build_lead_features(tables, pairs, scorer.feature_config)
    answers = scorer.score_feature_frame(features, explain=False)
    companies = tables["accounts"].set_index("account_id")["name"]
    board_leads = [_board_lead(row, answer, features, i, companies)
                   for i, (row, answer) in enumerate(zip(leads.itertuples(index=False), answers))]
    board_leads.sort(key=lambda b: rank_key(b.lead_id, b.score, b.probability))
    seconds = time.perf_counter() - started
    logger.info("priority board as of %s (%s): %d leads in %.2f s", as_of.date(), scored_by,
                len(board_leads), seconds)
    return Board(as_of, scored_by, board_leads, features, seconds)


def read_board_tables(store: CRMStore) -> dict[str, pd.DataFrame]:
    """The tables the board's features read."""
    return store.read_tables(["leads", "accounts", "activities"])


def describe_scorer(scorer: LeadScorer) -> str:
    """``name vN`` of the active lead model, or ``rules (reason)``."""
    active = scorer.active
    if active.sql is not None:
        return f"{active.sql.name} v{active.sql.version}"
    return f"rules ({active.fallback.get('sql')})"


def _board_lead(row, answer: ScoreResponse, features: pd.DataFrame, position: int,
                companies: pd.Series) -> BoardLead:
    tier = features["icp_tier"].iloc[position]
    rule = features["bant_meets_sql_rule"].iloc[position]
    account = row.account_id if isinstance(row.account_id, str) else None
    return BoardLead(
        lead_id=row.lead_id, name=_text(row.name), company=_text(companies.get(account))
        if account else None, owner=_text(row.owner), source=row.source, score=answer.score,
        probability=answer.probability, grade=answer.grade, action=answer.action,
        icp_tier=None if pd.isna(tier) else str(tier), meets_sql_rule=bool(rule == 1),
        is_open=bool(row.is_open))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class BoardCache:
    """Boards per (scorer, as-of day); each is built once, even under concurrent requests
    (a lock per key)."""

    def __init__(self, store: CRMStore, scorer: LeadScorer, size: int = _CACHE_SIZE,
                 tables_seconds: float = 60.0):
        self.store, self.scorer, self.size = store, scorer, size
        self.tables_seconds = tables_seconds
        self._boards: OrderedDict[tuple, Board] = OrderedDict()
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self._tables: tuple[float, dict[str, pd.DataFrame]] | None = None

    def _read_tables(self) -> dict[str, pd.DataFrame]:
        """The store's tables, read again when older than ``tables_seconds`` (today's and
        yesterday's boards, built one after the other, share one read)."""
        with self._lock:
            if self._tables and time.monotonic() - self._tables[0] < self.tables_seconds:
                return self._tables[1]
        tables = read_board_tables(self.store)
        with self._lock:
            self._tables = (time.monotonic(), tables)
        return tables

    def has(self, as_of: pd.Timestamp) -> bool:
        """Whether the board as of ``as_of`` for the scorer's current model is built."""
        with self._lock:
            return (describe_scorer(self.scorer), as_of) in self._boards

    def get(self, as_of: pd.Timestamp) -> Board:
        """The board as of ``as_of`` (a day start, UTC)."""
        key = (describe_scorer(self.scorer), as_of)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._boards:
                    self._boards.move_to_end(key)
                    return self._boards[key]
            board = build_board(self.store, self.scorer, as_of, self._read_tables())
            with self._lock:
                self._boards[key] = board
                while len(self._boards) > self.size:
                    old, _ = self._boards.popitem(last=False)
                    self._locks.pop(old, None)
            return board


def default_as_of(store: CRMStore, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Today (UTC, day start), or the day after the last stored activity when the data ends
    earlier (a sample CRM or an old export), so the page shows the data's own "today"."""
    today = (now or pd.Timestamp.now("UTC")).floor("D")
    table = store.table("activities")
    with store.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(table.c.occurred_at))).scalar()
    if last is None:
        return today
    return min(today, parse_day(last, "activities.occurred_at") + DAY)


def page_of(items: list, page: int, per_page: int) -> tuple[list, int]:
    """Items of 1-based ``page`` and the number of pages."""
    pages = max(1, int(np.ceil(len(items) / per_page)))
    page = min(max(1, page), pages)
    return items[(page - 1) * per_page: page * per_page], pages
