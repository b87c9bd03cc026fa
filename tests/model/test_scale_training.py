"""`train sql` on Dask: examples on a 2-worker LocalCluster, selection on a sample, the
LightGBM booster refitted with lightgbm.dask on every example, a bundle the service loads."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest

import scale.training
from crm.sample import GeneratorConfig, generate_crm
from crm.settings import load_settings
from scale.cluster import open_client
from scale.partitions import partition_by_account
from scale.scoring import score_tables
from scale.training import sample_examples, train_sql_on_dask
from serving.scorer import LeadScorer, prepare_model
from training.bundle import load_bundle
from training.rules import load_rules
from training.selection import Candidate
from training.train import TrainConfig

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training_workflows")]

CONFIG = TrainConfig(make_plots=False, cv_folds=2, candidates=(
    Candidate(name="lightgbm", kind="lightgbm"), Candidate(name="logistic", kind="logistic",
                                                           C=0.1)))
TABLES = ("leads", "activities", "accounts")


def test_dask_training_registers_a_servable_lightgbm_bundle(tmp_path: Path, monkeypatch) -> None:
    tables = {n: f for n, f in generate_crm(GeneratorConfig(n_leads=3000, seed=5))[0].items()
              if n in TABLES}
    settings = load_settings(mlflow_tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                             mlflow_artifact_root=tmp_path / "artifacts")
    refit_rows: list[int] = []
    fit = scale.training.fit_booster_dask

    def counting_fit(client, examples, *args, **kwargs):
        refit_rows.append(len(examples))
        return fit(client, examples, *args, **kwargs)

    monkeypatch.setattr(scale.training, "fit_booster_dask", counting_fit)
    with open_client(n_workers=2, memory_limit="1GiB") as client:
        parts = partition_by_account({n: dd.from_pandas(f, npartitions=2)
                                      for n, f in tables.items()}, 4).persist()
        result = train_sql_on_dask(parts, client, settings, train_config=CONFIG,
                                   sample_rows=6_000, force=True)
    sample_rows = sum(part["rows"] for part in result.split_summary.values())
    assert result.bundle.model_kind == "lightgbm"
    assert "attr_prefecture" in result.bundle.features  # the dataset's own columns, typed
    assert result.attributes is not None and result.attributes["used"].any()
    assert refit_rows and refit_rows[0] > result.split_summary["train"]["rows"]
    assert sample_rows < 7_000
    assert result.reports["model"].metrics["roc_auc"] > 0.8
    bundle = load_bundle(result.model_uri, tracking_uri=settings.mlflow_tracking_uri)
    assert bundle.model_size() == result.bundle.model_size()
    scorer = LeadScorer(load_rules())
    scorer.swap(prepare_model("sql", result.model_name, result.version, bundle))
    scores = score_tables(tables, scorer.active, pd.Timestamp("2026-11-01T00:00:00Z"))
    assert len(scores) == len(tables["leads"]) and (scores["source"] == "model").all()
    assert scores["probability"].between(0, 1).all()
    assert scores["probability"].std() > 0.01


def test_the_sample_keeps_whole_leads_and_its_size(tmp_path: Path) -> None:
    examples = pd.DataFrame({"lead_id": [f"L{i // 4}" for i in range(4_000)],
                             "label": [i % 2 for i in range(4_000)]}).astype({"lead_id": "str"})
    with open_client(n_workers=1, processes=False) as client:
        data = dd.from_pandas(examples, npartitions=3)
        sample = sample_examples(data, client, 1_000)
        assert len(sample_examples(data, client, 10_000)) == 4_000
        with pytest.raises(ValueError, match="sample_rows must be at least 1, got 0"):
            sample_examples(data, client, 0)
    assert 700 < len(sample) < 1_300
    assert (sample.groupby("lead_id").size() == 4).all()
