"""``leadscore demo``: the main job on the embedded defaults, from an empty folder to a service.

The one command that runs the stages end to end: the sample CRM (``data``), both models trained
and promoted (``train``), then the scoring service (``serve``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from leadscore.cli.common import console, settings_for
from leadscore.cli.data import generate
from leadscore.cli.serve import serve
from leadscore.cli.train import promote_and_report, train_and_report

commands = typer.Typer()


@commands.command()
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
    settings = settings_for()
    for task in ("sql", "win"):
        try:
            train_and_report(task, settings)
            promote_and_report(task, settings, tolerance_auc=0.005, tolerance_brier=0.005)
        except typer.Exit:  # refused: too little data, or a challenger worse than the champion
            continue
    console.print("Browse the runs and plots with: mlflow ui --backend-store-uri "
                  f"{settings.mlflow_tracking_uri}")
    if serve_after:
        console.print(f"Serving on http://127.0.0.1:{port} — try the curl in README.md; "
                      "Ctrl-C stops it.")
        serve(host="127.0.0.1", port=port)
