"""``leadscore train / promote / rollback`` on a generated CRM, in throw-away stores.

The store, the MLflow tracking database and its artifacts live in a temp dir, reached through
``LEADSCORE_*`` variables (never the repo's ``data/`` or ``mlruns/``). One CRM is generated
per module; the registry story runs as one test because each step depends on the last.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from leadscore.cli import app
from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from training.bundle import load_bundle

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training_cli")]

FAST = ("training:\n  make_plots: false\n  cv_folds: 2\n  candidates:\n"
        "    - {name: lightgbm, kind: lightgbm}\n    - {name: logistic, kind: logistic, C: 0.1}\n")
WORSE = ("training:\n  make_plots: false\n  cv_folds: 1\n"
         "  candidates: [{name: stump, kind: lightgbm}]\n"
         "  booster: {num_leaves: 2, num_boost_round: 1}\n")  # a single stump


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "fast.yaml").write_text(FAST)
    (root / "worse.yaml").write_text(WORSE)
    return root


def _point_at(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{home / 'data' / 'crm.db'}")
    monkeypatch.setenv("LEADSCORE_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlruns' / 'm.db'}")
    monkeypatch.setenv("LEADSCORE_MLFLOW_ARTIFACT_ROOT", str(home / "mlruns" / "artifacts"))


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _point_at(monkeypatch, home)
    return home


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, terminal_width=200)
    return result.exit_code, result.output


def aliases(home: Path, name: str = "leadscore-sql") -> dict[str, str]:
    uri = f"sqlite:///{home / 'mlruns' / 'm.db'}"
    model = MlflowClient(tracking_uri=uri, registry_uri=uri).get_registered_model(name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def _latest_run(home: Path):
    uri = f"sqlite:///{home / 'mlruns' / 'm.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("leadscore-sql")
    return client.search_runs([experiment.experiment_id], order_by=["start_time DESC"],
                              max_results=1)[0]


def hold_out_line(output: str, label: str) -> tuple[float, float, int]:
    match = re.search(rf"{label}\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│\s*([\d,]+)", output)
    assert match, f"no hold-out line for {label!r} in:\n{output}"
    return float(match[1]), float(match[2]), int(match[3].replace(",", ""))


def test_train_promote_refuse_accept_and_roll_back(env: Path) -> None:
    code, output = invoke("generate", "--leads", "2000", "--seed", "7")
    assert code == 0, output

    code, output = invoke("train", "sql", "--config-file", str(env / "fast.yaml"))
    assert code == 0, output
    assert "registered leadscore-sql version 1 as challenger" in output
    for text in ("model −", "logist", "naive", "lightgbm", "top30_", "icp_fi",
                 "Candidates on the rolling-origin folds", "base rate: train",
                 "Conversion by grade", "candidate lightgbm: mean fold log loss",
                 "selected ", "split: train", "The dataset's own columns", "prefecture"):
        assert text in output, text
    assert aliases(env) == {"challenger": "1"}

    code, output = invoke("promote", "sql")
    assert code == 0, output
    assert "promoted" in output and "no champion yet" in output
    auc_v1, brier_v1, rows = hold_out_line(output, "challenger v1")
    assert aliases(env) == {"champion": "1"}

    code, output = invoke("train", "sql", "--config-file", str(env / "worse.yaml"))
    assert code == 1, output  # a one-tree model: refused loudly, nothing registered
    assert "model refused" in output and "too few trees: 1" in output
    assert aliases(env) == {"champion": "1"}
    run = _latest_run(env)
    assert "too few trees" in run.data.tags["leadscore.refused"]
    code, output = invoke("train", "sql", "--config-file", str(env / "worse.yaml"), "--force")
    assert code == 0 and "version 2 as challenger" in output, output
    assert "forced past the gate" in output
    code, output = invoke("promote", "sql")
    assert code == 1, output
    assert "refused" in output and "champion unchanged" in output
    assert hold_out_line(output, "champion v1") == (auc_v1, brier_v1, rows)
    auc_v2, brier_v2, _ = hold_out_line(output, "challenger v2")
    assert auc_v2 < auc_v1 - 0.005
    assert aliases(env) == {"champion": "1", "challenger": "2"}

    code, output = invoke("promote", "sql", "--tolerance-auc", "1", "--tolerance-brier", "1")
    assert code == 0 and "promoted" in output
    assert hold_out_line(output, "challenger v2") == (auc_v2, brier_v2, rows)
    assert aliases(env) == {"champion": "2", "previous-champion": "1"}

    code, output = invoke("rollback", "sql")
    assert code == 0 and "champion of the sql model is now version 1" in output
    assert aliases(env) == {"champion": "1"}
    code, output = invoke("rollback", "sql")
    assert code == 1 and "has no previous champion to roll back to" in output


def test_promote_without_a_challenger_is_refused_with_a_reason(env: Path) -> None:
    code, output = invoke("promote", "win")
    assert code == 1
    assert "cannot promote" in output and "'leadscore-win' has no 'challenger' version" in output


def test_bad_task_is_named(env: Path) -> None:
    result = CliRunner().invoke(app, ["train", "forecast"])
    assert result.exit_code == 2 and "must be one of sql, win" in result.output


def test_tiny_crm_is_refused_and_serving_stays_on_rules(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tables, _ = generate_crm(GeneratorConfig(n_leads=120, seed=3))
    CRMStore(f"sqlite:///{tmp_path / 'tiny.db'}").write_tables(tables)
    tracking_uri = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("LEADSCORE_MLFLOW_TRACKING_URI", tracking_uri)
    code, output = invoke("train", "sql", "--db", f"sqlite:///{tmp_path / 'tiny.db'}")
    assert code == 1
    assert "training refused: not enough data to train" in output
    assert "the minimums are 40 positives and 40 negatives" in output
    assert "serving stays on the rule-based score" in output
    # No version is registered, and the refusal is noted for the service's fallback reason.
    from mlflow import MlflowClient

    from training.registry import REFUSAL_TAG

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    assert client.search_model_versions("name = 'leadscore-sql'") == []
    tag = client.get_registered_model("leadscore-sql").tags[REFUSAL_TAG]
    assert "not enough data to train" in tag


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a promoted champion of its own (xdist may run tests of this module on
    different workers, so no test relies on another's registry)."""
    root = tmp_path_factory.mktemp("drift")
    (root / "fast.yaml").write_text(FAST)
    with pytest.MonkeyPatch.context() as patch:
        _point_at(patch, root)
        for args in (("generate", "--leads", "2000", "--seed", "7"),
                     ("train", "sql", "--config-file", str(root / "fast.yaml")),
                     ("promote", "sql")):
            code, output = invoke(*args)
            assert code == 0, output
    return root


