"""Marketing activity per chunk of leads: the event log, creation touches, web sessions,
nurture e-mails, webinars, exhibitions, chats, the intent ramp before an SQL, and MQL times.
"""

from __future__ import annotations

import numpy as np

from crm import schema
from crm.sample.calendar import (
    _NEVER,
    _at_local_hour,
    _Calendar,
    _daytime_hours,
    _month_index,
    _weekday,
)
from crm.sample.leads import _People
from crm.sample.story import (
    _RAMP_P,
    _RAMP_TYPES,
    ENGAGEMENT_WEIGHTS,
    EXHIBITIONS_PER_YEAR,
    MQL_THRESHOLD,
    NURTURE_DAYS,
    NURTURE_EMAILS_PER_DAY,
    PAGES_PER_SESSION,
    WEB_BACKGROUND_PER_DAY,
    WEB_SESSIONS,
    WEB_TAU_DAYS,
    WEBINARS_PER_YEAR,
    _sigmoid,
)
from crm.sample.streams import _Streams
from crm.sample.vocabulary import _ASSETS, _SRC, _T, CHANNELS, _Vocabulary


class _EventLog:
    """Events of one chunk as parallel arrays (lead, time, type, channel, property code)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, lead: np.ndarray, t: np.ndarray, kind: object, prop: object = -1,
            channel: object = -1) -> None:
        n = len(lead)
        self.parts.append((lead.astype(np.int64), np.asarray(t, dtype=float),
                           np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)),
                           np.broadcast_to(np.asarray(channel, dtype=np.int8), (n,)),
                           np.broadcast_to(np.asarray(prop, dtype=np.int32), (n,))))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int8),
                    np.zeros(0, np.int8), np.zeros(0, np.int32))
        return tuple(np.concatenate(cols) for cols in zip(*self.parts))


def _add_marketing_events(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                          vocab: _Vocabulary, scale: float) -> None:
    _add_creation_events(log, p, st, cal, vocab)
    _add_web_activity(log, p, st, cal, vocab, scale)
    _add_nurture_emails(log, p, st, cal, vocab, scale)
    _add_webinars(log, p, st, cal, vocab, scale)
    _add_exhibitions(log, p, st, cal, vocab, scale)
    _add_chats(log, p, st, cal, vocab, scale)


def _add_creation_events(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                         vocab: _Vocabulary) -> None:
    """The touch that created the lead (form, ad click, chat, e-mail click ...)."""
    src, t = p.source, p.created
    leads = np.arange(len(t))
    form = leads[src == _SRC["inbound_form"]]
    log.add(form, t[form], _T["form_submit"], vocab.code("form", 0))
    demo = form[st.bern(form, 0.25)]
    log.add(demo, t[demo] + 1e-5, _T["demo_request"], vocab.code("demo"))
    ads = leads[src == _SRC["paid_ads"]]
    log.add(ads, t[ads], _T["page_view"], -1, CHANNELS.index("ads"))
    organic = leads[src == _SRC["organic"]]
    log.add(organic, t[organic], _T["page_view"], vocab.code("page", st.pick(organic, 10)))
    mail = leads[src == _SRC["email_campaign"]]
    log.add(mail, t[mail] - st.uniform(mail, 0.001, 0.2), _T["email_open"])
    log.add(mail, t[mail], _T["email_click"])
    chat = leads[src == _SRC["chat"]]
    log.add(chat, t[chat], _T["chat"], vocab.code("chat", st.pick(chat, 4)))
    web = leads[src == _SRC["webinar"]]
    log.add(web, t[web], _T["webinar_register"],
            vocab.code("webinar", np.searchsorted(cal.webinars, p.source_time[web])))
    expo = leads[src == _SRC["exhibition"]]
    log.add(expo, t[expo], _T["exhibition_visit"],
            vocab.code("exhibition", np.searchsorted(cal.exhibitions, t[expo]) - 1))


def _add_web_activity(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                      vocab: _Vocabulary, scale: float) -> None:
    """Web sessions: decaying after creation, a slow background, and pre-creation visits."""
    leads = np.arange(len(p.created))
    horizon = cal.end - p.created
    lead, t = _decaying_process(st, leads, p.created, horizon,
                                scale * WEB_SESSIONS * np.exp(0.6 * p.z), WEB_TAU_DAYS)
    back_n = st.poisson(leads, scale * WEB_BACKGROUND_PER_DAY * np.exp(0.4 * p.z) * horizon)
    back = np.repeat(leads, back_n)
    back_t = p.created[back] + st.u(back) * horizon[back]
    lead, t = _merge_by_lead((lead, t), (back, back_t))
    t = np.maximum(_at_local_hour(t, p.tz[lead], _daytime_hours(st, lead)), p.created[lead])
    _add_sessions(log, p, st, vocab, lead, t)
    early = leads[np.isin(p.source, [_SRC["inbound_form"], _SRC["organic"], _SRC["paid_ads"],
                                     _SRC["chat"]])]
    pre = np.repeat(early, st.poisson(early, 1.5 * min(scale, 3.0)))
    pre_t = p.created[pre] - st.uniform(pre, 0.01, 14.0)
    _add_sessions(log, p, st, vocab, pre, pre_t)


def _decaying_process(st: _Streams, leads: np.ndarray, t0: np.ndarray, horizon: np.ndarray,
                      mass: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Poisson process with rate (mass/tau) * exp(-(t - t0)/tau) on [t0, t0 + horizon]."""
    frac = -np.expm1(-np.maximum(horizon, 0.0) / tau)
    lead = np.repeat(leads, st.poisson(leads, mass * frac))
    t = t0[lead] - tau * np.log1p(-st.u(lead) * frac[lead])
    return lead, t


