"""``leadscore drift``: has what the model sees moved away from what it was trained on?

Serving and training are imported when the command runs, not when the CLI starts.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from leadscore.cli.common import (
    DatabaseOption,
    console,
    open_store,
    parse_as_of,
    quiet_mlflow,
    settings_for,
)

commands = typer.Typer()

_STYLES = {"ok": "green", "warn": "yellow", "alert": "bold red"}


@commands.command()
def drift(
    db: DatabaseOption = None,
    as_of: Annotated[Optional[str], typer.Option(
        help="Day the open leads are scored at (a date; a time counts as its UTC day); "
             "default: the store's today.")] = None,
    alias: Annotated[str, typer.Option(help="Registry alias of the lead model.")] = "champion",
) -> None:
    """PSI per model feature and for the score: the store's open leads, scored as of a day,
    against the test slice stored in the model's bundle. Thresholds: LEADSCORE_DRIFT_WARN_PSI,
    LEADSCORE_DRIFT_ALERT_PSI. Exit status 1 when any row is at or above the alert threshold."""
    from serving.store_drift import measure_store_drift
    from training.bundle import load_bundle

    day = parse_as_of(as_of, day="start")
    settings = settings_for(db)
    quiet_mlflow()
    uri = f"models:/{settings.sql_model_name}@{alias}"
    try:
        bundle = load_bundle(uri, tracking_uri=settings.mlflow_tracking_uri)
    except Exception as error:  # MLflow raises several kinds for a missing model or alias
        console.print(f"[red]cannot load {uri}: {error}[/red]")
        raise typer.Exit(2) from None
    result = measure_store_drift(open_store(settings), bundle, day,
                                 warn=settings.drift_warn_psi, alert=settings.drift_alert_psi)
    if result.report is None:
        reason = ("no reference: this model version was trained before drift references were "
                  "stored in the bundle" if not bundle.training_summary.get("drift")
                  else f"no open lead on {result.as_of.date()}")
        console.print(f"{uri}: {reason}; nothing to compare")
        return
    _print_report(result, uri, settings.drift_warn_psi, settings.drift_alert_psi)
    if result.report.alerts:
        raise typer.Exit(1)


def _print_report(result, uri: str, warn: float, alert: float) -> None:
    report = result.report
    console.print(f"Drift of {result.leads:,} open leads as of {result.as_of.date()} vs the "
                  f"test slice of {uri} ({report.reference_rows:,} rows); PSI warn {warn:g}, "
                  f"alert {alert:g}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("feature")
    table.add_column("PSI", justify="right")
    table.add_column("status")
    for row in sorted(report.features, key=lambda r: -r.psi) + [report.score]:
        style = _STYLES[row.status]
        table.add_row(row.name, f"{row.psi:.3f}", f"[{style}]{row.status}[/{style}]")
    console.print(table)
    if report.alerts:
        console.print(f"[bold red]alert:[/bold red] {', '.join(report.alerts)}")
