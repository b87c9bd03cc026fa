"""``leadscore docs``: rewrite the reference documents generated from the code."""

from __future__ import annotations

import typer

from leadscore.cli.common import console
from leadscore.docs import write_docs

commands = typer.Typer()


@commands.command()
def docs() -> None:
    """Rewrite the generated reference documents under docs/."""
    for path in write_docs():
        console.print(str(path))
