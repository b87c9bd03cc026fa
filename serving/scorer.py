"""``LeadScorer``: the active models, the rules, and scoring of leads and deals.

The scorer holds one immutable ``ActiveModels`` object. A batch reads it once and uses that
snapshot to the end, so swapping models (``swap`` / ``use_rules``, one reference assignment
under a lock) never changes the model under a request in flight: in-flight requests finish on
the old model, the next batch gets the new one.

Scoring a batch of leads:

1. look up what the requests leave to the store (``serving.lookups.LeadReader``: a few
   indexed queries per lead, no pandas, and a short-lived cache that ``/events`` ends);
2. turn each request into canonical records with slotted ids (``serving.request_records``);
3. build the requests' features with ``features.leads.build_request_features`` — the same
   feature kernels as the batch path (``features.leads.build_lead_features``), run once for
   the whole batch on the requests' own arrays (each in its own code space), without pandas,
   using the model's own ``FeatureConfig`` (its ICP included, as stored in the bundle at
   training); when that fails, each request is built alone so that only a request whose
   features cannot be built gets an error, the others are scored;
4. model: calibrated probability, score, grade, TreeSHAP reasons; on any model error, and
   when no model is loaded, the rules answer instead, and the answer says so (``source:
   rules`` with a ``fallback_reason``);
5. action by ``training.rules.recommend_actions``: the same order for both sources, with the
   thresholds of ``actions`` (rule points) or ``model_actions`` (probability x 100).

Which rules (``RuleSet``): those stored in the bundle of the model being served; with no model,
those of the most recent bundle this process was given (the last model served, or the newest
registered version the watcher could read), and only when there is none, the rules file
(``LEADSCORE_SERVING_RULES_PATH``, default ``config/rules.yaml``) with the default feature
settings and ``config/icp.yaml``. Editing the YAML files therefore never changes the answers of
a trained model.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from features.activities import LeadEvents
from features.config import FeatureConfig
from features.leads import (
    LeadQuery,
    build_request_features,
    lead_feature_registry,
    single_lead_frame,
)
from features.opportunity import build_opportunity_features, opportunity_feature_registry
from crm.schema import SchemaViolationError
from crm.store import CRMStore
from crm.timestamps import to_utc_series
from serving.reasons import (model_reasons, rule_grades, rule_points, rule_reasons,
                             unknown_category_warnings, win_rule_reasons)
from serving.lookups import LeadContext, LeadReader, fetch_deal_context
from serving.request_records import (
    LeadRecords,
    RequestError,
    assemble_deal_tables,
    build_deal_records,
    build_lead_records,
    describe_schema_problems,
)
from serving.schemas import (ModelRef, ReasonsOut, ScoreRequest, ScoreResponse, WinRequest,
                             WinResponse)
from training.bundle import ModelBundle, resolve_feature_config, resolve_rules
from training.explain import explain_contributions
from training.model import assign_grades, to_score
from training.rules import RulesConfig, recommend_actions, score_rules, score_win_rules

logger = logging.getLogger(__name__)

KINDS = ("sql", "win")
NO_CHAMPION = "no_champion"
NOT_EXPLAINED = ReasonsOut(positive=[], negative=[], scale="none",
                           note="reasons were not asked for")
PREDICT_FAILED = "predict_failed"


@dataclass(frozen=True)
class RuleSet:
    """Rules that answer for a kind, the feature settings their features are built with, and
    where both come from (a model version, or the rules file)."""

    rules: RulesConfig
    feature_config: FeatureConfig
    source: str


def bundle_rule_set(bundle: ModelBundle, source: str) -> RuleSet | None:
    """The rules stored in ``bundle`` with its feature settings; None for a bundle written
    before rules were stored in it."""
    if not bundle.rules:
        return None
    return RuleSet(resolve_rules(bundle.rules), resolve_feature_config(bundle.feature_config),
                   source)


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version ready to serve, with its per-model constants."""

    kind: str
    name: str
    version: str
    run_id: str | None
    bundle: ModelBundle
    feature_config: FeatureConfig
    levels: dict[str, frozenset[str]]
    loaded_at: datetime
    load_seconds: float
    rules: RuleSet | None = None

    @property
    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)


