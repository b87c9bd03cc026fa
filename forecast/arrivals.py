"""Deals not created yet that will be won inside the period: a run-rate by day of period.

From each complete past period (ended before ``as_of``) the model keeps the deals that were both
created and won inside it, with the fraction of the period elapsed at creation and at close.
For a forecast made when a fraction ``f`` of the period has elapsed, the past periods say how
many deals created after ``f`` were still won before their period ended, and for how much.

Periods at the same position in the quarter (first, second or third month) are used when the
lookback has any, because quarter-end pushes make those months alike; otherwise all periods.

The number of such deals is drawn from a Poisson whose rate is Gamma-distributed: its mean is
the average count over the periods used, its variance the uncertainty of that average
(``mean / n_periods``) plus any between-period variance beyond Poisson. Amounts and close
timing are resampled from the deals of those periods.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.snapshot import DAY, Freq, Period, Tables, past_periods, to_as_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArrivalDraws:
    """Simulated new deals: ``simulation`` index, ``amount`` and ``day`` (index in period)."""

    simulation: np.ndarray
    amount: np.ndarray
    day: np.ndarray

    def revenue_by_simulation(self, n_simulations: int) -> np.ndarray:
        return np.bincount(self.simulation, weights=self.amount, minlength=n_simulations)


class ArrivalModel:
    """Run-rate of deals created and won inside a period, learned from past periods.

    Args:
        lookback_periods: how many complete past periods to learn from.
        match_quarter_position: for months, prefer past months at the same position in their
            quarter.
    """

    def __init__(self, lookback_periods: int = 12, match_quarter_position: bool = True):
        if lookback_periods < 1:
            raise ValueError(f"lookback_periods must be >= 1, got {lookback_periods}")
        self.lookback_periods = lookback_periods
        self.match_quarter_position = match_quarter_position

    def fit(self, tables: Tables, as_of: object, freq: Freq = "month") -> "ArrivalModel":
        """Collect the in-period wins of the complete periods before ``as_of``."""
        as_of = to_as_of(as_of)
        periods = past_periods(as_of, freq, self.lookback_periods)
        opportunities = tables["opportunities"]
        first_close = opportunities["closed_at"].min()
        periods = [p for p in periods if pd.notna(first_close) and p.start >= first_close
                   .normalize().replace(day=1)]
        self.periods_ = periods
        self.deals_ = _in_period_wins(opportunities, periods)
        self.freq_ = freq
        self.as_of_ = as_of
        if not periods:
            logger.warning("no complete %s with closes before %s: new deals count as 0",
                           freq, as_of.date())
        return self

    def _periods_like(self, period: Period) -> list[int]:
        indices = list(range(len(self.periods_)))
        if self.freq_ != "month" or not self.match_quarter_position:
            return indices
        position = (period.start.month - 1) % 3
        same = [i for i in indices if (self.periods_[i].start.month - 1) % 3 == position]
        return same or indices

    def _pool(self, period: Period, as_of: pd.Timestamp) -> tuple[pd.DataFrame, int]:
        self._check_fitted()
        elapsed = max(0.0, (as_of - period.start) / (period.end - period.start))
        used = self._periods_like(period)
        deals = self.deals_[self.deals_["period"].isin(used)]
        return deals[deals["created_fraction"] >= elapsed], len(used)

    def expected_revenue(self, period: Period, as_of: object) -> float:
        """Mean new-deal revenue won inside ``period`` from deals created on or after ``as_of``."""
        pool, n_periods = self._pool(period, to_as_of(as_of))
        return float(pool["amount"].sum() / n_periods) if n_periods else 0.0

    def sample(self, period: Period, as_of: object, n_simulations: int,
               rng: np.random.Generator) -> ArrivalDraws:
        """Draw new deals for each simulation (count, amounts and close days)."""
        as_of = to_as_of(as_of)
        pool, n_periods = self._pool(period, as_of)
        if n_periods == 0 or pool.empty:
            empty = np.zeros(0, dtype="int64")
            return ArrivalDraws(empty, np.zeros(0), empty.copy())
        counts = pool.groupby("period").size().reindex(
            self._periods_like(period), fill_value=0).to_numpy()
        rate = _gamma_rates(counts, n_simulations, rng)
        n = rng.poisson(rate)
        pick = rng.integers(0, len(pool), n.sum())
        first_day = period.day_index(max(as_of, period.start))
        days = np.floor(pool["closed_fraction"].to_numpy()[pick] * period.n_days)
        days = np.clip(days, first_day, period.n_days - 1).astype("int64")
        return ArrivalDraws(np.repeat(np.arange(n_simulations), n),
                            pool["amount"].to_numpy()[pick], days)

    def _check_fitted(self) -> None:
        if not hasattr(self, "deals_"):
            raise RuntimeError("ArrivalModel is not fitted: call fit(tables, as_of) first")


def _gamma_rates(counts: np.ndarray, n_simulations: int, rng: np.random.Generator) -> np.ndarray:
    mean = float(counts.mean())
    if mean <= 0:
        return np.zeros(n_simulations)
    variance = mean / len(counts)
    if len(counts) >= 3:
        variance += max(0.0, float(counts.var(ddof=1)) - mean)
    shape = mean ** 2 / variance
    return rng.gamma(shape, variance / mean, n_simulations)


def _in_period_wins(opportunities: pd.DataFrame, periods: list[Period]) -> pd.DataFrame:
    parts = []
    won = opportunities[opportunities["outcome"] == "won"]
    for index, period in enumerate(periods):
        inside = won[(won["created_at"] >= period.start) & (won["closed_at"] < period.end)]
        length = (period.end - period.start) / DAY
        parts.append(pd.DataFrame({
            "period": index,
            "created_fraction": ((inside["created_at"] - period.start) / DAY / length).to_numpy(),
            "closed_fraction": ((inside["closed_at"] - period.start) / DAY / length).to_numpy(),
            "amount": inside["amount"].astype("float64").fillna(0.0).to_numpy(),
        }))
    if not parts:
        return pd.DataFrame({"period": pd.Series(dtype="int64"),
                             "created_fraction": pd.Series(dtype="float64"),
                             "closed_fraction": pd.Series(dtype="float64"),
                             "amount": pd.Series(dtype="float64")})
    return pd.concat(parts, ignore_index=True)
