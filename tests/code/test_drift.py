"""Drift: PSI per feature and for the score against the reference stored at training
(``training.drift``), the service's bounded window and alert (``serving.drift``)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest

from features.registry import FeatureDef, FeatureRegistry
from serving.drift import DriftMonitor
from training.drift import (
    SCORE,
    bin_counts,
    build_drift_reference,
    compare_bundle_inputs,
    compare_with_reference,
    population_stability_index,
    psi_status,
)

REGISTRY = FeatureRegistry([
    FeatureDef("visits", "int", "actionable", "behavioral", "{value} visits", "{value} 回"),
    FeatureDef("industry", "category", "fixed", "firmographic", "{value}", "{value}"),
    FeatureDef("budget", "bool", "actionable", "bant", "budget {value}", "予算 {value}"),
])
LEVELS = {"industry": ["it", "retail", "finance"]}
NAMES = REGISTRY.names


def _inputs(n: int, seed: int, visits_mean: float = 3.0, missing: float = 0.1,
            industry_p=(0.5, 0.3, 0.2)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    visits = rng.poisson(visits_mean, n).astype(float)
    visits[rng.random(n) < missing] = np.nan
    industry = rng.choice(3, n, p=industry_p).astype(float)
    budget = (rng.random(n) < 0.4).astype(float)
    proba = 1 / (1 + np.exp(-(0.3 * np.nan_to_num(visits) - 1.5 + rng.normal(0, 0.5, n))))
    return np.column_stack([visits, industry, budget]), proba


@pytest.fixture(scope="module")
def reference() -> dict:
    matrix, proba = _inputs(5000, seed=1)
    return build_drift_reference(matrix, proba, REGISTRY, LEVELS)


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift() -> None:
    assert population_stability_index([10, 20, 70], [1, 2, 7]) == pytest.approx(0.0, abs=1e-12)
    small = population_stability_index([0.3, 0.3, 0.4], [0.25, 0.35, 0.4])
    large = population_stability_index([0.3, 0.3, 0.4], [0.05, 0.15, 0.8])
    assert 0 < small < 0.1 < 0.25 < large
    with pytest.raises(ValueError, match="same bins"):
        population_stability_index([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="non-empty"):
        population_stability_index([0, 0], [1, 2])


def test_the_reference_holds_shares_per_feature_and_for_the_score(reference: dict) -> None:
    assert reference["rows"] == 5000 and reference["slice"] == "test"
    assert set(reference["features"]) == set(NAMES)
    industry = reference["features"]["industry"]
    assert industry["kind"] == "category" and len(industry["shares"]) == 3 + 1  # + missing
    visits = reference["features"]["visits"]
    assert visits["shares"][-1] == pytest.approx(0.1, abs=0.02)  # the missing bin
    for spec in [*reference["features"].values(), reference[SCORE]]:
        assert sum(spec["shares"]) == pytest.approx(1.0)


def test_unseen_or_missing_categories_share_the_last_bin() -> None:
    spec = {"kind": "category", "levels": 2}
    assert bin_counts(np.array([0, 1, 1, np.nan, 7]), spec).tolist() == [1, 2, 2]


def test_an_unshifted_sample_stays_below_the_warn_threshold(reference: dict) -> None:
    matrix, proba = _inputs(2000, seed=2)
    report = compare_with_reference(reference, NAMES, matrix, proba)
    assert report.status == "ok", report
    assert max(row.psi for row in report.all_rows) < 0.1
    assert report.alerts == [] and report.rows == 2000


@pytest.mark.parametrize("shift, feature", [
    (dict(visits_mean=8.0), "visits"),
    (dict(industry_p=(0.1, 0.1, 0.8)), "industry"),
    (dict(missing=0.6), "visits"),
])
def test_a_shifted_input_raises_psi_above_the_alert_and_names_the_feature(
        reference: dict, shift: dict, feature: str) -> None:
    matrix, proba = _inputs(2000, seed=3, **shift)
    report = compare_with_reference(reference, NAMES, matrix, proba)
    psi = {row.name: row.psi for row in report.all_rows}
    assert psi[feature] > 0.25
    assert feature in report.alerts and "budget" not in report.alerts
    assert report.status == "alert"


def test_thresholds_are_configurable_and_checked(reference: dict) -> None:
    matrix, proba = _inputs(2000, seed=3, visits_mean=4.0)
    default = compare_with_reference(reference, NAMES, matrix, proba)
    strict = compare_with_reference(reference, NAMES, matrix, proba, warn=0.001, alert=0.002)
    assert "visits" not in default.alerts and "visits" in strict.alerts
    assert psi_status(0.05) == "ok" and psi_status(0.1) == "warn" and psi_status(0.3) == "alert"
    with pytest.raises(ValueError, match="0 < warn <= alert"):
        compare_with_reference(reference, NAMES, matrix, proba, warn=0.3, alert=0.2)
    with pytest.raises(ValueError, match="lacks features"):
        compare_with_reference(reference, ["visits", "pages"], matrix[:, :2], proba)


def _bundle(reference: dict | None):
    return SimpleNamespace(features=NAMES,
                           training_summary={"drift": reference} if reference else {})


def test_a_bundle_without_a_reference_reports_no_reference() -> None:
    matrix, proba = _inputs(100, seed=4)
    assert compare_bundle_inputs(_bundle(None), matrix, proba) is None


def test_the_monitor_window_is_bounded_and_its_report_has_one_row_per_feature(
        reference: dict) -> None:
    reports = []
    monitor = DriftMonitor(window=300, min_rows=200, on_report=reports.append)
    bundle = _bundle(reference)
    matrix, proba = _inputs(150, seed=5)
    monitor.record(("m", "1"), bundle, matrix, proba)
    assert monitor.check() is None  # fewer than min_rows
    for seed in range(6, 30):  # many batches of distinct values: the window stays bounded
        monitor.record(("m", "1"), bundle, *_inputs(32, seed=seed))
    assert monitor.rows == 300
    report = monitor.check()
    assert report.rows == 300 and reports == [report]
    assert [row.name for row in report.all_rows] == [*NAMES, SCORE]  # the gauge's label set
    monitor.record(("m", "2"), bundle, matrix[:10], proba[:10])  # a new version: new window
    assert monitor.rows == 10 and monitor.check() is None


def test_the_monitor_logs_a_warning_naming_the_drifted_features(
        reference: dict, caplog: pytest.LogCaptureFixture) -> None:
    monitor = DriftMonitor(window=1000, min_rows=500)
    monitor.record(("m", "3"), _bundle(reference), *_inputs(1000, seed=7, visits_mean=9.0))
    with caplog.at_level(logging.WARNING, logger="serving.drift"):
        monitor.check()
        monitor.check()  # the same alert is not repeated
    alerts = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(alerts) == 1 and "visits" in alerts[0] and "m v3" in alerts[0]
    assert "industry" not in alerts[0]


def test_the_monitor_says_no_reference_for_an_old_bundle(
        caplog: pytest.LogCaptureFixture) -> None:
    monitor = DriftMonitor(window=100, min_rows=10)
    monitor.record(("old", "1"), _bundle(None), *_inputs(50, seed=8))
    with caplog.at_level(logging.INFO, logger="serving.drift"):
        assert monitor.check() is None
    assert "no reference" in caplog.text


def test_min_rows_above_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="min_rows must be between 1 and the window"):
        DriftMonitor(window=10, min_rows=20)
