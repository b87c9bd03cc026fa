"""The web page in a real browser: Debian's chromium driven by Playwright, against a real
``bentoml serve`` on 127.0.0.1 with a generated CRM and a trained champion and challenger.

One served instance for the module. Screenshots go to ``tmp/artifacts/ui/`` (CI keeps them);
with ``UPDATE_README_SCREENSHOTS=1`` the README's images in ``docs/images/`` are rewritten.
In CI (CI=true) a missing chromium is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from mlflow import MlflowClient

from crm.sample import GeneratorConfig, generate_crm
from crm.store import CRMStore
from features.config import FeatureConfig
from features.leads import lead_feature_registry
from features.training_sets import build_sql_examples
from serving.process import leadscore_server
from serving.ui.board import rank_key
from training.model import BoosterParams
from training.train import TrainConfig, train_model

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("ui_browser")]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tmp" / "artifacts" / "ui"
README_IMAGES = REPO / "docs" / "images"
KEY = "ui-test-key-0123456789"
MODEL = "ui-sql"
AS_OF_END = pd.Timestamp("2026-10-31T23:59:59Z")
FX_RATES = {"JPY": 0.007}  # not the default: the plan page's figures show it reads these
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@dataclass
class Site:
    url: str
    tables: dict[str, pd.DataFrame]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install -y chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _train(examples: pd.DataFrame, tracking_uri: str, seed: int, leaves: int) -> None:
    config = FeatureConfig()
    train_model(examples, lead_feature_registry(config), model_name=MODEL,
                tracking_uri=tracking_uri, feature_config=config.to_dict(),
                config=TrainConfig(make_plots=False, seed=seed, booster=BoosterParams(
                    num_leaves=leaves, learning_rate=0.1, num_boost_round=150)))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ui-browser")
    tables, _ = generate_crm(GeneratorConfig(n_leads=2000, seed=21))
    crm_url = f"sqlite:///{root / 'crm.db'}"
    CRMStore(crm_url).write_tables(tables)
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    examples = build_sql_examples(tables, FeatureConfig(), AS_OF_END)
    _train(examples, tracking_uri, seed=1, leaves=15)
    _train(examples, tracking_uri, seed=2, leaves=7)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.set_registered_model_alias(MODEL, "champion", "1")
    client.set_registered_model_alias(MODEL, "challenger", "2")
    server = leadscore_server({
        "LEADSCORE_API_KEY": KEY, "LEADSCORE_DATABASE_URL": crm_url,
        "LEADSCORE_MLFLOW_TRACKING_URI": tracking_uri, "LEADSCORE_SQL_MODEL_NAME": MODEL,
        "LEADSCORE_SERVING_LOAD_WIN_MODEL": "false",
        "LEADSCORE_SERVING_MAX_BATCH_LEADS": "500",
        "LEADSCORE_CONFIG": str(root / "absent.yaml"),
        "LEADSCORE_FX_RATES": json.dumps(FX_RATES)}, root / "server.log")
    try:
        server.wait_ready()
        yield Site(server.url, tables)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(site: Site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(),
                                              args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser, site: Site):
    """A signed-in page (English first)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(site.url + "/ui/")
    assert "/ui/login" in page.url
    page.fill("#key", KEY)
    page.click("#sign-in")
    page.wait_for_selector("#priority")
    yield page
    context.close()


