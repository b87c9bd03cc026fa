"""The BentoML service: ``bentoml serve serving.service:LeadScoring`` (from the project root).

Routes (request and response models in ``serving.schemas``; logic in ``serving.runtime``):

* ``POST /score`` — one lead: probability, score 1-99, grade, action, reasons (EN/JA), source;
* ``POST /score/batch`` — up to ``LEADSCORE_SERVING_MAX_BATCH_LEADS`` leads (413 above);
* ``POST /opportunities/win`` — win probability of a deal, with reasons;
* ``POST /events`` — idempotent activity ingest by ``event_id``;
* ``POST /forecast`` — month- or quarter-end landing (P10/P50/P90, breakdown, top deals, slip
  risks, alert below a target) from the stored pipeline;
* ``GET /model`` — active model versions, metrics, load times, fallbacks, last load errors;
* BentoML's ``/livez``, ``/readyz`` (ready once a model or the rules answer) and
  ``/metrics`` (Prometheus, with ``leadscore_rule_answers_total``,
  ``leadscore_model_load_failures_total``, ``leadscore_micro_batch_size`` and
  ``leadscore_drift_psi``: one series per model feature and the score, ``serving.drift``);
* ``/ui/`` — the web page (``serving.ui``): priority list, lead pages with the hand-off
  package, forecast and model pages; ``GET /leads/{id}/handoff`` — the package as JSON or
  Markdown;
* ``/docs.json`` — the OpenAPI document with the error answers (``serving.cli.write_openapi``
  writes the same document to a file).

Configuration: ``LEADSCORE_*`` (store, MLflow, model names, API key; ``crm.settings``) and
``LEADSCORE_SERVING_*`` (limits, polling, batching; ``serving.settings``). Importing this
module defines the service and nothing else; the runtime starts when BentoML creates it.
"""

from __future__ import annotations

import threading

import bentoml
from fastapi import FastAPI
from starlette.responses import HTMLResponse, JSONResponse

from forecast.fitstore import FitStore
from serving.forecasting import ForecastService, handle_forecast
from serving.http_limits import limit_header_time
from serving.logs import install_log_filters
from serving.middleware import GuardMiddleware
from serving.openapi import augment_openapi
from serving.paths import bound_path_labels
from serving.runtime import (
    ServingRuntime,
    build_runtime,
    handle_events,
    handle_score,
    handle_score_batch,
    handle_win,
    model_status,
)
from serving.schemas import (
    ErrorResponse,
    EventsRequest,
    EventsResponse,
    ForecastRequest,
    ModelStatusOut,
    ScoreBatchRequest,
    ScoreBatchResponse,
    ScoreRequest,
    ScoreResponse,
    WinRequest,
    WinResponse,
)
from serving.settings import ServingSettings
from serving.ui.auth import session_authoriser
from serving.ui.routes import PARTS, handoff_router, ui_app
from training.drift import DriftReport

RULE_ANSWERS = bentoml.metrics.Counter(
    name="leadscore_rule_answers",
    documentation="Answers given by the rules instead of a model, by model kind and reason.",
    labelnames=["model", "reason"])
LOAD_FAILURES = bentoml.metrics.Counter(
    name="leadscore_model_load_failures",
    documentation="Failed loads of a registered champion (the previous model kept serving).",
    labelnames=["model"])
DRIFT_PSI = bentoml.metrics.Gauge(
    name="leadscore_drift_psi",
    documentation="PSI of the recent model-scored leads against the served model's reference, "
                  "per model feature and for the score (serving.drift).",
    labelnames=["feature"], multiprocess_mode="livemostrecent")
