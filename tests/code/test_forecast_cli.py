"""``leadscore forecast``: the landing printed, and the fits kept for the next run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from forecast import TimeToCloseModel
from leadscore.cli import app


@pytest.fixture()
def crm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tables, _ = generate_crm(GeneratorConfig(n_leads=2000, seed=5))
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'crm.db'}"
    CRMStore(url).write_tables(tables)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    return tmp_path


def _forecast(day: str) -> str:
    result = CliRunner().invoke(app, ["forecast", "--as-of", day, "--simulations", "200",
                                      "--target", "1"])
    assert result.exit_code == 0, result.output
    return result.output


def test_forecast_prints_both_periods_and_a_later_run_reuses_the_fits(
        crm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _forecast("2026-10-15")
    assert "2026-10 landing as of 2026-10-15 (USD)" in first and "2026-Q4 landing" in first
    assert "P50" in first and (crm_home / "forecast_fan.png").is_file()
    fits = crm_home / "data" / "forecast_fits"
    kept = {path.name for path in fits.glob("*.pkl")}
    assert len(kept) >= 10   # the monthly fits and the past months' evidence
    made = []
    fit = TimeToCloseModel.fit
    monkeypatch.setattr(TimeToCloseModel, "fit", lambda self, *a, **k: (
        made.append(a[1]), fit(self, *a, **k))[1])
    second = _forecast("2026-10-16")   # another process would read the same folder
    assert "2026-10 landing as of 2026-10-16" in second
    assert made == []   # no month fitted again: only the new day's evidence is added
    assert {path.name for path in fits.glob("*.pkl")} > kept


def test_a_date_the_data_cannot_support_is_named(crm_home: Path) -> None:
    result = CliRunner().invoke(app, ["forecast", "--as-of", "2010-01-01"])
    assert result.exit_code != 0
    assert "2010-01-01" in result.output or "history" in result.output
