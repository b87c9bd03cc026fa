"""The MLflow tracking store the settings name: the experiment every stage logs its runs to.

Training runs and forecast backtests both log to MLflow; the one helper they share lives here,
below both, so neither stage imports the other. ``mlflow`` is imported only by this module.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from crm.settings import sqlite_path


def ensure_experiment(name: str, tracking_uri: str,
                      artifact_location: str | Path | None = None) -> str:
    """Id of MLflow experiment ``name`` on the current tracking URI, created if missing.

    A new experiment's artifacts go to ``artifact_location``; for a SQLite store the default is
    ``artifacts/`` beside the database file (never the working directory's ``mlruns/``).
    """
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_location or _default_artifact_location(tracking_uri)
    if location is not None and "://" not in str(location):
        location = Path(location).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _default_artifact_location(tracking_uri: str) -> str | None:
    """``artifacts/`` beside a SQLite database file; ``None`` (the server decides) otherwise."""
    database = sqlite_path(tracking_uri)
    if database is None:
        return None
    return (database.resolve().parent / "artifacts").as_uri()
