"""Batch scoring of every lead with reasons on Dask: the local engine per account partition.

The local engine is ``serving.batch.score_pairs`` (features, then the service's answer for
them: calibrated probability, 1-99 score, grade, action, top reasons; the rules when no model
is active). ``score_tables`` applies it to every lead created before ``as_of``;
``score_partitions`` runs ``score_tables`` on each account partition (``scale.partitions``) and
``write_partitioned_scores`` stores the result as one file per partition, gathered nowhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import dask
import dask.dataframe as dd
import pandas as pd

from scale.partitions import AccountPartitions, map_account_partitions
from serving.batch import score_pairs, select_pairs
from serving.scorer import ActiveModels, LeadScorer

logger = logging.getLogger(__name__)

# One schema for every partition's answers (an empty partition, or one the rules answered
# without a model version, would otherwise infer other dtypes than its neighbours).
SCORE_DTYPES = {"lead_id": "str", "as_of": "datetime64[us, UTC]", "probability": "Float64",
                "score": "int64", "grade": "str", "action": "str", "source": "str",
                "model_version": "str", "reasons_up": "str", "reasons_down": "str",
                "reasons_context": "str", "warnings": "str"}

def scorer_for(active: ActiveModels) -> LeadScorer:
    """A scorer that answers like ``active`` (its lead model, or its rules and why)."""
    rule_set = active.rules["sql"]
    scorer = LeadScorer(rule_set.rules, rules_source=rule_set.source)
    if active.sql is not None:
        scorer.swap(active.sql)
    else:
        scorer.use_rules("sql", active.fallback.get("sql") or "no_champion", rule_set)
    return scorer


def score_tables(tables: Mapping[str, pd.DataFrame], active: ActiveModels,
                 as_of: pd.Timestamp, language: str = "en", top_k: int = 3,
                 explain: bool = True) -> pd.DataFrame:
    """Every lead created before ``as_of`` scored as the service would score it then
    (``serving.batch.select_pairs`` and ``score_pairs``: the local engine).

    Args:
        tables: canonical leads, activities and accounts.
        active: the model (or rules) to answer with, e.g. a ``LeadScorer``'s ``active``.
        as_of: timezone-aware scoring time.
        language / top_k / explain: the reasons' language (``en``, ``ja``), how many each way,
            and whether to explain at all.

    Returns:
        One row per lead (``serving.batch.SCORE_COLUMNS``, typed as ``SCORE_DTYPES``).
    """
    pairs = select_pairs(tables["leads"], as_of)
    scores = score_pairs(tables, pairs, scorer_for(active), language=language, top_k=top_k,
                         explain=explain)
    return scores.astype({name: SCORE_DTYPES.get(name, dtype)
                          for name, dtype in scores.dtypes.items()})


def score_partitions(parts: AccountPartitions, active: ActiveModels, as_of: pd.Timestamp,
                     language: str = "en", top_k: int = 3, explain: bool = True
                     ) -> dd.DataFrame:
    """``score_tables`` on every account partition (lazy). The model travels to the workers
    once (one task holds it), not once per partition."""
    return map_account_partitions(score_tables, parts, active=dask.delayed(active, pure=True),
                                  as_of=as_of, language=language, top_k=top_k,
                                  explain=explain)


def write_partitioned_scores(scores: dd.DataFrame, directory: Path | str, fmt: str = "parquet"):
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
