"""The two awkward export shapes of issue 11, generated with base-rate drift, imported with a
mapping alone and trained on: the dataset's own columns typed with no YAML, day-constant
indicators grouped as context, hex ids left out, and the selected model level with the best
simple baseline on the drifted newest slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm.importer import import_crm, load_mapping
from crm.sample.exports import ExportConfig, generate_export, write_export
from crm.settings import load_settings
from features import FeatureConfig, build_lead_features
from training.train import TrainConfig
from training.workflows import load_training_setup, train_from_tables

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export_shapes")]

REPO = Path(__file__).resolve().parents[2]
DAY_CONSTANT = ["attr_cons_conf_idx", "attr_day_of_week", "attr_emp_var_rate", "attr_euribor3m",
                "attr_month"]


def _import(tmp_path: Path, shape: str, n_rows: int):
    write_export(ExportConfig(shape=shape, n_rows=n_rows, seed=5), tmp_path / shape)
    mapping = load_mapping(REPO / "config" / "mappings" / f"sample_{shape}.yaml")
    return import_crm(mapping, tmp_path / shape)


def _settings(root: Path):
    return load_settings(mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                         mlflow_artifact_root=root / "artifacts",
                         database_url=f"sqlite:///{root / 'crm.db'}")


def test_the_generated_rate_drifts_and_the_shapes_hold() -> None:
    calls = generate_export(ExportConfig(n_rows=24_000))["calls.csv"]
    rates = (calls["y"] == "yes").groupby(np.arange(len(calls)) * 4 // len(calls)).mean()
    assert rates.iloc[0] < 0.10 and rates.iloc[-1] > 0.25
    assert not {"id", "lead_id", "date", "time"} & set(calls.columns)
    per_day = calls.groupby(np.arange(len(calls)) // 24)[["euribor3m", "day_of_week"]].nunique()
    assert (per_day == 1).all().all()
    funnel = generate_export(ExportConfig(shape="funnel", n_rows=2000, start_rate=0.1,
                                          end_rate=0.1))
    assert set(funnel) == {"mqls.csv", "closed_deals.csv"}
    assert funnel["closed_deals.csv"]["mql_id"].isin(funnel["mqls.csv"]["mql_id"]).all()


@pytest.fixture(scope="module")
def telemarketing(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("telemarketing")
    imported = _import(root, "telemarketing", 12_000)
    setup = load_training_setup("sql", REPO / "config" / "training" /
                                "sample_telemarketing.yaml")
    result = train_from_tables("sql", imported.tables, _settings(root), setup.feature_config,
                               setup.train_config.model_copy(update={"make_plots": False}),
                               force=True)
    return imported, result


def test_the_call_log_imports_with_its_mapping_alone(telemarketing) -> None:
    imported, _ = telemarketing
    leads = imported.tables["leads"]
    assert len(leads) == 12_000 and imported.rejections.empty
    assert leads["lead_id"].iloc[0] == "call-000001"
    assert leads["created_at"].is_monotonic_increasing


def test_day_constant_indicators_are_context_not_reasons(telemarketing) -> None:
    imported, result = telemarketing
    bundle = result.bundle
    assert sorted(bundle.context_features) == DAY_CONSTANT
    leads = imported.tables["leads"].iloc[-200:]
    pairs = pd.DataFrame({"lead_id": leads["lead_id"],
                          "as_of": leads["created_at"] + pd.Timedelta(microseconds=1)})
    frame = build_lead_features(imported.tables, pairs,
                                FeatureConfig.from_dict(bundle.feature_config))
    explanations = bundle.explain(frame, k=3)
    for explanation in explanations:
        shown = {r.feature for r in explanation.positive + explanation.negative}
        assert not shown & set(DAY_CONSTANT)
        assert {r.feature for r in explanation.context} <= set(DAY_CONSTANT)
    assert any(explanation.context for explanation in explanations)


def test_the_selected_model_holds_its_own_against_the_baselines_under_drift(
        telemarketing) -> None:
    _, result = telemarketing
    auc = {name: report.metrics["roc_auc"] for name, report in result.reports.items()}
    best = max(auc["logistic"], auc["lightgbm_default"], auc["naive_bayes"])
    rates = result.bundle.metrics["base_rate"]
    assert rates["train"] < 0.2 < 0.25 < rates["test"]  # strong drift reaches the newest slice
    # the bar (best - 0.005) is measured on 24,000 calls by bench_training.py; the
    # 1,800-row test slice here gets a little more room for sampling noise
    assert auc["model"] >= best - 0.01, auc
    assert "attr_poutcome" in result.bundle.features and "attr_age" in result.bundle.features


def test_the_funnel_imports_its_label_from_the_second_file_and_trains(tmp_path: Path) -> None:
    imported = _import(tmp_path, "funnel", 4000)
    leads = imported.tables["leads"]
    deals = pd.read_csv(tmp_path / "funnel" / "closed_deals.csv")
    assert len(leads) == 4000 and imported.rejections.empty
    assert (leads["status"] == "converted").sum() == len(deals) == leads["sql_at"].notna().sum()
    result = train_from_tables("sql", imported.tables, _settings(tmp_path),
                               train_config=TrainConfig(make_plots=False, cv_folds=2),
                               force=True)
    table = result.attributes.set_index("key")
    assert table.loc["landing_page_id", "type"] == "id-like"
    assert not table.loc["landing_page_id", "used"]
    assert table.loc["origin", "used"] and "attr_origin" in result.bundle.features
    assert "attr_landing_page_id" not in result.bundle.features
