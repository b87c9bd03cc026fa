"""In CI (``CI=true``, which ``.ci/run`` sets) a test that needs ``../shared/datasets`` fails
when the folder is missing; elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case runs pytest in a subprocess

REPO = Path(__file__).resolve().parents[2]
A_DATASET_TEST = "tests/data/test_import.py::test_xeducation_loads_every_lead_and_rejects_none"


@pytest.mark.parametrize(("ci", "exit_code", "shown"), [
    ("true", 1, "CI must run the real-data tests"),
    ("", 0, "shared datasets folder not found"),
])
def test_missing_datasets_fail_in_ci_and_skip_elsewhere(tmp_path: Path, ci: str,
                                                        exit_code: int, shown: str) -> None:
    env = {**os.environ, "CI": ci, "LEADSCORE_TEST_DATASETS": str(tmp_path / "absent"),
           "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", A_DATASET_TEST, "-q", "-rs",
                          "-p", "no:cacheprovider"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == exit_code, run.stdout[-2000:]
    assert shown in run.stdout


def test_the_ci_entry_point_sets_ci_itself() -> None:
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert any(line.strip().startswith("export CI=true") for line in lines)
