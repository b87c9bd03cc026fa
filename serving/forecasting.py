"""``POST /forecast``: the month- or quarter-end landing forecast of ``forecast/``, served.

Fitting a forecaster takes seconds (the monthly time-to-close models and the past periods that
calibrate the combination), so fitted forecasters are kept per (as_of, P(win) source, currency,
rates) in a small cache, and the fits themselves (``forecast.FitCache``: one time-to-close model
per month, on what was known then) are shared across as-of dates for ``FIT_CACHE_SECONDS``: a
forecast for another day of the same data refits nothing it already has. The pipeline tables
are read from the store when those fits expire; the past months' fits and evidence survive that
(and a restart) in a ``forecast.FitStore`` keyed by what the CRM knew when they were made, so a
re-read refits only what the new data changed. Forecasts
run on one dedicated thread, never on the scoring thread or the event loop, and at most
``max_pending`` wait for it: more are answered 503 at once instead of queueing behind a slow
fit. Amounts are converted to the reporting currency with the rates from settings
(``LEADSCORE_REPORTING_CURRENCY``, ``LEADSCORE_FX_RATES``) unless the request brings its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import datetime
from concurrent.futures import ThreadPoolExecutor
from threading import Lock

from crm.settings import Settings
from crm.store import CRMStore
from forecast import FitCache, Forecaster, convert_currency, fit_forecaster
from forecast.fitstore import FitStore
from serving.schemas import ErrorResponse, FieldError, ForecastRequest

logger = logging.getLogger(__name__)

_CACHE_SIZE = 8
FIT_CACHE_SECONDS = 600.0  # fits shared across as-of dates; the store is re-read after this


class ForecastBusy(RuntimeError):
    """More forecasts are waiting than the service allows."""


class ForecastService:
    """Fits, caches and runs forecasters over the stored pipeline on one worker thread.

    Args:
        store: the CRM store (None: every forecast answers 503).
        settings: reporting currency and FX rates (default: their defaults, USD and the sample
            CRM's JPY rate).
        max_pending: forecasts allowed to wait for or run on the worker at once.
        fit_store: where fits outlive a re-read of the store and a restart
            (``forecast.fitstore``; default: in memory only).
    """

    def __init__(self, store: CRMStore | None, settings: Settings | None = None,
                 max_pending: int = 2, fit_store: FitStore | None = None):
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.store = store
        self.settings = settings or Settings()
        self.max_pending = max_pending
        self._cache: OrderedDict[tuple, Forecaster] = OrderedDict()
        self._fits: dict[tuple, tuple[float, FitCache]] = {}
        self.fit_store = fit_store or FitStore()
        self._lock = Lock()
        self._pending = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast")

    @property
    def currency(self) -> str:
        """The service's reporting currency (``LEADSCORE_REPORTING_CURRENCY``)."""
        return self.settings.reporting_currency

    def rates_for(self, request: ForecastRequest) -> tuple[str, dict[str, float]]:
        """The reporting currency and rates of ``request`` (the service's when it names none)."""
        return self.settings.rates_into(request.currency, request.fx)

    def forecast(self, request: ForecastRequest) -> dict:
        """The landing forecast as a JSON-ready dict (see ``LandingForecast.to_dict``)."""
        currency, _ = self.rates_for(request)
        forecaster = self._forecaster(request)
        result = forecaster.forecast(request.freq, request.target, request.n_simulations,
                                     request.seed)
        return {"currency": currency, **result.to_dict()}

    async def run(self, request: ForecastRequest) -> dict:
        """``forecast`` on the forecast thread.

        Raises:
            ForecastBusy: when ``max_pending`` forecasts are already waiting or running.
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise ForecastBusy(f"{self._pending} forecasts are already running or queued")
            self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.forecast, request)
        finally:
            with self._lock:
                self._pending -= 1

    def warm(self, day: datetime) -> bool:
        """Build ``day``'s forecast (month and quarter, the service's currency and P(win)
        source) on the forecast thread unless it is cached, so that the first request of the
        day, the manager page's included, is answered from the cache. True when it built one.

        A day the data cannot support is logged and left to the request to report.
        """
        request = ForecastRequest(as_of=day)
        with self._lock:
            if self.store is None or self._key(request) in self._cache:
                return False
        try:
            for freq in ("month", "quarter"):
                self._executor.submit(self.forecast, request.model_copy(
                    update={"freq": freq})).result()
        except ValueError as error:
            logger.info("no forecast to warm for %s: %s", day.date(), error)
            return False
        return True

    def _key(self, request: ForecastRequest) -> tuple:
        currency, rates = self.rates_for(request)
        return (request.as_of.date(), request.win_probability, currency,
                tuple(sorted(rates.items())))

    def _forecaster(self, request: ForecastRequest) -> Forecaster:
        key = self._key(request)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        fits = self._fit_cache(*self.rates_for(request))
        forecaster = fit_forecaster(fits.tables, request.as_of.date().isoformat(),
                                    request.win_probability, cache=fits)
        with self._lock:
            self._cache[key] = forecaster
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return forecaster

    def _fit_cache(self, currency: str, rates: dict[str, float]) -> FitCache:
        """The fits of the stored pipeline in ``currency``, read and kept for
        ``FIT_CACHE_SECONDS`` (called on the forecast thread only)."""
        key = (currency, tuple(sorted(rates.items())))
        hit = self._fits.get(key)
        if hit is not None and time.monotonic() - hit[0] < FIT_CACHE_SECONDS:
            return hit[1]
        tables = self.store.read_tables(["opportunities", "opportunity_stage_history"])
        fits = FitCache(convert_currency(tables, rates, currency),
                        store=self.fit_store)
        self._fits = {key: (time.monotonic(), fits)}  # one dataset at a time: bounded memory
        return fits


async def handle_forecast(service: ForecastService, request: ForecastRequest
                          ) -> tuple[int, object]:
    """(status, body) of ``POST /forecast``: 422 names what the data cannot support."""
    if service.store is None:
        return 503, ErrorResponse(error="no CRM store is configured (LEADSCORE_DATABASE_URL)")
    try:
        return 200, await service.run(request)
    except ForecastBusy as error:
        return 503, ErrorResponse(error=f"forecast service busy: {error}; retry shortly")
    except ValueError as error:
        return 422, ErrorResponse(error="cannot forecast from the stored pipeline", fields=[
            FieldError(field="as_of", message=str(error), type="forecast")])
    except Exception:
        logger.exception("forecast failed")
        return 503, ErrorResponse(error="the forecast failed; see the service log")
