"""The HTTP contract: pydantic request and response models of the scoring service.

Every request model forbids unknown keys, bounds its numbers (no NaN or infinity), bounds text
and list lengths, and checks timestamps: a timestamp needs a time zone and must lie between
``EARLIEST`` and one year from now (``expected_close_date``: ten years), otherwise the request
is a 422 that names the field. Models hide input values in their errors, so names and e-mail
addresses never reach a log through a validation message.

Free-text categories (industry, country, job title, lead source, ...) are *not* closed lists
here: an unknown value is scored as "unknown" and reported in the answer's ``warnings``.
Closed vocabularies that the store enforces (activity ``type`` on ``/events``) are checked.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm.schema import ACTIVITY_TYPES

EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=366)
MAX_FUTURE_CLOSE = timedelta(days=3660)
MAX_ACTIVITIES = 5_000
MAX_STAGE_CHANGES = 500
Language = Literal["en", "ja"]
Source = Literal["model", "rules"]
Action = Literal["call_now", "nurture", "recycle", "disqualify"]
FallbackReason = Literal["no_champion", "insufficient_data", "load_failed", "registry_unavailable",
                         "predict_failed"]


_EARLIEST_SECONDS = EARLIEST.timestamp()


def _check_timestamp(value: datetime, max_future: timedelta) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timestamp_timezone",
            "timestamp needs a time zone, e.g. 2026-05-01T09:00:00+09:00 or ...Z")
    if not _EARLIEST_SECONDS <= value.timestamp() <= time.time() + max_future.total_seconds():
        latest = datetime.now(timezone.utc) + max_future
        raise PydanticCustomError(
            "timestamp_range", "timestamp must be between {earliest} and {latest}",
            {"earliest": EARLIEST.date().isoformat(), "latest": latest.date().isoformat()})
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


Timestamp = Annotated[datetime, AfterValidator(lambda v: _check_timestamp(v, MAX_FUTURE))]
CloseDate = Annotated[datetime, AfterValidator(lambda v: _check_timestamp(v, MAX_FUTURE_CLOSE))]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128,
                                      pattern=r"^[^\x00-\x1f\x7f]+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Money = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]


def _no_text(value: Any) -> Any:
    if isinstance(value, str):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean: true or false, "
                                  "not text")
    return value


Flag = Annotated[bool, BeforeValidator(_no_text)]  # "yes" is not true; 0/1 and true/false are


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)


def one_of_fields(**types: str) -> ConfigDict:
    """Request config documenting "at least one of these fields, not null" in the JSON schema
    as ``anyOf`` (``types``: field name -> JSON type; the model's validator enforces it)."""
    return ConfigDict(**_Request.model_config, json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"type": kind}}}
        for name, kind in types.items()]})


class CompanyIn(_Request):
    """The lead's company (firmographics); every field is optional."""

    account_id: Id | None = None
    name: Text | None = Field(None, description="Company name (never logged).")
    domain: Short | None = Field(None, description="Web/e-mail domain, e.g. example.co.jp.")
    industry: Short | None = None
    employees: int | None = Field(None, ge=0, le=5_000_000)
    annual_revenue: Money | None = Field(None, description="Annual revenue in USD.")
    country: Short | None = Field(None, description="ISO code or name, e.g. JP or Japan.")
    region: Short | None = None
    founded_year: int | None = Field(None, ge=1600, le=2100)


class BantIn(_Request):
    """BANT as confirmed by sales; a value without its ``*_confirmed_at`` counts as confirmed
    just before ``as_of`` (reported in ``warnings``)."""

    budget: Flag | None = None
    budget_confirmed_at: Timestamp | None = None
    authority: Flag | None = None
    authority_confirmed_at: Timestamp | None = None
    need: Flag | None = None
    need_confirmed_at: Timestamp | None = None
    timeline_months: float | None = Field(None, ge=0, le=120, allow_inf_nan=False)
    timeline_confirmed_at: Timestamp | None = None


class ActivityIn(_Request):
    """One marketing or sales touch of the lead (types outside the canonical list are ignored
    with a warning)."""

    event_id: Id | None = None
    occurred_at: Timestamp
    type: Short
    channel: Short | None = None
    properties: dict[str, Any] | None = None


