"""Dask engine = local engine, on a 2-worker LocalCluster and generated data.

Features (exactly, dtypes and categories included) and SQL training examples from Parquet
part files cut at random — so a company's leads and activities sit in different files — and
from the SQLite store read in key ranges; batch scores with reasons written as partitioned
Parquet equal the local path's to 1e-9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from features.config import FeatureConfig
from features.leads import lead_feature_registry
from features.training_sets import build_sql_examples
from scale.cluster import open_client
from scale.features import build_lead_features_at, build_lead_features_dask, build_sql_examples_dask
from scale.inputs import read_parquet_tables, read_store_tables
from scale.partitions import collect_frame, partition_by_account
from scale.scoring import score_partitions, score_tables, write_partitioned_scores
from serving.scorer import LeadScorer, prepare_model
from training.rules import load_rules
from training.split import split_by_time
from training.train import TrainConfig, fit_bundle

pytestmark = pytest.mark.slow

AS_OF_END = pd.Timestamp("2026-10-31T23:59:59Z")
AS_OFS = [pd.Timestamp("2025-09-01T00:00:00Z"), pd.Timestamp("2026-11-01T00:00:00Z")]
PARTITIONS = 5


@pytest.fixture(scope="module")
def crm() -> dict[str, pd.DataFrame]:
    tables, _ = generate_crm(GeneratorConfig(n_leads=700, seed=19))
    return {name: tables[name] for name in ("leads", "activities", "accounts")}


@pytest.fixture(scope="module")
def client():
    with open_client(n_workers=2, threads_per_worker=1, memory_limit="1GiB") as client:
        yield client


@pytest.fixture(scope="module")
def part_files(crm, tmp_path_factory) -> Path:
    """leads/ and activities/ as two part files each, rows shuffled; accounts.parquet."""
    directory = tmp_path_factory.mktemp("parts")
    for name in ("leads", "activities"):
        (directory / name).mkdir()
        shuffled = crm[name].sample(frac=1.0, random_state=3).reset_index(drop=True)
        half = len(shuffled) // 2
        shuffled.iloc[:half].to_parquet(directory / name / "part-0.parquet", index=False)
        shuffled.iloc[half:].to_parquet(directory / name / "part-1.parquet", index=False)
    crm["accounts"].to_parquet(directory / "accounts.parquet", index=False)
    return directory


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def test_an_account_is_split_across_the_input_files(part_files) -> None:
    first, second = (pd.read_parquet(part_files / "leads" / f"part-{i}.parquet")
                     for i in (0, 1))
    both = set(first["account_id"].dropna()) & set(second["account_id"].dropna())
    assert len(both) >= 10  # the boundary case below is really exercised


def test_features_on_dask_equal_the_local_path_exactly(crm, client, part_files) -> None:
    config = FeatureConfig()
    local = build_lead_features_at(crm, AS_OFS, config)
    parts = partition_by_account(read_parquet_tables(part_files), PARTITIONS)
    distributed = collect_frame(build_lead_features_dask(parts, AS_OFS, config), client)
    keys = ["as_of", "lead_id"]
    assert len(local) > 500
    assert list(distributed.columns) == ["lead_id", "as_of", *lead_feature_registry(config).names]
    pd.testing.assert_frame_equal(_sorted(distributed, keys), _sorted(local, keys),
                                  check_exact=True)


def test_sql_examples_from_the_store_read_in_ranges_equal_the_local_path(crm, client,
                                                                         tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    CRMStore(url).write_tables(crm)
    config = FeatureConfig()
    local = build_sql_examples(crm, config, AS_OF_END)
    tables = read_store_tables(url, rows_per_partition=4_000)
    assert tables["activities"].npartitions > 1
    parts = partition_by_account(tables, 3)
    distributed = collect_frame(build_sql_examples_dask(parts, config, AS_OF_END), client)
    keys = ["lead_id", "as_of"]
    assert local["label"].sum() > 10
    pd.testing.assert_frame_equal(_sorted(distributed, keys), _sorted(local, keys),
                                  check_exact=True)


@pytest.fixture(scope="module")
def active(crm):
    config = FeatureConfig()
    examples = build_sql_examples(crm, config, AS_OF_END)
    train = TrainConfig(make_plots=False, min_positives=5, min_negatives=5,
                        candidates=TrainConfig().candidates[:1])
    split = split_by_time(examples, "as_of", train.split_fractions, entity_col="lead_id")
    bundle = fit_bundle(split, lead_feature_registry(config), train)
    bundle.feature_config = config.to_dict()
    scorer = LeadScorer(load_rules())
    scorer.swap(prepare_model("sql", "leadscore-sql", "1", bundle))
    return scorer.active


def test_batch_scores_on_dask_equal_the_local_path(crm, client, part_files, active,
                                                   tmp_path) -> None:
    as_of = AS_OFS[1]
    local = score_tables(crm, active, as_of, language="ja", top_k=2)
    parts = partition_by_account(read_parquet_tables(part_files), PARTITIONS)
    out = tmp_path / "scores"
    write_partitioned_scores(score_partitions(parts, active, as_of, language="ja", top_k=2),
                             out).compute()
    assert len(list(out.glob("*.parquet"))) == PARTITIONS
    distributed = _sorted(pd.read_parquet(out), ["lead_id"])
    local = _sorted(local, ["lead_id"])
    assert len(local) == len(crm["leads"]) and (local["source"] == "model").all()
    assert local["reasons_up"].str.len().gt(0).mean() > 0.9
    np.testing.assert_allclose(distributed["probability"].astype(float),
                               local["probability"].astype(float), rtol=0, atol=1e-9)
    pd.testing.assert_frame_equal(distributed.drop(columns="probability"),
                                  local.drop(columns="probability"), check_exact=True)
