"""The pipeline exactly as it stood at a past moment (point in time).

A deal's state at ``as_of`` comes only from its stage-history rows with ``entered_at < as_of``;
a deal belongs to the snapshot when it was created before ``as_of`` and had not closed by then.
The current ``stage``, ``amount`` and ``outcome`` columns of ``opportunities`` are never read for
a deal that was still open at ``as_of``; they are read only for deals closed before ``as_of``
(booked or gone), whose closing is already history at that moment.

``as_of`` is a date: the forecast is made at 00:00 UTC of that day, knowing everything that
happened on earlier days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from crm.schema import require_columns
from crm.timestamps import parse_day

Tables = dict[str, pd.DataFrame]
Freq = Literal["month", "quarter"]

DAY = pd.Timedelta(days=1)
UNKNOWN_STAGE = "(unknown)"
_OPPORTUNITY_COLUMNS = ("opportunity_id", "created_at", "closed_at", "outcome", "amount")
_HISTORY_COLUMNS = ("opportunity_id", "stage", "entered_at", "amount", "expected_close_date")
SNAPSHOT_COLUMNS = (
    "opportunity_id", "as_of", "created_at", "stage", "amount", "expected_close_date",
    "stage_entered_at", "age_days", "days_in_stage", "days_to_expected_close", "n_slips",
    "slip_days", "n_stage_changes",
)


@dataclass(frozen=True)
class Period:
    """A forecast period ``[start, end)``: a calendar month or quarter in UTC."""

    start: pd.Timestamp
    end: pd.Timestamp
    freq: Freq

    @property
    def n_days(self) -> int:
        return int((self.end - self.start) / DAY)

    @property
    def label(self) -> str:
        if self.freq == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}-{self.start.month:02d}"

    def day_index(self, moment: pd.Timestamp) -> int:
        """Whole days from the period start to ``moment`` (0 on the first day)."""
        return int((moment - self.start) // DAY)


def to_as_of(value: object) -> pd.Timestamp:
    """Parse a date (string, date or timestamp) into midnight UTC of the UTC day it falls on
    (``crm.timestamps.parse_day``: no zone means UTC).

    Raises:
        ValueError: if ``value`` is not a date.
    """
    return parse_day(value, "as_of").as_unit("us")


def period_containing(as_of: pd.Timestamp, freq: Freq = "month") -> Period:
    """The calendar month or quarter that contains ``as_of``."""
    if freq not in ("month", "quarter"):
        raise ValueError(f"freq must be 'month' or 'quarter', got {freq!r}")
    as_of = to_as_of(as_of)
    first_month = as_of.month if freq == "month" else 3 * ((as_of.month - 1) // 3) + 1
    start = as_of.replace(month=first_month, day=1)
    end = start + pd.DateOffset(months=1 if freq == "month" else 3)
    return Period(start=start, end=pd.Timestamp(end).as_unit("us"), freq=freq)


def past_periods(as_of: object, freq: Freq, n: int) -> list[Period]:
    """The ``n`` complete periods before the one containing ``as_of``, oldest first."""
    months = 1 if freq == "month" else 3
    start = period_containing(as_of, freq).start
    starts = [pd.Timestamp(start - pd.DateOffset(months=months * i)) for i in range(n, 0, -1)]
    return [period_containing(s, freq) for s in starts]


def check_tables(tables: Tables, one_currency: bool = False) -> None:
    """Raise a clear error if ``tables`` lack what the forecast reads.

    Args:
        tables: canonical tables.
        one_currency: also require every deal in one currency (revenue is summed).

    Raises:
        ValueError: naming the missing table or column, a timestamp column that is not UTC, or
            the currencies mixed.
    """
    require_columns(tables, {"opportunities": _OPPORTUNITY_COLUMNS,
                             "opportunity_stage_history": _HISTORY_COLUMNS})
    if one_currency and "currency" in tables["opportunities"].columns:
        currencies = sorted(tables["opportunities"]["currency"].dropna().unique())
        if len(currencies) > 1:
            raise ValueError(f"opportunities.currency mixes {', '.join(currencies)}: convert "
                             "amounts to one currency first (forecast.convert_currency)")
    for table, column in [("opportunities", "created_at"), ("opportunities", "closed_at"),
                          ("opportunity_stage_history", "entered_at")]:
        if not isinstance(tables[table][column].dtype, pd.DatetimeTZDtype):
            raise ValueError(f"{table}.{column} must be a timezone-aware (UTC) timestamp column, "
                             f"got {tables[table][column].dtype}")


def convert_currency(tables: Tables, rates: dict[str, float], to: str) -> Tables:
    """Copy of ``tables`` with every deal amount in currency ``to``.

    Args:
        tables: canonical tables; each deal's currency is ``opportunities.currency`` and its
            history rows are in the same currency.
        rates: value of one unit of each currency in ``to`` (e.g. ``{"USD": 1, "JPY": 1/150}``).
        to: the reporting currency.

    Raises:
        ValueError: if a deal's currency has no (positive) rate.
    """
    opportunities = tables["opportunities"]
    bad = {c: r for c, r in rates.items() if not (np.isfinite(r) and r > 0)}
    if bad:
        raise ValueError(f"rates must be positive numbers, got {bad}")
    missing = sorted(set(opportunities["currency"].dropna()) - set(rates))
    if missing or opportunities["currency"].isna().any():
        raise ValueError(f"no exchange rate for currency {', '.join(missing) or '(missing)'}")
    factor = opportunities["currency"].map(rates).astype("float64")
    out = dict(tables)
    out["opportunities"] = opportunities.assign(amount=opportunities["amount"] * factor,
                                                currency=to).astype({"currency": "str"})
    history = tables["opportunity_stage_history"]
    by_deal = factor.set_axis(opportunities["opportunity_id"])
    out["opportunity_stage_history"] = history.assign(
        amount=history["amount"] * history["opportunity_id"].map(by_deal).astype("float64"))
    return out


def prepare_history(history: pd.DataFrame) -> pd.DataFrame:
    """Sort stage history and add running columns that use only each row and earlier rows.

    Rows with the same ``entered_at`` are ordered by stage name (as ``features.opportunity``
    does). Added: ``stage_entered_at`` (start of the current run of the same stage), ``n_slips``
    (times the expected close date moved later so far), ``slip_days`` (days it moved later in
    total) and ``n_stage_changes``. Being cumulative, they are as valid at any later moment as
    at ``entered_at``, so one prepared frame serves every as-of date.
    """
    h = history.loc[:, list(_HISTORY_COLUMNS)].sort_values(
        ["opportunity_id", "entered_at", "stage"], kind="stable").reset_index(drop=True)
    deal = h["opportunity_id"]
    first_row = deal.ne(deal.shift())
    new_run = first_row | h["stage"].ne(h["stage"].shift())
    run_id = new_run.cumsum()
    h["stage_entered_at"] = h.groupby(run_id)["entered_at"].transform("first")
    h["n_stage_changes"] = (new_run & ~first_row).astype("int64").groupby(deal).cumsum()
    previous_ecd = h.groupby(deal)["expected_close_date"].shift().groupby(deal).ffill()
    moved = (h["expected_close_date"] - previous_ecd) / DAY
    later = moved.where(moved > 0, 0.0).fillna(0.0)
    h["n_slips"] = (later > 0).astype("int64").groupby(deal).cumsum()
    h["slip_days"] = later.groupby(deal).cumsum()
    return h


def open_deals_at(opportunities: pd.DataFrame, moments: pd.Series) -> pd.DataFrame:
    """Pairs (deal, moment) for every deal created before and not closed before each moment."""
    created = _naive_utc(opportunities["created_at"])
    closed = _naive_utc(opportunities["closed_at"])
    stamps = pd.DatetimeIndex(pd.unique(moments)).sort_values()
    parts = []
    for moment in stamps:
        m = to_naive_utc(moment)
        is_open = (created < m) & ~(closed < m)
        ids = opportunities["opportunity_id"][is_open].reset_index(drop=True)
        parts.append(pd.DataFrame({"opportunity_id": ids, "as_of": moment}))
    if not parts:
        return pd.DataFrame({"opportunity_id": opportunities["opportunity_id"].iloc[:0],
                             "as_of": pd.Series(dtype=opportunities["created_at"].dtype)})
    return pd.concat(parts, ignore_index=True)


def _naive_utc(stamps: pd.Series) -> np.ndarray:
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def states_at(pairs: pd.DataFrame, opportunities: pd.DataFrame,
              history: pd.DataFrame) -> pd.DataFrame:
    """Each (deal, as_of) pair's state from the last history row with ``entered_at < as_of``.

    Args:
        pairs: ``opportunity_id`` and ``as_of`` columns.
        opportunities: for ``created_at`` only.
        history: the output of ``prepare_history``.

    Returns:
        One row per pair with ``SNAPSHOT_COLUMNS``; a deal with no history row before ``as_of``
        gets stage ``(unknown)`` and missing amount and expected close date.
    """
    left = pairs.loc[:, ["opportunity_id", "as_of"]].copy()
    left["as_of"] = left["as_of"].astype(history["entered_at"].dtype)
    left = left.sort_values("as_of", kind="stable")
    right = history.sort_values("entered_at", kind="stable")
    state = pd.merge_asof(left, right, left_on="as_of", right_on="entered_at",
                          by="opportunity_id", allow_exact_matches=False)
    created = opportunities.set_index("opportunity_id")["created_at"]
    state["created_at"] = state["opportunity_id"].map(created).astype(created.dtype)
    return _derive_clocks(state)


def _derive_clocks(state: pd.DataFrame) -> pd.DataFrame:
    state["stage"] = state["stage"].fillna(UNKNOWN_STAGE).astype("str")
    state["stage_entered_at"] = state["stage_entered_at"].fillna(state["created_at"])
    state["age_days"] = (state["as_of"] - state["created_at"]) / DAY
    state["days_in_stage"] = (state["as_of"] - state["stage_entered_at"]) / DAY
    state["days_to_expected_close"] = (state["expected_close_date"] - state["as_of"]) / DAY
    for column in ("n_slips", "n_stage_changes"):
        state[column] = state[column].fillna(0).astype("int64")
    state["slip_days"] = state["slip_days"].fillna(0.0).astype("float64")
    state["amount"] = state["amount"].astype("float64")
    return state.loc[:, list(SNAPSHOT_COLUMNS)].reset_index(drop=True)


def pipeline_as_of(tables: Tables, as_of: object,
                   history: pd.DataFrame | None = None) -> pd.DataFrame:
    """The open pipeline at ``as_of``, rebuilt point in time.

    Args:
        tables: canonical tables with ``opportunities`` and ``opportunity_stage_history``.
        as_of: the date of the snapshot (00:00 UTC).
        history: ``prepare_history(...)`` of the stage history, to reuse across calls.

    Returns:
        One row per deal open at ``as_of`` with ``SNAPSHOT_COLUMNS`` (plus ``product``,
        ``owner`` and ``account_id`` when the opportunities table has them), ordered by
        ``opportunity_id``.
    """
    check_tables(tables)
    as_of = to_as_of(as_of)
    opportunities = tables["opportunities"]
    if history is None:
        history = prepare_history(tables["opportunity_stage_history"])
    pairs = open_deals_at(opportunities, pd.Series([as_of]))
    snapshot = states_at(pairs, opportunities, history)
    static = [c for c in ("product", "owner", "account_id") if c in opportunities.columns]
    if static:
        attributes = opportunities.set_index("opportunity_id")[static]
        snapshot = snapshot.join(attributes, on="opportunity_id")
    return snapshot.sort_values("opportunity_id", ignore_index=True)


def as_known_at(tables: Tables, as_of: object) -> Tables:
    """The deals and stage history exactly as the CRM showed them at ``as_of``.

    Later deals and stage-history rows are gone; a deal open at ``as_of`` has its stage,
    amount and expected close date of then (its last history row before ``as_of``), outcome
    ``open`` and no close. What a backtest replays and the point-in-time tests compare with.
    """
    as_of = to_as_of(as_of)
    history = tables["opportunity_stage_history"]
    history = history[history["entered_at"] < as_of].reset_index(drop=True)
    opportunities = tables["opportunities"]
    opportunities = opportunities[opportunities["created_at"] < as_of].copy()
    open_then = ~(opportunities["closed_at"] < as_of)
    last = history.sort_values(["entered_at", "stage"]).groupby("opportunity_id").last()
    ids = opportunities.loc[open_then, "opportunity_id"]
    for column in ("stage", "amount", "expected_close_date"):
        if column in opportunities.columns:
            opportunities.loc[open_then, column] = ids.map(last[column]).to_numpy()
    opportunities.loc[open_then, "outcome"] = "open"
    opportunities.loc[open_then, "closed_at"] = pd.NaT
    if "loss_reason" in opportunities.columns:
        opportunities.loc[open_then, "loss_reason"] = None
    return {"opportunities": opportunities.reset_index(drop=True),
            "opportunity_stage_history": history}


def closed_before(tables: Tables, as_of: object) -> pd.DataFrame:
    """Deals closed before ``as_of``: ``opportunity_id, created_at, closed_at, outcome, amount``.

    Their closing is history at ``as_of``, so their outcome and final amount may be read.
    """
    as_of = to_as_of(as_of)
    opportunities = tables["opportunities"]
    done = opportunities[opportunities["closed_at"] < as_of]
    return done.loc[:, list(_OPPORTUNITY_COLUMNS)].reset_index(drop=True)


def won_between(tables: Tables, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Deals won with ``start <= closed_at < end`` (amount missing counts as 0)."""
    opportunities = tables["opportunities"]
    closed = opportunities["closed_at"]
    won = opportunities[(opportunities["outcome"] == "won") & (closed >= start) & (closed < end)]
    won = won.loc[:, list(_OPPORTUNITY_COLUMNS)].reset_index(drop=True)
    won["amount"] = won["amount"].astype("float64").fillna(0.0)
    return won


