"""The Monte Carlo landing: hand-computable cases, quantiles within Monte Carlo error, seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.arrivals import ArrivalDraws, ArrivalModel
from forecast.simulate import (MAX_PERIOD_DAYS, FitCache, Forecaster, PipelineDeals,
                               fit_forecaster, simulate_landing)
from forecast.time_to_close import CloseIncidence
from crm import schema

AS_OF = pd.Timestamp("2025-03-11", tz="UTC")
NO_ARRIVALS = ArrivalDraws(np.zeros(0, dtype="int64"), np.zeros(0), np.zeros(0, dtype="int64"))


def three_deal_forecaster() -> Forecaster:
    """Deals of 100 / 200 / 300 with P(win) 1.0 / 0.5 / 0.0, all closing in the period if won,
    and 50 already booked this month."""
    deals = pd.DataFrame({
        "opportunity_id": ["A", "B", "C", "W"], "currency": "USD", "stage": "s",
        "amount": [100.0, 200.0, 300.0, 50.0],
        "created_at": ["2025-02-01T00:00:00Z"] * 4,
        "closed_at": [None, None, None, "2025-03-05T10:00:00Z"],
        "outcome": ["open", "open", "open", "won"]})
    history = deals[["opportunity_id", "stage", "amount"]].assign(
        entered_at="2025-02-01T00:00:00Z", expected_close_date="2025-03-31T00:00:00Z")
    tables = {"opportunities": schema.split_valid("opportunities", deals)[0],
              "opportunity_stage_history": schema.split_valid("opportunity_stage_history",
                                                              history)[0]}
    cache = FitCache(tables)
    snapshot = cache.snapshot(AS_OF)
    ones = np.ones((len(snapshot), MAX_PERIOD_DAYS))
    incidence = CloseIncidence(won=ones, lost=0 * ones, won_ever=np.ones(len(snapshot)))
    arrivals = {"month": ArrivalModel().fit(tables, AS_OF, "month")}
    return Forecaster(cache, AS_OF, snapshot, np.array([1.0, 0.5, 0.0]), incidence,
                      "stage_rates", arrivals)


def test_three_deals_expected_value_is_exact() -> None:
    forecast = three_deal_forecaster().forecast("month", n_simulations=20_000, seed=3)
    assert forecast.booked == 50.0
    assert forecast.expected == 50.0 + 100.0 * 1.0 + 200.0 * 0.5 + 300.0 * 0.0
    assert forecast.breakdown == {"booked": 50.0, "pipeline": 200.0, "new": 0.0,
                                  "month_to_date_adjustment": 0.0}   # no past month to learn from
    # the total is 150 or 350 with probability 1/2 each
    assert (forecast.p10, forecast.p90) == (150.0, 350.0)
    assert forecast.deals.set_index("opportunity_id")["expected_value"].to_dict() == {
        "A": 100.0, "B": 100.0, "C": 0.0}


def test_simulated_mean_is_within_monte_carlo_error() -> None:
    forecaster = three_deal_forecaster()
    n = 20_000
    forecast = forecaster.forecast("month", n_simulations=n, seed=11)
    fan_last = forecast.fan["mean"].iloc[-1]
    assert abs(fan_last - 250.0) < 4 * 100.0 / np.sqrt(n)


def test_quantiles_match_the_binomial_within_monte_carlo_error() -> None:
    n_sims, n_deals, p = 40_000, 20, 0.3
    deals = PipelineDeals(np.ones(n_deals), np.full(n_deals, p))
    totals = simulate_landing(0.0, deals, NO_ARRIVALS, n_sims, np.random.default_rng(5)).totals
    support = np.arange(n_deals + 1)
    empirical = (totals[:, None] <= support).mean(axis=0)
    analytic = stats.binom.cdf(support, n_deals, p)
    tolerance = 4 * np.sqrt(analytic * (1 - analytic) / n_sims) + 1e-12
    assert np.all(np.abs(empirical - analytic) <= tolerance)
    assert np.quantile(totals, 0.5) == stats.binom.ppf(0.5, n_deals, p)


def test_shared_factor_widens_without_moving_the_mean() -> None:
    n_sims, amount, p = 40_000, np.full(50, 10.0), np.full(50, 0.1)
    rng = np.random.default_rng
    plain = simulate_landing(0.0, PipelineDeals(amount, p), NO_ARRIVALS, n_sims, rng(1)).totals
    shared = simulate_landing(0.0, PipelineDeals(amount, p, dispersion=0.5), NO_ARRIVALS,
                              n_sims, rng(1)).totals
    assert abs(shared.mean() - 50.0) < 4 * shared.std() / np.sqrt(n_sims)
    assert shared.std() > 1.3 * plain.std()


def test_new_deals_add_to_each_simulation() -> None:
    draws = ArrivalDraws(np.array([0, 0, 2]), np.array([5.0, 7.0, 1.0]), np.array([3, 4, 5]))
    result = simulate_landing(10.0, PipelineDeals(np.zeros(0), np.zeros(0)), draws, 3,
                              np.random.default_rng(0))
    assert result.totals.tolist() == [22.0, 10.0, 11.0]
    assert result.new.tolist() == [12.0, 0.0, 1.0]


def test_daily_paths_end_at_the_totals_and_never_fall() -> None:
    n_days = 10
    share = np.full((4, 6), 1 / 6)
    deals = PipelineDeals(np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 0.5), share)
    result = simulate_landing(100.0, deals, NO_ARRIVALS, 500, np.random.default_rng(2),
                              n_days=n_days, first_day=4)
    paths = result.cumulative_by_day
    assert np.allclose(paths[:, -1], result.totals)
    assert np.all(np.diff(paths, axis=1) >= 0)
    assert np.all(paths[:, :4] == 100.0)


def test_same_seed_same_forecast_other_seed_other_draws() -> None:
    forecaster = three_deal_forecaster()
    first = forecaster.forecast("month", n_simulations=2000, seed=7)
    again = forecaster.forecast("month", n_simulations=2000, seed=7)
    other = forecaster.forecast("month", n_simulations=2000, seed=8)
    assert first.quantiles == again.quantiles
    assert first.fan.equals(again.fan)
    assert not np.array_equal(first.fan["mean"].to_numpy(), other.fan["mean"].to_numpy())


@pytest.mark.parametrize("target,alert", [(400.0, True), (100.0, False)])
def test_alert_when_p50_is_below_target(target: float, alert: bool) -> None:
    forecast = three_deal_forecaster().forecast("month", target=target, n_simulations=4000)
    assert forecast.alert is alert
    if alert:
        assert "below the target 400" in forecast.alert_message
        assert forecast.probability_of_target == 0.0
    else:
        assert forecast.alert_message is None
        assert forecast.probability_of_target == 1.0


def test_result_as_json_ready_dict() -> None:
    payload = three_deal_forecaster().forecast("month", target=400.0).to_dict(n_deals=2)
    assert json.loads(json.dumps(payload)) == payload
    assert payload["period"] == "2025-03" and payload["period_end"] == "2025-03-31"
    assert len(payload["fan"]) == 31
    assert payload["fan"][0] == {"date": "2025-03-01", "booked": 0.0, "p10": None,
                                 "p50": None, "p90": None, "mean": None}
    assert payload["fan"][4]["booked"] == 50.0 and payload["fan"][10]["booked"] is None
    assert [d["opportunity_id"] for d in payload["top_deals"]] == ["A", "B"]
    assert payload["slip_risks"][0]["expected_close_date"] == "2025-03-31"
    assert payload["alert"] is True


@pytest.mark.parametrize("kwargs,message", [
    ({"n_simulations": 0}, "n_simulations must be >= 1"),
    ({"target": -5.0}, "target must be a non-negative amount"),
])
def test_bad_simulation_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        three_deal_forecaster().forecast("month", **kwargs)


@pytest.mark.parametrize("win_probability,message", [
    (lambda snapshot: np.full(len(snapshot) + 1, 0.5), "returned .* values for .* open deals"),
    (lambda snapshot: np.full(len(snapshot), 1.5), "finite probabilities in \\[0, 1\\]"),
    ("magic", "must be 'stage_rates', 'time_to_close', 'lightgbm' or a callable"),
    (42, "win_probability must be callable"),
])
def test_bad_win_probability_is_named(win_probability: object, message: str,
                                      daily_deals) -> None:
    with pytest.raises(ValueError, match=message):
        fit_forecaster(daily_deals(240, 30, 10), "2025-06-01", win_probability)  # type: ignore[arg-type]


def test_cache_must_belong_to_the_tables(daily_deals) -> None:
    tables = daily_deals(240, 30, 10)
    with pytest.raises(ValueError, match="cache was built for other tables"):
        fit_forecaster(dict(tables), "2025-06-01", cache=FitCache(tables))


def test_each_win_lands_on_a_day_its_deal_can_close() -> None:
    """Day draws follow each deal's own daily share (from the as-of day on), and the revenue
    per simulation is the won deals' amounts."""
    from forecast.simulate import _add_win_days

    share = np.zeros((3, 10))
    share[0, 3] = 1.0                 # only its 4th day
    share[1, :] = 0.1                 # uniform
    share[2, [0, 9]] = 0.5            # the first or the last day
    rng = np.random.default_rng(4)
    won = rng.random((400, 3)) < 0.6
    amount = np.array([100.0, 10.0, 1.0])
    by_day = np.zeros((400, 15))
    _add_win_days(by_day, won, amount, share, 2, rng)
    assert np.allclose(by_day.sum(axis=1), won @ amount)
    for deal, days in ((0, {5}), (2, {2, 11}), (1, set(range(2, 12)))):
        alone = np.zeros_like(by_day)
        only = np.zeros_like(won)
        only[:, deal] = won[:, deal]
        _add_win_days(alone, only, amount, share, 2, rng)
        landed = np.nonzero(alone)[1]
        assert set(landed) == days
