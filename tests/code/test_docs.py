"""The generated reference documents in docs/ match the code that defines them."""

from __future__ import annotations

import pytest

from crm import schema
from leadscore.docs import DOCS_DIR, render_docs


@pytest.mark.parametrize("name", sorted(render_docs()))
def test_generated_doc_is_up_to_date(name: str) -> None:
    committed = (DOCS_DIR / name).read_text(encoding="utf-8")
    assert committed == render_docs()[name], f"docs/{name} is stale: run `leadscore docs`"


def test_data_model_lists_every_column() -> None:
    text = render_docs()["data_model.md"]
    for spec in schema.TABLES.values():
        for column in spec.columns:
            assert f"| `{column.name}` |" in text


def test_readme_lists_every_leadscore_setting() -> None:
    from crm.settings import DEPRECATED_VARIABLES, Settings
    from serving.settings import ServingSettings
    from serving.ui.settings import UiSettings

    readme = (DOCS_DIR.parent / "README.md").read_text(encoding="utf-8")
    names = [f"LEADSCORE_{name.upper()}" for name in Settings.model_fields]
    names += [f"LEADSCORE_SERVING_{name.upper()}" for name in ServingSettings.model_fields]
    names += [f"LEADSCORE_UI_{name.upper()}" for name in UiSettings.model_fields]
    names += list(DEPRECATED_VARIABLES)  # still read for one release: say what replaces them
    missing = [name for name in names if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"
