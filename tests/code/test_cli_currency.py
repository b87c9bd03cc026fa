"""``--currency`` / ``--fx`` (``leadscore.cli.common``): one rule for ``forecast``, ``backtest``
and ``plan``. An option given wins; otherwise the settings' reporting currency and rates."""

from __future__ import annotations

import pandas as pd
import pytest
import typer

from crm.settings import Settings
from leadscore.cli.common import reporting_rates, to_reporting_currency

SETTINGS = Settings(reporting_currency="USD", fx_rates={"JPY": 0.005, "EUR": 1.25})


def _tables() -> dict[str, pd.DataFrame]:
    deals = pd.DataFrame({"opportunity_id": ["o1", "o2"], "currency": ["USD", "JPY"],
                          "amount": [100.0, 20_000.0]})
    history = pd.DataFrame({"opportunity_id": ["o1", "o2", "o2"],
                            "amount": [90.0, 10_000.0, 20_000.0]})
    return {"opportunities": deals, "opportunity_stage_history": history}


@pytest.mark.parametrize(("currency", "fx", "expected"), [
    (None, None, ("USD", {"JPY": 0.005, "EUR": 1.25, "USD": 1.0})),          # the settings'
    ("usd", None, ("USD", {"JPY": 0.005, "EUR": 1.25, "USD": 1.0})),
    (None, ["jpy=0.01"], ("USD", {"USD": 1.0, "JPY": 0.01})),                 # --fx wins
    ("EUR", None, ("EUR", {"EUR": 1.0})),               # the settings' rates are into USD
    ("JPY", ["USD=150"], ("JPY", {"JPY": 1.0, "USD": 150.0})),
])
def test_options_win_over_the_settings(currency: str | None, fx: list[str] | None,
                                       expected: tuple[str, dict[str, float]]) -> None:
    assert reporting_rates(SETTINGS, currency, fx) == expected


def test_a_bad_fx_value_is_named() -> None:
    with pytest.raises(typer.BadParameter, match="'JPY:0.01' is not CODE=RATE"):
        reporting_rates(SETTINGS, None, ["JPY:0.01"])


def test_deals_and_history_are_converted_at_the_settings_rates() -> None:
    tables, currency = to_reporting_currency(_tables(), SETTINGS, None, None)
    assert currency == "USD"
    assert tables["opportunities"]["amount"].tolist() == [100.0, 100.0]
    assert set(tables["opportunities"]["currency"]) == {"USD"}
    assert tables["opportunity_stage_history"]["amount"].tolist() == [90.0, 50.0, 100.0]


@pytest.mark.parametrize(("settings", "currency", "message"), [
    (Settings(reporting_currency="USD", fx_rates={}), None,
     "deals in JPY have no exchange rate into USD: give one with --fx JPY=RATE (one JPY in "
     "USD; repeat per currency) or set LEADSCORE_FX_RATES"),
    (SETTINGS, "GBP", "deals in JPY, USD have no exchange rate into GBP: give one with --fx "
                      "JPY=RATE (one JPY in GBP; repeat per currency)"),
])
def test_a_currency_without_a_rate_is_named_with_how_to_give_one(
        settings: Settings, currency: str | None, message: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        to_reporting_currency(_tables(), settings, currency, None)
    assert caught.value.format_message() == f"Invalid value for --fx: {message}"


def test_a_rate_that_is_not_positive_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="rates must be positive numbers"):
        to_reporting_currency(_tables(), SETTINGS, None, ["JPY=-1"])
