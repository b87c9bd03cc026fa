"""POST /forecast in-process: the stored pipeline, currency conversion, caching, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from crm.sample import GeneratorConfig, generate_crm
from crm.settings import Settings
from crm.store import CRMStore
from serving.forecasting import ForecastService, handle_forecast
from serving.schemas import ForecastRequest

FX = {"JPY": 1 / 150}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CRMStore:
    tables, _ = generate_crm(GeneratorConfig(n_leads=2000, seed=5))
    store = CRMStore(f"sqlite:///{tmp_path_factory.mktemp('fc') / 'crm.db'}")
    store.write_tables(tables)
    return store


@pytest.fixture(scope="module")
def service(store: CRMStore) -> ForecastService:
    return ForecastService(store)


def _request(**overrides) -> ForecastRequest:
    fields = {"as_of": "2026-10-15T00:00:00Z", "fx": FX, "n_simulations": 500, "seed": 3,
              "target": 10_000_000.0}
    fields.update(overrides)
    return ForecastRequest.model_validate(fields)


def test_forecast_answers_quantiles_breakdown_and_alert(service: ForecastService) -> None:
    status, body = asyncio.run(handle_forecast(service, _request()))
    assert status == 200, body
    assert body["currency"] == "USD" and body["period"] == "2026-10"
    assert body["p10"] <= body["p50"] <= body["p90"]
    assert body["expected"] == pytest.approx(sum(body["breakdown"].values()))
    assert body["alert"] is True and "below the target" in body["alert_message"]
    assert len(body["fan"]) == 31


def test_same_request_is_reproducible_and_cached(service: ForecastService) -> None:
    first = service.forecast(_request())
    second = service.forecast(_request())
    assert first == second
    assert len(service._cache) == 1


def test_another_day_reuses_the_fits_and_gives_the_same_answer(store: CRMStore) -> None:
    """Fits are shared across as-of dates (one per month, point in time): a second day refits
    nothing it has, and answers exactly as a fresh service does."""
    shared = ForecastService(store)
    shared.forecast(_request())
    (fits,) = [cache for _, cache in shared._fits.values()]
    fitted = dict(fits._models)
    later = shared.forecast(_request(as_of="2026-10-20T00:00:00Z"))
    assert [cache for _, cache in shared._fits.values()] == [fits]
    assert all(fits._models[month] is model for month, model in fitted.items())
    assert later == ForecastService(store).forecast(_request(as_of="2026-10-20T00:00:00Z"))


def test_a_reread_of_the_store_keeps_the_fits_of_what_did_not_change(
        store: CRMStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the fits expire the pipeline is read again (a new FitCache); the past months'
    fits come back from the fit store (here on disk, as after a restart) and the answer is
    the one a fresh service gives."""
    from forecast import FitStore, TimeToCloseModel

    first = ForecastService(store, fit_store=FitStore(tmp_path))
    first.forecast(_request())
    made = []
    fit = TimeToCloseModel.fit
    monkeypatch.setattr(TimeToCloseModel, "fit", lambda self, *a, **k: (
        made.append(a[1]), fit(self, *a, **k))[1])
    restarted = ForecastService(store, fit_store=FitStore(tmp_path))
    answer = restarted.forecast(_request(as_of="2026-10-21T00:00:00Z"))
    assert made == [] and restarted.fit_store.hits > 0
    assert answer == ForecastService(store).forecast(_request(as_of="2026-10-21T00:00:00Z"))
    assert made   # the fresh service fitted its months


def test_warming_builds_the_days_forecast_before_anyone_asks(
        store: CRMStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm-up fits the day's forecaster on the forecast thread; the first request of the
    day (the manager page's: no currency, default P(win)) then fits nothing."""
    from datetime import datetime, timezone

    from forecast import TimeToCloseModel

    service = ForecastService(store)
    day = datetime(2026, 10, 22, tzinfo=timezone.utc)
    assert service.warm(day) is True
    assert service.warm(day) is False   # already built
    made = []
    fit = TimeToCloseModel.fit
    monkeypatch.setattr(TimeToCloseModel, "fit", lambda self, *a, **k: (
        made.append(a[1]), fit(self, *a, **k))[1])
    calls = []
    monkeypatch.setattr("serving.forecasting.fit_forecaster", lambda *a, **k: calls.append(a))
    for freq in ("month", "quarter"):
        body = service.forecast(_request(as_of="2026-10-22T00:00:00Z", fx={}, freq=freq))
        assert body["p10"] <= body["p50"] <= body["p90"]
    assert made == [] and calls == []
    assert ForecastService(None).warm(day) is False   # no store: nothing to warm


def test_reporting_currency_and_rates_come_from_settings(service: ForecastService) -> None:
    """The sample CRM mixes USD and JPY: the default settings' rates make it forecastable."""
    status, body = asyncio.run(handle_forecast(service, _request(fx={})))
    assert status == 200, body
    assert body["currency"] == "USD"
    assert service.rates_for(_request(fx={})) == ("USD", {"JPY": 1 / 150, "USD": 1.0})


def test_mixed_currencies_without_rates_are_a_422_naming_the_problem(store: CRMStore) -> None:
    bare = ForecastService(store, Settings(fx_rates={}))
    status, body = asyncio.run(handle_forecast(bare, _request(fx={})))
    assert status == 422
    assert body.fields[0].field == "as_of" and "JPY" in body.fields[0].message


def test_forecasts_beyond_the_bound_are_refused_not_queued(store: CRMStore) -> None:
    busy = ForecastService(store, max_pending=1)
    busy._pending = 1   # one forecast already running on the forecast thread
    status, body = asyncio.run(handle_forecast(busy, _request()))
    assert status == 503 and "busy" in body.error


@pytest.mark.parametrize(("overrides", "field"), [
    ({"freq": "week"}, "freq"),
    ({"n_simulations": 10}, "n_simulations"),
    ({"fx": {"yen": 0.1}}, "fx"),
    ({"target": -1.0}, "target"),
    ({"as_of": "2026-10-15"}, "as_of"),
])
def test_bad_request_fields_are_named(overrides: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        _request(**overrides)
    assert error.value.errors()[0]["loc"][0] == field


def test_no_store_is_a_503() -> None:
    status, body = asyncio.run(handle_forecast(ForecastService(None), _request()))
    assert status == 503 and "no CRM store" in body.error
