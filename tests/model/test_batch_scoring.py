"""``leadscore score`` / ``serving.batch``: the service's answers for the whole store, in a file.

One generated CRM in a throw-away store and MLflow registry, a champion trained on it; the
batch answers for a few leads equal ``/score/batch``'s in-process answers for the same leads
and time (model, calibration, grade, action and reasons alike).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from crm.sample import GeneratorConfig, generate_crm
from crm.settings import load_settings
from crm.store import CRMStore
from leadscore.cli import app
from serving.batch import REASON_SEPARATOR, load_scorer, score_store
from serving.runtime import build_runtime, handle_score_batch
from serving.schemas import ScoreBatchRequest
from serving.settings import ServingSettings
from training.train import TrainConfig
from training.workflows import train_sql_from_tables

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch_scoring")]

AS_OF = pd.Timestamp("2026-09-01T00:00:00Z")
FAST = TrainConfig(make_plots=False, cv_folds=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("batch")
    tables = generate_crm(GeneratorConfig(n_leads=1500, seed=11))[0]
    settings = load_settings(mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                             mlflow_artifact_root=root / "artifacts",
                             database_url=f"sqlite:///{root / 'crm.db'}")
    CRMStore(settings.database_url).write_tables(tables)
    result = train_sql_from_tables(tables, settings, train_config=FAST)
    MlflowClient(tracking_uri=settings.mlflow_tracking_uri,
                 registry_uri=settings.mlflow_tracking_uri).set_registered_model_alias(
        result.model_name, "champion", result.version)
    return root, settings, tables


def _service_answers(settings, lead_ids: list[str]) -> list[dict]:
    runtime = build_runtime(settings, ServingSettings(load_win_model=False, poll_seconds=60))
    runtime.watcher.check_once()
    runtime.start_batchers()
    try:
        body = {"leads": [{"lead_id": i, "as_of": AS_OF.isoformat()} for i in lead_ids]}
        status, answer = asyncio.run(handle_score_batch(
            runtime, ScoreBatchRequest.model_validate(body)))
    finally:
        runtime.stop()
    assert status == 200, answer
    return [a.model_dump() for a in answer.results]


def test_batch_answers_equal_the_services(world) -> None:
    root, settings, tables = world
    leads = tables["leads"]
    lead_ids = leads.loc[leads["created_at"] < AS_OF, "lead_id"].iloc[::97].tolist()[:8]
    expected = _service_answers(settings, lead_ids)
    scorer = load_scorer(settings)
    scores = score_store(CRMStore(settings.database_url), scorer, AS_OF,
                         pd.DataFrame({"lead_id": lead_ids}))
    assert scores["lead_id"].tolist() == lead_ids
    assert (scores["source"] == "model").all()
    for row, answer in zip(scores.itertuples(index=False), expected):
        assert answer["source"] == "model" and row.model_version == answer["model"]["version"]
        assert row.probability == pytest.approx(answer["probability"], abs=1e-12)
        assert (row.score, row.grade, row.action) == (answer["score"], answer["grade"],
                                                      answer["action"])
        assert row.reasons_up == REASON_SEPARATOR.join(
            r["text"] for r in answer["reasons"]["positive"])
        assert row.reasons_down == REASON_SEPARATOR.join(
            r["text"] for r in answer["reasons"]["negative"])


def test_the_command_scores_the_whole_store_to_a_file(world, monkeypatch) -> None:
    root, settings, tables = world
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    out = root / "scores.parquet"
    result = CliRunner().invoke(app, ["score", "--as-of", "2026-09-01", "--out", str(out),
                                      "--no-reasons"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out)
    created = tables["leads"]["created_at"]
    assert len(scores) == int((created < AS_OF).sum()) > 1000
    assert "leads scored" in result.output and "leadscore-sql v1" in result.output
    assert scores["probability"].between(0, 1).all() and scores["score"].between(1, 99).all()
    assert set(scores["grade"]) <= set("ABCD") and scores["grade"].nunique() >= 2

    lead_file = root / "some.csv"
    pd.DataFrame({"lead_id": ["nobody"]}).to_csv(lead_file, index=False)
    result = CliRunner().invoke(app, ["score", "--out", str(root / "x.csv"), "--leads",
                                      str(lead_file)], catch_exceptions=False)
    assert result.exit_code == 1 and "lead_id 'nobody' is not in the store" in result.output
