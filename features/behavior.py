"""Behavior group: what the lead did strictly before ``as_of`` — windows, recency, decay, pace.

Every feature at ``as_of`` uses only the lead's activities with ``occurred_at < as_of``
(``features.pointintime`` explains the index): counts per activity type and window
``[as_of - w d, as_of)``, high-intent counts, active UTC calendar days, days since the last /
last high-intent / first activity, velocity (the recent period against the baseline before it)
and e-mail open / click / reply rates.

Decayed engagement is ``Σ weight(type) · 0.5 ** ((as_of - t) / half_life)`` over events
before ``as_of``, computed as ``2 ** ((ref - as_of) / h) · Σ weight · 2 ** ((t - ref) / h)``
so the per-event terms are computed once. ``ref`` is the lead's first event, re-based every
512 half-lives (a "chunk"), so no term exceeds ``weight · 2**512``; the value sums the chunk of
the latest event and the one before (events older than that add < 1e-154 and are dropped).
Each sum runs over the lead's own slice of events before ``as_of`` (``segment_sums``), so a
lead's value depends only on its own earlier events.

``compute_behavior`` is the one implementation: the batch builder calls it on a whole
activities table, the single-lead builder on one request's events (``features.activities``).
Numbers are float64 (NaN = unknown); ``FeatureDef.dtype`` records the semantic type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from features.activities import N_TYPES, TYPE_CODE, PreparedActivities, index_by
from features.config import FeatureConfig
from features.pointintime import US_PER_DAY, EventIndex, cutoff_positions, segment_sums
from features.registry import FeatureDef

CHUNK_HALF_LIVES = 512
PREFIX_CELLS = 1 << 16  # cells per prefix-count block: all measures at once for one lead,
#                         one measure at a time (cache-friendly) for a whole table
EMAIL_RATES = ("open", "click", "reply")

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


def behavior_feature_defs(config: FeatureConfig) -> list[FeatureDef]:
    """Every behavior feature, in output column order."""
    defs: list[FeatureDef] = []
    for window in config.windows_days:
        defs += _window_defs(window, config)
    return defs + _lead_summary_defs(config)


@dataclass(frozen=True)
class TypeTables:
    """Per activity type code: the counted measures (one column each), high intent, weight."""

    measures: tuple[str, ...]
    matrix: np.ndarray
    is_high: np.ndarray
    weights: np.ndarray
    window_names: tuple[str, ...]


@lru_cache(maxsize=64)
def type_tables(config: FeatureConfig) -> TypeTables:
    """The type tables of ``config``: one column per counted type, high intent, e-mails."""
    measures = (*config.count_types, "high_intent", "email_sent",
                *(f"email_{kind}" for kind in EMAIL_RATES))
    matrix = np.zeros((N_TYPES, len(measures)), dtype=np.int32)
    for column, name in enumerate(measures):
        types = config.high_intent_types if name == "high_intent" else (name,)
        matrix[[TYPE_CODE[t] for t in types], column] = 1
    weights = np.zeros(N_TYPES)
    for name, weight in config.event_weights.items():
        weights[TYPE_CODE[name]] = weight
    windows = config.windows_days
    window_names = (*(f"{name}_count_{w}d" for name in (*config.count_types, "high_intent")
                      for w in windows),
                    *(f"activity_count_{w}d" for w in windows),
                    *(f"active_days_{w}d" for w in windows))
    return TypeTables(measures, matrix, matrix[:, len(config.count_types)] == 1, weights,
                      window_names)


def _measure_counts(index: EventIndex, tables: TypeTables, points: np.ndarray) -> np.ndarray:
    """Prefix count of each measure at each point: shape (measures, *points.shape).

    Prefix counts are built a block of measures at a time so that one block stays under
    ``PREFIX_CELLS`` cells: all measures at once for one lead (few numpy calls), one measure at
    a time for a whole table (memory and cache).
    """
    by_measure = tables.matrix.T                      # (measures, types)
    n_measures = len(by_measure)
    width = max(1, PREFIX_CELLS // (len(index) + 1))
    out = np.empty((n_measures, *points.shape), dtype=np.int64)
    for first in range(0, n_measures, width):
        block = by_measure[first:first + width][:, index.kinds]
        prefix = np.zeros((len(block), len(index) + 1), dtype=np.int32)
        np.cumsum(block, axis=1, out=prefix[:, 1:])
        out[first:first + len(block)] = prefix[:, points]
    return out


def _count_features(index: EventIndex, pos: dict[int, np.ndarray], start: np.ndarray,
                    config: FeatureConfig) -> dict[str, np.ndarray]:
    """Counts per type, high intent, all activities and active days in each window, and the
    e-mail rates over everything before as_of."""
    tables = type_tables(config)
    hi, n = pos[0], len(start)
    lows = np.stack([pos[w] for w in config.windows_days])             # (windows, pairs)
    counts = _measure_counts(index, tables, np.vstack([hi, start, lows])).astype(np.float64)
    high = len(config.count_types)
    in_window = (counts[:high + 1, :1] - counts[:high + 1, 2:]).reshape(
        (high + 1) * len(config.windows_days), n)
    new_day = _new_day_prefix(index)
    # distinct days in [lo, hi) = day starts strictly inside the range + the first day
    inside = new_day[hi] - new_day[np.minimum(lows + 1, len(index))] + 1
    active = np.where(hi > lows, inside, 0)
    blocks = np.concatenate([in_window, hi - lows, active]).astype(np.float64)
    out = dict(zip(tables.window_names, blocks))
    before = counts[high + 1:, 0] - counts[high + 1:, 1]               # email sent, open, ...
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(before[0] > 0, before[1:] / before[0], np.nan)
    out.update(zip((f"email_{kind}_rate" for kind in EMAIL_RATES), rates))
    return out


def _new_day_prefix(index: EventIndex) -> np.ndarray:
    """Prefix count of the first event of each (entity, UTC day) in sorted order."""
    days = index.times // US_PER_DAY
    flags = np.ones(len(index), dtype=bool)
    flags[1:] = (days[1:] != days[:-1]) | (index.codes[1:] != index.codes[:-1])
    prefix = np.zeros(len(index) + 1, dtype=np.int32)
    np.cumsum(flags, out=prefix[1:])
    return prefix


def _recency_features(index: EventIndex, start: np.ndarray, hi: np.ndarray,
                      as_of: np.ndarray, config: FeatureConfig) -> dict[str, np.ndarray]:
    names = ("days_since_last_activity", "days_since_last_high_intent",
             "days_since_first_activity")
    if len(index) == 0:
        return {name: np.full(len(hi), np.nan) for name in names}
    has_any = hi > start
    last = np.maximum(hi - 1, 0)
    is_high = type_tables(config).is_high[index.kinds]
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


def _velocity(pos: dict[int, np.ndarray], config: FeatureConfig) -> np.ndarray:
    recent_days = config.velocity_recent_days
    total_days = recent_days + config.velocity_baseline_days
    recent = pos[0] - pos[recent_days]
    baseline = pos[recent_days] - pos[total_days]
    return (recent + 1.0) / (baseline * (recent_days / config.velocity_baseline_days) + 1.0)


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
    terms = _decay_terms(index, type_tables(config).weights, half_life_us, span)
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


def compute_behavior(prepared: PreparedActivities, lead_codes: np.ndarray, as_of: np.ndarray,
                     config: FeatureConfig) -> dict[str, np.ndarray]:
    """Every behavior feature of each query, point in time.

    Args:
        prepared: the activities (``features.activities``: a table or one request's events).
        lead_codes: position of each query's lead in ``prepared.lead_ids`` (-1: no activity).
        as_of: UTC µs per query.
        config: windows, half-life, weights, counted and high-intent types.

    Returns:
        Feature name -> float64 array over the queries.
    """
    index = index_by(prepared, prepared.lead_codes, len(prepared.lead_ids))
    days = set(config.windows_days) | {config.velocity_recent_days,
                                       config.velocity_recent_days
                                       + config.velocity_baseline_days}
    pos = cutoff_positions(index, lead_codes, as_of, days)
    start = index.starts_of(lead_codes)
    out = _count_features(index, pos, start, config)
    out.update(_recency_features(index, start, pos[0], as_of, config))
    out["activity_velocity"] = _velocity(pos, config)
    out["engagement_decayed"] = _decayed_engagement(index, lead_codes, start, pos[0], as_of,
                                                    config)
    return out