BATCH_SIZE = bentoml.metrics.Histogram(
    name="leadscore_micro_batch_size",
    documentation="Leads scored together per micro-batch (adaptive batching).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128))

status_app = FastAPI(title="leadscore status", docs_url=None, redoc_url=None, openapi_url=None)
status_app.include_router(handoff_router)  # GET /leads/{id}/handoff (JSON or Markdown)

INDEX_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>leadscore API</title>
<link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
</head><body><div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
</body></html>
"""


@status_app.get("/", include_in_schema=False)
def get_index() -> HTMLResponse:
    """The API explorer (Swagger UI on ``/docs.json``), served from this host only: BentoML's
    own page also loads a third-party tag manager script."""
    return HTMLResponse(INDEX_PAGE)


@status_app.get("/model", response_model=ModelStatusOut,
                responses={401: {"model": ErrorResponse}})
def get_model() -> ModelStatusOut:
    """Active model versions with their metrics and load times, fallbacks and load errors."""
    return model_status(bentoml.get_current_service().runtime)


@status_app.get("/docs.json", include_in_schema=False)
def get_openapi() -> JSONResponse:
    """The OpenAPI document, with the service's error answers (see ``serving.openapi``)."""
    service = bentoml.get_current_service().bento_service
    return JSONResponse(augment_openapi(service.openapi_spec.asdict(), service.apis))


def _count_rule_answers(kind: str, reason: str, count: int) -> None:
    RULE_ANSWERS.labels(model=kind, reason=reason).inc(count)


def _count_load_failure(kind: str) -> None:
    LOAD_FAILURES.labels(model=kind).inc()


def _observe_batch(size: int) -> None:
    BATCH_SIZE.observe(size)


def _set_drift(report: DriftReport) -> None:
    """One gauge series per model feature and one for the score (never per request value)."""
    for row in report.all_rows:
        DRIFT_PSI.labels(feature=row.name).set(row.psi)


def _respond(status: int, body, ctx: bentoml.Context | None = None):
    """The answer; errors as JSON with their status (BentoML copies ``ctx``'s status onto the
    response of an API that takes ``ctx``, so it is set there too)."""
    if ctx is not None:
        ctx.response.status_code = status
    if status == 200:
        return body
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _accept_language(ctx: bentoml.Context) -> str | None:
    return ctx.request.headers.get("accept-language")


@bentoml.service(name="leadscore", traffic={"timeout": 60},
                 workers=ServingSettings().workers)
@bentoml.asgi_app(status_app, path="/")
@bentoml.asgi_app(ui_app, path="/ui")  # the web page (serving.ui), below "/" so it is matched first
class LeadScoring:
    """Lead scoring with reasons, win probability and event ingest for inside-sales teams."""

    def __init__(self) -> None:
        install_log_filters()
        self.runtime: ServingRuntime = build_runtime(
            on_rule_answer=_count_rule_answers, on_load_failure=_count_load_failure,
            on_batch=_observe_batch, on_drift=_set_drift).start()
        self.forecasts = ForecastService(
            self.runtime.store, self.runtime.settings,
            fit_store=FitStore.in_data_dir(self.runtime.settings.data_dir))
        self._stop_warming = threading.Event()
        PARTS.start_warming(self.runtime, self._stop_warming, self.forecasts)

    def __is_ready__(self) -> bool:
        return self.runtime.scorer.is_ready

    @bentoml.on_shutdown
    def stop_runtime(self) -> None:
        """Stop registry polling and the warm-up, and finish queued requests."""
        self._stop_warming.set()
        self.runtime.stop()

    @bentoml.api(route="/score")
    async def score(self, request: ScoreRequest, /, ctx: bentoml.Context) -> ScoreResponse:
        """Score one lead: probability, score 1-99, grade, action, reasons, source, warnings."""
        return _respond(*await handle_score(self.runtime, request, _accept_language(ctx)),
                        ctx)

    @bentoml.api(route="/score/batch")
    async def score_batch(self, request: ScoreBatchRequest, /,
                          ctx: bentoml.Context) -> ScoreBatchResponse:
        """Score several leads; each answer is what /score would give."""
        return _respond(*await handle_score_batch(self.runtime, request,
                                                   _accept_language(ctx)), ctx)

    @bentoml.api(route="/opportunities/win")
    async def win(self, request: WinRequest, /, ctx: bentoml.Context) -> WinResponse:
        """Win probability of an open deal, with reasons."""
        return _respond(*await handle_win(self.runtime, request, _accept_language(ctx)), ctx)

    @bentoml.api(route="/forecast")
    async def forecast(self, request: ForecastRequest, /, ctx: bentoml.Context) -> dict:
        """Month- or quarter-end landing: P10/P50/P90, breakdown, top deals, slip risks, alert."""
        status, body = await handle_forecast(self.forecasts, request)
        return _respond(status, body, ctx)

    @bentoml.api(route="/events")
    async def events(self, request: EventsRequest, /) -> EventsResponse:
        """Store activities; events whose event_id is already stored are skipped."""
        return _respond(*await handle_events(self.runtime, request))


LeadScoring.add_asgi_middleware(GuardMiddleware, authorisers=(session_authoriser,))
bound_path_labels(LeadScoring)  # metrics and access log see route templates, not raw paths
limit_header_time(ServingSettings().header_timeout_seconds)  # before the worker's uvicorn starts
