"""The MLflow model registry: challenger on registration, a promotion gate, rollback.

Aliases: a newly registered version gets ``challenger``. ``promote_challenger`` scores the
challenger and the current ``champion`` on the *same* recent hold-out and moves ``champion`` only
when the challenger is not worse (ROC AUC at most ``tolerance_auc`` lower and Brier at most
``tolerance_brier`` higher); the first version of a model is promoted without comparison.
Every promotion appends to the registered model's tag ``leadscore.champion_history`` (a JSON list
of versions) and points alias ``previous-champion`` at the version it replaced, so ``rollback``
can restore it.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, TypeVar

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.metrics import brier_score_loss, roc_auc_score

from training.bundle import ModelBundle, load_bundle, use_tracking_uri
from training.model import check_labels

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
HISTORY_TAG = "leadscore.champion_history"
REFUSAL_TAG = "leadscore.training_refused"

F = TypeVar("F", bound=Callable)


def _in_store(function: F) -> F:
    """Run ``function`` with MLflow pointed at its ``tracking_uri`` keyword (then restored)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with use_tracking_uri(kwargs.get("tracking_uri")):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class PromotionRefusedError(RuntimeError):
    """The challenger is worse than the champion on the hold-out; ``.result`` has both."""

    def __init__(self, result: "PromotionResult"):
        super().__init__(str(result))
        self.result = result


class RollbackError(RuntimeError):
    """There is no previous champion to roll back to."""


@dataclass(frozen=True)
class PromotionResult:
    """The promotion decision and the numbers it was made on."""

    name: str
    challenger_version: str
    champion_version: str | None
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    promoted: bool
    reason: str

    def __str__(self) -> str:
        lines = [f"{self.name}: {'promoted' if self.promoted else 'refused'} "
                 f"challenger v{self.challenger_version} — {self.reason}",
                 f"  {'':<22}{'roc_auc':>9}{'brier':>9}{'rows':>8}",
                 _metrics_line(f"challenger v{self.challenger_version}", self.challenger_metrics)]
        if self.champion_metrics is not None:
            lines.append(_metrics_line(f"champion v{self.champion_version}", self.champion_metrics))
        return "\n".join(lines)


def _metrics_line(label: str, metrics: dict[str, float]) -> str:
    return (f"  {label:<22}{metrics['roc_auc']:>9.4f}{metrics['brier']:>9.4f}"
            f"{int(metrics['rows']):>8}")


