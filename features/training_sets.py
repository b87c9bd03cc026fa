"""Training sets: point-in-time snapshots with labels, built from the canonical tables.

Snapshots. An entity (lead or opportunity) created at ``c`` is snapshot at
``c + 1 µs + k · snapshot_every_days`` for ``k = 0 .. max_snapshots - 1`` — the first one just
after creation, then periodically — as long as the snapshot is before ``as_of_end`` (the data
cut: nothing at or after it is known) and the entity is still open at the snapshot time. Each
snapshot's features come from ``build_lead_features`` / ``build_opportunity_features``, so they
use only records strictly before the snapshot time.

SQL examples (``build_sql_examples``). A lead is open at ``t`` unless it became SQL before
``t`` (``sql_at < t``) or was disqualified before ``t`` and not recycled after that
(``disqualified_at < t`` and not ``disqualified_at < recycled_at < t``). Leads already SQL are
never snapshot. With horizon ``H`` (``horizon_days``):

* label 1 — the lead became SQL in ``[t, t + H)``, and the whole horizon was observed;
* label 0 — it did not, and the whole horizon was observed (``t + H <= as_of_end``);
* censored — the horizon reaches past ``as_of_end``: the snapshot is **excluded**, never a
  negative. This holds for leads that already converted by ``as_of_end`` too: keeping only the
  early converters of the newest snapshots would enrich the most recent slice — the one that
  calibrates the model — with positives.

Win examples (``build_win_examples``). An opportunity is open at ``t`` unless ``closed_at < t``.
Only deals closed (won or lost) before ``as_of_end`` are labelled: label 1 = won, 0 = lost.
Snapshots of deals still open at ``as_of_end`` are excluded (censored).

Snapshots of one entity are correlated: split train/test by entity or by time, not by row.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd

from features.config import FeatureConfig
from features.leads import build_lead_features
from features.opportunity import build_opportunity_features
from features.pointintime import NAT_US, US_PER_DAY, timestamps_to_us

logger = logging.getLogger(__name__)


def _cut_us(as_of_end: pd.Timestamp) -> int:
    stamp = pd.Timestamp(as_of_end)
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise ValueError(f"as_of_end must be a timezone-aware timestamp, got {as_of_end!r}")
    return -(-stamp.value // 1000)   # Timestamp.value is ns; t_us < ceil(ns / 1000) ⟺ t < cut


def snapshot_times(created: np.ndarray, config: FeatureConfig,
                   end: int) -> tuple[np.ndarray, np.ndarray]:
    """(row of each snapshot, snapshot time in UTC µs), before ``end``, in row then time order.

    Args:
        created: creation time per entity (UTC µs; ``NAT_US`` = never snapshot).
        config: snapshot spacing and count.
        end: the data cut (UTC µs); snapshots are strictly before it.
    """
    steps = np.arange(config.max_snapshots, dtype=np.int64) * (
        np.int64(config.snapshot_every_days) * US_PER_DAY)
    rows = np.repeat(np.arange(len(created)), config.max_snapshots)
    times = created[rows] + 1 + np.tile(steps, len(created))
    keep = (created[rows] != NAT_US) & (times < end)
    return rows[keep], times[keep]


def _stamps(frame: pd.DataFrame, column: str, table: str, rows: np.ndarray) -> np.ndarray:
    return timestamps_to_us(frame[column], f"{table}.{column}")[rows]


def _lead_open(leads: pd.DataFrame, rows: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Lead not yet SQL and not (still) disqualified at ``as_of``."""
    sql = _stamps(leads, "sql_at", "leads", rows)
    dropped = _stamps(leads, "disqualified_at", "leads", rows)
    recycled = _stamps(leads, "recycled_at", "leads", rows)
    not_sql = (sql == NAT_US) | (sql >= as_of)
    back = (recycled != NAT_US) & (recycled > dropped) & (recycled < as_of)
    disqualified = (dropped != NAT_US) & (dropped < as_of) & ~back
    return not_sql & ~disqualified


