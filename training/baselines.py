"""Two baselines every model is compared with on the same split.

* ``NaiveBayesLeadScorer`` — the frequency-table model of Odoo CRM's predictive lead scoring:
  for every feature, how often each value occurs among won and among lost examples; a lead's
  probability is the naive-Bayes posterior
  ``P(won) * prod P(v_i | won) / (P(won) * prod P(v_i | won) + P(lost) * prod P(v_i | lost))``.
  Counts use Laplace smoothing ``(count + alpha) / (class_total + alpha * (levels + 1))`` (the
  ``+ 1`` is a slot for values never seen in training). Numeric features are binned by the
  training quantiles; missing is a value of its own. Its probabilities are reported raw, as
  Odoo shows them.
* ``RuleScoreBaseline`` — a hand-written points score (any callable ``frame -> scores``); to put
  it on the probability scale for log loss / Brier / ECE, a Platt sigmoid on the score is fitted
  on the validation split. ``make_points_rule`` is a crude default (one point per actionable
  numeric or bool feature above zero) until the real rules are plugged in.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from features.registry import FeatureRegistry

RuleScore = Callable[[pd.DataFrame], "np.ndarray | pd.Series"]
MISSING = "__missing__"


class NaiveBayesLeadScorer:
    """Per-feature won/lost frequency tables combined by naive Bayes (sklearn-style)."""

    def __init__(
        self, n_bins: int = 5, alpha: float = 1.0, categorical: Iterable[str] | None = None
    ):
        self.n_bins = n_bins
        self.alpha = alpha
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: np.ndarray | pd.Series) -> "NaiveBayesLeadScorer":
        """Learn bin edges, value tables and class totals from ``X`` and 0/1 ``y``."""
        labels = _check_fit_inputs(X, y, self.n_bins, self.alpha)
        self.columns_ = list(X.columns)
        explicit = None if self.categorical is None else set(self.categorical)
        self.categorical_ = [c for c in self.columns_ if _is_categorical(X[c], explicit, c)]
        self.bin_edges_ = {c: _quantile_edges(X[c], self.n_bins)
                           for c in self.columns_ if c not in self.categorical_}
        self.class_totals_ = {1: int(labels.sum()), 0: int(len(labels) - labels.sum())}
        self.tables_ = {}
        for column in self.columns_:
            tokens = self._tokens(X[column], column)
            counts = (pd.DataFrame({"token": tokens, "label": labels})
                      .groupby(["token", "label"]).size().unstack(fill_value=0)
                      .reindex(columns=[0, 1], fill_value=0))
            self.tables_[column] = {str(token): (int(lost), int(won))
                                    for token, lost, won in counts.itertuples()}
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` array of [P(lost), P(won)] for each row of ``X``."""
        if not hasattr(self, "tables_"):
            raise RuntimeError("NaiveBayesLeadScorer is not fitted; call fit first")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"NaiveBayesLeadScorer: columns missing from X: {missing}")
        log_odds = np.full(len(X), np.log(self.class_totals_[1] / self.class_totals_[0]))
        for column in self.columns_:
            log_odds += self._log_likelihood_ratio(self._tokens(X[column], column), column)
        won = 1.0 / (1.0 + np.exp(-log_odds))
        return np.column_stack([1.0 - won, won])

    def _log_likelihood_ratio(self, tokens: pd.Series, column: str) -> np.ndarray:
        table = self.tables_[column]
        slots = len(table) + 1
        lost_total = self.class_totals_[0] + self.alpha * slots
        won_total = self.class_totals_[1] + self.alpha * slots
        counts = np.array([*table.values(), (0, 0)], dtype=float)  # last row: unseen value
        positions = pd.Index(list(table), dtype="str").get_indexer(tokens)  # unseen -> -1
        lost, won = counts[positions, 0], counts[positions, 1]
        return np.log((won + self.alpha) / won_total) - np.log((lost + self.alpha) / lost_total)

    def _tokens(self, values: pd.Series, column: str) -> pd.Series:
        if column in self.categorical_:
            return values.astype("str").fillna(MISSING).reset_index(drop=True)
        numbers = values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        bins = np.searchsorted(self.bin_edges_[column], numbers, side="right")
        tokens = "bin" + pd.Series(bins).astype("str")
        return tokens.where(~np.isnan(numbers), MISSING)


