"""Lead features: every feature of every ``(lead_id, as_of)`` pair, point in time.

``build_lead_features(tables, pairs, config)`` computes every lead feature for any set of
pairs: behavioral and account roll-up (``features.behavioral``), BANT and status
(``features.bant``), firmographics and job title (``features.firmographic``), ICP fit
(``features.icp``) and the declared keys of ``leads.attributes`` (``features.attributes``).
The scoring service computes one lead from plain records with ``features.online``.

Point in time: a feature at ``as_of`` uses only records with timestamps strictly before
``as_of``; a pair whose lead was created at or after its ``as_of`` is an error (see
``features.pointintime.lookup_lead_rows``). Firmographics and lead attributes have no history
in the canonical model and are used as current values, taken as known at the lead's creation
(see ``features.firmographic`` and ``features.attributes``).

``lead_feature_registry(config)`` names every output column with its dtype, kind and EN/JA
phrases; a trained model stores ``registry.to_dict()`` and ``config.to_dict()``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm.schema import SchemaViolationError, coerce_table, empty_frame
from features.attributes import attribute_feature_defs, build_attribute_features
from features.bant import BANT_FEATURES, STATUS_FEATURES, build_bant_features, build_status_features
from features.behavioral import behavioral_feature_defs, build_behavioral_features
from features.config import FeatureConfig, resolve_icp
from features.firmographic import FIRMOGRAPHIC_FEATURES, build_firmographic_features
from features.icp import ICP_FEATURES, score_icp
from features.pointintime import (
    NAT_US,
    assemble_feature_frame,
    build_event_index,
    lookup_lead_rows,
    normalize_pairs,
    timed,
    timestamps_to_us,
)
from features.registry import FeatureDef, FeatureRegistry


ACCOUNT_LEADS_FEATURE = FeatureDef(
    "account_known_leads", "float", "actionable", "firmographic",
    "{value} contacts known at this company", "同じ企業の既知リード数は{value}名",
    "Leads of the same account created strictly before as_of (this one included); sales can "
    "add contacts (multi-threading). Missing when the lead has no account.")


def lead_feature_registry(config: FeatureConfig) -> FeatureRegistry:
    """Every lead feature (behavioral, account, BANT, status, firmographic, ICP, declared
    attributes), in order."""
    return FeatureRegistry([*behavioral_feature_defs(config), *BANT_FEATURES, *STATUS_FEATURES,
                            *FIRMOGRAPHIC_FEATURES, ACCOUNT_LEADS_FEATURE, *ICP_FEATURES,
                            *attribute_feature_defs(config.attributes)])


def _lead_rows(leads: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One leads row per pair; a pair's ``account_id`` (when given) overrides the lead's."""
    rows = leads.take(lookup_lead_rows(leads, pairs)).reset_index(drop=True)
    if "account_id" in pairs.columns:
        given = pairs["account_id"].astype("str")
        rows["account_id"] = given.where(given.notna(), rows["account_id"])
    return rows


def count_account_leads(leads: pd.DataFrame, accounts: pd.Series, as_of: np.ndarray) -> np.ndarray:
    """Leads in ``leads`` of each query's account created strictly before its ``as_of``.

    Counted over the whole leads table, so the value does not depend on which other pairs are
    in the batch (parity with single-lead scoring). NaN where the query has no account.
    """
    codes, account_ids = pd.factorize(leads["account_id"], use_na_sentinel=True)
    created = timestamps_to_us(leads["created_at"], "leads.created_at")
    keep = (codes >= 0) & (created != NAT_US)
    index = build_event_index(codes[keep].astype(np.int64), created[keep], len(account_ids))
    queries = pd.Index(account_ids).get_indexer(accounts).astype(np.int64)
    counts = index.positions(queries, as_of) - index.starts_of(queries)
    return np.where(accounts.notna().to_numpy(), counts, np.nan)


