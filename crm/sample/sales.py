"""Inside-sales work per chunk: calls, BANT confirmation, sales e-mails, meetings,
disqualification, recycling and late (re-engaged) SQLs.
"""

from __future__ import annotations

import numpy as np

from crm.sample.calendar import _NEVER, _business_time, _Calendar
from crm.sample.events import _add_intent_ramp, _add_sessions, _EventLog, _merge_by_lead
from crm.sample.leads import _People
from crm.sample.story import HOT_SOURCES, REP_SKILL, SQL_HORIZON_DAYS, _sigmoid
from crm.sample.streams import _Streams
from crm.sample.vocabulary import _SRC, _T, _Vocabulary


def _work_leads(log: _EventLog, p: _People, st: _Streams, cal: _Calendar, vocab: _Vocabulary,
                mql: np.ndarray, sql90_at: np.ndarray) -> dict[str, np.ndarray]:
    """Calls, BANT confirmation, disqualification, recycling and late (re-engaged) SQLs."""
    leads = np.arange(len(p.created))
    hot = np.isin(p.source, [_SRC[s] for s in HOT_SOURCES])
    natural = np.where(hot, p.created + st.exp(leads, 1.5), mql + st.exp(leads, 1.0))
    early = p.created + (np.where(p.sql90, sql90_at, p.created) - p.created) * st.uniform(
        leads, 0.0, 0.6)
    w0 = np.where(p.sql90, np.minimum(natural, early), natural)
    w1 = np.where(p.sql90, sql90_at, w0 + 21.0)
    worked = leads[np.isfinite(w0)]
    conn = _add_calls(log, p, st, vocab, worked, w0[worked], w1[worked], p.sql90[worked])
    confirmed = _confirm_bant(st, p, worked, conn, p.sql90[worked], sql90_at[worked])
    _add_sales_emails(log, p, st, vocab, worked, w0[worked], w1[worked])
    _add_meetings(log, p, st, vocab, worked[~p.sql90[worked]], conn)
    dq, recycled = _disqualify_or_recycle(st, p, worked, confirmed, w1)
    late_sql = _late_sql(log, p, st, vocab, recycled, confirmed)
    return {"sql": np.where(p.sql90, sql90_at, late_sql), "disqualified": dq,
            "recycled": recycled, "worked": np.isfinite(w0), **confirmed}


def _add_calls(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary, lead: np.ndarray,
               w0: np.ndarray, w1: np.ndarray, final: np.ndarray) -> tuple[np.ndarray, ...]:
    """Dials in [w0, w1] in business hours; a qualifying conversation at w1 if ``final``.

    Returns the connected conversations (lead, time), sorted by lead.
    """
    n = np.where(final, st.poisson(lead, 2.0), 1 + st.poisson(lead, 2.5))
    pos = np.repeat(np.arange(len(lead)), n)
    c_lead = lead[pos]
    t = w0[pos] + st.u(c_lead) * (w1[pos] - w0[pos])
    t = np.clip(_business_time(st, c_lead, t, p.tz[c_lead]), w0[pos],
                np.where(final[pos], w1[pos], _NEVER))
    skill = np.take(REP_SKILL, p.owner[c_lead])
    ok = st.bern(c_lead, _sigmoid(-0.8 + 0.4 * p.z[c_lead] + skill))
    log.add(c_lead[~ok], t[~ok], _T["call_attempt"],
            vocab.code("call_result", st.pick(c_lead[~ok], 3)))
    log.add(c_lead[ok], t[ok], _T["call_connected"],
            vocab.code("call_minutes", st.pick(c_lead[ok], 30) + 2))
    f_lead, f_t = lead[final], w1[final]
    meeting = st.bern(f_lead, 0.4)
    log.add(f_lead[meeting], f_t[meeting], _T["meeting_held"], vocab.code("meeting", 0))
    log.add(f_lead[~meeting], f_t[~meeting], _T["call_connected"],
            vocab.code("call_minutes", st.pick(f_lead[~meeting], 40) + 10))
    return _merge_by_lead((c_lead[ok], t[ok]), (f_lead, f_t))


def _confirm_bant(st: _Streams, p: _People, lead: np.ndarray, conn: tuple[np.ndarray, ...],
                  qualified: np.ndarray, sql_at: np.ndarray) -> dict[str, np.ndarray]:
    """BANT confirmation times; each element is confirmed during a connected conversation.

    Qualified (SQL) leads confirm every true B/A/N element (and a false one w.p. 0.4), and the
    timeline during the qualifying conversation at sql_at; others confirm each element with
    probability (0.45, 0.6, 0.7, 0.5).
    """
    n = len(p.created)
    out = {f"{e}_at": np.full(n, _NEVER) for e in ("budget", "authority", "need", "timeline")}
    counts = np.bincount(conn[0], minlength=n)
    first = np.cumsum(counts) - counts
    talked = lead[counts[lead] > 0]
    q = qualified[counts[lead] > 0]
    for element, prob in (("budget", 0.45), ("authority", 0.6), ("need", 0.7),
                          ("timeline", 0.5)):
        truth = getattr(p, element)[talked] if element != "timeline" else np.ones(len(talked))
        want = np.where(q, truth.astype(bool) | st.bern(talked, 0.4), st.bern(talked, prob))
        when = conn[1][first[talked] + st.pick(talked, counts[talked])]
        if element == "timeline":
            when = np.where(q, sql_at[counts[lead] > 0], when)
        out[f"{element}_at"][talked[want]] = when[want]
    return out


