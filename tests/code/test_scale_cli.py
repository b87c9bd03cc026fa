"""The Dask options of the CLI: refused values are named (no cluster is started for them)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from leadscore.cli import app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)  # unwrap rich's box


def test_an_unknown_engine_is_refused_by_name() -> None:
    code, output = _run("train", "sql", "--engine", "spark")
    assert code == 2
    assert "--engine" in output and "must be local or dask, not 'spark'" in output


def test_the_dask_engine_trains_the_sql_model_only() -> None:
    code, output = _run("train", "win", "--engine", "dask")
    assert code == 2
    assert "the dask engine trains the sql model only" in output


def test_a_missing_source_folder_is_refused(tmp_path) -> None:
    code, output = _run("train", "sql", "--engine", "dask", "--source", str(tmp_path / "absent"))
    assert code == 2
    assert "--source" in output and "does not exist" in output
