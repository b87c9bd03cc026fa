"""Opportunity (deal) features as of a time, for the win model.

A deal as it stood at ``as_of`` is rebuilt from ``opportunity_stage_history``: the latest row
with ``entered_at < as_of`` gives stage, amount and expected close date (rows with the same
``entered_at`` are ordered by stage name, so the choice is deterministic). The current columns
of ``opportunities`` are never read for state; only the attributes that have no history are
taken as they are: ``created_at``, ``account_id``, ``owner`` and ``product``. A deal with no
history row before ``as_of`` has unknown stage, amount and close date (NaN).

* days in stage: from the first row of the latest run of the current stage;
* stage regressions: moves to an earlier stage of ``FeatureConfig.stage_order`` (stages not in
  the list never count); stage changes and pushes of the expected close date to a later day;
* owner win rate: won / closed among the owner's deals with ``closed_at < as_of``;
* account activity and engaged contacts: the account roll-up of ``features.account``.

Scoring a deal at or before its ``created_at`` is an error, as for leads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.account import account_feature_defs, compute_account_rollup
from features.activities import prepare_activities
from features.config import FeatureConfig
from features.pointintime import (
    NAT_US,
    US_PER_DAY,
    EventIndex,
    assemble_feature_frame,
    build_event_index,
    lookup_rows,
    normalize_pairs,
    prefix_count,
    take_ids,
    timed,
    timestamps_to_us,
)
from features.registry import FeatureDef, FeatureRegistry

F = FeatureDef
OPPORTUNITY_FEATURES: tuple[FeatureDef, ...] = (
    F("opp_stage", "category", "actionable", "opportunity", "deal is in stage {value}",
      "商談ステージは{value}", "Stage as of as_of, rebuilt from the stage history."),
    F("opp_stage_rank", "int", "actionable", "opportunity", "deal is at pipeline step {value}",
      "パイプラインの{value}段階目", "1-based position of the stage in stage_order."),
    F("opp_days_in_stage", "float", "actionable", "opportunity",
      "{value} days in the current stage", "現ステージに{value}日滞留",
      "Days since the deal entered its current stage."),
    F("opp_age_days", "float", "fixed", "opportunity", "deal opened {value} days ago",
      "商談開始から{value}日", "Days from opportunities.created_at to as_of."),
    F("opp_amount", "float", "fixed", "opportunity", "deal amount is {value}",
      "商談金額は{value}", "Amount as of as_of (deal currency)."),
    F("opp_product", "category", "fixed", "opportunity", "product is {value}",
      "製品は{value}", "Product or plan of the deal."),
    F("opp_stage_regressions", "int", "actionable", "opportunity",
      "moved back to an earlier stage {value} times", "ステージが{value}回後退",
      "Moves to an earlier stage of stage_order before as_of."),
    F("opp_stage_changes", "int", "actionable", "opportunity",
      "changed stage {value} times", "ステージ変更{value}回",
      "Stage changes recorded before as_of."),
    F("opp_close_date_pushes", "int", "actionable", "opportunity",
      "expected close date pushed back {value} times", "受注予定日の延期{value}回",
      "Times the expected close date moved later before as_of."),
    F("opp_days_to_expected_close", "float", "actionable", "opportunity",
      "expected to close in {value} days", "受注予定日まで{value}日",
      "Days from as_of to the expected close date as of as_of (negative when overdue)."),
    F("owner_win_rate", "float", "fixed", "opportunity",
      "owner's win rate so far is {value}", "担当者の過去受注率は{value}",
      "Won / closed among the owner's deals closed before as_of (missing if none)."),
    F("owner_closed_deals", "int", "fixed", "opportunity",
      "owner has closed {value} deals so far", "担当者の過去クローズ商談{value}件",
      "Number of the owner's deals closed (won or lost) before as_of."),
)


def opportunity_feature_registry(config: FeatureConfig) -> FeatureRegistry:
    """Every win-model feature, in output column order."""
    return FeatureRegistry(list(OPPORTUNITY_FEATURES) + account_feature_defs(config))


def _stage_ranks(stages: pd.Index, stage_order: tuple[str, ...]) -> np.ndarray:
    """1-based rank of each stage name in ``stage_order`` (0 for stages not listed)."""
    return pd.Index(stage_order).get_indexer(stages).astype(np.int64) + 1


def _history_index(history: pd.DataFrame, opportunity_ids: pd.Index
                   ) -> tuple[EventIndex, pd.Index, np.ndarray]:
    """(index over history rows by deal, stage names, input row of each sorted row)."""
    codes = opportunity_ids.get_indexer(history["opportunity_id"]).astype(np.int64)
    keep = codes >= 0
    stage_codes, stages = pd.factorize(history["stage"], sort=True, use_na_sentinel=True)
    if (stage_codes < 0).any():
        raise ValueError("opportunity_stage_history.stage is missing in "
                         f"{int((stage_codes < 0).sum())} row(s)")
    times = timestamps_to_us(history["entered_at"], "opportunity_stage_history.entered_at")
    rows = np.flatnonzero(keep)
    index = build_event_index(codes[keep], times[keep], len(opportunity_ids),
                              stage_codes[keep].astype(np.int64), max(len(stages), 1),
                              keep_order=True)
    return index, pd.Index(stages), rows[index.order]


def _history_flags(index: EventIndex, ranks: np.ndarray,
                   close: np.ndarray) -> dict[str, np.ndarray]:
    """Per sorted history row: stage run start, and prefix counts of changes/regressions/pushes."""
    same_deal = np.zeros(len(index), dtype=bool)
    same_deal[1:] = index.codes[1:] == index.codes[:-1]
    stage_rank = ranks[index.kinds]
    previous_rank = np.roll(stage_rank, 1)
    changed = same_deal & (index.kinds != np.roll(index.kinds, 1))
    regressed = changed & (stage_rank > 0) & (previous_rank > 0) & (stage_rank < previous_rank)
    previous_close = np.roll(close, 1)
    pushed = same_deal & (close != NAT_US) & (previous_close != NAT_US) & (close > previous_close)
    run_start = np.maximum.accumulate(np.where(~same_deal | changed, np.arange(len(index)), 0))
    return {"entered": index.times[run_start] if len(index) else index.times,
            "changes": prefix_count(changed), "regressions": prefix_count(regressed),
            "pushes": prefix_count(pushed)}


def _state_features(tables: dict[str, pd.DataFrame], deal_codes: np.ndarray,
                    as_of: np.ndarray, config: FeatureConfig) -> dict[str, object]:
    """Stage, amount, close date and their history counts as of each query."""
    opportunity_ids = pd.Index(tables["opportunities"]["opportunity_id"])
    history = tables["opportunity_stage_history"]
    index, stages, source_rows = _history_index(history, opportunity_ids)
    close = timestamps_to_us(history["expected_close_date"],
                             "opportunity_stage_history.expected_close_date")[source_rows]
    amount = history["amount"].to_numpy(np.float64, na_value=np.nan)[source_rows]
    ranks = _stage_ranks(stages, config.stage_order)
    flags = _history_flags(index, ranks, close)
    start, hi = index.starts_of(deal_codes), index.positions(deal_codes, as_of)
    known = hi > start
    last = np.maximum(hi - 1, 0)

    def latest(values: np.ndarray, missing: object) -> np.ndarray:
        """Value of the latest history row before as_of, ``missing`` where there is none."""
        if len(values) == 0:
            return np.full(len(hi), missing, dtype=np.asarray(missing).dtype)
        return np.where(known, values[last], missing)

    stage_rank = latest(ranks[index.kinds], 0)
    close_last = latest(close, NAT_US)
    return {
        "opp_stage": _stage_categorical(latest(index.kinds, -1), stages, config.stage_order),
        "opp_stage_rank": np.where(stage_rank > 0, stage_rank, np.nan),
        "opp_days_in_stage": np.where(known, (as_of - latest(flags["entered"], 0)) / US_PER_DAY,
                                      np.nan),
        "opp_amount": latest(amount, np.nan),
        "opp_stage_regressions": flags["regressions"][hi] - flags["regressions"][start],
        "opp_stage_changes": flags["changes"][hi] - flags["changes"][start],
        "opp_close_date_pushes": flags["pushes"][hi] - flags["pushes"][start],
        "opp_days_to_expected_close": np.where(close_last != NAT_US,
                                               (close_last - as_of) / US_PER_DAY, np.nan),
    }


def _stage_categorical(stage_code: np.ndarray, stages: pd.Index,
                       stage_order: tuple[str, ...]) -> pd.Categorical:
    names = np.asarray(stages.astype(object).tolist() + [None], dtype=object)[stage_code]
    extra = sorted(set(stages) - set(stage_order))
    return pd.Categorical(names, categories=list(stage_order) + extra)


def _owner_features(opportunities: pd.DataFrame, rows: np.ndarray,
                    as_of: np.ndarray) -> dict[str, np.ndarray]:
    """Owner's won / closed among deals closed strictly before each query's as_of."""
    closed_at = timestamps_to_us(opportunities["closed_at"], "opportunities.closed_at")
    outcome = opportunities["outcome"].astype("str")
    closed = ((closed_at != NAT_US) & outcome.isin(["won", "lost"]).to_numpy()
              & opportunities["owner"].notna().to_numpy())
    owner_codes, owners = pd.factorize(opportunities["owner"][closed])
    index = build_event_index(owner_codes.astype(np.int64), closed_at[closed], len(owners),
                              (outcome[closed] == "won").to_numpy().astype(np.int8), 2)
    pair_owner = take_ids(opportunities["owner"], rows)
    codes = pd.Index(owners).get_indexer(pair_owner).astype(np.int64)
    start, hi = index.starts_of(codes), index.positions(codes, as_of)
    won = prefix_count(index.kinds == 1)
    n_closed = (hi - start).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n_closed > 0, (won[hi] - won[start]) / n_closed, np.nan)
    has_owner = pair_owner.notna().to_numpy()
    return {"owner_win_rate": np.where(has_owner, rate, np.nan),
            "owner_closed_deals": np.where(has_owner, n_closed, np.nan)}


def build_opportunity_features(tables: dict[str, pd.DataFrame], pairs: pd.DataFrame,
                               config: FeatureConfig) -> pd.DataFrame:
    """Win-model features of each ``(opportunity_id, as_of)`` pair, point in time.

    Args:
        tables: canonical tables (opportunities, opportunity_stage_history, activities, leads).
        pairs: ``opportunity_id`` and timezone-aware ``as_of``.
        config: ``features.config.FeatureConfig`` (windows, stage order, weights).

    Returns:
        One row per pair, pair order: ``opportunity_id``, ``as_of``, then
        ``opportunity_feature_registry(config).names`` (float64, categories for stage/product).
    """
    pairs = normalize_pairs(pairs, "opportunity_id")
    opportunities = tables["opportunities"]
    rows = lookup_rows(opportunities, pairs, "opportunity_id", "opportunities")
    as_of = timestamps_to_us(pairs["as_of"], "pairs.as_of")
    deal_codes = rows.astype(np.int64)
    with timed("opportunity.state"):
        out = _state_features(tables, deal_codes, as_of, config)
    created = timestamps_to_us(opportunities["created_at"], "opportunities.created_at")[rows]
    out["opp_age_days"] = (as_of - created) / US_PER_DAY
    product = take_ids(opportunities["product"], rows)
    out["opp_product"] = pd.Categorical(product, categories=sorted(product.dropna().unique()))
    with timed("opportunity.owner"):
        out.update(_owner_features(opportunities, rows, as_of))
    with timed("opportunity.account"):
        out.update(_account_features(tables, opportunities, rows, as_of, config))
    return assemble_feature_frame(pairs, out, opportunity_feature_registry(config),
                                  "opportunity_id")


def _account_features(tables: dict[str, pd.DataFrame], opportunities: pd.DataFrame,
                      rows: np.ndarray, as_of: np.ndarray,
                      config: FeatureConfig) -> dict[str, np.ndarray]:
    prepared = prepare_activities(tables["activities"], tables.get("leads"))
    accounts = take_ids(opportunities["account_id"], rows)
    codes = prepared.account_ids.get_indexer(accounts).astype(np.int64)
    return compute_account_rollup(prepared, codes, accounts.notna().to_numpy(), as_of, config)
