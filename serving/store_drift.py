"""Drift of the store's open leads, scored as of a day, against a model's reference.

What ``leadscore drift`` measures: the leads open on the day (the priority board's leads,
``serving.ui.board``) get their features with the batch builder and the model's own feature
settings, are scored by the model, and are compared with the reference stored in its bundle
(``training.drift``). The running service measures its own recent traffic the same way
(``serving.drift``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from crm.store import CRMStore
from features.leads import build_lead_features
from serving.ui.board import default_as_of, open_at, read_board_tables
from training.bundle import ModelBundle, resolve_feature_config
from training.drift import DEFAULT_ALERT_PSI, DEFAULT_WARN_PSI, DriftReport, compare_bundle_inputs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreDrift:
    """A drift report of the open leads on ``as_of`` (``report`` None: the bundle has no
    reference, or no lead is open)."""

    as_of: pd.Timestamp
    leads: int
    report: DriftReport | None


def measure_store_drift(store: CRMStore, bundle: ModelBundle, as_of: pd.Timestamp | None = None,
                        *, warn: float = DEFAULT_WARN_PSI, alert: float = DEFAULT_ALERT_PSI
                        ) -> StoreDrift:
    """PSI per feature and for the score of the store's leads open at ``as_of`` (default: the
    store's today, ``serving.ui.board.default_as_of``) against ``bundle``'s reference."""
    as_of = as_of if as_of is not None else default_as_of(store)
    if not bundle.training_summary.get("drift"):
        return StoreDrift(as_of, 0, None)
    tables = read_board_tables(store)
    leads = tables["leads"][open_at(tables["leads"], as_of)]
    if leads.empty:
        return StoreDrift(as_of, 0, None)
    pairs = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(),
                          "as_of": pd.Series(as_of, index=range(len(leads))).dt.as_unit("us")})
    features = build_lead_features(tables, pairs, resolve_feature_config(bundle.feature_config))
    matrix = bundle.matrix(features)
    probabilities = bundle.calibrator.transform(bundle.raw_matrix(matrix))
    report = compare_bundle_inputs(bundle, matrix, probabilities, warn=warn, alert=alert)
    logger.info("drift of %d open leads as of %s: %s", len(leads), as_of.date(),
                report.status if report else "no reference")
    return StoreDrift(as_of, len(leads), report)
