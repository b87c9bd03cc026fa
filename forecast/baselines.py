"""Historical stage win rates, and the simple forecasts the model has to beat.

* ``forecast_in_month_pace``: booked so far x days in the period / days elapsed (undefined on
  the first day).
* ``forecast_same_day_history``: booked to date + the mean of what closed after the same day of
  the last three periods.
* ``forecast_stage_weighted``: booked to date + sum of open deals' amount x their stage's
  historical win rate, over the deals whose expected close date falls inside the period (the
  usual CRM forecast view); a deal with no expected close date counts wherever it is (Maven CRM
  records none, so there the whole open pipeline is weighted).
* ``forecast_naive_run_rate``: booked to date + the trailing daily closed-won revenue (90 days)
  x the days left in the period.

All read only what was known at ``as_of`` (``snapshot.pipeline_as_of``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from forecast.snapshot import (DAY, Period, Tables, booked_to_date, check_tables, closed_before,
                               fill_missing_amounts, past_periods, pipeline_as_of,
                               prepare_history, to_as_of, won_between)


@dataclass(frozen=True)
class StageWinRates:
    """P(win) by stage, from deals closed before ``as_of``; callable on a snapshot frame.

    Attributes:
        rates: smoothed win rate per stage (stages the deals passed through while open).
        overall: win rate of all deals closed in the lookback, the prior mean.
        counts: closed deals that passed through each stage.
    """

    rates: dict[str, float]
    overall: float
    counts: dict[str, int] = field(default_factory=dict)

    def __call__(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Win probability of each snapshot row from its ``stage`` (unseen stage: overall)."""
        return snapshot["stage"].map(self.rates).astype("float64").fillna(
            self.overall).to_numpy()


def fit_stage_win_rates(tables: Tables, as_of: object, history: pd.DataFrame | None = None,
                        lookback_days: int = 365, prior_strength: float = 20.0) -> StageWinRates:
    """Win rate of each stage among deals that passed through it and closed before ``as_of``.

    A stage's rate is ``(won + m * overall) / (deals + m)`` with ``m = prior_strength``: a stage
    seen in few closed deals stays near the overall win rate.

    Args:
        tables: canonical tables.
        as_of: forecast date; only deals with ``closed_at`` in the ``lookback_days`` before it
            count.
        history: ``prepare_history`` output, to reuse.
        lookback_days: how far back closed deals count.
        prior_strength: pseudo-deals of the prior.

    Raises:
        ValueError: if no deal closed in the lookback.
    """
    as_of = to_as_of(as_of)
    if prior_strength < 0:
        raise ValueError(f"prior_strength must be >= 0, got {prior_strength}")
    done = closed_before(tables, as_of)
    done = done[done["closed_at"] >= as_of - lookback_days * DAY]
    if done.empty:
        raise ValueError(f"no deal closed in the {lookback_days} days before {as_of.date()}: "
                         "stage win rates need closed deals")
    won = (done["outcome"] == "won").set_axis(done["opportunity_id"])
    overall = float(won.mean())
    if history is None:
        history = prepare_history(tables["opportunity_stage_history"])
    visits = history.merge(done[["opportunity_id", "closed_at"]], on="opportunity_id")
    visits = visits[visits["entered_at"] < visits["closed_at"]]
    visits = visits.drop_duplicates(["opportunity_id", "stage"])
    visits = visits.assign(won=visits["opportunity_id"].map(won).astype("float64"))
    grouped = visits.groupby("stage")["won"].agg(["sum", "count"])
    rates = (grouped["sum"] + prior_strength * overall) / (grouped["count"] + prior_strength)
    return StageWinRates(rates={str(k): float(v) for k, v in rates.items()}, overall=overall,
                         counts={str(k): int(v) for k, v in grouped["count"].items()})


def weighted_pipeline(snapshot: pd.DataFrame, period: Period,
                      win_rates: StageWinRates) -> float:
    """Sum of amount x stage win rate over deals expected to close inside ``period``."""
    close = snapshot["expected_close_date"]
    in_period = close.isna() | ((close >= period.start) & (close < period.end))
    deals = snapshot[in_period]
    return float((deals["amount"].fillna(0.0).to_numpy() * win_rates(deals)).sum())


