"""P(win) of open deals from a LightGBM fitted point in time (``win_probability="lightgbm"``).

Training rows: every deal open at a landmark (each ``landmark_every_days`` over the
``lookback_days`` before ``as_of``) that closed before ``as_of``, in its state at that landmark
(``snapshot.states_at``: stage, age, days in stage, days to the expected close, slips, stage
changes, amount); the label is whether it was won. Deals still open at ``as_of`` are left out,
so the model learns from finished deals only (the hazard model's own P(win) treats them as
censored instead; the backtest compares the two).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from forecast.snapshot import DAY, Tables, open_deals_at, states_at, to_as_of

logger = logging.getLogger(__name__)

NUMERIC = ("age_days", "days_in_stage", "days_to_expected_close", "n_slips", "slip_days",
           "n_stage_changes")
_PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15,
           "min_data_in_leaf": 40, "lambda_l2": 1.0, "feature_fraction": 0.9, "verbose": -1,
           "num_threads": 1, "seed": 0, "deterministic": True}


class LightGBMWinProbability:
    """Callable ``snapshot -> P(win)`` fitted on deals closed before ``as_of``.

    Args:
        lookback_days: how far back landmarks go.
        landmark_every_days: spacing of landmarks.
        n_trees: boosting rounds.
        min_closed: fewer closed training rows than this (or one class only) is an error.
    """

    def __init__(self, lookback_days: int = 365, landmark_every_days: int = 14,
                 n_trees: int = 150, min_closed: int = 50):
        self.lookback_days = lookback_days
        self.landmark_every_days = landmark_every_days
        self.n_trees = n_trees
        self.min_closed = min_closed

    def fit(self, tables: Tables, as_of: object,
            history: pd.DataFrame) -> "LightGBMWinProbability":
        """Fit on the landmark states of deals closed before ``as_of``.

        Raises:
            ValueError: with too few closed deals or a single outcome.
        """
        import lightgbm

        as_of = to_as_of(as_of)
        opportunities = tables["opportunities"]
        landmarks = [as_of - i * self.landmark_every_days * DAY
                     for i in range(1, self.lookback_days // self.landmark_every_days + 1)]
        states = states_at(open_deals_at(opportunities, pd.Series(landmarks)), opportunities,
                           history)
        final = opportunities.set_index("opportunity_id")
        closed_at = states["opportunity_id"].map(final["closed_at"])
        states = states[closed_at < as_of]
        won = states["opportunity_id"].map(final["outcome"]).eq("won").to_numpy()
        if len(states) < self.min_closed or won.all() or not won.any():
            raise ValueError(f"lightgbm P(win) needs at least {self.min_closed} closed deal "
                             f"states of both outcomes before {as_of.date()}, got {len(states)}")
        self.stages_ = sorted(states["stage"].unique().tolist())
        data = lightgbm.Dataset(self._features(states), label=won.astype("float64"),
                                categorical_feature=[0], free_raw_data=True)
        self.booster_ = lightgbm.train(_PARAMS, data, num_boost_round=self.n_trees)
        logger.info("lightgbm P(win) fitted at %s on %d deal states", as_of.date(), len(states))
        return self

    def _features(self, states: pd.DataFrame) -> np.ndarray:
        stage = pd.Categorical(states["stage"].astype("str"), categories=self.stages_).codes
        columns = [np.where(stage < 0, np.nan, stage).astype("float64")]
        columns += [states[c].to_numpy(dtype="float64", na_value=np.nan) for c in NUMERIC]
        amount = states["amount"].to_numpy(dtype="float64", na_value=np.nan)
        if "amount_imputed" in states.columns:   # filled for the simulation, unknown here
            amount = np.where(states["amount_imputed"].to_numpy(dtype=bool), np.nan, amount)
        columns.append(np.log1p(amount))
        return np.column_stack(columns)

    def __call__(self, snapshot: pd.DataFrame) -> np.ndarray:
        """P(win) of each snapshot row."""
        if not hasattr(self, "booster_"):
            raise RuntimeError("LightGBMWinProbability is not fitted: call fit first")
        if snapshot.empty:
            return np.zeros(0)
        return self.booster_.predict(self._features(snapshot))
