"""Metrics, tables and plots for one set of predicted probabilities.

Definitions used in every report:

* **ECE** (expected calibration error): probabilities are put in ``n_bins`` (default 10)
  equal-width bins on [0, 1] (the last bin includes 1.0); ECE is the row-weighted mean over
  non-empty bins of ``|observed conversion rate - mean predicted probability|``.
* **Lift by decile**: rows sorted by probability (highest first, ties kept in input order) and
  cut into 10 groups of (nearly) equal size; decile 1 is the top. ``lift`` is the decile's
  conversion rate over the overall rate; ``cumulative_gain`` is the share of all positives
  found in deciles 1..k.
* **Top-30 % / bottom-30 % ratio**: conversion rate of the 30 % highest-scored rows over that
  of the 30 % lowest (target >= 3). ``inf`` when the bottom group has no conversions.
* **ICP-fit ratio**: conversion rate of rows with ``icp_fit`` true over rows with it false
  (target >= 2); a property of the ICP definition, reported with every model.
* **Segments**: for each segment column present, per value: rows, conversions, rate, ROC AUC
  and Brier; ``auc_gap`` is segment AUC minus overall AUC (NaN below ``min_segment_rows`` rows
  or when a segment has one class only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

TARGET_TOP_BOTTOM_RATIO = 3.0
TARGET_ICP_RATIO = 2.0


@dataclass
class EvaluationReport:
    """Everything measured for one scorer on one labelled slice."""

    metrics: dict[str, float]
    calibration: pd.DataFrame
    lift: pd.DataFrame
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        """JSON-ready form (non-finite numbers become ``None``)."""
        return {
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
            "calibration": _records(self.calibration),
            "lift": _records(self.lift),
            "segments": _records(self.segments),
        }


def evaluate_model(
    labels: pd.Series | np.ndarray,
    proba: pd.Series | np.ndarray,
    frame: pd.DataFrame | None = None,
    *,
    segment_cols: Iterable[str] = ("source", "industry"),
    icp_col: str | None = "icp_fit",
    n_bins: int = 10,
    min_segment_rows: int = 30,
) -> EvaluationReport:
    """Measure ``proba`` against 0/1 ``labels`` (see the module docstring for definitions).

    Args:
        labels: 0/1 outcomes; both classes must occur.
        proba: predicted probabilities in [0, 1], aligned with ``labels``.
        frame: the rows scored (same order); supplies segment and ICP columns when present.
        segment_cols: columns of ``frame`` to break metrics down by (absent ones are skipped).
        icp_col: bool-like column of ``frame`` for the ICP-fit ratio (skipped when absent).
        n_bins: equal-width bins for ECE and the calibration curve.
        min_segment_rows: segments smaller than this get no AUC.

    Returns:
        An ``EvaluationReport``.
    """
    y, p = _check_inputs(labels, proba, frame)
    metrics = _overall_metrics(y, p, n_bins)
    lift = lift_table(y, p)
    metrics["lift_top_decile"] = float(lift["lift"].iloc[0])
    metrics.update(top_bottom_ratio(y, p))
    if frame is not None and icp_col and icp_col in frame.columns:
        metrics.update(icp_fit_ratio(y, frame[icp_col], icp_col))
    segments = pd.DataFrame()
    if frame is not None:
        present = [c for c in segment_cols if c in frame.columns]
        segments = segment_table(y, p, frame[present], metrics["roc_auc"], min_segment_rows)
    return EvaluationReport(metrics, calibration_table(y, p, n_bins), lift, segments)


def _check_inputs(labels, proba, frame) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"evaluate_model: labels {y.shape} and proba {p.shape} must be 1-D and "
                         "the same length")
    if frame is not None and len(frame) != len(y):
        raise ValueError(f"evaluate_model: frame has {len(frame)} rows but labels have {len(y)}")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("evaluate_model: proba must be probabilities in [0, 1] without NaN")
    if not set(np.unique(y)) <= {0.0, 1.0}:
        raise ValueError("evaluate_model: labels must be 0/1")
    if len(np.unique(y)) < 2:
        raise ValueError(f"evaluate_model: labels hold one class only ({int(y.sum())} positives "
                         f"of {len(y)} rows); AUC is undefined")
    return y.astype(int), p


def _overall_metrics(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, float]:
    return {
        "rows": float(len(y)),
        "positives": float(y.sum()),
        "base_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p, n_bins),
    }


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE over ``n_bins`` equal-width probability bins (row-weighted, empty bins skipped)."""
    table = calibration_table(np.asarray(y), np.asarray(p, dtype=float), n_bins)
    weights = table["rows"] / table["rows"].sum()
    return float((weights * (table["observed_rate"] - table["mean_predicted"]).abs()).sum())


