"""The web page (mounted at ``/ui``) and the hand-off API (``GET /leads/{id}/handoff``).

Pages are rendered on the server (Jinja2, inline SVG charts, no scripts) from the running
service's own parts: the scorer and store of ``serving.runtime``, the forecaster cache of
``serving.forecasting`` and the MLflow registry. Every page needs the API key: a browser signs
in once at ``/ui/login`` and then carries a signed session cookie (``serving.ui.auth``);
programs send the key as a header.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import bentoml
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from crm.timestamps import parse_day
from serving.request_records import RequestError
from serving.schemas import ForecastRequest, ScoreRequest
from serving.scorer import LeadJob
from serving.ui import charts
from serving.ui.auth import (COOKIE_NAME, SESSION_SECONDS, issue_session, key_matches,
                             request_is_authorised, safe_next)
from serving.ui.board import DAY, BoardCache, default_as_of, find_changes, page_of
from serving.ui.handoff import (LeadNotFoundError, build_handoff, confirmed_bant,
                                is_sales_qualified, read_lead_file, render_handoff_markdown)
from serving.ui.i18n import pick_language, translator
from serving.ui.leader import (
    DEDUPE_TABLES,
    FUNNEL_TABLES,
    PLAN_TABLES,
    RECYCLE_TABLES,
    ReportCache,
    dedupe_view,
    funnel_view,
    period_before,
    plan_view,
    read_report_tables,
    recycle_view,
)
from serving.ui.models import population_stability, read_model_cards, segment_gaps
from serving.ui.settings import UiSettings

logger = logging.getLogger(__name__)

BASE = "/ui"
LANG_COOKIE = "leadscore_lang"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
OPEN_PAGES = frozenset({"/login", "/logout"})


class SignInRequired(Exception):
    """The request carries neither the key nor a valid session."""

    def __init__(self, target: str):
        self.target = target


def require_sign_in(request: Request) -> None:
    """Every page of ``ui_app`` needs the key or a session (a new page too), except the
    sign-in and sign-out pages; the others redirect to the sign-in page."""
    path = request.url.path.removeprefix(BASE) or "/"
    if path in OPEN_PAGES:
        return
    if not request_is_authorised(request.headers, request.cookies, PARTS.api_key):
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(BASE + path + query)


ui_app = FastAPI(title="leadscore ui", docs_url=None, redoc_url=None, openapi_url=None,
                 dependencies=[Depends(require_sign_in)])
handoff_router = APIRouter()


class _Parts:
    """What the page needs from the running service, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runtime = None
        self._forecasts = None
        self._boards: BoardCache | None = None
        self._as_of: tuple[float, pd.Timestamp] | None = None
        self.settings = UiSettings()
        self.reports = ReportCache()

    @property
    def service(self):
        return bentoml.get_current_service()

    @property
    def runtime(self):
        return self._runtime if self._runtime is not None else self.service.runtime

    def start_warming(self, runtime, stop: threading.Event,
                      forecasts=None) -> threading.Thread | None:
        """Keep today's and yesterday's boards built for the served model, and today's
        forecast (``forecasts``: the service's ``ForecastService``), in the background, so that
        the first view of the priority list or the forecast after a start, a model change or a
        new day does not pay the build (every ``LEADSCORE_UI_WARM_SECONDS``; 0 turns it off)."""
        if not self.settings.warm_seconds or runtime.store is None:
            return None
        self._runtime = runtime
        self._forecasts = forecasts
        thread = threading.Thread(target=self._warm, args=(stop,), name="ui-warm", daemon=True)
        thread.start()
        return thread

    def _warm(self, stop: threading.Event) -> None:
        while not stop.is_set():
            pause = 1.0  # until the scorer has checked the registry once
            if self._runtime.scorer.is_ready:
                pause = self.settings.warm_seconds
                try:
                    self.warm_boards()
                    if self._forecasts is not None:
                        self._forecasts.warm(self.as_of(None).to_pydatetime())
                except Exception:  # noqa: BLE001 - a page view shows the error; keep warming
                    logger.exception("warming the priority boards or the forecast failed")
            if stop.wait(pause):
                return

    def warm_boards(self) -> int:
        """Build today's and yesterday's boards when missing; how many were built."""
        day, built = self.as_of(None), 0
        for moment in (day, day - DAY):
            if not self.boards.has(moment):
                self.boards.get(moment)
                built += 1
        return built

    @property
    def api_key(self) -> str | None:
        secret = self.runtime.settings.api_key
        return secret.get_secret_value() if secret is not None else None

    @property
    def boards(self) -> BoardCache:
        with self._lock:
            if self._boards is None:
                self._boards = BoardCache(self.store, self.runtime.scorer)
            return self._boards

    @property
    def store(self):
        store = self.runtime.store
        if store is None:
            raise LookupError("no CRM store is configured (LEADSCORE_DATABASE_URL)")
        return store

    def report(self, kind: str, key: tuple, tables: tuple[str, ...], build):
        """``build(tables)``'s result, cached by ``(kind, *key)`` (the leader's pages)."""
        return self.reports.get((kind, *key), lambda: build(read_report_tables(self.store,
                                                                              tables)))

    def as_of(self, requested: str | None) -> pd.Timestamp:
        """``?as_of=YYYY-MM-DD`` (day start, UTC), else the store's today (kept 5 minutes)."""
        if requested:
            return parse_day(requested, "as_of")
        with self._lock:
            if self._as_of is None or time.monotonic() - self._as_of[0] > 300:
                self._as_of = (time.monotonic(), default_as_of(self.store))
            return self._as_of[1]


