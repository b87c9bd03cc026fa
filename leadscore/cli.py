"""The ``leadscore`` command line: the edge where files, databases and people meet the package."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crm import schema
from crm.settings import CONFIG_ENV_VAR, Settings, load_settings, redact_url
from leadscore.reports_cli import register_report_commands

app = typer.Typer(help="Lead scoring and pipeline forecasting for B2B inside sales.",
                  no_args_is_help=True, add_completion=False)
console = Console()


@app.callback()
def main(
    config: Annotated[Optional[Path], typer.Option(help="Settings YAML file.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
) -> None:
    """Global options shared by every command."""
    if config is not None:
        if not config.exists():
            raise typer.BadParameter(f"config file {config} does not exist", param_hint="--config")
        os.environ[CONFIG_ENV_VAR] = str(config)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _settings(database_url: str | None = None) -> Settings:
    overrides = {"database_url": database_url} if database_url else {}
    return load_settings(**overrides)


def _store(settings: Settings):
    from crm.store import CRMStore

    return CRMStore(settings.database_url)


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def _print_mapping(title: str, values: dict[str, object]) -> None:
    table = Table(title=title, show_header=False)
    for key, value in values.items():
        if isinstance(value, (dict, list)):
            continue
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    console.print(table)


DatabaseOption = Annotated[
    Optional[str], typer.Option("--db", help="SQLAlchemy URL (default: settings database_url).")
]


@app.command()
def generate(
    leads: Annotated[int, typer.Option(min=1_000, max=1_000_000, help="Number of leads.")] = 5000,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (default: settings).")] = None,
    db: DatabaseOption = None,
    export_dir: Annotated[Optional[Path], typer.Option(help="Also write table files here.")] = None,
) -> None:
    """Generate a synthetic CRM with a hidden ground truth and load it into the store."""
    settings = _settings(db)
    tables, truth = _generate(leads, seed if seed is not None else settings.seed)
    counts = _store(settings).write_tables(tables, mode="replace")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    truth.to_parquet(settings.data_dir / "ground_truth.parquet", index=False)
    if export_dir is not None:
        from crm.store import export_tables

        export_tables(tables, export_dir)
    _print_counts(f"Sample CRM written to {settings.database_url}", counts)
    from crm.sample import summarize_crm

    _print_mapping("Ground truth realised", summarize_crm(tables, truth))


def _generate(n_leads: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    from crm.sample import GeneratorConfig, generate_crm

    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("leads"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("generate", total=n_leads)
        tables, truth = generate_crm(
            GeneratorConfig(n_leads=n_leads, seed=seed),
            progress=lambda done: bar.update(task, completed=done),
        )
    for name, frame in tables.items():
        schema.validate_table(name, frame)
    return tables, truth


@app.command("import")
def import_(
    mapping: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                          help="Mapping YAML (see config/mappings/).")],
    source: Annotated[Path, typer.Option(exists=True, help="Export file or folder.")],
    db: DatabaseOption = None,
    replace: Annotated[bool, typer.Option(help="Empty the target tables first.")] = False,
    rejections: Annotated[Optional[Path], typer.Option(help="Write all rejections as CSV.")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Dry run: map and validate, print the counts and the first "
                        "rejections, write nothing to the store.")] = False,
) -> None:
    """Map a CRM export to the canonical tables, load the valid rows, report the rest."""
    from crm.importer import MappingError, format_rejection_report, import_crm, load_mapping

    try:
        result = import_crm(load_mapping(mapping), source)
    except MappingError as error:
        console.print(f"[red]mapping error[/red]: {error}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not check:
        _store(_settings(db)).write_tables(result.tables,
                                           mode="replace" if replace else "append")
    console.print(format_rejection_report(result), markup=False, soft_wrap=True)
    if check:
        console.print("dry run (--check): nothing was written to the store")
    if rejections is not None:
        result.rejections.to_csv(rejections, index=False)
        console.print(f"all {len(result.rejections):,} rejections written to {rejections}")


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write <table>.<format> files to.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    db: DatabaseOption = None,
) -> None:
    """Export every canonical table from the store to files."""
    from crm.store import export_tables

    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("must be parquet or csv", param_hint="--format")
    tables = _store(_settings(db)).read_tables()
    paths = export_tables(tables, directory, fmt)  # type: ignore[arg-type]
    console.print("\n".join(str(p) for p in paths))


@app.command()
def load(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                              help="Folder of <table>.parquet|csv files.")],
    db: DatabaseOption = None,
) -> None:
    """Load canonical table files (as written by ``export``) into the store."""
    from crm.store import read_table_files

    tables, violations = read_table_files(directory)
    counts = _store(_settings(db)).write_tables(tables, mode="replace")
    _print_counts("Loaded", counts)
    if len(violations):
        console.print(f"[yellow]{len(violations):,} rows rejected[/yellow]")
        console.print(violations.head(20).to_string(index=False))


@app.command()
def summary(db: DatabaseOption = None) -> None:
    """Row counts per canonical table in the store."""
    settings = _settings(db)
    _print_counts(f"Store {settings.database_url}", _store(settings).count_rows())


FxOption = Annotated[Optional[list[str]], typer.Option(
    "--fx", help="CODE=RATE: one CODE in the reporting currency (repeat), e.g. JPY=0.0066667.")]
WinOption = Annotated[str, typer.Option(help="P(win) source: time_to_close | stage_rates.")]


def _forecast_tables(db: str | None, currency: str, fx: list[str] | None):
    from forecast import convert_currency

    tables = _store(_settings(db)).read_tables(["opportunities", "opportunity_stage_history"])
    if not fx:
        return tables
    rates = {currency: 1.0}
    for item in fx:
        code, _, value = item.partition("=")
        try:
            rates[code.strip().upper()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r} is not CODE=RATE", param_hint="--fx") from None
    return convert_currency(tables, rates, currency)


_DEAL_COLUMNS = ("opportunity_id", "stage", "amount", "expected_close_date", "n_slips", "p_win",
                 "p_close_in_period_if_won", "expected_value", "expected_slip_value")


def _print_deals(title: str, deals: pd.DataFrame) -> None:
    table = Table(title=title)
    columns = [c for c in _DEAL_COLUMNS if c in deals.columns]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="left" if column in (
            "opportunity_id", "stage") else "right")
    for row in deals[columns].itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def _cell(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


@app.command()
def forecast(
    as_of: Annotated[str, typer.Option("--as-of", help="Forecast date, YYYY-MM-DD (00:00 UTC).")],
    target: Annotated[Optional[float], typer.Option(
        min=0, help="Monthly target: alert when P50 falls below it.")] = None,
    quarter_target: Annotated[Optional[float], typer.Option(min=0, help="Quarter target.")] = None,
    win_probability: WinOption = "time_to_close",
    currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    fx: FxOption = None,
    chart: Annotated[Path, typer.Option(help="Fan chart PNG.")] = Path("forecast_fan.png"),
    simulations: Annotated[int, typer.Option(min=100)] = 4000,
    seed: Annotated[Optional[int], typer.Option(help="Default: settings seed.")] = None,
    db: DatabaseOption = None,
) -> None:
    """Month- and quarter-end landing forecast (P10/P50/P90), top deals, slip risks, fan chart."""
    from forecast import fit_forecaster
    from forecast.plots import plot_fan_chart

    settings = _settings(db)
    try:
        forecaster = fit_forecaster(_forecast_tables(db, currency, fx), as_of, win_probability)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for freq, goal in (("month", target), ("quarter", quarter_target)):
        result = forecaster.forecast(freq, goal, simulations,
                                     settings.seed if seed is None else seed)
        _print_mapping(f"{result.period.label} landing as of {result.as_of.date()} ({currency})",
                       {"P10": result.p10, "P50": result.p50, "P90": result.p90,
                        "expected": result.expected, **result.breakdown})
        if result.alert:
            console.print(f"[red]ALERT {result.alert_message}[/red]", highlight=False)
        _print_deals("Deals that contribute most", result.top_deals(10))
        _print_deals("Deals likely to slip past the period end", result.slip_risks(10))
        if freq == "month":
            console.print(f"fan chart: {plot_fan_chart(result, chart)}")


@app.command()
def backtest(
    win_probability: WinOption = "time_to_close",
    days: Annotated[str, typer.Option(help="As-of days of the month, comma separated.")] = "1,10,20",
    simulations: Annotated[int, typer.Option(min=100)] = 2000,
    seed: Annotated[Optional[int], typer.Option(help="Default: settings seed.")] = None,
    currency: Annotated[str, typer.Option(help="Reporting currency.")] = "USD",
    fx: FxOption = None,
    out: Annotated[Path, typer.Option(help="Folder for the tables and the chart.")] = Path(
        "backtest"),
    db: DatabaseOption = None,
) -> None:
    """Point-in-time month-end backtest against the stage-weighted pipeline and a naive run-rate."""
    from forecast import BacktestConfig, log_backtest, run_backtest, summarize_backtest
    from forecast.backtest import format_summary
    from forecast.plots import plot_backtest

    settings = _settings(db)
    try:
        as_of_days = tuple(int(d) for d in days.split(","))
    except ValueError:
        raise typer.BadParameter(f"{days!r} is not a list of days", param_hint="--days") from None
    config = BacktestConfig(as_of_days=as_of_days, n_simulations=simulations,
                            seed=settings.seed if seed is None else seed,
                            win_probability=win_probability)
    rows = run_backtest(_forecast_tables(db, currency, fx), config)
    summary = summarize_backtest(rows)
    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "backtest_forecasts.csv", index=False)
    summary.to_csv(out / "backtest_summary.csv", index=False)
    plot_backtest(rows, out / "backtest.png")
    console.print(format_summary(summary), markup=False)
    _quiet_mlflow()
    run_id = log_backtest(rows, summary, settings.mlflow_tracking_uri, config=config,
                          artifact_location=settings.mlflow_artifact_root)
    console.print(f"tables and chart in {out}/; logged to MLflow run {run_id}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 3000,
) -> None:
    """Serve lead scoring over HTTP (champion models from the MLflow registry, else rules).

    The settings are resolved here, in the working directory (its leadscore.yaml or
    LEADSCORE_CONFIG, LEADSCORE_* variables), with relative locations made absolute, and handed
    to the service process: it serves this folder's store and models, wherever it runs from."""
    from serving.cli import serve as run_service

    settings = _settings().absolute()
    console.print(f"store {redact_url(settings.database_url)}, MLflow "
                  f"{redact_url(settings.mlflow_tracking_uri)}, models "
                  f"{settings.sql_model_name} / {settings.win_model_name}")
    raise typer.Exit(run_service(host=host, port=port, env=_serving_env(settings)))


