"""Reference documents generated from the code, so they cannot drift from it."""

from __future__ import annotations

from pathlib import Path

from crm import schema
from crm.sample import describe_ground_truth

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"


def render_docs() -> dict[str, str]:
    """File name (under docs/) → Markdown text, for every generated document."""
    data_model = (
        "# The canonical CRM data model\n\n"
        "Generated from `crm/schema.py` by `leadscore docs`; a test keeps it in sync.\n"
        "Timestamps are timezone-aware and stored as UTC; `json` columns hold a JSON object.\n\n"
        + schema.describe_markdown()
    )
    return {"data_model.md": data_model, "sample_crm.md": describe_ground_truth()}


def write_docs(directory: Path = DOCS_DIR) -> list[Path]:
    """Write every generated document to ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render_docs().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
