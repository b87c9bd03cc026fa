"""When will an open deal close? A discrete-time competing-risks hazard model with landmarks.

Training data, all known at ``as_of``: every ``landmark_every_days`` days back over
``lookback_days`` the pipeline is rebuilt point in time (``snapshot.states_at``); each deal open
at a landmark ``s`` is followed day by day, ``k = 0, 1, ...``, until it closed (won or lost) or
until ``as_of``, where it is **censored**: a deal still open contributes the days it was seen
open and nothing more, so it is never counted as a deal that will not close. Each (deal, landmark,
day) row's outcome is none / won / lost. One logistic regression per kind of close (the
cause-specific daily hazards of discrete-time competing risks) on the deal's state at the
landmark (stage, age, days in stage, expected close date relative to the day, slips, amount) and
the day's calendar (days to month end, month of quarter, weekend), with the interactions that
matter (stage x days ahead, stage x close date, amount x age, month of quarter x month end).
Non-event rows are subsampled with matching weights; Newton's method (``newton-cholesky``)
fits to convergence, so every (stage, days-ahead) cell is calibrated on the training rows.

Using the state at the landmark (not a state frozen and aged forward) is what makes the model fit
for prediction: a deal in an early stage today may move on before it closes, and the landmark
rows learn exactly that.

From the hazards, for an open deal at ``as_of``: the cumulative incidence of a won close by each
future day, ``CIF_won(d)``, and the probability it closes inside the period given it is won,
``CIF_won(end) / CIF_won(inf)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from forecast.snapshot import (DAY, Tables, check_tables, open_deals_at, prepare_history,
                               states_at, to_as_of)

logger = logging.getLogger(__name__)

_K_EDGES = np.array([1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270])
_AGE_EDGES = np.array([3, 7, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365])
_STAGE_DAYS_EDGES = np.array([3, 7, 14, 30, 60, 90, 180])
_ECD_GAP_EDGES = np.array([-60, -30, -14, -7, -3, -1, 0, 1, 2, 4, 8, 15, 31, 61, 91])
_K_COARSE_EDGES = np.array([7, 30, 90])
_AGE_COARSE_EDGES = np.array([14, 30, 60, 90, 180])
_ECD_GAP_COARSE_EDGES = np.array([-30, -7, 0, 1, 8, 31])
_MONTH_END_EDGES = np.array([1, 2, 3, 5, 10, 20])
NONE, WON, LOST = 0, 1, 2


@dataclass(frozen=True)
class CloseIncidence:
    """Cumulative incidence curves for open deals over the days after ``as_of``.

    Attributes:
        won: ``(n_deals, n_days)``: P(closed won by the end of day d).
        lost: the same for lost.
        won_ever: P(won at any time), with a constant-hazard tail after the horizon.
    """

    won: np.ndarray
    lost: np.ndarray
    won_ever: np.ndarray

    def close_probability_given_won(self, n_days: int) -> np.ndarray:
        """P(closes within the first ``n_days`` days | the deal is won)."""
        if n_days <= 0:
            return np.zeros(len(self.won_ever))
        reached = self.won[:, min(n_days, self.won.shape[1]) - 1]
        return np.divide(reached, self.won_ever, out=np.zeros_like(reached),
                         where=self.won_ever > 0).clip(0.0, 1.0)

    def daily_won_share(self, n_days: int) -> np.ndarray:
        """``(n_deals, n_days)``: how a won close inside the first ``n_days`` spreads over days."""
        cif = self.won[:, :n_days]
        daily = np.diff(cif, axis=1, prepend=0.0)
        total = cif[:, -1:]
        uniform = np.full_like(daily, 1.0 / n_days)
        return np.where(total > 0, daily / np.where(total > 0, total, 1.0), uniform)


class TimeToCloseModel:
    """Competing-risks (won / lost) daily hazard model fitted on landmark snapshots.

    Args:
        lookback_days: how far back landmarks go (never before the first recorded close).
        landmark_every_days: spacing of landmarks.
        horizon_days: days ahead modelled; later hazards repeat the last day's.
        max_rows: non-event rows are subsampled to about this many (events are all kept).
        min_closes: fewer won or lost closes than this in the training data is an error.
        regularization: inverse L2 strength ``C`` of the logistic regressions.
        random_state: seed for the subsampling.
    """

    def __init__(self, lookback_days: int = 365, landmark_every_days: int = 14,
                 horizon_days: int = 180, max_rows: int = 20_000, min_closes: int = 20,
                 regularization: float = 1.0, random_state: int = 0):
        self.lookback_days = lookback_days
        self.landmark_every_days = landmark_every_days
        self.horizon_days = horizon_days
        self.max_rows = max_rows
        self.min_closes = min_closes
        self.regularization = regularization
        self.random_state = random_state

    def fit(self, tables: Tables, as_of: object,
            history: pd.DataFrame | None = None) -> "TimeToCloseModel":
        """Fit the hazards on everything known at ``as_of``.

        Raises:
            ValueError: if fewer than ``min_closes`` won or lost closes fall in the lookback.
        """
        check_tables(tables)
        as_of = to_as_of(as_of)
        if history is None:
            history = prepare_history(tables["opportunity_stage_history"])
        landmarks = self._landmarks(tables["opportunities"], as_of)
        self._check_closes(tables["opportunities"], min(landmarks), as_of)
        pairs = open_deals_at(tables["opportunities"], pd.Series(landmarks))
        states = states_at(pairs, tables["opportunities"], history)
        self.stages_ = sorted(states["stage"].unique().tolist())
        log_amount = np.log1p(states["amount"].dropna().to_numpy(dtype="float64"))
        self.amount_center_ = float(np.median(log_amount)) if len(log_amount) else 0.0
        self.amount_edges_ = (np.unique(np.quantile(log_amount, [0.25, 0.5, 0.75]))
                              if len(log_amount) else np.zeros(0))
        rows, weights, outcome = self._training_rows(states, tables["opportunities"], as_of)
        # weights scaled to mean 1 over the sampled rows before merging: the merged rows keep
        # the total, so the L2 strength (1 / (C x total)) is the one of the rows themselves
        design, weights, outcome = _collapse(*self._design_parts(*rows),
                                             weights / weights.mean(), outcome)
        self.models_ = {cause: self._fit_cause(design, outcome == cause, weights)
                        for cause in (WON, LOST)}
        self.as_of_ = as_of
        self.n_training_rows_ = int(len(outcome))
        logger.info("time-to-close fitted at %s on %d rows from %d landmarks", as_of.date(),
                    len(outcome), len(landmarks))
        return self

    def _fit_cause(self, design: sp.csr_matrix, event: np.ndarray,
                   weights: np.ndarray) -> LogisticRegression | None:
        """Cause-specific daily hazard: a weighted logistic regression of one kind of close."""
        if not event.any():
            return None
        model = LogisticRegression(C=self.regularization, solver="newton-cholesky",
                                   max_iter=100, tol=1e-5)
        return model.fit(design, event.astype("int64"), sample_weight=weights)

    def _landmarks(self, opportunities: pd.DataFrame, as_of: pd.Timestamp) -> list:
        first_close = opportunities["closed_at"].min()
        earliest = as_of - self.lookback_days * DAY
        if pd.notna(first_close):
            earliest = max(earliest, first_close.normalize())
        landmarks, step = [], self.landmark_every_days * DAY
        moment = as_of - step
        while moment >= earliest:
            landmarks.append(moment)
            moment -= step
        if not landmarks:
            raise ValueError(f"no history before as_of {as_of.date()}: no deal closed "
                             f"more than {self.landmark_every_days} days earlier")
        return landmarks

    def _training_rows(self, states: pd.DataFrame, opportunities: pd.DataFrame,
                       as_of: pd.Timestamp):
        closing = opportunities.set_index("opportunity_id")[["closed_at", "outcome"]]
        closed_at = states["opportunity_id"].map(closing["closed_at"])
        outcome = states["opportunity_id"].map(closing["outcome"])
        known = closed_at < as_of
        event_day = ((closed_at - states["as_of"]) // DAY).where(known)
        seen_days = ((as_of - states["as_of"]) // DAY).astype("int64")
        event = np.where(known, np.where(outcome == "won", WON, LOST), NONE)
        n_obs = np.where(known, event_day.fillna(0).astype("int64") + 1, seen_days)
        event = np.where(n_obs > self.horizon_days, NONE, event)
        n_obs = np.minimum(n_obs, self.horizon_days)
        return self._sample_rows(states, n_obs, event)

    def _sample_rows(self, states: pd.DataFrame, n_obs: np.ndarray, event: np.ndarray):
        rng = np.random.default_rng(self.random_state)
        quiet = n_obs - (event != NONE)
        rate = min(1.0, self.max_rows / max(int(quiet.sum()), 1))
        counts = rng.binomial(quiet, rate)
        owner = np.repeat(np.arange(len(states)), counts)
        days = np.floor(rng.random(len(owner)) * quiet[owner]).astype("int64")
        has_event = np.flatnonzero(event != NONE)
        owner = np.concatenate([owner, has_event])
        days = np.concatenate([days, n_obs[has_event] - 1])
        outcome = np.concatenate([np.zeros(counts.sum(), dtype="int64"), event[has_event]])
        weights = np.concatenate([np.full(counts.sum(), 1.0 / rate), np.ones(len(has_event))])
        rows = (self._state_arrays(states, owner), days, _utc_days(states["as_of"])[owner])
        return rows, weights, outcome

    def _check_closes(self, opportunities: pd.DataFrame, first_landmark: pd.Timestamp,
                      as_of: pd.Timestamp) -> None:
        closed = opportunities["closed_at"]
        seen = opportunities.loc[(closed >= first_landmark) & (closed < as_of), "outcome"]
        for name in ("won", "lost"):
            n = int((seen == name).sum())
            if n < self.min_closes:
                raise ValueError(f"only {n} deals closed {name} between {first_landmark.date()}"
                                 f" and {as_of.date()}; time-to-close needs at least "
                                 f"{self.min_closes}")

    def _design_parts(self, state: dict[str, np.ndarray], k: np.ndarray, landmark: np.ndarray
                      ) -> tuple[list[tuple[np.ndarray, int]], list[np.ndarray]]:
        """One-hot groups (codes, size) and numeric columns of the design, in column order."""
        n_stages = len(self.stages_) + 1
        stage = (state["stage"], n_stages)
        ecd_gap = state["days_to_expected_close"] - k
        log_amount = np.log1p(state["amount"])
        to_month_end, quarter_month, weekend = _calendar(landmark + k.astype("timedelta64[D]"))
        month_end = _binned(to_month_end, _MONTH_END_EDGES)
        groups = [
            stage,
            _binned(k, _K_EDGES),
            _binned(state["age_days"], _AGE_EDGES),
            _binned(state["age_days"] + k, _AGE_EDGES),
            _binned(state["days_in_stage"], _STAGE_DAYS_EDGES),
            _binned_or_missing(ecd_gap, _ECD_GAP_EDGES),
            _binned(state["n_slips"], np.array([1, 2, 3, 4])),
            _binned(state["n_stage_changes"], np.array([1, 2, 3])),
            month_end,
            (quarter_month, 3),
            (weekend, 2),
            _crossed(stage, _binned(k, _K_COARSE_EDGES)),
            _crossed((quarter_month, 3), month_end),
            _crossed(stage, _binned_or_missing(ecd_gap, _ECD_GAP_COARSE_EDGES)),
            _crossed(_binned_or_missing(log_amount, self.amount_edges_),
                     _binned(state["age_days"] + k, _AGE_COARSE_EDGES)),
        ]
        numeric = [np.nan_to_num(log_amount - self.amount_center_),
                   np.isnan(log_amount).astype("float64")]
        return groups, numeric

    def predict_incidence(self, snapshot: pd.DataFrame, n_days: int) -> CloseIncidence:
        """Cumulative incidence of won and lost closes over the ``n_days`` days from ``as_of``.

        Args:
            snapshot: ``pipeline_as_of`` output (its ``as_of`` column is the prediction start).
            n_days: days to report (``won`` and ``lost`` have this many columns).
        """
        self._check_fitted()
        horizon = max(n_days, self.horizon_days)
        n = len(snapshot)
        if n == 0:
            empty = np.zeros((0, n_days))
            return CloseIncidence(empty, empty.copy(), np.zeros(0))
        # (deal, day) arrays by broadcasting: deal state (n, 1), day ahead (1, horizon)
        state = {name: values[:, None] for name, values in
                 self._state_arrays(snapshot, np.arange(n)).items()}
        landmark = _utc_days(snapshot["as_of"])
        landmark = landmark[:1, None] if (landmark == landmark[0]).all() else landmark[:, None]
        groups, numeric = self._design_parts(state, np.arange(horizon)[None, :], landmark)
        hazard = {cause: np.zeros((n, horizon)) if model is None else
                  np.broadcast_to(_predict_logistic(model, groups, numeric), (n, horizon))
                  for cause, model in self.models_.items()}
        return _incidence(hazard[WON], hazard[LOST], n_days)

    def _state_arrays(self, states: pd.DataFrame, owner: np.ndarray) -> dict[str, np.ndarray]:
        out = {"stage": _stage_codes(states["stage"], self.stages_)[owner]}
        for column in ("age_days", "days_in_stage", "days_to_expected_close", "n_slips",
                       "n_stage_changes", "amount"):
            out[column] = states[column].to_numpy(dtype="float64", na_value=np.nan)[owner]
        if "amount_imputed" in states.columns:
            imputed = states["amount_imputed"].to_numpy(dtype=bool)[owner]
            out["amount"] = np.where(imputed, np.nan, out["amount"])
        return out

    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise RuntimeError("TimeToCloseModel is not fitted: call fit(tables, as_of) first")


class TimeToCloseWinProbability:
    """P(win) of open deals from a fitted hazard model: ``CIF_won(inf)``.

    With it, ``P(win) x P(close in period | won)`` is exactly the model's ``CIF_won(period
    end)``: the two factors come from one censoring-aware model of the same deals.
    """

    def __init__(self, model: TimeToCloseModel):
        self.model = model

    def __call__(self, snapshot: pd.DataFrame) -> np.ndarray:
        return self.model.predict_incidence(snapshot, 1).won_ever


def _incidence(won: np.ndarray, lost: np.ndarray, n_days: int) -> CloseIncidence:
    leave = np.clip(won + lost, 0.0, 1.0)
    survival = np.cumprod(1.0 - leave, axis=1)
    before = np.hstack([np.ones((len(won), 1)), survival[:, :-1]])
    cif_won = np.cumsum(before * won, axis=1)
    cif_lost = np.cumsum(before * lost, axis=1)
    tail_share = np.divide(won[:, -1], leave[:, -1], out=np.zeros(len(won)),
                           where=leave[:, -1] > 0)
    won_ever = cif_won[:, -1] + survival[:, -1] * tail_share
    return CloseIncidence(cif_won[:, :n_days], cif_lost[:, :n_days], won_ever)


def _utc_days(stamps: pd.Series) -> np.ndarray:
    """Timezone-aware UTC timestamps as naive ``datetime64[D]`` days (UTC)."""
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def _stage_codes(stages: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Index of each stage in ``vocabulary``; unseen stages get ``len(vocabulary)``."""
    codes = pd.Categorical(stages.astype("str"), categories=vocabulary).codes.astype("int64")
    return np.where(codes < 0, len(vocabulary), codes)


