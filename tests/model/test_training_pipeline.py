"""train_model end to end on a synthetic frame with a known signal, in a throw-away MLflow store.

One store and one training run are shared by the module (a fresh SQLite store costs ~2 s).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from crm.settings import sqlite_path
from features import FeatureConfig, resolve_icp
from features.registry import FeatureDef, FeatureRegistry
from training.bundle import (
    BUNDLE_FILE,
    ModelBundle,
    load_bundle,
    signature_frame,
    use_tracking_uri,
)
from training.explain import SHAP_NOTE
from training.gate import ModelRefusedError
from training.model import InsufficientDataError
from training.rules import load_rules
from training.split import split_by_time
from training.train import TrainConfig, fit_bundle, train_model

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training_pipeline")]

MODEL = "leadscore-sql"
REGISTRY = FeatureRegistry([
    FeatureDef("pricing_visits", "int", "actionable", "behavioral",
               "Visited the pricing page {value} times", "料金ページを {value} 回閲覧"),
    FeatureDef("email_opens", "int", "actionable", "behavioral",
               "Opened {value} emails", "メールを {value} 通開封"),
    FeatureDef("employees", "float", "fixed", "firmographic",
               "Company has {value} employees", "従業員数 {value} 名"),
    FeatureDef("industry", "category", "fixed", "firmographic",
               "Industry is {value}", "業種: {value}"),
    FeatureDef("source", "category", "fixed", "attribute",
               "Came from {value}", "流入元: {value}"),
    FeatureDef("budget_confirmed", "bool", "actionable", "bant",
               "Budget confirmed: {value}", "予算確認済み: {value}"),
])


def make_examples(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Leads over one year; conversion depends on visits, budget x ICP fit, source, size."""
    rng = np.random.default_rng(seed)
    repeat = rng.random(n) < 0.1  # ~10 % are a second snapshot of the previous lead
    ids = [f"L{i - 1}" if again and i else f"L{i}" for i, again in enumerate(repeat)]
    as_of = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 365, n), "D")
    visits = rng.poisson(1.5, n)
    opens = rng.poisson(3, n).astype(float)
    opens[rng.random(n) < 0.05] = np.nan
    employees = np.exp(rng.normal(4, 1.5, n))
    industry = rng.choice(["saas", "manufacturing", "retail", "finance", "other"], n)
    source = rng.choice(["webinar", "inbound_form", "outbound_list"], n)
    budget = rng.random(n) < 0.35
    icp = (employees > 50) & (employees < 2000) & np.isin(industry, ["saas", "finance"])
    z = (-2.3 + 0.8 * np.minimum(visits, 3) + 1.5 * (budget & icp) + 0.6 * icp
         + 0.7 * (source == "inbound_form") - 1.0 * (employees < 10))
    return pd.DataFrame({
        "lead_id": ids, "as_of": as_of.astype("datetime64[us, UTC]"),
        "label": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int),
        "pricing_visits": pd.array(visits, dtype="Int64"),
        "email_opens": pd.array(opens, dtype="Int64"), "employees": employees,
        "industry": pd.array(industry, dtype="str"), "source": pd.array(source, dtype="str"),
        "budget_confirmed": pd.array(budget, dtype="boolean"),
        "icp_fit": pd.array(icp, dtype="boolean"),
    })


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return make_examples()


@pytest.fixture(scope="module")
def trained(store: str, examples: pd.DataFrame):
    messages: list[str] = []
    result = train_model(examples, REGISTRY, model_name=MODEL, tracking_uri=store,
                         config=TrainConfig(), progress=messages.append,
                         feature_config={"horizon_days": 90})
    return result, messages


def _artifact_root(store: str) -> Path:
    return sqlite_path(store).parent / "artifacts"


