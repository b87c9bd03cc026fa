"""The canonical tables split by account, and a pandas function run on each partition.

``partition_by_account`` gives every company one bucket (a stable hash of its ``account_id``;
a lead without a company: of its ``lead_id``) and moves each table's rows to their bucket:

* leads — to their company's bucket;
* accounts — to their own bucket;
* activities — to the bucket of the activity's company (``activities.account_id``) **and** to
  the bucket of its lead, when the two differ (the lead's behaviour counts the activity, the
  company's roll-up counts it too); activities with neither a known lead nor a company touch
  no feature and are dropped.

So a company's leads, their activities and the company's row always meet in one partition,
however the input files were cut, and each partition is a complete, smaller CRM for
``features.leads.build_lead_features``: the same kernels give the same numbers, point in time
included. ``map_account_partitions`` runs such a function on every partition;
``collect_frame`` gathers a result with the categories the local path would have given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.dataframe.utils import clear_known_categories
from dask.delayed import Delayed
from distributed import Client

from crm.schema import empty_frame

logger = logging.getLogger(__name__)

PARTITION = "_partition"
LEAD_TABLES = ("leads", "activities", "accounts")
PartitionFunction = Callable[..., pd.DataFrame]


@dataclass(frozen=True)
class AccountPartitions:
    """Leads, activities and accounts cut into the same ``npartitions`` account buckets
    (indexed by bucket number; partition *i* of each table holds bucket *i*)."""

    leads: dd.DataFrame
    activities: dd.DataFrame
    accounts: dd.DataFrame

    @property
    def npartitions(self) -> int:
        return self.leads.npartitions

    def persist(self) -> "AccountPartitions":
        """The same partitions held in the cluster's memory (shuffled once, reused)."""
        leads, activities, accounts = (table.persist() for table in
                                       (self.leads, self.activities, self.accounts))
        return AccountPartitions(leads, activities, accounts)


def bucket_of(ids: pd.Series, npartitions: int) -> np.ndarray:
    """Bucket 0..npartitions-1 of each id: a stable hash, the same in every process and run.

    Raises:
        ValueError: a missing id.
    """
    values = ids.astype("str")
    if values.isna().any():
        raise ValueError(f"{ids.name} has {int(values.isna().sum())} missing value(s): "
                         "cannot place them in a partition")
    hashed = pd.util.hash_array(values.to_numpy(dtype=object))
    return (hashed % np.uint64(npartitions)).astype(np.int64)


def _lead_buckets(leads: pd.DataFrame, npartitions: int) -> pd.DataFrame:
    company = leads["account_id"].astype("str").fillna(leads["lead_id"].astype("str"))
    return leads.assign(**{PARTITION: bucket_of(company, npartitions)})


def _account_buckets(accounts: pd.DataFrame, npartitions: int) -> pd.DataFrame:
    return accounts.assign(**{PARTITION: bucket_of(accounts["account_id"], npartitions)})


def _activity_copies(activities: pd.DataFrame, npartitions: int) -> pd.DataFrame:
    """Each activity once per bucket it matters to (its company's, its lead's)."""
    lead_bucket = activities.pop(f"lead{PARTITION}")
    own = activities["account_id"].notna().to_numpy()
    company_bucket = np.full(len(activities), -1, dtype=np.int64)
    company_bucket[own] = bucket_of(activities["account_id"][own], npartitions)
    of_lead = lead_bucket.notna().to_numpy()
    lead_bucket = lead_bucket.fillna(-1).to_numpy(dtype=np.int64)
    second = of_lead & (lead_bucket != company_bucket)
    return pd.concat([activities[own].assign(**{PARTITION: company_bucket[own]}),
                      activities[second].assign(**{PARTITION: lead_bucket[second]})],
                     ignore_index=True)


def _bucket_meta(meta: pd.DataFrame) -> pd.DataFrame:
    return meta.assign(**{PARTITION: np.zeros(0, dtype=np.int64)})


def _with_buckets(frame: dd.DataFrame, function: Callable, npartitions: int) -> dd.DataFrame:
    return frame.map_partitions(function, npartitions, meta=_bucket_meta(frame._meta))


