"""The landing forecast: booked to date + open pipeline + deals not created yet, by Monte Carlo.

For an as-of date and its month (or quarter):

* **booked**: closed-won revenue of the period before ``as_of`` (known, no uncertainty);
* **pipeline**: each deal open at ``as_of`` is won inside the period with probability
  ``P(win) x P(closes before the period ends | won)``. ``P(win)`` comes from a pluggable
  ``win_probability(snapshot) -> array`` (default: historical stage win rates, point in time;
  ``"time_to_close"`` uses the hazard model's own), the second factor from the time-to-close
  hazard model (``forecast.time_to_close``);
* **new**: deals created from ``as_of`` on and won inside the period (``forecast.arrivals``).

Each simulation draws one shared period factor (a slow month slows every deal; its size is
estimated from how far the same models missed recent periods, ``estimate_dispersion``), every
open deal's outcome, the new deals, and for the fan chart the day each win lands. The spread of
the simulated totals gives P10 / P50 / P90.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from forecast.arrivals import ArrivalDraws, ArrivalModel
from forecast.baselines import fit_stage_win_rates
from forecast.snapshot import (DAY, Freq, Period, Tables, booked_to_date, check_tables,
                               fill_missing_amounts, past_periods, period_containing,
                               pipeline_as_of, prepare_history, to_as_of, won_between)
from forecast.time_to_close import CloseIncidence, TimeToCloseModel, TimeToCloseWinProbability

logger = logging.getLogger(__name__)

WinProbability = Callable[[pd.DataFrame], np.ndarray]
WinSource = WinProbability | Literal["stage_rates", "time_to_close"]
# The hazard model's own P(win): lower MAPE and bias than historical stage rates, and the only
# source whose P10-P90 covers 75-85% of months on both the generated and the Maven CRM.
DEFAULT_WIN_SOURCE = "time_to_close"
QUANTILES = (0.1, 0.5, 0.9)
MAX_PERIOD_DAYS = 92
_CHUNK = 500


# ------------------------------------------------------------------------------------------
# Monte Carlo core (pure: arrays in, arrays out)
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PipelineDeals:
    """What the simulation needs about the open deals (one entry per deal).

    Attributes:
        amount: deal value.
        win_in_period: P(won and closed inside the period).
        daily_share: ``(n_deals, n_days_left)``: how a win inside the period spreads over the
            remaining days (rows sum to 1), or None when no daily path is wanted.
        dispersion: log-sd of a factor shared by all deals of one simulated period that
            scales their probabilities; 0 makes the deals independent.
    """

    amount: np.ndarray
    win_in_period: np.ndarray
    daily_share: np.ndarray | None = None
    dispersion: float = 0.0


@dataclass(frozen=True)
class SimulationResult:
    """Simulated period totals and their parts; ``cumulative_by_day`` is (sims, days)."""

    totals: np.ndarray
    pipeline: np.ndarray
    new: np.ndarray
    cumulative_by_day: np.ndarray | None = None


def simulate_landing(booked: float, deals: PipelineDeals, arrivals: ArrivalDraws,
                     n_simulations: int, rng: np.random.Generator,
                     n_days: int | None = None, first_day: int = 0) -> SimulationResult:
    """Monte Carlo of the period's closed-won revenue.

    Args:
        booked: revenue already won in the period.
        deals: open deals with their in-period win probabilities.
        arrivals: new deals already drawn per simulation.
        n_simulations: number of simulated periods.
        rng: random generator (the only source of randomness).
        n_days: days in the period; with ``deals.daily_share`` it gives cumulative paths.
        first_day: index in the period of the as-of day (where the daily shares start).
    """
    p = np.clip(np.asarray(deals.win_in_period, dtype="float64"), 0.0, 1.0)
    amount = np.asarray(deals.amount, dtype="float64")
    paths = n_days is not None and deals.daily_share is not None
    by_day = np.zeros((n_simulations, n_days)) if paths else None
    factor = np.exp(deals.dispersion * rng.standard_normal(n_simulations)
                    - deals.dispersion ** 2 / 2)
    pipeline = np.zeros(n_simulations)
    for start in range(0, n_simulations, _CHUNK):
        stop = min(start + _CHUNK, n_simulations)
        won = rng.random((stop - start, len(p))) < p * factor[start:stop, None]
        pipeline[start:stop] = won @ amount
        if paths:
            _add_win_days(by_day[start:stop], won, amount, deals.daily_share, first_day, rng)
    new = arrivals.revenue_by_simulation(n_simulations)
    if paths:
        np.add.at(by_day, (arrivals.simulation, arrivals.day), arrivals.amount)
        by_day = booked + np.cumsum(by_day, axis=1)
    return SimulationResult(booked + pipeline + new, pipeline, new, by_day)


def _add_win_days(by_day: np.ndarray, won: np.ndarray, amount: np.ndarray,
                  daily_share: np.ndarray, first_day: int, rng: np.random.Generator) -> None:
    sim, deal = np.nonzero(won)
    if len(sim) == 0:
        return
    cdf = np.cumsum(daily_share, axis=1)
    draws = rng.random(len(sim))
    offset = (cdf[deal] < draws[:, None]).sum(axis=1).clip(0, daily_share.shape[1] - 1)
    np.add.at(by_day, (sim, first_day + offset), amount[deal])


# ------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------

@dataclass
class LandingForecast:
    """A period's landing forecast: distribution, breakdown, deals, fan and alert.

    ``deals`` has one row per open deal: amount, ``p_win``, ``p_close_in_period_if_won``,
    ``expected_value`` (amount x both) and ``expected_slip_value`` (amount x P(win) x P(not in
    the period | won)). ``fan`` has one row per day of the period: ``booked`` before as-of,
    simulated cumulative ``p10``/``p50``/``p90``/``mean`` from as-of on.
    """

    as_of: pd.Timestamp
    period: Period
    booked: float
    expected: float
    quantiles: dict[str, float]
    breakdown: dict[str, float]
    deals: pd.DataFrame
    target: float | None = None
    probability_of_target: float | None = None
    fan: pd.DataFrame | None = None
    n_simulations: int = 0
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def p10(self) -> float:
        return self.quantiles["p10"]

    @property
    def p50(self) -> float:
        return self.quantiles["p50"]

    @property
    def p90(self) -> float:
        return self.quantiles["p90"]

    @property
    def alert(self) -> bool:
        """True when a target is set and the median landing (P50) falls below it."""
        return self.target is not None and self.p50 < self.target

    @property
    def alert_message(self) -> str | None:
        if not self.alert:
            return None
        gap = self.target - self.p50
        return (f"{self.period.label}: P50 landing {self.p50:,.0f} is {gap:,.0f} below the "
                f"target {self.target:,.0f} (P(reach target) = {self.probability_of_target:.0%})")

    def top_deals(self, n: int = 10) -> pd.DataFrame:
        """Open deals with the largest expected contribution to the period."""
        return self.deals.nlargest(n, "expected_value").reset_index(drop=True)

    def slip_risks(self, n: int = 10) -> pd.DataFrame:
        """Deals whose expected close date is inside the period but that will likely slip.

        Ranked by ``amount x P(win) x P(not closing in the period | won)``; empty when the CRM
        records no expected close dates (Maven CRM).
        """
        close = self.deals["expected_close_date"]
        due = self.deals[(close >= self.period.start) & (close < self.period.end)]
        return due.nlargest(n, "expected_slip_value").reset_index(drop=True)

    def to_dict(self, n_deals: int = 10) -> dict[str, Any]:
        """A JSON-ready summary (dates as ISO strings), e.g. for ``POST /forecast``."""
        return {
            "as_of": self.as_of.date().isoformat(), "period": self.period.label,
            "period_start": self.period.start.date().isoformat(),
            "period_end": (self.period.end - DAY).date().isoformat(),
            "expected": self.expected, **self.quantiles, "breakdown": self.breakdown,
            "target": self.target, "probability_of_target": self.probability_of_target,
            "alert": self.alert, "alert_message": self.alert_message,
            "top_deals": _deal_records(self.top_deals(n_deals)),
            "slip_risks": _deal_records(self.slip_risks(n_deals)),
            "n_open_deals": len(self.deals), "n_simulations": self.n_simulations,
            "seed": self.seed, "notes": list(self.notes), "fan": _fan_records(self.fan),
        }


def _fan_records(fan: pd.DataFrame | None) -> list[dict[str, Any]] | None:
    if fan is None:
        return None
    out = fan.drop(columns="day").assign(date=fan["date"].dt.strftime("%Y-%m-%d"))
    return out.astype(object).where(out.notna(), None).to_dict(orient="records")


def _deal_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = ["opportunity_id", "stage", "amount", "expected_close_date", "p_win",
               "p_close_in_period_if_won", "expected_value", "expected_slip_value"]
    out = frame[columns].copy()
    out["expected_close_date"] = out["expected_close_date"].map(
        lambda v: None if pd.isna(v) else v.date().isoformat())
    return out.astype(object).where(out.notna(), None).to_dict(orient="records")


# ------------------------------------------------------------------------------------------
# Fitting at an as-of date
# ------------------------------------------------------------------------------------------

class FitCache:
    """Prepared history and time-to-close models fitted per as-of date, for one dataset.

    Forecasts at many dates (a backtest, the dispersion estimate) fit each date's model once.

    Args:
        tables: canonical tables (one currency).
        template: an unfitted ``TimeToCloseModel`` whose settings every fit copies.
    """

    def __init__(self, tables: Tables, template: TimeToCloseModel | None = None):
        check_tables(tables, one_currency=True)
        self.tables = tables
        self.history = prepare_history(tables["opportunity_stage_history"])
        self.template = template or TimeToCloseModel()
        self._models: dict[pd.Timestamp, TimeToCloseModel | ValueError] = {}

    def time_to_close(self, as_of: pd.Timestamp) -> TimeToCloseModel:
        """The model fitted on what was known at ``as_of`` (fitted on first request).

        Raises:
            ValueError: if too little was known at ``as_of`` to fit it (remembered too).
        """
        if as_of not in self._models:
            try:
                model = copy.copy(self.template).fit(self.tables, as_of, self.history)
            except ValueError as err:
                model = err
            self._models[as_of] = model
        found = self._models[as_of]
        if isinstance(found, ValueError):
            raise found
        return found

    def snapshot(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The open pipeline at ``as_of`` with missing amounts filled point in time."""
        return fill_missing_amounts(pipeline_as_of(self.tables, as_of, self.history),
                                    self.tables, as_of)


