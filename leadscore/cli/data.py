"""``leadscore generate | generate-export | import | export | load | summary``: sample CRM,
sample exports in real-world shapes, imports, the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crm import schema
from crm.importer import MappingError, format_rejection_report, import_crm, load_mapping
from crm.sample import GeneratorConfig, generate_crm, summarize_crm
from crm.store import export_tables, read_table_files
from leadscore.cli.common import (
    DatabaseOption,
    console,
    open_store,
    print_counts,
    print_mapping,
    settings_for,
)

commands = typer.Typer()


@commands.command()
def generate(
    leads: Annotated[int, typer.Option(min=1_000, max=1_000_000, help="Number of leads.")] = 5000,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (default: settings).")] = None,
    db: DatabaseOption = None,
    export_dir: Annotated[Optional[Path], typer.Option(help="Also write table files here.")] = None,
    sql_drift: Annotated[float, typer.Option(
        min=-5.0, max=5.0, help="Base-rate drift: SQL log-odds added, rising from 0 for the "
        "oldest lead to this for the newest (e.g. 1.5 roughly triples the rate).")] = 0.0,
) -> None:
    """Generate a synthetic CRM with a hidden ground truth and load it into the store."""
    settings = settings_for(db)
    tables, truth = _generate(GeneratorConfig(
        n_leads=leads, seed=seed if seed is not None else settings.seed, sql_drift=sql_drift))
    counts = open_store(settings).write_tables(tables, mode="replace")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    truth.to_parquet(settings.data_dir / "ground_truth.parquet", index=False)
    if export_dir is not None:
        export_tables(tables, export_dir)
    print_counts(f"Sample CRM written to {settings.database_url}", counts)
    print_mapping("Ground truth realised", summarize_crm(tables, truth))


@commands.command("generate-export")
def generate_export(
    shape: Annotated[str, typer.Argument(help="funnel (label in a second file) or "
                                              "telemarketing (no id, time as row order).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the CSV files.")],
    rows: Annotated[int, typer.Option(min=100, max=5_000_000, help="MQLs or calls.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    start_rate: Annotated[float, typer.Option(help="Outcome rate of the oldest rows.")] = 0.05,
    end_rate: Annotated[float, typer.Option(help="Outcome rate of the newest rows (drift; "
                                                 "equal to --start-rate: none).")] = 0.30,
) -> None:
    """Write a sample CRM export in an awkward real-world shape, with base-rate drift, to import
    with config/mappings/sample_<shape>.yaml."""
    from crm.sample.exports import SHAPES, ExportConfig, write_export

    if shape not in SHAPES:
        raise typer.BadParameter(f"must be one of {', '.join(SHAPES)}", param_hint="SHAPE")
    try:
        config = ExportConfig(shape=shape, n_rows=rows, seed=seed, start_rate=start_rate,
                              end_rate=end_rate)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    for path in write_export(config, out):
        console.print(f"written {path}")


def _generate(config: GeneratorConfig) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("leads"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("generate", total=config.n_leads)
        tables, truth = generate_crm(
            config, progress=lambda done: bar.update(task, completed=done))
    for name, frame in tables.items():
        schema.validate_table(name, frame)
    return tables, truth


@commands.command("import")
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
    try:
        result = import_crm(load_mapping(mapping), source)
    except MappingError as error:
        console.print(f"[red]mapping error[/red]: {error}", soft_wrap=True)
        raise typer.Exit(2) from None
    if not check:
        open_store(settings_for(db)).write_tables(result.tables,
                                                  mode="replace" if replace else "append")
    console.print(format_rejection_report(result), markup=False, soft_wrap=True)
    if check:
        console.print("dry run (--check): nothing was written to the store")
    if rejections is not None:
        result.rejections.to_csv(rejections, index=False)
        console.print(f"all {len(result.rejections):,} rejections written to {rejections}")


@commands.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write <table>.<format> files to.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    db: DatabaseOption = None,
) -> None:
    """Export every canonical table from the store to files."""
    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter("must be parquet or csv", param_hint="--format")
    tables = open_store(settings_for(db)).read_tables()
    paths = export_tables(tables, directory, fmt)  # type: ignore[arg-type]
    console.print("\n".join(str(p) for p in paths))


@commands.command()
def load(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                              help="Folder of <table>.parquet|csv files.")],
    db: DatabaseOption = None,
) -> None:
    """Load canonical table files (as written by ``export``) into the store."""
    tables, violations = read_table_files(directory)
    counts = open_store(settings_for(db)).write_tables(tables, mode="replace")
    print_counts("Loaded", counts)
    if len(violations):
        console.print(f"[yellow]{len(violations):,} rows rejected[/yellow]")
        console.print(violations.head(20).to_string(index=False))


@commands.command()
def summary(db: DatabaseOption = None) -> None:
    """Row counts per canonical table in the store."""
    settings = settings_for(db)
    print_counts(f"Store {settings.database_url}", open_store(settings).count_rows())