class LeadIn(_Request):
    """The person: contact data, title, source and status dates."""

    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None = (
        Field(None, description="Used for its domain (free mail, company match); never logged."))
    name: Text | None = Field(None, description="Accepted but not used; never logged.")
    job_title: Text | None = Field(None, description="English or Japanese, e.g. 営業部長.")
    department: Text | None = None
    source: Short | None = Field(None, description="Lead source, e.g. webinar, referral.")
    owner: Short | None = None
    status: Short | None = Field(None, description="new, mql, nurturing, ... (default new).")
    created_at: Timestamp | None = Field(None, description="Default: the earliest known time.")
    mql_at: Timestamp | None = None
    recycled_at: Timestamp | None = None
    disqualified_at: Timestamp | None = None
    attributes: dict[str, Any] | None = None


class ScoreRequest(_Request):
    """One lead: inline data, or only ``lead_id`` (then lead, company and activities come from
    the store). Inline ``company`` / ``bant`` / ``activities`` replace the stored ones."""

    model_config = one_of_fields(lead_id="string", lead="object")
    lead_id: Id | None = None
    lead: LeadIn | None = None
    company: CompanyIn | None = None
    bant: BantIn | None = None
    activities: list[ActivityIn] | None = Field(None, max_length=MAX_ACTIVITIES)
    as_of: Timestamp | None = Field(None, description="Scoring time (default: now).")
    language: Language | None = Field(None, description="Reasons language; default from "
                                      "the Accept-Language header, else en.")
    top_k: int = Field(3, ge=1, le=10, description="Reasons per direction.")

    @model_validator(mode="after")
    def _lead_or_id(self) -> "ScoreRequest":
        if self.lead is None and self.lead_id is None:
            raise PydanticCustomError("missing_lead", "give lead_id, lead, or both")
        return self


class ScoreBatchRequest(_Request):
    """Several leads; each is answered exactly as ``/score`` would answer it."""

    leads: list[ScoreRequest] = Field(min_length=1)


class StageChangeIn(_Request):
    """One row of the deal's history: the state that began at ``entered_at``."""

    stage: Short = Field(min_length=1)
    entered_at: Timestamp
    amount: Money | None = None
    expected_close_date: CloseDate | None = None


class OpportunityIn(_Request):
    """A deal as it stands now (its history goes in ``stage_history``)."""

    account_id: Id | None = None
    lead_id: Id | None = None
    owner: Short | None = None
    product: Short | None = None
    amount: Money | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "JPY"
    created_at: Timestamp
    stage: Short = Field(min_length=1)
    expected_close_date: CloseDate | None = None


class WinRequest(_Request):
    """One open deal: inline, or only ``opportunity_id`` (history and account from the store)."""

    model_config = one_of_fields(opportunity_id="string", opportunity="object")
    opportunity_id: Id | None = None
    opportunity: OpportunityIn | None = None
    stage_history: list[StageChangeIn] | None = Field(None, max_length=MAX_STAGE_CHANGES)
    as_of: Timestamp | None = None
    language: Language | None = None
    top_k: int = Field(3, ge=1, le=10)

    @model_validator(mode="after")
    def _deal_or_id(self) -> "WinRequest":
        if self.opportunity is None and self.opportunity_id is None:
            raise PydanticCustomError("missing_opportunity",
                                      "give opportunity_id, opportunity, or both")
        return self

    @model_validator(mode="after")
    def _history_before_as_of(self) -> "WinRequest":
        as_of = self.as_of or datetime.now(timezone.utc)
        for i, change in enumerate(self.stage_history or ()):
            if change.entered_at > as_of:
                raise PydanticCustomError(
                    "history_after_as_of", "stage_history[{index}].entered_at "
                    "({entered_at}) is after as_of ({as_of}): the history must be what was "
                    "known at as_of", {"index": i, "entered_at": change.entered_at.isoformat(),
                                       "as_of": as_of.isoformat()})
        return self


class EventIn(_Request):
    """An activity to store; ``event_id`` makes ingest idempotent."""

    model_config = one_of_fields(lead_id="string", account_id="string")
    event_id: Id
    lead_id: Id | None = None
    account_id: Id | None = None
    occurred_at: Timestamp
    type: Literal[ACTIVITY_TYPES]  # type: ignore[valid-type]
    channel: Short | None = None
    properties: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _subject(self) -> "EventIn":
        if self.lead_id is None and self.account_id is None:
            raise PydanticCustomError("missing_subject", "lead_id or account_id is required")
        return self


class EventsRequest(_Request):
    """Activities to ingest (already stored ``event_id`` values are skipped, and reported as
    ``conflicts`` when they differ; events of a lead that is not stored yet are kept and
    reported in ``unknown_leads``)."""

    events: list[EventIn] = Field(min_length=1)