def _add_sales_emails(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                      lead: np.ndarray, w0: np.ndarray, w1: np.ndarray) -> None:
    ok = ~p.bounce[lead]
    lead, w0, w1 = lead[ok], w0[ok], w1[ok]
    pos = np.repeat(np.arange(len(lead)), st.poisson(lead, 1.5))
    e_lead = lead[pos]
    sent = _business_time(st, e_lead, w0[pos] + st.u(e_lead) * (w1[pos] - w0[pos]),
                          p.tz[e_lead])
    log.add(e_lead, sent, _T["email_sent"], vocab.code("sales_email"))
    replied = st.bern(e_lead, _sigmoid(-2.0 + 0.8 * p.z[e_lead]))
    log.add(e_lead[replied], sent[replied] + st.exp(e_lead[replied], 0.5), _T["email_reply"],
            vocab.code("sales_email"))


def _add_meetings(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
                  lead: np.ndarray, conn: tuple[np.ndarray, ...]) -> None:
    """Not-yet-qualified leads sometimes book a meeting during a conversation."""
    talked = np.isin(conn[0], lead)
    c_lead, c_t = conn[0][talked], conn[1][talked]
    booked = st.bern(c_lead, _sigmoid(-3.0 + 0.5 * p.z[c_lead]))
    b_lead, b_t = c_lead[booked], c_t[booked]
    log.add(b_lead, b_t + 0.002, _T["meeting_booked"], vocab.code("meeting", 0))
    held = st.bern(b_lead, 0.7)
    log.add(b_lead[held], b_t[held] + st.uniform(b_lead[held], 2.0, 10.0), _T["meeting_held"],
            vocab.code("meeting", st.pick(b_lead[held], 2)))


def _disqualify_or_recycle(st: _Streams, p: _People, worked: np.ndarray,
                           confirmed: dict[str, np.ndarray],
                           w1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Worked leads that do not qualify: disqualified (bad BANT facts) or back to nurture."""
    n = len(p.created)
    dq, recycled = np.full(n, _NEVER), np.full(n, _NEVER)
    lead = worked[~p.sql90[worked]]
    no_need = np.isfinite(confirmed["need_at"][lead]) & ~p.need[lead]
    no_power = (np.isfinite(confirmed["budget_at"][lead]) & ~p.budget[lead]
                & np.isfinite(confirmed["authority_at"][lead]) & ~p.authority[lead])
    reason = no_need | no_power | p.bounce[lead]
    out = st.bern(lead, np.where(reason, 0.7, 0.04))
    dq[lead[out]] = w1[lead[out]] + st.uniform(lead[out], 0.0, 3.0)
    rest = lead[~out]
    back = rest[st.bern(rest, 0.6)]
    recycled[back] = w1[back] + st.uniform(back, 3.0, 30.0)
    return dq, recycled


def _late_sql(log: _EventLog, p: _People, st: _Streams, vocab: _Vocabulary,
              recycled: np.ndarray, confirmed: dict[str, np.ndarray]) -> np.ndarray:
    """Recycled leads re-engage (after day 90) and some of them qualify then: their sql_at."""
    n = len(p.created)
    lead = np.flatnonzero(np.isfinite(recycled))
    lead = lead[st.bern(lead, 0.35)]
    again = np.maximum(recycled[lead], p.created[lead] + SQL_HORIZON_DAYS) + st.exp(lead, 100.0)
    parent = np.repeat(np.arange(len(lead)), 2 + st.poisson(lead, 3.0 * np.exp(0.3 * p.z[lead])))
    _add_sessions(log, p, st, vocab, lead[parent], again[parent] + st.exp(lead[parent], 7.0))
    wins = p.bant_ok[lead] & st.bern(lead, 0.5)
    q_lead, start = lead[wins], again[wins]
    sql = np.full(n, _NEVER)
    sql[q_lead] = start + st.uniform(q_lead, 3.0, 30.0)
    _add_intent_ramp(log, p, st, vocab, q_lead, sql[q_lead], start)
    everyone = np.ones(len(q_lead), dtype=bool)
    conn = _add_calls(log, p, st, vocab, q_lead, start, sql[q_lead], everyone)
    late = _confirm_bant(st, p, q_lead, conn, everyone, sql[q_lead])
    for key, times in late.items():
        confirmed[key] = np.minimum(confirmed[key], times)
    return sql
