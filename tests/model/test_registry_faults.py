"""Registry and model-file faults against a real SQLite MLflow registry (no server).

A truncated ``model.txt`` makes LightGBM abort the process that loads it; the watcher must
survive it (the file is checked in a child process), keep the model it serves, and load the
version once the file is fixed. A registry database moved aside or corrupted is a fault, not
"no champion": the model stays, the error shows, and it clears once the database is back.
Loading must leave the registry's artifact folder as training wrote it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from serving.scorer import LeadScorer
from serving.watcher import MlflowRegistry, ModelWatcher
from tests.code.test_serving_watcher import FakeClock, make_bundle
from training.bundle import BOOSTER_FILE, CorruptModelError, check_booster_file
from training.rules import load_rules

NAME = "faults-sql"

pytestmark = pytest.mark.slow


def _folder_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A registry with two versions (v1 champion), made once; each test copies the database."""
    root = tmp_path_factory.mktemp("registry-faults")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    folders = [make_bundle(seed).save(root / f"bundle-{seed}") for seed in (1, 2)]
    for folder in folders:
        (folder / "MLmodel").write_text("flavors: {}\n")  # a model root, as log_bundle makes
        client.create_model_version(NAME, str(folder))
    client.set_registered_model_alias(NAME, "champion", "1")
    return root / "mlflow.db", folders


@pytest.fixture()
def registry_world(template, tmp_path: Path):
    db = tmp_path / "mlflow.db"
    shutil.copy(template[0], db)
    uri = f"sqlite:///{db}"
    clock = FakeClock()
    watcher = ModelWatcher(LeadScorer(load_rules()), MlflowRegistry(uri), {"sql": NAME},
                           poll_seconds=1.0, retry_max_seconds=4.0, clock=clock)
    return db, MlflowClient(tracking_uri=uri, registry_uri=uri), template[1], watcher, clock


def _truncate(path: Path, fraction: float) -> bytes:
    original = path.read_bytes()
    path.write_bytes(original[:int(len(original) * fraction)])
    return original


def test_a_truncated_booster_file_is_refused_without_harm(tmp_path: Path) -> None:
    booster = make_bundle(1).save(tmp_path / "bundle") / BOOSTER_FILE
    assert check_booster_file(booster) == {"trees": 5, "features": 3}
    original = booster.read_bytes()
    for fraction in (0.1, 0.5, 0.9):  # 0.9 would load silently with fewer trees
        booster.write_bytes(original[:int(len(original) * fraction)])
        with pytest.raises(CorruptModelError, match="incomplete LightGBM model file"):
            check_booster_file(booster)


def test_a_file_that_aborts_lightgbm_only_ends_the_child(tmp_path: Path) -> None:
    booster = make_bundle(1).save(tmp_path / "bundle") / BOOSTER_FILE
    text = booster.read_text()
    head, tail = text[:int(len(text) * 0.3)], text[text.index("end of trees"):]
    booster.write_text(head + "\n" + tail)  # a complete-looking end on a broken body
    with pytest.raises(CorruptModelError, match="child process"):
        check_booster_file(booster)


def test_a_truncated_champion_keeps_the_model_then_loads_once_fixed(registry_world) -> None:
    db, client, folders, watcher, clock = registry_world
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1"
    original = _truncate(folders[1] / BOOSTER_FILE, 0.3)
    try:
        client.set_registered_model_alias(NAME, "champion", "2")
        watcher.check_once()  # would abort this very process without the child-process check
        assert watcher.scorer.active.sql.version == "1"
        assert "CorruptModelError" in watcher.last_error["sql"].error
    finally:
        (folders[1] / BOOSTER_FILE).write_bytes(original)
    clock.now += 2.1
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "2" and watcher.last_error["sql"] is None


def test_a_missing_registry_database_keeps_the_model(registry_world, caplog) -> None:
    db, client, folders, watcher, clock = registry_world
    watcher.check_once()
    aside = db.with_name("mlflow.db.aside")
    db.rename(aside)
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1"
    assert watcher.scorer.active.fallback["sql"] is None
    assert "is missing" in watcher.last_error["sql"].error
    assert "is missing" in caplog.text and not db.exists()  # logged, no empty db created
    aside.rename(db)
    watcher.check_once()
    assert watcher.last_error["sql"] is None and watcher.scorer.active.sql.version == "1"


def test_a_corrupt_registry_database_recovers_once_restored(registry_world) -> None:
    db, client, folders, watcher, clock = registry_world
    watcher.check_once()
    backup = db.read_bytes()
    db.write_bytes(b"this is not a SQLite database" * 100)
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1" and watcher.last_error["sql"] is not None
    db.write_bytes(backup)
    watcher.check_once()
    assert watcher.last_error["sql"] is None


def test_loading_leaves_the_artifact_folder_untouched(registry_world) -> None:
    db, client, folders, watcher, clock = registry_world
    before = _folder_digest(folders[0])
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1"
    assert _folder_digest(folders[0]) == before