def _serving_env(settings: Settings) -> dict[str, str]:
    """The service process's LEADSCORE_* variables: every setting, absolute, and a relative
    LEADSCORE_SERVING_RULES_PATH made absolute against the working directory."""
    env = settings.to_env()
    rules = os.environ.get("LEADSCORE_SERVING_RULES_PATH")
    if rules:
        env["LEADSCORE_SERVING_RULES_PATH"] = str(Path(rules).resolve())
    return env


@app.command()
def openapi(
    path: Annotated[Path, typer.Argument(help="Where to write the document.")] = Path(
        "openapi.json"),
) -> None:
    """Write the service's OpenAPI document to a file."""
    from serving.cli import write_openapi

    console.print(f"written {write_openapi(path)}")


@app.command()
def docs() -> None:
    """Rewrite the generated reference documents under docs/."""
    from leadscore.docs import write_docs

    for path in write_docs():
        console.print(str(path))


# --- training, promotion, rollback -----------------------------------------------------------

TaskArgument = Annotated[str, typer.Argument(help="sql (lead -> SQL) or win (deal -> won).")]
_REPORT_METRICS = ("rows", "positives", "base_rate", "roc_auc", "pr_auc", "brier", "log_loss",
                   "ece", "lift_top_decile", "top30_bottom30_ratio", "icp_fit_ratio")


