"""The hand-off package (JSON and Markdown) from small inline CRM records."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.schema import coerce_rows
from serving.schemas import ReasonOut
from serving.ui.handoff import (LeadFile, build_handoff, is_sales_qualified,
                                render_handoff_markdown)

AS_OF = pd.Timestamp("2026-06-01", tz="UTC")


def _t(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def _lead(**changes) -> dict:
    lead = {"lead_id": "L1", "account_id": "A1", "name": "山田 太郎", "email": "t@acme.co.jp",
            "job_title": "情報システム部 部長", "department": "IT", "source": "webinar",
            "owner": "Sato", "created_at": _t("2026-03-01"), "status": "sql",
            "mql_at": _t("2026-04-01"), "sql_at": _t("2026-05-20"),
            "budget": True, "budget_confirmed_at": _t("2026-05-10"),
            "authority": True, "authority_confirmed_at": _t("2026-05-12"),
            "need": True, "need_confirmed_at": _t("2026-05-15"),
            "timeline_months": 2.0, "timeline_confirmed_at": _t("2026-05-18")}
    return {**lead, **changes}


def _file(lead: dict | None = None, activities: list[dict] | None = None,
          colleagues: list[dict] | None = None, deals: list[dict] | None = None,
          account: bool = True) -> LeadFile:
    accounts = coerce_rows("accounts", [{"account_id": "A1", "name": "株式会社アクメ",
                                         "industry": "manufacturing", "employees": 800,
                                         "country": "JP", "domain": "acme.co.jp"}])
    return LeadFile(
        lead_frame=coerce_rows("leads", [lead or _lead()]),
        account=accounts.iloc[0] if account else None,
        colleagues=coerce_rows("leads", colleagues or []),
        activities=coerce_rows("activities", activities or [
            {"event_id": "E1", "lead_id": "L1", "occurred_at": _t("2026-03-05"),
             "type": "webinar_attend", "properties": '{"webinar": "WB-2026-03"}'},
            {"event_id": "E2", "lead_id": "L1", "occurred_at": _t("2026-05-25"),
             "type": "pricing_page_view", "properties": '{"path": "/pricing"}'},
            {"event_id": "E3", "lead_id": "L1", "occurred_at": _t("2026-06-02"),
             "type": "demo_request"}]),
        opportunities=coerce_rows("opportunities", deals or []))


def test_package_holds_company_persons_bant_origin_and_engagement() -> None:
    colleague = _lead(lead_id="L2", name="鈴木 花子", job_title="代表取締役", sql_at=None,
                      status="nurturing", created_at=_t("2026-02-01"))
    package = build_handoff(_file(colleagues=[colleague]), AS_OF)
    assert package["sales_qualified"] is True and package["meets_sql_rule"] is True
    assert package["sql_at"].startswith("2026-05-20")
    assert package["company"]["name"] == "株式会社アクメ" and package["company"]["employees"] == 800
    assert [p["name"] for p in package["key_persons"]] == ["鈴木 花子"]
    assert package["bant"]["budget"] == {"value": True,
                                         "confirmed_at": "2026-05-10T00:00:00+00:00"}
    assert package["bant"]["timeline"]["value"] == 2.0
    assert package["origin"]["source"] == "webinar"
    assert [t["type"] for t in package["origin"]["first_touches"]] == ["webinar_attend",
                                                                      "pricing_page_view"]
    engagement = package["engagement"]  # the last 90 days: 2026-03-03 on
    assert engagement["counts"] == {"pricing_page_view": 1, "webinar_attend": 1}
    assert engagement["content"] == ["/pricing", "WB-2026-03"]
    assert engagement["last_high_intent"]["type"] == "pricing_page_view"  # not the later demo


def test_records_after_as_of_are_ignored() -> None:
    lead = _lead(need_confirmed_at=_t("2026-06-05"), sql_at=None)
    package = build_handoff(_file(lead), AS_OF)
    assert package["bant"]["need"] == {"value": None, "confirmed_at": None}
    assert package["engagement"]["last_activity_at"].startswith("2026-05-25")
    assert "Need not confirmed yet" in package["open_concerns"]


@pytest.mark.parametrize("changes, qualified", [
    ({}, True),                                                  # marked SQL before as_of
    ({"sql_at": None}, True),                                    # BANT meets the rule
    ({"sql_at": None, "timeline_months": 6.0}, False),           # timeline too far
    ({"sql_at": None, "budget": False, "authority": False}, False),  # 1 of 4 + timeline
    ({"sql_at": _t("2026-06-10"), "budget_confirmed_at": None, "budget": None}, True),
    ({"sql_at": _t("2026-04-01"), "recycled_at": _t("2026-04-15"), "need": False,
      "need_confirmed_at": _t("2026-04-10"), "budget": False}, False),  # recycled since
])
def test_sales_qualified_by_mark_or_by_rule(changes: dict, qualified: bool) -> None:
    assert is_sales_qualified(coerce_rows("leads", [_lead(**changes)]), AS_OF) is qualified


def test_open_concerns_name_gaps_quiet_leads_deals_and_negative_reasons() -> None:
    lead = _lead(authority=False, timeline_months=6.0, sql_at=None)
    deal = {"opportunity_id": "O1", "account_id": "A1", "currency": "JPY", "amount": 5e6,
            "created_at": _t("2026-05-01"), "stage": "proposal", "outcome": "open"}
    own = {**deal, "opportunity_id": "O2", "lead_id": "L1"}
    old = [{"event_id": "E1", "lead_id": "L1", "occurred_at": _t("2026-03-02"),
            "type": "page_view"}]
    reasons = [ReasonOut(feature="x", value=1, text="few e-mail replies", contribution=-0.4,
                         kind="actionable"),
               ReasonOut(feature="y", value=1, text="ICP tier A", contribution=0.5,
                         kind="fixed"),
               ReasonOut(feature="z", value="APAC", text="region is APAC", contribution=-0.2,
                         kind="fixed")]
    package = build_handoff(_file(lead, activities=old, deals=[deal, own]), AS_OF, "en",
                            reasons)
    assert [d["opportunity_id"] for d in package["open_deals"]] == ["O1", "O2"]
    concerns = package["open_concerns"]
    assert concerns == ["Authority: no", "decision in 6 months (beyond 3)",
                        "no activity in the last 30 days",
                        "an open deal already exists at the account (O1, proposal)",
                        "pulls the score down: few e-mail replies"]
    japanese = build_handoff(_file(lead, activities=old, deals=[deal]), AS_OF, "ja")
    assert japanese["open_concerns"][0] == "決裁権: なし"


def test_lead_without_company_says_so() -> None:
    package = build_handoff(_file(account=False), AS_OF)
    assert package["company"] is None
    assert "company unknown: the account is not identified" in package["open_concerns"]


def test_markdown_has_every_section_in_both_languages() -> None:
    package = build_handoff(_file(), AS_OF)
    english = render_handoff_markdown(package, "en")
    assert english.startswith("# Hand-off package: 山田 太郎 (L1)")
    for heading in ("## Company", "## Key persons at the account", "## BANT (as confirmed)",
                    "## How the lead came in", "## What it engaged with",
                    "## Open deals at the account", "## Open concerns"):
        assert heading in english
    assert "- Budget: yes (confirmed 2026-05-10)" in english
    assert "- Timeline: 2 months (confirmed 2026-05-18)" in english
    japanese = render_handoff_markdown(package, "ja")
    assert japanese.startswith("# トスアップ資料: 山田 太郎（L1）")
    assert "- 予算: はい (2026-05-10 確認)" in japanese and "## 懸念事項" in japanese