def _check_fit_inputs(X: pd.DataFrame, y, n_bins: int, alpha: float) -> np.ndarray:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"NaiveBayesLeadScorer: X must be a DataFrame, got {type(X).__name__}")
    labels = np.asarray(y, dtype=float)
    if len(labels) != len(X):
        raise ValueError(f"NaiveBayesLeadScorer: X has {len(X)} rows but y has {len(labels)}")
    if not set(np.unique(labels)) == {0.0, 1.0}:
        raise ValueError("NaiveBayesLeadScorer: y must be 0/1 with both classes present")
    if n_bins < 1 or alpha <= 0:
        raise ValueError(f"NaiveBayesLeadScorer: need n_bins >= 1 and alpha > 0, got "
                         f"n_bins={n_bins}, alpha={alpha}")
    return labels.astype(int)


def _is_categorical(values: pd.Series, explicit: set[str] | None, column: str) -> bool:
    if explicit is not None:
        return column in explicit
    return pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values)


def _quantile_edges(values: pd.Series, n_bins: int) -> np.ndarray:
    numbers = values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    numbers = numbers[~np.isnan(numbers)]
    if len(numbers) == 0:
        return np.array([])
    interior = np.linspace(0, 1, n_bins + 1)[1:-1]
    return np.unique(np.quantile(numbers, interior))


class RuleScoreBaseline:
    """A points rule put on the probability scale by a Platt sigmoid fitted on labelled rows."""

    def __init__(self, rule: RuleScore):
        self.rule = rule

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The rule's raw scores as floats (checked to be one finite number per row)."""
        scores = np.asarray(self.rule(X), dtype=float)
        if scores.shape != (len(X),) or not np.isfinite(scores).all():
            raise ValueError(f"rule score must return one finite number per row: got shape "
                             f"{scores.shape} for {len(X)} rows")
        return scores

    def fit(self, X: pd.DataFrame, y: np.ndarray | pd.Series) -> "RuleScoreBaseline":
        """Fit the sigmoid mapping scores to probabilities on ``X`` (the validation split)."""
        scores = self.score(X)
        self.center_, self.scale_ = float(scores.mean()), float(scores.std()) or 1.0
        labels = np.asarray(y, dtype=int)
        self.sigmoid_ = LogisticRegression(C=1e4, max_iter=1000).fit(self._standard(scores), labels)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` array of [P(lost), P(won)]."""
        if not hasattr(self, "sigmoid_"):
            raise RuntimeError("RuleScoreBaseline is not fitted; call fit first")
        return self.sigmoid_.predict_proba(self._standard(self.score(X)))

    def _standard(self, scores: np.ndarray) -> np.ndarray:
        return ((scores - self.center_) / self.scale_).reshape(-1, 1)


def make_points_rule(registry: FeatureRegistry) -> RuleScore:
    """A default points rule: one point per actionable numeric/bool feature with a value > 0.

    Falls back to every numeric/bool feature when none is actionable. A placeholder for the
    team's real qualification rules, which can be passed to ``train_model(rule_score=...)``.
    """
    numeric = [d for d in registry if d.dtype in ("int", "float", "bool")]
    chosen = [d.name for d in numeric if d.kind == "actionable"] or [d.name for d in numeric]

    def points(frame: pd.DataFrame) -> np.ndarray:
        total = np.zeros(len(frame))
        for name in chosen:
            values = frame[name].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            total += np.nan_to_num(values, nan=0.0) > 0
        return total

    return points
