"""LeadScorer in-process: feature parity with the training path, the output contract, the
rule-based fallback, warnings, languages, batching isolation, atomic swap, and no personal data
in the logs.

A small model is fitted once per module on a generated CRM (no MLflow needed).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.training_sets import build_sql_examples
from features.config import FeatureConfig
from features.leads import build_lead_features, lead_feature_registry
from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from serving.reasons import rule_points
from serving.request_records import RequestError
from serving.schemas import ScoreRequest
from serving.scorer import LeadJob, LeadScorer, prepare_model
from training.model import assign_grades, to_score
from training.rules import ActionThresholds, load_rules, recommend_actions, score_rules
from training.split import split_by_time
from training.train import TrainConfig, fit_bundle

AS_OF_END = pd.Timestamp("2026-10-31T23:59:59Z")
AS_OF = pd.Timestamp("2026-09-01T00:00:00Z")
SECRET_NAME = "Hanako Secretname"
SECRET_EMAIL = "hanako.secretname@never-logged.example"


@pytest.fixture(scope="module")
def crm() -> dict[str, pd.DataFrame]:
    tables, _ = generate_crm(GeneratorConfig(n_leads=1000, seed=7))
    return tables


@pytest.fixture(scope="module")
def bundle(crm):
    config = FeatureConfig()
    examples = build_sql_examples(crm, config, AS_OF_END)
    train = TrainConfig(make_plots=False, min_positives=5, min_negatives=5)
    split = split_by_time(examples, "as_of", train.split_fractions, entity_col="lead_id")
    fitted = fit_bundle(split, lead_feature_registry(config), train)
    fitted.feature_config = config.to_dict()
    fitted.metrics = {"test": {"model": {"roc_auc": 0.71}}}
    return fitted


@pytest.fixture()
def scorer(bundle) -> LeadScorer:
    scorer = LeadScorer(load_rules())
    scorer.swap(prepare_model("sql", "leadscore-sql", "3", bundle))
    return scorer


def _busy_leads(crm: dict[str, pd.DataFrame], n: int) -> list[str]:
    """Leads created before AS_OF with the most activities before it (account mates too)."""
    leads = crm["leads"]
    acts = crm["activities"]
    early = acts[acts["occurred_at"] < AS_OF]
    counts = early["lead_id"].value_counts()
    eligible = set(leads.loc[leads["created_at"] < AS_OF, "lead_id"])
    return [lead for lead in counts.index if lead in eligible][:n]


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _inline_request(crm, lead_id: str, **extra) -> ScoreRequest:
    """The stored lead, its company and its own activities before AS_OF, sent inline."""
    lead = crm["leads"].set_index("lead_id").loc[lead_id]
    account = crm["accounts"].set_index("account_id").loc[lead["account_id"]]
    acts = crm["activities"][(crm["activities"]["lead_id"] == lead_id)
                             & (crm["activities"]["occurred_at"] < AS_OF)]
    plain = {k: (None if pd.isna(v) else v) for k, v in lead.items()}
    bant = {k: plain[k] for k in ("budget", "budget_confirmed_at", "authority",
                                  "authority_confirmed_at", "need", "need_confirmed_at",
                                  "timeline_months", "timeline_confirmed_at")}
    return ScoreRequest.model_validate({
        "lead_id": lead_id, "as_of": AS_OF,
        "lead": {k: plain[k] for k in ("email", "job_title", "department", "source", "status",
                                       "created_at", "mql_at", "recycled_at")},
        "company": {"account_id": lead["account_id"],
                    **{k: (None if pd.isna(v) else v) for k, v in account.items()
                       if k not in ("name",)}},
        "bant": bant,
        "activities": [{"event_id": a["event_id"], "occurred_at": a["occurred_at"],
                        "type": a["type"], "channel": a["channel"]}
                       for a in _records(acts)], **extra})


def _comparable(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    values = frame[names].astype(object)
    return values.where(frame[names].notna(), None).reset_index(drop=True)


# --- parity -------------------------------------------------------------------------------


def test_inline_batch_gives_the_single_lead_vectors(crm) -> None:
    config = FeatureConfig()
    names = lead_feature_registry(config).names
    leads = _busy_leads(crm, 6)
    scorer = LeadScorer(load_rules())
    served = scorer.build_features([LeadJob(_inline_request(crm, lead)) for lead in leads])
    for position, lead_id in enumerate(leads):
        lead = crm["leads"][crm["leads"]["lead_id"] == lead_id]
        account_id = lead["account_id"].iloc[0]
        alone = {"leads": lead,  # what the request carries: the lead, its company, its events
                 "accounts": crm["accounts"][crm["accounts"]["account_id"] == account_id],
                 "activities": crm["activities"][crm["activities"]["lead_id"] == lead_id]}
        pairs = pd.DataFrame({"lead_id": [lead_id], "as_of": [AS_OF]})
        single = build_lead_features(alone, pairs, config)
        pd.testing.assert_frame_equal(_comparable(served.iloc[[position]], names),
                                      _comparable(single, names))


def test_lead_id_only_requests_match_the_batch_training_path(crm, tmp_path: Path) -> None:
    store = CRMStore(f"sqlite:///{tmp_path / 'crm.db'}")
    store.write_tables(crm)
    leads = _busy_leads(crm, 8)
    scorer = LeadScorer(load_rules(), store)
    jobs = [LeadJob(ScoreRequest(lead_id=lead, as_of=AS_OF)) for lead in leads]
    served = scorer.build_features(jobs)
    pairs = pd.DataFrame({"lead_id": pd.array(leads, dtype="str"),
                          "as_of": pd.Series([AS_OF] * len(leads)).dt.as_unit("us")})
    trained = build_lead_features(crm, pairs, FeatureConfig())
    names = lead_feature_registry(FeatureConfig()).names
    assert served["account_activity_count_90d"].sum() > served["activity_count_90d"].sum()
    pd.testing.assert_frame_equal(_comparable(served, names), _comparable(trained, names))


def test_prefetched_contexts_score_without_touching_the_store(crm, bundle,
                                                               tmp_path: Path) -> None:
    """The service reads the store in its own thread first (``fetch_contexts``); scoring the
    fetched jobs must give the same answers and read nothing more."""
    store = CRMStore(f"sqlite:///{tmp_path / 'crm.db'}")
    store.write_tables(crm)
    scorer = LeadScorer(load_rules(), store)
    scorer.swap(prepare_model("sql", "leadscore-sql", "3", bundle))
    jobs = [LeadJob(ScoreRequest(lead_id=lead, as_of=AS_OF)) for lead in _busy_leads(crm, 5)]
    assert all(scorer.needs_store(job) for job in jobs)
    direct = scorer.score_leads(jobs)
    fetched = scorer.fetch_contexts(jobs)
    assert not any(scorer.needs_store(job) for job in fetched)
    scorer.store = scorer.reader = _NoStore()
    assert [a.model_dump() for a in scorer.score_leads(fetched)] == [
        a.model_dump() for a in direct]
    with pytest.raises(RuntimeError, match="store read"):
        scorer.score_leads(jobs)


class _NoStore:
    def __getattr__(self, name):
        raise RuntimeError("store read after prefetch")


# --- the output contract ------------------------------------------------------------------


def test_model_answer_follows_the_contract(crm, scorer, bundle) -> None:
    leads = _busy_leads(crm, 4)
    answers = scorer.score_leads([LeadJob(_inline_request(crm, lead)) for lead in leads])
    frame = scorer.build_features([LeadJob(_inline_request(crm, lead)) for lead in leads])
    proba = bundle.predict_proba(frame)
    actions = recommend_actions(to_score(proba), frame, load_rules().model_actions)
    assert [a.action for a in answers] == list(actions)
    for answer, p, grade, lead in zip(answers, proba, assign_grades(proba,
                                                                     bundle.grade_thresholds),
                                      leads):
        assert answer.lead_id == lead and answer.source == "model"
        assert answer.fallback_reason is None
        assert answer.model.name == "leadscore-sql" and answer.model.version == "3"
        assert answer.probability == pytest.approx(p)
        assert answer.score == to_score(np.array([p]))[0] and answer.grade == grade
        assert answer.action in ("call_now", "nurture", "recycle", "disqualify")
        assert answer.reasons.scale == "log-odds" and "before calibration" in answer.reasons.note
        reasons = answer.reasons.positive + answer.reasons.negative
        assert 1 <= len(reasons) <= 6 and {r.kind for r in reasons} <= {"actionable", "fixed"}
        assert all(r.contribution > 0 for r in answer.reasons.positive)
        assert all(r.contribution < 0 for r in answer.reasons.negative)
        assert answer.as_of == AS_OF.to_pydatetime()


def test_reasons_follow_the_language(crm, scorer) -> None:
    request = _inline_request(crm, _busy_leads(crm, 1)[0], top_k=5)
    english, japanese = scorer.score_leads([LeadJob(request, "en"), LeadJob(request, "ja")])
    assert english.score == japanese.score and japanese.language == "ja"
    en_texts = [r.text for r in english.reasons.positive + english.reasons.negative]
    ja_texts = [r.text for r in japanese.reasons.positive + japanese.reasons.negative]
    assert len(ja_texts) == len(en_texts) and en_texts != ja_texts
    assert any(any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in t)
               for t in ja_texts)


def test_batching_never_changes_an_answer(crm, scorer) -> None:
    leads = _busy_leads(crm, 5)
    jobs = [LeadJob(_inline_request(crm, lead)) for lead in leads]
    together = scorer.score_leads(jobs)
    alone = [scorer.score_leads([job])[0] for job in jobs]
    assert [a.model_dump() for a in together] == [a.model_dump() for a in alone]


def test_one_bad_request_does_not_sink_its_batch(crm, scorer) -> None:
    good = _inline_request(crm, _busy_leads(crm, 1)[0])
    too_early = ScoreRequest.model_validate({
        "lead": {"created_at": "2026-09-05T00:00:00Z"}, "as_of": AS_OF})
    unknown = ScoreRequest(lead_id="not-stored")
    answers = scorer.score_leads([LeadJob(good), LeadJob(too_early), LeadJob(unknown)])
    assert answers[0].source == "model"
    assert isinstance(answers[1], RequestError) and answers[1].field == "lead.created_at"
    assert "not before as_of" in answers[1].message
    assert isinstance(answers[2], RequestError) and answers[2].field == "lead_id"
    assert answers[2].message == "no CRM store is configured; send the lead inline"


# --- warnings -----------------------------------------------------------------------------


def test_imputed_and_unknown_values_are_reported(scorer) -> None:
    request = ScoreRequest.model_validate({
        "as_of": AS_OF, "lead": {"source": "carrier pigeon", "status": "hot"},
        "company": {"industry": "asteroid mining", "country": "JP"},
        "bant": {"budget": True, "need_confirmed_at": "2026-08-01T00:00:00Z"},
        "activities": [{"occurred_at": "2026-08-20T00:00:00Z", "type": "pricing_page_view"},
                       {"occurred_at": "2026-08-21T00:00:00Z", "type": "fax_received"},
                       {"occurred_at": "2026-09-02T00:00:00Z", "type": "chat"}]})
    answer = scorer.score_leads([LeadJob(request)])[0]
    text = "\n".join(answer.warnings)
    for expected in ("lead.source 'carrier pigeon' is not one of", "scored as 'other'",
                     "lead.status 'hot'", "lead.created_at is missing: assumed 2026-08-19",
                     "lead.job_title is missing", "lead.email is missing",
                     "company.employees is missing", "budget counted as confirmed",
                     "bant.need_confirmed_at without bant.need: ignored",
                     "1 of unknown type 'fax_received' ignored",
                     "1 at or after as_of ignored",
                     "industry 'asteroid_mining' was not seen in training"):
        assert expected in text, expected
    assert answer.source == "model"


def test_a_fully_described_lead_has_no_warnings(crm, scorer) -> None:
    answer = scorer.score_leads([LeadJob(_inline_request(crm, _busy_leads(crm, 1)[0]))])[0]
    assert [w for w in answer.warnings if "not seen in training" not in w] == []


# --- fallbacks ----------------------------------------------------------------------------


def test_without_a_model_the_rules_answer_and_say_why(crm) -> None:
    counted = []
    scorer = LeadScorer(load_rules(), on_rule_answer=lambda *a: counted.append(a))
    request = _inline_request(crm, _busy_leads(crm, 1)[0], top_k=10)
    answer = scorer.score_leads([LeadJob(request, "ja")])[0]
    frame = scorer.build_features([LeadJob(request)])
    expected = score_rules(frame, load_rules())
    assert answer.source == "rules" and answer.fallback_reason == "no_champion"
    assert answer.model is None and answer.probability is None
    assert answer.score == expected["score"].iloc[0]
    assert answer.reasons.scale == "points" and "点" in answer.reasons.positive[0].text
    total = sum(r.contribution for r in answer.reasons.positive + answer.reasons.negative)
    points = expected[["attribute_points", "behavior_points", "bant_points"]].iloc[0].sum()
    assert total == pytest.approx(points)
    assert counted == [("sql", "no_champion", 1)]
    assert scorer.rule_answers == {"sql:no_champion": 1}


def test_rule_item_points_add_up_to_the_group_totals(crm) -> None:
    scorer = LeadScorer(load_rules())
    frame = scorer.build_features([LeadJob(_inline_request(crm, lead))
                                   for lead in _busy_leads(crm, 6)])
    totals = score_rules(frame, load_rules())
    points = rule_points(frame, load_rules())
    np.testing.assert_allclose(points.sum(axis=1),
                               totals[["attribute_points", "behavior_points",
                                       "bant_points"]].sum(axis=1))


def test_a_model_that_fails_to_predict_falls_back_to_rules(crm, bundle) -> None:
    broken = prepare_model("sql", "leadscore-sql", "4", bundle)
    object.__setattr__(broken, "bundle", _Exploding(bundle))
    scorer = LeadScorer(load_rules())
    scorer.swap(broken)
    answer = scorer.score_leads([LeadJob(_inline_request(crm, _busy_leads(crm, 1)[0]))])[0]
    assert answer.source == "rules" and answer.fallback_reason == "predict_failed"
    assert scorer.rule_answers == {"sql:predict_failed": 1}
    assert scorer.active.sql is broken  # still loaded: the next request tries it again


class _Exploding:
    """A bundle whose predictions raise."""

    def __init__(self, bundle):
        self._bundle = bundle

    def __getattr__(self, name):
        return getattr(self._bundle, name)

    def predict_proba(self, frame):
        raise RuntimeError("booster file is damaged")

    def predict_matrix(self, matrix):
        raise RuntimeError("booster file is damaged")


def test_use_rules_drops_the_model_with_its_reason(crm, scorer) -> None:
    scorer.use_rules("sql", "insufficient_data")
    answer = scorer.score_leads([LeadJob(ScoreRequest.model_validate(
        {"lead": {"created_at": "2026-01-01T00:00:00Z"}, "as_of": AS_OF}))])[0]
    assert answer.source == "rules" and answer.fallback_reason == "insufficient_data"
    assert scorer.active.sql is None and scorer.active.fallback["sql"] == "insufficient_data"


# --- swap ---------------------------------------------------------------------------------


def test_a_swap_never_touches_a_batch_in_flight(crm, bundle) -> None:
    entered, release = threading.Event(), threading.Event()
    slow = prepare_model("sql", "leadscore-sql", "1", bundle)
    object.__setattr__(slow, "bundle", _Slow(bundle, entered, release))
    scorer = LeadScorer(load_rules())
    scorer.swap(slow)
    job = LeadJob(_inline_request(crm, _busy_leads(crm, 1)[0]))
    result: list = []
    worker = threading.Thread(target=lambda: result.extend(scorer.score_leads([job])))
    worker.start()
    assert entered.wait(30)
    scorer.swap(prepare_model("sql", "leadscore-sql", "2", bundle))
    release.set()
    worker.join(30)
    assert result[0].model.version == "1"
    assert scorer.score_leads([job])[0].model.version == "2"


class _Slow(_Exploding):
    """A bundle that waits for a signal inside predict (a request in flight)."""

    def __init__(self, bundle, entered: threading.Event, release: threading.Event):
        super().__init__(bundle)
        self._entered, self._release = entered, release

    def predict_matrix(self, matrix):
        self._entered.set()
        self._release.wait(30)
        time.sleep(0.01)
        return self._bundle.predict_matrix(matrix)


def test_prepare_model_refuses_a_model_the_pipeline_cannot_feed(bundle) -> None:
    from features.registry import FeatureDef, FeatureRegistry
    from training.bundle import ModelBundle

    registry = FeatureRegistry([*bundle.registry, FeatureDef(
        "shoe_size", "float", "fixed", "attribute", "shoe size {value}", "靴のサイズ {value}")])
    alien = ModelBundle.__new__(ModelBundle)
    alien.__dict__.update({**bundle.__dict__, "registry": registry})
    with pytest.raises(ValueError, match=r"leadscore-sql v9 needs features the sql feature "
                                         r"pipeline does not produce: \['shoe_size'\]"):
        prepare_model("sql", "leadscore-sql", "9", alien)
    with pytest.raises(ValueError, match="model kind must be one of"):
        prepare_model("churn", "x", "1", bundle)


# --- personal data ------------------------------------------------------------------------


def test_names_and_emails_never_reach_the_logs(crm, scorer, bundle,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    lead_id = _busy_leads(crm, 1)[0]
    request = _inline_request(crm, lead_id)
    personal = request.model_copy(update={"lead": request.lead.model_copy(
        update={"email": SECRET_EMAIL, "name": SECRET_NAME})})
    too_early = ScoreRequest.model_validate({"as_of": AS_OF, "lead": {
        "email": SECRET_EMAIL, "name": SECRET_NAME, "created_at": "2026-09-09T00:00:00Z"}})
    scorer.score_leads([LeadJob(personal), LeadJob(too_early)])
    broken = prepare_model("sql", "leadscore-sql", "5", bundle)
    object.__setattr__(broken, "bundle", _Exploding(bundle))
    scorer.swap(broken)
    scorer.score_leads([LeadJob(personal)])
    assert caplog.records, "expected some log output (swap, fallback)"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert SECRET_EMAIL not in logged and "Secretname" not in logged
    assert "never-logged" not in logged


def test_model_and_rule_scores_use_their_own_action_thresholds() -> None:
    rules = load_rules()
    assert rules.model_actions is not None
    assert rules.thresholds_for("model") is rules.model_actions
    assert rules.thresholds_for("rules") is rules.actions
    without = rules.model_copy(update={"model_actions": None})
    assert without.thresholds_for("model") is rules.actions
    assert isinstance(rules.model_actions, ActionThresholds)
    assert rules.model_actions.call_now_score < rules.actions.call_now_score