def test_drift_prints_psi_per_feature_and_exits_1_on_alert(champion_home: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    env = champion_home  # its champion's bundle holds the test slice's reference
    _point_at(monkeypatch, env)
    monkeypatch.setenv("LEADSCORE_DRIFT_WARN_PSI", "50")
    monkeypatch.setenv("LEADSCORE_DRIFT_ALERT_PSI", "100")
    code, output = invoke("drift", "--as-of", "2026-10-01")
    assert code == 0, output
    assert "open leads as of 2026-10-01" in output and "models:/leadscore-sql@champion" in output
    assert re.search(r"│ score\s+│\s+[\d.]+ │ ok", output), output
    features = load_bundle("models:/leadscore-sql@champion",
                           tracking_uri=f"sqlite:///{env / 'mlruns' / 'm.db'}").features
    assert all(re.search(rf"│ {name}\s+│", output) for name in features), output
    assert "alert" not in output.split("alert 100")[1]
    monkeypatch.setenv("LEADSCORE_DRIFT_WARN_PSI", "0.000001")
    monkeypatch.setenv("LEADSCORE_DRIFT_ALERT_PSI", "0.000002")
    code, output = invoke("drift", "--as-of", "2026-10-01")
    assert code == 1, output
    alerting = output.split("alert:")[-1]
    assert "score" in alerting and any(name in alerting for name in features)
    code, output = invoke("drift", "--as-of", "soon")
    assert code == 2 and "'soon' is not a date" in output
