"""Settings of the scoring service, from ``LEADSCORE_SERVING_*`` environment variables.

Store, MLflow, model names and the API key come from ``crm.settings.Settings``; this object
holds only what the HTTP service itself needs (limits, polling, batching).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from training.rules import DEFAULT_RULES_PATH


class ServingSettings(BaseSettings):
    """Limits and timings of the scoring service (defaults suit a small 2-core machine)."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_SERVING_", extra="ignore")

    rules_path: Path = Field(DEFAULT_RULES_PATH, description="Rules YAML (fallback, actions).")
    poll_seconds: float = Field(10.0, gt=0, le=3600,
                                description="How often the registry's champion alias is read.")
    retry_max_seconds: float = Field(
        300.0, gt=0, le=86_400, description="Longest back-off before a model version that "
        "failed to load is tried again (the wait doubles from poll_seconds per failure).")
    header_timeout_seconds: float = Field(
        10.0, ge=0.5, le=300, description="A connection whose request headers are not complete "
        "this long after it opened (or after its previous answer) is closed.")
    max_body_bytes: int = Field(1_000_000, ge=1_000, le=100_000_000,
                                description="Larger request bodies are refused with 413.")
    max_batch_leads: int = Field(100, ge=1, le=1_000,
                                 description="Most leads in one /score/batch request (413).")
    max_events: int = Field(1_000, ge=1, le=100_000,
                            description="Most events in one /events request (413).")
    micro_batch_size: int = Field(32, ge=1, le=512,
                                  description="Most leads scored together (1 turns batching off).")
    micro_batch_wait_ms: float = Field(0.0, ge=0, le=100,
                                       description="Extra wait for a fuller batch when busy.")
    workers: int = Field(1, ge=1, le=64,
                         description="Service worker processes (each loads the models and "
                                     "follows the registry on its own).")
    load_win_model: bool = Field(True, description="Also follow the win model's champion.")
    switch_interval_ms: float = Field(
        1.0, gt=0, le=100, description="Python's thread switch interval (sys.setswitchinterval): "
        "how long the scoring thread may hold the GIL while the HTTP event loop waits.")
    lead_cache_seconds: float = Field(
        10.0, ge=0, le=3600, description="How long a lead read from the store for a request "
        "by lead_id is reused (0: read every time); /events for the lead, a colleague or its "
        "account ends it at once in the worker that stored them.")
    drift_window: int = Field(
        5_000, ge=10, le=1_000_000, description="Recent model-scored leads whose inputs and "
        "scores are kept in memory for drift checks (numbers and category codes only).")
    drift_min_rows: int = Field(
        500, ge=1, le=1_000_000, description="Fewest scored leads in the window before drift "
        "is checked (smaller samples make PSI noisy).")
    drift_check_seconds: float = Field(
        60.0, gt=0, le=86_400, description="How often the window is compared with the model's "
                                          "reference (gauge leadscore_drift_psi, alert log).")
