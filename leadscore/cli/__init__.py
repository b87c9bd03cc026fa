"""The ``leadscore`` command line: the edge where files, databases and people meet the package.

The top of the house and the only place that wires the stages together. Each command group is a
module with its own Typer app ``commands`` (``data``: generate, generate-export, import, export,
load, summary; ``train``: train, promote, rollback; ``score``: batch scoring to a file;
``forecasts``: forecast, backtest; ``serve``: serve, openapi; ``monitor``: drift; ``docs``;
``demo``: all of them in a row; ``leader_reports``: funnel, dedupe, plan, recycle, added by
``register_report_commands``). A new group is a module like these plus one entry in
``COMMAND_GROUPS``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from crm.settings import CONFIG_ENV_VAR
from leadscore.cli import data, demo, docs, forecasts, monitor, score, serve, train
from leadscore.cli.leader_reports import register_report_commands

app = typer.Typer(help="Lead scoring and pipeline forecasting for B2B inside sales.",
                  no_args_is_help=True, add_completion=False)

COMMAND_GROUPS = (data.commands, train.commands, score.commands, forecasts.commands,
                  serve.commands, monitor.commands, docs.commands, demo.commands)
for group in COMMAND_GROUPS:
    app.add_typer(group)
register_report_commands(app)  # funnel, dedupe, plan, recycle


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
