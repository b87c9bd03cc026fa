"""The baselines every model is compared with on the same split.

* ``NaiveBayesLeadScorer`` — the frequency-table method of Odoo CRM's predictive lead scoring
  (``crm.lead._pls_get_naive_bayes_probabilities``), applied as Odoo applies it: only the lead's
  own **categorical fields** (Odoo: stage, country, source, e-mail/phone state, tags; here the
  model's category and bool features that describe the lead itself, see
  ``naive_bayes_columns``), never counts or derived scores. For every field a frequency table
  counts each value among won and among lost examples; a lead's probability is the naive-Bayes
  posterior ``S_won / (S_won + S_lost)`` with
  ``S_won = P(won) * prod_i P(v_i | won)``, ``P(v | won) = (won_count(v) + alpha) /
  (won_total_of_field + alpha * values_of_field)`` (additive / Laplace smoothing; Odoo adds
  0.1 to every count, the default ``alpha``), and the same for lost. As in Odoo, a field that is
  not set on the lead (missing) or holds a value never seen in training contributes no factor,
  and each field's totals count only the examples where the field is set. Its probabilities are
  reported raw, as Odoo shows them.
* ``LinearModel`` (``training.linear``) with ``C = 1`` — plain one-hot/binned logistic
  regression, the ``logistic`` baseline (see ``training.train.evaluate_split``).
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
ODOO_ALPHA = 0.1
DERIVED_GROUPS = frozenset({"icp"})  # scores computed from other fields, not fields of the lead


def naive_bayes_columns(registry: FeatureRegistry) -> list[str]:
    """The lead's own categorical fields: category and bool features, except derived scores."""
    return [d.name for d in registry
            if d.dtype in ("category", "bool") and d.group not in DERIVED_GROUPS]


class NaiveBayesLeadScorer:
    """Odoo's per-field won/lost frequency tables combined by naive Bayes (sklearn-style).

    Every column of ``X`` is treated as a categorical field (its values as text); pass only the
    lead's categorical fields (``naive_bayes_columns``).
    """

    def __init__(self, alpha: float = ODOO_ALPHA):
        self.alpha = alpha

    def fit(self, X: pd.DataFrame, y: np.ndarray | pd.Series) -> "NaiveBayesLeadScorer":
        """Learn each field's value table and the class totals from ``X`` and 0/1 ``y``."""
        labels = _check_fit_inputs(X, y, self.alpha)
        self.columns_ = list(X.columns)
        self.class_totals_ = {1: int(labels.sum()), 0: int(len(labels) - labels.sum())}
        self.tables_ = {}
        for column in self.columns_:
            tokens = _tokens(X[column])
            counts = (pd.DataFrame({"token": tokens, "label": labels}).dropna()
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
        log_odds = np.full(len(X), self.prior_log_odds())
        for column in self.columns_:
            ratios = self.log_ratios(column)
            log_odds += _tokens(X[column]).map(ratios).fillna(0.0).to_numpy(dtype=float)
        won = 1.0 / (1.0 + np.exp(-log_odds))
        return np.column_stack([1.0 - won, won])

    def prior_log_odds(self) -> float:
        """``log P(won) / P(lost)`` of the training examples."""
        return float(np.log(self.class_totals_[1] / self.class_totals_[0]))

    def log_ratios(self, column: str) -> dict[str, float]:
        """``log P(value|won) / P(value|lost)`` of each value of ``column`` seen in training
        (an unset or unseen value contributes 0)."""
        table = self.tables_[column]
        if not table:
            return {}
        counts = np.array(list(table.values()), dtype=float)
        lost_total = counts[:, 0].sum() + self.alpha * len(table)
        won_total = counts[:, 1].sum() + self.alpha * len(table)
        ratios = (np.log((counts[:, 1] + self.alpha) / won_total)
                  - np.log((counts[:, 0] + self.alpha) / lost_total))
        return dict(zip(table, ratios.tolist()))


def _tokens(values: pd.Series) -> pd.Series:
    """A field's values as text; missing stays missing (pandas 3 ``str`` dtype)."""
    return values.astype("str").reset_index(drop=True)


def _check_fit_inputs(X: pd.DataFrame, y, alpha: float) -> np.ndarray:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"NaiveBayesLeadScorer: X must be a DataFrame, got {type(X).__name__}")
    labels = np.asarray(y, dtype=float)
    if len(labels) != len(X):
        raise ValueError(f"NaiveBayesLeadScorer: X has {len(X)} rows but y has {len(labels)}")
    if not set(np.unique(labels)) == {0.0, 1.0}:
        raise ValueError("NaiveBayesLeadScorer: y must be 0/1 with both classes present")
    if alpha <= 0:
        raise ValueError(f"NaiveBayesLeadScorer: need alpha > 0, got alpha={alpha}")
    return labels.astype(int)


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
