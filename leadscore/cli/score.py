"""``leadscore score``: every lead of the store (or of a lead file) scored to Parquet or CSV.

The work is ``serving.batch`` (the service's champion, features and answers); this module reads
the options, shows a progress bar and writes the file. ``--engine dask`` runs the same work per
account partition on a Dask cluster (``scale.scoring``) and writes a folder of part files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crm.settings import Settings
from leadscore.cli.common import (
    DatabaseOption,
    console,
    open_store,
    parse_as_of,
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


@commands.command()
def score(
    out: Annotated[Path, typer.Option("--out", help="Output file: .parquet or .csv (with "
                                                     "--engine dask: a folder of part files "
                                                     "of that format).")],
    as_of: Annotated[Optional[str], typer.Option(
        help="Scoring time (date or ISO time; no zone means UTC); default: now.")] = None,
    leads: Annotated[Optional[Path], typer.Option(
        "--leads", exists=True, dir_okay=False,
        help="CSV or Parquet file with a lead_id column (optionally as_of per lead); "
             "default: every lead of the store created before --as-of.")] = None,
    language: Annotated[str, typer.Option(help="Reasons' language: en or ja.")] = "en",
    top_k: Annotated[int, typer.Option(min=1, max=10, help="Reasons each way.")] = 3,
    reasons: Annotated[bool, typer.Option(help="Explain each score (TreeSHAP; slower).")] = True,
    db: DatabaseOption = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = 2,
    memory_limit: MemoryOption = "auto",
    partitions: PartitionsOption = None,
    source: SourceOption = None,
) -> None:
    """Score the store's leads with the champion model (the rules without one), as the
    service would answer, into one file: probability, score, grade, action, top reasons.
    With --engine dask, on a Dask cluster into one file per account partition."""
    from serving.batch import load_scorer, read_lead_file, score_store, write_scores

    if out.suffix.lower() not in (".parquet", ".csv"):
        raise typer.BadParameter("must end in .parquet or .csv", param_hint="--out")
    if language not in ("en", "ja"):
        raise typer.BadParameter("must be en or ja", param_hint="--language")
    if check_engine(engine) == "dask" and leads is not None:
        raise typer.BadParameter("--leads works with --engine local only", param_hint="--leads")
    when = parse_as_of(as_of) or pd.Timestamp.now("UTC")
    quiet_mlflow()
    settings = settings_for(db)
    scorer = load_scorer(settings)
    model = scorer.active.sql
    console.print(f"scoring with {f'{model.name} v{model.version}' if model else 'the rules'}")
    if engine == "dask":
        _score_on_dask(settings, scorer.active, when, out, language, top_k, reasons,
                       (scheduler, workers, memory_limit), source, partitions)
        return
    try:
        wanted = read_lead_file(leads) if leads is not None else None
        with _progress_bar() as bar:
            task = bar.add_task("scoring", total=None)
            scores = score_store(open_store(settings), scorer, when, wanted,
                                 language=language, top_k=top_k, explain=reasons,
                                 progress=lambda done, total: bar.update(
                                     task, completed=done, total=total))
    except ValueError as error:
        console.print(f"[red]cannot score: {error}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{len(scores):,} leads scored -> {write_scores(scores, out)}")


def _score_on_dask(settings: Settings, active, as_of: pd.Timestamp, out: Path, language: str,
                   top_k: int, explain: bool, cluster: tuple, source: Path | None,
                   partitions: int | None) -> None:
    """Score every account partition on Dask into ``out/`` (one file per partition)."""
    from distributed import progress

    from scale.scoring import score_partitions, write_partitioned_scores

    with dask_client(*cluster) as client:
        try:
            parts = account_partitions(client, settings, source, partitions, persist=False)
            scores = score_partitions(parts, active, as_of, language, top_k, explain)
            write = client.compute(write_partitioned_scores(scores, out, out.suffix[1:].lower()))
            progress(write)
            write.result()
        except ValueError as error:
            console.print(f"[red]cannot score: {error}[/red]", highlight=False)
            raise typer.Exit(1) from None
    files = sorted(out.glob("*" + out.suffix.lower()))
    console.print(f"\n{parts.npartitions} account partitions scored -> {out}/ "
                  f"({len(files)} files)", highlight=False)


def _progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)

