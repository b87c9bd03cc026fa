"""The month-to-date combination and the calibrated spread, on hand-computable rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.combine import (EVIDENCE_COLUMNS, Combination, blend_landings, calibrate_spread,
                              combine_rest, fit_combination, out_of_sample_log_ratios)
from forecast.simulate import SimulationResult, calibrate_simulation


def evidence(rows: list[tuple]) -> pd.DataFrame:
    """(month, booked, elapsed, left, model_rest, seasonal_rest, actual) per row."""
    frame = pd.DataFrame(rows, columns=["month", "booked", "elapsed_days", "days_left",
                                        "model_rest", "seasonal_rest", "actual"])
    frame["period_start"] = pd.to_datetime(frame.pop("month") + "-01", utc=True)
    frame["period_end"] = frame["period_start"] + pd.DateOffset(months=1)
    frame["as_of"] = frame["period_start"] + pd.to_timedelta(frame["elapsed_days"], unit="D")
    return frame.loc[:, list(EVIDENCE_COLUMNS)]


ROW = evidence([("2025-03", 100.0, 10, 20, 300.0, 500.0, np.nan)])


@pytest.mark.parametrize("combination,rest", [
    (Combination(np.inf, 1.0), 300.0),                     # the model alone
    (Combination(np.inf, 0.5), 400.0),                     # half model, half same-day history
    (Combination(0.0, 1.0), 200.0),                        # pure pace: 100 in 10 days x 20
    (Combination(10.0, 1.0), (10 * 300 / 20 + 100) / 20 * 20),   # 10 prior days + 10 seen
])
def test_combine_rest(combination: Combination, rest: float) -> None:
    assert combine_rest(ROW, combination)[0] == pytest.approx(rest)


def test_first_day_is_the_prior_and_missing_history_falls_back_to_the_model() -> None:
    first_day = evidence([("2025-03", 0.0, 0, 31, 300.0, np.nan, np.nan)])
    assert combine_rest(first_day, Combination(0.0, 0.0))[0] == pytest.approx(300.0)


def test_fit_picks_pace_when_past_months_followed_their_pace() -> None:
    # booked 100 in 10 days, 20 left: pace says 200 more; the model said 900
    past = evidence([(f"2025-0{m}", 100.0, 10, 20, 900.0, 900.0, 300.0) for m in (1, 2, 3)])
    assert fit_combination(past) == Combination(0.0, 1.0, 3)


def test_fit_keeps_the_model_when_it_was_right() -> None:
    past = evidence([(f"2025-0{m}", 100.0, 10, 20, 300.0, 900.0, 400.0) for m in (1, 2, 3)])
    chosen = fit_combination(past)
    assert (chosen.alpha, chosen.beta) == (np.inf, 1.0)


def test_without_past_periods_the_model_stands() -> None:
    assert fit_combination(evidence([])) == Combination(np.inf, 1.0, 0)


def test_log_ratios_are_out_of_sample() -> None:
    past = evidence([("2025-01", 100.0, 10, 20, 900.0, 900.0, 300.0),
                     ("2025-02", 100.0, 10, 20, 900.0, 900.0, 330.0)])
    # January has no earlier month (its forecast was the model alone: left out); February
    # learns pace from January
    assert out_of_sample_log_ratios(past) == pytest.approx([np.log(330 / 300)])


def test_blended_log_ratios_average_each_forecast_with_the_composed_one() -> None:
    past = evidence([("2025-01", 100.0, 10, 20, 900.0, 900.0, 300.0),
                     ("2025-02", 100.0, 10, 20, 900.0, 900.0, 330.0)])
    past["composed_rest"] = [50.0, 300.0]
    # February: the combination fitted on January is pure pace (200 more: 300), the composed
    # landing is 100 + 300 = 400, their mean 350; January has no earlier month and is left out
    assert out_of_sample_log_ratios(past, "composed_rest") == pytest.approx([np.log(330 / 350)])


@pytest.mark.parametrize("composed,landing", [(400.0, 350.0), (np.nan, 300.0)])
def test_blend_landings(composed: float, landing: float) -> None:
    assert blend_landings(300.0, composed) == pytest.approx(landing)


def test_spread_is_a_student_t_on_past_log_ratios_and_the_prior() -> None:
    spread = calibrate_spread(np.array([0.1, -0.1, 0.2, -0.2]), prior_scale=0.3)
    n = 4 + 2   # two pseudo-periods at the Monte Carlo's spread
    variance = (0.01 + 0.01 + 0.04 + 0.04 + 2 * 0.09) / n
    assert spread.scale == pytest.approx(np.sqrt(variance * (1 + 1 / n)))
    assert spread.df == 5.0 and spread.n_periods == 4
    assert spread.quantile(0.9) == pytest.approx(stats.t.ppf(0.9, 5) * spread.scale)
    assert calibrate_spread(np.array([]), 0.3).scale == pytest.approx(0.3 * np.sqrt(1.5))
    with pytest.raises(ValueError, match="prior_weight must be > 0"):
        calibrate_spread(np.array([0.1]), 0.3, prior_weight=0)


def test_calibrated_draws_follow_the_spread_and_keep_their_paths() -> None:
    rng = np.random.default_rng(0)
    n, days, booked = 4000, 5, 100.0
    steps = rng.random((n, days))
    paths = booked + np.cumsum(steps, axis=1)
    raw = SimulationResult(paths[:, -1], paths[:, -1] - booked, np.zeros(n), paths)
    spread = calibrate_spread(np.array([0.2, -0.3, 0.25]), prior_scale=0.1)
    out = calibrate_simulation(raw, booked, 200.0, spread)
    assert np.median(out.totals) == pytest.approx(200.0, rel=0.01)
    assert np.quantile(out.totals, 0.9) == pytest.approx(
        200.0 * np.exp(spread.quantile(0.9)), rel=0.01)
    assert out.totals.min() >= booked
    assert np.allclose(out.cumulative_by_day[:, -1], out.totals)
    assert np.all(np.diff(out.cumulative_by_day, axis=1) >= -1e-9)
    # the same order: a draw that was high stays high
    assert stats.spearmanr(raw.totals, out.totals).statistic > 0.999