def prepare_model(kind: str, name: str, version: str, bundle: ModelBundle, *,
                  run_id: str | None = None, load_seconds: float = 0.0) -> LoadedModel:
    """Check that the pipeline produces every feature the bundle needs and cache its constants.

    Raises:
        ValueError: unknown kind, or features the feature pipeline does not produce.
    """
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")
    if not bundle.feature_config.get("icp"):
        logger.warning("%s v%s was trained before the ICP was stored in the bundle: its "
                       "features use the ICP file as it is now", name, version)
    config = resolve_feature_config(bundle.feature_config)
    registry = (lead_feature_registry(config) if kind == "sql"
                else opportunity_feature_registry(config))
    missing = [name for name in bundle.features if name not in registry]
    if missing:
        raise ValueError(f"{name} v{version} needs features the {kind} feature pipeline does "
                         f"not produce: {missing[:10]}")
    levels = {n: frozenset(bundle.categorical_levels[n]) for n in bundle.registry.categorical()}
    return LoadedModel(kind, name, str(version), run_id, bundle, config, levels,
                       datetime.now(timezone.utc), load_seconds,
                       bundle_rule_set(bundle, f"{name} v{version}"))


@dataclass(frozen=True)
class ActiveModels:
    """What answers right now: a model per kind, or the rules with the reason why; and the
    rules of each kind (``rules``: actions on model answers, the fallback)."""

    sql: LoadedModel | None = None
    win: LoadedModel | None = None
    fallback: Mapping[str, str | None] = field(
        default_factory=lambda: {kind: NO_CHAMPION for kind in KINDS})
    rules: Mapping[str, RuleSet] = field(default_factory=dict)

    def model(self, kind: str) -> LoadedModel | None:
        return self.sql if kind == "sql" else self.win


@dataclass(frozen=True)
class LeadJob:
    """One lead to score, the language of its reasons and, once fetched, its stored context
    (``fetched`` True: ``context`` is final, possibly None; False: the scorer looks it up)."""

    request: ScoreRequest
    language: str = "en"
    context: LeadContext | None = None
    fetched: bool = False


