"""One typed settings object, read from a YAML file and ``LEADSCORE_*`` environment variables.

Precedence (highest first): keyword arguments, environment variables, the YAML file named by
``LEADSCORE_CONFIG`` (default ``leadscore.yaml`` in the working directory, if present), defaults.
Nothing here touches the disk except reading that YAML file when settings are built, and
``ensure_sqlite_parent`` when a caller is about to open a SQLite file. ``sqlite_path`` is the one
place that reads a ``sqlite:///`` URL (the CRM store and the MLflow tracking URI alike).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import sqlalchemy as sa
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_ENV_VAR = "LEADSCORE_CONFIG"
DEFAULT_CONFIG_FILE = "leadscore.yaml"
SQLITE_PREFIX = "sqlite:///"
API_KEY_VARIABLE = "LEADSCORE_API_KEY"
# Deprecated variables still read for one release, as aliases of the setting they name (the web
# page once had its own currency and rates; the pages now use the service's).
DEPRECATED_VARIABLES = {"LEADSCORE_UI_CURRENCY": "reporting_currency",
                        "LEADSCORE_UI_FX": "fx_rates"}

logger = logging.getLogger(__name__)


def check_api_key(key: str | None) -> str | None:
    """``key`` unchanged; None means no key (auth off). An empty or blank key is an error
    naming the variable, so a variable set to ``''`` never turns auth off silently."""
    if key is not None and not key.strip():
        raise ValueError(f"{API_KEY_VARIABLE} is set but empty: set a key, or unset the "
                         "variable to serve without authentication")
    return key


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
    reporting_currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$",
        description="Currency forecasts report in (LEADSCORE_REPORTING_CURRENCY).")
    fx_rates: dict[str, float] = Field(
        default_factory=lambda: {"JPY": 1 / 150},
        description="Value of one unit of each other currency in the reporting currency, as "
                    "JSON (LEADSCORE_FX_RATES='{\"JPY\": 0.0066667}'); the default suits the "
                    "sample CRM (USD and JPY at 150 JPY per USD).")
    api_key: SecretStr | None = Field(
        None, description="If set, every route of the service except the public ones requires "
                          "it; set but empty is an error.")
    drift_warn_psi: float = Field(
        0.1, gt=0, description="PSI of a feature or the score against the model's reference "
                               "from which drift is reported as 'warn' (LEADSCORE_DRIFT_WARN_PSI).")
    drift_alert_psi: float = Field(
        0.25, gt=0, description="PSI from which drift is an 'alert': `leadscore drift` exits "
                                "non-zero, the service logs a WARNING naming the features.")
    sql_model_name: str = "leadscore-sql"
    win_model_name: str = "leadscore-win"
    seed: int = 42

    def rates_into(self, currency: str | None = None, fx: dict[str, float] | None = None
                   ) -> tuple[str, dict[str, float]]:
        """The reporting currency (``currency``, else ``reporting_currency``) and the value of
        one unit of each currency in it: ``fx`` when given, else ``fx_rates`` when the currency
        is the settings' own (they are rates into it); the currency itself is always 1.

        The one rule of the CLI, ``POST /forecast`` and the web pages.
        """
        currency = (currency or self.reporting_currency).strip().upper()
        if fx:
            rates = dict(fx)
        else:
            rates = dict(self.fx_rates) if currency == self.reporting_currency else {}
        return currency, {**rates, currency: 1.0}

    def absolute(self, base: Path | None = None) -> "Settings":
        """These settings with every relative location (data folder, SQLite files, artifact
        root) made absolute against ``base`` (default: the working directory), so that a
        process started in another folder finds the same files."""
        base = (base or Path.cwd()).resolve()
        return self.model_copy(update={
            "data_dir": base / self.data_dir,
            "database_url": _absolute_sqlite(self.database_url, base),
            "mlflow_tracking_uri": _absolute_sqlite(self.mlflow_tracking_uri, base),
            "mlflow_artifact_root": base / self.mlflow_artifact_root})

    def to_env(self) -> dict[str, str]:
        """Every setting as its ``LEADSCORE_*`` environment variable (for a child process)."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
            else:
                text = json.dumps(value) if isinstance(value, dict) else str(value)
            env[f"LEADSCORE_{name.upper()}"] = text
        return env

    @model_validator(mode="before")
    @classmethod
    def _read_deprecated_variables(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        for old, field in DEPRECATED_VARIABLES.items():
            if old in os.environ:
                data = _apply_deprecated_variable(data, old, os.environ[old], field)
        return data

    @field_validator("api_key")
    @classmethod
    def _non_empty_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        check_api_key(value.get_secret_value() if value is not None else None)
        return value

    @model_validator(mode="after")
    def _check_fx_rates(self) -> "Settings":
        bad = {code: rate for code, rate in self.fx_rates.items()
               if not (len(code) == 3 and code.isupper() and 0 < rate < float("inf"))}
        if bad:
            raise ValueError(f"fx_rates must map 3-letter currency codes to positive rates, "
                             f"got {bad}")
        return self

    @model_validator(mode="after")
    def _check_drift_thresholds(self) -> "Settings":
        if self.drift_warn_psi > self.drift_alert_psi:
            raise ValueError(f"drift_warn_psi ({self.drift_warn_psi}) must not exceed "
                             f"drift_alert_psi ({self.drift_alert_psi})")
        return self

    @model_validator(mode="after")
    def _default_database_url(self) -> "Settings":
        if self.database_url is None:
            self.database_url = f"{SQLITE_PREFIX}{self.data_dir / 'leadscore.db'}"
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


def _apply_deprecated_variable(values: dict, old: str, text: str, field: str) -> dict:
    """``values`` (settings by field name) with deprecated variable ``old`` (set to ``text``)
    as the value of ``field`` when nothing else set it, with a WARNING naming the new variable.

    Raises:
        ValueError: ``text`` is not a value of ``field``, or the new variable (or YAML key, or
            keyword) set ``field`` to another value: the message names both.
    """
    new = f"LEADSCORE_{field.upper()}"
    value = _read_setting(text, field, old)
    if field in values and _read_setting(values[field], field, new) != value:
        raise ValueError(f"{old}={text} disagrees with {field}={values[field]!r} (from {new}, "
                         f"the YAML file or an option): {old} is deprecated, set {new} only")
    logger.warning("%s is deprecated and will be removed in the next release: set %s instead "
                   "(it is the currency and rates of the web pages, the CLI and POST /forecast)",
                   old, new)
    return values if field in values else {**values, field: value}


def _read_setting(value: object, field: str, name: str) -> object:
    if field != "fx_rates":
        return str(value)
    try:
        rates = json.loads(value) if isinstance(value, str) else value
        return {str(code): float(rate) for code, rate in rates.items()}
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{name} must be JSON rates such as {{\"JPY\": 0.0066667}}, "
                         f"got {value!r}") from None


def _absolute_sqlite(url: str | None, base: Path) -> str | None:
    """``sqlite:///relative.db`` against ``base``; any other URL as it is."""
    path = sqlite_path(url) if url is not None else None
    if path is None or path.is_absolute() or path.as_posix().startswith("file:"):
        return url
    return f"{SQLITE_PREFIX}{base / url.removeprefix(SQLITE_PREFIX)}"


def redact_url(url: str | None) -> str:
    """A database or tracking URL fit for a log line: any password replaced by ``***``."""
    if not url:
        return str(url)
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def load_settings(**overrides: object) -> Settings:
    """Build settings from defaults, the YAML file, the environment and ``overrides``."""
    return Settings(**overrides)


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///<path>`` URL (SQLAlchemy or MLflow).

    Args:
        url: any database or tracking URL; ``sqlite:////abs/file.db`` is absolute,
            ``sqlite:///rel/file.db`` relative to the working directory.

    Returns:
        The file's path, or None for another kind of URL or an in-memory SQLite database.
    """
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = url.removeprefix(SQLITE_PREFIX).partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def ensure_sqlite_parent(url: str) -> str:
    """Create the folder of a SQLite file URL before it is opened (nothing for other URLs).

    Returns:
        ``url`` unchanged, so a caller can write ``connect(ensure_sqlite_parent(url))``.
    """
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return url