@_in_store
def register_challenger(
    model_uri: str, name: str, *, tracking_uri: str | None = None, tags: dict | None = None
) -> str:
    """Register ``model_uri`` as a new version of ``name`` and give it alias ``challenger``.

    Returns:
        The new version number (as a string).
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="leadscore model (see bundle.json)")
    version = client.create_model_version(name, model_uri, tags=tags or {})
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    logger.info("registered %s version %s as %s", name, version.version, CHALLENGER)
    return str(version.version)


def score_holdout(bundle: ModelBundle, holdout: pd.DataFrame, label_col: str = "label") -> dict:
    """ROC AUC, Brier and row count of ``bundle`` on a labelled hold-out frame."""
    labels = check_labels(holdout, label_col)
    if len(np.unique(labels)) < 2:
        raise ValueError(f"the hold-out needs both classes to compare models; it has "
                         f"{int(labels.sum())} positives in {len(labels)} rows")
    proba = bundle.predict_proba(holdout)
    return {"roc_auc": float(roc_auc_score(labels, proba)),
            "brier": float(brier_score_loss(labels, proba)), "rows": float(len(labels))}


@_in_store
def promote_challenger(
    name: str,
    holdout: pd.DataFrame | Callable[[ModelBundle], pd.DataFrame],
    tolerance_auc: float = 0.005,
    tolerance_brier: float = 0.005,
    *,
    tracking_uri: str | None = None,
    label_col: str = "label",
) -> PromotionResult:
    """Make the ``challenger`` the ``champion`` if it is not worse on ``holdout``.

    Args:
        name: registered model name.
        holdout: recent labelled rows (model features + ``label_col``) neither model trained
            on; or a callable giving those rows for a bundle (the same rows, each model's
            features built with its own feature settings).
        tolerance_auc: how much lower the challenger's ROC AUC may be.
        tolerance_brier: how much higher the challenger's Brier score may be.
        tracking_uri: MLflow tracking/registry URI (default: MLflow's current one).
        label_col: the 0/1 outcome column.

    Returns:
        The ``PromotionResult``. Raises ``PromotionRefusedError`` (its message shows both sets
        of numbers) when the challenger is worse; ``LookupError`` when there is no challenger.
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise LookupError(f"registered model {name!r} has no {CHALLENGER!r} version to promote")
    champion = _alias_version(client, name, CHAMPION)
    if champion == challenger:
        raise ValueError(f"{name} version {challenger} is already the {CHAMPION}")
    challenger_metrics = _score_version(name, challenger, holdout, tracking_uri, label_col)
    if champion is None:
        result = PromotionResult(name, challenger, None, challenger_metrics, None, True,
                                 f"no {CHAMPION} yet")
    else:
        champion_metrics = _score_version(name, champion, holdout, tracking_uri, label_col)
        result = _decide(name, challenger, champion, challenger_metrics, champion_metrics,
                         tolerance_auc, tolerance_brier)
    if not result.promoted:
        logger.warning("%s", result)
        raise PromotionRefusedError(result)
    _set_champion(client, name, challenger, previous=champion)
    logger.info("%s", result)
    return result


def _decide(name, challenger, champion, new, old, tolerance_auc, tolerance_brier):
    problems = []
    if new["roc_auc"] < old["roc_auc"] - tolerance_auc:
        problems.append(f"ROC AUC {new['roc_auc']:.4f} < champion {old['roc_auc']:.4f} "
                        f"- tolerance {tolerance_auc}")
    if new["brier"] > old["brier"] + tolerance_brier:
        problems.append(f"Brier {new['brier']:.4f} > champion {old['brier']:.4f} "
                        f"+ tolerance {tolerance_brier}")
    reason = "; ".join(problems) if problems else "not worse than the champion on the hold-out"
    return PromotionResult(name, challenger, champion, new, old, not problems, reason)


@_in_store
def rollback(name: str, *, tracking_uri: str | None = None) -> str:
    """Restore the previous champion of ``name``; returns the version now champion.

    Raises ``RollbackError`` when no earlier champion is recorded.
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    history = _read_history(client, name)
    current = _alias_version(client, name, CHAMPION)
    if current is not None and history and history[-1] != current:
        history.append(current)  # the alias was moved by hand: treat it as the latest
    if len(history) < 2:
        raise RollbackError(f"registered model {name!r} has no previous {CHAMPION} to roll back "
                            f"to (champion history: {history})")
    retired, restored = history.pop(), history[-1]
    client.set_registered_model_alias(name, CHAMPION, restored)
    _set_previous_alias(client, name, history[-2] if len(history) > 1 else None)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, retired, "leadscore.rolled_back", "true")
    logger.info("rolled back %s: champion v%s -> v%s", name, retired, restored)
    return restored


def champion_history(name: str, *, tracking_uri: str | None = None) -> list[str]:
    """Versions that have been champion of ``name``, oldest first (current one last)."""
    return _read_history(MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri), name)


def _read_history(client: MlflowClient, name: str) -> list[str]:
    tag = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return json.loads(tag) if tag else []


def _set_champion(client: MlflowClient, name: str, version: str, previous: str | None) -> None:
    history = _read_history(client, name)
    if previous is not None and (not history or history[-1] != previous):
        history.append(previous)
    history.append(version)
    client.set_registered_model_alias(name, CHAMPION, version)
    _set_previous_alias(client, name, previous)
    client.delete_registered_model_alias(name, CHALLENGER)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


def _set_previous_alias(client: MlflowClient, name: str, version: str | None) -> None:
    if version is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, version)
    elif _alias_version(client, name, PREVIOUS_CHAMPION) is not None:
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _score_version(name, version, holdout, tracking_uri, label_col) -> dict:
    bundle = load_bundle(f"models:/{name}/{version}", tracking_uri=tracking_uri)
    rows = holdout(bundle) if callable(holdout) else holdout
    return score_holdout(bundle, rows, label_col)


def record_training_refusal(name: str, message: str, *, tracking_uri: str) -> None:
    """Note on registered model ``name`` that training refused for too little data.

    The tag (``REFUSAL_TAG``) is what serving reads: it answers with the rules, giving
    ``fallback_reason: insufficient_data``, while ``name`` has no champion. Call it where
    ``InsufficientDataError`` is caught (training itself never touches MLflow before it has
    enough data).
    """
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="leadscore model (see bundle.json)")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    client.set_registered_model_tag(name, REFUSAL_TAG, f"{stamp}: {message}"[:4000])
