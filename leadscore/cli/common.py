"""What every command group shares: the console, the store option, settings, ``--as-of``, the
reporting currency (``--currency`` / ``--fx``) and table printing."""

from __future__ import annotations

import logging
import os
from typing import Annotated, Literal, Optional

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from crm.settings import Settings, load_settings
from crm.store import CRMStore
from crm.timestamps import is_date_alone, parse_day, parse_utc

console = Console()

DatabaseOption = Annotated[
    Optional[str], typer.Option("--db", help="SQLAlchemy URL (default: settings database_url).")
]
CurrencyOption = Annotated[Optional[str], typer.Option(
    help="Reporting currency (default: settings, LEADSCORE_REPORTING_CURRENCY).")]
FxOption = Annotated[Optional[list[str]], typer.Option(
    "--fx", help="CODE=RATE: one CODE in the reporting currency (repeat), e.g. JPY=0.0066667 "
                 "(default: settings, LEADSCORE_FX_RATES, for the settings' currency).")]


def settings_for(database_url: str | None = None) -> Settings:
    """The settings, with the store URL replaced by ``--db`` when one was given."""
    overrides = {"database_url": database_url} if database_url else {}
    return load_settings(**overrides)


def parse_as_of(text: str | None, option: str = "--as-of", *,
                day: Literal["start", "end"] | None = None) -> pd.Timestamp | None:
    """A point-in-time option's value in UTC, or None when it was not given.

    A time without a zone is UTC, one with a zone is converted (``crm.timestamps``); a date alone
    is 00:00 UTC of that day. ``day="start"``: the command means a whole day, so any value
    becomes the start of the UTC day it falls on. ``day="end"``: a date alone means the end of
    that day (its last microsecond: the whole day counts); a time is kept as given.

    Raises:
        typer.BadParameter: not a date or time (the message names ``option`` and the value).
    """
    if text is None:
        return None
    try:
        if day == "start":
            return parse_day(text, option)
        if day == "end" and is_date_alone(text):
            return parse_day(text, option, end=True)
        return parse_utc(text, option)
    except ValueError as error:
        problem = str(error).removeprefix(f"{option}: ")  # click names the option itself
        raise typer.BadParameter(problem, param_hint=option) from None


def reporting_rates(settings: Settings, currency: str | None,
                    fx: list[str] | None) -> tuple[str, dict[str, float]]:
    """The reporting currency and the value of one unit of each currency in it
    (``Settings.rates_into``): ``--currency`` wins over the settings' ``reporting_currency``,
    ``--fx`` rates over the settings' ``fx_rates``.

    Raises:
        typer.BadParameter: an ``--fx`` value that is not CODE=RATE.
    """
    rates = {}
    for item in fx or []:
        code, _, value = item.partition("=")
        try:
            rates[code.strip().upper()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r} is not CODE=RATE", param_hint="--fx") from None
    return settings.rates_into(currency, rates)


def to_reporting_currency(tables: dict[str, pd.DataFrame], settings: Settings,
                          currency: str | None, fx: list[str] | None
                          ) -> tuple[dict[str, pd.DataFrame], str]:
    """``tables`` with every deal amount in the reporting currency (``reporting_rates``), and
    that currency.

    Raises:
        typer.BadParameter: a deal currency with no rate (named, with how to give one), a bad
            ``--fx`` value or rate.
    """
    from forecast import convert_currency

    currency, rates = reporting_rates(settings, currency, fx)
    missing = sorted(set(tables["opportunities"]["currency"].dropna()) - set(rates))
    if missing:
        own = currency == settings.reporting_currency
        raise typer.BadParameter(
            f"deals in {', '.join(missing)} have no exchange rate into {currency}: give one "
            f"with --fx {missing[0]}=RATE (one {missing[0]} in {currency}; repeat per currency)"
            + (" or set LEADSCORE_FX_RATES" if own else ""), param_hint="--fx")
    try:
        return convert_currency(tables, rates, currency), currency
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--fx") from None


def open_store(settings: Settings) -> CRMStore:
    """The CRM store the settings name."""
    return CRMStore(settings.database_url)


def quiet_mlflow() -> None:
    """No MLflow progress bars or info logs in the CLI's output."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)


def format_number(value: object) -> str:
    """A metric for a table: ``n/a`` when missing, thousands separators from 100 up."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, float) and abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_counts(title: str, counts: dict[str, int]) -> None:
    """Rows per table."""
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)


def print_mapping(title: str, values: dict[str, object]) -> None:
    """A two-column table of the scalar values in ``values`` (nested ones are skipped)."""
    table = Table(title=title, show_header=False)
    for key, value in values.items():
        if isinstance(value, (dict, list)):
            continue
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    console.print(table)


def print_frame(title: str, frame: pd.DataFrame) -> None:
    """A frame as a table: text columns left, numbers right."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="left" if frame[column].dtype == object
                         or pd.api.types.is_string_dtype(frame[column]) else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(format_number(v) if isinstance(v, float) else str(v) for v in row))
    console.print(table)