def test_run_is_logged_and_registered_as_challenger(trained, store: str) -> None:
    result, messages = trained
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    assert result.version == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"
    run = client.get_run(result.run_id)
    for scorer in ("model", "rules", "naive_bayes"):
        for metric in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "top30_bottom30_ratio"):
            assert f"test.{scorer}.{metric}" in run.data.metrics
    assert run.data.tags["leadscore.seed"] == "42"
    assert run.data.tags["data_window.test"].startswith("2025-1")
    assert run.data.params["booster.learning_rate"] == "0.05"
    logged = {Path(f.path).name for f in client.list_artifacts(result.run_id, "evaluation")}
    assert {"report.md", "comparison.csv", "calibration.png", "lift_gains.png", "shap_bar.png",
            "shap_beeswarm.png", "split.json", "model_report.json"} <= logged
    assert len([name for name in logged if name.startswith("shap_dependence_")]) == 3
    assert any(m.startswith("split: train ") for m in messages)
    assert messages[-1] == f"registered {MODEL} version 1 as challenger"


def test_model_beats_the_rule_baseline_and_is_calibrated(trained) -> None:
    result, _ = trained
    model, rules = result.reports["model"].metrics, result.reports["rules"].metrics
    assert model["roc_auc"] > 0.72
    assert model["roc_auc"] > rules["roc_auc"] + 0.05
    assert model["ece"] < 0.08
    assert model["top30_bottom30_ratio"] >= 3
    assert result.comparison.loc["roc_auc", "model_minus_naive_bayes"] == pytest.approx(
        model["roc_auc"] - result.reports["naive_bayes"].metrics["roc_auc"])


def test_split_keeps_each_lead_on_one_side(trained, examples: pd.DataFrame) -> None:
    result, _ = trained
    summary = result.split_summary
    assert summary["train"]["end"] < summary["valid"]["start"] <= summary["valid"]["end"]
    assert summary["valid"]["end"] < summary["test"]["start"]
    split = split_by_time(examples, entity_col="lead_id")
    assert not set(split.train["lead_id"]) & set(split.test["lead_id"])
    assert summary["train"]["rows"] == len(split.train)


@pytest.fixture
def no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for module in (pickle, cloudpickle):
        monkeypatch.setattr(module, "load", refuse)
        monkeypatch.setattr(module, "loads", refuse)


def test_bundle_loads_from_the_registry_without_pickle(trained, store, examples, no_pickle) -> None:
    result, _ = trained
    rows = examples.tail(50)
    loaded = load_bundle(f"models:/{MODEL}@challenger", tracking_uri=store)
    pd.testing.assert_frame_equal(loaded.predict_frame(rows), result.bundle.predict_frame(rows))
    with use_tracking_uri(store):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL}@challenger")
    predicted = pyfunc.predict(signature_frame(loaded, rows))
    np.testing.assert_allclose(predicted["probability"], loaded.predict_proba(rows))
    assert list(predicted.columns) == ["probability", "score", "grade"]
    pickled = [p for p in _artifact_root(store).rglob("*")
               if p.suffix in {".pkl", ".pickle", ".cloudpickle", ".joblib"}]
    assert pickled == []


def test_bundle_round_trips_through_a_directory(trained, examples, tmp_path: Path) -> None:
    result, _ = trained
    directory = result.bundle.save(tmp_path / "bundle")
    data = json.loads((directory / BUNDLE_FILE).read_text(encoding="utf-8"),
                      parse_constant=lambda name: pytest.fail(f"bundle.json holds {name}"))
    assert data["features"] == REGISTRY.names
    assert data["categorical_levels"]["source"] == ["inbound_form", "outbound_list", "webinar"]
    assert data["calibrator"]["method"] in ("sigmoid", "isotonic")
    assert set(data["training_summary"]["features"]["employees"]["quantiles"]) >= {"0.5", "0.99"}
    assert sum(data["training_summary"]["features"]["industry"]["frequencies"].values()) \
        == pytest.approx(1.0)
    drift = data["training_summary"]["drift"]  # the test slice, binned (training.drift)
    assert drift["slice"] == "test" and set(drift["features"]) == set(REGISTRY.names)
    assert drift["rows"] == result.split_summary["test"]["rows"]
    assert sum(drift["score"]["shares"]) == pytest.approx(1.0)
    reloaded = ModelBundle.from_files(directory / "model.txt", directory / BUNDLE_FILE)
    assert reloaded.training_summary["drift"] == drift
    assert data["metrics"]["test"]["model"]["roc_auc"] == result.reports["model"].metrics["roc_auc"]
    assert data["feature_config"]["horizon_days"] == 90
    assert data["feature_config"]["icp"] == resolve_icp(FeatureConfig()).model_dump(mode="json")
    assert data["rules"] == load_rules().model_dump(mode="json")
    loaded = load_bundle(directory)
    pd.testing.assert_frame_equal(loaded.predict_frame(examples),
                                  result.bundle.predict_frame(examples))


