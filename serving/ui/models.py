"""The model page's facts: champion and challenger from the MLflow registry with their test
metrics, calibration, lift and segment tables (the run's ``evaluation/model_report.json``),
and a drift summary of today's scores against the champion's test slice."""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.drift import population_stability_index

logger = logging.getLogger(__name__)

ALIASES = ("champion", "challenger")
SHOWN_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "top30_bottom30_ratio",
                 "icp_fit_ratio")
PSI_ALERT = 0.2


@dataclass(frozen=True)
class ModelCard:
    """One registered version under an alias, with what its training run measured."""

    alias: str
    name: str
    version: str
    run_id: str | None
    metrics: dict[str, float]
    calibration: list[dict] = field(default_factory=list)
    lift: list[dict] = field(default_factory=list)
    segments: list[dict] = field(default_factory=list)


def read_model_cards(tracking_uri: str, name: str) -> list[ModelCard]:
    """The champion and challenger of ``name`` (aliases that are not set are left out)."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).exists():
        return []
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    cards = []
    for alias in ALIASES:
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            continue
        cards.append(_card(tracking_uri, alias, name, str(version.version), version.run_id))
    return cards


def _card(tracking_uri: str, alias: str, name: str, version: str, run_id: str | None
          ) -> ModelCard:
    report = _model_report(tracking_uri, run_id) if run_id else {}
    metrics = {k: v for k, v in report.get("metrics", {}).items() if k in SHOWN_METRICS}
    return ModelCard(alias, name, version, run_id, metrics, report.get("calibration", []),
                     report.get("lift", []), report.get("segments", []))


@lru_cache(maxsize=32)
def _model_report(tracking_uri: str, run_id: str) -> dict[str, Any]:
    """The run's ``evaluation/model_report.json`` (a run's artifacts never change: cached)."""
    try:
        with tempfile.TemporaryDirectory(prefix="leadscore-ui-") as tmp:
            mlflow.set_tracking_uri(tracking_uri)
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluation/model_report.json", dst_path=tmp)
            return json.loads(Path(path).read_text(encoding="utf-8"))
    except (MlflowException, OSError, ValueError) as error:
        logger.info("no evaluation report for run %s: %s", run_id, error)
        return {}


def segment_gaps(segments: Sequence[dict], n: int = 8) -> list[dict]:
    """The segments whose ROC AUC falls furthest below the overall AUC (largest gaps first)."""
    rows = [s for s in segments if _finite(s.get("auc_gap"))]
    return sorted(rows, key=lambda s: s["auc_gap"])[:n]


def population_stability(calibration: Sequence[dict], probabilities: Sequence[float]
                         ) -> float | None:
    """PSI of ``probabilities`` (e.g. today's open leads) against the test slice's histogram
    in the calibration table's equal-width bins; None without both."""
    if not len(calibration) or not len(probabilities):
        return None
    n_bins = round(1 / (calibration[0]["upper"] - calibration[0]["lower"]))
    expected = np.zeros(n_bins)
    for row in calibration:
        expected[int(row["bin"])] = row["rows"]
    bins = np.minimum((np.asarray(probabilities) * n_bins).astype(int), n_bins - 1)
    return population_stability_index(expected, np.bincount(bins, minlength=n_bins))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