def calibration_table(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Per non-empty equal-width bin: bounds, rows, mean predicted and observed rate."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "y": y, "p": p})
    table = frame.groupby("bin").agg(rows=("y", "size"), mean_predicted=("p", "mean"),
                                     observed_rate=("y", "mean")).reset_index()
    table.insert(1, "lower", table["bin"] / n_bins)
    table.insert(2, "upper", (table["bin"] + 1) / n_bins)
    return table


def lift_table(y: np.ndarray, p: np.ndarray, n_groups: int = 10) -> pd.DataFrame:
    """Lift and cumulative gains by decile (decile 1 = highest probabilities)."""
    order = np.argsort(-p, kind="stable")
    groups = np.array_split(order, n_groups)
    base = y.mean()
    rows = []
    for k, idx in enumerate(groups, start=1):
        rows.append({"decile": k, "rows": len(idx), "positives": int(y[idx].sum()),
                     "mean_predicted": float(p[idx].mean()) if len(idx) else math.nan})
    table = pd.DataFrame(rows)
    table["conversion_rate"] = table["positives"] / table["rows"].clip(lower=1)
    table["lift"] = table["conversion_rate"] / base
    table["cumulative_gain"] = table["positives"].cumsum() / y.sum()
    table["cumulative_share"] = table["rows"].cumsum() / len(y)
    return table


def top_bottom_ratio(y: np.ndarray, p: np.ndarray, share: float = 0.3) -> dict[str, float]:
    """Conversion rate of the top ``share`` of scores over that of the bottom ``share``."""
    order = np.argsort(-p, kind="stable")
    size = max(1, int(round(len(y) * share)))
    top, bottom = y[order[:size]].mean(), y[order[-size:]].mean()
    ratio = top / bottom if bottom > 0 else math.inf
    return {"top30_rate": float(top), "bottom30_rate": float(bottom),
            "top30_bottom30_ratio": float(ratio)}


def icp_fit_ratio(y: np.ndarray, icp_fit: pd.Series, icp_col: str = "icp_fit") -> dict[str, float]:
    """Conversion rate of ICP-fit rows over non-fit rows (rows with unknown fit are ignored)."""
    known = icp_fit.notna().to_numpy()
    try:
        fit = icp_fit[known].astype(float).to_numpy()
    except (TypeError, ValueError):
        raise ValueError(f"ICP column {icp_col!r} must be bool or 0/1, got dtype "
                         f"{icp_fit.dtype}") from None
    if not set(np.unique(fit)) <= {0.0, 1.0}:
        raise ValueError(f"ICP column {icp_col!r} must be bool or 0/1, found other values")
    y_known = y[known]
    fit_rate = y_known[fit == 1].mean() if (fit == 1).any() else math.nan
    other_rate = y_known[fit == 0].mean() if (fit == 0).any() else math.nan
    if math.isnan(fit_rate) or math.isnan(other_rate):
        ratio = math.nan
    else:
        ratio = fit_rate / other_rate if other_rate > 0 else math.inf
    return {"icp_fit_rate": float(fit_rate), "icp_nonfit_rate": float(other_rate),
            "icp_fit_ratio": float(ratio)}


def segment_table(
    y: np.ndarray,
    p: np.ndarray,
    segments: pd.DataFrame,
    overall_auc: float,
    min_rows: int = 30,
) -> pd.DataFrame:
    """Per segment value: rows, conversions, rate, AUC, Brier and AUC gap to ``overall_auc``."""
    rows = []
    for column in segments.columns:
        values = segments[column].astype("str").fillna("(missing)").to_numpy()
        for value in pd.unique(values):
            mask = values == value
            rows.append(_segment_row(column, value, y[mask], p[mask], overall_auc, min_rows))
    columns = ["segment", "value", "rows", "positives", "conversion_rate", "mean_predicted",
               "roc_auc", "brier", "auc_gap"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["segment", "auc_gap"], na_position="last").reset_index(drop=True)


def _segment_row(column, value, y, p, overall_auc, min_rows) -> dict:
    auc = math.nan
    if len(y) >= min_rows and 0 < y.sum() < len(y):
        auc = float(roc_auc_score(y, p))
    return {"segment": column, "value": value, "rows": int(len(y)), "positives": int(y.sum()),
            "conversion_rate": float(y.mean()), "mean_predicted": float(p.mean()),
            "roc_auc": auc, "brier": float(np.mean((p - y) ** 2)), "auc_gap": auc - overall_auc}


def grade_table(y: np.ndarray, grades: np.ndarray) -> pd.DataFrame:
    """Rows, conversions and conversion rate per grade (A first)."""
    frame = pd.DataFrame({"grade": np.asarray(grades, dtype=str), "y": np.asarray(y, dtype=int)})
    table = frame.groupby("grade").agg(rows=("y", "size"), positives=("y", "sum"))
    table["conversion_rate"] = table["positives"] / table["rows"]
    return table.reset_index().sort_values("grade").reset_index(drop=True)


# --- comparison and report ----------------------------------------------------------------


def compare_reports(reports: dict[str, EvaluationReport], reference: str = "model") -> pd.DataFrame:
    """Metrics side by side, plus ``<reference> - <other>`` columns showing what the model adds."""
    if reference not in reports:
        raise ValueError(f"reference {reference!r} is not among the reports {list(reports)}")
    table = pd.DataFrame({name: report.metrics for name, report in reports.items()})
    for name in reports:
        if name != reference:
            table[f"{reference}_minus_{name}"] = table[reference] - table[name]
    return table


def check_targets(metrics: dict[str, float]) -> dict[str, bool | None]:
    """Whether the business targets are met (``None`` when a metric is not available)."""
    icp = metrics.get("icp_fit_ratio")
    return {
        "top30_bottom30_ratio>=3": bool(metrics["top30_bottom30_ratio"] >= TARGET_TOP_BOTTOM_RATIO),
        "icp_fit_ratio>=2": (None if icp is None or math.isnan(icp)
                             else bool(icp >= TARGET_ICP_RATIO)),
    }


def render_report(
    comparison: pd.DataFrame,
    model_report: EvaluationReport,
    grades: pd.DataFrame | None = None,
    *,
    selection: pd.DataFrame | None = None,
    base_rates: dict[str, float] | None = None,
    refused: list[str] | None = None,
    attributes: pd.DataFrame | None = None,
) -> str:
    """A Markdown report: gate verdict, the dataset's own columns (``leads.attributes``: used
    or left out, and why), model selection (every candidate on every fold), base-rate shift,
    metric comparison, targets, lift, grades and segment gaps."""
    targets = check_targets(model_report.metrics)
    lines = ["# Test-slice evaluation", ""]
    if refused:
        lines += ["## REFUSED by the registration gate", "", *[f"- {p}" for p in refused], ""]
    if attributes is not None and not attributes.empty:
        lines += ["## The dataset's own columns (leads.attributes): used and left out", "",
                  _markdown(attributes), ""]
    if selection is not None and not selection.empty:
        lines += ["## Model selection (rolling-origin folds, newest last; lowest mean log loss "
                  "wins)", "", _markdown(selection), ""]
    if base_rates:
        lines += ["## Base rate by slice (calibration uses the newest fold)", "",
                  ", ".join(f"{name} {rate:.4f}" for name, rate in base_rates.items()), ""]
    lines += ["## Model vs baselines", "",
              _markdown(comparison.reset_index(names="metric")), "", "## Targets", ""]
    lines += [f"- {name}: {'met' if ok else 'not met' if ok is not None else 'n/a'}"
              for name, ok in targets.items()]
    lines += ["", "## Lift by decile (model)", "", _markdown(model_report.lift), ""]
    if grades is not None:
        lines += ["## Conversion by grade (model)", "", _markdown(grades), ""]
    if not model_report.segments.empty:
        lines += ["## Segment AUC gaps (model)", "", _markdown(model_report.segments), ""]
    return "\n".join(lines)


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |"
            for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


# --- plots --------------------------------------------------------------------------------


def plot_calibration(reports: dict[str, EvaluationReport], path: Path) -> Path:
    """Reliability diagram of each report (PNG at ``path``)."""
    figure = Figure(figsize=(6, 5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for name, report in reports.items():
        table = report.calibration
        axes.plot(table["mean_predicted"], table["observed_rate"], marker="o",
                  label=f"{name} (ECE {report.metrics['ece']:.3f})")
    axes.set(xlabel="mean predicted probability", ylabel="observed conversion rate",
             title="Calibration (test slice)", xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="upper left")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return Path(path)


def plot_lift_gains(reports: dict[str, EvaluationReport], path: Path) -> Path:
    """Lift by decile and cumulative gains of each report (PNG at ``path``)."""
    figure = Figure(figsize=(11, 4.5))
    lift_axes, gain_axes = figure.subplots(1, 2)
    for name, report in reports.items():
        table = report.lift
        lift_axes.plot(table["decile"], table["lift"], marker="o", label=name)
        gain_axes.plot([0, *table["cumulative_share"]], [0, *table["cumulative_gain"]],
                       marker="o", label=name)
    lift_axes.axhline(1.0, linestyle="--", color="grey")
    lift_axes.set(xlabel="decile (1 = highest scores)", ylabel="lift", title="Lift by decile")
    gain_axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    gain_axes.set(xlabel="share of leads contacted", ylabel="share of conversions found",
                  title="Cumulative gains")
    for axes in (lift_axes, gain_axes):
        axes.legend()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return Path(path)


def is_finite_number(value: object) -> bool:
    """True for a real, finite number (keeps JSON and MLflow metrics valid)."""
    return isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value))


def _json_number(value: object) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _records(table: pd.DataFrame) -> list[dict]:
    if table.empty:
        return []
    return json.loads(table.to_json(orient="records"))  # NaN and inf become null
