"""Fit the LightGBM booster, calibrate it and turn probabilities into scores and grades.

Choices, written down once:

* **Inputs.** Features are taken in ``FeatureRegistry`` order. Numeric and bool features become
  float64 (missing -> NaN). Category features become pandas ``Categorical`` with the levels seen
  in the training split (as strings, sorted); any other value, and missing, is NaN, which
  LightGBM scores as "missing".
* **Class imbalance.** No reweighting (no ``is_unbalance`` / ``scale_pos_weight``): reweighting
  distorts probabilities and then needs undoing. Ranking is unaffected by class weights for a
  tree ensemble of this size, and calibration on a held-out slice fixes the probability scale.
* **Booster.** ``lightgbm.train`` with defaults that need no tuning (``BoosterParams``), early
  stopping on the validation split's log loss, deterministic for a given seed and thread count
  (default 1 thread: on lead-scoring sized data it is the fastest, and it cannot oversubscribe
  a shared 2-core machine the way OpenMP threads do).
* **Calibration.** Platt (sigmoid on the booster's log-odds) or isotonic (on its probability),
  chosen by cross-fitted Brier score on the calibration slice, then refitted on all of it. The
  fitted calibrator is a few floats / two arrays: JSON, never pickle.
* **Score and grade.** ``score = clip(round(p * 100), 1, 99)``. Grades A-D by probability
  thresholds; by default A = top 10 %, B = next 20 %, C = next 30 %, D = the remaining 40 % of
  the calibration slice's calibrated probabilities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from features.registry import FeatureRegistry

logger = logging.getLogger(__name__)

CalibrationMethod = Literal["sigmoid", "isotonic"]
GRADES = ("A", "B", "C", "D")
DEFAULT_GRADE_SHARES = (0.10, 0.20, 0.30)
_PROBA_EPS = 1e-6


class InsufficientDataError(ValueError):
    """Too few positive or negative examples to train a trustworthy model."""


def check_minimum_data(
    labels: pd.Series | np.ndarray,
    *,
    min_positives: int = 40,
    min_negatives: int = 40,
    split: str = "train",
) -> None:
    """Raise ``InsufficientDataError`` when ``labels`` hold too few positives or negatives.

    Args:
        labels: 0/1 labels of one split.
        min_positives, min_negatives: the minimum counts of each class.
        split: the split's name, used in the message.
    """
    values = np.asarray(labels, dtype=float)
    positives = int((values == 1).sum())
    negatives = int((values == 0).sum())
    if positives < min_positives or negatives < min_negatives:
        raise InsufficientDataError(
            f"not enough data to train: the {split} split has {positives} positives and "
            f"{negatives} negatives; the minimums are {min_positives} positives and "
            f"{min_negatives} negatives"
        )


def check_labels(frame: pd.DataFrame, label_col: str = "label") -> np.ndarray:
    """Return ``frame[label_col]`` as an int array after checking it is present and 0/1."""
    if label_col not in frame.columns:
        raise ValueError(f"label column {label_col!r} is missing from the frame")
    labels = frame[label_col]
    if labels.isna().any():
        count = int(labels.isna().sum())
        raise ValueError(f"label column {label_col!r} has {count} missing values")
    values = labels.astype(float).to_numpy()
    bad = sorted(float(v) for v in set(np.unique(values)) - {0.0, 1.0})
    if bad:
        raise ValueError(f"label column {label_col!r} must be 0/1, found {bad[:5]}")
    return values.astype(int)


# --- inputs -------------------------------------------------------------------------------


def fit_category_levels(frame: pd.DataFrame, registry: FeatureRegistry) -> dict[str, list[str]]:
    """The sorted string levels of each category feature seen in ``frame`` (the training split)."""
    _check_feature_columns(frame, registry)
    levels = {}
    for name in registry.categorical():
        values = _as_strings(frame[name]).dropna()
        levels[name] = sorted(values.unique().tolist())
    return levels


def feature_matrix(
    frame: pd.DataFrame, registry: FeatureRegistry, levels: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """The model matrix as float64: registry features in order, categories as level codes.

    Unseen or missing category values are NaN (LightGBM's "missing"); this is the fast path
    used for prediction and explanation.

    Args:
        frame: any frame holding every registry feature (other columns are ignored).
        registry: the model's features.
        levels: category levels from ``fit_category_levels`` (lists or ``pd.Index``).
    """
    _check_feature_columns(frame, registry)
    matrix = np.empty((len(frame), len(registry)), dtype=float)
    numeric = [j for j, d in enumerate(registry) if d.dtype != "category"]
    if numeric:
        matrix[:, numeric] = _numeric_block(frame, [registry.names[j] for j in numeric], registry)
    for j, definition in enumerate(registry):
        if definition.dtype == "category":
            codes = _category_codes(frame[definition.name], levels[definition.name])
            matrix[:, j] = np.where(codes >= 0, codes, np.nan)
    return matrix


def _numeric_block(frame: pd.DataFrame, names: list[str], registry: FeatureRegistry) -> np.ndarray:
    """All numeric/bool features as one float block (one pandas call when the values allow)."""
    try:
        return frame[names].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):  # find and name the offending column
        return np.column_stack([_to_float(frame[n], n, registry[n].dtype) for n in names])


def _category_codes(series: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """Position of each value in ``levels``; -1 for missing or unseen values."""
    index = levels if isinstance(levels, pd.Index) else pd.Index(levels, dtype="str")
    if isinstance(series.dtype, pd.CategoricalDtype):  # map the categories, not every value
        mapping = np.append(index.get_indexer(series.cat.categories.astype("str")), -1)
        return mapping[series.cat.codes.to_numpy()]  # code -1 (missing) picks the final -1
    return index.get_indexer(_as_strings(series))


def prepare_features(
    frame: pd.DataFrame, registry: FeatureRegistry, levels: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """``feature_matrix`` as a DataFrame with category features as pandas ``Categorical``.

    This is what ``lightgbm.Dataset`` is built from (so the booster records the levels); it has
    ``frame``'s index.
    """
    matrix = feature_matrix(frame, registry, levels)
    columns = {}
    for j, definition in enumerate(registry):
        if definition.dtype == "category":
            codes = np.nan_to_num(matrix[:, j], nan=-1).astype(int)
            categories = pd.Index(list(levels[definition.name]), dtype="str")
            columns[definition.name] = pd.Categorical.from_codes(codes, categories=categories)
        else:
            columns[definition.name] = matrix[:, j]
    return pd.DataFrame(columns, index=frame.index)


def _check_feature_columns(frame: pd.DataFrame, registry: FeatureRegistry) -> None:
    missing = [name for name in registry.names if name not in frame.columns]
    if missing:
        raise ValueError(f"feature columns missing from the frame: {missing}")


def _as_strings(series: pd.Series) -> pd.Series:
    return series.astype("str")  # pandas 3: missing stays missing


def _to_float(series: pd.Series, name: str, dtype: str) -> np.ndarray:
    if series.dtype.kind in "fiu":
        return series.to_numpy(dtype=float)
    try:
        return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"feature {name!r} is declared {dtype} but holds non-numeric values "
            f"(dtype {series.dtype}): {exc}"
        ) from None


# --- booster ------------------------------------------------------------------------------


class BoosterParams(BaseModel):
    """LightGBM settings that work without tuning on lead-scoring sized data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    min_data_in_leaf: int = Field(40, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_cat_to_onehot: int = Field(8, ge=1)
    num_boost_round: int = Field(1000, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    num_threads: int = Field(1, ge=1)  # small data: 1 thread is fastest and never oversubscribes

    def to_lightgbm(self, seed: int) -> dict:
        """The ``params`` dict for ``lightgbm.train`` (deterministic for ``seed``)."""
        return {
            "objective": "binary",
            "metric": ["binary_logloss", "auc"],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "max_cat_to_onehot": self.max_cat_to_onehot,
            "num_threads": self.num_threads,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def fit_booster(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    params: BoosterParams | None = None,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> lgb.Booster:
    """Train a binary LightGBM booster with early stopping on the validation split.

    Args:
        X_train, X_valid: frames from ``prepare_features`` (categoricals as ``Categorical``).
        y_train, y_valid: 0/1 labels.
        params: booster settings (defaults: ``BoosterParams()``).
        seed: seeds every random choice LightGBM makes.
        progress: called with a one-line message every 100 rounds and at the end.

    Returns:
        The booster, truncated to its best iteration.
    """
    params = params or BoosterParams()
    categorical = [c for c in X_train.columns if isinstance(X_train[c].dtype, pd.CategoricalDtype)]
    train_set = lgb.Dataset(X_train, label=y_train, categorical_feature=categorical or "auto",
                            free_raw_data=False)
    valid_set = lgb.Dataset(X_valid, label=y_valid, reference=train_set)
    callbacks = [lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True,
                                    verbose=False)]
    if progress is not None:
        callbacks.append(_progress_callback(progress))
    booster = lgb.train(params.to_lightgbm(seed), train_set, params.num_boost_round,
                        valid_sets=[valid_set], valid_names=["valid"], callbacks=callbacks)
    best = booster.best_iteration or booster.current_iteration()
    (progress or logger.info)(f"booster: best iteration {best} (early stopping on valid log loss)")
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _progress_callback(progress: Callable[[str], None]) -> Callable:
    def _report(env: lgb.callback.CallbackEnv) -> None:
        if (env.iteration + 1) % 100 == 0:
            scores = ", ".join(f"{name} {value:.4f}" for _, name, value, _ in
                               env.evaluation_result_list)
            progress(f"booster: round {env.iteration + 1}: {scores}")

    return _report


# --- calibration --------------------------------------------------------------------------


@dataclass
class Calibrator:
    """Maps the booster's raw probability to a calibrated one; JSON-serialisable.

    ``sigmoid``: ``p = 1 / (1 + exp(-(a * logit(raw) + b)))`` with params ``a``, ``b``.
    ``isotonic``: ``p = np.interp(raw, x, y)`` with the fitted thresholds ``x``, ``y``.
    """

    method: CalibrationMethod
    params: dict
    cv_brier: dict[str, float] = field(default_factory=dict)

    def transform(self, raw_proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw booster probabilities."""
        raw = np.clip(np.asarray(raw_proba, dtype=float), _PROBA_EPS, 1 - _PROBA_EPS)
        if self.method == "sigmoid":
            z = self.params["a"] * _logit(raw) + self.params["b"]
            calibrated = 1.0 / (1.0 + np.exp(-z))
        else:
            calibrated = np.interp(raw, self.params["x"], self.params["y"])
        return np.clip(calibrated, _PROBA_EPS, 1 - _PROBA_EPS)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"method": self.method, "params": self.params, "cv_brier": self.cv_brier}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        """Rebuild from ``to_dict`` output, checking the method and its parameters."""
        method = data.get("method")
        required = {"sigmoid": {"a", "b"}, "isotonic": {"x", "y"}}
        if method not in required:
            raise ValueError(f"calibrator method must be sigmoid or isotonic, got {method!r}")
        missing = required[method] - set(data.get("params", {}))
        if missing:
            raise ValueError(f"{method} calibrator params are missing {sorted(missing)}")
        return cls(method, dict(data["params"]), dict(data.get("cv_brier", {})))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _fit_one(method: CalibrationMethod, raw: np.ndarray, y: np.ndarray) -> Calibrator:
    raw = np.clip(raw, _PROBA_EPS, 1 - _PROBA_EPS)
    if method == "sigmoid":
        model = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(raw).reshape(-1, 1), y)
        return Calibrator("sigmoid", {"a": float(model.coef_[0, 0]),
                                      "b": float(model.intercept_[0])})
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return Calibrator("isotonic", {"x": iso.X_thresholds_.tolist(),
                                   "y": iso.y_thresholds_.tolist()})


def fit_calibrator(
    raw_proba: np.ndarray,
    labels: np.ndarray,
    *,
    methods: tuple[CalibrationMethod, ...] = ("sigmoid", "isotonic"),
    folds: int = 5,
    seed: int = 42,
    min_isotonic_rows: int = 1000,
) -> Calibrator:
    """Choose and fit a calibrator on a held-out slice.

    Each method is cross-fitted (``folds`` stratified folds of the slice); the one with the
    lowest out-of-fold Brier score wins (ties go to the earlier method) and is refitted on the
    whole slice. Isotonic regression is a candidate only on slices of at least
    ``min_isotonic_rows`` rows: on fewer it learns 0/1 plateaus that ruin log loss.

    Args:
        raw_proba: the booster's probabilities on the calibration slice.
        labels: 0/1 labels of the slice.
        methods: candidates, any of ``sigmoid`` and ``isotonic``.
        folds: number of cross-fitting folds; each class needs at least this many rows.
        seed: seeds the fold assignment.

    Returns:
        The fitted ``Calibrator`` with every candidate's ``cv_brier``.
    """
    raw, y = np.asarray(raw_proba, dtype=float), np.asarray(labels, dtype=int)
    _check_calibration_inputs(raw, y, methods, folds)
    if len(raw) < min_isotonic_rows and len(methods) > 1:
        methods = tuple(m for m in methods if m != "isotonic")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    cv_brier = {}
    for method in methods:
        out_of_fold = np.empty_like(raw)
        for fit_idx, held_idx in splitter.split(raw.reshape(-1, 1), y):
            out_of_fold[held_idx] = _fit_one(method, raw[fit_idx], y[fit_idx]).transform(
                raw[held_idx])
        cv_brier[method] = float(np.mean((out_of_fold - y) ** 2))
    best = min(methods, key=lambda m: (round(cv_brier[m], 12), methods.index(m)))
    calibrator = _fit_one(best, raw, y)
    calibrator.cv_brier = cv_brier
    logger.debug("calibration: chose %s (cross-fitted Brier %s)", best, cv_brier)
    return calibrator


def _check_calibration_inputs(
    raw: np.ndarray, y: np.ndarray, methods: tuple[str, ...], folds: int
) -> None:
    if raw.shape != y.shape:
        raise ValueError(f"calibration: {raw.shape[0]} probabilities but {y.shape[0]} labels")
    unknown = [m for m in methods if m not in ("sigmoid", "isotonic")]
    if not methods or unknown:
        raise ValueError(f"calibration methods must be sigmoid and/or isotonic, got {methods}")
    counts = {int(c): int((y == c).sum()) for c in (0, 1)}
    if min(counts.values()) < folds:
        raise InsufficientDataError(
            f"not enough data to calibrate: the calibration slice has {counts[1]} positives and "
            f"{counts[0]} negatives; {folds}-fold cross-fitting needs at least {folds} of each"
        )


# --- scores and grades --------------------------------------------------------------------


def to_score(proba: np.ndarray) -> np.ndarray:
    """Scores 1-99: ``clip(round(p * 100), 1, 99)``."""
    return np.clip(np.round(np.asarray(proba, dtype=float) * 100), 1, 99).astype(int)


def fit_grade_thresholds(
    proba: np.ndarray, shares: tuple[float, float, float] = DEFAULT_GRADE_SHARES
) -> dict[str, float]:
    """Probability thresholds for grades A, B, C from the shares of each grade.

    With the default shares (0.10, 0.20, 0.30), A is the top 10 % of ``proba``, B the next 20 %,
    C the next 30 % and D the remaining 40 %. Returns ``{"A": tA, "B": tB, "C": tC}``,
    ``tA >= tB >= tC``; a lead gets the best grade whose threshold its probability reaches.
    """
    if len(shares) != 3 or any(s <= 0 for s in shares) or sum(shares) >= 1:
        raise ValueError(
            f"grade shares must be three positive shares of A, B, C summing below 1, got {shares}"
        )
    values = np.asarray(proba, dtype=float)
    cumulative = np.cumsum(shares)
    quantiles = np.quantile(values, 1 - cumulative)
    return {grade: float(q) for grade, q in zip(GRADES[:3], quantiles)}


def check_grade_thresholds(thresholds: dict[str, float]) -> dict[str, float]:
    """Validate explicit thresholds: keys A, B, C, values in [0, 1], A >= B >= C."""
    if set(thresholds) != set(GRADES[:3]):
        raise ValueError(
            f"grade thresholds need exactly the keys A, B, C, got {sorted(thresholds)}")
    values = [float(thresholds[g]) for g in GRADES[:3]]
    if any(not (0 <= v <= 1) for v in values) or not (values[0] >= values[1] >= values[2]):
        raise ValueError(f"grade thresholds must lie in [0, 1] with A >= B >= C, got {thresholds}")
    return dict(zip(GRADES[:3], values))


def assign_grades(proba: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """Grade A-D for each probability (A if p >= thresholds["A"], ..., else D)."""
    values = np.asarray(proba, dtype=float)
    grades = np.full(values.shape, "D", dtype=object)
    for grade in reversed(GRADES[:3]):
        grades[values >= thresholds[grade]] = grade
    return grades