def sql_labels(sql_at: np.ndarray, as_of: np.ndarray, horizon_days: int,
               end: int) -> tuple[np.ndarray, np.ndarray]:
    """(label, censored) per snapshot under the censoring rule of this module.

    Args:
        sql_at: when each snapshot's lead became SQL (UTC µs; ``NAT_US`` = never).
        as_of: snapshot times (UTC µs).
        horizon_days: label horizon.
        end: the data cut (UTC µs).
    """
    horizon = np.int64(horizon_days) * US_PER_DAY
    observed = as_of + horizon <= end
    converted = (sql_at != NAT_US) & (sql_at >= as_of) & (sql_at < as_of + horizon) & observed
    return converted.astype(np.int64), ~observed


def build_sql_examples(tables: Mapping[str, pd.DataFrame], config: FeatureConfig,
                       as_of_end: pd.Timestamp) -> pd.DataFrame:
    """SQL-conversion training examples: open-lead snapshots, label = SQL within the horizon.

    Args:
        tables: canonical tables (leads, activities, accounts).
        config: features, horizon and snapshot settings.
        as_of_end: the data cut; records at or after it are treated as unknown.

    Returns:
        ``lead_id``, ``as_of``, ``label`` (int 0/1), then the lead features; censored
        snapshots excluded (see the module docstring).
    """
    end = _cut_us(as_of_end)
    leads = tables["leads"]
    created = timestamps_to_us(leads["created_at"], "leads.created_at")
    rows, as_of = snapshot_times(created, config, end)
    open_ = _lead_open(leads, rows, as_of)
    rows, as_of = rows[open_], as_of[open_]
    label, censored = sql_labels(_stamps(leads, "sql_at", "leads", rows), as_of,
                                 config.horizon_days, end)
    logger.info("SQL examples: %d open-lead snapshots, %d censored, %d positive",
                len(rows), int(censored.sum()), int(label[~censored].sum()))
    rows, as_of, label = rows[~censored], as_of[~censored], label[~censored]
    pairs = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[rows],
                          "as_of": _to_timestamps(as_of)})
    features = build_lead_features(tables, pairs, config).copy()  # defragment before insert
    features.insert(2, "label", label)
    return features


def _to_timestamps(us: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(us, unit="us", utc=True)).dt.as_unit("us")


def build_win_examples(tables: Mapping[str, pd.DataFrame], config: FeatureConfig,
                       as_of_end: pd.Timestamp) -> pd.DataFrame:
    """Win training examples: open-deal snapshots of deals closed before ``as_of_end``.

    Args:
        tables: canonical tables (opportunities, opportunity_stage_history, activities, leads).
        config: feature and snapshot settings.
        as_of_end: the data cut; deals not closed before it are excluded (censored).

    Returns:
        ``opportunity_id``, ``as_of``, ``label`` (1 won, 0 lost), then the opportunity features.
    """
    end = _cut_us(as_of_end)
    deals = tables["opportunities"]
    created = timestamps_to_us(deals["created_at"], "opportunities.created_at")
    rows, as_of = snapshot_times(created, config, end)
    closed = _stamps(deals, "closed_at", "opportunities", rows)
    outcome = deals["outcome"].astype("str").to_numpy()[rows]
    labelled = (closed != NAT_US) & (closed < end) & np.isin(outcome, ["won", "lost"])
    keep = labelled & (closed >= as_of)
    logger.info("win examples: %d snapshots of deals closed before the cut (of %d snapshots)",
                int(keep.sum()), len(rows))
    pairs = pd.DataFrame({"opportunity_id": deals["opportunity_id"].to_numpy()[rows[keep]],
                          "as_of": _to_timestamps(as_of[keep])})
    features = build_opportunity_features(tables, pairs, config).copy()  # defragment
    features.insert(2, "label", (outcome[keep] == "won").astype(np.int64))
    return features
