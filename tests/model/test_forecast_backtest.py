"""Backtests on the generated CRM and on Maven CRM: quality, reproducibility, MLflow record."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecast.backtest import BacktestConfig, log_backtest, run_backtest, summarize_backtest
from forecast.simulate import FitCache
from forecast.snapshot import convert_currency
from forecast.time_to_close import TimeToCloseModel

GENERATED_MONTHS = ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06")


@pytest.fixture(scope="module")
def generated() -> dict[str, pd.DataFrame]:
    from crm.sample import USD_JPY, GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=20_000, seed=42))
    return convert_currency(tables, {"USD": 1.0, "JPY": 1.0 / USD_JPY}, "USD")


@pytest.fixture(scope="module")
def generated_backtest(generated: dict) -> pd.DataFrame:
    config = BacktestConfig(months=GENERATED_MONTHS, as_of_days=(15,), n_simulations=1000)
    return run_backtest(generated, config)


def test_mid_month_forecast_beats_the_stage_weighted_pipeline(
        generated_backtest: pd.DataFrame) -> None:
    summary = summarize_backtest(generated_backtest).set_index("as_of_day")
    assert summary.loc["15", "n_months"] == len(GENERATED_MONTHS)
    assert summary.loc["15", "mape_model"] <= 0.5 * summary.loc["15", "mape_stage_weighted"]
    assert 0.0 <= summary.loc["15", "coverage_p10_p90"] <= 1.0
    rows = generated_backtest
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert (rows["booked"] + rows["actual_pipeline"] + rows["actual_new"]).round(6).equals(
        rows["actual"].round(6))


def test_backtest_is_reproducible(generated: dict) -> None:
    config = BacktestConfig(months=GENERATED_MONTHS[-1:], as_of_days=(15,), n_simulations=500)
    first, again = (run_backtest(generated, config,
                                 cache=FitCache(generated, TimeToCloseModel(max_rows=5000)))
                    for _ in range(2))
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), again.drop(columns="seconds"))


def test_backtest_is_logged_to_mlflow(tmp_path: Path, generated_backtest: pd.DataFrame) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    summary = summarize_backtest(generated_backtest)
    run_id = log_backtest(generated_backtest, summary, uri, run_name="generated",
                          params={"dataset": "generated-20k"})
    client = mlflow.tracking.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.data.params["dataset"] == "generated-20k"
    assert run.data.metrics["mape_model_day15"] == pytest.approx(
        summary.set_index("as_of_day").loc["15", "mape_model"])
    assert "coverage_p10_p90_all" in run.data.metrics
    names = {a.path for a in client.list_artifacts(run_id)}
    assert names == {"backtest_forecasts.csv", "backtest_summary.csv", "backtest.png"}
    stored = {p.name for p in (tmp_path / "artifacts").rglob("*") if p.is_file()}
    assert names <= stored   # beside the database, not in the working directory's mlruns/


def test_maven_backtest_runs_point_in_time(datasets_dir: Path) -> None:
    """Two months only, with a lighter hazard fit (the full table: benchmarks/)."""
    from crm.importer import import_crm, load_mapping

    mapping = Path(__file__).resolve().parents[2] / "config" / "mappings" / "maven_crm.yaml"
    tables = import_crm(load_mapping(mapping), datasets_dir / "maven_crm").tables
    config = BacktestConfig(months=("2017-11", "2017-12"), as_of_days=(10,), n_simulations=500)
    rows = run_backtest(tables, config, cache=FitCache(tables, TimeToCloseModel(max_rows=10_000)))
    summary = summarize_backtest(rows).set_index("as_of_day")
    # Maven has no expected close dates: the stage-weighted view weights every open deal
    assert summary.loc["10", "mape_stage_weighted"] > 1.0
    assert summary.loc["10", "mape_model"] < 0.2 * summary.loc["10", "mape_stage_weighted"]
    assert (rows["n_open_deals"] > 1000).all()


def test_unknown_month_is_named(generated: dict) -> None:
    with pytest.raises(ValueError, match="months \\['2030-01'\\] cannot be backtested"):
        run_backtest(generated, BacktestConfig(months=("2030-01",)))


@pytest.mark.parametrize("kwargs,message", [
    ({"as_of_days": (0,)}, "as_of_days must be days 1-28"),
    ({"as_of_days": ()}, "as_of_days must be days 1-28"),
    ({"n_simulations": 10}, "n_simulations must be >= 100"),
])
def test_bad_config_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BacktestConfig(**kwargs)