def resolve_win_probability(source: WinSource, cache: FitCache,
                            as_of: pd.Timestamp) -> WinProbability:
    """The win-probability callable for ``as_of``.

    ``"stage_rates"``: historical stage win rates of deals closed before ``as_of``;
    ``"time_to_close"``: the hazard model's own ``P(win)``; a callable is returned as it is.

    Raises:
        ValueError: for an unknown name or a non-callable.
    """
    if isinstance(source, str):
        if source == "stage_rates":
            return fit_stage_win_rates(cache.tables, as_of, cache.history)
        if source == "time_to_close":
            return TimeToCloseWinProbability(cache.time_to_close(as_of))
        raise ValueError(f"win_probability must be 'stage_rates', 'time_to_close' or a "
                         f"callable, got {source!r}")
    if not callable(source):
        raise ValueError(f"win_probability must be callable, got {type(source).__name__}")
    return source


def _win_probabilities(win: WinProbability, snapshot: pd.DataFrame,
                       incidence: CloseIncidence, model: TimeToCloseModel) -> np.ndarray:
    if isinstance(win, TimeToCloseWinProbability) and win.model is model:
        return incidence.won_ever
    p = np.asarray(win(snapshot), dtype="float64").reshape(-1)
    if p.shape != (len(snapshot),):
        raise ValueError(f"win_probability returned {p.shape[0]} values for "
                         f"{len(snapshot)} open deals")
    if not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0 or p.max(initial=0.0) > 1:
        raise ValueError("win_probability must return finite probabilities in [0, 1]")
    return p


