"""What the period has shown: the pipeline model's remaining revenue updated by month-to-date pace.

The rest of the period (revenue still to be won after ``as_of``) is a daily rate times the days
left. Before looking at the period, the rate is the *prior*: a mix of the pipeline model's
expected remaining revenue (open deals + deals not created yet) and the same-day history of past
periods at the same position in the quarter (what closed after the same day; quarter-end pushes
make those periods alike). Each elapsed day of the period is one observation of the rate, so the
posterior rate is

    (alpha * prior_rate + booked) / (alpha + elapsed_days)

a Gamma-Poisson update where ``alpha`` is the prior's weight in days: on day 1 the forecast is
the prior; as days pass, the in-period pace takes over, faster when ``alpha`` is small. ``alpha``
and the prior mix ``beta`` are chosen per as-of day by the mean absolute percentage error they
would have had in past periods at the same day (``fit_combination``); nothing of the period being
forecast, nor of later periods, is read.

The interval is calibrated the same way (``calibrate_spread``): the log-ratio of actual to
forecast in past periods at the same day, each forecast made with the combination fitted on the
periods before it (out of sample), gives the spread of a Student-t on the log scale; a weak prior
from the Monte Carlo's own spread keeps it sane when few past periods exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHAS = (np.inf, 100.0, 60.0, 35.0, 20.0, 12.0, 8.0, 5.0, 3.0, 2.0, 1.0, 0.5, 0.0)
BETAS = (1.0, 0.75, 0.5, 0.25, 0.0)
EVIDENCE_COLUMNS = ("period_start", "period_end", "as_of", "booked", "elapsed_days",
                    "days_left", "model_rest", "seasonal_rest", "actual")
MIN_PAST_PERIODS = 1
PRIOR_PERIODS = 2.0


@dataclass(frozen=True)
class Combination:
    """Prior weight ``alpha`` (days; inf = the prior alone) and model share ``beta`` of the prior.

    ``n_periods`` past periods chose them (0: the defaults, the pipeline model alone).
    """

    alpha: float = np.inf
    beta: float = 1.0
    n_periods: int = 0


def combine_rest(evidence: pd.DataFrame, combination: Combination) -> np.ndarray:
    """Remaining revenue of each evidence row under ``combination`` (see the module docstring).

    Args:
        evidence: rows with ``EVIDENCE_COLUMNS`` (``seasonal_rest`` may be missing: the model's
            remaining then stands in).
        combination: ``alpha`` and ``beta``.
    """
    return _combined_rest(*_evidence_arrays(evidence), combination)


def _evidence_arrays(evidence: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """booked, elapsed, left, model and seasonal (the model where missing) as float arrays."""
    arrays = [evidence[c].to_numpy(dtype="float64", na_value=np.nan) for c in
              ("booked", "elapsed_days", "days_left", "model_rest", "seasonal_rest")]
    arrays[4] = np.where(np.isnan(arrays[4]), arrays[3], arrays[4])
    return tuple(arrays)


def _combined_rest(booked: np.ndarray, elapsed: np.ndarray, left: np.ndarray,
                   model: np.ndarray, seasonal: np.ndarray,
                   combination: Combination) -> np.ndarray:
    prior = combination.beta * model + (1.0 - combination.beta) * seasonal
    if np.isinf(combination.alpha):
        return prior
    weight = combination.alpha + elapsed
    rate = np.divide(combination.alpha * prior / left + booked, weight,
                     out=prior / left, where=weight > 0)
    return rate * left


def fit_combination(past: pd.DataFrame) -> Combination:
    """The (alpha, beta) of the grid with the lowest MAPE over ``past`` evidence rows.

    Args:
        past: evidence rows of complete past periods (``actual`` known), usually at the same
            as-of day of the period.

    Returns:
        The defaults (the pipeline model alone) when fewer than ``MIN_PAST_PERIODS`` rows have
        a positive actual.
    """
    usable = past[past["actual"] > 0]
    if len(usable) < MIN_PAST_PERIODS:
        return Combination(n_periods=len(usable))
    actual = usable["actual"].to_numpy(dtype="float64")
    columns = _evidence_arrays(usable)
    best, best_loss = Combination(n_periods=len(usable)), np.inf
    for alpha in ALPHAS:
        for beta in BETAS:
            candidate = Combination(alpha, beta, len(usable))
            rest = _combined_rest(*columns, candidate)
            loss = np.mean(np.abs(columns[0] + rest - actual) / actual)
            if loss < best_loss - 1e-12:
                best, best_loss = candidate, loss
    return best


def out_of_sample_log_ratios(past: pd.DataFrame, blend_with: str | None = None) -> np.ndarray:
    """log(actual / forecast) of past rows, each forecast with the rows of periods that had
    ended by that row's as-of date.

    A row without an earlier period to learn from is left out: its forecast (the model alone)
    was not made the way the combination makes one. With ``blend_with`` (a column of remaining
    revenue already forecast out of sample, e.g. the quarter composed from month forecasts),
    each forecast is ``blend_landings`` of the combined landing and booked + that column.
    """
    past = past[past["actual"] > 0].sort_values("period_start", kind="stable")
    ratios = []
    for i in range(len(past)):
        row = past.iloc[i:i + 1]
        combination = fit_combination(past[past["period_end"] <= row["as_of"].iloc[0]])
        booked = row["booked"].iloc[0]
        point = booked + combine_rest(row, combination)[0]
        if blend_with is not None:
            point = blend_landings(point, booked + row[blend_with].iloc[0])
        if combination.n_periods >= MIN_PAST_PERIODS and point > 0:
            ratios.append(np.log(row["actual"].iloc[0] / point))
    return np.asarray(ratios, dtype="float64")


def blend_landings(combined: float, composed: float) -> float:
    """Equal-weight mean of two landing forecasts (NaN ``composed``: ``combined`` alone).

    Equal weights because the data hold too few past quarters to learn better ones, and an
    equal-weight mean of two sound forecasts is rarely worse than the worse of them.
    """
    return combined if np.isnan(composed) else (combined + composed) / 2.0


@dataclass(frozen=True)
class Spread:
    """Student-t on log(actual / forecast): scale and degrees of freedom."""

    scale: float
    df: float
    n_periods: int

    def quantile(self, level: float | np.ndarray) -> np.ndarray:
        """Log-ratio quantile(s) (with the predictive factor for an estimated scale)."""
        return stats.t.ppf(level, self.df) * self.scale


def calibrate_spread(log_ratios: np.ndarray, prior_scale: float,
                     prior_weight: float = PRIOR_PERIODS) -> Spread:
    """Spread of the landing around its point forecast, from past periods' misses.

    The scale pools the past log-ratios (their root mean square: a bias widens it too) with
    ``prior_weight`` pseudo-periods that missed by ``prior_scale`` (the Monte Carlo's own
    log-sd: what the spread would be with no history), and is inflated by ``sqrt(1 + 1 / n)``
    for being estimated; the tails are a Student-t with ``n - 1`` degrees of freedom (at least
    2), ``n`` counting the pseudo-periods. That is what lets a handful of past periods give an
    honest P10-P90.

    Raises:
        ValueError: if ``prior_weight`` is not positive or ``prior_scale`` is negative.
    """
    if not prior_weight > 0 or not prior_scale >= 0:
        raise ValueError(f"prior_weight must be > 0 and prior_scale >= 0, got {prior_weight} "
                         f"and {prior_scale}")
    ratios = np.asarray(log_ratios, dtype="float64")
    n = len(ratios) + prior_weight
    variance = (np.sum(ratios ** 2) + prior_weight * prior_scale ** 2) / n
    scale = float(np.sqrt(variance * (1.0 + 1.0 / n)))
    return Spread(scale=scale, df=float(max(n - 1.0, 2.0)), n_periods=len(ratios))