def forecast_stage_weighted(tables: Tables, as_of: object, period: Period,
                            history: pd.DataFrame | None = None,
                            win_rates: StageWinRates | None = None) -> float:
    """Booked to date + the stage-weighted pipeline expected to close inside ``period``."""
    check_tables(tables, one_currency=True)
    as_of = to_as_of(as_of)
    if history is None:
        history = prepare_history(tables["opportunity_stage_history"])
    if win_rates is None:
        win_rates = fit_stage_win_rates(tables, as_of, history)
    snapshot = fill_missing_amounts(pipeline_as_of(tables, as_of, history), tables, as_of)
    return booked_to_date(tables, as_of, period) + weighted_pipeline(snapshot, period, win_rates)


def forecast_naive_run_rate(tables: Tables, as_of: object, period: Period,
                            window_days: int = 90) -> float:
    """Booked to date + (closed-won revenue of the last ``window_days`` / window) x days left."""
    check_tables(tables, one_currency=True)
    as_of = to_as_of(as_of)
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    recent = won_between(tables, as_of - window_days * DAY, as_of)["amount"].sum()
    days_left = max(0.0, (period.end - max(as_of, period.start)) / DAY)
    return booked_to_date(tables, as_of, period) + float(recent) / window_days * days_left


def _days_elapsed(as_of: pd.Timestamp, period: Period) -> int:
    return max(0, period.day_index(max(as_of, period.start)))


def forecast_in_month_pace(tables: Tables, as_of: object, period: Period) -> float:
    """Booked so far x days in the period / days elapsed: the analyst's "on pace for".

    Returns NaN on the period's first day (nothing elapsed: no pace yet).
    """
    check_tables(tables, one_currency=True)
    as_of = to_as_of(as_of)
    elapsed = _days_elapsed(as_of, period)
    if elapsed == 0:
        return float("nan")
    return booked_to_date(tables, as_of, period) * period.n_days / min(elapsed, period.n_days)


def same_day_rest(tables: Tables, as_of: object, period: Period, n_periods: int = 3,
                  match_quarter_position: bool = False,
                  data_start: pd.Timestamp | None = None,
                  revenue: Callable[[pd.Timestamp, pd.Timestamp], float] | None = None
                  ) -> float:
    """Mean revenue won from the same day to the end of the last ``n_periods`` complete periods.

    Args:
        tables: canonical tables.
        as_of: forecast date; its offset into ``period`` is "the same day" of past periods.
        period: the period forecast.
        n_periods: how many past periods to average.
        match_quarter_position: for months, only past months at the same position in their
            quarter (first, second or third month: quarter-end pushes).
        data_start: periods starting before it are not used (default: the first close).
        revenue: closed-won revenue between two moments (default: ``won_between``'s sum;
            ``snapshot.WonRevenue`` answers the same faster when asked many times).

    Returns:
        NaN when no past period qualifies.
    """
    as_of = to_as_of(as_of)
    if n_periods < 1:
        raise ValueError(f"n_periods must be >= 1, got {n_periods}")
    if data_start is None:
        closes = tables["opportunities"]["closed_at"].dropna()
        data_start = closes.min().normalize() if len(closes) else period.start
    offset = max(as_of, period.start) - period.start
    lookback = 3 * n_periods if match_quarter_position and period.freq == "month" else n_periods
    periods = [p for p in past_periods(as_of, period.freq, lookback) if p.start >= data_start]
    if match_quarter_position and period.freq == "month":
        position = (period.start.month - 1) % 3
        periods = [p for p in periods if (p.start.month - 1) % 3 == position]
    if revenue is None:
        def revenue(start: pd.Timestamp, end: pd.Timestamp) -> float:
            return float(won_between(tables, start, end)["amount"].sum())
    rests = [revenue(min(p.start + offset, p.end), p.end) for p in periods[-n_periods:]]
    return float(np.mean(rests)) if rests else float("nan")


def forecast_same_day_history(tables: Tables, as_of: object, period: Period,
                              n_periods: int = 3) -> float:
    """Booked to date + the mean of what closed after the same day in the last periods."""
    check_tables(tables, one_currency=True)
    as_of = to_as_of(as_of)
    return booked_to_date(tables, as_of, period) + same_day_rest(tables, as_of, period, n_periods)
