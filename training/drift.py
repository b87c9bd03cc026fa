"""Population stability (PSI) of model inputs and scores against the model's own reference.

At training, ``build_drift_reference`` bins every model feature and the calibrated probability
on the test slice (the newest labelled data, what the model was judged on) and the result is
stored in the bundle (``training_summary["drift"]``). Later, ``compare_with_reference`` bins
recent inputs the same way and gives one PSI per feature and one for the score:

    PSI = sum over bins of (actual - expected) x ln(actual / expected)

with shares clipped at ``1e-4`` so an empty bin does not make it infinite. Common reading:
below 0.1 stable, 0.1-0.25 a shift worth a look, above 0.25 a shift that changes the model's
behaviour (the default warn / alert thresholds).

Bins live in the model's input space (``ModelBundle.matrix``): numeric and bool features by
the reference's deciles (ties merged) plus a bin for missing values; category features one bin
per fitted level plus one for missing or unseen levels; the score by its own deciles. A bundle
written before the reference existed has none: drift then reports "no reference".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from features.registry import FeatureRegistry

if TYPE_CHECKING:
    from training.bundle import ModelBundle

SCORE = "score"
DEFAULT_WARN_PSI = 0.1
DEFAULT_ALERT_PSI = 0.25
STATUSES = ("ok", "warn", "alert")
_EPS = 1e-4
_DECILES = np.linspace(0.1, 0.9, 9)


def population_stability_index(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of ``actual`` against ``expected`` (counts or shares over the same bins)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError(f"PSI needs two non-empty distributions over the same bins, got "
                         f"{e.shape} and {a.shape} bins")
    e = np.clip(e / e.sum(), _EPS, None)
    a = np.clip(a / a.sum(), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_bins(values: np.ndarray) -> dict:
    """The bin specification of a numeric column: deciles of its present values (ties merged)
    and the share of each bin (below the first edge ... above the last, then missing)."""
    present = values[~np.isnan(values)]
    edges = np.unique(np.quantile(present, _DECILES)) if len(present) else np.empty(0)
    spec = {"kind": "numeric", "edges": [float(e) for e in edges]}
    return {**spec, "shares": _shares(bin_counts(values, spec))}


def category_bins(codes: np.ndarray, n_levels: int) -> dict:
    """The bin specification of a category column given as level codes (NaN: missing or
    unseen): one bin per level, then one for missing."""
    spec = {"kind": "category", "levels": int(n_levels)}
    return {**spec, "shares": _shares(bin_counts(codes, spec))}


def bin_counts(values: np.ndarray, spec: dict) -> np.ndarray:
    """Counts of ``values`` in the bins of ``spec`` (``numeric_bins`` / ``category_bins``)."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    if spec["kind"] == "category":
        n_bins = int(spec["levels"])
        index = np.where(missing, n_bins, values).astype(np.int64)
        index[(index < 0) | (index > n_bins)] = n_bins
    else:
        n_bins = len(spec["edges"]) + 1
        index = np.where(missing, n_bins, np.searchsorted(spec["edges"], values, side="right"))
    return np.bincount(index, minlength=n_bins + 1).astype(float)


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def build_drift_reference(matrix: np.ndarray, probabilities: np.ndarray,
                          registry: FeatureRegistry, levels: dict[str, list[str]],
                          slice_name: str = "test") -> dict:
    """Binned distributions of each model feature and of the score on a reference slice.

    Args:
        matrix: the slice as the model's input matrix (``ModelBundle.matrix``).
        probabilities: the calibrated probabilities of the same rows.
        registry: the model's features (the matrix's columns, in order).
        levels: the fitted category levels.
        slice_name: which slice the reference describes (stored with it).

    Returns:
        A JSON-ready dict: ``slice``, ``rows``, ``features`` (name -> bins) and ``score``.
    """
    features = {}
    for j, definition in enumerate(registry):
        column = matrix[:, j]
        features[definition.name] = (
            category_bins(column, len(levels[definition.name]))
            if definition.dtype == "category" else numeric_bins(column))
    return {"slice": slice_name, "rows": int(len(matrix)), "features": features,
            SCORE: numeric_bins(np.asarray(probabilities, dtype=float))}


