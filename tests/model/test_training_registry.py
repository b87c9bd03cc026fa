"""Registry: challenger on registration, the promotion gate on one hold-out, rollback.

Two models are trained once per module (one on the real labels, one on shuffled labels) in a
throw-away MLflow store; each test registers them under its own model name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.registry import FeatureDef, FeatureRegistry
from training.bundle import load_bundle
from training.registry import (
    PromotionRefusedError,
    RollbackError,
    champion_history,
    promote_challenger,
    register_challenger,
    rollback,
    score_holdout,
)
from training.train import TrainConfig, train_model

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training_registry")]

REGISTRY = FeatureRegistry([
    FeatureDef("visits", "int", "actionable", "behavioral", "{value} visits", "訪問 {value} 回"),
    FeatureDef("employees", "float", "fixed", "firmographic", "{value} staff", "従業員 {value} 名"),
    FeatureDef("source", "category", "fixed", "attribute", "from {value}", "流入元 {value}"),
])


def make_examples(n: int, seed: int) -> pd.DataFrame:
    """Leads over one year; conversion rises with visits and mid-sized companies."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01", tz="UTC")
    visits = rng.poisson(1.5, n)
    employees = np.exp(rng.normal(4, 1.5, n))
    source = rng.choice(["webinar", "inbound_form", "outbound_list"], n)
    z = (-2.0 + 0.8 * np.minimum(visits, 3) + 0.8 * ((employees > 50) & (employees < 2000))
         + 0.6 * (source == "inbound_form"))
    return pd.DataFrame({
        "lead_id": [f"L{seed}-{i}" for i in range(n)],
        "as_of": start + pd.to_timedelta(rng.uniform(0, 365, n), "D"),
        "label": (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int),
        "visits": visits, "employees": employees, "source": pd.array(source, dtype="str"),
    })


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def model_uris(store: str) -> dict[str, str]:
    examples = make_examples(n=2500, seed=1)
    shuffled = examples.assign(label=np.random.default_rng(5).permutation(examples["label"]))
    config = TrainConfig(make_plots=False)
    good = train_model(examples, REGISTRY, model_name="base-good", tracking_uri=store,
                       config=config)
    bad = train_model(shuffled, REGISTRY, model_name="base-bad", tracking_uri=store,
                      config=config, force=True)  # no signal: the gate refuses it
    return {"good": good.model_uri, "bad": bad.model_uri}


@pytest.fixture(scope="module")
def holdout():
    return make_examples(n=1500, seed=99)  # recent rows neither model saw


def _aliases(store: str, name: str) -> dict[str, str]:
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    aliases = client.get_registered_model(name).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def test_first_version_is_promoted_without_comparison(store, model_uris, holdout) -> None:
    assert register_challenger(model_uris["good"], "first", tracking_uri=store) == "1"
    assert _aliases(store, "first") == {"challenger": "1"}
    result = promote_challenger("first", holdout, tracking_uri=store)
    assert result.promoted and result.champion_metrics is None
    assert "no champion yet" in str(result)
    assert _aliases(store, "first") == {"champion": "1"}
    assert champion_history("first", tracking_uri=store) == ["1"]
    champion = load_bundle("models:/first@champion", tracking_uri=store)
    assert champion.predict_proba(holdout).shape == (len(holdout),)


def test_worse_challenger_is_refused_and_both_numbers_are_shown(store, model_uris, holdout) -> None:
    register_challenger(model_uris["good"], "gate", tracking_uri=store)
    promote_challenger("gate", holdout, tracking_uri=store)
    register_challenger(model_uris["bad"], "gate", tracking_uri=store)
    with pytest.raises(PromotionRefusedError) as refused:
        promote_challenger("gate", holdout, tracking_uri=store)
    result = refused.value.result
    good = score_holdout(load_bundle(model_uris["good"], tracking_uri=store), holdout)
    bad = score_holdout(load_bundle(model_uris["bad"], tracking_uri=store), holdout)
    assert result.champion_metrics == good and result.challenger_metrics == bad
    message = str(refused.value)
    assert "refused challenger v2" in message and "champion v1" in message
    for number in (bad["roc_auc"], good["roc_auc"], bad["brier"], good["brier"]):
        assert f"{number:.4f}" in message
    assert "ROC AUC" in result.reason
    assert _aliases(store, "gate") == {"champion": "1", "challenger": "2"}


def test_tolerance_decides_how_much_worse_is_allowed(store, model_uris, holdout) -> None:
    register_challenger(model_uris["good"], "lenient", tracking_uri=store)
    promote_challenger("lenient", holdout, tracking_uri=store)
    register_challenger(model_uris["bad"], "lenient", tracking_uri=store)
    result = promote_challenger("lenient", holdout, tolerance_auc=1.0, tolerance_brier=1.0,
                                tracking_uri=store)
    assert result.promoted and result.challenger_metrics["roc_auc"] < 0.6


def test_equal_challenger_is_promoted_and_rollback_restores_the_previous_one(
    store, model_uris, holdout
) -> None:
    register_challenger(model_uris["good"], "cycle", tracking_uri=store)
    promote_challenger("cycle", holdout, tracking_uri=store)
    register_challenger(model_uris["good"], "cycle", tracking_uri=store)  # same model again
    result = promote_challenger("cycle", holdout, tracking_uri=store)
    assert result.promoted and result.challenger_metrics == result.champion_metrics
    assert _aliases(store, "cycle") == {"champion": "2", "previous-champion": "1"}
    assert champion_history("cycle", tracking_uri=store) == ["1", "2"]

    assert rollback("cycle", tracking_uri=store) == "1"
    assert _aliases(store, "cycle") == {"champion": "1"}
    assert champion_history("cycle", tracking_uri=store) == ["1"]
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    assert client.get_model_version("cycle", "2").tags["leadscore.rolled_back"] == "true"
    with pytest.raises(RollbackError, match="'cycle' has no previous champion to roll back to"):
        rollback("cycle", tracking_uri=store)


def test_missing_challenger_and_one_class_holdout_are_named(store, model_uris, holdout) -> None:
    register_challenger(model_uris["good"], "lonely", tracking_uri=store)
    promote_challenger("lonely", holdout, tracking_uri=store)
    with pytest.raises(LookupError, match="'lonely' has no 'challenger' version to promote"):
        promote_challenger("lonely", holdout, tracking_uri=store)
    register_challenger(model_uris["good"], "lonely", tracking_uri=store)
    with pytest.raises(ValueError, match="the hold-out needs both classes"):
        promote_challenger("lonely", holdout.assign(label=0), tracking_uri=store)
