"""Model selection pieces: the additive models, rolling-origin folds, the gate, identical rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from features.registry import FeatureDef, FeatureRegistry
from training.baselines import NaiveBayesLeadScorer
from training.gate import check_registrable
from training.linear import LinearModel, fit_linear_model, naive_bayes_model
from training.model import BoosterParams, feature_matrix, fit_category_levels
from training.selection import Candidate, rolling_origin_folds, select_model
from training.split import identical_row_groups, split_by_time

REGISTRY = FeatureRegistry([
    FeatureDef("visits", "int", "actionable", "behavioral", "{value}", "{value}"),
    FeatureDef("budget", "bool", "actionable", "bant", "{value}", "{value}"),
    FeatureDef("source", "category", "fixed", "attribute", "{value}", "{value}"),
])


def make_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(2, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    budget = rng.random(n) < 0.4
    source = rng.choice(["web", "event", "list"], n)
    z = -1.5 + 0.5 * np.nan_to_num(visits) + 1.0 * budget + 0.8 * (source == "web")
    return pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)],
        "as_of": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h"),
        "label": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int),
        "visits": visits, "budget": pd.array(budget, dtype="boolean"),
        "source": pd.array(source, dtype="str")})


@pytest.fixture(scope="module")
def fitted():
    frame = make_frame()
    levels = fit_category_levels(frame, REGISTRY)
    matrix = feature_matrix(frame, REGISTRY, levels)
    model = fit_linear_model(matrix, frame["label"], REGISTRY, levels, C=0.5, n_bins=4)
    return frame, levels, matrix, model


def test_linear_model_predicts_what_the_sklearn_pipeline_fitted(fitted) -> None:
    frame, _, matrix, model = fitted
    codes = model.slot_codes(matrix)
    sizes = [len(w) for w in model.weights]
    one_hot = OneHotEncoder(categories=[list(range(s)) for s in sizes], handle_unknown="ignore")
    reference = LogisticRegression(C=0.5, max_iter=2000).fit(one_hot.fit_transform(codes),
                                                             frame["label"])
    np.testing.assert_allclose(model.predict_raw(matrix),
                               reference.predict_proba(one_hot.transform(codes))[:, 1],
                               atol=1e-6)
    assert [len(w) for w in model.weights] == [len(model.edges[0]) + 2, 3, 4]  # bins+missing


def test_contributions_add_up_to_the_log_odds_and_round_trip(fitted, tmp_path) -> None:
    _, _, matrix, model = fitted
    contributions = model.contributions(matrix)
    np.testing.assert_allclose(contributions.sum(axis=1), model.log_odds(matrix))
    np.testing.assert_allclose(contributions[:, :-1].mean(axis=0), 0.0, atol=1e-12)
    loaded = LinearModel.load(model.save(tmp_path))
    np.testing.assert_array_equal(loaded.predict_raw(matrix), model.predict_raw(matrix))


def test_missing_and_unseen_values_take_the_missing_slot(fitted) -> None:
    _, levels, _, model = fitted
    rows = pd.DataFrame({"visits": [np.nan, 1e9], "budget": pd.array([None, True], "boolean"),
                         "source": pd.array(["never seen", None], dtype="str")})
    codes = model.slot_codes(feature_matrix(rows, REGISTRY, levels))
    assert codes[0].tolist() == [len(model.weights[0]) - 1, 2, 3]
    assert codes[1].tolist() == [len(model.weights[0]) - 2, 1, 3]


def test_naive_bayes_model_equals_the_frequency_table_baseline(fitted) -> None:
    frame, levels, matrix, _ = fitted
    model = naive_bayes_model(matrix, frame["label"].to_numpy(), REGISTRY, levels)
    baseline = NaiveBayesLeadScorer().fit(frame[["budget", "source"]], frame["label"])
    np.testing.assert_allclose(model.predict_raw(matrix),
                               baseline.predict_proba(frame[["budget", "source"]])[:, 1])
    assert model.family == "naive_bayes" and set(model.weights[0]) == {0.0}  # visits unused


def test_rolling_origin_folds_are_time_ordered_and_never_share_a_group() -> None:
    frame = make_frame(900).assign(group=[f"g{i % 300}" for i in range(900)])
    split = split_by_time(frame, fractions=(0.7, 0.15, 0.15))
    folds = rolling_origin_folds(split.train, split.valid, 3, group_cols=("group",),
                                 min_class_rows=5)
    assert len(folds) == 3 and folds[-1].valid is split.valid
    for earlier, later in zip(folds, folds[1:]):
        assert earlier.valid["as_of"].max() < later.valid["as_of"].min()
    for fold in folds:
        assert fold.train["as_of"].max() < fold.valid["as_of"].min()
        assert not set(fold.train["group"]) & set(fold.valid["group"]) or fold is folds[-1]
    assert len(folds[0].valid) == len(split.valid)
    with pytest.raises(ValueError, match="n_folds must be at least 1"):
        rolling_origin_folds(split.train, split.valid, 0)


def test_selection_prefers_the_candidate_with_the_lowest_mean_fold_log_loss() -> None:
    frame = make_frame(1500, seed=3)
    split = split_by_time(frame, fractions=(0.7, 0.15, 0.15))
    folds = rolling_origin_folds(split.train, split.valid, 2, min_class_rows=5)
    candidates = (Candidate(name="stump", kind="lightgbm",
                            booster={"num_leaves": 2, "num_boost_round": 1}),
                  Candidate(name="logistic", kind="logistic", C=1.0))
    selection = select_model(folds, REGISTRY, candidates, base_params=BoosterParams())
    summary = selection.summary().set_index("candidate")
    assert selection.chosen.candidate.name == "logistic"
    assert summary.loc["logistic", "mean_log_loss"] < summary.loc["stump", "mean_log_loss"]
    assert summary.loc["stump", "rounds"] == 1 and summary["folds"].tolist() == [2, 2]
    assert bool(summary.loc["logistic", "chosen"]) and not bool(summary.loc["stump", "chosen"])


def _m(auc: float, loss: float = 0.5) -> dict[str, float]:
    return {"roc_auc": auc, "log_loss": loss}


SPREAD = np.linspace(0.1, 0.9, 50)


@pytest.mark.parametrize(
    ("kind", "size", "proba", "metrics", "expected"),
    [
        ("lightgbm", 120, SPREAD, {"model": _m(0.8), "logistic": _m(0.79)}, []),
        ("lightgbm", 1, SPREAD, {"model": _m(0.8)}, ["too few trees: 1"]),
        ("lightgbm", 50, np.full(50, 0.3), {"model": _m(0.5)}, ["near-constant score"]),
        ("logistic", 0, SPREAD, {"model": _m(0.8)}, ["no non-zero weight"]),
        ("lightgbm", 50, SPREAD, {"model": _m(0.70, 0.6), "naive_bayes": _m(0.72, 0.5)},
         ["the naive_bayes baseline beats it on the test slice: ROC AUC 0.7200 vs 0.7000"]),
        ("lightgbm", 50, SPREAD, {"model": _m(0.70, 0.5), "logistic": _m(0.72, 0.6)}, []),
    ],
)
def test_gate_names_every_reason_to_refuse(kind, size, proba, metrics, expected) -> None:
    problems = check_registrable(kind, size, proba, metrics)
    assert len(problems) == len(expected)
    for problem, text in zip(problems, expected):
        assert text in problem


def test_identical_rows_of_different_leads_never_straddle_the_split() -> None:
    frame = make_frame(300)
    copies = frame.iloc[[10, 20, 30]].assign(lead_id=["D1", "D2", "D3"],
                                             as_of=frame["as_of"].iloc[-1])
    frame = pd.concat([frame, copies], ignore_index=True)
    groups = identical_row_groups(frame, REGISTRY.names, "lead_id")
    assert groups.iloc[10] == groups.iloc[300] and groups.iloc[11] != groups.iloc[300]
    split = split_by_time(frame, entity_col="lead_id", groups=groups)
    for name in ("train", "valid"):
        assert not set(groups[split.parts()[name].index]) & set(groups[split.test.index])
    assert split.dropped["train"]["identical_row_in_later_part"] >= 3
