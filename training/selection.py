"""Choose the model on rolling-origin time-series folds, never on one slice.

One validation slice is a poor judge on real CRM exports: a small one let early stopping pick
iteration 1 (a constant model), and a default LightGBM can lose to plain logistic regression by
a wide margin on data it was never tuned for. So every candidate is fitted and measured on
several time-ordered folds and the one with the lowest mean validation log loss is kept.

**Folds (rolling origin, newest last).** The time split's valid part is the newest fold's
validation window; the earlier windows are cut from the end of the train part, each with as
many rows as valid (at timestamp boundaries). Fold *k* trains on every train row before its
window, minus rows of an entity (or identical-row group) that also appears in the window; fold
windows never overlap. Folds whose train part would fall below the minimum data are skipped
(logged); the newest fold always exists.

**Candidates** (``TrainConfig.candidates``; small on purpose — every one is fitted once per
fold):

* LightGBM over a small regularisation grid (``num_leaves``, ``min_data_in_leaf``,
  ``learning_rate``, ``feature_fraction``, ``lambda_l2`` overriding ``TrainConfig.booster``).
  Each fold records the validation log loss after every round (early stopping ends a fold
  ``early_stopping_rounds`` after its best round); the candidate's number of rounds is the
  minimum of the *mean* curve over folds, so one noisy window cannot choose iteration 1.
* Regularised logistic regression on one-hot/binned features (``training.linear``) with an L2
  strength ``C``.
* Odoo's frequency-table naive Bayes on the lead's categorical fields, as an additive model
  (``training.linear.naive_bayes_model``): on small or stage-driven data it can beat both.

The chosen candidate's model is its newest-fold fit (trained on the whole train part, with the
rounds chosen above), so the newest fold stays out of its training data and is where the
calibrator is fitted (``training.train.fit_bundle``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import log_loss, roc_auc_score

from features.registry import FeatureRegistry
from training.linear import LinearModel, fit_linear_model, naive_bayes_model
from training.model import (
    BoosterParams,
    check_labels,
    feature_matrix,
    fit_category_levels,
    prepare_features,
)

logger = logging.getLogger(__name__)

ModelKind = Literal["lightgbm", "logistic", "naive_bayes"]


class Candidate(BaseModel):
    """One model family and setting to try on the folds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ModelKind
    booster: dict[str, float | int] = Field(default_factory=dict,
                                            description="BoosterParams overrides (lightgbm)")
    C: float = Field(1.0, gt=0, description="inverse L2 strength (logistic)")
    n_bins: int = Field(8, ge=1, description="bins per numeric feature (logistic)")

    def booster_params(self, base: BoosterParams) -> BoosterParams:
        """``base`` with this candidate's overrides (checked by ``BoosterParams``)."""
        return BoosterParams(**{**base.model_dump(), **self.booster})


DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate(name="lightgbm", kind="lightgbm"),
    Candidate(name="lightgbm_small", kind="lightgbm",
              booster={"num_leaves": 7, "min_data_in_leaf": 80, "feature_fraction": 0.7}),
    Candidate(name="lightgbm_stumps", kind="lightgbm",
              booster={"num_leaves": 3, "min_data_in_leaf": 200, "learning_rate": 0.1,
                       "feature_fraction": 0.5, "lambda_l2": 10.0}),
    Candidate(name="logistic_c0.1", kind="logistic", C=0.1),
    Candidate(name="logistic_c1", kind="logistic", C=1.0),
    Candidate(name="naive_bayes", kind="naive_bayes"),
)


@dataclass(frozen=True)
class Fold:
    """One rolling-origin fold: train on ``train``, measure on the later ``valid`` window."""

    train: pd.DataFrame
    valid: pd.DataFrame


@dataclass
class FittedCandidate:
    """A candidate's newest-fold model and its figures on every fold."""

    candidate: Candidate
    folds: list[dict]
    model: lgb.Booster | LinearModel
    rounds: int | None = None

    @property
    def mean_log_loss(self) -> float:
        return float(np.mean([f["log_loss"] for f in self.folds]))