def _merge_by_lead(*parts: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Concatenate parallel arrays (lead first) and order them by lead, stably."""
    columns = [np.concatenate(col) for col in zip(*parts)]
    order = np.argsort(columns[0], kind="stable")
    return tuple(col[order] for col in columns)


def _add_sessions(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                  lead: np.ndarray, t: np.ndarray) -> None:
    """A web session: 1+Poisson(0.8) page views; maybe pricing, download, form, demo."""
    pages = np.repeat(np.arange(len(lead)), 1 + st.poisson(lead, PAGES_PER_SESSION))
    page_lead = lead[pages]
    path = np.where(st.bern(page_lead, 0.5), vocab.code("page", st.pick(page_lead, 10)), -1)
    channel = np.where(st.bern(page_lead, 0.08), CHANNELS.index("ads"), -1)
    log.add(page_lead, t[pages] + st.uniform(page_lead, 0.0, 0.007), _T["page_view"], path,
            channel)
    z, icp = p.z[lead], p.icp[lead]
    for kind, prob, prop in (
        ("pricing_page_view", _sigmoid(-2.6 + 0.7 * z + 0.6 * icp), vocab.code("pricing", 0)),
        ("content_download", np.minimum(0.05 * np.exp(0.3 * z), 0.5), None),
        ("form_submit", np.full(len(lead), 0.02), vocab.code("form", 1)),
        ("demo_request", _sigmoid(-5.5 + 0.8 * z + 0.6 * icp), vocab.code("demo")),
    ):
        hit = st.bern(lead, prob)
        code = vocab.code("asset", st.pick(lead[hit], len(_ASSETS))) if prop is None else prop
        log.add(lead[hit], t[hit] + st.uniform(lead[hit], 0.0, 0.01), _T[kind], code)


def _add_nurture_emails(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                        vocab: _Vocabulary, scale: float) -> None:
    """Bi-weekly nurture e-mails (Tue/Thu 10:00 local) with opens, clicks, unsubscribes."""
    leads = np.arange(len(p.created))
    horizon = np.minimum(cal.end - p.created, NURTURE_DAYS)
    n = np.where(p.bounce, 0, st.poisson(leads, scale * NURTURE_EMAILS_PER_DAY * horizon))
    lead = np.repeat(leads, n)
    sent = _next_send_slot(p.created[lead] + st.u(lead) * horizon[lead], p.tz[lead])
    lead, sent = _unique_pairs(lead, sent)  # one e-mail per send slot
    unsub_at = p.created + st.exp(leads, 400.0 * np.exp(0.5 * p.z))
    keep = sent < unsub_at[lead]
    lead, sent = lead[keep], sent[keep]
    log.add(lead, sent, _T["email_sent"], _campaign_code(vocab, sent))
    unsub = leads[unsub_at <= p.created + horizon]
    log.add(unsub, unsub_at[unsub], _T["unsubscribe"])
    opened = st.bern(lead, _sigmoid(-1.0 + 0.5 * p.z[lead]))
    o_lead, o_t = lead[opened], sent[opened] + st.exp(lead[opened], 0.3)
    log.add(o_lead, o_t, _T["email_open"], _campaign_code(vocab, sent[opened]))
    clicked = st.bern(o_lead, _sigmoid(-1.2 + 0.6 * p.z[o_lead]))
    c_lead, c_t = o_lead[clicked], o_t[clicked] + st.exp(o_lead[clicked], 0.003)
    log.add(c_lead, c_t, _T["email_click"], _campaign_code(vocab, sent[opened][clicked]))
    log.add(c_lead, c_t + 0.0007, _T["page_view"], vocab.code("page", st.pick(c_lead, 10)))
    bounced = leads[p.bounce]
    first = _next_send_slot(p.created[bounced] + st.uniform(bounced, 0.5, 7.0), p.tz[bounced])
    log.add(bounced, first, _T["email_sent"], _campaign_code(vocab, first))
    log.add(bounced, first + 0.0007, _T["email_bounce"], vocab.code("bounce", 0))


def _unique_pairs(lead: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (lead, time) pairs, ordered by lead then time."""
    order = np.lexsort((t, lead))
    lead, t = lead[order], t[order]
    keep = np.r_[True, (lead[1:] != lead[:-1]) | (t[1:] != t[:-1])]
    return lead[keep], t[keep]


def _next_send_slot(t: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """The next Tuesday or Thursday 10:00 local strictly after the local day of ``t``."""
    local_day = np.floor(t + tz / 24.0)
    ahead = np.array([1, 2, 1, 5, 4, 3, 2])[_weekday(local_day)]
    return local_day + ahead + (10.0 - tz) / 24.0


def _campaign_code(vocab: _Vocabulary, t: np.ndarray) -> np.ndarray:
    month = _month_index(np.where(np.isfinite(t), t, 0.0))
    return vocab.code("campaign", month - vocab.first_month)


def _add_webinars(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                  vocab: _Vocabulary, scale: float) -> None:
    """Registrations to later webinars, attendance, and browsing bursts after attending."""
    leads = np.arange(len(p.created))
    rate = scale * WEBINARS_PER_YEAR * np.exp(0.5 * p.z) * (cal.end - p.created) / 365.25
    lead, which = _pick_later_events(st, leads, p.created, cal.webinars, rate)
    start = cal.webinars[which]
    reg_t = np.maximum(start - st.uniform(lead, 0.0, 10.0), p.created[lead])
    log.add(lead, reg_t, _T["webinar_register"], vocab.code("webinar", which))
    own = leads[p.source == _SRC["webinar"]]
    own_which = np.searchsorted(cal.webinars, p.source_time[own])
    lead, start, which = _merge_by_lead((lead, start, which), (own, p.source_time[own],
                                                               own_which))
    attended = st.bern(lead, _sigmoid(0.2 + 0.5 * p.z[lead]))
    a_lead, a_t = lead[attended], start[attended] + st.uniform(lead[attended], 0.0, 0.04)
    log.add(a_lead, a_t, _T["webinar_attend"], vocab.code("webinar", which[attended]))
    _add_bursts(log, p, st, vocab, a_lead, a_t, 1.2, 2.0)


def _pick_later_events(st: _Streams, leads: np.ndarray, t0: np.ndarray, events: np.ndarray,
                       rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate) picks per lead among ``events`` after t0 (none if there are none)."""
    lo = np.searchsorted(events, t0, side="right")
    available = len(events) - lo
    lead = np.repeat(leads, np.where(available > 0, st.poisson(leads, rate), 0))
    which = lo[lead] + st.pick(lead, available[lead])
    return lead, which


def _add_bursts(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                lead: np.ndarray, t: np.ndarray, mean: float, tau: float) -> None:
    """Browsing bursts after an event: Poisson(mean*e^{0.3z}) sessions, Exp(tau) days later."""
    parent = np.repeat(np.arange(len(lead)), st.poisson(lead, mean * np.exp(0.3 * p.z[lead])))
    s_lead = lead[parent]
    s_t = t[parent] + st.exp(s_lead, tau)
    _add_sessions(log, p, st, vocab, s_lead, s_t)


def _add_exhibitions(log: _EventLog, p: _People, st: _Streams, cal: _Calendar,
                     vocab: _Vocabulary, scale: float) -> None:
    """Visits to later exhibitions' booths, and bursts after every visit (incl. the first)."""
    leads = np.arange(len(p.created))
    rate = scale * EXHIBITIONS_PER_YEAR * np.exp(0.3 * p.z) * (cal.end - p.created) / 365.25
    lead, which = _pick_later_events(st, leads, p.created, cal.exhibitions, rate)
    visit = cal.exhibitions[which] + st.pick(lead, 3) + st.uniform(lead, 1.0 / 24, 8.0 / 24)
    log.add(lead, visit, _T["exhibition_visit"], vocab.code("exhibition", which))
    own = leads[p.source == _SRC["exhibition"]]
    lead, visit = _merge_by_lead((lead, visit), (own, p.created[own]))
    _add_bursts(log, p, st, vocab, lead, visit, 1.0, 3.0)


def _add_chats(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
               scale: float) -> None:
    leads = np.arange(len(p.created))
    lead, t = _decaying_process(st, leads, p.created, cal.end - p.created,
                                scale * 0.1 * np.exp(0.5 * p.z), WEB_TAU_DAYS)
    log.add(lead, t, _T["chat"], vocab.code("chat", st.pick(lead, 4)))


def _add_intent_ramp(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                     lead: np.ndarray, sql_at: np.ndarray, floor: np.ndarray) -> None:
    """High-intent events that pile up before a lead's SQL (truncated Exp(6 days) lead time)."""
    span = np.maximum(sql_at - floor, 1e-4)
    parent = np.repeat(np.arange(len(lead)), 1 + st.poisson(lead, 2.0 * np.exp(0.2 * p.z[lead])))
    r_lead, r_span = lead[parent], span[parent]
    back = -6.0 * np.log1p(-st.u(r_lead) * -np.expm1(-r_span / 6.0))
    kind = np.take(np.array([_T[k] for k in _RAMP_TYPES], dtype=np.int8),
                   st.cat(r_lead, _RAMP_P))
    prop = np.select([kind == _T["pricing_page_view"], kind == _T["demo_request"],
                      kind == _T["content_download"], kind == _T["form_submit"]],
                     [vocab.code("pricing", 1), vocab.code("demo"),
                      vocab.code("asset", st.pick(r_lead, len(_ASSETS))),
                      vocab.code("form", 0)], -1)
    log.add(r_lead, sql_at[parent] - back, kind, prop)
    booked = sql_at - st.uniform(lead, 0.2, 0.8) * np.minimum(span, 7.0)
    log.add(lead, booked, _T["meeting_booked"], vocab.code("meeting", st.pick(lead, 2)))


def _first_mql(log: _EventLog, p: _People) -> np.ndarray:
    """When cumulative engagement score first reaches MQL_THRESHOLD (inf if never)."""
    lead, t, kind, _, _ = log.arrays()
    weights = np.zeros(len(schema.ACTIVITY_TYPES))
    for name, w in ENGAGEMENT_WEIGHTS.items():
        weights[_T[name]] = w
    order = np.lexsort((t, lead))
    lead, t = lead[order], t[order]
    running = np.cumsum(weights[kind[order]])
    n = len(p.created)
    starts = np.searchsorted(lead, np.arange(n))
    before = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0.0) if len(lead) else \
        np.zeros(n)
    hit = np.flatnonzero(running - before[lead] >= MQL_THRESHOLD)
    first = np.full(n, _NEVER)
    leads_hit, pos = np.unique(lead[hit], return_index=True)
    first[leads_hit] = t[hit[pos]]
    return np.maximum(first, p.created)
