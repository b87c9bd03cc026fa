"""``leadscore funnel | dedupe | plan | recycle`` on a generated CRM in a throw-away store."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reports_cli")]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports_cli")


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("LEADSCORE_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlruns' / 'm.db'}")
    monkeypatch.chdir(home)
    if not (home / "data" / "leadscore.db").exists():
        assert invoke("generate", "--leads", "3000", "--seed", "11")[0] == 0
    return home


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False, terminal_width=200)
    return result.exit_code, result.output


def test_funnel_prints_stages_and_bottleneck_and_writes_csv(env: Path) -> None:
    code, output = invoke("funnel", "--period", "2026-09", "--out", "funnel")
    assert code == 0, output
    assert "Funnel 2026-09" in output and "By source" in output and "By owner" in output
    assert re.search(r"2026-09: (bottleneck \w+→\w+|no stage converted worse)", output)
    stages = pd.read_csv(env / "funnel" / "funnel_stages.csv", index_col="stage")
    assert stages.index.tolist() == ["lead", "mql", "sql", "opportunity", "won"]


def test_dedupe_writes_merge_file_and_prints_precision_recall(env: Path) -> None:
    code, output = invoke("dedupe", "--out", "merge.csv")
    assert code == 0, output
    assert re.search(r"leads: 3,000 records, [\d,]+ matching pairs, duplicate rate 5\.\d\d%",
                     output)
    match = re.search(r"precision ([\d.]+), recall ([\d.]+)", output)
    assert match and float(match[1]) >= 0.9 and float(match[2]) >= 0.9
    merges = pd.read_csv(env / "merge.csv")
    assert {"entity", "keep_id", "merge_id", "score", "reasons"} <= set(merges.columns)
    assert (merges["score"] >= 0.85).all()


def test_plan_reports_in_the_settings_currency_unless_told_otherwise(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_FX_RATES", '{"JPY": 0.0066667}')
    month = ("--revenue-target", "200000", "--month", "2026-10", "--as-of", "2026-10-15")
    code, output = invoke("plan", *month, "--out", "plan")           # the settings' USD and JPY
    assert code == 0, output
    assert "KPI plan 2026-10: 200,000 USD" in output
    table = pd.read_csv(env / "plan" / "kpi_plan.csv", index_col="kpi")
    assert table.loc["revenue", "required"] == 200_000
    assert table.loc["leads", "required"] > table.loc["mqls", "required"] > table.loc[
        "sqls", "required"]
    code, output = invoke("plan", *month, "--fx", "JPY=0.0066667", "--out", "plan_fx")
    assert code == 0, output
    pd.testing.assert_frame_equal(pd.read_csv(env / "plan_fx" / "kpi_plan.csv"),
                                  pd.read_csv(env / "plan" / "kpi_plan.csv"))
    code, output = invoke("plan", *month, "--currency", "JPY", "--fx", "USD=150")
    assert code == 0, output
    assert "KPI plan 2026-10: 200,000 JPY" in output


@pytest.mark.parametrize(("options", "rates", "message"), [
    ((), "{}", "deals in JPY have no exchange rate into USD: give one with --fx JPY=RATE"),
    (("--currency", "EUR"), '{"JPY": 0.0066667}',
     "deals in JPY, USD have no exchange rate into EUR: give one with --fx JPY=RATE"),
])
def test_plan_names_a_currency_without_a_rate_and_how_to_give_one(
        env: Path, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...], rates: str,
        message: str) -> None:
    monkeypatch.setenv("LEADSCORE_FX_RATES", rates)
    code, output = invoke("plan", "--revenue-target", "200000", "--month", "2026-10", *options)
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())   # click's error box, unwrapped
    assert code == 2 and f"Invalid value for --fx: {message}" in text, output


def test_recycle_ranks_on_rules_without_a_registry(env: Path) -> None:
    code, output = invoke("recycle", "--top", "5", "--out", "recycle")
    assert code == 0, output
    assert "no MLflow registry" in output and "score: rules" in output
    assert re.search(r"re-engagement: [\d,]+ of [\d,]+ recycled leads requalified", output)
    candidates = pd.read_csv(env / "recycle" / "recycle_candidates.csv")
    assert candidates["rise"].is_monotonic_decreasing
    assert not (env / "mlruns").exists()   # looking for a champion created no registry
