"""The canonical tables as Dask DataFrames: from Parquet files or from the SQL store.

* ``read_parquet_tables(directory)`` — ``<table>.parquet`` as ``leadscore export`` writes it, or
  a folder ``<table>/`` of part files (any cut: by date, by source system, ...), one Dask
  partition per file or row group;
* ``read_store_tables(url)`` — each table read in key ranges (``LIMIT``/``OFFSET`` over the
  primary key), one range per partition, so no process holds a whole table.

The partitions keep the input's cut; ``scale.partitions.partition_by_account`` regroups them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import dask
import dask.dataframe as dd
import pandas as pd
import sqlalchemy as sa

from crm import schema
from crm.store import CRMStore
from scale.partitions import LEAD_TABLES

logger = logging.getLogger(__name__)

DaskTables = dict[str, dd.DataFrame]


def parquet_source(directory: Path, table: str) -> Path | None:
    """``directory/<table>.parquet`` or the folder ``directory/<table>/``; None when absent."""
    for path in (directory / f"{table}.parquet", directory / table):
        if path.exists():
            return path
    return None


def read_parquet_tables(directory: Path | str, tables: Iterable[str] = LEAD_TABLES
                        ) -> DaskTables:
    """Dask DataFrames of the canonical ``tables`` found in ``directory``.

    Raises:
        FileNotFoundError: no leads file or folder in ``directory``.
        ValueError: a file lacking a canonical column, naming table and column.
    """
    directory = Path(directory)
    out: DaskTables = {}
    for table in tables:
        source = parquet_source(directory, table)
        if source is None:
            continue
        frame = dd.read_parquet(str(source))
        missing = [c for c in schema.empty_frame(table).columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{source}: table {table} is missing column(s) {missing}")
        out[table] = frame
    if "leads" not in out:
        raise FileNotFoundError(f"no leads.parquet or leads/ folder in {directory}")
    return out


def _read_range(url: str, table: str, offset: int, limit: int) -> pd.DataFrame:
    store = CRMStore(url)
    sql_table = store.table(table)
    key = [sql_table.c[name] for name in schema.table_spec(table).key]
    keys = sa.select(*key).order_by(*key).offset(offset).limit(limit)
    if len(key) == 1:
        return store.read_table(table, key[0].in_(keys.scalar_subquery()))
    return store.read_table(table, sa.tuple_(*key).in_(keys))


def read_store_tables(url: str, rows_per_partition: int = 500_000,
                      tables: Iterable[str] = LEAD_TABLES) -> DaskTables:
    """Dask DataFrames of the canonical ``tables`` of the store at ``url``, each partition a
    key range of at most ``rows_per_partition`` rows read by a worker.

    Raises:
        ValueError: ``rows_per_partition`` below 1.
    """
    if rows_per_partition < 1:
        raise ValueError(f"rows_per_partition must be at least 1, got {rows_per_partition}")
    counts = CRMStore(url).count_rows()
    out: DaskTables = {}
    for table in tables:
        starts = range(0, max(counts[table], 1), rows_per_partition)
        parts = [dask.delayed(_read_range)(url, table, start, rows_per_partition)
                 for start in starts]
        out[table] = dd.from_delayed(parts, meta=schema.empty_frame(table), verify_meta=False)
        logger.info("store table %s: %d rows in %d partition(s)", table, counts[table],
                    len(parts))
    return out