@dataclass
class Selection:
    """Every candidate's fold figures and the chosen one."""

    fitted: list[FittedCandidate]
    chosen: FittedCandidate
    levels: dict[str, list[str]]
    folds: list[Fold] = field(repr=False, default_factory=list)

    def newest_fit(self, kind: str, C: float | None = None) -> lgb.Booster | LinearModel | None:
        """The newest-fold model of a candidate of ``kind`` (and ``C``), if one was tried."""
        for fitted in self.fitted:
            if fitted.candidate.kind == kind and C in (None, fitted.candidate.C):
                return fitted.model
        return None

    def table(self) -> pd.DataFrame:
        """One row per candidate and fold, plus each candidate's mean and whether it won."""
        rows = [{"candidate": f.candidate.name, "kind": f.candidate.kind, **figures,
                 "mean_log_loss": f.mean_log_loss, "chosen": f is self.chosen}
                for f in self.fitted for figures in f.folds]
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per candidate: mean fold log loss and ROC AUC, rounds, chosen."""
        return summarize_candidates(self.table())


def summarize_candidates(table: pd.DataFrame) -> pd.DataFrame:
    """``Selection.table()`` reduced to one row per candidate (mean fold figures)."""
    summary = table.groupby(["candidate", "kind"], sort=False).agg(
        folds=("fold", "size"), mean_log_loss=("log_loss", "mean"),
        mean_roc_auc=("roc_auc", "mean"), rounds=("rounds", "max"), chosen=("chosen", "any"))
    return summary.reset_index()


def rolling_origin_folds(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_folds: int,
    *,
    time_col: str = "as_of",
    group_cols: tuple[str, ...] = (),
    label_col: str = "label",
    min_class_rows: int = 40,
) -> list[Fold]:
    """Rolling-origin folds over ``train`` followed by ``valid`` (see the module docstring).

    Args:
        train, valid: the time split's train and valid parts (valid is the newest window).
        n_folds: folds wanted, newest included (at least 1).
        time_col: the timestamp column.
        group_cols: columns whose values must not sit on both sides of a fold (entity ids,
            identical-row groups); a fold's train rows sharing a value with its window go.
        label_col: 0/1 labels; a fold whose train part has fewer than ``min_class_rows`` of a
            class, or whose window lacks a class, is skipped.
        min_class_rows: see ``label_col``.

    Returns:
        The folds, oldest first; the last one is ``Fold(train, valid)``.
    """
    if n_folds < 1:
        raise ValueError(f"rolling_origin_folds: n_folds must be at least 1, got {n_folds}")
    times = train[time_col].sort_values(kind="stable").reset_index(drop=True)
    folds = [Fold(train, valid)]
    window_end = None
    for k in range(1, n_folds):
        position = len(times) - k * len(valid)
        if position <= 0:
            break
        start = times.iloc[position]
        in_window = train[time_col] >= start
        if window_end is not None:
            in_window = in_window & (train[time_col] < window_end)
        window_end = start
        fold = _fold(train, in_window.to_numpy(), (train[time_col] < start).to_numpy(),
                     group_cols)
        if _usable(fold, label_col, min_class_rows):
            folds.insert(0, fold)
        else:
            logger.info("rolling-origin fold before %s skipped: too little data", start)
    return folds


def _fold(train: pd.DataFrame, in_window: np.ndarray, before: np.ndarray,
          group_cols: tuple[str, ...]) -> Fold:
    window = train.loc[in_window]
    keep = before
    for column in group_cols:
        keep = keep & ~train[column].isin(window[column].unique()).to_numpy()
    return Fold(train.loc[keep], window)


def _usable(fold: Fold, label_col: str, min_class_rows: int) -> bool:
    y_train, y_valid = fold.train[label_col].to_numpy(), fold.valid[label_col].to_numpy()
    return (len(y_valid) > 0 and min(y_train.sum(), len(y_train) - y_train.sum()) >= min_class_rows
            and 0 < y_valid.sum() < len(y_valid))


def select_model(
    folds: list[Fold],
    registry: FeatureRegistry,
    candidates: tuple[Candidate, ...] | list[Candidate],
    *,
    base_params: BoosterParams,
    label_col: str = "label",
    seed: int = 42,
    notify: Callable[[str], None] | None = None,
) -> Selection:
    """Fit every candidate on every fold and choose the lowest mean validation log loss.

    Args:
        folds: from ``rolling_origin_folds`` (newest last).
        registry: the model's features.
        candidates: what to try (at least one).
        base_params: LightGBM settings the candidates' overrides apply to.
        label_col: the 0/1 label column.
        seed: seeds LightGBM.
        notify: called with one line per candidate.

    Returns:
        The ``Selection``; its ``chosen.model`` is the newest-fold fit.
    """
    if not candidates:
        raise ValueError("select_model: no candidates to choose from")
    notify = notify or logger.info
    levels = fit_category_levels(folds[-1].train, registry)
    data = [_fold_data(fold, registry, label_col) for fold in folds]
    fitted = []
    for candidate in candidates:
        if candidate.kind == "lightgbm":
            result = _fit_lightgbm(candidate, data, registry, base_params, seed)
        else:
            result = _fit_linear(candidate, data, registry)
        notify(f"candidate {candidate.name}: mean fold log loss {result.mean_log_loss:.4f} over "
               f"{len(folds)} folds" + (f", {result.rounds} rounds" if result.rounds else ""))
        fitted.append(result)
    chosen = min(fitted, key=lambda f: f.mean_log_loss)
    notify(f"selected {chosen.candidate.name} ({chosen.candidate.kind}) by mean fold log loss")
    return Selection(fitted, chosen, levels, folds)


@dataclass
class _FoldData:
    """One fold's labels and model inputs, built once and shared by every candidate."""

    fold: Fold
    registry: FeatureRegistry
    levels: dict[str, list[str]]
    y_train: np.ndarray
    y_valid: np.ndarray
    _cache: dict = field(default_factory=dict)

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        if "matrices" not in self._cache:
            self._cache["matrices"] = tuple(feature_matrix(part, self.registry, self.levels)
                                            for part in (self.fold.train, self.fold.valid))
        return self._cache["matrices"]

    def datasets(self) -> tuple[lgb.Dataset, lgb.Dataset, pd.DataFrame]:
        if "datasets" not in self._cache:
            X_train, X_valid = (prepare_features(part, self.registry, self.levels)
                                for part in (self.fold.train, self.fold.valid))
            train_set = lgb.Dataset(X_train, label=self.y_train, free_raw_data=False,
                                    params={"feature_pre_filter": False, "verbosity": -1})
            valid_set = lgb.Dataset(X_valid, label=self.y_valid, reference=train_set,
                                    params={"feature_pre_filter": False, "verbosity": -1})
            self._cache["datasets"] = (train_set, valid_set, X_valid)
        return self._cache["datasets"]


