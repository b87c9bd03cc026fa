"""With no training YAML, the dataset's own columns count: the model uses the attribute that
carries the signal, leaves the id out, and the report, MLflow and the bundle say so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from crm.sample import GeneratorConfig, generate_crm
from crm.settings import load_settings
from features import FeatureConfig, build_lead_features
from training.bundle import load_bundle
from training.train import TrainConfig
from training.workflows import train_sql_from_tables

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("attribute_training")]


def _with_signal_attributes(tables: dict[str, pd.DataFrame], seed: int) -> dict:
    """The leads' attributes replaced: a number written as text that is higher for leads that
    became SQL, a uuid-like id and a many-valued city."""
    rng = np.random.default_rng(seed)
    leads = tables["leads"].copy()
    became_sql = leads["sql_at"].notna().to_numpy()
    signal = rng.normal(0, 1, len(leads)) + 1.5 * became_sql
    leads["attributes"] = [json.dumps({
        "fit_signal": f"{s:.3f}", "visitor_id": f"{rng.integers(0, 2**62):016x}",
        "city": f"c{rng.zipf(1.3) % 400}"}) for s in signal]
    return {**tables, "leads": leads}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("attributes")
    tables = _with_signal_attributes(generate_crm(GeneratorConfig(n_leads=2000, seed=21))[0], 21)
    settings = load_settings(mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                             mlflow_artifact_root=root / "artifacts",
                             database_url=f"sqlite:///{root / 'crm.db'}")
    result = train_sql_from_tables(tables, settings, train_config=TrainConfig(make_plots=False,
                                                                             cv_folds=2),
                                   force=True)
    return tables, settings, result


def test_the_signal_attribute_is_used_and_the_id_left_out(trained) -> None:
    tables, settings, result = trained
    config = FeatureConfig.from_dict(result.bundle.feature_config)
    assert config.attributes["fit_signal"] == "float" and not config.infer_attributes
    assert "attr_fit_signal" in result.bundle.features
    assert "attr_visitor_id" not in result.bundle.features
    assert len(config.attribute_levels["city"]) <= 30
    table = result.attributes.set_index("key")
    assert table.loc["visitor_id", "type"] == "id-like" and not table.loc["visitor_id", "used"]
    assert table.loc["fit_signal", "reason"] == "numbers written as text"
    assert "the rest as 'other'" in table.loc["city", "reason"]


def test_the_model_leans_on_the_signal(trained) -> None:
    tables, settings, result = trained
    bundle = result.bundle
    leads = tables["leads"]
    as_of = leads["created_at"].max()
    open_leads = leads[leads["created_at"] < as_of - pd.Timedelta(days=1)]
    pairs = pd.DataFrame({"lead_id": open_leads["lead_id"], "as_of": as_of})
    frame = build_lead_features(tables, pairs, FeatureConfig.from_dict(bundle.feature_config))
    contributions = np.abs(bundle.contributions(bundle.matrix(frame))[:, :-1]).mean(axis=0)
    ranking = [bundle.features[j] for j in np.argsort(-contributions)]
    assert "attr_fit_signal" in ranking[:3], ranking[:5]


def test_the_typing_is_logged_and_travels_with_the_model(trained) -> None:
    tables, settings, result = trained
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    params = client.get_run(result.run_id).data.params
    assert "fit_signal (float)" in params["attributes.used"]
    assert "visitor_id: uuid/hex-looking values: an id" in params["attributes.left_out"]
    loaded = load_bundle(result.model_uri, tracking_uri=settings.mlflow_tracking_uri)
    assert loaded.feature_config == result.bundle.feature_config
    assert loaded.config["attributes"] == result.bundle.config["attributes"]