def _screenshot(page, name: str, readme_part: str | None = None) -> None:
    """The full page as a test artifact; with UPDATE_README_SCREENSHOTS=1 also the README's
    image of ``readme_part`` (a CSS selector; "body": the first screen)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if readme_part and os.environ.get("UPDATE_README_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        target = README_IMAGES / f"ui_{name}.png"
        if readme_part == "body":
            page.screenshot(path=str(target))
        else:
            page.locator(readme_part).screenshot(path=str(target))


def _row_ids(page) -> list[str]:
    return page.eval_on_selector_all("tr.lead-row", "rows => rows.map(r => r.dataset.leadId)")


def test_pages_refuse_without_the_key(browser, site: Site) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        for path in ("/ui/", "/ui/forecast", "/ui/model", "/ui/leads/L0000001"):
            answer = client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith(
                "/ui/login"), path
        assert client.get("/leads/L0000001/handoff").status_code == 401
        wrong = client.post("/ui/login", data={"key": "not-the-key", "next": "/ui/"})
        assert wrong.status_code == 401 and "leadscore_session" not in wrong.cookies
    with httpx.Client(base_url=site.url, timeout=60,
                      cookies={"leadscore_session": "leadscore-ui.forged.sig"}) as forged:
        assert forged.get("/ui/").status_code == 303
    context = browser.new_context()
    anonymous = context.new_page()
    anonymous.goto(site.url + "/ui/model")
    assert "/ui/login" in anonymous.url and anonymous.locator("#priority").count() == 0
    anonymous.fill("#key", "not-the-key")
    anonymous.click("#sign-in")
    assert anonymous.locator("#login-failed").is_visible()
    _screenshot(anonymous, "login_refused")
    context.close()


def test_priority_list_loads_ranked_with_reasons_and_changes(page, site: Site) -> None:
    page.goto(site.url + "/ui/")
    rows = page.locator("tr.lead-row")
    assert rows.count() == 50
    scores = [int(s) for s in page.eval_on_selector_all(
        "tr.lead-row", "rows => rows.map(r => r.dataset.score)")]
    assert scores == sorted(scores, reverse=True)
    assert page.locator("tr.lead-row .reason").count() >= 50
    assert page.locator("#changes #jumps tr").count() >= 1
    _screenshot(page, "priority", "body")


def test_priority_order_equals_score_batch(page, site: Site) -> None:
    ids, number = [], 1
    while True:
        page.goto(f"{site.url}/ui/?per_page=500&page={number}")
        ids += _row_ids(page)
        if page.locator("#next-page").count() == 0:
            break
        number += 1
    as_of = page.locator("h1").inner_text().split("as of ")[1][:10]
    assert len(ids) == len(set(ids)) > 300
    sample = ids[:100] + ids[100::10]  # the top of the list, and a spread through the rest
    body = {"leads": [{"lead_id": i, "as_of": f"{as_of}T00:00:00Z"} for i in sample]}
    with httpx.Client(base_url=site.url, timeout=120,
                      headers={"Authorization": f"Bearer {KEY}"}) as client:
        answer = client.post("/score/batch", json=body)
    assert answer.status_code == 200, answer.text
    answers = answer.json()["results"]
    expected = [a["lead_id"] for a in sorted(answers, key=lambda a: rank_key(
        a["lead_id"], a["score"], a["probability"]))]
    assert sample == expected


def test_filters_keep_only_matching_leads(page, site: Site) -> None:
    page.goto(site.url + "/ui/")
    page.select_option("#filter-grade", "A")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r"grade=A"))
    grades = page.eval_on_selector_all("tr.lead-row .grade", "cells => cells.map(c => c.textContent)")
    assert grades and set(grades) == {"A"}


def test_language_toggle_changes_the_reasons(page, site: Site) -> None:
    page.goto(site.url + "/ui/?lang=en")
    english = page.locator("tr.lead-row").first.locator(".reason").all_inner_texts()
    page.click("#lang-toggle")
    page.wait_for_url(re.compile(r"lang=ja"))
    japanese = page.locator("tr.lead-row").first.locator(".reason").all_inner_texts()
    assert japanese != english and all(JAPANESE.search(text) for text in japanese)
    assert "優先リスト" in page.locator("h1").inner_text()
    _screenshot(page, "priority_ja")
    page.click("#lang-toggle")
    assert page.locator("tr.lead-row").first.locator(".reason").all_inner_texts() == english


def _sales_qualified_lead(site: Site, as_of: pd.Timestamp) -> str:
    leads = site.tables["leads"]
    sql = leads[(leads["sql_at"] < as_of) & leads["account_id"].notna()
                & (leads["sql_at"] > as_of - pd.Timedelta(days=60))]
    return sql.sort_values("sql_at").iloc[-1]["lead_id"]


def test_lead_page_shows_history_reasons_timeline_and_handoff(page, site: Site) -> None:
    as_of = AS_OF_END.ceil("D")
    lead_id = _sales_qualified_lead(site, as_of)
    page.goto(f"{site.url}/ui/leads/{lead_id}?as_of={as_of.date()}&lang=en")
    assert page.locator("#score-history svg circle").count() >= 2
    assert page.locator("#reasons-chart svg rect").count() >= 2
    assert page.locator("#timeline tbody tr").count() >= 1
    assert page.locator("#bant tr").count() == 4
    handoff = page.locator("#handoff")
    assert handoff.locator("text=Company overview").count() == 1
    assert handoff.locator("#concerns li").count() >= 1
    _screenshot(page, "handoff", "#handoff")
    page.goto(f"{site.url}/ui/leads/{_unqualified_lead(site, as_of)}?as_of={as_of.date()}")
    assert page.locator("#handoff").inner_text().count("Not sales-qualified") == 1


def _unqualified_lead(site: Site, as_of: pd.Timestamp) -> str:
    leads = site.tables["leads"]
    never = leads[leads["sql_at"].isna() & leads["budget_confirmed_at"].isna()
                  & leads["timeline_confirmed_at"].isna() & (leads["created_at"] < as_of)]
    return never.iloc[0]["lead_id"]


def test_handoff_api_answers_json_and_markdown(site: Site) -> None:
    as_of = AS_OF_END.ceil("D")
    lead_id = _sales_qualified_lead(site, as_of)
    with httpx.Client(base_url=site.url, timeout=60,
                      headers={"X-API-Key": KEY}) as client:
        path = f"/leads/{lead_id}/handoff?as_of={as_of.date()}"
        package = client.get(path).json()
        assert package["lead_id"] == lead_id and package["sales_qualified"] is True
        assert package["company"]["name"] and package["score"]["score"] >= 1
        markdown = client.get(path, headers={"Accept": "text/markdown"})
        assert markdown.headers["content-type"].startswith("text/markdown")
        assert markdown.text.startswith("# Hand-off package") and "## BANT" in markdown.text
        assert client.get(path + "&format=md&lang=ja").text.startswith("# トスアップ資料")
        assert client.get("/leads/NO-SUCH-LEAD/handoff").status_code == 404


def test_forecast_page_shows_month_and_quarter(page, site: Site) -> None:
    page.goto(site.url + "/ui/forecast?target_month=1000000000&lang=en")
    for freq in ("month", "quarter"):
        card = page.locator(f"#forecast-{freq}")
        assert card.locator(".fan svg polygon").count() == 1, card.inner_text()
        # booked, pipeline, new (and any further part the forecast reports, e.g. its month-to-date adjustment)
        assert card.locator(".breakdown tr").count() >= 3
    assert page.locator("#forecast-month .alert").count() == 1  # far below the huge target
    page.goto(site.url + "/ui/forecast?lang=en")
    _screenshot(page, "forecast", "body")


def test_model_page_shows_champion_challenger_and_fallback(page, site: Site) -> None:
    page.goto(site.url + "/ui/model?lang=en")
    assert page.locator("#card-champion svg").count() == 2  # calibration and lift
    assert page.locator("#card-challenger").count() == 1
    assert "roc_auc" in page.locator("#metrics").inner_text()
    assert "PSI" in page.locator("#drift").inner_text()
    _screenshot(page, "model")


# --- the leader's reports: each page shows what its reports function computes -------------


def _cells(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def test_funnel_page_shows_the_reports_funnel_and_bottleneck(page, site: Site) -> None:
    from reports import build_funnel

    report = build_funnel(site.tables, "2026-09")
    page.goto(site.url + "/ui/funnel?period=2026-09&lang=en")
    rows = {r[0].split(" →")[0].split(" bottleneck")[0]: r for r in _cells(page,
                                                                             "#funnel-stages")}
    for stage, row in report.stages.iterrows():
        label = {"opportunity": "Opportunity", "won": "Won", "lead": "Lead"}.get(stage,
                                                                                stage.upper())
        assert rows[label][1] == str(int(row["entered"])), (stage, rows[label])
        if row["conversion"] == row["conversion"]:
            assert rows[label][2] == f"{row['conversion']:.1%}"
    marked = page.eval_on_selector_all("#funnel-stages tr.bottleneck",
                                       "rows => rows.map(r => r.dataset.stage)")
    assert marked == ([report.bottleneck] if report.bottleneck else [])
    sources = {r[0] for r in _cells(page, "#funnel-sources")}
    assert sources == set(report.by_source.index)
    assert page.locator(".card svg polyline").count() >= 4  # one line per transition
    _screenshot(page, "funnel", "body")
    page.goto(site.url + "/ui/funnel?period=2026-09&lang=ja")
    assert "ファネル" in page.locator("h1").inner_text()
    answer = httpx.get(site.url + "/ui/funnel?period=not-a-period", headers={"x-api-key": KEY})
    assert answer.status_code == 422 and "not-a-period" in answer.text


def test_plan_page_works_back_from_the_target(page, site: Site) -> None:
    from forecast import convert_currency
    from reports import build_kpi_plan

    tables = convert_currency(site.tables, {"USD": 1.0, **FX_RATES}, "USD")  # the service's
    plan = build_kpi_plan(tables, 500_000, "2026-10")
    page.goto(site.url + "/ui/plan?revenue_target=500000&month=2026-10&lang=en")
    for kpi, row in plan.table.iterrows():
        cells = page.locator(f"#plan-table tr[data-kpi='{kpi}'] td").all_inner_texts()
        assert cells[1] == f"{row['required']:,.0f}", (kpi, cells)
        assert cells[2] == f"{row['actual']:,.0f}", (kpi, cells)
    _screenshot(page, "plan")


def test_recycle_page_ranks_risen_leads_and_states_the_rate(page, site: Site) -> None:
    page.goto(site.url + "/ui/recycle?lang=en")
    text = page.locator("#reengagement").inner_text()
    assert "recycled leads requalified" in text and "target ≥ 10%" in text
    rises = [float(r[-1].lstrip("+")) for r in _cells(page, "#recycle-candidates")
             if r[-1].startswith("+")]
    assert rises and rises == sorted(rises, reverse=True)
    assert "ui-sql v1" in page.locator("h1").inner_text()  # ranked by the champion
    _screenshot(page, "recycle")


def test_dedupe_page_gives_the_rate_against_five_percent(page, site: Site) -> None:
    from reports import find_duplicate_leads

    leads = find_duplicate_leads(site.tables["leads"], threshold=0.85)
    page.goto(site.url + "/ui/dedupe?lang=en")
    row = page.locator("#dedupe-rates tr[data-entity='leads'] td").all_inner_texts()
    assert row[1] == f"{leads.records:,}" and row[3] == f"{leads.duplicate_rate:.2%}"
    assert row[4] == ("met" if leads.meets_target else "not met")
    assert page.locator("#merge-suggestions tbody tr").count() > 0
    _screenshot(page, "dedupe")
