"""The landing forecast: booked to date + open pipeline + deals not created yet, by Monte Carlo,
centred and widened by what past periods showed at the same day.

For an as-of date and its month (or quarter):

* **booked**: closed-won revenue of the period before ``as_of`` (known, no uncertainty);
* **pipeline**: each deal open at ``as_of`` is won inside the period with probability
  ``P(win) x P(closes before the period ends | won)``. ``P(win)`` comes from a pluggable
  ``win_probability(snapshot) -> array`` (default: the hazard model's own; ``"stage_rates"``:
  historical stage win rates; ``"lightgbm"``: a LightGBM fitted point in time), the second
  factor from the time-to-close hazard model (``forecast.time_to_close``), refitted on the first
  of each month;
* **new**: deals created from ``as_of`` on and won inside the period (``forecast.arrivals``).

The Monte Carlo draws every open deal's outcome, the new deals and the day each win lands. Its
expected remaining revenue is then combined with the period's own pace and the same-day history
of past periods (``forecast.combine``), with weights chosen on past periods at the same day; the
simulated totals are mapped by rank onto a spread calibrated on those periods' misses. P10 / P50
/ P90, the fan and P(reaching the target) all come from the calibrated draws.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd

from forecast.arrivals import ArrivalDraws, ArrivalModel
from forecast.baselines import fit_stage_win_rates, same_day_rest
from forecast.combine import (EVIDENCE_COLUMNS, Combination, Spread, blend_landings,
                              calibrate_spread, combine_rest, fit_combination,
                              out_of_sample_log_ratios)
from forecast.fitstore import FitStore, KnownAt, make_key
from forecast.snapshot import (DAY, Freq, Period, Tables, WonRevenue, check_tables,
                               fill_missing_amounts, past_periods, period_containing,
                               pipeline_as_of, prepare_history, to_as_of, won_between)
from forecast.time_to_close import CloseIncidence, TimeToCloseModel, TimeToCloseWinProbability
from forecast.win_model import LightGBMWinProbability

logger = logging.getLogger(__name__)

WinProbability = Callable[[pd.DataFrame], np.ndarray]
WinSource = WinProbability | Literal["stage_rates", "time_to_close", "lightgbm"]
# The hazard model's own P(win): lower MAPE and bias than historical stage rates, and the only
# source whose P10-P90 covers 75-85% of months on both the generated and the Maven CRM.
DEFAULT_WIN_SOURCE = "time_to_close"
QUANTILES = (0.1, 0.5, 0.9)
MAX_PERIOD_DAYS = 92
HISTORY_PERIODS = {"month": 12, "quarter": 8}   # past periods that fit and calibrate
SEASONAL_PERIODS = 3
RANK_LIMITS = (0.005, 0.995)   # calibrated draws stop at these quantiles (Student-t tails)
_CHUNK = 500
# evidence rows carry, for quarters once begun, the quarter composed from the month forecast
EVIDENCE = (*EVIDENCE_COLUMNS, "composed_rest")


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
        by_day += np.bincount(arrivals.simulation * n_days + arrivals.day,
                              weights=arrivals.amount, minlength=by_day.size
                              ).reshape(by_day.shape)
        by_day = booked + np.cumsum(by_day, axis=1)
    return SimulationResult(booked + pipeline + new, pipeline, new, by_day)


def _add_win_days(by_day: np.ndarray, won: np.ndarray, amount: np.ndarray,
                  daily_share: np.ndarray, first_day: int, rng: np.random.Generator) -> None:
    sim, deal = np.nonzero(won)
    if len(sim) == 0:
        return
    n_deals, n_share = daily_share.shape
    # every deal's CDF shifted by 2 x its row: one sorted array, one binary search per win
    shift = 2.0 * np.arange(n_deals)
    cdf = (np.cumsum(daily_share, axis=1) + shift[:, None]).ravel()
    draws = rng.random(len(sim))
    below = np.searchsorted(cdf, draws + shift[deal], side="left") - deal * n_share
    day = first_day + below.clip(0, n_share - 1)
    by_day += np.bincount(sim * by_day.shape[1] + day, weights=amount[deal],
                          minlength=by_day.size).reshape(by_day.shape)


# ------------------------------------------------------------------------------------------
# The result
# ------------------------------------------------------------------------------------------

@dataclass
class LandingForecast:
    """A period's landing forecast: distribution, breakdown, deals, fan and alert.

    ``deals`` has one row per open deal: amount, ``p_win``, ``p_close_in_period_if_won``,
    ``expected_value`` (amount x both) and ``expected_slip_value`` (amount x P(win) x P(not in
    the period | won)). ``fan`` has one row per day of the period: ``booked`` before as-of,
    simulated cumulative ``p10``/``p50``/``p90``/``mean`` from as-of on. ``expected`` is the
    combined landing (booked + the pipeline model's remaining updated by what the period has
    shown); ``breakdown`` sums to it: booked, pipeline, new and ``month_to_date_adjustment``.
    ``method`` says how the combination and the interval were set (``Calibration.describe``).
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
    method: dict[str, Any] = field(default_factory=dict)

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
            "seed": self.seed, "notes": list(self.notes), "method": dict(self.method),
            "fan": _fan_records(self.fan),
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
    """Prepared history, models and evidence rows for one dataset, computed once.

    The time-to-close model behind a forecast at any moment is the one fitted at 00:00 on the
    first day of that moment's month, on what was known then: every as-of day of a month, and
    the same day of every past month that calibrates it, share one fit per month.

    Args:
        tables: canonical tables (one currency).
        template: an unfitted ``TimeToCloseModel`` whose settings every fit copies.
        store: where fits and evidence rows are also kept under the fingerprint of what the
            tables knew when they were made (``forecast.fitstore``), so that another
            ``FitCache`` (tomorrow's data, another process with an on-disk store) reuses them.
    """

    def __init__(self, tables: Tables, template: TimeToCloseModel | None = None,
                 store: FitStore | None = None):
        check_tables(tables, one_currency=True)
        self.tables = tables
        self.history = prepare_history(tables["opportunity_stage_history"])
        self.template = template or TimeToCloseModel()
        self.store = store
        self._known = KnownAt(tables) if store is not None else None
        self.won_revenue = WonRevenue(tables)
        self._settings = repr(sorted(vars(self.template).items()))
        self._models: dict[pd.Timestamp, TimeToCloseModel | ValueError] = {}
        self._snapshots: dict[pd.Timestamp, pd.DataFrame] = {}
        self._incidences: dict[pd.Timestamp, CloseIncidence] = {}
        self._win_models: dict[pd.Timestamp, LightGBMWinProbability | ValueError] = {}
        self._arrivals: dict[tuple[pd.Timestamp, str], ArrivalModel] = {}
        self._evidence: dict[tuple, dict[str, Any] | None] = {}
        closes = tables["opportunities"]["closed_at"].dropna()
        self.data_start = closes.min().normalize() if len(closes) else None

    def time_to_close(self, as_of: pd.Timestamp) -> TimeToCloseModel:
        """The model fitted at the start of ``as_of``'s month (fitted on first request).

        Raises:
            ValueError: if too little was known then to fit it (remembered too).
        """
        moment = period_containing(as_of, "month").start
        if moment not in self._models:
            try:
                model = self._stored(moment, ("time_to_close",), lambda: copy.copy(
                    self.template).fit(self.tables, moment, self.history))
            except ValueError as err:
                model = err
            self._models[moment] = model
        found = self._models[moment]
        if isinstance(found, ValueError):
            raise found
        return found

    def booked(self, moment: pd.Timestamp, period: Period) -> float:
        """Closed-won revenue of ``period`` before ``moment``."""
        return self.won_revenue(period.start, min(moment, period.end))

    def _stored(self, moment: pd.Timestamp, name: tuple, make: Callable[[], Any]) -> Any:
        """``make()``, or what the store holds for ``name`` made on the same knowledge at
        ``moment``. A ``ValueError`` (too little known then) is stored and raised again."""
        if self.store is None:
            return make()
        key = make_key(name, self._settings, self._known.fingerprint(moment))
        found = self.store.get(key)
        if found is None:
            try:
                found = make()
            except ValueError as error:
                found = _Failed(str(error))
            self.store.put(key, found)
        if isinstance(found, _Failed):
            raise ValueError(found.message)
        return found

    def arrival_model(self, as_of: pd.Timestamp, freq: Freq) -> ArrivalModel:
        """The new-deal run-rate for ``freq`` periods at ``as_of`` (it reads only the periods
        complete before ``as_of``'s, so one fit serves every day of a period)."""
        key = (period_containing(as_of, freq).start, freq)
        if key not in self._arrivals:
            self._arrivals[key] = self._stored(key[0], ("arrivals", freq), lambda: (
                ArrivalModel().fit(self.tables, as_of, freq)))
        return self._arrivals[key]

    def win_model(self, as_of: pd.Timestamp) -> LightGBMWinProbability:
        """The LightGBM P(win) fitted at the start of ``as_of``'s month (fitted on first use).

        Raises:
            ValueError: if too few deals had closed then.
        """
        moment = period_containing(as_of, "month").start
        if moment not in self._win_models:
            try:
                self._win_models[moment] = LightGBMWinProbability().fit(self.tables, moment,
                                                                        self.history)
            except ValueError as err:
                self._win_models[moment] = err
        found = self._win_models[moment]
        if isinstance(found, ValueError):
            raise found
        return found

    def snapshot(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The open pipeline at ``as_of`` with missing amounts filled point in time."""
        if as_of not in self._snapshots:
            self._snapshots[as_of] = fill_missing_amounts(
                pipeline_as_of(self.tables, as_of, self.history), self.tables, as_of)
        return self._snapshots[as_of]

    def incidence(self, as_of: pd.Timestamp) -> CloseIncidence:
        """Close incidence of the pipeline at ``as_of`` over ``MAX_PERIOD_DAYS`` days.

        Raises:
            ValueError: if no time-to-close model could be fitted for ``as_of``.
        """
        if as_of not in self._incidences:
            self._incidences[as_of] = self.time_to_close(as_of).predict_incidence(
                self.snapshot(as_of), MAX_PERIOD_DAYS)
        return self._incidences[as_of]

    def evidence(self, moment: pd.Timestamp, period: Period,
                 win_source: WinSource) -> dict[str, Any] | None:
        """One evidence row (``combine.EVIDENCE_COLUMNS``) for ``period`` seen at ``moment``.

        Without ``actual`` (``past_evidence`` adds it for periods that ended before the forecast
        that uses them). None when no model could be fitted then.
        """
        name = win_source if isinstance(win_source, str) else DEFAULT_WIN_SOURCE
        key = (moment, period.start, period.freq, name)
        if key not in self._evidence:
            try:
                self._evidence[key] = self._stored(moment, ("evidence", *key), lambda: (
                    _evidence_row(self, moment, period, name)))
            except ValueError as err:
                logger.debug("no evidence at %s: %s", moment.date(), err)
                self._evidence[key] = None
        return self._evidence[key]

    def past_evidence(self, as_of: pd.Timestamp, freq: Freq, win_source: WinSource,
                      n_periods: int) -> pd.DataFrame:
        """Evidence rows of the complete past periods, each seen at the same day as ``as_of``.

        Only periods that start on or after the first recorded close count.
        """
        offset = as_of - period_containing(as_of, freq).start
        rows = []
        for period in past_periods(as_of, freq, n_periods):
            if self.data_start is None or period.start < self.data_start:
                continue
            moment = min(period.start + offset, period.end - DAY)
            row = self.evidence(moment, period, win_source)
            if row is not None:
                rows.append({**row, "actual": self.won_revenue(period.start, period.end)})
        return pd.DataFrame(rows, columns=list(EVIDENCE))

    def compose_quarter_rest(self, moment: pd.Timestamp, month_row: dict[str, Any],
                             quarter_model_rest: float, win_source: WinSource) -> float:
        """The quarter's remaining revenue composed from the month forecast at ``moment``.

        The current month's combined remaining (the month combination, fitted on past months
        at the same day of the month, so it follows the month's pace as far as past months
        showed it reliable) plus the pipeline model's expectation beyond the month's end (the
        quarter's model remaining minus the month's, at least 0). Only months that ended
        before ``moment`` are read.

        Args:
            moment: the as-of date.
            month_row: the evidence row of the month containing ``moment``.
            quarter_model_rest: the pipeline model's remaining revenue to the quarter's end.
            win_source: P(win) source of the past months (a callable: the hazard model's own).
        """
        past = self.past_evidence(moment, "month", win_source, HISTORY_PERIODS["month"])
        current = pd.DataFrame([month_row], columns=list(EVIDENCE_COLUMNS))
        month_rest = float(combine_rest(current, fit_combination(past))[0])
        return month_rest + max(0.0, quarter_model_rest - float(month_row["model_rest"]))


@dataclass(frozen=True)
class _Failed:
    """A stored ``ValueError``: what was known then could not support the fit."""

    message: str


def _evidence_row(cache: FitCache, moment: pd.Timestamp, period: Period,
                  win_source: str) -> dict[str, Any]:
    model = cache.time_to_close(moment)
    snapshot = cache.snapshot(moment)
    incidence = cache.incidence(moment)
    win = resolve_win_probability(win_source, cache, moment)
    p_win = _win_probabilities(win, snapshot, incidence, model)
    return _evidence_of(cache, moment, period, snapshot, p_win, incidence, win_source,
                        lambda: cache.evidence(moment, period_containing(moment, "month"),
                                               win_source))


def _evidence_of(cache: FitCache, moment: pd.Timestamp, period: Period, snapshot: pd.DataFrame,
                 p_win: np.ndarray, incidence: CloseIncidence, win_source: WinSource,
                 month_row: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The evidence row (``EVIDENCE``) of ``period`` at ``moment`` from the open deals' P(win)
    and close incidence; ``month_row`` gives the month's row when a quarter is composed."""
    elapsed = period.day_index(moment)
    left = period.n_days - elapsed
    pipeline = float((snapshot["amount"].to_numpy(dtype="float64") * p_win
                      * incidence.close_probability_given_won(left)).sum())
    new = cache.arrival_model(moment, period.freq).expected_revenue(period, moment)
    model_rest, composed = pipeline + new, np.nan
    if is_composed(period, elapsed):
        composed = cache.compose_quarter_rest(moment, month_row(), model_rest, win_source)
    return {"period_start": period.start, "period_end": period.end, "as_of": moment,
            "booked": cache.booked(moment, period), "elapsed_days": elapsed,
            "days_left": left, "model_rest": model_rest,
            "seasonal_rest": same_day_rest(cache.tables, moment, period, SEASONAL_PERIODS,
                                           match_quarter_position=True,
                                           data_start=cache.data_start,
                                           revenue=cache.won_revenue),
            "actual": np.nan, "composed_rest": composed}


def resolve_win_probability(source: WinSource, cache: FitCache,
                            as_of: pd.Timestamp) -> WinProbability:
    """The win-probability callable for ``as_of``.

    ``"stage_rates"``: historical stage win rates of deals closed before ``as_of``;
    ``"time_to_close"``: the hazard model's own ``P(win)``; ``"lightgbm"``: a LightGBM fitted
    on deals closed before the start of ``as_of``'s month (``forecast.win_model``); a callable
    is returned as it is.

    Raises:
        ValueError: for an unknown name or a non-callable.
    """
    if isinstance(source, str):
        if source == "stage_rates":
            return fit_stage_win_rates(cache.tables, as_of, cache.history)
        if source == "time_to_close":
            return TimeToCloseWinProbability(cache.time_to_close(as_of))
        if source == "lightgbm":
            return cache.win_model(as_of)
        raise ValueError(f"win_probability must be 'stage_rates', 'time_to_close', 'lightgbm' "
                         f"or a callable, got {source!r}")
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
    ``calibrations`` holds, per period kind, the combination and spread fitted on past periods.
    """

    cache: FitCache
    as_of: pd.Timestamp
    snapshot: pd.DataFrame
    p_win: np.ndarray
    incidence: CloseIncidence
    win_source: WinSource
    arrivals: dict[str, ArrivalModel] = field(default_factory=dict)
    calibrations: dict[str, "Calibration"] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> Tables:
        return self.cache.tables

    def forecast(self, freq: Freq = "month", target: float | None = None,
                 n_simulations: int = 4000, seed: int = 0,
                 with_fan: bool = True) -> LandingForecast:
        """The landing distribution of the month or quarter containing ``as_of``.

        The pipeline Monte Carlo gives the shape (which deals, which days); its centre and
        width are set by the combination with month-to-date pace and same-day history and by
        the spread of past periods' misses at the same day (``calibration``).

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
                              self.p_win * q, share)
        rng = np.random.default_rng(seed)
        arrivals = self.arrival_model(freq).sample(period, self.as_of, n_simulations, rng)
        booked = self.cache.booked(self.as_of, period)
        result = simulate_landing(booked, deals, arrivals, n_simulations, rng,
                                  period.n_days if with_fan else None, first_day)
        calibration = self.calibration(freq, _log_sd(result.totals))
        if calibration.spread is not None:
            result = calibrate_simulation(result, booked, calibration.point, calibration.spread)
        return self._summarize(period, booked, q, result, calibration, target, n_simulations,
                               seed)

    def arrival_model(self, freq: Freq) -> ArrivalModel:
        """The new-deal run-rate for ``freq`` periods, fitted on first use."""
        if freq not in self.arrivals:
            self.arrivals[freq] = self.cache.arrival_model(self.as_of, freq)
        return self.arrivals[freq]

    def evidence(self, freq: Freq) -> dict[str, Any]:
        """This forecast's evidence row: booked, days, the model's and history's remaining."""
        return _evidence_of(self.cache, self.as_of, period_containing(self.as_of, freq),
                            self.snapshot, self.p_win, self.incidence, self.win_source,
                            lambda: self.evidence("month"))

    def calibration(self, freq: Freq, prior_scale: float) -> "Calibration":
        """Combination and spread for ``freq``, fitted on past periods at the same day.

        Args:
            freq: ``month`` or ``quarter``.
            prior_scale: the Monte Carlo's log-sd of the landing, the spread's weak prior
                (used on the first call for ``freq``).
        """
        if freq not in self.calibrations:
            past = self.cache.past_evidence(self.as_of, freq, self.win_source,
                                            HISTORY_PERIODS[freq])
            current = pd.DataFrame([self.evidence(freq)], columns=list(EVIDENCE))
            combination = fit_combination(past)
            booked = float(current["booked"].iloc[0])
            point = blend_landings(booked + combine_rest(current, combination)[0],
                                   booked + current["composed_rest"].iloc[0])
            composed = current["composed_rest"].notna().iloc[0]
            ratios = out_of_sample_log_ratios(past, "composed_rest" if composed else None)
            spread = calibrate_spread(ratios, prior_scale) if len(past) else None
            self.calibrations[freq] = Calibration(current.iloc[0].to_dict(), combination,
                                                  spread, point, len(past), tuple(ratios))
        return self.calibrations[freq]

    def _summarize(self, period: Period, booked: float, q: np.ndarray,
                   result: SimulationResult, calibration: "Calibration", target: float | None,
                   n_simulations: int, seed: int) -> LandingForecast:
        deals = _deal_table(self.snapshot, self.p_win, q)
        pipeline = float(deals["expected_value"].sum())
        new = self.arrival_model(period.freq).expected_revenue(period, self.as_of)
        values = np.quantile(result.totals, QUANTILES)
        fan = None if result.cumulative_by_day is None else _fan_frame(
            self.tables, period, self.as_of, result.cumulative_by_day)
        return LandingForecast(
            as_of=self.as_of, period=period, booked=booked,
            expected=calibration.point,
            quantiles={f"p{round(level * 100)}": float(v) for level, v in zip(QUANTILES, values)},
            breakdown={"booked": booked, "pipeline": pipeline, "new": new,
                       "month_to_date_adjustment": calibration.point - booked - pipeline - new},
            deals=deals,
            target=target, probability_of_target=None if target is None else float(
                (result.totals >= target).mean()),
            fan=fan, n_simulations=n_simulations, seed=seed, notes=list(self.notes),
            method=calibration.describe())


