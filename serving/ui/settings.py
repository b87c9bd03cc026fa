"""Settings of the web page (``LEADSCORE_UI_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UiSettings(BaseSettings):
    """Page sizes, the change alert, score history and board warming.

    The pages' currency and rates are the service's (``crm.settings.Settings``:
    ``LEADSCORE_REPORTING_CURRENCY``, ``LEADSCORE_FX_RATES``); the former ``LEADSCORE_UI_CURRENCY``
    and ``LEADSCORE_UI_FX`` are deprecated aliases of those, read there."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_UI_", extra="forbid")

    page_size: int = Field(50, ge=10, le=500, description="Leads per page of the list.")
    jump_points: int = Field(10, ge=1, le=98,
                             description="A score jump of at least this many points since "
                                         "yesterday is listed as a buying-timing alert.")
    history_weeks: int = Field(12, ge=1, le=52, description="Weeks of score history shown.")
    warm_seconds: float = Field(
        60.0, ge=0, description="How often a background thread checks that today's and "
                                "yesterday's priority boards and today's forecast are built "
                                "for the model being served, building them before anyone asks "
                                "(0: never; the first page view or request then builds them).")