def _binned(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    return np.digitize(np.nan_to_num(values, nan=0.0), edges), len(edges) + 1


def _binned_or_missing(values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, int]:
    codes = np.digitize(np.nan_to_num(values, nan=0.0), edges)
    return np.where(np.isnan(values), len(edges) + 1, codes), len(edges) + 2


def _crossed(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> tuple[np.ndarray, int]:
    return a[0] * b[1] + b[0], a[1] * b[1]


def _calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days to month end, month within the quarter (0-2) and weekend flag of each day.

    Computed once per calendar day of the covered range and looked up (no sort of ``days``).
    """
    ordinal = days.astype("datetime64[D]").astype("int64")
    first = int(ordinal.min()) if ordinal.size else 0
    span = int(ordinal.max()) - first + 1 if ordinal.size else 0
    index = pd.DatetimeIndex(np.arange(first, first + span).astype("datetime64[D]"))
    position = ordinal - first
    to_month_end = (index.days_in_month - index.day).to_numpy()
    quarter_month = (index.month.to_numpy() - 1) % 3
    weekend = (index.day_of_week.to_numpy() >= 5).astype("int64")
    return to_month_end[position], quarter_month[position], weekend[position]


def _predict_logistic(model: LogisticRegression, groups: list[tuple[np.ndarray, int]],
                      numeric: list[np.ndarray]) -> np.ndarray:
    """``model.predict_proba(_sparse_design(groups, numeric))[:, 1]`` without building the
    matrix: each one-hot group adds one coefficient per row (a gather). Groups may be arrays of
    broadcastable shapes (per deal, per day ahead, per both); the result has their joint shape."""
    coef = model.coef_[0]
    by_shape: dict[tuple[int, ...], np.ndarray] = {}   # per deal, per day, per (deal, day)
    offset = 0
    for codes, size in groups:
        _accumulate(by_shape, coef[offset + codes])
        offset += size
    for j, values in enumerate(numeric):
        _accumulate(by_shape, coef[offset + j] * values)
    logit = np.asarray(float(model.intercept_[0]))
    for part in sorted(by_shape.values(), key=np.size):   # small parts first, one full add each
        logit = logit + part
    return 1.0 / (1.0 + np.exp(-logit))


def _accumulate(by_shape: dict[tuple[int, ...], np.ndarray], part: np.ndarray) -> None:
    """Add ``part`` to the running sum of the parts of its shape (added in place once owned)."""
    shape = np.shape(part)
    if shape in by_shape:
        by_shape[shape] += part
    else:
        by_shape[shape] = np.array(part, dtype="float64")


def _collapse(groups: list[tuple[np.ndarray, int]], numeric: list[np.ndarray],
              weights: np.ndarray, outcome: np.ndarray
              ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The design with identical (row, outcome) pairs merged into one row of their summed
    weight: the same weighted likelihood (and total weight, so the same L2 strength) with far
    fewer rows to fit (deals in the same cells on days in the same bins)."""
    key = np.column_stack([codes for codes, _ in groups] + numeric + [outcome]).astype("float64")
    unique, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_groups = len(groups)
    merged = [(unique[:, j].astype("int64"), size) for j, (_, size) in enumerate(groups)]
    merged_numeric = [unique[:, n_groups + j] for j in range(len(numeric))]
    summed = np.bincount(inverse, weights=weights, minlength=len(unique))
    return (_sparse_design(merged, merged_numeric), summed,
            unique[:, -1].astype(outcome.dtype))


def _sparse_design(groups: list[tuple[np.ndarray, int]],
                   numeric: list[np.ndarray]) -> sp.csr_matrix:
    """One-hot columns of every group, then the numeric columns, as one CSR matrix."""
    n, width = len(groups[0][0]), int(sum(size for _, size in groups))
    offsets = np.cumsum([0] + [size for _, size in groups[:-1]])
    columns = np.empty((n, len(groups) + len(numeric)), dtype="int64")
    data = np.ones((n, len(groups) + len(numeric)))
    for j, ((codes, _), offset) in enumerate(zip(groups, offsets)):
        columns[:, j] = codes + offset
    for j, values in enumerate(numeric, start=len(groups)):
        columns[:, j] = width + j - len(groups)
        data[:, j] = values
    per_row = columns.shape[1]
    indptr = np.arange(0, n * per_row + 1, per_row)
    return sp.csr_matrix((data.ravel(), columns.ravel(), indptr),
                         shape=(n, width + len(numeric)))