@dataclass
class Forecaster:
    """Everything fitted at one as-of date; forecasts the month or quarter containing it.

    Build with ``fit_forecaster``. ``incidence`` covers the next ``MAX_PERIOD_DAYS`` days.
    """

    cache: FitCache
    as_of: pd.Timestamp
    snapshot: pd.DataFrame
    p_win: np.ndarray
    incidence: CloseIncidence
    win_source: WinSource
    arrivals: dict[str, ArrivalModel] = field(default_factory=dict)
    dispersions: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> Tables:
        return self.cache.tables

    def forecast(self, freq: Freq = "month", target: float | None = None,
                 n_simulations: int = 4000, seed: int = 0,
                 with_fan: bool = True) -> LandingForecast:
        """The landing distribution of the month or quarter containing ``as_of``.

        Args:
            freq: ``month`` or ``quarter``.
            target: the period's revenue target; the alert is raised when P50 < target.
            n_simulations: Monte Carlo draws.
            seed: random seed (same seed, same forecast).
            with_fan: also simulate the cumulative path through the period (``fan``).
        """
        _check_simulation_args(n_simulations, target)
        period = period_containing(self.as_of, freq)
        first_day = period.day_index(self.as_of)
        n_left = period.n_days - first_day
        q = self.incidence.close_probability_given_won(n_left)
        share = self.incidence.daily_won_share(n_left) if with_fan else None
        deals = PipelineDeals(self.snapshot["amount"].to_numpy(dtype="float64"),
                              self.p_win * q, share, self.dispersion(freq))
        rng = np.random.default_rng(seed)
        arrivals = self.arrival_model(freq).sample(period, self.as_of, n_simulations, rng)
        booked = booked_to_date(self.tables, self.as_of, period)
        result = simulate_landing(booked, deals, arrivals, n_simulations, rng,
                                  period.n_days if with_fan else None, first_day)
        return self._summarize(period, booked, q, result, target, n_simulations, seed)

    def arrival_model(self, freq: Freq) -> ArrivalModel:
        """The new-deal run-rate for ``freq`` periods, fitted on first use."""
        if freq not in self.arrivals:
            self.arrivals[freq] = ArrivalModel().fit(self.tables, self.as_of, freq)
        return self.arrivals[freq]

    def dispersion(self, freq: Freq) -> float:
        """The shared period factor's log-sd for ``freq`` periods (``estimate_dispersion``)."""
        if freq not in self.dispersions:
            self.dispersions[freq] = estimate_dispersion(self.cache, self.as_of, freq,
                                                         self.win_source)
        return self.dispersions[freq]

    def _summarize(self, period: Period, booked: float, q: np.ndarray,
                   result: SimulationResult, target: float | None, n_simulations: int,
                   seed: int) -> LandingForecast:
        deals = _deal_table(self.snapshot, self.p_win, q)
        pipeline = float(deals["expected_value"].sum())
        new = self.arrival_model(period.freq).expected_revenue(period, self.as_of)
        values = np.quantile(result.totals, QUANTILES)
        fan = None if result.cumulative_by_day is None else _fan_frame(
            self.tables, period, self.as_of, result.cumulative_by_day)
        return LandingForecast(
            as_of=self.as_of, period=period, booked=booked, expected=booked + pipeline + new,
            quantiles={f"p{round(level * 100)}": float(v) for level, v in zip(QUANTILES, values)},
            breakdown={"booked": booked, "pipeline": pipeline, "new": new}, deals=deals,
            target=target, probability_of_target=None if target is None else float(
                (result.totals >= target).mean()),
            fan=fan, n_simulations=n_simulations, seed=seed, notes=list(self.notes))


