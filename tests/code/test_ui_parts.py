"""The web page's parts without a server: session cookies, open leads, changes, ranking,
reason order, drift and chart escaping."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from crm.schema import coerce_rows
from serving.schemas import ReasonOut
from serving.ui import auth, charts
from serving.ui.board import Board, BoardLead, find_changes, open_at, order_reasons, rank_key
from serving.ui.models import population_stability, segment_gaps

KEY = "k-0123456789"


def test_session_token_is_bound_to_the_key_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = auth.issue_session(KEY)
    assert auth.session_is_valid(token, KEY)
    assert not auth.session_is_valid(token, "another-key")
    assert not auth.session_is_valid(token[:-2] + "xx", KEY)
    assert not auth.session_is_valid("", KEY) and not auth.session_is_valid(None, KEY)
    later = time.time() + auth.SESSION_SECONDS + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert not auth.session_is_valid(token, KEY)


@pytest.mark.parametrize("headers, cookies, allowed", [
    ({}, {}, False),
    ({"authorization": f"Bearer {KEY}"}, {}, True),
    ({"x-api-key": KEY}, {}, True),
    ({"x-api-key": "wrong"}, {}, False),
    ({}, {auth.COOKIE_NAME: "forged"}, False),
])
def test_requests_need_the_key_or_a_session(headers: dict, cookies: dict, allowed: bool) -> None:
    assert auth.request_is_authorised(headers, cookies, KEY) is allowed
    assert auth.request_is_authorised(headers, cookies, None) is True  # no key configured
    assert auth.request_is_authorised({}, {auth.COOKIE_NAME: auth.issue_session(KEY)}, KEY)


@pytest.mark.parametrize("target, expected", [
    ("/ui/leads/L1?lang=ja", "/ui/leads/L1?lang=ja"), ("https://evil.example/ui", "/ui/"),
    ("//evil.example", "/ui/"), ("/ui//evil.example", "/ui/"), (None, "/ui/"),
    ("/score", "/ui/")])
def test_sign_in_only_redirects_inside_the_page(target, expected) -> None:
    assert auth.safe_next(target) == expected


def _t(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def test_open_leads_exclude_sql_and_disqualified_unless_recycled() -> None:
    leads = coerce_rows("leads", [
        {"lead_id": "new", "source": "webinar", "status": "new", "created_at": _t("2026-01-01")},
        {"lead_id": "future", "source": "webinar", "status": "new",
         "created_at": _t("2026-07-01")},
        {"lead_id": "sql", "source": "webinar", "status": "sql", "created_at": _t("2026-01-01"),
         "sql_at": _t("2026-03-01")},
        {"lead_id": "sql_later", "source": "webinar", "status": "sql",
         "created_at": _t("2026-01-01"), "sql_at": _t("2026-07-01")},
        {"lead_id": "dq", "source": "webinar", "status": "disqualified",
         "created_at": _t("2026-01-01"), "disqualified_at": _t("2026-02-01")},
        {"lead_id": "recycled", "source": "webinar", "status": "recycled",
         "created_at": _t("2026-01-01"), "sql_at": _t("2026-02-01"),
         "recycled_at": _t("2026-04-01")},
    ])
    is_open = open_at(leads, _t("2026-06-01"))
    assert dict(zip(leads["lead_id"], is_open)) == {
        "new": True, "future": False, "sql": False, "sql_later": True, "dq": False,
        "recycled": True}


def _lead(lead_id: str, score: int, rule: bool = False, is_open: bool = True) -> BoardLead:
    return BoardLead(lead_id, None, None, None, "webinar", score, score / 100, "B", "nurture",
                     "A", rule, is_open)


def _board(leads: list[BoardLead]) -> Board:
    frame = pd.DataFrame({"lead_id": [lead.lead_id for lead in leads]})
    return Board(_t("2026-06-01"), "test", leads, frame, 0.0)


def test_changes_list_jumps_and_sql_crossings() -> None:
    yesterday = _board([_lead("a", 20), _lead("b", 50), _lead("c", 40), _lead("d", 30)])
    today = _board([_lead("a", 45), _lead("b", 55), _lead("c", 40, rule=True),
                    _lead("d", 60, is_open=False), _lead("new", 90)])
    jumps, crossed = find_changes(today, yesterday, min_jump=10)
    assert [(c.lead.lead_id, c.jump) for c in jumps] == [("a", 25)]  # d is no longer open
    assert [c.lead.lead_id for c in crossed] == ["c"]


def test_rank_key_orders_by_score_then_probability_then_id() -> None:
    keys = {"x": rank_key("x", 50, 0.50), "y": rank_key("y", 50, 0.51),
            "z": rank_key("z", 60, None), "w": rank_key("w", 50, 0.50)}
    assert sorted(keys, key=keys.get) == ["z", "y", "w", "x"]


def test_actionable_reasons_come_first() -> None:
    def reason(name: str, value: float, kind: str) -> ReasonOut:
        return ReasonOut(feature=name, value=None, text=name, contribution=value, kind=kind)

    ordered = order_reasons([reason("tier", 0.9, "fixed"), reason("calls", 0.2, "actionable"),
                             reason("visits", -0.5, "actionable")])
    assert [r.feature for r in ordered] == ["visits", "calls", "tier"]


def test_population_stability_is_zero_for_the_same_mix_and_grows_with_drift() -> None:
    calibration = [{"bin": b, "lower": b / 10, "upper": (b + 1) / 10, "rows": 100}
                   for b in range(10)]
    same = (np.arange(1000) + 0.5) / 1000
    assert population_stability(calibration, same) == pytest.approx(0.0, abs=1e-9)
    assert population_stability(calibration, np.full(1000, 0.05)) > 1.0
    assert population_stability([], same) is None


def test_segment_gaps_show_the_worst_segments_first() -> None:
    rows = [{"segment": "source", "value": v, "auc_gap": g} for v, g in
            [("web", 0.01), ("event", -0.08), ("ads", None), ("ref", -0.02)]]
    assert [r["value"] for r in segment_gaps(rows)] == ["event", "ref", "web"]


def test_charts_escape_labels_and_scale_bars() -> None:
    svg = charts.bar_chart([("<script>alert(1)</script>", 1.0), ("down", -0.5)], "why")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count("<rect") == 2
    line = charts.line_chart({"score": [(0, 10), (1, 20)]}, "history", y_range=(0, 100))
    assert line.count("<circle") == 2 and 'aria-label="history"' in line


def test_as_of_is_a_utc_day_and_bad_dates_name_the_field() -> None:
    from serving.ui.routes import PARTS, _optional_day

    assert PARTS.as_of("2026-10-15") == pd.Timestamp("2026-10-15", tz="UTC")
    assert PARTS.as_of("2026-10-15T23:30:00+09:00") == pd.Timestamp("2026-10-15", tz="UTC")
    assert _optional_day("2026-09-30") == pd.Timestamp("2026-09-30 23:59:59.999999", tz="UTC")
    assert _optional_day("") is None
    with pytest.raises(ValueError, match="as_of: 'soon' is not a date"):
        PARTS.as_of("soon")
    with pytest.raises(ValueError, match="as_of: 'soon' is not a date"):
        _optional_day("soon")


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/ui/", True), ("GET", "/ui/leads/L1", True), ("GET", "/leads/L1/handoff", True),
    ("POST", "/ui/", False), ("GET", "/score", False), ("POST", "/score", False),
    ("GET", "/leads/L1", False), ("GET", "/model", False)])
def test_session_cookie_stands_in_for_the_key_only_for_reading_pages(method: str, path: str,
                                                                     allowed: bool) -> None:
    cookie = f"other=1; {auth.COOKIE_NAME}={auth.issue_session(KEY)}".encode()
    scope = {"type": "http", "method": method, "path": path, "headers": [(b"cookie", cookie)]}
    assert auth.session_authoriser(scope, KEY.encode()) is allowed
    forged = {**scope, "headers": [(b"cookie", f"{auth.COOKIE_NAME}=x.y.z".encode())]}
    assert auth.session_authoriser(forged, KEY.encode()) is False


def test_report_cache_builds_once_per_key_until_it_expires(monkeypatch) -> None:
    from serving.ui import leader

    now = [1000.0]
    monkeypatch.setattr(leader.time, "monotonic", lambda: now[0])
    cache, builds = leader.ReportCache(seconds=60, size=2), []

    def build(name):
        return lambda: builds.append(name) or name

    assert cache.get("a", build("a")) == "a" and cache.get("a", build("a")) == "a"
    assert builds == ["a"]
    now[0] += 61  # expired: built again
    cache.get("a", build("a"))
    cache.get("b", build("b"))
    cache.get("c", build("c"))  # size 2: "a" (least recently used) leaves
    cache.get("a", build("a"))
    assert builds == ["a", "a", "b", "c", "a"]


def test_funnel_view_refuses_an_unknown_period_length() -> None:
    from serving.ui.leader import funnel_view

    with pytest.raises(ValueError, match="freq: 'Y' is not one of M, Q, W"):
        funnel_view({}, None, "Y", None, pd.Timestamp("2026-10-01", tz="UTC"), "chart")


def test_warming_builds_todays_and_yesterdays_boards_once(tmp_path) -> None:
    """The background warm-up builds the two boards the priority list needs, once per model
    and day, so the first page view does not pay for them."""
    import threading
    from types import SimpleNamespace

    from crm.sample import GeneratorConfig, generate_crm
    from crm.store import CRMStore
    from serving.scorer import LeadScorer
    from serving.ui.routes import _Parts
    from training.rules import load_rules

    tables, _ = generate_crm(GeneratorConfig(n_leads=300, seed=4))
    store = CRMStore(f"sqlite:///{tmp_path / 'crm.db'}")
    store.write_tables(tables)
    scorer = LeadScorer(load_rules(), store)
    scorer.use_rules("sql", "no_champion")
    parts = _Parts()
    parts._runtime = SimpleNamespace(store=store, scorer=scorer)
    day = parts.as_of(None)
    assert not parts.boards.has(day) and not parts.boards.has(day - pd.Timedelta(days=1))
    assert parts.warm_boards() == 2
    assert parts.boards.has(day) and parts.boards.has(day - pd.Timedelta(days=1))
    assert parts.warm_boards() == 0
    stop = threading.Event()
    warmed = []
    forecasts = SimpleNamespace(warm=lambda moment: (warmed.append(moment), stop.set()))
    scorer.mark_ready()
    thread = parts.start_warming(parts._runtime, stop, forecasts)   # and today's forecast
    thread.join(timeout=30)
    assert warmed == [day.to_pydatetime()]
    parts.settings = parts.settings.model_copy(update={"warm_seconds": 0})
    assert parts.start_warming(parts._runtime, stop) is None  # 0 turns it off


def test_the_funnel_and_plan_default_to_the_period_that_holds_the_data() -> None:
    """On the first day of a month (the data's "today" is 00:00 of the 1st, nothing of the
    month known) the pages open on the month that just ended, not on an error."""
    from crm.sample import GeneratorConfig, generate_crm
    from serving.ui.leader import funnel_view, period_before

    end = pd.Timestamp("2026-10-31 22:00", tz="UTC")
    tables, _ = generate_crm(GeneratorConfig(n_leads=300, seed=4, end=end))
    today = pd.Timestamp("2026-11-01", tz="UTC")
    view = funnel_view(tables, None, "M", None, today, "chart")
    assert view.period == "2026-10" and view.stages[0]["entered"] > 0
    assert period_before(today, "M") == "2026-10"
    assert period_before(pd.Timestamp("2026-11-15", tz="UTC"), "M") == "2026-11"
    assert period_before(pd.Timestamp("2026-10-01", tz="UTC"), "Q") == "2026Q3"
