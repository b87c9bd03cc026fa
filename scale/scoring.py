"""Batch scoring of every lead with reasons: locally, or per account partition on Dask.

``score_tables`` is the whole job on pandas tables: every lead created before ``as_of`` gets
its features (``features.leads.build_lead_features``) and the service's answer for them
(``serving.scorer.LeadScorer.score_feature_frame``: calibrated probability, 1-99 score, grade,
action, top reasons; the rules when no model is active), flattened to one row per lead
(``answers_frame``). ``score_partitions`` runs the same function on each account partition
(``scale.partitions``) and ``write_scores`` stores the result as partitioned Parquet, one file
per partition, without gathering it anywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from features.leads import build_lead_features
from scale.features import lead_pairs
from scale.partitions import AccountPartitions, map_account_partitions
from serving.schemas import ReasonOut, ScoreResponse
from serving.scorer import ActiveModels, LeadScorer

logger = logging.getLogger(__name__)

REASON_SEPARATOR = "; "


def scorer_for(active: ActiveModels) -> LeadScorer:
    """A scorer that answers like ``active`` (its lead model, or its rules and why)."""
    rule_set = active.rules["sql"]
    scorer = LeadScorer(rule_set.rules, rules_source=rule_set.source)
    if active.sql is not None:
        scorer.swap(active.sql)
    else:
        scorer.use_rules("sql", active.fallback.get("sql") or "no_champion", rule_set)
    return scorer


def _reason_text(reasons: Sequence[ReasonOut]) -> str:
    return REASON_SEPARATOR.join(reason.text for reason in reasons)


def answers_frame(answers: Sequence[ScoreResponse]) -> pd.DataFrame:
    """One row per answer: ``lead_id``, ``as_of``, ``probability`` (NaN from the rules),
    ``score``, ``grade``, ``action``, ``source``, ``model_version``, the reasons up and down
    (texts joined by ``"; "``) with their feature names, and ``warnings``."""
    def text(values: list) -> pd.Series:
        return pd.Series(values, dtype="str")

    return pd.DataFrame({
        "lead_id": text([a.lead_id for a in answers]),
        "as_of": pd.Series(pd.to_datetime([a.as_of for a in answers], utc=True),
                           dtype="datetime64[us, UTC]"),
        "probability": np.array([np.nan if a.probability is None else a.probability
                                 for a in answers], dtype=np.float64),
        "score": np.array([a.score for a in answers], dtype=np.int64),
        "grade": text([a.grade for a in answers]),
        "action": text([a.action for a in answers]),
        "source": text([a.source for a in answers]),
        "model_version": text([a.model.version if a.model else None for a in answers]),
        "reasons_positive": text([_reason_text(a.reasons.positive) for a in answers]),
        "reasons_negative": text([_reason_text(a.reasons.negative) for a in answers]),
        "reason_features": text([",".join(r.feature for r in a.reasons.positive
                                          + a.reasons.negative) for a in answers]),
        "warnings": text([REASON_SEPARATOR.join(a.warnings) for a in answers]),
    })


def score_tables(tables: Mapping[str, pd.DataFrame], active: ActiveModels,
                 as_of: pd.Timestamp, language: str = "en", top_k: int = 3) -> pd.DataFrame:
    """Every lead created before ``as_of`` scored as the service would score it then.

    Args:
        tables: canonical leads, activities and accounts.
        active: the model (or rules) to answer with, e.g. a ``LeadScorer``'s ``active``.
        as_of: timezone-aware scoring time.
        language / top_k: the reasons' language (``en``, ``ja``) and how many each way.

    Returns:
        ``answers_frame`` of the leads, in lead order.
    """
    scorer = scorer_for(active)
    pairs = lead_pairs(tables["leads"], [as_of])
    features = build_lead_features(tables, pairs, scorer.feature_config)
    if features.empty:
        return answers_frame([])
    return answers_frame(scorer.score_feature_frame(features, language, top_k))


def score_partitions(parts: AccountPartitions, active: ActiveModels, as_of: pd.Timestamp,
                     language: str = "en", top_k: int = 3) -> dd.DataFrame:
    """``score_tables`` on every account partition (lazy). The model travels to the workers
    once (one task holds it), not once per partition."""
    return map_account_partitions(score_tables, parts, active=dask.delayed(active, pure=True),
                                  as_of=as_of, language=language, top_k=top_k)


def write_scores(scores: dd.DataFrame, directory: Path | str, fmt: str = "parquet"):
    """A lazy write of ``scores`` as one file per partition in ``directory`` (``part.N.parquet``
    or ``part-N.csv``); compute the returned object to run it.

    Raises:
        ValueError: a format other than parquet or csv.
    """
    directory = Path(directory)
    if fmt == "parquet":
        return scores.to_parquet(str(directory), write_index=False, compute=False)
    if fmt == "csv":
        directory.mkdir(parents=True, exist_ok=True)
        return scores.to_csv(str(directory / "part-*.csv"), index=False, compute=False)
    raise ValueError(f"format must be parquet or csv, not {fmt!r}")
