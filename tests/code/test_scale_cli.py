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


def test_a_lead_file_needs_the_local_engine(tmp_path) -> None:
    lead_file = tmp_path / "leads.csv"
    lead_file.write_text("lead_id\nL1\n")
    code, output = _run("score", "--out", str(tmp_path / "s.parquet"), "--engine", "dask",
                        "--leads", str(lead_file))
    assert code == 2
    assert "--leads works with --engine local only" in output


def test_score_refuses_an_unknown_engine(tmp_path) -> None:
    code, output = _run("score", "--out", str(tmp_path / "s.parquet"), "--engine", "ray")
    assert code == 2 and "must be local or dask, not 'ray'" in output
