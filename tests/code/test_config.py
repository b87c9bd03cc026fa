"""Settings come from defaults, a YAML file and LEADSCORE_* variables, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from crm.settings import Settings, ensure_sqlite_parent, load_settings, sqlite_path


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


def test_absolute_resolves_relative_locations_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(mlflow_tracking_uri="sqlite:///runs/mlflow.db").absolute()
    root = tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{root / 'data' / 'leadscore.db'}"
    assert settings.database_url.startswith("sqlite:////")
    assert settings.mlflow_tracking_uri == f"sqlite:///{root / 'runs' / 'mlflow.db'}"
    assert settings.mlflow_artifact_root == root / "mlruns" / "artifacts"
    assert settings.data_dir == root / "data"


@pytest.mark.parametrize("url", ["sqlite:////srv/crm.db", "sqlite:///:memory:",
                                 "postgresql+psycopg://u:p@db.example:5432/crm",
                                 "http://mlflow.internal:5000"])
def test_absolute_leaves_absolute_and_remote_urls_alone(url: str) -> None:
    settings = load_settings(database_url=url, mlflow_tracking_uri=url).absolute(Path("/x"))
    assert (settings.database_url, settings.mlflow_tracking_uri) == (url, url)


def test_settings_travel_to_a_child_process_as_variables_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leadscore.yaml"
    config.write_text("sql_model_name: acme-sql\napi_key: k-123\nseed: 5\n")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    parent = load_settings().absolute(tmp_path)
    env = parent.to_env()
    assert env["LEADSCORE_API_KEY"] == "k-123"
    monkeypatch.delenv("LEADSCORE_CONFIG")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == parent


def test_redact_url_hides_passwords() -> None:
    from crm.settings import redact_url

    assert redact_url("postgresql+psycopg://leads:s3cret@db:5432/crm") == (
        "postgresql+psycopg://leads:***@db:5432/crm")
    assert redact_url("sqlite:///data/leadscore.db") == "sqlite:///data/leadscore.db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/leadscore.db", Path("data/leadscore.db")),
        ("sqlite:////tmp/x/mlflow.db", Path("/tmp/x/mlflow.db")),
        ("sqlite:///data/crm.db?timeout=5", Path("data/crm.db")),
        ("sqlite:///:memory:", None),
        ("sqlite://", None),
        ("postgresql+psycopg://u:p@host/db", None),
        ("http://127.0.0.1:5000", None),
    ],
)
def test_sqlite_path_reads_only_sqlite_file_urls(url: str, path: Path | None) -> None:
    assert sqlite_path(url) == path


def test_ensure_sqlite_parent_creates_the_folder_only_for_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}"
    assert ensure_sqlite_parent(url) == url
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a" / "b" / "store.db").exists()
    assert ensure_sqlite_parent("postgresql://u:p@host/db") == "postgresql://u:p@host/db"
@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_api_key_is_an_error_not_auth_off(monkeypatch: pytest.MonkeyPatch,
                                                   value: str) -> None:
    monkeypatch.setenv("LEADSCORE_API_KEY", value)
    with pytest.raises(ValidationError, match="LEADSCORE_API_KEY is set but empty"):
        load_settings()


@pytest.mark.parametrize(("old", "text", "field", "expected"), [
    ("LEADSCORE_UI_CURRENCY", "EUR", "reporting_currency", "EUR"),
    ("LEADSCORE_UI_FX", '{"JPY": 0.006, "GBP": 1.25}', "fx_rates", {"JPY": 0.006, "GBP": 1.25}),
])
def test_a_deprecated_ui_variable_still_sets_the_one_setting_with_a_warning(
        old: str, text: str, field: str, expected: object, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    new = f"LEADSCORE_{field.upper()}"
    monkeypatch.delenv(new, raising=False)
    monkeypatch.setenv(old, text)
    with caplog.at_level("WARNING", logger="crm.settings"):
        assert getattr(load_settings(), field) == expected
    assert f"{old} is deprecated" in caplog.text and f"set {new} instead" in caplog.text
    monkeypatch.setenv(new, text)  # both set, the same value: still works, still warns
    assert getattr(load_settings(), field) == expected


@pytest.mark.parametrize(("old", "old_text", "new", "new_text"), [
    ("LEADSCORE_UI_CURRENCY", "EUR", "LEADSCORE_REPORTING_CURRENCY", "USD"),
    ("LEADSCORE_UI_FX", '{"JPY": 0.006}', "LEADSCORE_FX_RATES", '{"JPY": 0.0066667}'),
])
def test_a_deprecated_ui_variable_that_disagrees_stops_the_start(
        old: str, old_text: str, new: str, new_text: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(old, old_text)
    monkeypatch.setenv(new, new_text)
    with pytest.raises(ValidationError, match=f"{old}=.* disagrees with .*{new}.* set {new} only"):
        load_settings()


def test_a_deprecated_ui_variable_disagreeing_with_the_yaml_file_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "leadscore.yaml"
    config.write_text("reporting_currency: JPY\n")
    monkeypatch.setenv("LEADSCORE_CONFIG", str(config))
    monkeypatch.setenv("LEADSCORE_UI_CURRENCY", "EUR")
    with pytest.raises(ValidationError, match="reporting_currency='JPY'"):
        load_settings()


def test_a_deprecated_fx_variable_that_is_not_json_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_UI_FX", "JPY=0.006")
    with pytest.raises(ValidationError, match="LEADSCORE_UI_FX must be JSON rates"):
        load_settings()


def test_the_web_page_has_no_currency_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.ui.settings import UiSettings

    monkeypatch.setenv("LEADSCORE_UI_CURRENCY", "EUR")  # read by crm.settings, not here
    assert not {"currency", "fx"} & set(UiSettings().model_dump())


def test_rates_into_one_rule_for_every_surface() -> None:
    """The settings' rates count for the settings' own currency; given rates win; the
    reporting currency is always 1 (CLI, POST /forecast and the pages read this)."""
    settings = Settings(reporting_currency="USD", fx_rates={"JPY": 0.0067, "EUR": 1.1})
    assert settings.rates_into() == ("USD", {"JPY": 0.0067, "EUR": 1.1, "USD": 1.0})
    assert settings.rates_into("jpy") == ("JPY", {"JPY": 1.0})
    assert settings.rates_into("JPY", {"USD": 150.0}) == ("JPY", {"USD": 150.0, "JPY": 1.0})
    assert settings.rates_into(None, {"JPY": 0.007, "USD": 3.0}) == (
        "USD", {"JPY": 0.007, "USD": 1.0})