@dataclass(frozen=True)
class Calibration:
    """How a forecast's centre and width were set from past periods at the same day.

    Attributes:
        evidence: this forecast's evidence row (``combine.EVIDENCE_COLUMNS``).
        combination: prior weight and model share chosen on past periods.
        spread: Student-t of log(actual / forecast) from past periods' out-of-sample misses
            and the Monte Carlo's own spread; None without any past period (the Monte Carlo is
            then left as it is).
        point: the combined landing (P50 when calibrated).
        n_past_periods: past periods with evidence at the same day.
        past_log_ratios: their out-of-sample log(actual / forecast), oldest first.
    """

    evidence: dict[str, Any]
    combination: Combination
    spread: Spread | None
    point: float
    n_past_periods: int
    past_log_ratios: tuple[float, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-ready: the parts of the point forecast and where its weights came from."""
        row, combination = self.evidence, self.combination
        elapsed, left = row["elapsed_days"], row["days_left"]
        pace = np.nan if elapsed == 0 else row["booked"] / elapsed * left
        pace_share = (0.0 if np.isinf(combination.alpha) or elapsed == 0
                      else elapsed / (combination.alpha + elapsed))
        return {"model_rest": _number(row["model_rest"]),
                "same_day_history_rest": _number(row["seasonal_rest"]),
                "pace_rest": _number(pace), "combined_rest": self.point - row["booked"],
                "prior_weight_days": _number(combination.alpha),
                "model_share_of_prior": combination.beta, "pace_share": pace_share,
                "composed_rest": _number(row.get("composed_rest")),
                "spread_log_sd": None if self.spread is None else self.spread.scale,
                "n_past_periods": self.n_past_periods}


def is_composed(period: Period, elapsed_days: int) -> bool:
    """Whether the forecast of ``period`` seen ``elapsed_days`` in also has a composed landing.

    A quarter once it has begun: booked + its current month's combined remaining (what the
    quarter has shown, weighted as past months taught) + the pipeline model beyond the month,
    averaged with the quarter's own combination (``combine.blend_landings``). On the quarter's
    first day nothing has been shown yet, and the quarter's own combination stands alone.
    """
    return period.freq == "quarter" and elapsed_days > 0


def _log_sd(totals: np.ndarray) -> float:
    positive = totals[totals > 0]
    return float(np.std(np.log(positive))) if len(positive) > 1 else 0.0


def _number(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def calibrate_simulation(result: SimulationResult, booked: float, point: float,
                         spread: Spread) -> SimulationResult:
    """Map each simulated total, by its rank, onto the calibrated landing distribution.

    The calibrated total at rank ``u`` (clipped to ``RANK_LIMITS``) is
    ``max(booked, point * exp(t_u))`` with ``t_u`` the spread's quantile; each simulated path through the period is scaled with its total, so the
    fan, P10-P90 and P(target) all follow the calibrated distribution.
    """
    n = len(result.totals)
    ranks = np.empty(n)
    ranks[np.argsort(result.totals, kind="stable")] = (np.arange(n) + 0.5) / n
    ranks = ranks.clip(RANK_LIMITS[0], RANK_LIMITS[1])
    totals = np.maximum(booked, point * np.exp(spread.quantile(ranks))) if point > 0 \
        else np.full(n, booked)
    by_day = result.cumulative_by_day
    if by_day is not None:
        by_day = _scale_paths(by_day, booked, result.totals - booked, totals - booked)
    scale = np.divide(totals - booked, result.totals - booked,
                      out=np.ones(n), where=result.totals > booked)
    return SimulationResult(totals, result.pipeline * scale, result.new * scale, by_day)


def _scale_paths(by_day: np.ndarray, booked: float, old_rest: np.ndarray,
                 new_rest: np.ndarray) -> np.ndarray:
    rest = by_day - booked
    mean_rest = rest.mean(axis=0)
    mean_shape = mean_rest / mean_rest[-1] if mean_rest[-1] > 0 else \
        np.linspace(1.0 / rest.shape[1], 1.0, rest.shape[1])
    positive = old_rest > 0
    shape = np.where(positive[:, None], rest / np.where(positive, old_rest, 1.0)[:, None],
                     mean_shape[None, :])
    return booked + shape * new_rest[:, None]


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
            win rates, point in time), ``"time_to_close"`` (the hazard model's own) or
            ``"lightgbm"`` (a LightGBM on deals closed before the month began). Past periods
            that calibrate a callable's forecast use the hazard model's own P(win).
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
    incidence = cache.incidence(as_of)
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