class LeadScorer:
    """Scores leads and deals with the active models or, failing that, with the rules.

    Args:
        rules: the rules file's rule set, the last resort when no bundle gave rules (fallback
            scores, action thresholds, win stage rates).
        store: the CRM store for requests that give only an id (None: inline only).
        on_rule_answer: called with (kind, reason, count) whenever rules answer, e.g. to
            count them in Prometheus.
        rules_source: where ``rules`` come from (shown by ``GET /model``).
        on_model_scores: called with (model, input matrix, probabilities) after a model
            scored API requests (e.g. ``serving.drift.DriftMonitor.record``).
        lead_cache_seconds: how long a lead read from the store by id is reused
            (``serving.lookups.LeadReader``; 0: read every time).
    """

    def __init__(self, rules: RulesConfig, store: CRMStore | None = None,
                 on_rule_answer: Callable[[str, str, int], None] | None = None,
                 rules_source: str = "rules file",
                 on_model_scores: Callable[[LoadedModel, np.ndarray, np.ndarray], None]
                 | None = None, lead_cache_seconds: float = 0.0):
        self.store = store
        self.reader = LeadReader(store, lead_cache_seconds) if store is not None else None
        self.default_config = resolve_feature_config(None)
        self.file_rules = RuleSet(rules, self.default_config, rules_source)
        self._lead_registry = lead_feature_registry(self.default_config)
        self._deal_registry = opportunity_feature_registry(self.default_config)
        self._active = ActiveModels(rules={kind: self.file_rules for kind in KINDS})
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._rule_counts: Counter[str] = Counter()
        self._on_rule_answer = on_rule_answer
        self._on_model_scores = on_model_scores

    # --- state ---------------------------------------------------------------------------

    @property
    def active(self) -> ActiveModels:
        """The current snapshot (read once per request or batch)."""
        return self._active

    @property
    def is_ready(self) -> bool:
        """True once the first registry check decided between a model and the rules."""
        return self._ready.is_set()

    def mark_ready(self) -> None:
        """Declare the scorer ready (the rules, at least, are loaded)."""
        self._ready.set()

    def swap(self, model: LoadedModel) -> None:
        """Make ``model`` the active model of its kind, with its own rules, atomically."""
        with self._lock:
            fallback = {**self._active.fallback, model.kind: None}
            rules = {**self._active.rules, model.kind: model.rules or self.file_rules}
            self._active = dataclasses.replace(self._active, fallback=fallback, rules=rules,
                                               **{model.kind: model})
        logger.info("now serving %s v%s (%s)", model.name, model.version, model.kind)

    def use_rules(self, kind: str, reason: str, rules: RuleSet | None = None) -> None:
        """Drop the model of ``kind``; the rules answer, naming ``reason``.

        Args:
            rules: the rules to answer with (e.g. the newest registered version's); default:
                keep the current ones (the last model's, else the rules file's).
        """
        with self._lock:
            fallback = {**self._active.fallback, kind: reason}
            kept = {**self._active.rules, kind: rules or self._active.rules[kind]}
            self._active = dataclasses.replace(self._active, fallback=fallback, rules=kept,
                                               **{kind: None})
        logger.info("%s answers now come from the rules of %s (%s)", kind,
                    self._active.rules[kind].source, reason)

    @property
    def rule_answers(self) -> dict[str, int]:
        """Rule-based answers so far, by ``<kind>:<reason>``."""
        with self._lock:
            return dict(self._rule_counts)

    def _count_rules(self, kind: str, reason: str, count: int) -> None:
        with self._lock:
            self._rule_counts[f"{kind}:{reason}"] += count
        if self._on_rule_answer is not None:
            self._on_rule_answer(kind, reason, count)

    # --- leads -----------------------------------------------------------------------------

    def score_leads(self, jobs: Sequence[LeadJob]) -> list[ScoreResponse | RequestError]:
        """Answer every job, in order; a job that cannot be scored gets its ``RequestError``."""
        active = self._active
        model = active.sql
        config = model.feature_config if model is not None else active.rules["sql"].feature_config
        now = pd.Timestamp.now("UTC")
        as_ofs = [_as_of(job.request.as_of, now) for job in jobs]
        records = self._lead_records(jobs, as_ofs)
        rows = _feature_rows(records, as_ofs, config)
        results: list[ScoreResponse | RequestError] = [
            row if isinstance(row, RequestError) else None for row in rows]  # type: ignore[misc]
        kept = [i for i, row in enumerate(rows) if not isinstance(row, RequestError)]
        if kept:
            answered = self._answer_leads(active, [rows[i] for i in kept], [jobs[i] for i in kept],
                                          [as_ofs[i] for i in kept], [records[i] for i in kept])
            for i, answer in zip(kept, answered):
                results[i] = answer
        return results

    def build_features(self, jobs: Sequence[LeadJob], config: FeatureConfig | None = None
                       ) -> pd.DataFrame:
        """The feature rows the model would see for ``jobs`` (lead ids slotted "<i>|id"), as
        the frame ``build_lead_features`` returns.

        Raises:
            RequestError: the first job that cannot be scored as sent.
        """
        config = config or self.default_config
        now = pd.Timestamp.now("UTC")
        as_ofs = [_as_of(job.request.as_of, now) for job in jobs]
        records = self._lead_records(jobs, as_ofs)
        rows = _feature_rows(records, as_ofs, config)
        for row in rows:
            if isinstance(row, RequestError):
                raise row
        return single_lead_frame(rows, [r.lead_id for r in records], as_ofs,
                                    _registry_of(config))

    @property
    def feature_config(self) -> FeatureConfig:
        """The feature settings lead answers use now: the active model's, else those of the
        rules that answer."""
        active = self._active
        model = active.sql
        return model.feature_config if model is not None else active.rules["sql"].feature_config

    def score_feature_frame(self, frame: pd.DataFrame, language: str = "en", top_k: int = 3,
                            explain: bool = True) -> list[ScoreResponse]:
        """Answers for lead features already built by ``features.leads.build_lead_features``
        with ``feature_config`` (many stored leads at once, e.g. the web page's priority list):
        the answers ``score_leads`` gives for the same leads and times, since the pipeline and
        the online path compute identical features (parity-tested). ``explain=False`` leaves
        the reasons out (``NOT_EXPLAINED``; ranking thousands of leads needs no TreeSHAP).
        These answers are not counted as rule answers: they are not API requests.

        Raises:
            ValueError: the frame lacks features the model or the rules need.
        """
        active = self._active
        model = active.sql
        config = model.feature_config if model is not None else active.rules["sql"].feature_config
        names = [n for n in frame.columns if n not in ("lead_id", "as_of")]
        missing = (active.rules["sql"].rules.features | set(_registry_of(config).names)
                   ) - set(names)
        if missing:
            raise ValueError(f"the feature frame lacks {sorted(missing)[:10]}")
        rows = _frame_rows(frame, names)
        ids = frame["lead_id"].tolist()
        as_ofs = list(to_utc_series(frame["as_of"]))
        jobs = [LeadJob(ScoreRequest(lead_id=i, language=language, top_k=top_k), language)
                for i in ids]
        records = [LeadRecords(lead_id=i, lead={}, account=None, activities=[]) for i in ids]
        return self._answer_leads(active, rows, jobs, as_ofs, records, explain, count=False)

    def _lead_records(self, jobs: Sequence[LeadJob], as_ofs: list[pd.Timestamp]
                      ) -> list[LeadRecords | RequestError]:
        contexts = self._lead_contexts(jobs)
        out: list[LeadRecords | RequestError] = []
        for slot, (job, as_of) in enumerate(zip(jobs, as_ofs)):
            try:
                out.append(build_lead_records(job.request, slot, as_of, contexts[slot]))
            except RequestError as error:
                out.append(error)
        return out

    def needs_store(self, job: LeadJob) -> bool:
        """True when scoring ``job`` reads the store (call ``fetch_contexts`` off the scoring
        thread first, so store reads never hold up other requests)."""
        return self.store is not None and not job.fetched and _needs_store(job.request)

    def fetch_contexts(self, jobs: Sequence[LeadJob]) -> list[LeadJob]:
        """``jobs`` with their stored contexts looked up (``serving.lookups.LeadReader``)."""
        contexts = self._lead_contexts(jobs)
        return [dataclasses.replace(job, context=context, fetched=True)
                for job, context in zip(jobs, contexts)]

    def _lead_contexts(self, jobs: Sequence[LeadJob]) -> list[LeadContext | None]:
        wanted = [j.request.lead_id if not j.fetched and _needs_store(j.request) else None
                  for j in jobs]
        if self.reader is None:
            return [j.context for j in jobs]
        return [job.context if lead_id is None else self.reader.read(
                    lead_id, job.request.company.account_id if job.request.company else None)
                for job, lead_id in zip(jobs, wanted)]

    def _answer_leads(self, active: ActiveModels, rows: list[dict], jobs: list[LeadJob],
                      as_ofs: list[pd.Timestamp], records: list[LeadRecords],
                      explain: bool = True, count: bool = True) -> list[ScoreResponse]:
        model, rule_set = active.sql, active.rules["sql"]
        if model is not None:
            try:
                return self._model_answers(model, rule_set.rules, rows, jobs, as_ofs, records,
                                           explain, record=count)
            except Exception:  # any model failure: the rules answer instead
                logger.exception("%s v%s failed to predict; answering with the rules",
                                 model.name, model.version)
                reason = PREDICT_FAILED
        else:
            reason = active.fallback.get("sql") or NO_CHAMPION
        config = model.feature_config if model is not None else rule_set.feature_config
        if rule_set.rules.features - set(rows[0]):  # the model's config lacks rule features
            config = dataclasses.replace(FeatureConfig(), icp=config.icp)
            rows = online_request_features(records, as_ofs, config)
        frame = single_lead_frame(rows, [r.lead_id for r in records], as_ofs,
                                     _registry_of(config))
        answered = self._rule_answers(frame, rule_set.rules, jobs, as_ofs, records, reason,
                                      explain)
        if count:
            self._count_rules("sql", reason, len(answered))
        return answered

    def _model_answers(self, model: LoadedModel, rules: RulesConfig, rows: list[dict],
                       jobs: list[LeadJob], as_ofs: list[pd.Timestamp],
                       records: list[LeadRecords], explain: bool = True, record: bool = False
                       ) -> list[ScoreResponse]:
        bundle = model.bundle
        matrix = bundle.matrix_from_rows(rows)
        if explain:
            proba, contributions = bundle.predict_matrix(matrix)
        else:  # contributions (TreeSHAP) cost far more than the prediction itself
            proba = bundle.calibrator.transform(bundle.raw_matrix(matrix))
        if record and self._on_model_scores is not None:
            self._on_model_scores(model, matrix, proba)
        scores = to_score(proba)
        grades = assign_grades(proba, bundle.grade_thresholds)
        actions = recommend_actions(scores, {name: [row[name] for row in rows]
                                             for name in ACTION_FEATURES if name in rows[0]},
                                    rules.thresholds_for("model"))
        reasons = (_explain(bundle, contributions, rows, jobs) if explain
                   else [NOT_EXPLAINED] * len(rows))
        unknown = unknown_category_warnings(rows, model.levels)
        return [ScoreResponse(
            lead_id=job.request.lead_id, as_of=as_of.to_pydatetime(),
            probability=float(proba[p]), score=int(scores[p]), grade=str(grades[p]),
            action=str(actions[p]), reasons=reasons[p], language=job.language,
            source="model", model=model.ref, warnings=record.warnings + unknown[p])
            for p, (job, as_of, record) in enumerate(zip(jobs, as_ofs, records))]

    def _rule_answers(self, frame: pd.DataFrame, rules: RulesConfig, jobs: list[LeadJob],
                      as_ofs: list[pd.Timestamp], records: list[LeadRecords],
                      reason: str, explain: bool = True) -> list[ScoreResponse]:
        scores = score_rules(frame, rules)["score"].to_numpy()
        actions = recommend_actions(scores, frame, rules.thresholds_for("rules"))
        grades = rule_grades(scores, rules)
        points = rule_points(frame, rules)
        return [ScoreResponse(
            lead_id=job.request.lead_id, as_of=as_of.to_pydatetime(), probability=None,
            score=int(scores[p]), grade=grades[p], action=str(actions[p]),
            reasons=(rule_reasons(points.iloc[p], frame.iloc[p], self._lead_registry,
                                  job.request.top_k, job.language) if explain
                     else NOT_EXPLAINED),
            language=job.language, source="rules", fallback_reason=reason,
            warnings=record.warnings)
            for p, (job, as_of, record) in enumerate(zip(jobs, as_ofs, records))]

    # --- deals -----------------------------------------------------------------------------

    def score_deal(self, request: WinRequest, language: str = "en") -> WinResponse:
        """Win probability of one deal, with reasons; raises ``RequestError`` for a deal that
        cannot be scored as sent."""
        active = self._active
        model, rule_set = active.win, active.rules["win"]
        as_of = _as_of(request.as_of, pd.Timestamp.now("UTC"))
        records = build_deal_records(request, as_of, self._deal_context(request))
        config = model.feature_config if model is not None else rule_set.feature_config
        frame = _deal_frame(records, as_of, config)
        answer = dict(opportunity_id=request.opportunity_id, as_of=as_of.to_pydatetime(),
                      language=language)
        if model is not None:
            try:
                return self._model_deal_answer(model, frame, request, language, records, answer)
            except Exception:  # any model failure: the rules answer instead
                logger.exception("%s v%s failed to predict; answering with the rules",
                                 model.name, model.version)
                reason = PREDICT_FAILED
        else:
            reason = active.fallback.get("win") or NO_CHAMPION
        probability = float(score_win_rules(frame, rule_set.rules.win)[0])
        self._count_rules("win", reason, 1)
        return WinResponse(
            **answer, probability=probability, source="rules", fallback_reason=reason,
            reasons=win_rule_reasons(frame["opp_stage"].iloc[0], probability,
                                             self._deal_registry, language),
            warnings=records.warnings)

    def _model_deal_answer(self, model: LoadedModel, frame: pd.DataFrame, request: WinRequest,
                           language: str, records, answer: dict) -> WinResponse:
        probability = float(model.bundle.predict_proba(frame)[0])
        explanation = model.bundle.explain(frame, k=request.top_k, language=language)[0]
        unknown = unknown_category_warnings([frame.iloc[0]], model.levels)[0]
        return WinResponse(**answer, probability=probability, source="model", model=model.ref,
                           reasons=model_reasons(explanation),
                           warnings=records.warnings + unknown)

    def _deal_context(self, request: WinRequest):
        if self.store is None:
            if request.opportunity is None:
                raise RequestError("opportunity_id", "no CRM store is configured; send the "
                                                     "opportunity inline")
            return None
        deal = request.opportunity
        return fetch_deal_context(self.store, request.opportunity_id,
                                  deal.owner if deal else None, deal.account_id if deal else None)


