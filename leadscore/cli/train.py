"""``leadscore train | promote | rollback``: models from the store into the MLflow registry.

``training`` (MLflow, LightGBM, SHAP) is imported when a command runs, not when the CLI starts:
it would add about three seconds to every ``leadscore`` invocation.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Callable, Optional

import pandas as pd
import typer
from rich.table import Table

from crm.settings import Settings
from leadscore.cli.common import (
    DatabaseOption,
    console,
    format_number,
    parse_as_of,
    print_frame,
    quiet_mlflow,
    settings_for,
)
from leadscore.cli.dask_options import (
    EngineOption,
    MemoryOption,
    PartitionsOption,
    SchedulerOption,
    SourceOption,
    WorkersOption,
    account_partitions,
    check_engine,
    dask_client,
)

commands = typer.Typer()

TaskArgument = Annotated[str, typer.Argument(help="sql (lead -> SQL) or win (deal -> won).")]
_REPORT_METRICS = ("rows", "positives", "base_rate", "roc_auc", "pr_auc", "brier", "log_loss",
                   "ece", "lift_top_decile", "top30_bottom30_ratio", "icp_fit_ratio")


def _task(task: str) -> str:
    from training.workflows import TASKS

    if task not in TASKS:
        raise typer.BadParameter(f"must be one of {', '.join(TASKS)}, not {task!r}",
                                 param_hint="TASK")
    return task


def _progress_printer() -> Callable[[str], None]:
    start = time.perf_counter()
    return lambda message: console.print(
        f"[dim]{time.perf_counter() - start:6.1f}s[/dim] {message}", markup=True, highlight=False)


def train_and_report(task: str, settings: Settings, config_file: Path | None = None,
                     as_of_end: pd.Timestamp | None = None, force: bool = False,
                     trainer: Callable | None = None):
    """Train one model from the store and print its report; exits 1 on too little data (the
    refusal is recorded by training, for the service's fallback reason) or when the
    registration gate refuses the model (unless ``force``). ``trainer`` replaces
    ``training.workflows.train_from_store`` (same arguments), e.g. the Dask engine's."""
    from training.gate import ModelRefusedError
    from training.model import InsufficientDataError
    from training.workflows import load_training_setup, train_from_store

    quiet_mlflow()
    setup = load_training_setup(task, config_file)
    console.rule(f"training the {task} model")
    try:
        result = (trainer or train_from_store)(
            task, settings, feature_config=setup.feature_config,
            train_config=setup.train_config, as_of_end=as_of_end,
            progress=_progress_printer(), force=force)
    except ModelRefusedError as refused:
        console.print(f"[bold red]model refused, not registered:[/bold red] "
                      f"{'; '.join(refused.problems)}", highlight=False)
        console.print(f"The served {task} model stays as it is. The MLflow run "
                      f"{refused.run_id} holds the report (tag leadscore.refused); "
                      "--force registers it anyway.")
        raise typer.Exit(1) from None
    except (InsufficientDataError, ValueError) as error:
        console.print(f"[red]training refused: {error}[/red]", highlight=False)
        console.print(f"No {task} model was registered; serving stays on the rule-based score "
                      "(config/rules.yaml).")
        raise typer.Exit(1) from None
    _print_train_report(result)
    return result


def _print_train_report(result) -> None:
    from training.evaluate import check_targets
    from training.gate import GATE_BASELINES
    from training.selection import summarize_candidates

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
            table.add_row(metric, *(f"{float(v):,.0f}" if counts else format_number(float(v))
                                    for v in comparison.loc[metric]))
    console.print(table)
    if result.attributes is not None and not result.attributes.empty:
        print_frame("The dataset's own columns (leads.attributes): used and left out",
                    result.attributes.assign(used=result.attributes["used"].map(
                        {True: "yes", False: "no"})))
    if result.candidates is not None:
        print_frame("Candidates on the rolling-origin folds (lowest mean log loss is chosen)",
                    summarize_candidates(result.candidates))
    base_rates = result.bundle.metrics.get("base_rate", {})
    if base_rates:
        console.print("base rate: " + ", ".join(f"{name} {rate:.3f}"
                                                for name, rate in base_rates.items()))
    for target, met in check_targets(result.reports["model"].metrics).items():
        shown = "n/a" if met is None else "[green]met[/green]" if met else "[red]not met[/red]"
        console.print(f"target {target}: {shown}")
    if result.grades is not None:
        print_frame("Conversion by grade (model, test slice)", result.grades)
    segments = result.reports["model"].segments
    if not segments.empty:
        worst = segments.dropna(subset=["auc_gap"]).groupby("segment").head(5)
        print_frame("Segments with the largest AUC gap (model, test slice)",
                    worst[["segment", "value", "rows", "positives", "conversion_rate",
                           "roc_auc", "auc_gap"]])
    console.print(f"registered [bold]{result.model_name}[/bold] version {result.version} as "
                  f"challenger (MLflow run {result.run_id})")


@commands.command()
def train(
    task: TaskArgument,
    config_file: Annotated[Optional[Path], typer.Option(
        "--config-file", exists=True, dir_okay=False,
        help="Training YAML (features: / training: overrides), e.g. config/training/*.yaml.")
    ] = None,
    as_of_end: Annotated[Optional[str], typer.Option(
        help="Data cut (date or ISO time; no zone means UTC); default: just after the "
             "latest record.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Register even a model the registration gate refuses (too few "
        "trees, near-constant score, or worse than a simple baseline).")] = False,
    db: DatabaseOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = 2,
    memory_limit: MemoryOption = "auto",
    partitions: PartitionsOption = None,
    source: SourceOption = None,
    sample_rows: Annotated[int, typer.Option(
        min=1_000, help="--engine dask: about how many examples (whole leads) model "
                        "selection, calibration and evaluation use; the chosen LightGBM is "
                        "refitted on every example before the validation window.")] = 200_000,
) -> None:
    """Train a model from the store, log it to MLflow and register it as the challenger.

    Candidates are chosen on rolling-origin time folds; a degenerate model, or one no better
    than the logistic or naive-Bayes baseline on the test slice, is refused (exit 1). With
    --engine dask (sql only) the examples are built on a Dask cluster and the chosen LightGBM
    is fitted there with lightgbm.dask (see README, "Scaling out on Dask")."""
    task, settings = _task(task), settings_for(db)
    if check_engine(engine) == "local":
        train_and_report(task, settings, config_file, parse_as_of(as_of_end, "--as-of-end"), force)
        return
    if task != "sql":
        raise typer.BadParameter("the dask engine trains the sql model only",
                                 param_hint="--engine")
    from scale.training import train_sql_on_dask

    with dask_client(scheduler, workers, memory_limit) as client:
        parts = account_partitions(client, settings, source, partitions)
        train_and_report(task, settings, config_file, parse_as_of(as_of_end, "--as-of-end"), force,
                         trainer=lambda task, settings, **options: train_sql_on_dask(
                             parts, client, settings, sample_rows=sample_rows, **options))


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


def promote_and_report(task: str, settings: Settings, tolerance_auc: float,
                       tolerance_brier: float, as_of_end: pd.Timestamp | None = None):
    """Run the promotion gate and print both models' numbers; exits 1 when it refuses."""
    from training.registry import PromotionRefusedError
    from training.workflows import promote_from_store

    quiet_mlflow()
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


@commands.command()
def promote(
    task: TaskArgument,
    tolerance_auc: Annotated[float, typer.Option(
        min=0.0, help="How much lower the challenger's ROC AUC may be.")] = 0.005,
    tolerance_brier: Annotated[float, typer.Option(
        min=0.0, help="How much higher the challenger's Brier score may be.")] = 0.005,
    as_of_end: Annotated[Optional[str], typer.Option(
        help="Data cut of the hold-out (date or ISO time; no zone means UTC); default: the "
             "cut the challenger's training recorded.")] = None,
    db: DatabaseOption = None,
) -> None:
    """Make the challenger the champion if it is not worse on the challenger's test slice
    (rebuilt with the data cut and training config its run recorded)."""
    promote_and_report(_task(task), settings_for(db), tolerance_auc, tolerance_brier,
                       parse_as_of(as_of_end, "--as-of-end"))


@commands.command()
def rollback(task: TaskArgument) -> None:
    """Restore the previous champion."""
    from training.registry import RollbackError
    from training.workflows import rollback_model

    quiet_mlflow()
    try:
        version = rollback_model(_task(task), settings_for())
    except RollbackError as error:
        console.print(f"[red]{error}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"champion of the {task} model is now version {version}")