def _task(task: str) -> str:
    from training.workflows import TASKS

    if task not in TASKS:
        raise typer.BadParameter(f"must be one of {', '.join(TASKS)}, not {task!r}",
                                 param_hint="TASK")
    return task


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def _progress_printer():
    start = time.perf_counter()
    return lambda message: console.print(
        f"[dim]{time.perf_counter() - start:6.1f}s[/dim] {message}", markup=True, highlight=False)


def _as_of_end(text: str | None) -> pd.Timestamp | None:
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a timestamp", param_hint="--as-of-end") from None
    if stamp.tzinfo is None:
        raise typer.BadParameter("needs a timezone, e.g. 2026-10-01T00:00:00Z",
                                 param_hint="--as-of-end")
    return stamp.tz_convert("UTC")


def _train(task: str, settings: Settings, config_file: Path | None = None,
           as_of_end: pd.Timestamp | None = None, force: bool = False):
    """Train one model from the store and print its report; exits 1 on too little data or
    when the registration gate refuses the model (unless ``force``)."""
    from training.gate import ModelRefusedError
    from training.model import InsufficientDataError
    from training.workflows import load_training_setup, train_from_store

    _quiet_mlflow()
    setup = load_training_setup(task, config_file)
    console.rule(f"training the {task} model")
    try:
        result = train_from_store(task, settings, feature_config=setup.feature_config,
                                  train_config=setup.train_config, as_of_end=as_of_end,
                                  progress=_progress_printer(), force=force)
    except ModelRefusedError as refused:
        console.print(f"[bold red]model refused, not registered:[/bold red] "
                      f"{'; '.join(refused.problems)}", highlight=False)
        console.print(f"The served {task} model stays as it is. The MLflow run "
                      f"{refused.run_id} holds the report (tag leadscore.refused); "
                      "--force registers it anyway.")
        raise typer.Exit(1) from None
    except (InsufficientDataError, ValueError) as error:  # a refusal is recorded by training
        console.print(f"[red]training refused: {error}[/red]", highlight=False)
        console.print(f"No {task} model was registered; serving stays on the rule-based score "
                      "(config/rules.yaml).")
        raise typer.Exit(1) from None
    _print_train_report(result)
    return result


