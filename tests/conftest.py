"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from crm import schema

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LEADSCORE_TEST_DATASETS",
                               REPO_ROOT.parent / "shared" / "datasets"))
POSTGRES_ENV = "LEADSCORE_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """../shared/datasets. Missing: a failure in CI (CI=true: the real-data tests must run),
    a skip with the reason elsewhere."""
    if not DATASETS.is_dir():
        message = f"shared datasets folder not found at {DATASETS}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the real-data tests")
        pytest.skip(message)
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


@pytest.fixture()
def fresh_postgres_url(postgres_url: str) -> str:
    """The URL of a new, empty database on the test server (parallel workers never collide)."""
    import uuid

    import sqlalchemy as sa

    name = f"leadscore_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's leadscore.yaml or LEADSCORE_* variables by accident."""
    for name in list(os.environ):
        if name.startswith("LEADSCORE_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("LEADSCORE_CONFIG", str(tmp_path / "absent-leadscore.yaml"))


DEALS_START = pd.Timestamp("2025-01-01", tz="UTC")


def _daily_deals(n: int, won_after: int, lost_after: int | None) -> dict[str, pd.DataFrame]:
    created = DEALS_START + pd.to_timedelta(np.arange(n), unit="D")
    won = np.ones(n, bool) if lost_after is None else np.arange(n) % 2 == 0
    closed = created + pd.to_timedelta(np.where(won, won_after, lost_after or 0), unit="D")
    ids = [f"D{i:03d}" for i in range(n)]
    deals = pd.DataFrame({"opportunity_id": ids, "currency": "USD", "stage": "s",
                          "amount": 100.0, "created_at": created, "closed_at": closed,
                          "outcome": np.where(won, "won", "lost")})
    history = pd.DataFrame({"opportunity_id": ids, "stage": "open", "entered_at": created,
                            "amount": 100.0})
    return {"opportunities": schema.split_valid("opportunities", deals)[0],
            "opportunity_stage_history": schema.split_valid("opportunity_stage_history",
                                                            history)[0]}


@pytest.fixture
def daily_deals() -> Callable[..., dict[str, pd.DataFrame]]:
    """Factory of closed deals, one a day from 2025-01-01 at amount 100: even ones won
    ``won_after`` days after creation, odd ones lost ``lost_after`` days after (all won when
    ``lost_after`` is None)."""
    return _daily_deals
