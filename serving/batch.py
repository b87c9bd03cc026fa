"""Batch scoring: every lead of the store (or a list of leads) scored to one table.

The answers are the service's: the champion is loaded as the service loads it
(``load_scorer``: the same registry, watcher and rules fallback), features are built for all
leads at once with ``features.leads.build_lead_features`` (the definitions ``/score`` computes
online; parity-tested) and answered by ``LeadScorer.score_feature_frame`` — the model,
calibration, grades, actions and reasons of ``/score/batch``.

The local engine is ``score_pairs`` (one process, chunks of leads); ``score_store`` picks the
leads and calls it. Python::

    from crm.settings import load_settings
    from crm.store import CRMStore
    from serving.batch import load_scorer, score_store, write_scores

    settings = load_settings()
    scores = score_store(CRMStore(settings.database_url), load_scorer(settings),
                         as_of=pd.Timestamp("2026-10-01", tz="UTC"))
    write_scores(scores, "scores.parquet")

One row per lead: ``lead_id``, ``as_of``, ``probability`` (None when the rules answer),
``score`` 1-99, ``grade``, ``action``, ``source`` (model or rules), ``model_version``,
``reasons_up`` / ``reasons_down`` (the top reasons' texts joined by `` | ``),
``reasons_context`` (the day's context: features the same for every lead scored that day) and
``warnings``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from crm.settings import Settings
from crm.store import CRMStore
from crm.timestamps import to_utc_series
from features.leads import build_lead_features
from serving.schemas import ScoreResponse
from serving.scorer import LeadScorer
from serving.settings import ServingSettings
from serving.watcher import MlflowRegistry, ModelWatcher, Registry
from training.rules import load_rules

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (leads done, leads in all)
SCORE_COLUMNS = ("lead_id", "as_of", "probability", "score", "grade", "action", "source",
                 "model_version", "reasons_up", "reasons_down", "reasons_context", "warnings")
REASON_SEPARATOR = " | "
TABLES = ("leads", "accounts", "activities")
FORMATS = {".parquet": "parquet", ".csv": "csv"}


def load_scorer(settings: Settings, serving: ServingSettings | None = None,
                registry: Registry | None = None) -> LeadScorer:
    """A scorer answering as the service would now: the ``sql`` champion of the registry in
    ``settings`` (loaded and checked as the service loads it), else the rules.

    Args:
        settings: store, MLflow URI and model name.
        serving: the rules file of the fallback (default: ``ServingSettings()``).
        registry: where the champion is read (default: the MLflow registry of ``settings``).
    """
    serving = serving or ServingSettings()
    scorer = LeadScorer(load_rules(serving.rules_path), rules_source=str(serving.rules_path))
    watcher = ModelWatcher(scorer, registry or MlflowRegistry(settings.mlflow_tracking_uri),
                           {"sql": settings.sql_model_name})
    watcher.check_once()
    scorer.mark_ready()
    return scorer


def select_pairs(leads: pd.DataFrame, as_of: pd.Timestamp,
                 wanted: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``(lead_id, as_of)`` pairs to score.

    Args:
        leads: the canonical leads table.
        as_of: timezone-aware scoring time.
        wanted: a frame with ``lead_id`` (and optionally its own ``as_of`` per lead); None:
            every lead created before ``as_of``.

    Raises:
        ValueError: a wanted lead that is not stored, or one created at or after its as_of.
    """
    as_of = _utc(as_of, "as_of")
    if wanted is None:
        chosen = leads.loc[leads["created_at"] < as_of, "lead_id"]
        return _pairs(chosen, pd.Series(as_of, index=chosen.index))
    if "lead_id" not in wanted.columns:
        raise ValueError(f"the lead file needs a lead_id column; it has {list(wanted.columns)}")
    ids = wanted["lead_id"].astype("str")
    times = (to_utc_series(wanted["as_of"]) if "as_of" in wanted.columns
             else pd.Series(as_of, index=wanted.index))
    created = leads.set_index("lead_id")["created_at"]
    unknown = ids[~ids.isin(created.index)]
    if len(unknown):
        raise ValueError(f"lead_id {unknown.iloc[0]!r} is not in the store "
                         f"({len(unknown)} unknown lead(s))")
    early = ids[(created.reindex(ids).to_numpy() >= times.to_numpy())]
    if len(early):
        raise ValueError(f"lead_id {early.iloc[0]!r} was created at or after its as_of: a "
                         f"lead cannot be scored before it exists ({len(early)} such lead(s))")
    return _pairs(ids, times)


