"""evaluate_model and its tables, checked on frames small enough to compute by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.evaluate import (
    calibration_table,
    check_targets,
    compare_reports,
    evaluate_model,
    expected_calibration_error,
    grade_table,
    icp_fit_ratio,
    lift_table,
    plot_calibration,
    plot_lift_gains,
    render_report,
    top_bottom_ratio,
)


def test_ece_by_hand() -> None:
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    # bin [0.1, 0.2): rate 0.5 vs 0.1 -> 0.4; bin [0.9, 1.0]: 1.0 vs 0.9 -> 0.1; equal weights.
    assert expected_calibration_error(y, p) == pytest.approx(0.25)
    table = calibration_table(y, p)
    assert table["bin"].tolist() == [1, 9] and table["rows"].tolist() == [2, 2]


def test_probability_one_falls_in_the_last_bin() -> None:
    table = calibration_table(np.array([1, 0]), np.array([1.0, 0.0]), n_bins=10)
    assert table["bin"].tolist() == [0, 9]
    assert expected_calibration_error(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_lift_and_gains_for_a_perfect_ranking() -> None:
    y = np.array([1] * 10 + [0] * 90)
    p = np.linspace(1, 0, 100)
    table = lift_table(y, p)
    assert table["lift"].iloc[0] == pytest.approx(10.0)
    assert table["cumulative_gain"].iloc[0] == 1.0 and table["cumulative_gain"].iloc[-1] == 1.0
    assert table["rows"].tolist() == [10] * 10


def test_top_bottom_ratio_by_hand_and_infinite_when_bottom_never_converts() -> None:
    y = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 0])
    p = np.linspace(0.9, 0.0, 10)
    # top 3 rows: 3/3 converted; bottom 3 rows: 1/3 converted.
    assert top_bottom_ratio(y, p) == {"top30_rate": 1.0, "bottom30_rate": pytest.approx(1 / 3),
                                      "top30_bottom30_ratio": pytest.approx(3.0)}
    assert top_bottom_ratio(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.1])
                            )["top30_bottom30_ratio"] == math.inf


def test_icp_ratio_by_hand() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    icp = pd.Series(pd.array([True, True, True, False, False, False, False, None], dtype="boolean"))
    # fit: 2/3 converted; non-fit: 1/4; the unknown row is ignored.
    result = icp_fit_ratio(y, icp)
    assert result["icp_fit_ratio"] == pytest.approx((2 / 3) / (1 / 4))
    with pytest.raises(ValueError, match="ICP column 'icp_fit' must be bool or 0/1"):
        icp_fit_ratio(y, pd.Series([0, 1, 2, 0, 1, 1, 0, 0]))


def _frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.9, n)
    y = (rng.random(n) < p).astype(int)
    frame = pd.DataFrame({"source": rng.choice(["web", "event"], n),
                          "industry": ["tiny"] * 5 + ["big"] * (n - 5),
                          "icp_fit": rng.random(n) < 0.5})
    return frame, y, p


def test_evaluate_model_reports_every_metric_and_segment_gaps() -> None:
    frame, y, p = _frame()
    report = evaluate_model(y, p, frame)
    expected = {"rows", "positives", "base_rate", "roc_auc", "pr_auc", "log_loss", "brier", "ece",
                "lift_top_decile", "top30_rate", "bottom30_rate", "top30_bottom30_ratio",
                "icp_fit_rate", "icp_nonfit_rate", "icp_fit_ratio"}
    assert set(report.metrics) == expected
    assert report.metrics["brier"] == pytest.approx(np.mean((p - y) ** 2))
    segments = report.segments.set_index(["segment", "value"])
    assert set(segments.index) == {("source", "web"), ("source", "event"),
                                   ("industry", "tiny"), ("industry", "big")}
    assert math.isnan(segments.loc[("industry", "tiny"), "roc_auc"])  # 5 rows < 30
    web = segments.loc[("source", "web")]
    assert web["auc_gap"] == pytest.approx(web["roc_auc"] - report.metrics["roc_auc"])


def test_absent_segment_and_icp_columns_are_skipped() -> None:
    frame, y, p = _frame()
    report = evaluate_model(y, p, frame[["source"]], segment_cols=("source", "region"))
    assert set(report.segments["segment"]) == {"source"} and "icp_fit_ratio" not in report.metrics
    assert evaluate_model(y, p).segments.empty


@pytest.mark.parametrize(
    ("labels", "proba", "message"),
    [
        (np.ones(4), np.full(4, 0.5), "labels hold one class only"),
        (np.array([0, 1]), np.array([0.5]), "must be 1-D and the same length"),
        (np.array([0, 1]), np.array([0.5, 1.2]), "probabilities in \\[0, 1\\]"),
        (np.array([0, 2]), np.array([0.5, 0.2]), "labels must be 0/1"),
    ],
)
def test_evaluate_model_bad_input_is_named(labels, proba, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_model(labels, proba)


def test_comparison_report_and_plots(tmp_path: Path) -> None:
    frame, y, p = _frame()
    reports = {"model": evaluate_model(y, p, frame),
               "rules": evaluate_model(y, np.full_like(p, y.mean()) + 1e-9 * np.arange(len(p)),
                                       frame)}
    table = compare_reports(reports)
    assert table.loc["roc_auc", "model_minus_rules"] == pytest.approx(
        reports["model"].metrics["roc_auc"] - reports["rules"].metrics["roc_auc"])
    with pytest.raises(ValueError, match="reference 'xgb' is not among the reports"):
        compare_reports(reports, reference="xgb")
    text = render_report(table, reports["model"])
    assert "| roc_auc |" in text and "top30_bottom30_ratio>=3" in text
    assert set(check_targets(reports["model"].metrics)) == {"top30_bottom30_ratio>=3",
                                                            "icp_fit_ratio>=2"}
    for path in (plot_calibration(reports, tmp_path / "cal.png"),
                 plot_lift_gains(reports, tmp_path / "lift.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert reports["model"].to_dict()["metrics"]["roc_auc"] == reports["model"].metrics["roc_auc"]


def test_grade_table_counts_conversions_per_grade() -> None:
    table = grade_table(np.array([1, 0, 1, 1, 0]), np.array(["A", "A", "B", "D", "D"]))
    assert table["grade"].tolist() == ["A", "B", "D"]
    assert table["conversion_rate"].tolist() == [0.5, 1.0, 0.5]
