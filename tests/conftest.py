"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
POSTGRES_ENV = "LEADSCORE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """../shared/datasets; skipped with a reason only where the folder is absent."""
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets folder not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL from LEADSCORE_TEST_POSTGRES_URL (.ci/run starts a server).

    In CI (CI=true) a missing server is a failure, not a skip: the PostgreSQL tests must run.
    """
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set in CI; .ci/run must start PostgreSQL")
        pytest.skip(f"{POSTGRES_ENV} not set: run .ci/postgres.sh to start a server")
    return url


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's leadscore.yaml or LEADSCORE_* variables by accident."""
    for name in list(os.environ):
        if name.startswith("LEADSCORE_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADSCORE_CONFIG", str(tmp_path / "absent-leadscore.yaml"))
