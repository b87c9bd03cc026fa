"""Inputs, minimum-data guard, booster determinism, calibration, scores and grades."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.registry import FeatureDef, FeatureRegistry
from training.evaluate import expected_calibration_error
from training.model import (
    BoosterParams,
    Calibrator,
    InsufficientDataError,
    assign_grades,
    check_grade_thresholds,
    check_labels,
    check_minimum_data,
    feature_matrix,
    fit_booster,
    fit_calibrator,
    fit_category_levels,
    fit_grade_thresholds,
    prepare_features,
    to_score,
)

REGISTRY = FeatureRegistry([
    FeatureDef("visits", "int", "actionable", "behavioral", "{value} visits", "訪問 {value} 回"),
    FeatureDef("budget", "bool", "actionable", "bant", "budget {value}", "予算 {value}"),
    FeatureDef("industry", "category", "fixed", "firmographic", "{value}", "業種 {value}"),
])


def _frame(visits, budget, industry) -> pd.DataFrame:
    return pd.DataFrame({"visits": pd.array(visits, dtype="Int64"),
                         "budget": pd.array(budget, dtype="boolean"),
                         "industry": pd.array(industry, dtype="str"), "other": 0})


# --- minimum data and labels --------------------------------------------------------------


@pytest.mark.parametrize(("positives", "negatives"), [(39, 100), (100, 12), (0, 0)])
def test_minimum_data_guard_names_counts_and_minimums(positives: int, negatives: int) -> None:
    labels = np.array([1] * positives + [0] * negatives)
    with pytest.raises(InsufficientDataError) as error:
        check_minimum_data(labels, min_positives=40, min_negatives=40)
    assert str(error.value) == (
        f"not enough data to train: the train split has {positives} positives and {negatives} "
        "negatives; the minimums are 40 positives and 40 negatives")


def test_minimum_data_guard_passes_at_the_minimums() -> None:
    check_minimum_data(np.array([1] * 5 + [0] * 7), min_positives=5, min_negatives=7)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"y": [0, 1]}), "label column 'label' is missing"),
        (pd.DataFrame({"label": [0.0, None]}), "has 1 missing values"),
        (pd.DataFrame({"label": [0, 2]}), "must be 0/1, found \\[2.0\\]"),
    ],
)
def test_bad_labels_are_named(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_labels(frame)


# --- inputs -------------------------------------------------------------------------------


def test_levels_come_from_train_and_unseen_values_become_missing() -> None:
    train = _frame([1, 2, 3], [True, False, None], ["saas", "retail", "saas"])
    levels = fit_category_levels(train, REGISTRY)
    assert levels == {"industry": ["retail", "saas"]}
    scored = prepare_features(_frame([None, 4], [True, None], ["finance", "saas"]),
                              REGISTRY, levels)
    assert list(scored.columns) == ["visits", "budget", "industry"]
    assert scored["industry"].isna().tolist() == [True, False]
    assert list(scored["industry"].cat.categories) == ["retail", "saas"]
    assert np.isnan(scored["visits"].iloc[0]) and scored["budget"].tolist()[0] == 1.0
    assert np.isnan(scored["budget"].iloc[1])


def test_matrix_and_frame_hold_the_same_codes() -> None:
    frame = _frame([1, None, 3], [True, False, None], ["saas", "zzz", None])
    levels = {"industry": ["retail", "saas"]}
    matrix = feature_matrix(frame, REGISTRY, levels)
    prepared = prepare_features(frame, REGISTRY, levels)
    codes = prepared["industry"].cat.codes.astype(float).where(lambda c: c >= 0).to_numpy()
    np.testing.assert_array_equal(matrix[:, 2], codes)
    np.testing.assert_array_equal(matrix[:, :2], prepared[["visits", "budget"]].to_numpy())


def test_missing_feature_and_non_numeric_value_are_named() -> None:
    with pytest.raises(ValueError, match=r"feature columns missing from the frame: \['budget'\]"):
        prepare_features(pd.DataFrame({"visits": [1], "industry": ["x"]}), REGISTRY, {})
    frame = _frame([1], [True], ["saas"]).astype({"visits": "str"})
    frame.loc[0, "visits"] = "many"
    with pytest.raises(ValueError, match="feature 'visits' is declared int but holds non-numeric"):
        prepare_features(frame, REGISTRY, {"industry": ["saas"]})


# --- booster ------------------------------------------------------------------------------


def _toy_training_data(seed: int, n: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = _frame(rng.poisson(2, n), rng.random(n) < 0.4, rng.choice(["a", "b", "c"], n))
    z = -1.5 + 0.6 * frame["visits"].to_numpy(dtype=float) + (frame["industry"] == "a") * 1.0
    labels = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return prepare_features(frame, REGISTRY, fit_category_levels(frame, REGISTRY)), labels


def test_same_seed_gives_identical_predictions() -> None:
    X, y = _toy_training_data(0)
    params = BoosterParams(num_boost_round=40, feature_fraction=0.7, min_data_in_leaf=20)
    first = fit_booster(X[:400], y[:400], X[400:], y[400:], params=params, seed=7)
    second = fit_booster(X[:400], y[:400], X[400:], y[400:], params=params, seed=7)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    assert first.model_to_string() == second.model_to_string()


def test_booster_keeps_train_levels_and_reports_progress() -> None:
    X, y = _toy_training_data(1)
    messages: list[str] = []
    booster = fit_booster(X[:400], y[:400], X[400:], y[400:], progress=messages.append,
                          params=BoosterParams(num_boost_round=30, min_data_in_leaf=20))
    assert booster.pandas_categorical == [["a", "b", "c"]]
    assert messages[-1].startswith("booster: best iteration ")


def test_booster_params_reject_unknown_and_out_of_range_settings() -> None:
    with pytest.raises(ValidationError, match="is_unbalance"):
        BoosterParams(is_unbalance=True)
    with pytest.raises(ValidationError, match="learning_rate"):
        BoosterParams(learning_rate=0)
    assert BoosterParams().to_lightgbm(seed=3)["deterministic"] is True


# --- calibration --------------------------------------------------------------------------


def _miscalibrated(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from p, and an over-confident, biased model output sigmoid(3 logit(p) + 1)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(-1.0, 1.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return 1 / (1 + np.exp(-(3 * logit + 1))), labels


@pytest.mark.parametrize("methods", [("sigmoid",), ("isotonic",), ("sigmoid", "isotonic")])
def test_calibration_reduces_ece_on_a_miscalibrated_model(methods) -> None:
    raw_fit, y_fit = _miscalibrated(0)
    raw_test, y_test = _miscalibrated(1)
    calibrator = fit_calibrator(raw_fit, y_fit, methods=methods)
    before = expected_calibration_error(y_test, raw_test)
    after = expected_calibration_error(y_test, calibrator.transform(raw_test))
    assert before > 0.1
    assert after < 0.03 and after < before / 4


def test_chosen_method_has_the_lowest_cross_fitted_brier() -> None:
    raw, y = _miscalibrated(2, n=1500)
    calibrator = fit_calibrator(raw, y)
    assert set(calibrator.cv_brier) == {"sigmoid", "isotonic"}
    assert calibrator.method == min(calibrator.cv_brier, key=calibrator.cv_brier.get)


def test_small_calibration_slice_never_chooses_isotonic() -> None:
    raw, y = _miscalibrated(4, n=300)
    calibrator = fit_calibrator(raw, y, min_isotonic_rows=1000)
    assert calibrator.method == "sigmoid"
    assert set(calibrator.cv_brier) == {"sigmoid"}
    assert fit_calibrator(raw, y, min_isotonic_rows=100).cv_brier.keys() == {"sigmoid", "isotonic"}


@pytest.mark.parametrize("methods", [("sigmoid",), ("isotonic",)])
def test_calibrator_round_trips_through_json(methods) -> None:
    raw, y = _miscalibrated(3, n=800)
    calibrator = fit_calibrator(raw, y, methods=methods)
    restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    grid = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(restored.transform(grid), calibrator.transform(grid))
    assert restored.method == methods[0]
    assert np.all(np.diff(restored.transform(grid)) >= 0)  # monotone map


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "beta", "params": {}}, "must be sigmoid or isotonic, got 'beta'"),
        ({"method": "sigmoid", "params": {"a": 1.0}}, r"params are missing \['b'\]"),
        ({"method": "isotonic", "params": {"x": [0, 1]}}, r"params are missing \['y'\]"),
    ],
)
def test_bad_calibrator_json_is_named(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calibrator.from_dict(data)


def test_calibration_needs_enough_of_each_class() -> None:
    raw = np.linspace(0.1, 0.9, 20)
    labels = np.array([1] * 3 + [0] * 17)
    with pytest.raises(InsufficientDataError,
                       match="3 positives and 17 negatives; 5-fold cross-fitting needs at least 5"):
        fit_calibrator(raw, labels)
    with pytest.raises(ValueError, match="must be sigmoid and/or isotonic"):
        fit_calibrator(raw, np.array([0, 1] * 10), methods=("beta",))


# --- scores and grades --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proba", "score"), [(0.0, 1), (0.004, 1), (0.015, 2), (0.5, 50), (0.987, 99), (1.0, 99)]
)
def test_score_is_rounded_percent_clipped_to_1_99(proba: float, score: int) -> None:
    assert to_score(np.array([proba]))[0] == score


def test_default_grades_follow_shares_and_are_monotone() -> None:
    proba = np.random.default_rng(0).beta(2, 5, 5000)
    thresholds = fit_grade_thresholds(proba)
    assert thresholds["A"] >= thresholds["B"] >= thresholds["C"]
    grades = assign_grades(proba, thresholds)
    shares = pd.Series(grades).value_counts(normalize=True)
    np.testing.assert_allclose(shares[["A", "B", "C", "D"]], [0.1, 0.2, 0.3, 0.4], atol=0.002)
    ordered = assign_grades(np.sort(proba), thresholds)
    ranks = np.array(["ABCD".index(g) for g in ordered])
    assert np.all(np.diff(ranks) <= 0)  # higher probability never gets a worse grade


def test_explicit_thresholds_are_checked() -> None:
    assert check_grade_thresholds({"A": 0.6, "B": 0.3, "C": 0.1}) == {"A": 0.6, "B": 0.3, "C": 0.1}
    assert list(assign_grades(np.array([0.7, 0.3, 0.29, 0.0]), {"A": 0.6, "B": 0.3, "C": 0.1})) \
        == ["A", "B", "C", "D"]
    with pytest.raises(ValueError, match="A >= B >= C"):
        check_grade_thresholds({"A": 0.2, "B": 0.3, "C": 0.1})
    with pytest.raises(ValueError, match="exactly the keys A, B, C"):
        check_grade_thresholds({"A": 0.2, "B": 0.1})
    with pytest.raises(ValueError, match="summing below 1"):
        fit_grade_thresholds(np.array([0.1, 0.2]), shares=(0.5, 0.3, 0.3))


@pytest.mark.parametrize(
    "industry",
    [
        pd.Series(["saas", "zzz", None], dtype="category"),
        pd.Series(pd.Categorical([None, None, None], categories=[])),
        pd.Series(["saas", "zzz", None], dtype=object),
    ],
)
def test_category_input_dtypes_give_the_same_codes(industry: pd.Series) -> None:
    frame = pd.DataFrame({"visits": [1.0, 2.0, 3.0], "budget": [True, False, True],
                          "industry": industry})
    expected = [1.0 if v == "saas" else np.nan for v in industry]
    matrix = feature_matrix(frame, REGISTRY, {"industry": ["retail", "saas"]})
    np.testing.assert_array_equal(matrix[:, 2], expected)
    np.testing.assert_array_equal(matrix[:, :2], [[1, 1], [2, 0], [3, 1]])