# --- helpers ------------------------------------------------------------------------------


def _as_of(value: datetime | None, now: pd.Timestamp) -> pd.Timestamp:
    return now if value is None else pd.Timestamp(value).tz_convert("UTC")


def _needs_store(request: ScoreRequest) -> bool:
    return request.lead_id is not None and (
        request.lead is None or request.activities is None or request.company is None)


def _pairs(id_column: str, ids: list[str], as_ofs: list[pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame({id_column: pd.array(ids, dtype="str"), "as_of": to_utc_series(as_ofs)})


def _frame_rows(frame: pd.DataFrame, names: list[str]) -> list[dict]:
    """Feature rows as ``build_single_lead_features`` gives them: plain values, None missing."""
    columns = [frame[n].astype(object).where(frame[n].notna(), None).tolist() for n in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


ACTION_FEATURES = ("bant_need", "is_mql", "is_recycled", "bant_meets_sql_rule")


@lru_cache(maxsize=16)
def _registry_of(config: FeatureConfig):
    return lead_feature_registry(config)


def _feature_rows(records: Sequence[LeadRecords | RequestError], as_ofs: Sequence[pd.Timestamp],
                  config: FeatureConfig) -> list[dict | RequestError]:
    """Each request's feature row, or its error (a record that failed, or features that
    cannot be built from what it sent). One kernel call for the batch; when it fails, one
    call per request, so a bad request loses only its own answer."""
    good = [i for i, record in enumerate(records) if not isinstance(record, RequestError)]
    rows: list[dict | RequestError] = list(records)
    try:
        built = online_request_features([records[i] for i in good], [as_ofs[i] for i in good],
                                        config)
    except (ValueError, KeyError, TypeError):
        built = [_one_feature_row(records[i], as_ofs[i], config) for i in good]
    for i, row in zip(good, built):
        rows[i] = row
    return rows


def _one_feature_row(record: LeadRecords, as_of: pd.Timestamp,
                     config: FeatureConfig) -> dict | RequestError:
    try:
        return online_request_features([record], [as_of], config)[0]
    except (ValueError, KeyError, TypeError) as error:
        return _feature_error(error, "lead")


def online_request_features(records: Sequence[LeadRecords], as_ofs: Sequence[pd.Timestamp],
                            config: FeatureConfig) -> list[dict]:
    """The lead features of each request (``features.leads.build_request_features``: the
    batch kernels run once on the requests' own arrays), from its lead, company, activities
    and stored context."""
    return build_request_features([_lead_query(record, as_of)
                                   for record, as_of in zip(records, as_ofs)], config)


def _lead_query(records: LeadRecords, as_of: pd.Timestamp) -> LeadQuery:
    events = [LeadEvents.from_records(records.activities)]
    if records.stored_activities is not None and len(records.stored_activities.times):
        events.append(records.stored_activities)
    return LeadQuery(records.lead, records.account, LeadEvents.concat(events), as_of,
                     records.account_leads)


def _deal_frame(records, as_of: pd.Timestamp, config: FeatureConfig) -> pd.DataFrame:
    try:
        pairs = _pairs("opportunity_id", [records.opportunity_id], [as_of])
        return build_opportunity_features(assemble_deal_tables(records), pairs, config)
    except (ValueError, KeyError, TypeError) as error:
        raise _feature_error(error, "opportunity") from None


def _feature_error(error: Exception, field: str) -> RequestError:
    """A request error for a failed feature build (schema problems without their values)."""
    logger.info("feature build failed for a %s request: %s", field, type(error).__name__)
    if isinstance(error, SchemaViolationError):
        return RequestError(field, "a value does not fit the canonical schema: "
                                   + describe_schema_problems(error))
    return RequestError(field, f"cannot build features: {error}")


def _explain(bundle: ModelBundle, contributions, rows: list[dict], jobs: list[LeadJob]):
    """Model reasons per row, phrased in groups of the same language and ``top_k``."""
    groups: dict[tuple[str, int], list[int]] = {}
    for position, job in enumerate(jobs):
        groups.setdefault((job.language, job.request.top_k), []).append(position)
    out: dict[int, object] = {}
    for (language, k), positions in groups.items():
        explanations = explain_contributions(bundle, contributions[positions],
                                             [rows[p] for p in positions], positions, k,
                                             language)
        for position, explanation in zip(positions, explanations):
            out[position] = model_reasons(explanation)
    return [out[p] for p in range(len(jobs))]
