"""The store read in key ranges (scale.inputs.read_store_tables): every row once, canonical
dtypes, on SQLite and on PostgreSQL (Dask's in-process scheduler; no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import dask
import pandas as pd
import pytest

from crm.sample import GeneratorConfig, generate_crm
from crm.schema import table_spec
from crm.store import CRMStore
from scale.inputs import read_store_tables

TABLES = ("leads", "activities", "accounts")


def _check_ranges_cover_the_store(url: str) -> None:
    tables, _ = generate_crm(GeneratorConfig(n_leads=300, seed=4))
    CRMStore(url).write_tables({name: tables[name] for name in TABLES})
    distributed = read_store_tables(url, rows_per_partition=1_000)
    assert distributed["activities"].npartitions > 3
    for name in TABLES:
        key = list(table_spec(name).key)
        with dask.config.set(scheduler="sync"):
            got = distributed[name].compute()
        expected = CRMStore(url).read_table(name)
        pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                      expected.sort_values(key).reset_index(drop=True))


def test_sqlite_store_read_in_key_ranges(tmp_path: Path) -> None:
    _check_ranges_cover_the_store(f"sqlite:///{tmp_path / 'crm.db'}")


@pytest.mark.postgres
def test_postgres_store_read_in_key_ranges(fresh_postgres_url: str) -> None:
    _check_ranges_cover_the_store(fresh_postgres_url)


def test_rows_per_partition_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows_per_partition must be at least 1, got 0"):
        read_store_tables(f"sqlite:///{tmp_path / 'crm.db'}", rows_per_partition=0)