def _number(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float) and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _print_train_report(result) -> None:
    from training.evaluate import check_targets
    from training.gate import GATE_BASELINES

    shown = [c for c in result.comparison.columns
             if "_minus_" not in c or c.endswith(GATE_BASELINES)]
    comparison = result.comparison[shown]
    table = Table(title=f"{result.model_name}: test slice (newest data), model vs baselines")
    table.add_column("metric")
    for column in comparison.columns:
        table.add_column(column.replace("_minus_", " − ").replace("_", " "), justify="right")
    for metric in _REPORT_METRICS:
        if metric in comparison.index:
            counts = metric in ("rows", "positives")
            table.add_row(metric, *(f"{float(v):,.0f}" if counts else _number(float(v))
                                    for v in comparison.loc[metric]))
    console.print(table)
    if result.candidates is not None:
        from training.selection import summarize_candidates

        _print_frame("Candidates on the rolling-origin folds (lowest mean log loss is chosen)",
                     summarize_candidates(result.candidates))
    base_rates = result.bundle.metrics.get("base_rate", {})
    if base_rates:
        console.print("base rate: " + ", ".join(f"{name} {rate:.3f}"
                                                for name, rate in base_rates.items()))
    for target, met in check_targets(result.reports["model"].metrics).items():
        shown = "n/a" if met is None else "[green]met[/green]" if met else "[red]not met[/red]"
        console.print(f"target {target}: {shown}")
    if result.grades is not None:
        _print_frame("Conversion by grade (model, test slice)", result.grades)
    segments = result.reports["model"].segments
    if not segments.empty:
        worst = segments.dropna(subset=["auc_gap"]).groupby("segment").head(5)
        _print_frame("Segments with the largest AUC gap (model, test slice)",
                     worst[["segment", "value", "rows", "positives", "conversion_rate",
                            "roc_auc", "auc_gap"]])
    console.print(f"registered [bold]{result.model_name}[/bold] version {result.version} as "
                  f"challenger (MLflow run {result.run_id})")


def _print_frame(title: str, frame: pd.DataFrame) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object
                         or pd.api.types.is_string_dtype(frame[column]) else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(_number(v) if isinstance(v, float) else str(v) for v in row))
    console.print(table)


@app.command()
def train(
    task: TaskArgument,
    config_file: Annotated[Optional[Path], typer.Option(
        "--config-file", exists=True, dir_okay=False,
        help="Training YAML (features: / training: overrides), e.g. config/training/*.yaml.")
    ] = None,
    as_of_end: Annotated[Optional[str], typer.Option(
        help="Data cut (ISO time with zone); default: just after the latest record.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Register even a model the registration gate refuses (too few "
        "trees, near-constant score, or worse than a simple baseline).")] = False,
    db: DatabaseOption = None,
) -> None:
    """Train a model from the store, log it to MLflow and register it as the challenger.

    Candidates are chosen on rolling-origin time folds; a degenerate model, or one no better
    than the logistic or naive-Bayes baseline on the test slice, is refused (exit 1)."""
    _train(_task(task), _settings(db), config_file, _as_of_end(as_of_end), force)


