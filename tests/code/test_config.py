"""Settings come from defaults, a YAML file and LEADSCORE_* variables, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from crm.settings import load_settings


def test_defaults_keep_everything_local() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///data/leadscore.db"
    assert settings.mlflow_tracking_uri == "sqlite:///mlruns/mlflow.db"
    assert settings.api_key is None
    assert (settings.sql_model_name, settings.win_model_name) == ("leadscore-sql", "leadscore-win")


def test_yaml_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leadscore.yaml"
    config.write_text("data_dir: /srv/crm\nseed: 7\napi_key: from-yaml\n")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    monkeypatch.setenv("LEADSCORE_SEED", "11")
    settings = load_settings()
    assert settings.database_url == "sqlite:////srv/crm/leadscore.db"
    assert settings.seed == 11
    assert settings.api_key.get_secret_value() == "from-yaml"
    assert "from-yaml" not in repr(settings)


def test_unknown_yaml_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leadscore.yaml"
    config.write_text("datadir: typo\n")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    with pytest.raises(ValidationError, match="datadir"):
        load_settings()
