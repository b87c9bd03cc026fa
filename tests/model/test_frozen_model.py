"""A model version is self-contained: its ICP, rules and feature settings live in its bundle.

Train from temp copies of ``config/icp.yaml`` and ``config/rules.yaml``, edit the copies, and
the served answers of that version do not move — neither in a service built after the edit
(in process) nor over HTTP from a server started after the edit. The next training run reads
the edited files, and its version answers with them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from crm.sample import GeneratorConfig, generate_crm
from crm.settings import Settings, load_settings
from features import FeatureConfig
from serving.process import ServerProcess
from serving.request_records import score_request_from_tables
from serving.runtime import build_runtime
from serving.schemas import ScoreRequest
from serving.scorer import LeadJob
from serving.settings import ServingSettings
from training.rules import load_rules
from training.train import TrainConfig, TrainResult
from training.workflows import train_sql_from_tables

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("frozen_model")]

REPO = Path(__file__).resolve().parents[2]
AS_OF = pd.Timestamp("2026-09-01T00:00:00Z")
FAST = TrainConfig(make_plots=False)
N_LEADS = 12


@dataclass
class World:
    root: Path
    settings: Settings
    tables: dict[str, pd.DataFrame]
    icp_path: Path
    rules_path: Path
    requests: list[dict]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("frozen-model")
    (root / "config").mkdir()
    icp_path = Path(shutil.copy(REPO / "config" / "icp.yaml", root / "config" / "icp.yaml"))
    rules_path = Path(shutil.copy(REPO / "config" / "rules.yaml", root / "config" / "rules.yaml"))
    tables = generate_crm(GeneratorConfig(n_leads=2000, seed=5))[0]
    settings = load_settings(mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                             mlflow_artifact_root=root / "artifacts",
                             database_url=f"sqlite:///{root / 'crm.db'}")
    return World(root, settings, tables, icp_path, rules_path, _requests(tables))


def _requests(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Inline bodies of the busiest leads with a company (nothing left to the store)."""
    leads, acts = tables["leads"], tables["activities"]
    counts = acts[acts["occurred_at"] < AS_OF]["lead_id"].value_counts()
    eligible = set(leads.loc[(leads["created_at"] < AS_OF) & leads["account_id"].notna(),
                             "lead_id"])
    chosen = [lead for lead in counts.index if lead in eligible][:N_LEADS]
    return [json.loads(json.dumps(score_request_from_tables(tables, lead, AS_OF)))
            for lead in chosen]


def _train(world: World) -> TrainResult:
    """A training run as the CLI does it, reading the ICP and rules files as they are now."""
    result = train_sql_from_tables(world.tables, world.settings, train_config=FAST,
                                   feature_config=FeatureConfig(icp=world.icp_path),
                                   rules=load_rules(world.rules_path))
    client = MlflowClient(tracking_uri=world.settings.mlflow_tracking_uri,
                          registry_uri=world.settings.mlflow_tracking_uri)
    client.set_registered_model_alias(result.model_name, "champion", result.version)
    return result


def _serve(world: World):
    """A freshly built service (as after a restart) that has read the registry once."""
    runtime = build_runtime(world.settings, ServingSettings(rules_path=world.rules_path,
                                                            load_win_model=False))
    runtime.watcher.check_once()
    return runtime


def _answers(runtime, requests: list[dict]) -> list[dict]:
    jobs = [LeadJob(ScoreRequest.model_validate(body)) for body in requests]
    return [answer.model_dump(mode="json") for answer in runtime.scorer.score_leads(jobs)]


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _edit_icp(data: dict) -> None:
    """A different ideal customer: retail and services, small companies, anywhere."""
    data["fit_threshold"] = 50
    data["criteria"][0]["values"] = ["retail", "services"]
    data["criteria"][1].update({"min": 1, "max": 99})
    data["criteria"][2]["values"] = ["NA", "EMEA"]


