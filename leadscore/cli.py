"""The ``leadscore`` command line: the edge where files, databases and people meet the package."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadscore import schema
from leadscore.config import CONFIG_ENV_VAR, Settings, load_settings

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
    from leadscore.store import CRMStore

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
        from leadscore.store import export_tables

        export_tables(tables, export_dir)
    _print_counts(f"Sample CRM written to {settings.database_url}", counts)
    from leadscore.generate import summarize_crm

    _print_mapping("Ground truth realised", summarize_crm(tables, truth))


def _generate(n_leads: int, seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    from leadscore.generate import GeneratorConfig, generate_crm

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
) -> None:
    """Map a CRM export to the canonical tables, load the valid rows, report the rest."""
    from leadscore.importer import format_rejection_report, import_crm, load_mapping

    result = import_crm(load_mapping(mapping), source)
    settings = _settings(db)
    _store(settings).write_tables(result.tables, mode="replace" if replace else "append")
    console.print(format_rejection_report(result), markup=False, soft_wrap=True)
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
    from leadscore.store import export_tables

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
    from leadscore.store import read_table_files

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


@app.command()
def docs() -> None:
    """Rewrite the generated reference documents under docs/."""
    from leadscore.docs import write_docs

    for path in write_docs():
        console.print(str(path))


@app.command()
def demo(
    leads: Annotated[int, typer.Option(min=1_000, max=1_000_000, help="Number of leads.")] = 5000,
) -> None:
    """The main job on the embedded defaults: sample CRM into SQLite, then a summary."""
    generate(leads=leads, seed=None, db=None, export_dir=None)


if __name__ == "__main__":
    app()