def _by_bucket(frame: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    divisions = [*range(npartitions), npartitions - 1]
    return frame.set_index(PARTITION, divisions=divisions)


def partition_by_account(tables: Mapping[str, dd.DataFrame], npartitions: int
                         ) -> AccountPartitions:
    """Cut leads, activities and accounts into ``npartitions`` account buckets (lazy).

    Args:
        tables: Dask DataFrames of ``leads``, ``activities`` and ``accounts`` in canonical
            columns (any partitioning, e.g. one per input file); a missing activities or
            accounts table counts as empty.
        npartitions: number of buckets (a few per worker, each small enough for one worker).

    Raises:
        ValueError: ``npartitions`` below 1, or no leads table.
    """
    if npartitions < 1:
        raise ValueError(f"npartitions must be at least 1, got {npartitions}")
    if "leads" not in tables:
        raise ValueError("partition_by_account needs a leads table")
    leads = _with_buckets(tables["leads"], _lead_buckets, npartitions)
    accounts = _with_buckets(_table(tables, "accounts"), _account_buckets, npartitions)
    lead_buckets = leads[["lead_id", PARTITION]].rename(
        columns={PARTITION: f"lead{PARTITION}"})
    activities = _table(tables, "activities").merge(lead_buckets, on="lead_id", how="left",
                                                    broadcast=True)  # activities stay put
    activities = activities.map_partitions(
        _activity_copies, npartitions,
        meta=_bucket_meta(activities._meta.drop(columns=f"lead{PARTITION}")))
    return AccountPartitions(*(_by_bucket(table, npartitions)
                               for table in (leads, activities, accounts)))


def _table(tables: Mapping[str, dd.DataFrame], name: str) -> dd.DataFrame:
    if name in tables:
        return tables[name]
    return dd.from_pandas(empty_frame(name), npartitions=1)


def canonical_frame(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """A partition as a canonical frame: the schema's dtypes (Dask reads text as Arrow
    strings with ``NA``), a fresh RangeIndex, no bucket column."""
    frame = frame.reset_index(drop=True)
    if PARTITION in frame.columns:
        frame = frame.drop(columns=PARTITION)
    dtypes = empty_frame(table).dtypes
    changed = {name: dtype for name, dtype in dtypes.items()
               if name in frame.columns and frame[name].dtype != dtype}
    return frame.astype(changed) if changed else frame


def _apply(leads: pd.DataFrame, activities: pd.DataFrame, accounts: pd.DataFrame, *,
           function: PartitionFunction, **arguments: Any) -> pd.DataFrame:
    tables = {name: canonical_frame(frame, name)
              for name, frame in zip(LEAD_TABLES, (leads, activities, accounts))}
    return function(tables, **arguments)


def map_account_partitions(function: PartitionFunction, parts: AccountPartitions,
                           **arguments: Any) -> dd.DataFrame:
    """``function(tables, **arguments)`` on every account partition, as one Dask DataFrame.

    Args:
        function: takes ``{"leads", "activities", "accounts"}`` canonical frames (one
            partition) and returns a frame; it must accept empty tables (its output on them
            is the result's metadata).
        parts: from ``partition_by_account``.
        arguments: passed on to ``function`` (Dask ``Delayed`` values are computed first, once).
    """
    empty = {name: empty_frame(name) for name in LEAD_TABLES}
    meta = function(empty, **{name: _local_value(value) for name, value in arguments.items()})
    return dd.map_partitions(_apply, parts.leads, parts.activities, parts.accounts,
                             function=function, meta=clear_known_categories(meta),
                             enforce_metadata=False, align_dataframes=False, **arguments)


def _local_value(value: Any) -> Any:
    return value.compute(scheduler="sync") if isinstance(value, Delayed) else value


def unify_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Give a categorical column the same categories in every frame: unchanged where all
    frames agree (fixed levels), else the sorted union (the local path's observed levels)."""
    if not frames:
        return frames
    columns = [c for c in frames[0].columns
               if isinstance(frames[0][c].dtype, pd.CategoricalDtype)]
    out = [frame.copy(deep=False) for frame in frames]
    for column in columns:
        dtypes = [frame[column].dtype for frame in frames]
        if all(dtype == dtypes[0] for dtype in dtypes):
            continue
        levels = sorted(set().union(*(dtype.categories for dtype in dtypes)))
        unified = pd.CategoricalDtype(levels, ordered=dtypes[0].ordered)
        for frame in out:
            frame[column] = frame[column].astype(unified)
    return out


def collect_frame(result: dd.DataFrame, client: Client) -> pd.DataFrame:
    """A Dask result gathered into one pandas frame (categories unified, RangeIndex)."""
    frames = client.gather(client.compute(result.to_delayed()))
    frames = unify_categories([frame for frame in frames])
    return pd.concat(frames, ignore_index=True)