def _edit_rules(data: dict) -> None:
    """Model answers call almost everyone; rule points weigh ICP three times."""
    data["model_actions"].update({"call_now_score": 1, "nurture_score": 1,
                                  "disqualify_score": 0})
    data["attribute_points"]["numeric"]["icp_score"]["per_unit"] = 0.9


def test_edited_config_files_change_only_the_next_training_run(world: World) -> None:
    first = _train(world)
    assert first.bundle.feature_config["icp"]["fit_threshold"] == 100
    before = _answers(_serve(world), world.requests)
    assert all(a["source"] == "model" for a in before)
    assert {a["action"] for a in before} != {"call_now"}  # the edit below would change them

    _edit_yaml(world.icp_path, _edit_icp)
    _edit_yaml(world.rules_path, _edit_rules)
    restarted = _serve(world)
    assert _answers(restarted, world.requests) == before
    assert restarted.scorer.active.rules["sql"].source == f"{first.model_name} v{first.version}"
    _assert_http_answers_equal(world, before)

    second = _train(world)  # the next run reads the edited files
    assert second.bundle.feature_config["icp"]["fit_threshold"] == 50
    assert second.bundle.rules["model_actions"]["call_now_score"] == 1
    restarted.watcher.check_once()
    after = _answers(restarted, world.requests)
    assert all(a["model"]["version"] == second.version for a in after)
    assert {a["action"] for a in after} == {"call_now"}
    jobs = [LeadJob(ScoreRequest.model_validate(body)) for body in world.requests]
    old_icp = restarted.scorer.build_features(jobs, _feature_config(first))["icp_score"]
    new_icp = restarted.scorer.build_features(jobs, _feature_config(second))["icp_score"]
    assert not old_icp.equals(new_icp)


def test_without_a_champion_the_newest_versions_rules_answer(world: World) -> None:
    if not MlflowClient(tracking_uri=world.settings.mlflow_tracking_uri).search_model_versions(
            f"name = '{world.settings.sql_model_name}'"):
        _train(world)
    client = MlflowClient(tracking_uri=world.settings.mlflow_tracking_uri,
                          registry_uri=world.settings.mlflow_tracking_uri)
    name = world.settings.sql_model_name
    newest = max((v.version for v in client.search_model_versions(f"name = '{name}'")), key=int)
    client.delete_registered_model_alias(name, "champion")
    runtime = _serve(world)
    answers = _answers(runtime, world.requests)
    assert {(a["source"], a["fallback_reason"]) for a in answers} == {("rules", "no_champion")}
    assert runtime.scorer.active.rules["sql"].source == f"{name} v{newest}"


def _feature_config(result: TrainResult) -> FeatureConfig:
    from training.bundle import resolve_feature_config

    return resolve_feature_config(result.bundle.feature_config)


def _assert_http_answers_equal(world: World, expected: list[dict]) -> None:
    """POST /score to a ``bentoml serve`` started after the edit gives the same answers."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env = {**clean, "LEADSCORE_MLFLOW_TRACKING_URI": world.settings.mlflow_tracking_uri,
           "LEADSCORE_DATABASE_URL": world.settings.database_url,
           "LEADSCORE_CONFIG": str(world.root / "no-such-leadscore.yaml"),
           "LEADSCORE_SERVING_RULES_PATH": str(world.rules_path),
           "LEADSCORE_SERVING_LOAD_WIN_MODEL": "false"}
    bentoml = str(Path(sys.executable).parent / "bentoml")
    server = ServerProcess([bentoml, "serve", "serving.service:LeadScoring", "--host",
                            "127.0.0.1", "--port", "{port}"], env, world.root / "server.log")
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers = [client.post("/score", json=body).json() for body in world.requests]
    finally:
        server.stop()
    keys = ("source", "probability", "score", "grade", "action", "model")
    assert [{k: a[k] for k in keys} for a in answers] == \
        [{k: a[k] for k in keys} for a in expected]