def build_lead_features(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame,
                        config: FeatureConfig) -> pd.DataFrame:
    """All lead features of each ``(lead_id, as_of)`` pair, point in time.

    Args:
        tables: canonical tables; uses leads (with ``attributes`` when the config declares
            any), activities and accounts (missing accounts or activities count as empty).
        pairs: ``lead_id``, timezone-aware ``as_of`` and optionally ``account_id``.
        config: the feature settings.

    Returns:
        One row per pair in pair order: ``lead_id``, ``as_of`` (UTC), then
        ``lead_feature_registry(config).names`` — float64 numbers, categorical categories.

    Raises:
        ValueError: unknown lead ids, naive timestamps, a lead created at or after its as_of.
    """
    pairs = normalize_pairs(pairs, "lead_id")
    leads = tables["leads"]
    activities = tables["activities"] if "activities" in tables else empty_frame("activities")
    accounts = tables["accounts"] if "accounts" in tables else empty_frame("accounts")
    with timed("pipeline.lookup"):
        lead_rows = _lead_rows(leads, pairs)
    columns: dict[str, object] = {}
    with timed("pipeline.behavioral"):
        columns.update(build_behavioral_features(activities, pairs, config, leads=leads))
    with timed("pipeline.bant_status"):
        columns.update(build_bant_features(leads, pairs, config.sql_timeline_months))
        columns.update(build_status_features(leads, pairs))
    with timed("pipeline.firmographic"):
        firmographics = build_firmographic_features(lead_rows, accounts, pairs["as_of"])
        columns.update(firmographics)
        columns["account_known_leads"] = count_account_leads(
            leads, lead_rows["account_id"], timestamps_to_us(pairs["as_of"], "pairs.as_of"))
    with timed("pipeline.icp"):
        columns.update(score_icp(firmographics, resolve_icp(config)))
    with timed("pipeline.attributes"):
        columns.update(build_attribute_features(leads, pairs, config.attributes))
    return assemble_feature_frame(pairs, columns, lead_feature_registry(config), "lead_id")


_NEEDED_COLUMNS = {"leads": ("lead_id", "created_at"), "accounts": ("account_id",),
                   "activities": ("occurred_at", "type")}


def _canonical_rows(table: str, rows: pd.DataFrame | list[dict] | None) -> pd.DataFrame:
    """Coerce inline records to the canonical dtypes; raise on values that do not convert."""
    if rows is None or len(rows) == 0:
        return empty_frame(table)
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if table == "activities" and "event_id" not in frame.columns:
        frame = frame.assign(event_id=[f"inline-{i}" for i in range(len(frame))])
    coerced, problems = coerce_table(table, frame)
    ignorable = (problems["reason"] == "required column is missing") & ~problems["column"].isin(
        _NEEDED_COLUMNS[table])
    if (~ignorable).any():
        raise SchemaViolationError(problems[~ignorable].reset_index(drop=True))
    return coerced


def single_lead_tables(lead: Mapping[str, Any], account: Mapping[str, Any] | None,
                       activities: pd.DataFrame | list[dict] | None,
                       account_leads: pd.DataFrame | list[dict] | None = None
                       ) -> dict[str, pd.DataFrame]:
    """Canonical tables holding one lead (plus optional other leads of its account)."""
    others = _canonical_rows("leads", account_leads)
    leads = pd.concat([_canonical_rows("leads", [dict(lead)]),
                       others[others["lead_id"] != lead.get("lead_id")]], ignore_index=True)
    return {"leads": leads,
            "accounts": _canonical_rows("accounts", None if account is None else [dict(account)]),
            "activities": _canonical_rows("activities", activities)}


def build_single_lead_features(lead: Mapping[str, Any], account: Mapping[str, Any] | None,
                               activities: pd.DataFrame | list[dict] | None,
                               as_of: pd.Timestamp, config: FeatureConfig,
                               account_leads: pd.DataFrame | list[dict] | None = None
                               ) -> pd.DataFrame:
    """Features of one lead at ``as_of`` — the batch code path on one-row tables.

    Args:
        lead: one leads record (canonical column names; values may be text or typed).
        account: the lead's accounts record, or None.
        activities: the lead's activities and, for the account roll-up, those of the other
            contacts of its account (with ``account_id`` set); records or a frame; ``event_id``
            may be left out.
        as_of: timezone-aware scoring time (typically now).
        config: the feature settings the model was trained with.
        account_leads: other leads of the same account (for account-level lead counts).

    Returns:
        A one-row frame, same columns and dtypes as ``build_lead_features``.
    """
    stamp = pd.Timestamp(as_of)
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise ValueError(f"as_of must be a timezone-aware timestamp, got {as_of!r}")
    tables = single_lead_tables(lead, account, activities, account_leads)
    pairs = pd.DataFrame({"lead_id": tables["leads"]["lead_id"].iloc[:1].to_numpy(),
                          "as_of": pd.Series([stamp]).dt.tz_convert("UTC")})
    return build_lead_features(tables, pairs, config)
