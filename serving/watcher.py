"""Follow the MLflow registry: load the ``champion`` of each model and swap when it moves.

``ModelWatcher.check_once`` reads the ``champion`` alias of the lead (SQL) model and the win
model. When the alias points at a version other than the one being served, that version is
loaded (``training.bundle.load_bundle``: no pickle; the booster file is first checked in a
child process, so a damaged file cannot abort the service) and swapped in atomically
(``LeadScorer.swap``). A failed load keeps the model being served, is recorded (``last_error``,
shown by ``GET /model``) and reported through ``on_load_failure`` (a Prometheus counter); the
same version is tried again with exponential back-off (``poll_seconds`` doubled per failure, at
most ``retry_max_seconds``), so fixing its files is enough. With no champion the rules answer,
naming why: ``no_champion``, or ``insufficient_data`` when training recorded that it refused to
train for too little data (``training.registry.record_training_refusal``), or ``load_failed``. Those rules are the
ones stored in the newest registered version of the model (``Registry.latest``; read once per
version), so a fallback answers like the model's own training did; with no readable version,
the scorer keeps the rules it has (the last model's, else the rules file's).

A registry that cannot be read (database moved away, corrupt, host down) is a fault, not an
empty registry: the model being served stays, the error is logged and shown by ``GET /model``,
and is cleared as soon as the registry reads again. Only a SQLite registry file that has never
existed is read as "no champion yet".

``start`` runs ``check_once`` in a daemon thread every ``poll_seconds``; the scorer becomes
ready after the first check, whatever its outcome (the rules are always there).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Protocol

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from crm.settings import sqlite_path
from serving.scorer import NO_CHAMPION, LeadScorer, RuleSet, bundle_rule_set, prepare_model
from training.bundle import ModelBundle, load_bundle
from training.registry import CHAMPION, REFUSAL_TAG

logger = logging.getLogger(__name__)

INSUFFICIENT_DATA = "insufficient_data"
LOAD_FAILED = "load_failed"
REGISTRY_UNAVAILABLE = "registry_unavailable"
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


class Registry(Protocol):
    """What the watcher needs from a model registry."""

    def champion(self, name: str) -> tuple[str, str | None] | None:
        """(version, run id) of the champion of ``name``; None when it has none."""

    def refused(self, name: str) -> bool:
        """True when training of ``name`` was refused for too little data."""

    def latest(self, name: str) -> str | None:
        """The newest registered version of ``name``, whatever its aliases; None when none."""

    def load(self, name: str, version: str) -> ModelBundle:
        """The bundle of ``name`` version ``version``."""


class MlflowRegistry:
    """The MLflow model registry at ``tracking_uri``; a SQLite file that does not exist is an
    empty registry (it is not created)."""

    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri
        self._seen_file = False

    def _client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def _missing(self) -> bool:
        """True for a SQLite registry file that has never existed (nothing registered yet).

        Raises:
            RegistryUnavailableError: the file existed before and is gone now (moved away:
                MLflow would otherwise create an empty registry in its place).
        """
        path = sqlite_path(self.tracking_uri)
        if path is None:
            return False
        if path.exists():
            self._seen_file = True
            return False
        if self._seen_file:
            raise RegistryUnavailableError(f"the registry database {path} is missing "
                                           f"(it was there before)")
        return True

    def champion(self, name: str) -> tuple[str, str | None] | None:
        if self._missing():
            return None
        try:
            version = self._client().get_model_version_by_alias(name, CHAMPION)
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return None
            raise
        return str(version.version), version.run_id

    def refused(self, name: str) -> bool:
        if self._missing():
            return False
        try:
            return bool(self._client().get_registered_model(name).tags.get(REFUSAL_TAG))
        except MlflowException:
            return False

    def latest(self, name: str) -> str | None:
        if self._missing():
            return None
        try:
            versions = self._client().search_model_versions(f"name = '{name}'")
        except MlflowException as error:
            if error.error_code in _NOT_FOUND:
                return None
            raise
        return max((str(v.version) for v in versions), key=int, default=None)

    def load(self, name: str, version: str) -> ModelBundle:
        return load_bundle(f"models:/{name}/{version}", tracking_uri=self.tracking_uri,
                           isolate=True)


class RegistryUnavailableError(RuntimeError):
    """The registry cannot be read right now (its database is missing or broken)."""


@dataclass(frozen=True)
class _Failure:
    """A version that failed to load, and when to try it again."""

    version: str
    attempts: int
    retry_at: float


@dataclass(frozen=True)
class LoadError:
    """A failed attempt to follow the champion of ``name``."""

    name: str
    version: str | None
    at: datetime
    error: str


class ModelWatcher:
    """Polls the ``champion`` alias of each model and keeps ``scorer`` in step with it.

    Args:
        scorer: the scorer whose models are swapped.
        registry: where champions are read and loaded from (e.g. ``MlflowRegistry``).
        model_names: registered model name per kind (``sql``, ``win``).
        poll_seconds: time between checks.
        retry_max_seconds: longest wait before a version that failed to load is tried again.
        on_load_failure: called with the kind after each failed load (e.g. a metric).
        on_swap: called after a new model was swapped in.
        clock: monotonic seconds (tests pass a fake clock to step through the back-off).
    """

    def __init__(self, scorer: LeadScorer, registry: Registry, model_names: Mapping[str, str],
                 poll_seconds: float = 10.0,
                 on_load_failure: Callable[[str], None] | None = None,
                 on_swap: Callable[[], None] | None = None,
                 retry_max_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.scorer = scorer
        self.registry = registry
        self.model_names = dict(model_names)
        self.poll_seconds = poll_seconds
        self.retry_max_seconds = retry_max_seconds
        self.on_load_failure = on_load_failure
        self.on_swap = on_swap
        self.clock = clock
        self.last_error: dict[str, LoadError | None] = {kind: None for kind in model_names}
        self.checked_at: datetime | None = None
        self._failures: dict[str, _Failure] = {}
        self._latest_rules: dict[str, tuple[str, RuleSet | None]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> None:
        """Read every champion alias once and load, swap or fall back as needed."""
        for kind, name in self.model_names.items():
            self._check(kind, name)
        self.checked_at = datetime.now(timezone.utc)

    def start(self) -> "ModelWatcher":
        """Check now and then every ``poll_seconds`` in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (a load in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self.check_once()
            except Exception:  # never let the watcher die; the next poll tries again
                logger.exception("model check failed")
            self.scorer.mark_ready()
            if self._stop.wait(self.poll_seconds):
                return

    def _check(self, kind: str, name: str) -> None:
        try:
            champion = self.registry.champion(name)
        except Exception as error:  # registry unreachable: keep what is served
            self._fail(kind, name, None, f"cannot read the registry: {error}",
                       fallback=REGISTRY_UNAVAILABLE)
            return
        if champion is None:
            reason = INSUFFICIENT_DATA if self.registry.refused(name) else NO_CHAMPION
            rules = self._newest_rules(kind, name)
            active = self.scorer.active
            if (active.model(kind) is not None or active.fallback.get(kind) != reason
                    or (rules is not None and active.rules.get(kind) is not rules)):
                self.scorer.use_rules(kind, reason, rules)
            return
        current = self.scorer.active.model(kind)
        version, run_id = champion
        if current is not None and current.version == version:
            self._clear_error(kind)  # e.g. the registry reads again after a fault
            return
        failure = self._failures.get(kind)
        if failure is not None and failure.version == version and self.clock() < failure.retry_at:
            return
        self._load(kind, name, version, run_id)

    def _clear_error(self, kind: str) -> None:
        if self.last_error.get(kind) is not None:
            logger.info("%s: the registry reads again; serving %s v%s", kind,
                        self.last_error[kind].name, self.scorer.active.model(kind).version)
            self.last_error[kind] = None
        self._failures.pop(kind, None)

    def _back_off(self, kind: str, version: str) -> float:
        """Record another failed load of ``version``; seconds until it is tried again."""
        previous = self._failures.get(kind)
        attempts = previous.attempts + 1 if previous and previous.version == version else 1
        wait = min(self.poll_seconds * 2 ** attempts, max(self.retry_max_seconds,
                                                          self.poll_seconds))
        self._failures[kind] = _Failure(version, attempts, self.clock() + wait)
        return wait

    def _load(self, kind: str, name: str, version: str, run_id: str | None) -> None:
        started = time.perf_counter()
        try:
            bundle = self.registry.load(name, version)
            model = prepare_model(kind, name, version, bundle, run_id=run_id,
                                  load_seconds=time.perf_counter() - started)
        except Exception as error:  # corrupt or incompatible: keep serving the old model
            wait = self._back_off(kind, version)
            self._fail(kind, name, version, f"{type(error).__name__}: {error}",
                       f"; trying again in {wait:g}s")
            return
        self.scorer.swap(model)
        self._failures.pop(kind, None)
        self.last_error[kind] = None
        if self.on_swap is not None:
            self.on_swap()

    def _fail(self, kind: str, name: str, version: str | None, message: str,
              retry: str = "", fallback: str = LOAD_FAILED) -> None:
        previous = self.last_error.get(kind)
        if previous is None or previous.error != message:  # a lasting fault is logged once
            logger.error("could not load %s v%s (%s): %s%s", name, version, kind, message, retry)
        if self.on_load_failure is not None:  # count first: whoever sees the error sees the count
            self.on_load_failure(kind)
        self.last_error[kind] = LoadError(name, version, datetime.now(timezone.utc), message)
        active = self.scorer.active
        if active.model(kind) is None:
            rules = self._newest_rules(kind, name) if fallback == LOAD_FAILED else None
            if active.fallback.get(kind) != fallback or (
                    rules is not None and active.rules.get(kind) is not rules):
                self.scorer.use_rules(kind, fallback, rules)

    def _newest_rules(self, kind: str, name: str) -> RuleSet | None:
        """The rules stored in the newest registered version of ``name`` (read once per
        version); None when there is none or it cannot be read."""
        try:
            version = self.registry.latest(name)
        except Exception as error:  # registry unreachable: keep the rules in use
            logger.warning("cannot list the versions of %s: %s", name, error)
            return None
        if version is None:
            return None
        cached = self._latest_rules.get(kind)
        if cached is not None and cached[0] == version:
            return cached[1]
        rules = None
        failure = self._failures.get(kind)
        if failure is None or failure.version != version:
            try:
                rules = bundle_rule_set(self.registry.load(name, version), f"{name} v{version}")
            except Exception as error:  # unreadable: the rules in use stay
                logger.warning("cannot read the rules of %s v%s: %s", name, version, error)
        self._latest_rules[kind] = (version, rules)
        return rules