class WonRevenue:
    """Closed-won revenue with ``start <= closed_at < end`` by binary search: the won deals are
    read once (``won_between`` filters the whole table on every call). For tables that no longer
    change, e.g. a ``FitCache``'s."""

    def __init__(self, tables: Tables):
        won = won_between(tables, pd.Timestamp.min.tz_localize("UTC"),
                          pd.Timestamp.max.tz_localize("UTC"))
        order = np.argsort(_naive_utc(won["closed_at"]), kind="stable")
        self._closed = _naive_utc(won["closed_at"])[order]
        self._amount = won["amount"].to_numpy(dtype="float64")[order]

    def __call__(self, start: pd.Timestamp, end: pd.Timestamp) -> float:
        bounds = [to_naive_utc(moment) for moment in (start, end)]
        first, last = np.searchsorted(self._closed, bounds, side="left")
        return float(self._amount[first:last].sum())


def to_naive_utc(moment: pd.Timestamp) -> np.datetime64:
    """A timezone-aware timestamp as a naive UTC ``datetime64``."""
    return moment.tz_convert("UTC").tz_localize(None).to_datetime64()


def booked_to_date(tables: Tables, as_of: object, period: Period) -> float:
    """Closed-won revenue inside ``period`` before ``as_of``."""
    as_of = to_as_of(as_of)
    return float(won_between(tables, period.start, min(as_of, period.end))["amount"].sum())