def fit_forecaster(tables: Tables, as_of: object, win_probability: WinSource = DEFAULT_WIN_SOURCE,
                   cache: FitCache | None = None) -> Forecaster:
    """Rebuild the pipeline at ``as_of`` and fit the models on what was known then.

    Args:
        tables: canonical tables (``opportunities``, ``opportunity_stage_history``) in one
            currency (see ``convert_currency``).
        as_of: forecast date (00:00 UTC of that day).
        win_probability: ``f(snapshot) -> P(win)`` per row, fitted on data before ``as_of``
            (the snapshot has ``SNAPSHOT_COLUMNS`` plus ``product``/``owner``/``account_id``
            when the opportunities table has them), or ``"stage_rates"`` (historical stage
            win rates, point in time) or ``"time_to_close"`` (the hazard model's own).
        cache: a ``FitCache`` of the same tables, to share fits across as-of dates.

    Raises:
        ValueError: on missing tables/columns, too little history, or a win probability that
            is not one number in [0, 1] per open deal.
    """
    cache = cache or FitCache(tables)
    if cache.tables is not tables:
        raise ValueError("cache was built for other tables")
    as_of = to_as_of(as_of)
    snapshot = cache.snapshot(as_of)
    win = resolve_win_probability(win_probability, cache, as_of)
    model = cache.time_to_close(as_of)
    incidence = model.predict_incidence(snapshot, MAX_PERIOD_DAYS)
    p_win = _win_probabilities(win, snapshot, incidence, model)
    return Forecaster(cache, as_of, snapshot, p_win, incidence, win_probability,
                      notes=_data_notes(snapshot))