def test_mismatched_bundle_files_are_refused(trained, tmp_path: Path) -> None:
    result, _ = trained
    directory = result.bundle.save(tmp_path / "bundle")
    data = json.loads((directory / BUNDLE_FILE).read_text(encoding="utf-8"))
    data["categorical_levels"]["source"] = ["webinar", "inbound_form", "outbound_list"]
    (directory / BUNDLE_FILE).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="do not belong together"):
        load_bundle(directory)
    with pytest.raises(FileNotFoundError, match=r"no model file \(model.txt or linear.json\) \+ bundle.json"):
        load_bundle(tmp_path)


def test_fast_matrix_path_matches_lightgbm_categorical_path(trained, examples) -> None:
    bundle = trained[0].bundle
    rows = examples.assign(industry=examples["industry"].where(examples.index % 7 != 0, "new"))
    np.testing.assert_array_equal(bundle.predict_raw(rows),
                                  bundle.booster.predict(bundle.prepare(rows)))


def test_predictions_have_scores_and_monotone_grades(trained, examples) -> None:
    result, _ = trained
    scored = result.bundle.predict_frame(examples).sort_values("probability")
    assert scored.index.isin(examples.index).all()
    np.testing.assert_array_equal(scored["score"],
                                  np.clip(np.round(scored["probability"] * 100), 1, 99))
    ranks = scored["grade"].map("ABCD".index).to_numpy()
    assert np.all(np.diff(ranks) <= 0) and set(scored["grade"]) == {"A", "B", "C", "D"}


@pytest.mark.parametrize("language", ["en", "ja"])
def test_reasons_use_the_registry_phrases_and_tags(trained, examples, language: str) -> None:
    result, _ = trained
    rows = examples.head(20)
    explanations = result.bundle.explain(rows, k=2, language=language)
    assert len(explanations) == 20 and explanations[0].note == SHAP_NOTE
    raw = result.bundle.predict_raw(rows)
    for explanation, (_, row), p in zip(explanations, rows.iterrows(), raw):
        assert len(explanation.positive) <= 2 and len(explanation.negative) <= 2
        assert explanation.raw_log_odds == pytest.approx(np.log(p / (1 - p)), abs=1e-6)
        for reason in explanation.positive + explanation.negative:
            definition = REGISTRY[reason.feature]
            value = None if pd.isna(row[reason.feature]) else row[reason.feature]
            assert reason.text == definition.phrase(value, language)
            assert reason.kind == definition.kind
        assert all(r.contribution > 0 for r in explanation.positive)
        assert all(r.contribution < 0 for r in explanation.negative)
        contributions = [r.contribution for r in explanation.positive]
        assert contributions == sorted(contributions, reverse=True)
    texts = " ".join(r.text for e in explanations for r in e.positive + e.negative)
    assert ("料金ページ" in texts) == (language == "ja")
    assert {r.kind for e in explanations for r in e.positive + e.negative} == {"actionable",
                                                                                "fixed"}
    json.dumps(explanations[0].to_dict(), ensure_ascii=False)


def test_explain_rejects_unknown_language(trained, examples) -> None:
    with pytest.raises(ValueError, match="language must be one of \\('en', 'ja'\\), got 'fr'"):
        trained[0].bundle.explain(examples.head(1), language="fr")


def test_same_seed_gives_identical_models(examples: pd.DataFrame) -> None:
    split = split_by_time(examples, entity_col="lead_id")
    config = TrainConfig(make_plots=False)
    first = fit_bundle(split, REGISTRY, config, lambda message: None)
    second = fit_bundle(split, REGISTRY, config, lambda message: None)
    pd.testing.assert_frame_equal(first.predict_frame(examples), second.predict_frame(examples))
    assert first.to_dict() == second.to_dict()


