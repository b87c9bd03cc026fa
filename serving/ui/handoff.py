"""The hand-off package for field sales (トスアップ資料) and a lead's stored file.

``build_handoff`` is a pure function of the lead's stored records as of a time: the company,
the key persons at the account, BANT with the dates each element was confirmed, how the lead
came in and what it engaged with, open deals at the account and the open concerns. It is
served as JSON and Markdown (``GET /leads/{id}/handoff``) and shown on the lead page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa

from crm.store import CRMStore
from features.bant import build_bant_features
from serving.schemas import ReasonOut

RECENT_DAYS = 90
QUIET_DAYS = 30
SQL_TIMELINE_MONTHS = 3.0
BANT = (("budget", "budget"), ("authority", "authority"), ("need", "need"),
        ("timeline", "timeline_months"))
CONTENT_TYPES = ("page_view", "pricing_page_view", "content_download", "webinar_register",
                 "webinar_attend", "exhibition_visit", "email_click")
HIGH_INTENT = ("pricing_page_view", "demo_request", "email_reply", "meeting_booked",
               "meeting_held", "form_submit")
_WORDS = {
    "en": {"not_confirmed": "{element} not confirmed yet", "negative": "{element}: no",
           "timeline_far": "decision in {months:g} months (beyond {limit:g})",
           "quiet": "no activity in the last {days} days",
           "no_company": "company unknown: the account is not identified",
           "open_deal": "an open deal already exists at the account ({deal}, {stage})",
           "reason": "pulls the score down: {text}",
           "budget": "Budget", "authority": "Authority", "need": "Need",
           "timeline": "Timeline"},
    "ja": {"not_confirmed": "{element}が未確認", "negative": "{element}: なし",
           "timeline_far": "意思決定まで{months:g}か月（{limit:g}か月超）",
           "quiet": "直近{days}日間に活動なし",
           "no_company": "会社が不明（アカウント未特定）",
           "open_deal": "アカウントに進行中の商談あり（{deal}、{stage}）",
           "reason": "スコアを下げる要因: {text}",
           "budget": "予算", "authority": "決裁権", "need": "必要性", "timeline": "導入時期"},
}


class LeadNotFoundError(LookupError):
    """No stored lead has this id."""


@dataclass(frozen=True)
class LeadFile:
    """Everything stored about one lead: its row, its account, the account's other leads,
    the lead's activities and the account's deals (canonical frames / rows)."""

    lead_frame: pd.DataFrame
    account: pd.Series | None
    colleagues: pd.DataFrame
    activities: pd.DataFrame
    opportunities: pd.DataFrame

    @property
    def lead(self) -> pd.Series:
        return self.lead_frame.iloc[0]


def read_lead_file(store: CRMStore, lead_id: str) -> LeadFile:
    """The stored records of ``lead_id``.

    Raises:
        LeadNotFoundError: no lead has this id.
    """
    leads = store.read_table("leads", where=store.table("leads").c.lead_id == lead_id)
    if leads.empty:
        raise LeadNotFoundError(f"no lead with id {lead_id!r}")
    lead = leads.iloc[0]
    account_id = lead["account_id"] if isinstance(lead["account_id"], str) else None
    activities = store.read_table("activities",
                                  where=store.table("activities").c.lead_id == lead_id)
    if account_id is None:
        empty = store.read_table("leads", where=sa.false())
        return LeadFile(leads, None, empty, activities,
                        store.read_table("opportunities", where=sa.false()))
    accounts = store.read_table("accounts",
                                where=store.table("accounts").c.account_id == account_id)
    colleagues = store.read_table("leads", where=sa.and_(
        store.table("leads").c.account_id == account_id, store.table("leads").c.lead_id != lead_id))
    deals = store.read_table("opportunities",
                             where=store.table("opportunities").c.account_id == account_id)
    return LeadFile(leads, accounts.iloc[0] if len(accounts) else None, colleagues, activities,
                    deals)


def confirmed_bant(lead: Mapping[str, Any], as_of: pd.Timestamp) -> dict[str, dict]:
    """Each BANT element as known at ``as_of``: value (None if not confirmed yet) and date."""
    out = {}
    for element, column in BANT:
        stamp = lead.get(f"{element}_confirmed_at")
        known = _present(stamp) and pd.Timestamp(stamp) < as_of
        value = _plain(lead.get(column)) if known else None
        out[element] = {"value": value, "confirmed_at": _iso(stamp) if known else None}
    return out


def meets_sql_rule(lead_frame: pd.DataFrame, as_of: pd.Timestamp,
                   months: float = SQL_TIMELINE_MONTHS) -> bool:
    """The practice's SQL rule on BANT confirmed before ``as_of`` (``features.bant``'s
    definition) for a one-lead frame."""
    pairs = pd.DataFrame({"lead_id": lead_frame["lead_id"].to_numpy(),
                          "as_of": pd.Series([as_of]).dt.as_unit("us")})
    return bool(build_bant_features(lead_frame, pairs, months)["bant_meets_sql_rule"].iloc[0])


def is_sales_qualified(lead_frame: pd.DataFrame, as_of: pd.Timestamp) -> bool:
    """True when the lead was marked SQL before ``as_of`` (and not recycled since) or its
    confirmed BANT meets the SQL rule."""
    lead = lead_frame.iloc[0]
    recycled_since = _before(lead.get("recycled_at"), as_of) and _before(
        lead.get("sql_at"), pd.Timestamp(lead["recycled_at"]))
    marked = _before(lead.get("sql_at"), as_of) and not recycled_since
    return marked or meets_sql_rule(lead_frame, as_of)


def build_handoff(file: LeadFile, as_of: pd.Timestamp, language: str = "en",
                  reasons: Sequence[ReasonOut] = ()) -> dict[str, Any]:
    """The hand-off package of a lead as of ``as_of`` (records after it are ignored).

    Args:
        file: the lead's stored records (``read_lead_file``).
        as_of: the moment the package describes (timezone-aware).
        language: ``en`` or ``ja`` for the concerns' wording.
        reasons: the scorer's reasons for the lead (the top three that pull the score down
            and that sales can act on become concerns).
    """
    lead = file.lead
    activities = file.activities[file.activities["occurred_at"] < as_of].sort_values(
        "occurred_at", kind="stable")
    bant = confirmed_bant(lead, as_of)
    deals = _open_deals(file.opportunities, as_of)
    return {
        "lead_id": lead["lead_id"], "as_of": _iso(as_of),
        "sales_qualified": is_sales_qualified(file.lead_frame, as_of),
        "sql_at": _iso(lead.get("sql_at")) if _before(lead.get("sql_at"), as_of) else None,
        "meets_sql_rule": meets_sql_rule(file.lead_frame, as_of),
        "contact": {k: _plain(lead.get(k)) for k in ("name", "job_title", "department",
                                                      "email", "owner")},
        "company": _company(file.account),
        "key_persons": _key_persons(file.colleagues, as_of),
        "bant": bant,
        "origin": {"source": _plain(lead["source"]), "created_at": _iso(lead["created_at"]),
                   "mql_at": _iso(lead.get("mql_at")) if _before(lead.get("mql_at"), as_of)
                   else None,
                   "first_touches": [_touch(r) for r in activities.head(3).itertuples()]},
        "engagement": _engagement(activities, as_of),
        "open_deals": deals,
        "open_concerns": _concerns(lead["lead_id"], bant, activities, file.account, deals,
                                   as_of, language, reasons),
    }


def _company(account: pd.Series | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {k: _plain(account.get(k)) for k in ("account_id", "name", "domain", "industry",
                                                "employees", "annual_revenue", "country",
                                                "region", "founded_year")}


def _key_persons(colleagues: pd.DataFrame, as_of: pd.Timestamp, n: int = 5) -> list[dict]:
    known = colleagues[colleagues["created_at"] < as_of]
    known = known.sort_values(["created_at", "lead_id"], ascending=[False, True]).head(n)
    return [{"lead_id": r.lead_id, "name": _plain(r.name), "job_title": _plain(r.job_title),
             "department": _plain(r.department), "status": _plain(r.status)}
            for r in known.itertuples()]


def _touch(row) -> dict[str, Any]:
    return {"occurred_at": _iso(row.occurred_at), "type": row.type,
            "channel": _plain(row.channel), "detail": _detail(row.properties)}


def _detail(properties: object) -> str | None:
    if not isinstance(properties, str) or not properties:
        return None
    try:
        data = json.loads(properties)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data:
        return None
    return ", ".join(f"{v}" for v in data.values() if v is not None) or None


def _engagement(activities: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, Any]:
    recent = activities[activities["occurred_at"] >= as_of - pd.Timedelta(days=RECENT_DAYS)]
    counts = recent["type"].value_counts()
    intent = activities[activities["type"].isin(HIGH_INTENT)]
    content = recent[recent["type"].isin(CONTENT_TYPES)]
    details = sorted({d for d in (_detail(p) for p in content["properties"]) if d})
    return {
        "window_days": RECENT_DAYS,
        "counts": {str(k): int(v) for k, v in counts.sort_index().items()},
        "content": details[:10],
        "last_activity_at": _iso(activities["occurred_at"].max()) if len(activities) else None,
        "last_high_intent": _touch(next(intent.iloc[::-1].itertuples())) if len(intent)
        else None,
    }


def _open_deals(deals: pd.DataFrame, as_of: pd.Timestamp) -> list[dict]:
    opened = deals[(deals["created_at"] < as_of)
                   & (deals["closed_at"].isna() | (deals["closed_at"] >= as_of))]
    return [{"opportunity_id": r.opportunity_id, "lead_id": _plain(r.lead_id), "stage": r.stage,
             "amount": _plain(r.amount),
             "currency": r.currency, "expected_close_date": _iso(r.expected_close_date)}
            for r in opened.sort_values("opportunity_id").itertuples()]


def _concerns(lead_id: str, bant: Mapping[str, dict], activities: pd.DataFrame,
              account: pd.Series | None, deals: list[dict], as_of: pd.Timestamp, language: str,
              reasons: Sequence[ReasonOut]) -> list[str]:
    words = _WORDS[language]
    out = []
    for element, _ in BANT:
        value = bant[element]["value"]
        if value is None:
            out.append(words["not_confirmed"].format(element=words[element]))
        elif value is False:
            out.append(words["negative"].format(element=words[element]))
    timeline = bant["timeline"]["value"]
    if timeline is not None and timeline > SQL_TIMELINE_MONTHS:
        out.append(words["timeline_far"].format(months=timeline, limit=SQL_TIMELINE_MONTHS))
    last = activities["occurred_at"].max() if len(activities) else None
    if last is None or as_of - last > pd.Timedelta(days=QUIET_DAYS):
        out.append(words["quiet"].format(days=QUIET_DAYS))
    if account is None:
        out.append(words["no_company"])
    out += [words["open_deal"].format(deal=d["opportunity_id"], stage=d["stage"])
            for d in deals if d["lead_id"] != lead_id]  # its own deal is no concern
    drags = [r for r in reasons if r.contribution < 0 and r.kind == "actionable"]
    out += [words["reason"].format(text=r.text) for r in drags[:3]]
    return out


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and value != value) and \
        not (value is pd.NaT) and not (value is pd.NA)


def _before(value: object, as_of: pd.Timestamp) -> bool:
    return _present(value) and pd.Timestamp(value) < as_of


def _iso(value: object) -> str | None:
    return pd.Timestamp(value).isoformat() if _present(value) else None


def _plain(value: object) -> Any:
    if not _present(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


# --- Markdown -------------------------------------------------------------------------------

_MD = {
    "en": {"title": "Hand-off package: {name} ({lead_id})", "as_of": "As of {as_of}",
           "sql": "Sales-qualified: {state}", "contact": "Contact", "company": "Company",
           "persons": "Key persons at the account", "bant": "BANT (as confirmed)",
           "origin": "How the lead came in", "engagement": "What it engaged with",
           "deals": "Open deals at the account", "concerns": "Open concerns",
           "none": "none", "yes": "yes", "no": "no", "not_confirmed": "not confirmed",
           "confirmed": "confirmed {date}", "source": "Source", "created": "Created",
           "mql": "MQL", "first": "First touches", "last": "Last activity",
           "intent": "Last high-intent action", "counts": "Last {days} days",
           "content": "Content", "months": "{n:g} months"},
    "ja": {"title": "トスアップ資料: {name}（{lead_id}）", "as_of": "基準日時 {as_of}",
           "sql": "SQL: {state}", "contact": "担当者", "company": "会社概要",
           "persons": "アカウントの主要人物", "bant": "BANT（確認済み）",
           "origin": "流入経路", "engagement": "反応した内容", "deals": "アカウントの進行中商談",
           "concerns": "懸念事項", "none": "なし", "yes": "はい", "no": "いいえ",
           "not_confirmed": "未確認", "confirmed": "{date} 確認", "source": "流入元",
           "created": "作成日", "mql": "MQL化", "first": "最初の接点", "last": "最終活動",
           "intent": "最後の高意欲行動", "counts": "直近{days}日", "content": "コンテンツ",
           "months": "{n:g}か月"},
}
_BANT_LABEL = {"en": {"budget": "Budget", "authority": "Authority", "need": "Need",
                      "timeline": "Timeline"},
               "ja": {"budget": "予算", "authority": "決裁権", "need": "必要性",
                      "timeline": "導入時期"}}


def render_handoff_markdown(package: Mapping[str, Any], language: str = "en") -> str:
    """The hand-off package as Markdown (headings in ``language``)."""
    w = _MD[language]
    contact = package["contact"]
    lines = [f"# {w['title'].format(name=contact['name'] or '-', lead_id=package['lead_id'])}",
             "", w["as_of"].format(as_of=package["as_of"]),
             w["sql"].format(state=w["yes"] if package["sales_qualified"] else w["no"]), "",
             f"## {w['contact']}", *_md_fields(contact), "",
             f"## {w['company']}", *(_md_fields(package["company"]) if package["company"]
                                      else [f"- {w['none']}"]), "",
             f"## {w['persons']}",
             *([f"- {p['name'] or '-'} — {p['job_title'] or '-'} ({p['department'] or '-'}, "
                f"{p['status']})" for p in package["key_persons"]] or [f"- {w['none']}"]), "",
             f"## {w['bant']}", *_md_bant(package["bant"], language), "",
             f"## {w['origin']}", *_md_origin(package["origin"], w), "",
             f"## {w['engagement']}", *_md_engagement(package["engagement"], w), "",
             f"## {w['deals']}",
             *([f"- {d['opportunity_id']}: {d['stage']}, {d['amount']} {d['currency']}, "
                f"{(d['expected_close_date'] or '-')[:10]}" for d in package["open_deals"]]
               or [f"- {w['none']}"]), "",
             f"## {w['concerns']}", *([f"- {c}" for c in package["open_concerns"]]
                                       or [f"- {w['none']}"]), ""]
    return "\n".join(lines)


def _md_fields(fields: Mapping[str, Any]) -> list[str]:
    return [f"- {k.replace('_', ' ')}: {v}" for k, v in fields.items() if v is not None]


def _md_bant(bant: Mapping[str, dict], language: str) -> list[str]:
    w = _MD[language]
    out = []
    for element, entry in bant.items():
        value = entry["value"]
        if value is None:
            text = w["not_confirmed"]
        else:
            shown = (w["months"].format(n=value) if element == "timeline"
                     else w["yes"] if value else w["no"])
            text = f"{shown} ({w['confirmed'].format(date=entry['confirmed_at'][:10])})"
        out.append(f"- {_BANT_LABEL[language][element]}: {text}")
    return out


def _md_origin(origin: Mapping[str, Any], w: Mapping[str, str]) -> list[str]:
    out = [f"- {w['source']}: {origin['source']}", f"- {w['created']}: {origin['created_at'][:10]}"]
    if origin["mql_at"]:
        out.append(f"- {w['mql']}: {origin['mql_at'][:10]}")
    out += [f"- {w['first']}: {t['occurred_at'][:10]} {t['type']}"
            + (f" ({t['detail']})" if t["detail"] else "") for t in origin["first_touches"]]
    return out


def _md_engagement(engagement: Mapping[str, Any], w: Mapping[str, str]) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in engagement["counts"].items()) or w["none"]
    out = [f"- {w['counts'].format(days=engagement['window_days'])}: {counts}"]
    if engagement["content"]:
        out.append(f"- {w['content']}: " + "; ".join(engagement["content"]))
    if engagement["last_activity_at"]:
        out.append(f"- {w['last']}: {engagement['last_activity_at'][:10]}")
    intent = engagement["last_high_intent"]
    if intent:
        out.append(f"- {w['intent']}: {intent['occurred_at'][:10]} {intent['type']}")
    return out
