"""Builders of tiny canonical CRM rows for the report tests (times are 2026, 10:00 UTC)."""

from __future__ import annotations

import pytest


def stamp(day: str) -> str:
    """'02-14' -> '2026-02-14T10:00:00Z'."""
    return f"2026-{day}T10:00:00Z"


class CrmRows:
    """Row dicts for ``crm.schema.coerce_rows``."""

    stamp = staticmethod(stamp)

    @staticmethod
    def lead(i: int, created: str, mql: str | None = None, sql: str | None = None,
             source: str = "webinar", owner: str | None = "Aoki", **extra) -> dict:
        return {"lead_id": f"L{i:02d}", "source": source, "owner": owner, "status": "new",
                "created_at": stamp(created), "mql_at": mql and stamp(mql),
                "sql_at": sql and stamp(sql), **extra}

    @staticmethod
    def deal(i: int, lead: int | None, created: str, closed: str | None = None,
             outcome: str = "open", amount: float = 1000.0) -> dict:
        return {"opportunity_id": f"D{i:02d}", "lead_id": lead and f"L{lead:02d}",
                "currency": "USD", "amount": amount, "stage": outcome,
                "created_at": stamp(created), "closed_at": closed and stamp(closed),
                "outcome": outcome}

    @staticmethod
    def activity(i: int, lead: int, day: str, type_: str) -> dict:
        return {"event_id": f"E{i:03d}", "lead_id": f"L{lead:02d}", "occurred_at": stamp(day),
                "type": type_}


@pytest.fixture
def crm_rows() -> type[CrmRows]:
    """The ``CrmRows`` builders."""
    return CrmRows
