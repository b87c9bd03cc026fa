"""One typed settings object, read from a YAML file and ``LEADSCORE_*`` environment variables.

Precedence (highest first): keyword arguments, environment variables, the YAML file named by
``LEADSCORE_CONFIG`` (default ``leadscore.yaml`` in the working directory, if present), defaults.
Nothing here touches the disk except reading that YAML file when settings are built.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_ENV_VAR = "LEADSCORE_CONFIG"
DEFAULT_CONFIG_FILE = "leadscore.yaml"


def _config_file() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE))


class Settings(BaseSettings):
    """Everything a leadscore process needs to find its data, store, models and secrets."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="forbid")

    data_dir: Path = Field(Path("data"), description="Generated and imported data files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the CRM store; default: SQLite file in data_dir."
    )
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlruns/mlflow.db", description="MLflow backend store (runs and registry)."
    )
    mlflow_artifact_root: Path = Field(
        Path("mlruns/artifacts"), description="Where MLflow writes run artifacts."
    )
    api_key: SecretStr | None = Field(None, description="If set, scoring routes require it.")
    sql_model_name: str = "leadscore-sql"
    win_model_name: str = "leadscore-win"
    seed: int = 42

    @model_validator(mode="after")
    def _default_database_url(self) -> "Settings":
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'leadscore.db'}"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=_config_file())
        return (init_settings, env_settings, yaml_source)


def load_settings(**overrides: object) -> Settings:
    """Build settings from defaults, the YAML file, the environment and ``overrides``."""
    return Settings(**overrides)