def score_pairs(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame, scorer: LeadScorer, *,
                language: str = "en", top_k: int = 3, explain: bool = True,
                chunk_size: int = 2_000, progress: Progress | None = None) -> pd.DataFrame:
    """The local engine: the answers for ``pairs`` as a table (``SCORE_COLUMNS``).

    Args:
        tables: canonical ``leads``, ``accounts`` and ``activities``.
        pairs: ``lead_id`` and timezone-aware ``as_of`` per lead to score.
        scorer: the scorer (``load_scorer``); its active model is read once.
        language / top_k: reasons' language and how many each way.
        explain: False leaves the reasons out (TreeSHAP is most of the time).
        chunk_size: leads answered together; ``progress(done, total)`` is called after each.
    """
    if pairs.empty:
        return _answers_frame([])
    features = build_lead_features(tables, pairs, scorer.feature_config)
    frames = []
    for start in range(0, len(features), chunk_size):
        chunk = features.iloc[start:start + chunk_size]
        frames.append(_answers_frame(scorer.score_feature_frame(chunk, language, top_k,
                                                                explain)))
        if progress is not None:
            progress(start + len(chunk), len(features))
    return pd.concat(frames, ignore_index=True)


def score_store(store: CRMStore, scorer: LeadScorer, as_of: pd.Timestamp | None = None,
                wanted: pd.DataFrame | None = None, **options) -> pd.DataFrame:
    """Score every lead of ``store`` created before ``as_of`` (default: now), or the leads of
    ``wanted`` (see ``select_pairs``), with ``score_pairs`` (``options`` go there)."""
    as_of = pd.Timestamp.now("UTC") if as_of is None else as_of
    tables = store.read_tables(TABLES)
    pairs = select_pairs(tables["leads"], as_of, wanted)
    logger.info("scoring %d leads as of %s", len(pairs), as_of)
    return score_pairs(tables, pairs, scorer, **options)


def read_lead_file(path: Path | str) -> pd.DataFrame:
    """A lead file (CSV or Parquet) with a ``lead_id`` column and optionally ``as_of``."""
    path = Path(path)
    fmt = _format(path, "lead file")
    frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path, dtype=str)
    if "lead_id" not in frame.columns:
        raise ValueError(f"{path}: the lead file needs a lead_id column; it has "
                         f"{list(frame.columns)}")
    return frame


def write_scores(scores: pd.DataFrame, path: Path | str) -> Path:
    """Write ``scores`` as Parquet or CSV, by the file's suffix; returns the path."""
    path = Path(path)
    fmt = _format(path, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        scores.to_parquet(path, index=False)
    else:
        scores.to_csv(path, index=False)
    return path


def _format(path: Path, what: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{what} {path}: the file name must end in .parquet or .csv")
    return fmt


def _utc(stamp: pd.Timestamp, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} needs a timezone, e.g. 2026-10-01T00:00:00Z")
    return stamp.tz_convert("UTC")


def _pairs(ids: pd.Series, times: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": pd.array(ids.to_numpy(), dtype="str"),
                         "as_of": to_utc_series(times.to_numpy())})


def _answers_frame(answers: Sequence[ScoreResponse]) -> pd.DataFrame:
    """One row per answer (``SCORE_COLUMNS``)."""
    rows = [{"lead_id": a.lead_id, "as_of": pd.Timestamp(a.as_of), "probability": a.probability,
             "score": a.score, "grade": a.grade, "action": a.action, "source": a.source,
             "model_version": a.model.version if a.model is not None else None,
             "reasons_up": REASON_SEPARATOR.join(r.text for r in a.reasons.positive),
             "reasons_down": REASON_SEPARATOR.join(r.text for r in a.reasons.negative),
             "reasons_context": REASON_SEPARATOR.join(r.text for r in a.reasons.context),
             "warnings": REASON_SEPARATOR.join(a.warnings)} for a in answers]
    frame = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    frame["probability"] = frame["probability"].astype("Float64")
    frame["score"] = frame["score"].astype("int64")
    return frame