PARTS = _Parts()


@ui_app.exception_handler(SignInRequired)
def _to_login(request: Request, error: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"{BASE}/login?next={quote(error.target)}", status_code=303)


@ui_app.exception_handler(LookupError)
def _no_store(request: Request, error: LookupError) -> HTMLResponse:
    return _render(request, "message.html", {"message": str(error)}, status_code=503)


@ui_app.exception_handler(ValueError)
def _bad_value(request: Request, error: ValueError) -> HTMLResponse:
    return _render(request, "message.html", {"message": str(error)}, status_code=422)


def _language(request: Request) -> str:
    return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                         request.headers.get("accept-language"))


def _render(request: Request, template: str, context: dict[str, Any],
            status_code: int = 200) -> HTMLResponse:
    language = _language(request)
    other = "ja" if language == "en" else "en"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    path = BASE + request.url.path.removeprefix(BASE)
    response = TEMPLATES.TemplateResponse(request, template, {
        "t": translator(language), "lang": language, "base": BASE,
        "toggle_url": f"{path}?{urlencode({**query, 'lang': other})}", **context},
        status_code=status_code)
    if request.query_params.get("lang") in ("en", "ja"):
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="strict",
                            httponly=True)
    return response


# --- sign-in ------------------------------------------------------------------------------


@ui_app.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = f"{BASE}/") -> HTMLResponse:
    """The key prompt."""
    return _render(request, "login.html", {"next": safe_next(next), "failed": False})


