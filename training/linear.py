"""Additive log-odds models: regularised logistic regression on one-hot/binned features, and
Odoo's naive Bayes in the same form.

The second model family beside LightGBM, served and explained the same way (see
``training.bundle``). It reads the same float matrix as the booster (``training.model
.feature_matrix``: numbers, category level codes, NaN for missing or unseen) and turns every
feature into one-hot slots:

* **category** — one slot per training level, plus a slot for missing/unseen;
* **number / bool** — bins between the training quantiles (or between the distinct values when
  there are at most ``n_bins`` of them), plus a slot for missing.

The slots are fitted with scikit-learn (``OneHotEncoder`` -> ``LogisticRegression`` with an L2
penalty ``C``); the fitted bin edges, slot weights and intercept are kept as plain numbers (JSON,
no pickle), so prediction is a table look-up per feature.

``naive_bayes_model`` writes the frequency-table naive Bayes (``training.baselines``) in the
same form — each field's slot weight is its log likelihood ratio ``log P(v|won)/P(v|lost)``,
the intercept the log prior odds, every other feature weight 0 — so it is served and explained
exactly like the logistic regression (``family`` tells them apart).

**Contributions** are ``coef x (x - reference)`` per original feature, summed over its slots:
``weight[slot(x)] - sum_s weight[s] * training_share[s]``; the base value is the intercept plus
the reference of every feature. They add up exactly to the raw log-odds, like the booster's
TreeSHAP values (for a linear model with independent features they *are* the SHAP values).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from features.registry import FeatureRegistry
from training.baselines import ODOO_ALPHA, NaiveBayesLeadScorer, naive_bayes_columns

LINEAR_FILE = "linear.json"
LINEAR_FORMAT = 1


@dataclass
class LinearModel:
    """Fitted one-hot/binned logistic regression; see the module docstring.

    Attributes:
        features: input columns, in matrix order.
        edges: per feature, the bin edges (numbers) or ``None`` (categories: codes are slots).
        weights: per feature, one weight per slot; the last slot is missing/unseen.
        intercept: the model's intercept.
        reference: per feature, the training-mean weight (the contribution reference).
        C: the inverse L2 strength it was fitted with (logistic).
        family: ``logistic`` or ``naive_bayes``.
    """

    features: list[str]
    edges: list[list[float] | None]
    weights: list[list[float]]
    intercept: float
    reference: list[float]
    C: float = 1.0
    family: str = "logistic"

    def slot_codes(self, matrix: np.ndarray) -> np.ndarray:
        """Each value's slot (int matrix, same shape as ``matrix``)."""
        matrix = _check_matrix(matrix, len(self.features))
        codes = np.empty(matrix.shape, dtype=np.int64)
        for j, edges in enumerate(self.edges):
            codes[:, j] = _slots(matrix[:, j], edges, len(self.weights[j]))
        return codes

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """Raw log-odds of each row."""
        return self.intercept + self._slot_weights(matrix).sum(axis=1)

    def predict_raw(self, matrix: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Uncalibrated probabilities (``num_threads`` is accepted for a common signature)."""
        return 1.0 / (1.0 + np.exp(-self.log_odds(matrix)))

    def contributions(self, matrix: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Per-feature contributions, then the base value (one row per matrix row)."""
        values = self._slot_weights(matrix) - np.asarray(self.reference)
        base = self.intercept + float(np.sum(self.reference))
        return np.column_stack([values, np.full(len(values), base)])

    def _slot_weights(self, matrix: np.ndarray) -> np.ndarray:
        codes = self.slot_codes(matrix)
        return np.column_stack([np.asarray(w)[codes[:, j]] for j, w in enumerate(self.weights)]
                               ) if self.weights else np.zeros((len(codes), 0))

    def size(self) -> int:
        """Number of non-zero slot weights (how much the model uses its inputs)."""
        return int(sum(np.count_nonzero(np.abs(w) > 1e-12) for w in self.weights))

    def to_dict(self) -> dict:
        """The ``linear.json`` content."""
        return {"format": LINEAR_FORMAT, "features": self.features, "edges": self.edges,
                "weights": self.weights, "intercept": self.intercept,
                "reference": self.reference, "C": self.C, "family": self.family}

    def save(self, directory: Path) -> Path:
        """Write ``linear.json`` into ``directory``; returns its path."""
        path = Path(directory) / LINEAR_FILE
        path.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> "LinearModel":
        """Read a ``linear.json`` written by ``save`` (checked for consistent lengths)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != LINEAR_FORMAT:
            raise ValueError(f"{path}: unsupported linear model format {data.get('format')!r}")
        lengths = {len(data[key]) for key in ("features", "edges", "weights", "reference")}
        if len(lengths) != 1:
            raise ValueError(f"{path}: features, edges, weights and reference differ in length")
        return cls(data["features"], data["edges"], data["weights"], float(data["intercept"]),
                   data["reference"], float(data.get("C", 1.0)),
                   data.get("family", "logistic"))


def fit_linear_model(
    matrix: np.ndarray,
    labels: np.ndarray,
    registry: FeatureRegistry,
    levels: dict[str, list[str]],
    *,
    C: float = 1.0,
    n_bins: int = 8,
) -> LinearModel:
    """Fit the one-hot/binned logistic regression on a ``feature_matrix`` and 0/1 labels.

    Args:
        matrix: ``training.model.feature_matrix`` output (registry order).
        labels: 0/1 labels, both classes present.
        registry: the features (category features use their level codes as slots).
        levels: the fitted category levels (number of slots per category).
        C: inverse L2 regularisation strength (scikit-learn's ``C``).
        n_bins: at most this many bins per numeric feature.
    """
    matrix = _check_matrix(matrix, len(registry))
    y = np.asarray(labels, dtype=int)
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("fit_linear_model: labels must be 0/1 with both classes present")
    edges = [None if d.dtype == "category" else _bin_edges(matrix[:, j], n_bins)
             for j, d in enumerate(registry)]
    sizes = [len(levels[d.name]) + 1 if d.dtype == "category" else len(edges[j]) + 2
             for j, d in enumerate(registry)]
    codes = np.column_stack([_slots(matrix[:, j], edges[j], sizes[j])
                             for j in range(len(registry))])
    pipeline = Pipeline([
        ("one_hot", OneHotEncoder(categories=[list(range(s)) for s in sizes],
                                  handle_unknown="ignore", sparse_output=True)),
        ("logistic", LogisticRegression(C=C, max_iter=2000)),
    ])
    with threadpool_limits(limits=1):  # small problem: threads only contend on a shared machine
        pipeline.fit(codes, y)
    coef = pipeline.named_steps["logistic"].coef_[0]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    weights = [coef[offsets[j]:offsets[j + 1]].tolist() for j in range(len(registry))]
    return LinearModel(registry.names, edges, weights,
                       float(pipeline.named_steps["logistic"].intercept_[0]),
                       _references(codes, weights), C)


def naive_bayes_model(
    matrix: np.ndarray,
    labels: np.ndarray,
    registry: FeatureRegistry,
    levels: dict[str, list[str]],
    *,
    alpha: float = ODOO_ALPHA,
) -> LinearModel:
    """Odoo's naive Bayes (``NaiveBayesLeadScorer`` on ``naive_bayes_columns``) as a
    ``LinearModel`` over all of ``registry`` (other features weigh 0).

    Args:
        matrix: ``feature_matrix`` of the training rows.
        labels: their 0/1 labels.
        registry, levels: the model's features and fitted category levels.
        alpha: additive smoothing (Odoo's 0.1 by default).
    """
    fields = naive_bayes_columns(registry)
    tokens = {name: _field_tokens(matrix[:, registry.names.index(name)], registry[name].dtype,
                                  levels.get(name)) for name in fields}
    scorer = NaiveBayesLeadScorer(alpha=alpha).fit(pd.DataFrame(tokens, columns=fields),
                                                   labels)
    edges, weights = [], []
    for definition in registry:
        ratios = scorer.log_ratios(definition.name) if definition.name in fields else {}
        slots = _field_slots(definition.dtype, levels.get(definition.name))
        edges.append(None if definition.dtype == "category" else
                     [0.5] if definition.dtype == "bool" else [])
        weights.append([ratios.get(token, 0.0) for token in slots] + [0.0])
    codes = np.column_stack([_slots(matrix[:, j], edges[j], len(weights[j]))
                             for j in range(len(registry))])
    return LinearModel(registry.names, edges, weights, scorer.prior_log_odds(),
                       _references(codes, weights), family="naive_bayes")


def _field_slots(dtype: str, levels: list[str] | None) -> list[str]:
    """The text of each non-missing slot of a field (empty for numbers: one present slot)."""
    if dtype == "category":
        return list(levels or [])
    return ["False", "True"] if dtype == "bool" else [""]


def _field_tokens(column: np.ndarray, dtype: str, levels: list[str] | None) -> pd.Series:
    """A matrix column as the field's values in text (missing stays missing)."""
    slots = _field_slots(dtype, levels)
    codes = np.nan_to_num(column, nan=-1).astype(np.int64)
    text = np.array(slots + [None], dtype=object)[np.where(codes >= 0, codes, len(slots))]
    return pd.Series(text, dtype="str")


def _references(codes: np.ndarray, weights: list[list[float]]) -> list[float]:
    """Training-mean weight of each feature: the contribution reference."""
    return [float(np.bincount(codes[:, j], minlength=len(w)) @ np.asarray(w)) / len(codes)
            for j, w in enumerate(weights)]


def _bin_edges(values: np.ndarray, n_bins: int) -> list[float]:
    present = np.unique(values[~np.isnan(values)])
    if len(present) <= 1:
        return []
    if len(present) <= n_bins:
        return ((present[:-1] + present[1:]) / 2).tolist()
    quantiles = np.quantile(values[~np.isnan(values)], np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(quantiles).tolist()


def _slots(column: np.ndarray, edges: list[float] | None, size: int) -> np.ndarray:
    """Slot of each value: bin (numbers) or level code (categories); missing -> last slot."""
    missing = np.isnan(column)
    if edges is None:
        codes = np.where(missing, size - 1, np.nan_to_num(column, nan=0)).astype(np.int64)
        return np.where((codes < 0) | (codes >= size), size - 1, codes)
    codes = np.searchsorted(np.asarray(edges, dtype=float), np.nan_to_num(column), side="right")
    return np.where(missing, size - 1, codes).astype(np.int64)


def _check_matrix(matrix: np.ndarray, width: int) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != width:
        raise ValueError(f"linear model: expected a matrix with {width} feature columns, got "
                         f"shape {matrix.shape}")
    return matrix
