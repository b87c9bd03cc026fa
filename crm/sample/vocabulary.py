"""Codes of the canonical vocabularies, and every JSON text used in ``properties`` /
``attributes`` (events hold codes into it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from crm import schema
from crm.sample.calendar import _Calendar, _month_index
from crm.sample.words import _PREFECTURES

CHANNELS = ("web", "ads", "email", "webinar", "event", "chat", "phone", "meeting")
_TYPE_CHANNEL = {
    "page_view": "web", "pricing_page_view": "web", "content_download": "web",
    "form_submit": "web", "demo_request": "web", "email_sent": "email", "email_open": "email",
    "email_click": "email", "email_reply": "email", "email_bounce": "email",
    "unsubscribe": "email", "webinar_register": "webinar", "webinar_attend": "webinar",
    "exhibition_visit": "event", "chat": "chat", "call_attempt": "phone",
    "call_connected": "phone", "meeting_booked": "meeting", "meeting_held": "meeting",
}
_T = {name: code for code, name in enumerate(schema.ACTIVITY_TYPES)}
_SRC = {name: code for code, name in enumerate(schema.LEAD_SOURCES)}
_STATUS = {name: code for code, name in enumerate(schema.LEAD_STATUSES)}


_PAGE_PATHS = ("/", "/product", "/features", "/case-studies", "/blog/lead-scoring",
               "/blog/inside-sales", "/integrations", "/security", "/about", "/careers")
_ASSETS = ("whitepaper_lead_scoring", "ebook_inside_sales", "case_study_manufacturing",
           "checklist_bant", "report_pipeline_benchmark")


@dataclass(frozen=True)
class _Vocabulary:
    """Every JSON text used in ``properties`` / ``attributes``; events hold codes into it."""

    texts: tuple[str, ...]
    base: dict[str, int]
    sizes: dict[str, int]
    first_month: int  # month index of the first nurture campaign

    @classmethod
    def build(cls, cal: _Calendar) -> _Vocabulary:
        n_months = int(_month_index(np.array([cal.end]))[0]) - cal.first_month + 2
        families: dict[str, list[dict[str, object]]] = {
            "page": [{"path": p} for p in _PAGE_PATHS],
            "pricing": [{"path": "/pricing"}, {"path": "/pricing", "plan": "enterprise"}],
            "asset": [{"asset": a} for a in _ASSETS],
            "form": [{"form": f} for f in ("contact", "download", "newsletter")],
            "demo": [{"form": "demo"}],
            "campaign": [{"campaign": _campaign_name(cal.first_month + m)}
                         for m in range(n_months)],
            "sales_email": [{"campaign": "inside_sales"}],
            "bounce": [{"reason": "hard"}, {"reason": "soft"}],
            "webinar": [{"webinar": _webinar_name(t)} for t in cal.webinars] or [{}],
            "exhibition": [{"exhibition": n} for n in cal.exhibition_names] or [{}],
            "chat": [{"topic": t} for t in ("pricing", "features", "support", "integration")],
            "call_result": [{"result": r} for r in ("no_answer", "voicemail", "busy")],
            "call_minutes": [{"duration_min": m} for m in range(1, 61)],
            "meeting": [{"format": "online"}, {"format": "onsite"}],
            "prefecture": [{"prefecture": p} for p, _ in _PREFECTURES],
            "utm": [{"utm_source": s, "utm_medium": "cpc"} for s in ("google", "linkedin",
                                                                      "facebook")],
            "opt_in": [{"newsletter_opt_in": True}, {"newsletter_opt_in": False}],
        }
        texts: list[str] = []
        base, sizes = {}, {}
        for name, items in families.items():
            base[name], sizes[name] = len(texts), len(items)
            texts.extend(json.dumps(item, ensure_ascii=False) for item in items)
        return cls(tuple(texts), base, sizes, cal.first_month)

    def code(self, family: str, index: object = 0) -> np.ndarray:
        idx = np.clip(np.asarray(index, dtype=np.int64), 0, self.sizes[family] - 1)
        return self.base[family] + idx


def _campaign_name(month_index: int) -> str:
    year, month = divmod(month_index, 12)
    return f"nurture_{1970 + year}_{month + 1:02d}"


def _webinar_name(t: float) -> str:
    return "WB-" + str(np.datetime64(math.floor(t), "D"))