def _fold_data(fold: Fold, registry: FeatureRegistry, label_col: str) -> _FoldData:
    return _FoldData(fold, registry, fit_category_levels(fold.train, registry),
                     check_labels(fold.train, label_col), check_labels(fold.valid, label_col))


def _figures(number: int, d: _FoldData, proba: np.ndarray, rounds: int | None) -> dict:
    return {"fold": number, "train_rows": len(d.y_train), "valid_rows": len(d.y_valid),
            "train_base_rate": float(d.y_train.mean()), "valid_base_rate": float(d.y_valid.mean()),
            "log_loss": float(log_loss(d.y_valid, np.clip(proba, 1e-15, 1 - 1e-15),
                                       labels=[0, 1])),
            "roc_auc": float(roc_auc_score(d.y_valid, proba)), "rounds": rounds}


def _fit_linear(candidate: Candidate, data: list[_FoldData],
                registry: FeatureRegistry) -> FittedCandidate:
    figures, model = [], None
    for number, d in enumerate(data, start=1):
        train_matrix, valid_matrix = d.matrices()
        if candidate.kind == "naive_bayes":
            model = naive_bayes_model(train_matrix, d.y_train, registry, d.levels)
        else:
            model = fit_linear_model(train_matrix, d.y_train, registry, d.levels, C=candidate.C,
                                     n_bins=candidate.n_bins)
        proba = model.predict_raw(valid_matrix)
        figures.append(_figures(number, d, proba, None))
    return FittedCandidate(candidate, figures, model)


def _fit_lightgbm(candidate: Candidate, data: list[_FoldData], registry: FeatureRegistry,
                  base_params: BoosterParams, seed: int) -> FittedCandidate:
    params = candidate.booster_params(base_params)
    runs = [_boost_with_curve(d, params, seed) for d in data]
    length = min(len(curve) for _, curve, _ in runs)
    mean_curve = np.mean([curve[:length] for _, curve, _ in runs], axis=0)
    rounds = int(np.argmin(mean_curve)) + 1
    figures = [_figures(number, d, booster.predict(X_valid, num_iteration=rounds), rounds)
               for number, (d, (booster, _, X_valid)) in enumerate(zip(data, runs), start=1)]
    newest = runs[-1][0]
    model = lgb.Booster(model_str=newest.model_to_string(num_iteration=rounds))
    return FittedCandidate(candidate, figures, model, rounds)


def _boost_with_curve(d: _FoldData, params: BoosterParams,
                      seed: int) -> tuple[lgb.Booster, np.ndarray, pd.DataFrame]:
    train_set, valid_set, X_valid = d.datasets()
    history: dict = {}
    lgb_params = {**params.to_lightgbm(seed), "metric": ["binary_logloss"]}
    booster = lgb.train(lgb_params, train_set, params.num_boost_round, valid_sets=[valid_set],
                        valid_names=["valid"], keep_training_booster=True,  # every round kept
                        callbacks=[lgb.record_evaluation(history),
                                   lgb.early_stopping(params.early_stopping_rounds,
                                                      verbose=False)])
    return booster, np.asarray(history["valid"]["binary_logloss"]), X_valid