def forecast_landing(tables: Tables, as_of: object, freq: Freq = "month",
                     target: float | None = None, win_probability: WinSource = DEFAULT_WIN_SOURCE,
                     n_simulations: int = 4000, seed: int = 0,
                     with_fan: bool = True) -> LandingForecast:
    """Forecast the closed-won revenue of the month (or quarter) containing ``as_of``.

    See ``fit_forecaster`` and ``Forecaster.forecast`` for the arguments.
    """
    forecaster = fit_forecaster(tables, as_of, win_probability)
    return forecaster.forecast(freq, target, n_simulations, seed, with_fan)


# ------------------------------------------------------------------------------------------
# How wide: the shared period factor, from the models' own recent misses
# ------------------------------------------------------------------------------------------

def estimate_dispersion(cache: FitCache, as_of: pd.Timestamp, freq: Freq,
                        win_source: WinSource = DEFAULT_WIN_SOURCE, n_periods: int = 6,
                        prior_sd: float = 0.2, prior_weight: float = 2.0) -> float:
    """Log-sd of the period-level factor on open deals' win probabilities.

    Each of the last ``n_periods`` complete periods is forecast (pipeline part only) from the
    same position in the period as ``as_of``, with models fitted on what was known then (a
    named ``win_source`` is rebuilt at that moment; a callable is used as it is). With ``E``
    the expected and ``A`` the actual pipeline revenue and ``V`` the variance that independent
    deal outcomes explain, the factor's variance is
    ``(sum((A - E)^2 - V) + w * sd0^2 * mean(E^2)) / (sum(E^2) + w * mean(E^2))``: periods
    count by their size, and ``w = prior_weight`` periods at ``sd0 = prior_sd`` keep the
    estimate sane when few periods exist. Everything used ended before ``as_of``.
    """
    offset = as_of - period_containing(as_of, freq).start
    misses = []
    for period in past_periods(as_of, freq, n_periods):
        moment = min(period.start + offset, period.end - DAY)
        try:
            misses.append(_pipeline_miss(cache, moment, period, win_source))
        except ValueError as err:
            logger.debug("no dispersion sample at %s: %s", moment.date(), err)
    misses = [m for m in misses if m is not None]
    if not misses:
        return prior_sd
    squared_miss, binomial, expected_sq = np.array(misses).sum(axis=0)
    prior = prior_weight * expected_sq / len(misses)
    variance = (squared_miss - binomial + prior * prior_sd ** 2) / (expected_sq + prior)
    return float(np.sqrt(max(variance, 0.0)))