def test_too_little_data_is_refused_before_mlflow_is_touched(tmp_path: Path, examples) -> None:
    store = tmp_path / "mlflow.db"
    with pytest.raises(InsufficientDataError) as error:
        train_model(examples.head(120), REGISTRY, model_name=MODEL,
                    tracking_uri=f"sqlite:///{store}")
    assert "the train split has" in str(error.value)
    assert "the minimums are 40 positives and 40 negatives" in str(error.value)
    assert not store.exists()


def test_a_valid_split_without_positives_is_refused(tmp_path: Path, examples) -> None:
    t1, t2 = split_by_time(examples).boundaries
    in_valid = (examples["as_of"] >= t1) & (examples["as_of"] < t2)
    with pytest.raises(InsufficientDataError, match="the valid split has 0 positives"):
        train_model(examples.assign(label=examples["label"].where(~in_valid, 0)), REGISTRY,
                    model_name=MODEL, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["source"]), r"missing columns \['source'\]"),
        (lambda f: f.assign(as_of=f["as_of"].astype(str)), "'as_of' must be a timestamp"),
        (lambda f: f.assign(label=f["label"] * 2), "must be 0/1"),
    ],
)
def test_bad_examples_are_named(examples, tmp_path: Path, change, message) -> None:
    with pytest.raises(ValueError, match=message):
        train_model(change(examples), REGISTRY, model_name=MODEL,
                    tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_tracking_uri_is_restored_after_use(store: str) -> None:
    before_uri, before_env = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    with use_tracking_uri(store):
        assert mlflow.get_tracking_uri() == store
    assert mlflow.get_tracking_uri() == before_uri
    assert os.environ.get("MLFLOW_TRACKING_URI") == before_env


def test_bundle_refuses_a_booster_from_another_feature_list(trained) -> None:
    bundle = trained[0].bundle
    with pytest.raises(ValueError, match="do not match the bundle's feature registry"):
        ModelBundle(bundle.booster, REGISTRY.select(REGISTRY.names[:3]), {},
                    bundle.calibrator, bundle.grade_thresholds)


def test_a_constant_model_is_refused_loudly_and_not_registered(examples, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    constant = examples.assign(pricing_visits=1, email_opens=2, employees=50.0,
                               industry="saas", source="webinar", budget_confirmed=True)
    config = TrainConfig(make_plots=False, cv_folds=2)
    with pytest.raises(ModelRefusedError) as refused:
        train_model(constant, REGISTRY, model_name="constant", tracking_uri=store, config=config)
    assert any("near-constant score" in p for p in refused.value.problems), refused.value
    assert "model refused, not registered" in str(refused.value)
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    assert client.search_model_versions("name = 'constant'") == []
    run = client.get_run(refused.value.run_id)
    assert "near-constant score" in run.data.tags["leadscore.refused"]
    assert run.data.tags["leadscore.forced"] == "false"
    forced = train_model(constant, REGISTRY, model_name="constant", tracking_uri=store,
                         config=config, force=True)
    assert forced.version == "1" and forced.refused


def test_a_logistic_bundle_is_saved_loaded_and_explained_like_the_booster(examples,
                                                                          tmp_path: Path) -> None:
    split = split_by_time(examples, entity_col="lead_id")
    config = TrainConfig(make_plots=False, candidates=[{"name": "lr", "kind": "logistic"}])
    bundle = fit_bundle(split, REGISTRY, config, lambda message: None)
    assert bundle.model_kind == "logistic" and bundle.booster is None
    loaded = load_bundle(bundle.save(tmp_path / "bundle"))
    assert (tmp_path / "bundle" / "linear.json").is_file()
    rows = examples.head(30)
    np.testing.assert_array_equal(loaded.predict_proba(rows), bundle.predict_proba(rows))
    proba, contributions = loaded.predict_matrix(loaded.matrix(rows))
    raw = loaded.predict_raw(rows)
    np.testing.assert_allclose(contributions.sum(axis=1), np.log(raw / (1 - raw)))
    explanation = loaded.explain(rows.head(1), k=2)[0]
    assert explanation.raw_log_odds == pytest.approx(np.log(raw[0] / (1 - raw[0])))
    assert explanation.positive or explanation.negative