# --- responses ----------------------------------------------------------------------------


class ReasonOut(BaseModel):
    """One feature's push on the score, phrased for a sales rep."""

    feature: str
    value: bool | int | float | str | None
    text: str
    contribution: float = Field(description="SHAP log-odds (model) or points (rules).")
    kind: str = Field(description="actionable (sales can change it) or fixed.")


class ReasonsOut(BaseModel):
    """Top reasons up and down, with the scale their contributions are on."""

    positive: list[ReasonOut]
    negative: list[ReasonOut]
    scale: str = Field(description="log-odds (model, before calibration) or points (rules).")
    note: str
    context: list[ReasonOut] = Field(
        default_factory=list, description="The day's context (features the same for every "
        "lead scored that day: daily indicators, calendar), kept out of the top reasons.")


class ModelRef(BaseModel):
    """The registered model version that answered."""

    name: str
    version: str


class ScoreResponse(BaseModel):
    """The answer for one lead."""

    lead_id: str | None
    as_of: datetime
    probability: float | None = Field(description="Calibrated SQL probability (model only).")
    score: int = Field(ge=1, le=99)
    grade: Literal["A", "B", "C", "D"]
    action: Action
    reasons: ReasonsOut
    language: Language
    source: Source
    fallback_reason: FallbackReason | None = None
    model: ModelRef | None = None
    warnings: list[str]


class ScoreBatchResponse(BaseModel):
    """One answer per lead, in request order."""

    results: list[ScoreResponse]


class WinResponse(BaseModel):
    """The answer for one deal."""

    opportunity_id: str | None
    as_of: datetime
    probability: float
    reasons: ReasonsOut
    language: Language
    source: Source
    fallback_reason: FallbackReason | None = None
    model: ModelRef | None = None
    warnings: list[str]


class EventsResponse(BaseModel):
    """What ingest did: new events stored, and events that were already there."""

    received: int
    inserted: int
    duplicates: int
    conflicts: list[str] = Field(
        default_factory=list, description="Re-sent event_id values whose type, time or lead "
        "differ from the stored event (the stored one is kept; send a new event_id).")
    unknown_leads: list[str] = Field(
        default_factory=list, description="lead_id values of stored events that name no "
        "stored lead (yet): they are kept and count once the lead is imported.")


class FieldError(BaseModel):
    """One bad field: its dotted path, what is wrong, and the error type."""

    field: str
    message: str
    type: str


class ErrorResponse(BaseModel):
    """The body of every error answer (4xx and 503)."""

    error: str
    fields: list[FieldError] = []


class LoadedModelOut(BaseModel):
    """A model the service holds."""

    name: str
    version: str
    run_id: str | None
    loaded_at: datetime
    load_seconds: float
    metrics: dict[str, Any]
    features: int


class LoadErrorOut(BaseModel):
    """The last failed load of a model (the previous model, if any, kept serving)."""

    name: str
    version: str | None
    at: datetime
    error: str


class ModelStatusOut(BaseModel):
    """``GET /model``: active versions, their metrics and load times, fallbacks and errors."""

    ready: bool
    models: dict[str, LoadedModelOut | None]
    fallback: dict[str, FallbackReason | None]
    last_error: dict[str, LoadErrorOut | None]
    checked_at: datetime | None
    poll_seconds: float
    rules_path: str = Field(description="The rules file: used only while no model version "
                                         "with stored rules is known.")
    rules_source: dict[str, str] = Field(
        description="Per model kind, where the rules in use come from: the model version "
                    "served (its bundle's rules), else the newest registered version, else "
                    "the rules file.")
    rule_answers: dict[str, int]


class ForecastRequest(_Request):
    """Month- or quarter-end landing forecast of closed-won revenue from the stored pipeline."""

    as_of: Timestamp = Field(description="Forecast date (its 00:00 UTC is used).")
    freq: Literal["month", "quarter"] = "month"
    target: Money | None = Field(None, description="Alert when P50 falls below this target.")
    win_probability: Literal["time_to_close", "stage_rates", "lightgbm"] = "time_to_close"
    n_simulations: int = Field(4000, ge=100, le=20_000)
    seed: int = Field(0, ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = Field(
        None, description="Reporting currency; default: the service's "
                          "(LEADSCORE_REPORTING_CURRENCY, USD).")
    fx: dict[Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")],
             Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="Rates into `currency`, e.g. {\"JPY\": 0.0066667} (one JPY in USD); "
                    "default: the service's (LEADSCORE_FX_RATES) when `currency` is its own.")