def _pipeline_miss(cache: FitCache, moment: pd.Timestamp, period: Period,
                   win_source: WinSource) -> tuple[float, float, float] | None:
    """(squared miss, binomial variance, squared expectation) of one past period's pipeline."""
    snapshot = cache.snapshot(moment)
    if snapshot.empty:
        return None
    n_left = int((period.end - moment) / DAY)
    model = cache.time_to_close(moment)
    incidence = model.predict_incidence(snapshot, n_left)
    win = resolve_win_probability(win_source, cache, moment)
    p = _win_probabilities(win, snapshot, incidence, model) * \
        incidence.close_probability_given_won(n_left)
    amount = snapshot["amount"].to_numpy(dtype="float64")
    expected = float((amount * p).sum())
    if expected <= 0:
        return None
    final = cache.tables["opportunities"].set_index("opportunity_id").loc[
        snapshot["opportunity_id"]]
    won = (final["outcome"] == "won") & (final["closed_at"] < period.end)
    actual = float(final["amount"].where(won, 0.0).fillna(0.0).sum())
    binomial = float((amount ** 2 * p * (1 - p)).sum())
    return (actual - expected) ** 2, binomial, expected ** 2


# ------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------

def _check_simulation_args(n_simulations: int, target: float | None) -> None:
    if n_simulations < 1:
        raise ValueError(f"n_simulations must be >= 1, got {n_simulations}")
    if target is not None and not (np.isfinite(target) and target >= 0):
        raise ValueError(f"target must be a non-negative amount, got {target}")


def _deal_table(snapshot: pd.DataFrame, p_win: np.ndarray, q: np.ndarray) -> pd.DataFrame:
    columns = ["opportunity_id", "stage", "amount", "amount_imputed", "expected_close_date",
               "age_days", "days_in_stage", "n_slips"]
    deals = snapshot.loc[:, [c for c in columns if c in snapshot.columns]].copy()
    deals["p_win"] = p_win
    deals["p_close_in_period_if_won"] = q
    deals["expected_value"] = deals["amount"] * p_win * q
    deals["expected_slip_value"] = deals["amount"] * p_win * (1.0 - q)
    return deals


def _fan_frame(tables: Tables, period: Period, as_of: pd.Timestamp,
               cumulative: np.ndarray) -> pd.DataFrame:
    won = won_between(tables, period.start, min(as_of, period.end))
    day_of_close = ((won["closed_at"] - period.start) // DAY).astype("int64")
    daily = won.groupby(day_of_close)["amount"].sum()
    booked_path = daily.reindex(range(period.n_days), fill_value=0.0).cumsum().to_numpy()
    past = np.arange(period.n_days) < period.day_index(as_of)
    frame = pd.DataFrame({"date": pd.date_range(period.start, period.end - DAY, freq="D"),
                          "day": np.arange(period.n_days),
                          "booked": np.where(past, booked_path, np.nan)})
    for level, values in zip(QUANTILES, np.quantile(cumulative, QUANTILES, axis=0)):
        frame[f"p{round(level * 100)}"] = np.where(past, np.nan, values)
    frame["mean"] = np.where(past, np.nan, cumulative.mean(axis=0))
    return frame


def _data_notes(snapshot: pd.DataFrame) -> list[str]:
    notes = []
    if len(snapshot) and snapshot["expected_close_date"].isna().all():
        notes.append("no expected close dates: timing comes from age, stage and calendar only")
    imputed = int(snapshot["amount_imputed"].sum())
    if imputed:
        notes.append(f"{imputed} open deals had no amount: filled with the mean won amount "
                     "of their product before as_of")
    unknown = int((snapshot["stage"] == "(unknown)").sum())
    if unknown:
        notes.append(f"{unknown} open deals had no stage history before as_of")
    return notes
