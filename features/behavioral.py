"""Behavioral features as of a time: what a lead (and its company) did strictly before ``as_of``.

Every feature at ``as_of`` uses only activities with ``occurred_at < as_of``. Nothing is
computed per lead in Python: activities are sorted once by (entity, time) and every question
("how many pricing-page views in [as_of - 7d, as_of)?") becomes a binary search plus a
difference of prefix counts.

How a window count works: see ``features.pointintime`` (``EventIndex``).

Decayed engagement is ``Σ weight(type) · 0.5 ** ((as_of - t) / half_life)`` over events
before ``as_of``, computed as ``2 ** ((ref - as_of) / h) · Σ weight · 2 ** ((t - ref) / h)``
so the per-event terms are computed once. ``ref`` is the lead's first event, re-based every
512 half-lives (a "chunk"), so no term exceeds ``weight · 2**512``; the value sums the chunk of
the latest event and the one before (events older than that add < 1e-154 and are dropped).
Each sum runs over the lead's own slice of events before ``as_of`` (``segment_sums``), so a
lead's value depends only on its own earlier events — adding a record at or after ``as_of``
cannot change a single bit of it.

Account roll-up (ABM): ``account_activity_count_{w}d`` counts every activity of the company;
``account_engaged_contacts_{n}d`` counts distinct leads of the company with an engagement
event (positive weight) in ``[as_of - n d, as_of)``. Each lead's engagement events are merged
into runs whose gaps are at most ``n`` days; the lead is engaged at ``as_of`` exactly when a run
satisfies ``run_start < as_of <= run_end + n d``, so distinct contacts = #runs started before
``as_of`` − #runs ended (plus n days) before ``as_of`` — two binary searches.

An activity's company is ``activities.account_id``, or, when that is blank, its lead's
``account_id`` from the leads table. Active days are UTC calendar days. Numbers are returned as
float64 (NaN = unknown); ``FeatureDef.dtype`` records the semantic type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.schema import ACTIVITY_TYPES
from features.config import FeatureConfig
from features.pointintime import (
    NAT_US,
    US_PER_DAY,
    EventIndex,
    build_event_index,
    id_column,
    normalize_pairs,
    prefix_count,
    rank_times,
    segment_sums,
    take_ids,
    timed,
    timestamps_to_us,
)
from features.registry import FeatureDef

CHUNK_HALF_LIVES = 512

# (English phrase, Japanese phrase) for "did <type> {value} times"; window text is added later.
ACTIVITY_PHRASES: dict[str, tuple[str, str]] = {
    "page_view": ("viewed web pages {value} times", "Webページを{value}回閲覧"),
    "pricing_page_view": ("visited the pricing page {value} times", "料金ページを{value}回閲覧"),
    "content_download": ("downloaded content {value} times", "資料を{value}回ダウンロード"),
    "form_submit": ("submitted a form {value} times", "フォームを{value}回送信"),
    "demo_request": ("requested a demo {value} times", "デモを{value}回依頼"),
    "email_sent": ("was sent {value} emails", "メールを{value}通受信"),
    "email_open": ("opened emails {value} times", "メールを{value}回開封"),
    "email_click": ("clicked links in emails {value} times", "メール内リンクを{value}回クリック"),
    "email_reply": ("replied to emails {value} times", "メールに{value}回返信"),
    "email_bounce": ("had {value} emails bounce", "メール不達が{value}回発生"),
    "unsubscribe": ("unsubscribed {value} times", "配信停止が{value}回"),
    "webinar_register": ("registered for webinars {value} times", "ウェビナーに{value}回申込"),
    "webinar_attend": ("attended webinars {value} times", "ウェビナーに{value}回参加"),
    "exhibition_visit": ("visited our exhibition booth {value} times",
                         "展示会ブースに{value}回来訪"),
    "chat": ("chatted with us {value} times", "チャットで{value}回問い合わせ"),
    "call_attempt": ("was called {value} times", "架電を{value}回受けた"),
    "call_connected": ("spoke with us on the phone {value} times", "電話で{value}回会話"),
    "meeting_booked": ("booked {value} meetings", "商談を{value}回設定"),
    "meeting_held": ("held {value} meetings", "商談を{value}回実施"),
}
_TYPE_CODE = {name: code for code, name in enumerate(ACTIVITY_TYPES)}


# --------------------------------------------------------------------------- feature registry

def _window_defs(window: int, config: FeatureConfig) -> list[FeatureDef]:
    defs = [
        FeatureDef(f"{t}_count_{window}d", "int", "actionable", "behavioral",
                   f"{ACTIVITY_PHRASES[t][0]} in the last {window} days",
                   f"直近{window}日で{ACTIVITY_PHRASES[t][1]}",
                   f"Number of {t} activities in [as_of - {window}d, as_of).")
        for t in config.count_types
    ]
    return defs + [
        FeatureDef(f"activity_count_{window}d", "int", "actionable", "behavioral",
                   f"{{value}} activities in the last {window} days",
                   f"直近{window}日の活動{{value}}件", "All activities of the lead in the window."),
        FeatureDef(f"high_intent_count_{window}d", "int", "actionable", "behavioral",
                   f"{{value}} high-intent actions in the last {window} days",
                   f"直近{window}日の高意欲行動{{value}}件",
                   "Pricing page, demo request, reply or meeting activities in the window."),
        FeatureDef(f"active_days_{window}d", "int", "actionable", "behavioral",
                   f"active on {{value}} of the last {window} days",
                   f"直近{window}日のうち{{value}}日活動",
                   "Distinct UTC calendar days with an activity in the window."),
    ]


def _lead_summary_defs(config: FeatureConfig) -> list[FeatureDef]:
    recent, baseline, half_life = (config.velocity_recent_days, config.velocity_baseline_days,
                                   config.half_life_days)
    f = FeatureDef
    return [
        f("days_since_last_activity", "float", "actionable", "behavioral",
          "last activity {value} days ago", "最終活動から{value}日",
          "Days from the latest activity before as_of (missing if none)."),
        f("days_since_last_high_intent", "float", "actionable", "behavioral",
          "last high-intent action (pricing page, demo request, reply, meeting) {value} days ago",
          "最後の高意欲行動（料金ページ閲覧・デモ依頼・返信・商談）から{value}日",
          "Days from the latest high-intent activity before as_of (missing if none)."),
        f("days_since_first_activity", "float", "fixed", "behavioral",
          "first activity {value} days ago", "初回活動から{value}日",
          "Days from the first activity before as_of (missing if none)."),
        f("engagement_decayed", "float", "actionable", "behavioral",
          f"engagement score {{value}} (recent actions count most; half-life {half_life:g} days)",
          f"エンゲージメントスコア{{value}}（半減期{half_life:g}日で減衰）",
          "Σ weight(type) · 0.5^(age / half_life) over activities before as_of."),
        f("activity_velocity", "float", "actionable", "behavioral",
          f"activity in the last {recent} days ran at {{value}}x the pace of the {baseline} "
          "days before",
          f"直近{recent}日の活動ペースはその前{baseline}日間の{{value}}倍",
          f"(n_last_{recent}d + 1) / (n_previous_{baseline}d · {recent}/{baseline} + 1)."),
        f("email_open_rate", "float", "actionable", "behavioral",
          "opens per email sent: {value}", "送信メールあたりの開封数: {value}",
          "email_open / email_sent before as_of (missing if no email was sent)."),
        f("email_click_rate", "float", "actionable", "behavioral",
          "clicks per email sent: {value}", "送信メールあたりのクリック数: {value}",
          "email_click / email_sent before as_of (missing if no email was sent)."),
        f("email_reply_rate", "float", "actionable", "behavioral",
          "replies per email sent: {value}", "送信メールあたりの返信数: {value}",
          "email_reply / email_sent before as_of (missing if no email was sent)."),
    ]


def account_feature_defs(config: FeatureConfig) -> list[FeatureDef]:
    """FeatureDefs of the account roll-up (shared by lead and opportunity features)."""
    days = config.engaged_contact_days
    defs = [
        FeatureDef(f"account_activity_count_{w}d", "int", "actionable", "account",
                   f"{{value}} activities from this company in the last {w} days",
                   f"直近{w}日でこの企業から{{value}}件の活動",
                   "All activities of the company (any contact) in the window; "
                   "missing when there is no company.")
        for w in config.windows_days
    ]
    return defs + [FeatureDef(
        f"account_engaged_contacts_{days}d", "int", "actionable", "account",
        f"{{value}} contacts at this company engaged in the last {days} days",
        f"直近{days}日でこの企業の{{value}}名が反応",
        "Distinct leads of the company with an engagement activity (positive weight) in the "
        "window; missing when there is no company.")]


def behavioral_feature_defs(config: FeatureConfig) -> tuple[FeatureDef, ...]:
    """Every behavioral and account roll-up feature, in output column order."""
    defs: list[FeatureDef] = []
    for window in config.windows_days:
        defs += _window_defs(window, config)
    return tuple(defs + _lead_summary_defs(config) + account_feature_defs(config))


# --------------------------------------------------------------------- activity preparation

@dataclass(frozen=True)
class PreparedActivities:
    """Activities reduced to integer arrays: times, type codes, lead and account codes.

    Codes are int32 positions in ``lead_ids`` / ``account_ids``; -1 = none.
    """

    times: np.ndarray
    ranks: np.ndarray
    unique_times: np.ndarray
    kinds: np.ndarray
    lead_codes: np.ndarray
    lead_ids: pd.Index
    account_codes: np.ndarray
    account_ids: pd.Index


def _activity_kinds(types: pd.Series) -> np.ndarray:
    """Code of each activity type in ACTIVITY_TYPES (factorize first: few distinct values)."""
    codes, uniques = pd.factorize(types, use_na_sentinel=True)
    if (codes < 0).any():
        raise ValueError(f"activities.type is missing in {int((codes < 0).sum())} row(s)")
    mapping = pd.Index(ACTIVITY_TYPES).get_indexer(pd.Index(uniques, dtype="str"))
    if (mapping < 0).any():
        unknown = sorted(map(str, pd.Index(uniques)[mapping < 0]))
        raise ValueError(f"activities.type has unknown value(s) {unknown[:5]}; "
                         f"allowed: {', '.join(ACTIVITY_TYPES)}")
    return mapping.astype(np.int8)[codes]


def prepare_activities(activities: pd.DataFrame,
                       leads: pd.DataFrame | None = None) -> PreparedActivities:
    """Turn canonical activities into integer arrays (blank account ← the lead's account).

    Raises:
        ValueError: missing columns, missing or naive ``occurred_at``, unknown types.
    """
    for column in ("occurred_at", "type"):
        if column not in activities.columns:
            raise ValueError(f"activities is missing column {column!r}")
    times = timestamps_to_us(activities["occurred_at"], "activities.occurred_at")
    if (times == NAT_US).any():
        raise ValueError(f"activities.occurred_at is missing in {int((times == NAT_US).sum())} "
                         "row(s)")
    kinds = _activity_kinds(activities["type"])
    lead_codes, lead_ids = pd.factorize(id_column(activities, "lead_id"), use_na_sentinel=True)
    lead_codes, lead_ids = lead_codes.astype(np.int32), pd.Index(lead_ids)
    account_codes, account_ids = _activity_accounts(activities, lead_codes, lead_ids, leads)
    ranks, unique_times = rank_times(times)
    return PreparedActivities(times, ranks, unique_times, kinds, lead_codes, lead_ids,
                              account_codes, account_ids)


def _activity_accounts(activities: pd.DataFrame, lead_codes: np.ndarray, lead_ids: pd.Index,
                       leads: pd.DataFrame | None) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(id_column(activities, "account_id"), use_na_sentinel=True)
    codes, account_ids = codes.astype(np.int32), pd.Index(uniques)
    blank = (codes < 0) & (lead_codes >= 0)
    if leads is None or not blank.any():
        return codes, account_ids
    rows = pd.Index(leads["lead_id"]).get_indexer(lead_ids)
    lead_accounts = take_ids(leads["account_id"], rows)
    extra = pd.Index(lead_accounts.dropna().unique()).difference(account_ids)
    account_ids = account_ids.append(extra)
    lead_account_codes = account_ids.get_indexer(lead_accounts).astype(np.int32)
    codes[blank] = lead_account_codes[lead_codes[blank]]
    return codes, account_ids


def index_by(prepared: PreparedActivities, codes: np.ndarray, n_codes: int) -> EventIndex:
    """EventIndex of all activities by ``codes``; code -1 goes to a spare code ``n_codes``."""
    spare = np.where(codes >= 0, codes, np.int32(n_codes))
    return build_event_index(spare, prepared.times, n_codes + 1, prepared.kinds,
                             len(ACTIVITY_TYPES), (prepared.ranks, prepared.unique_times))


# ------------------------------------------------------------------------- lead features

def _window_positions(index: EventIndex, codes: np.ndarray, as_of: np.ndarray,
                      days: set[int]) -> dict[int, np.ndarray]:
    """Positions for the cut-offs ``as_of - d days`` (d = 0 is as_of itself)."""
    return {d: index.positions(codes, as_of - np.int64(d) * US_PER_DAY) for d in sorted(days | {0})}


def _count_features(index: EventIndex, pos: dict[int, np.ndarray],
                    config: FeatureConfig) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in config.count_types:
        prefix = prefix_count(index.kinds == _TYPE_CODE[name])
        for window in config.windows_days:
            out[f"{name}_count_{window}d"] = _difference(prefix, pos[0], pos[window])
    high_intent = prefix_count(np.isin(index.kinds, _codes_of(config.high_intent_types)))
    new_day = prefix_count(_new_day_flags(index))
    for window in config.windows_days:
        lo, hi = pos[window], pos[0]
        out[f"activity_count_{window}d"] = (hi - lo).astype(np.float64)
        out[f"high_intent_count_{window}d"] = _difference(high_intent, hi, lo)
        # distinct days in [lo, hi) = day starts strictly inside the range + the first day
        out[f"active_days_{window}d"] = np.where(
            hi > lo, _difference(new_day, hi, np.minimum(lo + 1, len(index))) + 1, 0.0)
    return out


def _difference(prefix: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``prefix[hi] - prefix[lo]`` as float64 (feature frames hold float64)."""
    return (prefix[hi] - prefix[lo]).astype(np.float64)


def _codes_of(types: tuple[str, ...]) -> np.ndarray:
    return np.asarray([_TYPE_CODE[t] for t in types], dtype=np.int8)


def _new_day_flags(index: EventIndex) -> np.ndarray:
    """True for the first event of each (entity, UTC day) in sorted order."""
    days = index.times // US_PER_DAY
    flags = np.ones(len(index), dtype=bool)
    flags[1:] = (days[1:] != days[:-1]) | (index.codes[1:] != index.codes[:-1])
    return flags


def _recency_features(index: EventIndex, start: np.ndarray, hi: np.ndarray,
                      as_of: np.ndarray, config: FeatureConfig) -> dict[str, np.ndarray]:
    names = ("days_since_last_activity", "days_since_last_high_intent",
             "days_since_first_activity")
    if len(index) == 0:
        return {name: np.full(len(hi), np.nan) for name in names}
    has_any = hi > start
    last = np.maximum(hi - 1, 0)
    is_high = np.isin(index.kinds, _codes_of(config.high_intent_types))
    positions = np.arange(len(index), dtype=np.int32)
    last_high = np.maximum.accumulate(np.where(is_high, positions, np.int32(-1)))[last]
    has_high = has_any & (last_high >= start)
    first = np.minimum(start, len(index) - 1)
    times = index.times
    return dict(zip(names, (
        _days_between(times[last], as_of, has_any),
        _days_between(times[np.maximum(last_high, 0)], as_of, has_high),
        _days_between(times[first], as_of, has_any))))


def _days_between(earlier: np.ndarray, as_of: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, (as_of - earlier) / US_PER_DAY, np.nan)


def _rate_features(index: EventIndex, start: np.ndarray, hi: np.ndarray) -> dict[str, np.ndarray]:
    def count(name: str) -> np.ndarray:
        prefix = prefix_count(index.kinds == _TYPE_CODE[name])
        return (prefix[hi] - prefix[start]).astype(np.float64)

    sent = count("email_sent")
    with np.errstate(divide="ignore", invalid="ignore"):
        return {f"email_{kind}_rate": np.where(sent > 0, count(f"email_{kind}") / sent, np.nan)
                for kind in ("open", "click", "reply")}


def _velocity(pos: dict[int, np.ndarray], config: FeatureConfig) -> np.ndarray:
    recent_days = config.velocity_recent_days
    total_days = recent_days + config.velocity_baseline_days
    recent = pos[0] - pos[recent_days]
    baseline = pos[recent_days] - pos[total_days]
    return (recent + 1.0) / (baseline * (recent_days / config.velocity_baseline_days) + 1.0)


def _event_weights(config: FeatureConfig) -> np.ndarray:
    weights = np.zeros(len(ACTIVITY_TYPES))
    for name, weight in config.event_weights.items():
        weights[_TYPE_CODE[name]] = weight
    return weights


def _decay_terms(index: EventIndex, weights: np.ndarray, half_life_us: float,
                 span: np.int64) -> np.ndarray:
    """Per event: weight · 2 ** (((t - entity's first event) mod span) / half_life)."""
    offset = index.starts[index.codes]                 # in place: few 20M-row temporaries
    np.take(index.times, offset, out=offset)
    np.subtract(index.times, offset, out=offset)
    offset %= span
    terms = offset.astype(np.float64)
    del offset
    terms /= half_life_us
    np.exp2(terms, out=terms)
    terms *= weights[index.kinds]
    return terms


def _decayed_engagement(index: EventIndex, codes: np.ndarray, start: np.ndarray,
                        hi: np.ndarray, as_of: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Σ weight · 0.5 ** ((as_of - t) / half_life) over the entity's events before as_of.

    Events fall in chunks of ``CHUNK_HALF_LIVES`` half-lives from the entity's first event; a
    term is relative to its chunk start, so it never exceeds weight · 2**512. The value sums
    the chunk of the latest event and the one before it (older chunks add < 2**-512 each).
    """
    if len(index) == 0:
        return np.zeros(len(hi))
    half_life_us = config.half_life_days * US_PER_DAY
    span = np.int64(round(CHUNK_HALF_LIVES * half_life_us))
    terms = _decay_terms(index, _event_weights(config), half_life_us, span)
    has_any = hi > start
    first = index.times[np.minimum(start, len(index) - 1)]
    chunk_start = first + (index.times[np.maximum(hi - 1, 0)] - first) // span * span
    current_lo = np.where(has_any, index.positions(codes, chunk_start), hi)
    previous_lo = np.where(has_any, index.positions(codes, chunk_start - span), hi)
    current = segment_sums(terms, current_lo, hi)
    previous = segment_sums(terms, np.maximum(previous_lo, start), current_lo)
    value = current * np.exp2((chunk_start - as_of) / half_life_us)
    value += previous * np.exp2((chunk_start - span - as_of) / half_life_us)
    return np.where(has_any, value, 0.0)


def _lead_features(prepared: PreparedActivities, lead_codes: np.ndarray, as_of: np.ndarray,
                   config: FeatureConfig) -> dict[str, np.ndarray]:
    with timed("behavioral.lead_index"):
        index = index_by(prepared, prepared.lead_codes, len(prepared.lead_ids))
    with timed("behavioral.lead_positions"):
        days = set(config.windows_days) | {config.velocity_recent_days,
                                           config.velocity_recent_days
                                           + config.velocity_baseline_days}
        pos = _window_positions(index, lead_codes, as_of, days)
        start = index.starts_of(lead_codes)
    with timed("behavioral.lead_counts"):
        out = _count_features(index, pos, config)
    with timed("behavioral.lead_recency_rates"):
        out.update(_recency_features(index, start, pos[0], as_of, config))
        out["activity_velocity"] = _velocity(pos, config)
        out.update(_rate_features(index, start, pos[0]))
    with timed("behavioral.lead_decay"):
        out["engagement_decayed"] = _decayed_engagement(index, lead_codes, start, pos[0], as_of,
                                                        config)
    return out


# ----------------------------------------------------------------------- account roll-up

def _contact_runs(prepared: PreparedActivities, config: FeatureConfig,
                  window_us: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, run start, run end + window) of each run of a lead's engagement events."""
    engaged = _event_weights(config)[prepared.kinds] > 0
    keep = engaged & (prepared.lead_codes >= 0) & (prepared.account_codes >= 0)
    n_leads = np.int64(len(prepared.lead_ids) + 1)
    contact_keys = prepared.account_codes[keep].astype(np.int64) * n_leads
    contact_keys += prepared.lead_codes[keep]
    contacts, contact_uniques = pd.factorize(contact_keys, sort=True)
    del contact_keys
    index = build_event_index(contacts.astype(np.int32), prepared.times[keep],
                              len(contact_uniques), ranked=(prepared.ranks[keep],
                                                            prepared.unique_times))
    times, codes = index.times, index.codes
    if len(index) == 0:
        return codes, times, times
    new_run = np.ones(len(index), dtype=bool)
    new_run[1:] = (codes[1:] != codes[:-1]) | (times[1:] - times[:-1] > window_us)
    run_starts = np.flatnonzero(new_run)
    run_ends = np.append(run_starts[1:], len(index)) - 1
    accounts = np.asarray(contact_uniques, dtype=np.int64)[codes[run_starts]] // n_leads
    return accounts, times[run_starts], times[run_ends] + window_us


def _engaged_contacts(prepared: PreparedActivities, account_codes: np.ndarray,
                      as_of: np.ndarray, config: FeatureConfig) -> np.ndarray:
    window_us = np.int64(config.engaged_contact_days) * US_PER_DAY
    accounts, run_starts, run_ends = _contact_runs(prepared, config, window_us)
    n_accounts = len(prepared.account_ids)
    started = build_event_index(accounts, run_starts, n_accounts)
    ended = build_event_index(accounts, run_ends, n_accounts)
    n_started = started.positions(account_codes, as_of) - started.starts_of(account_codes)
    n_ended = ended.positions(account_codes, as_of) - ended.starts_of(account_codes)
    return n_started - n_ended


def account_activity_features(prepared: PreparedActivities, account_codes: np.ndarray,
                              has_account: np.ndarray, as_of: np.ndarray,
                              config: FeatureConfig) -> dict[str, np.ndarray]:
    """Account roll-up per query: activity counts per window and engaged contacts.

    Args:
        prepared: output of ``prepare_activities``.
        account_codes: position of each query's account in ``prepared.account_ids`` (-1 if the
            account has no activity).
        has_account: False where the query has no account at all (features become NaN).
        as_of: UTC µs per query.
    """
    with timed("account.index"):
        index = index_by(prepared, prepared.account_codes, len(prepared.account_ids))
    with timed("account.counts"):
        pos = _window_positions(index, account_codes, as_of, set(config.windows_days))
        out = {f"account_activity_count_{w}d": np.where(has_account, pos[0] - pos[w], np.nan)
               for w in config.windows_days}
    del index
    with timed("account.engaged_contacts"):
        engaged = _engaged_contacts(prepared, account_codes, as_of, config)
    out[f"account_engaged_contacts_{config.engaged_contact_days}d"] = np.where(
        has_account, engaged, np.nan)
    return out


def _pair_accounts(pairs: pd.DataFrame, leads: pd.DataFrame | None) -> pd.Series:
    """Account of each pair: ``pairs.account_id`` when given, else the lead's account."""
    given = id_column(pairs, "account_id").astype("str").reset_index(drop=True)
    if leads is None:
        return given
    rows = pd.Index(leads["lead_id"]).get_indexer(pairs["lead_id"])
    return given.where(given.notna(), take_ids(leads["account_id"], rows))


def build_behavioral_features(activities: pd.DataFrame, pairs: pd.DataFrame,
                              config: FeatureConfig,
                              leads: pd.DataFrame | None = None) -> pd.DataFrame:
    """Behavioral and account roll-up features of each ``(lead_id, as_of)`` pair.

    Args:
        activities: canonical activities (at least occurred_at, type, lead_id, account_id).
        pairs: ``lead_id``, ``as_of`` (timezone-aware) and optionally ``account_id``.
        config: windows, half-life, event weights (``features.config.FeatureConfig``).
        leads: canonical leads; fills blank activity accounts and pair accounts.

    Returns:
        One float64 row per pair, in pair order, columns ``behavioral_feature_defs(config)``.
    """
    pairs = normalize_pairs(pairs, "lead_id")
    as_of = timestamps_to_us(pairs["as_of"], "pairs.as_of")
    with timed("behavioral.prepare"):
        prepared = prepare_activities(activities, leads)
    lead_codes = prepared.lead_ids.get_indexer(pairs["lead_id"]).astype(np.int64)
    out = _lead_features(prepared, lead_codes, as_of, config)
    accounts = _pair_accounts(pairs, leads)
    account_codes = prepared.account_ids.get_indexer(accounts).astype(np.int64)
    out.update(account_activity_features(prepared, account_codes, accounts.notna().to_numpy(),
                                         as_of, config))
    names = [d.name for d in behavioral_feature_defs(config)]
    return pd.DataFrame({name: np.asarray(out[name], dtype=np.float64) for name in names},
                        copy=False)
