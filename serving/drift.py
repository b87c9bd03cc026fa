"""Drift of the service's recent scored traffic against the served model's reference.

``DriftMonitor`` keeps a bounded window of the model inputs and probabilities of the latest
leads a model scored (``LEADSCORE_SERVING_DRIFT_WINDOW`` rows; model-input numbers and
category codes only: no ids, names, e-mails or text, and nothing leaves memory). A thread
compares the window with the reference stored in the model's bundle (``training.drift``)
every ``LEADSCORE_SERVING_DRIFT_CHECK_SECONDS`` once it holds
``LEADSCORE_SERVING_DRIFT_MIN_ROWS`` rows, hands the report to ``on_report`` (the service sets
its ``leadscore_drift_psi`` gauge: one series per model feature and one for the score) and
logs a WARNING naming the features at or above ``LEADSCORE_DRIFT_ALERT_PSI``. A new model
version starts a new window. A bundle without a reference is reported once ("no reference").
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import numpy as np

from training.bundle import ModelBundle
from training.drift import DEFAULT_ALERT_PSI, DEFAULT_WARN_PSI, DriftReport, compare_bundle_inputs

logger = logging.getLogger(__name__)


class DriftMonitor:
    """A bounded window of recent model inputs and scores, checked for drift.

    Args:
        window: most rows kept (the oldest are overwritten).
        min_rows: fewest rows a check needs (fewer: no report).
        warn / alert: PSI thresholds of the statuses (``training.drift.psi_status``).
        on_report: called with each report (e.g. to set a Prometheus gauge).
    """

    def __init__(self, window: int = 5_000, min_rows: int = 500,
                 warn: float = DEFAULT_WARN_PSI, alert: float = DEFAULT_ALERT_PSI,
                 on_report: Callable[[DriftReport], None] | None = None):
        if not 1 <= min_rows <= window:
            raise ValueError(f"drift min_rows must be between 1 and the window ({window}), "
                             f"got {min_rows}")
        self.window, self.min_rows, self.warn, self.alert = window, min_rows, warn, alert
        self._on_report = on_report
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset(None, 0)
        self._alerting: tuple[str, ...] = ()
        self.last_report: DriftReport | None = None

    def _reset(self, key: tuple | None, n_features: int) -> None:
        self._key, self._bundle = key, None
        self._matrix = np.empty((self.window, n_features))
        self._scores = np.empty(self.window)
        self._next, self._rows = 0, 0

    def record(self, key: tuple, bundle: ModelBundle, matrix: np.ndarray,
               probabilities: np.ndarray) -> None:
        """Add scored rows of the model ``key`` (e.g. name and version); another key than the
        window's starts a new window."""
        with self._lock:
            if key != self._key:
                self._reset(key, matrix.shape[1])
                self._bundle = bundle
            matrix, probabilities = matrix[-self.window:], probabilities[-self.window:]
            slots = (self._next + np.arange(len(probabilities))) % self.window
            self._matrix[slots], self._scores[slots] = matrix, probabilities
            self._next = (self._next + len(probabilities)) % self.window
            self._rows = min(self._rows + len(probabilities), self.window)

    @property
    def rows(self) -> int:
        """Rows in the window now."""
        return self._rows

    def check(self) -> DriftReport | None:
        """Compare the window with the model's reference; None with too few rows or no
        reference. Logs a WARNING when the set of alerting features changes to a non-empty one."""
        with self._lock:
            if self._bundle is None or self._rows < self.min_rows:
                return None
            bundle, key = self._bundle, self._key
            matrix, scores = self._matrix[:self._rows].copy(), self._scores[:self._rows].copy()
        report = compare_bundle_inputs(bundle, matrix, scores, warn=self.warn, alert=self.alert)
        if report is None:
            if self._alerting != ("no reference",):
                logger.info("drift: %s v%s has no reference in its bundle (trained before "
                            "drift references were stored); not checked", *key[:2])
                self._alerting = ("no reference",)
            return None
        self._log_alerts(report, key)
        self.last_report = report
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _log_alerts(self, report: DriftReport, key: tuple) -> None:
        alerting = tuple(report.alerts)
        if alerting and alerting != self._alerting:
            logger.warning("drift alert for %s v%s: PSI at or above %g for %s over the last %d "
                           "scored leads", *key[:2], self.alert, ", ".join(alerting),
                           report.rows)
        elif not alerting and self._alerting:
            logger.info("drift back below the alert threshold for %s v%s", *key[:2])
        self._alerting = alerting

    def start(self, interval_seconds: float) -> "DriftMonitor":
        """Check every ``interval_seconds`` in a daemon thread until ``stop``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(interval_seconds,),
                                            name="drift-monitor", daemon=True)
            self._thread.start()
        return self

    def _run(self, interval_seconds: float) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.check()
            except Exception:  # a failed check must not end monitoring
                logger.exception("drift check failed")

    def stop(self) -> None:
        """End the checking thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
