"""``leadscore serve | openapi``: the scoring service (``serving.cli`` does the work)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from crm.settings import Settings, redact_url
from leadscore.cli.common import console, settings_for
from serving.cli import serve as run_service
from serving.cli import write_openapi

commands = typer.Typer()


@commands.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 3000,
) -> None:
    """Serve lead scoring over HTTP (champion models from the MLflow registry, else rules).

    The settings are resolved here, in the working directory (its leadscore.yaml or
    LEADSCORE_CONFIG, LEADSCORE_* variables), with relative locations made absolute, and handed
    to the service process: it serves this folder's store and models, wherever it runs from."""
    settings = settings_for().absolute()
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


@commands.command()
def openapi(
    path: Annotated[Path, typer.Argument(help="Where to write the document.")] = Path(
        "openapi.json"),
) -> None:
    """Write the service's OpenAPI document to a file."""
    console.print(f"written {write_openapi(path)}")
