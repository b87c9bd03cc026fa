"""`leadscore score --engine dask` end to end: the store read in key ranges on a LocalCluster,
one Parquet file per account partition, the same answers as `--engine local` (here the rules:
no model is registered)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from leadscore.cli import app
from scale.scoring import SCORE_DTYPES

pytestmark = pytest.mark.slow


def test_dask_scoring_writes_partitioned_parquet_equal_to_the_local_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    tables, _ = generate_crm(GeneratorConfig(n_leads=400, seed=8))
    CRMStore(url).write_tables(tables)
    monkeypatch.setenv("LEADSCORE_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    common = ["score", "--db", url, "--as-of", "2026-10-01T00:00:00Z", "--language", "ja"]
    local = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "local.parquet")])
    assert local.exit_code == 0, local.output
    distributed = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "dask.parquet"),
                                           "--engine", "dask", "--workers", "1",
                                           "--partitions", "3"])
    assert distributed.exit_code == 0, distributed.output
    assert "3 account partitions scored" in distributed.output
    assert len(list((tmp_path / "dask.parquet").glob("*.parquet"))) == 3
    expected, got = (pd.read_parquet(tmp_path / name).astype(SCORE_DTYPES).sort_values("lead_id")
                     for name in ("local.parquet", "dask.parquet"))  # None model_version: NaN
    assert len(expected) > 300 and (expected["source"] == "rules").all()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
