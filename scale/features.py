"""Lead features and SQL training examples on Dask: the local functions per account partition.

``build_lead_features_dask`` and ``build_sql_examples_dask`` call
``features.leads.build_lead_features`` and ``features.training_sets.build_sql_examples`` on each
partition of ``scale.partitions.partition_by_account``; the rows are those of the local call
on the whole tables (in another order), with identical values.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import dask.dataframe as dd
import pandas as pd

from features.config import FeatureConfig
from features.leads import build_lead_features
from features.pointintime import timestamps_to_us
from features.training_sets import build_sql_examples
from scale.partitions import AccountPartitions, map_account_partitions

Tables = Mapping[str, pd.DataFrame]


def lead_pairs(leads: pd.DataFrame, as_ofs: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """``(lead_id, as_of)`` of every lead at each ``as_of`` it existed at (created strictly
    before it), as of-time then lead order.

    Raises:
        ValueError: a naive ``as_of``.
    """
    created = timestamps_to_us(leads["created_at"], "leads.created_at")
    frames = []
    for as_of in as_ofs:
        stamp = pd.Timestamp(as_of)
        if stamp.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware, got {as_of!r}")
        stamp = stamp.tz_convert("UTC").as_unit("us")
        ids = leads["lead_id"][created < stamp.value // 1000]
        frames.append(pd.DataFrame({"lead_id": ids.astype("str").to_numpy(),
                                    "as_of": pd.Series([stamp] * len(ids),
                                                       dtype="datetime64[us, UTC]")}))
    if not frames:
        return pd.DataFrame({"lead_id": pd.Series(dtype="str"),
                             "as_of": pd.Series(dtype="datetime64[us, UTC]")})
    return pd.concat(frames, ignore_index=True)


def build_lead_features_at(tables: Tables, as_ofs: Sequence[pd.Timestamp],
                           config: FeatureConfig) -> pd.DataFrame:
    """Features of every lead at each of ``as_ofs`` (``lead_pairs``), from pandas tables: the
    local path, and the work of one partition on Dask."""
    return build_lead_features(tables, lead_pairs(tables["leads"], as_ofs), config)


def build_lead_features_dask(parts: AccountPartitions, as_ofs: Sequence[pd.Timestamp],
                             config: FeatureConfig) -> dd.DataFrame:
    """``build_lead_features_at`` over the account partitions (lazy; one row per pair)."""
    return map_account_partitions(build_lead_features_at, parts, as_ofs=list(as_ofs),
                                  config=config)


def build_sql_examples_dask(parts: AccountPartitions, config: FeatureConfig,
                            as_of_end: pd.Timestamp) -> dd.DataFrame:
    """``features.training_sets.build_sql_examples`` over the account partitions (lazy)."""
    return map_account_partitions(build_sql_examples, parts, config=config,
                                  as_of_end=as_of_end)