def _print_promotion(result) -> None:
    colour = "green" if result.promoted else "red"
    console.print(f"[{colour}]{result.name}: "
                  f"{'promoted' if result.promoted else 'refused'}[/{colour}] challenger "
                  f"v{result.challenger_version} — {result.reason}", highlight=False)
    table = Table(title="Challenger's test slice (same rows for both)")
    for column in ("model", "roc_auc", "brier", "rows"):
        table.add_column(column, justify="left" if column == "model" else "right")
    rows = [(f"challenger v{result.challenger_version}", result.challenger_metrics)]
    if result.champion_metrics is not None:
        rows.append((f"champion v{result.champion_version}", result.champion_metrics))
    for label, metrics in rows:
        table.add_row(label, f"{metrics['roc_auc']:.4f}", f"{metrics['brier']:.4f}",
                      f"{int(metrics['rows']):,}")
    console.print(table)


def _promote(task: str, settings: Settings, tolerance_auc: float, tolerance_brier: float,
             as_of_end: pd.Timestamp | None = None):
    from training.registry import PromotionRefusedError
    from training.workflows import promote_from_store

    _quiet_mlflow()
    try:
        result = promote_from_store(task, settings, tolerance_auc=tolerance_auc,
                                    tolerance_brier=tolerance_brier, as_of_end=as_of_end)
    except PromotionRefusedError as refused:
        _print_promotion(refused.result)
        console.print("champion unchanged")
        raise typer.Exit(1) from None
    except (LookupError, ValueError) as error:
        console.print(f"[red]cannot promote: {error}[/red]", highlight=False)
        raise typer.Exit(1) from None
    _print_promotion(result)
    return result


@app.command()
def promote(
    task: TaskArgument,
    tolerance_auc: Annotated[float, typer.Option(
        min=0.0, help="How much lower the challenger's ROC AUC may be.")] = 0.005,
    tolerance_brier: Annotated[float, typer.Option(
        min=0.0, help="How much higher the challenger's Brier score may be.")] = 0.005,
    as_of_end: Annotated[Optional[str], typer.Option(
        help="Data cut of the hold-out (ISO time with zone); default: the cut the "
             "challenger's training recorded.")] = None,
    db: DatabaseOption = None,
) -> None:
    """Make the challenger the champion if it is not worse on the challenger's test slice
    (rebuilt with the data cut and training config its run recorded)."""
    _promote(_task(task), _settings(db), tolerance_auc, tolerance_brier, _as_of_end(as_of_end))


@app.command()
def rollback(task: TaskArgument) -> None:
    """Restore the previous champion."""
    from training.registry import RollbackError
    from training.workflows import rollback_model

    _quiet_mlflow()
    try:
        version = rollback_model(_task(task), _settings())
    except RollbackError as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"champion of the {task} model is now version {version}")


@app.command()
def demo(
    leads: Annotated[int, typer.Option(min=1_000, max=1_000_000, help="Number of leads.")] = 5000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve",
                                              help="End by serving the models.")] = True,
    port: Annotated[int, typer.Option(help="Port of the service.")] = 3000,
) -> None:
    """The main job on the embedded defaults: sample CRM, both models, then the service.

    The sample CRM goes into SQLite (data/); the SQL and win models are trained, logged and
    registered in MLflow (mlruns/) and promoted to champion through the promotion gate; then the
    scoring service runs on 127.0.0.1 until Ctrl-C.
    """
    generate(leads=leads, seed=None, db=None, export_dir=None)
    settings = _settings()
    for task in ("sql", "win"):
        try:
            _train(task, settings)
            _promote(task, settings, tolerance_auc=0.005, tolerance_brier=0.005)
        except typer.Exit:  # refused: too little data, or a challenger worse than the champion
            continue
    console.print("Browse the runs and plots with: mlflow ui --backend-store-uri "
                  f"{settings.mlflow_tracking_uri}")
    if serve_after:
        console.print(f"Serving on http://127.0.0.1:{port} — try the curl in README.md; "
                      "Ctrl-C stops it.")
        serve(host="127.0.0.1", port=port)


register_report_commands(app)  # funnel, dedupe, plan, recycle

if __name__ == "__main__":
    app()
