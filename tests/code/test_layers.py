"""Layers and import cycles: the contracts in pyproject.toml ``[tool.importlinter]``.

leadscore (CLI) → scale (Dask) → serving → forecast | training → features → crm (data layer): arrows point
down only, and no package has an import cycle between its modules or subpackages. The checks are
import-linter's (``lint-imports`` runs the same ones); the second test proves they catch a new
cycle and an upward import in a copy of the code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"
LINTER = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
PACKAGES = LINTER["root_packages"]
CONTRACTS = {c["id"]: c["name"] for c in LINTER["contracts"]}


def _lint_imports(code_root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
               str(code_root / "pyproject.toml"), "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(code_root), "COLUMNS": "400"}  # one line per contract
    return subprocess.run(command, cwd=code_root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_layers_point_down_and_packages_have_no_cycles() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("crm/schema.py", "import crm.store", "acyclic"),  # store imports schema
        ("training/split.py", "import training.workflows", "acyclic"),
        ("features/registry.py", "import training.train", "layers"),  # a stage imports above
        ("forecast/__init__.py", "import training.registry", "layers"),  # siblings: independent
    ],
)
def test_a_new_cycle_or_upward_import_breaks_a_contract(tmp_path: Path, module: str, line: str,
                                                         contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / "pyproject.toml")
    with (tmp_path / module).open("a", encoding="utf-8") as file:
        file.write(f"\n{line}  # planted by the test\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert f"{CONTRACTS[contract]} BROKEN" in result.stdout
