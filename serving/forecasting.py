"""``POST /forecast``: the month- or quarter-end landing forecast of ``forecast/``, served.

Fitting a forecaster takes seconds (the time-to-close model and the interval width are fitted
on what was known at ``as_of``), so fitted forecasters are kept per (as_of, P(win) source,
currency) in a small cache; the pipeline tables are read from the store on a cache miss.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from threading import Lock

from forecast import convert_currency, fit_forecaster
from crm.store import CRMStore
from serving.schemas import ErrorResponse, FieldError, ForecastRequest

logger = logging.getLogger(__name__)

_CACHE_SIZE = 8


class ForecastService:
    """Fits and caches forecasters over the stored pipeline."""

    def __init__(self, store: CRMStore | None):
        self.store = store
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._lock = Lock()

    def forecast(self, request: ForecastRequest) -> dict:
        """The landing forecast as a JSON-ready dict (see ``LandingForecast.to_dict``)."""
        forecaster = self._forecaster(request)
        result = forecaster.forecast(request.freq, request.target, request.n_simulations,
                                     request.seed)
        return {"currency": request.currency, **result.to_dict()}

    def _forecaster(self, request: ForecastRequest):
        key = (request.as_of.date(), request.win_probability, request.currency,
               tuple(sorted(request.fx.items())))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        tables = self.store.read_tables(["opportunities", "opportunity_stage_history"])
        if request.fx:
            tables = convert_currency(tables, {request.currency: 1.0, **request.fx},
                                      request.currency)
        forecaster = fit_forecaster(tables, request.as_of.date().isoformat(),
                                    request.win_probability)
        with self._lock:
            self._cache[key] = forecaster
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return forecaster


async def handle_forecast(service: ForecastService, request: ForecastRequest
                          ) -> tuple[int, object]:
    """(status, body) of ``POST /forecast``: 422 names what the data cannot support."""
    if service.store is None:
        return 503, ErrorResponse(error="no CRM store is configured (LEADSCORE_DATABASE_URL)")
    try:
        return 200, await asyncio.to_thread(service.forecast, request)
    except ValueError as error:
        return 422, ErrorResponse(error="cannot forecast from the stored pipeline", fields=[
            FieldError(field="as_of", message=str(error), type="forecast")])
    except Exception:
        logger.exception("forecast failed")
        return 503, ErrorResponse(error="the forecast failed; see the service log")