def actual_won_revenue(tables: Tables, period: Period) -> float:
    """Closed-won revenue of the whole period, as finally recorded."""
    return float(won_between(tables, period.start, period.end)["amount"].sum())


def fill_missing_amounts(snapshot: pd.DataFrame, tables: Tables, as_of: object) -> pd.DataFrame:
    """Fill a missing deal amount with the mean won amount, known at ``as_of``, of its product.

    Falls back to the mean of all deals won before ``as_of``, then to 0. Adds a boolean
    ``amount_imputed`` column. (Maven CRM records a value only when a deal closes.)
    """
    out = snapshot.copy()
    missing = out["amount"].isna()
    out["amount_imputed"] = missing
    if not missing.any():
        return out
    done = closed_before(tables, as_of)
    won = done[(done["outcome"] == "won") & done["amount"].notna()]
    overall = float(won["amount"].mean()) if len(won) else 0.0
    fill = pd.Series(overall, index=out.index)
    if "product" in out.columns and "product" in tables["opportunities"].columns:
        products = tables["opportunities"].set_index("opportunity_id")["product"]
        by_product = won.assign(product=won["opportunity_id"].map(products))
        means = by_product.groupby("product")["amount"].mean()
        fill = out["product"].map(means).astype("float64").fillna(overall)
    out.loc[missing, "amount"] = fill[missing]
    return out
