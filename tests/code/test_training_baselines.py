"""Baselines: the naive-Bayes frequency table (hand-computed) and the rule score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.registry import FeatureDef, FeatureRegistry
from training.baselines import NaiveBayesLeadScorer, RuleScoreBaseline, make_points_rule

TOY = pd.DataFrame({"source": pd.array(["a", "a", "a", "b", "b", "c"], dtype="str"),
                    "visits": [5.0, 6.0, 1.0, 2.0, 0.0, 7.0]})
TOY_Y = np.array([1, 1, 0, 0, 0, 1])


def test_naive_bayes_matches_the_hand_computed_posterior() -> None:
    # 3 won / 3 lost. source: a = 2 won / 1 lost, b = 0/2, c = 1/0; 3 levels + 1 unseen slot.
    #   P(a|won) = (2+1)/(3+4) = 3/7, P(a|lost) = 2/7 -> likelihood ratio 3/2
    #   P(b|won) = 1/7, P(b|lost) = 3/7 -> 1/3; unseen "d": 1/7 vs 1/7 -> 1
    # visits, 2 bins split at the median 3.5: high = 3 won / 0 lost, low = 0 / 3; 2 + 1 slots.
    #   P(high|won) = 4/6, P(high|lost) = 1/6 -> 4; low -> 1/4; missing (unseen) -> 1
    model = NaiveBayesLeadScorer(n_bins=2, alpha=1.0).fit(TOY, TOY_Y)
    assert model.categorical_ == ["source"]
    np.testing.assert_allclose(model.bin_edges_["visits"], [3.5])
    rows = pd.DataFrame({"source": pd.array(["a", "b", "d", "a"], dtype="str"),
                         "visits": [10.0, np.nan, 0.0, 3.5]})
    proba = model.predict_proba(rows)
    expected_odds = np.array([3 / 2 * 4, 1 / 3 * 1, 1 * 1 / 4, 3 / 2 * 4])  # 3.5 goes high
    np.testing.assert_allclose(proba[:, 1], expected_odds / (1 + expected_odds))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_prior_odds_enter_the_posterior() -> None:
    X = pd.DataFrame({"source": pd.array(["a"] * 4, dtype="str")})
    model = NaiveBayesLeadScorer().fit(X, np.array([1, 0, 0, 0]))
    # One level: ratio (1+1)/(1+2) over (3+1)/(3+2) = (2/3)/(4/5); prior odds 1/3.
    odds = (1 / 3) * (2 / 3) / (4 / 5)
    assert model.predict_proba(X)[0, 1] == pytest.approx(odds / (1 + odds))


def test_explicit_categorical_columns_win_over_dtypes() -> None:
    X = pd.DataFrame({"tier": [1, 2, 1, 2], "flag": [True, False, True, True]})
    model = NaiveBayesLeadScorer(categorical=["tier", "flag"]).fit(X, np.array([1, 0, 1, 0]))
    assert model.categorical_ == ["tier", "flag"] and model.bin_edges_ == {}
    assert set(model.tables_["tier"]) == {"1", "2"}


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: NaiveBayesLeadScorer().predict_proba(TOY), RuntimeError, "not fitted"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, np.zeros(6)), ValueError, "both classes"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, TOY_Y[:3]), ValueError, "6 rows but y has 3"),
        (lambda: NaiveBayesLeadScorer(alpha=0).fit(TOY, TOY_Y), ValueError, "alpha > 0"),
        (lambda: NaiveBayesLeadScorer().fit(TOY.to_numpy(), TOY_Y), TypeError, "DataFrame"),
        (lambda: NaiveBayesLeadScorer().fit(TOY, TOY_Y).predict_proba(TOY[["visits"]]),
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