@dataclass(frozen=True)
class DriftRow:
    """PSI of one feature (or of the score) and its status."""

    name: str
    psi: float
    status: str


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature and for the score of ``rows`` recent inputs against the reference."""

    rows: int
    reference_rows: int
    features: list[DriftRow]
    score: DriftRow

    @property
    def all_rows(self) -> list[DriftRow]:
        """Every feature, then the score."""
        return [*self.features, self.score]

    @property
    def alerts(self) -> list[str]:
        """Names (features and ``score``) at or above the alert threshold, worst first."""
        return _named(self.all_rows, "alert")

    @property
    def warnings(self) -> list[str]:
        """Names between the warn and the alert threshold, worst first."""
        return _named(self.all_rows, "warn")

    @property
    def status(self) -> str:
        """The worst status of any row."""
        return max((row.status for row in self.all_rows), key=STATUSES.index)


def _named(rows: list[DriftRow], status: str) -> list[str]:
    return [row.name for row in sorted(rows, key=lambda r: -r.psi) if row.status == status]


def psi_status(psi: float, warn: float = DEFAULT_WARN_PSI,
               alert: float = DEFAULT_ALERT_PSI) -> str:
    """``ok`` below ``warn``, ``warn`` below ``alert``, else ``alert``."""
    return "alert" if psi >= alert else "warn" if psi >= warn else "ok"


def compare_with_reference(reference: dict, names: Sequence[str], matrix: np.ndarray,
                           probabilities: np.ndarray, *, warn: float = DEFAULT_WARN_PSI,
                           alert: float = DEFAULT_ALERT_PSI) -> DriftReport:
    """PSI of recent inputs per feature and for the score against a stored reference.

    Args:
        reference: ``build_drift_reference``'s result (from the bundle).
        names: the matrix's columns (the model's features, in order).
        matrix: recent inputs in the model's input space, one row per scored lead.
        probabilities: the calibrated probabilities given for those rows.
        warn / alert: PSI thresholds of the statuses.

    Raises:
        ValueError: no rows, thresholds out of order, or a feature the reference lacks.
    """
    if not len(matrix):
        raise ValueError("drift needs at least one scored row")
    if not 0 < warn <= alert:
        raise ValueError(f"drift thresholds must satisfy 0 < warn <= alert, got warn {warn} "
                         f"and alert {alert}")
    missing = [n for n in names if n not in reference["features"]]
    if missing:
        raise ValueError(f"the drift reference lacks features {missing[:10]}")

    def row(name: str, spec: dict, values: np.ndarray) -> DriftRow:
        psi = population_stability_index(spec["shares"], bin_counts(values, spec))
        return DriftRow(name, round(psi, 6), psi_status(psi, warn, alert))

    features = [row(n, reference["features"][n], matrix[:, j]) for j, n in enumerate(names)]
    return DriftReport(int(len(matrix)), int(reference.get("rows", 0)), features,
                       row(SCORE, reference[SCORE], np.asarray(probabilities, dtype=float)))


def compare_bundle_inputs(bundle: "ModelBundle", matrix: np.ndarray, probabilities: np.ndarray,
                          *, warn: float = DEFAULT_WARN_PSI, alert: float = DEFAULT_ALERT_PSI
                          ) -> DriftReport | None:
    """``compare_with_reference`` against the reference stored in ``bundle``; None for a
    bundle written before references were stored ("no reference")."""
    reference = bundle.training_summary.get("drift")
    if not reference:
        return None
    return compare_with_reference(reference, bundle.features, matrix, probabilities,
                                  warn=warn, alert=alert)