@ui_app.post("/login")
def login(request: Request, key: str = Form(""), next: str = Form(f"{BASE}/")):
    """Check the typed key; on success set the session cookie and go on to ``next``."""
    api_key = PARTS.api_key
    if api_key and not key_matches(key, api_key):
        return _render(request, "login.html", {"next": safe_next(next), "failed": True},
                       status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    if api_key:
        response.set_cookie(COOKIE_NAME, issue_session(api_key), max_age=SESSION_SECONDS,
                            httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


@ui_app.post("/logout")
def logout() -> RedirectResponse:
    """Forget the session."""
    response = RedirectResponse(f"{BASE}/login", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response


# --- priority list --------------------------------------------------------------------------


@ui_app.get("/", response_class=HTMLResponse)
def priority_page(request: Request, as_of: str | None = None, owner: str | None = None,
                  source: str | None = None, grade: str | None = None,
                  icp_tier: str | None = None, page: int = 1,
                  per_page: int | None = None) -> HTMLResponse:
    """Open leads ranked by score, with filters and what changed since yesterday."""
    settings, language = PARTS.settings, _language(request)
    day = PARTS.as_of(as_of)
    board = PARTS.boards.get(day)
    yesterday = PARTS.boards.get(day - DAY)
    leads = board.open_leads(owner, source, grade, icp_tier)
    per_page = min(max(per_page or settings.page_size, 10), 500)
    shown, pages = page_of(leads, page, per_page)
    page = min(max(1, page), pages)
    reasons = board.reasons(PARTS.runtime.scorer, [lead.lead_id for lead in shown], language)
    jumps, crossed = find_changes(board, yesterday, settings.jump_points)
    filters = {"as_of": as_of, "owner": owner, "source": source, "grade": grade,
               "icp_tier": icp_tier, "per_page": per_page if per_page != settings.page_size
               else None}
    return _render(request, "priority.html", {
        "board": board, "leads": shown, "reasons": reasons, "total": len(leads),
        "page": page, "pages": pages, "first_rank": (page - 1) * per_page + 1,
        "filters": filters, "choices": board.choices(), "jumps": jumps[:15],
        "crossed": crossed[:15], "jump_points": settings.jump_points,
        "page_url": lambda n: f"{BASE}/?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "page": n}),
        "as_of_text": day.date().isoformat()})


# --- lead page ------------------------------------------------------------------------------


@ui_app.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, lead_id: str, as_of: str | None = None) -> HTMLResponse:
    """One lead: score history, reasons chart, timeline, BANT and the hand-off package."""
    language, day = _language(request), PARTS.as_of(as_of)
    try:
        file = read_lead_file(PARTS.store, lead_id)
    except LeadNotFoundError as error:
        return _render(request, "message.html", {"message": str(error)}, status_code=404)
    answer, history = score_lead_over_time(lead_id, file.lead["created_at"], day, language,
                                           PARTS.settings.history_weeks)
    reasons = answer.reasons.positive + answer.reasons.negative
    activities = file.activities[file.activities["occurred_at"] < day].sort_values(
        "occurred_at", ascending=False, kind="stable").head(60)
    sales_qualified = is_sales_qualified(file.lead_frame, day)
    return _render(request, "lead.html", {
        "lead": file.lead, "account": file.account, "answer": answer, "as_of_text":
        day.date().isoformat(), "history_chart": _history_chart(history, language),
        "reasons_chart": charts.bar_chart([(r.text, r.contribution) for r in reasons],
                                          translator(language)["contributions"]),
        "reasons": reasons, "activities": activities.itertuples(),
        "bant": confirmed_bant(file.lead, day), "sales_qualified": sales_qualified,
        "handoff": build_handoff(file, day, language, reasons) if sales_qualified else None,
        "handoff_url": f"/leads/{quote(lead_id)}/handoff"})


def score_lead_over_time(lead_id: str, created_at: pd.Timestamp, as_of: pd.Timestamp,
                         language: str, weeks: int):
    """The scorer's answer for the lead at ``as_of`` (6 reasons each way) and its scores at
    weekly steps back (only after the lead was created), oldest first."""
    scorer = PARTS.runtime.scorer
    moments = [as_of - pd.Timedelta(weeks=k) for k in range(weeks + 1)]
    moments = [m for m in moments if m > created_at] or [as_of]
    jobs = [LeadJob(ScoreRequest(lead_id=lead_id, as_of=m.to_pydatetime(),
                                 language=language, top_k=6 if i == 0 else 1), language)
            for i, m in enumerate(moments)]
    answers = scorer.score_leads(scorer.fetch_contexts(jobs))
    for answer in answers:
        if isinstance(answer, RequestError):
            raise ValueError(f"lead {lead_id} cannot be scored: {answer.message}")
    history = [(m, a.score) for m, a in zip(reversed(moments), reversed(answers))]
    return answers[0], history


def _history_chart(history: list[tuple[pd.Timestamp, int]], language: str):
    points = [(float(i), float(score)) for i, (_, score) in enumerate(history)]
    labels = [(float(i), m.strftime("%m-%d")) for i, (m, _) in enumerate(history)
              if i % 2 == 0 or i == len(history) - 1]
    return charts.line_chart({translator(language)["score"]: points},
                             translator(language)["score_history"], x_labels=labels,
                             y_range=(0, 100))


# --- forecast -------------------------------------------------------------------------------


@ui_app.get("/forecast", response_class=HTMLResponse)
def forecast_page(request: Request, as_of: str | None = None,
                  target_month: float | None = None,
                  target_quarter: float | None = None) -> HTMLResponse:
    """The month's and the quarter's landing: fan chart, breakdown, deals, alert."""
    language, day = _language(request), PARTS.as_of(as_of)
    forecasts = PARTS.service.forecasts  # in the service's currency, at its rates
    periods = []
    for freq, target in (("month", target_month), ("quarter", target_quarter)):
        request_ = ForecastRequest(as_of=day.to_pydatetime(), freq=freq, target=target)
        try:
            result = forecasts.forecast(request_)
        except ValueError as error:
            periods.append({"freq": freq, "error": str(error)})
            continue
        periods.append({"freq": freq, "result": result,
                        "chart": _fan_chart(result, translator(language))})
    return _render(request, "forecast.html", {
        "periods": periods, "as_of_text": day.date().isoformat(), "currency": forecasts.currency,
        "targets": {"month": target_month, "quarter": target_quarter}})


def _fan_chart(result: dict, t) -> Any:
    fan = result.get("fan") or []
    booked = [(float(i), r["booked"]) for i, r in enumerate(fan) if r.get("p50") is None
              and r.get("booked") is not None]
    band = [(float(i), r["p10"], r["p90"]) for i, r in enumerate(fan) if r.get("p50") is not None]
    p50 = [(float(i), r["p50"]) for i, r in enumerate(fan) if r.get("p50") is not None]
    step = max(1, len(fan) // 8)
    labels = [(float(i), r["date"][5:]) for i, r in enumerate(fan) if i % step == 0]
    target = result.get("target")
    return charts.line_chart({"P50": p50, t["booked"]: booked}, t["forecast_title"],
                             x_labels=labels, band=band,
                             hline=(target, t["target"]) if target else None)


# --- model ----------------------------------------------------------------------------------


@ui_app.get("/model", response_class=HTMLResponse)
def model_page(request: Request) -> HTMLResponse:
    """Champion and challenger, calibration and lift, segment gaps, drift, the fallback."""
    from serving.runtime import model_status

    language = _language(request)
    t = translator(language)
    runtime = PARTS.runtime
    cards = read_model_cards(runtime.settings.mlflow_tracking_uri,
                             runtime.settings.sql_model_name)
    champion = next((c for c in cards if c.alias == "champion"), None)
    psi = None
    if champion is not None and runtime.store is not None:
        board = PARTS.boards.get(PARTS.as_of(None))
        psi = population_stability(champion.calibration, [
            lead.probability for lead in board.leads if lead.is_open
            and lead.probability is not None])
    return _render(request, "model.html", {
        "cards": cards, "status": model_status(runtime), "psi": psi,
        "metric_names": sorted({k for c in cards for k in c.metrics}),
        "calibration_charts": {c.alias: _calibration_chart(c, t) for c in cards if c.calibration},
        "lift_charts": {c.alias: charts.column_chart(
            [(str(r["decile"]), r["lift"]) for r in c.lift], t["lift"], reference=1.0)
            for c in cards if c.lift},
        "gaps": {c.alias: segment_gaps(c.segments) for c in cards}})


def _calibration_chart(card, t):
    rows = card.calibration
    return charts.line_chart(
        {t["observed"]: [(r["mean_predicted"], r["observed_rate"]) for r in rows]},
        t["calibration"], x_labels=[(x / 4, f"{x / 4:.2f}") for x in range(5)],
        y_range=(0, 1), diagonal=True)


# --- the leader's reports -------------------------------------------------------------------


def _optional_day(text: str | None) -> pd.Timestamp | None:
    return parse_day(text, "as_of", end=True) if text else None  # the whole day counts


@ui_app.get("/funnel", response_class=HTMLResponse)
def funnel_page(request: Request, period: str | None = None, freq: str = "M",
                as_of: str | None = None) -> HTMLResponse:
    """Conversion by stage, source and owner; time in stage; the bottleneck vs history."""
    t = translator(_language(request))
    day, cut = PARTS.as_of(None), _optional_day(as_of)
    view = PARTS.report("funnel", (period, freq, cut, day), FUNNEL_TABLES,
                        lambda tables: funnel_view(tables, period, freq, cut, day,
                                                   t["conversion_history"]))
    return _render(request, "funnel.html", {"view": view})


@ui_app.get("/plan", response_class=HTMLResponse)
def plan_page(request: Request, revenue_target: float | None = None,
              month: str | None = None, as_of: str | None = None) -> HTMLResponse:
    """The KPI reverse plan: what the month's revenue target needs, and the gap so far."""
    from forecast import convert_currency

    day, cut = PARTS.as_of(None), _optional_day(as_of)
    month = month or period_before(cut or day, "M")
    view = None
    if revenue_target is not None:
        currency, rates = PARTS.runtime.settings.rates_into()  # the service's
        view = PARTS.report("plan", (revenue_target, month, cut), PLAN_TABLES,
                            lambda tables: plan_view(
                                convert_currency(tables, rates, currency),
                                revenue_target, month, cut))
    return _render(request, "plan.html", {"view": view, "month": month,
                                          "revenue_target": revenue_target})


@ui_app.get("/recycle", response_class=HTMLResponse)
def recycle_page(request: Request, as_of: str | None = None, top: int = 50) -> HTMLResponse:
    """Lost and held leads whose score rose, ranked; the re-engagement rate vs 10%."""
    from reports import model_scorer

    cut = _optional_day(as_of)
    model = PARTS.runtime.scorer.active.sql
    score, source = ((model_scorer(model.bundle), f"{model.name} v{model.version}")
                     if model is not None else (None, "rules"))
    top = min(max(top, 1), 500)
    view = PARTS.report("recycle", (cut, source, top), RECYCLE_TABLES,
                        lambda tables: recycle_view(tables, cut, score, source, top))
    return _render(request, "recycle.html", {"view": view})


@ui_app.get("/dedupe", response_class=HTMLResponse)
def dedupe_page(request: Request, threshold: float = 0.85, top: int = 100) -> HTMLResponse:
    """名寄せ: duplicate leads and accounts, the rate against the 5% target, merge pairs."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: {threshold} is not in (0, 1]")
    top = min(max(top, 1), 1000)
    view = PARTS.report("dedupe", (threshold, top), DEDUPE_TABLES,
                        lambda tables: dedupe_view(tables, threshold, top))
    return _render(request, "dedupe.html", {"view": view, "threshold": threshold})


# --- hand-off API ---------------------------------------------------------------------------


@handoff_router.get("/leads/{lead_id}/handoff", include_in_schema=False)
def get_handoff(request: Request, lead_id: str, format: str | None = None,
                as_of: str | None = None, lang: str | None = None):
    """The lead's hand-off package as JSON, or Markdown with ``?format=md`` or
    ``Accept: text/markdown``; 401 without the key, 404 unknown lead, 409 not yet SQL."""
    if not request_is_authorised(request.headers, request.cookies, PARTS.api_key):
        return JSONResponse({"error": "missing or invalid API key"}, status_code=401,
                            headers={"www-authenticate": "Bearer"})
    language = pick_language(lang, None, request.headers.get("accept-language"))
    try:
        day = PARTS.as_of(as_of)
        file = read_lead_file(PARTS.store, lead_id)
    except LeadNotFoundError as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    except (LookupError, ValueError) as error:
        return JSONResponse({"error": str(error)}, status_code=422)
    if not is_sales_qualified(file.lead_frame, day):
        return JSONResponse({"error": f"lead {lead_id} is not sales-qualified as of "
                                      f"{day.date()}: no hand-off package yet"},
                            status_code=409)
    answer, _ = score_lead_over_time(lead_id, file.lead["created_at"], day, language, 0)
    package = build_handoff(file, day, language,
                            answer.reasons.positive + answer.reasons.negative)
    package["score"] = {"score": answer.score, "grade": answer.grade, "action": answer.action,
                        "probability": answer.probability, "source": answer.source}
    wants_md = format == "md" or "text/markdown" in request.headers.get("accept", "")
    if wants_md:
        return PlainTextResponse(render_handoff_markdown(package, language),
                                 media_type="text/markdown; charset=utf-8")
    return JSONResponse(package)


# The pages are HTML for people, not part of the JSON contract: keep them out of the service's
# OpenAPI document (BentoML merges mounted apps' routes into it; schemathesis checks it).
for _route in ui_app.routes:
    _route.include_in_schema = False
