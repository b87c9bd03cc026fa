"""BANT and lead-status features as of a time.

A BANT element counts at ``as_of`` only when its ``<element>_confirmed_at`` is strictly before
``as_of``; until then it is unknown (NaN), whatever the current column says. Budget, authority
and need are 1.0 (confirmed yes), 0.0 (confirmed no) or NaN; the timeline is the stated number
of months. An element is *met* when budget/authority/need is a confirmed yes, or the timeline
is confirmed at ``sql_timeline_months`` (3) or less. The SQL rule of practice is: at least 3 of
the 4 elements met, the timeline being one of them.

Status features read the dated status columns (``mql_at``, ``recycled_at``) the same way.

Scoring a lead before it exists is an error: ``features.pointintime.lookup_lead_rows`` raises when a lead's
``created_at`` is at or after its ``as_of`` (and for unknown lead ids).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pointintime import (
    NAT_US,
    US_PER_DAY,
    lookup_lead_rows,
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


def _confirmed_before(leads: pd.DataFrame, column: str, rows: np.ndarray,
                      as_of: np.ndarray) -> np.ndarray:
    stamps = timestamps_to_us(leads[column], f"leads.{column}")[rows]
    return (stamps != NAT_US) & (stamps < as_of)


def _values(leads: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    return pd.to_numeric(leads[column]).to_numpy(dtype=np.float64, na_value=np.nan)[rows]


def build_bant_features(leads: pd.DataFrame, pairs: pd.DataFrame,
                        sql_timeline_months: float = 3.0) -> pd.DataFrame:
    """BANT as confirmed strictly before each pair's ``as_of``.

    Args:
        leads: canonical leads table.
        pairs: ``lead_id`` and timezone-aware ``as_of``.
        sql_timeline_months: longest timeline that counts as met.

    Returns:
        One float64 row per pair (pair order) with the ``BANT_FEATURES`` columns.
    """
    pairs = normalize_pairs(pairs, "lead_id")
    rows = lookup_lead_rows(leads, pairs)
    as_of = timestamps_to_us(pairs["as_of"], "pairs.as_of")
    out: dict[str, np.ndarray] = {}
    met = np.zeros(len(pairs), dtype=np.int64)
    for element in BANT_ELEMENTS:
        known = _confirmed_before(leads, f"{element}_confirmed_at", rows, as_of)
        value = np.where(known, _values(leads, element, rows), np.nan)
        out[f"bant_{element}"] = value
        met += value == 1.0
    known = _confirmed_before(leads, "timeline_confirmed_at", rows, as_of)
    timeline = np.where(known, _values(leads, "timeline_months", rows), np.nan)
    timeline_met = timeline <= sql_timeline_months
    met += timeline_met
    out["bant_timeline_months"] = timeline
    out["bant_met_count"] = met
    out["bant_meets_sql_rule"] = (met >= SQL_MIN_MET) & timeline_met
    return pd.DataFrame({d.name: np.asarray(out[d.name], np.float64) for d in BANT_FEATURES},
                        copy=False)


def build_status_features(leads: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Lead age and MQL / recycled status as of each pair's ``as_of``.

    Returns:
        One float64 row per pair (pair order) with the ``STATUS_FEATURES`` columns.
    """
    pairs = normalize_pairs(pairs, "lead_id")
    rows = lookup_lead_rows(leads, pairs)
    as_of = timestamps_to_us(pairs["as_of"], "pairs.as_of")
    created = timestamps_to_us(leads["created_at"], "leads.created_at")[rows]
    mql = timestamps_to_us(leads["mql_at"], "leads.mql_at")[rows]
    is_mql = (mql != NAT_US) & (mql < as_of)
    out = {
        "lead_age_days": (as_of - created) / US_PER_DAY,
        "is_mql": is_mql,
        "days_since_mql": np.where(is_mql, (as_of - mql) / US_PER_DAY, np.nan),
        "is_recycled": _confirmed_before(leads, "recycled_at", rows, as_of),
    }
    return pd.DataFrame({d.name: np.asarray(out[d.name], np.float64) for d in STATUS_FEATURES},
                        copy=False)
