"""Baselines: the naive-Bayes frequency table (hand-computed) and the rule score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.registry import FeatureDef, FeatureRegistry
from training.baselines import (
    NaiveBayesLeadScorer,
    RuleScoreBaseline,
    make_points_rule,
    naive_bayes_columns,
)

TOY = pd.DataFrame({"source": pd.array(["a", "a", "a", "b", "b", "c", None], dtype="str"),
                    "budget": pd.array([True, True, False, False, None, True, False],
                                       dtype="boolean")})
TOY_Y = np.array([1, 1, 0, 0, 0, 1, 0])


def test_naive_bayes_matches_odoos_frequency_tables() -> None:
    # Odoo: each field's totals count only rows where it is set; alpha is added to each count.
    # source (set on 6 rows: 3 won / 3 lost): a = 2 won / 1 lost, b = 0 / 2, c = 1 / 0.
    #   P(a|won) = 2.1 / 3.3, P(a|lost) = 1.1 / 3.3 -> ratio 2.1 / 1.1
    #   P(b|won) = 0.1 / 3.3, P(b|lost) = 2.1 / 3.3 -> 0.1 / 2.1; unset or unseen: no factor
    # budget (set on 6 rows: 3 won / 3 lost): True = 3 / 0, False = 0 / 3 (2 values).
    #   P(True|won) = 3.1 / 3.2, P(True|lost) = 0.1 / 3.2 -> 31; False -> 1 / 31
    model = NaiveBayesLeadScorer(alpha=0.1).fit(TOY, TOY_Y)
    rows = pd.DataFrame({"source": pd.array(["a", "b", "d", None], dtype="str"),
                         "budget": pd.array([True, None, False, True], dtype="boolean")})
    prior = 3 / 4
    expected_odds = prior * np.array([2.1 / 1.1 * 31, 0.1 / 2.1, 1 / 31, 31])
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], expected_odds / (1 + expected_odds))
    np.testing.assert_allclose(model.predict_proba(rows).sum(axis=1), 1.0)
    assert model.log_ratios("source")["a"] == pytest.approx(np.log(2.1 / 1.1))


def test_naive_bayes_uses_the_leads_own_categorical_fields_only() -> None:
    registry = FeatureRegistry([
        FeatureDef("visits", "int", "actionable", "behavioral", "{value}", "{value}"),
        FeatureDef("budget", "bool", "actionable", "bant", "{value}", "{value}"),
        FeatureDef("industry", "category", "fixed", "firmographic", "{value}", "{value}"),
        FeatureDef("icp_tier", "category", "fixed", "icp", "{value}", "{value}"),
    ])
    assert naive_bayes_columns(registry) == ["budget", "industry"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: NaiveBayesLeadScorer().predict_proba(TOY), RuntimeError, "not fitted"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, np.zeros(7)), ValueError, "both classes"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, TOY_Y[:3]), ValueError, "7 rows but y has 3"),
        (lambda: NaiveBayesLeadScorer(alpha=0).fit(TOY, TOY_Y), ValueError, "alpha > 0"),
        (lambda: NaiveBayesLeadScorer().fit(TOY.to_numpy(), TOY_Y), TypeError, "DataFrame"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, TOY_Y).predict_proba(TOY[["budget"]]),
         ValueError, r"columns missing from X: \['source'\]"),
    ],
)
def test_naive_bayes_errors_are_named(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call()


REGISTRY = FeatureRegistry([
    FeatureDef("visits", "int", "actionable", "behavioral", "{value}", "{value}"),
    FeatureDef("budget", "bool", "actionable", "bant", "{value}", "{value}"),
    FeatureDef("employees", "float", "fixed", "firmographic", "{value}", "{value}"),
    FeatureDef("industry", "category", "fixed", "firmographic", "{value}", "{value}"),
])


def test_points_rule_counts_actionable_signals() -> None:
    frame = pd.DataFrame({"visits": pd.array([0, 3, None, 2], dtype="Int64"),
                          "budget": pd.array([False, True, True, None], dtype="boolean"),
                          "employees": [500.0, 0.0, 10.0, 10.0], "industry": ["a"] * 4})
    np.testing.assert_array_equal(make_points_rule(REGISTRY)(frame), [0, 2, 1, 1])


def test_points_rule_falls_back_to_all_numeric_features() -> None:
    fixed_only = FeatureRegistry([REGISTRY["employees"]])
    assert list(make_points_rule(fixed_only)(pd.DataFrame({"employees": [0.0, 3.0]}))) == [0, 1]


def test_rule_baseline_maps_higher_points_to_higher_probability() -> None:
    frame = pd.DataFrame({"points": [0, 0, 1, 1, 2, 2, 3, 3, 3, 0]})
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1, 0, 1])
    baseline = RuleScoreBaseline(lambda f: f["points"]).fit(frame, labels)
    proba = baseline.predict_proba(pd.DataFrame({"points": [0, 1, 2, 3]}))[:, 1]
    assert np.all(np.diff(proba) > 0) and np.all((proba > 0) & (proba < 1))


def test_rule_baseline_rejects_a_rule_with_the_wrong_shape() -> None:
    baseline = RuleScoreBaseline(lambda f: np.ones(len(f) + 1))
    with pytest.raises(ValueError, match="one finite number per row: got shape \\(4,\\) for 3"):
        baseline.fit(pd.DataFrame({"x": [1, 2, 3]}), np.array([0, 1, 0]))
