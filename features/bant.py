"""BANT and lead-status features as of a time.

A BANT element counts at ``as_of`` only when its ``<element>_confirmed_at`` is strictly before
``as_of``; until then it is unknown (NaN), whatever the current column says. Budget, authority
and need are 1.0 (confirmed yes), 0.0 (confirmed no) or NaN; the timeline is the stated number
of months. An element is *met* when budget/authority/need is a confirmed yes, or the timeline
is confirmed at ``sql_timeline_months`` (3) or less. The SQL rule of practice is: at least 3 of
the 4 elements met, the timeline being one of them.

Status features read the dated status columns (``mql_at``, ``recycled_at``) the same way.

The kernels read the lead columns of ``LeadInputs`` (``features.inputs``), so the batch and the
single-lead builders run the same arithmetic.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.inputs import ColumnKind, LeadInputs, read_columns
from features.pointintime import (
    NAT_US,
    US_PER_DAY,
    lookup_rows,
    normalize_pairs,
    timestamps_to_us,
)
from features.registry import FeatureDef

BANT_ELEMENTS: tuple[str, ...] = ("budget", "authority", "need")
SQL_MIN_MET = 3

F = FeatureDef
BANT_FEATURES: tuple[FeatureDef, ...] = (
    F("bant_budget", "bool", "actionable", "bant",
      "budget confirmed (1 = yes, 0 = no): {value}", "予算の確認（1=あり, 0=なし）: {value}",
      "1 confirmed budget, 0 confirmed no budget, missing if not confirmed before as_of."),
    F("bant_authority", "bool", "actionable", "bant",
      "decision maker confirmed (1 = yes, 0 = no): {value}",
      "決裁権の確認（1=あり, 0=なし）: {value}",
      "1 contact decides or is the route to the decider, 0 confirmed not, missing if unknown."),
    F("bant_need", "bool", "actionable", "bant",
      "need confirmed (1 = yes, 0 = no): {value}", "ニーズの確認（1=あり, 0=なし）: {value}",
      "1 confirmed problem the product solves, 0 confirmed none, missing if unknown."),
    F("bant_timeline_months", "float", "actionable", "bant",
      "plans to decide within {value} months", "{value}か月以内に導入判断の予定",
      "Stated months until the purchase decision, if confirmed before as_of."),
    F("bant_met_count", "int", "actionable", "bant",
      "{value} of 4 BANT conditions met", "BANT 4項目中{value}項目を充足",
      "Confirmed yes for budget/authority/need plus timeline confirmed within 3 months."),
    F("bant_meets_sql_rule", "bool", "actionable", "bant",
      "meets the SQL rule (3 of 4 BANT, decision within 3 months): {value}",
      "SQL基準（BANT 4項目中3項目以上・導入時期3か月以内）を満たす: {value}",
      "1 when at least 3 BANT elements are met and the timeline is one of them."),
)
STATUS_FEATURES: tuple[FeatureDef, ...] = (
    F("lead_age_days", "float", "fixed", "lifecycle",
      "lead created {value} days ago", "リード登録から{value}日",
      "Days from leads.created_at to as_of."),
    F("is_mql", "bool", "actionable", "lifecycle",
      "marketing-qualified (1 = yes): {value}", "MQL化済み（1=はい）: {value}",
      "1 when mql_at is before as_of."),
    F("days_since_mql", "float", "actionable", "lifecycle",
      "became marketing-qualified {value} days ago", "MQL化から{value}日",
      "Days from mql_at to as_of (missing if not MQL before as_of)."),
    F("is_recycled", "bool", "fixed", "lifecycle",
      "was returned to nurturing before (1 = yes): {value}",
      "ナーチャリングへの差し戻し歴（1=あり）: {value}",
      "1 when recycled_at is before as_of."),
)


BANT_COLUMNS: dict[str, ColumnKind] = {
    **{name: kind for element in BANT_ELEMENTS
       for name, kind in ((element, "number"), (f"{element}_confirmed_at", "time"))},
    "timeline_months": "number", "timeline_confirmed_at": "time"}
STATUS_COLUMNS: dict[str, ColumnKind] = {"created_at": "time", "mql_at": "time",
                                         "recycled_at": "time"}


def _before(stamps: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    return (stamps != NAT_US) & (stamps < as_of)


def compute_bant(inputs: LeadInputs, config: FeatureConfig) -> dict[str, np.ndarray]:
    """BANT as confirmed strictly before each pair's ``as_of`` (``BANT_FEATURES``)."""
    return bant_values(inputs.lead, inputs.as_of, config.sql_timeline_months)


def build_bant_features(leads: pd.DataFrame, pairs: pd.DataFrame,
                        sql_timeline_months: float = 3.0) -> pd.DataFrame:
    """``BANT_FEATURES`` of each ``(lead_id, as_of)`` pair from a leads table (float64)."""
    pairs = normalize_pairs(pairs, "lead_id")
    rows = lookup_rows(leads, pairs)
    out = bant_values(read_columns(leads, rows, BANT_COLUMNS),
                      timestamps_to_us(pairs["as_of"], "pairs.as_of"), sql_timeline_months)
    return pd.DataFrame({d.name: out[d.name] for d in BANT_FEATURES})


def bant_values(lead: Mapping[str, np.ndarray], as_of: np.ndarray,
                sql_timeline_months: float) -> dict[str, np.ndarray]:
    """The BANT kernel on ``BANT_COLUMNS`` per pair and ``as_of`` (UTC µs)."""
    out: dict[str, np.ndarray] = {}
    met = np.zeros(len(as_of), dtype=np.int64)
    for element in BANT_ELEMENTS:
        value = np.where(_before(lead[f"{element}_confirmed_at"], as_of), lead[element], np.nan)
        out[f"bant_{element}"] = value
        met += value == 1.0
    timeline = np.where(_before(lead["timeline_confirmed_at"], as_of), lead["timeline_months"],
                        np.nan)
    timeline_met = timeline <= sql_timeline_months
    met += timeline_met
    out["bant_timeline_months"] = timeline
    out["bant_met_count"] = met.astype(np.float64)
    out["bant_meets_sql_rule"] = ((met >= SQL_MIN_MET) & timeline_met).astype(np.float64)
    return out


def compute_status(inputs: LeadInputs, config: FeatureConfig) -> dict[str, np.ndarray]:
    """Lead age and MQL / recycled status as of each pair's ``as_of`` (``STATUS_FEATURES``)."""
    lead, as_of = inputs.lead, inputs.as_of
    mql = lead["mql_at"]
    is_mql = _before(mql, as_of)
    return {
        "lead_age_days": (as_of - lead["created_at"]) / US_PER_DAY,
        "is_mql": is_mql.astype(np.float64),
        "days_since_mql": np.where(is_mql, (as_of - mql) / US_PER_DAY, np.nan),
        "is_recycled": _before(lead["recycled_at"], as_of).astype(np.float64),
    }
