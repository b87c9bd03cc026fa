"""The Markdown ground-truth document (``describe_ground_truth``, rendered into
``docs/sample_crm.md``) from the story's parameters.
"""

from __future__ import annotations

import textwrap

from crm import schema
from crm.sample.config import GeneratorConfig
from crm.sample.story import (
    _RAMP_P,
    ACCOUNT_EFFECT_SD,
    AUTHORITY_P,
    BUDGET_COEF,
    CLOSE_MEDIAN_DAYS,
    COUNTRIES,
    COUNTRY_P,
    DEPARTMENT_P,
    DEPARTMENTS,
    EMPLOYEES_LOG_SD,
    ENGAGEMENT_WEIGHTS,
    EXHIBITIONS_PER_YEAR,
    HIGH_INTENT_TYPES,
    HOT_SOURCES,
    ICP_EMPLOYEES,
    ICP_INDUSTRIES,
    ICP_REGIONS,
    ICP_SENIORITY,
    INDUSTRIES,
    INDUSTRY_P,
    INSIDE_SALES_GLOBAL,
    INSIDE_SALES_JP,
    LEAD_SOURCE_P,
    LOST_AT_STAGE_P,
    MONTH_END_PUSH_P,
    MQL_THRESHOLD,
    NEED_COEF,
    NO_ACCOUNT_SHARE,
    NURTURE_DAYS,
    NURTURE_EMAILS_PER_DAY,
    PAGES_PER_SESSION,
    PRODUCT_BASE_USD,
    PRODUCTS,
    QUARTER_END_PUSH_P,
    SENIORITY_LEVELS,
    SENIORITY_P,
    SOURCE_EFFECT,
    SQL_B0,
    SQL_HORIZON_DAYS,
    SQL_ICP,
    SQL_INTERACTION,
    SQL_Z,
    STAGES,
    TIMELINE_CHOICES,
    TIMELINE_COEF,
    USD_JPY,
    WEB_BACKGROUND_PER_DAY,
    WEB_SESSIONS,
    WEB_TAU_DAYS,
    WEBINARS_PER_YEAR,
    WIN_COEF,
    Z_DEPT,
    Z_ICP,
    Z_NOISE_SD,
)


def _pairs(names: tuple[str, ...], values: tuple[float, ...]) -> str:
    return ", ".join(f"{n} {v:g}" for n, v in zip(names, values))


def describe_ground_truth() -> str:
    """The generating story and its exact equations, in Markdown (for the README)."""
    b0, b_size, b_z = BUDGET_COEF
    n0, n_icp, n_z = NEED_COEF
    t_med, t_z, t_icp, t_sd = TIMELINE_COEF
    w0, w_icp, w_z, w_amt = WIN_COEF
    weights = ", ".join(f"{k} {v:+d}" for k, v in ENGAGEMENT_WEIGHTS.items())
    return _rewrap(f"""\
## The sample CRM: generating story and hidden ground truth

`leadscore generate` simulates a B2B SaaS vendor's CRM. Everything below is drawn with numpy
from `GeneratorConfig.seed`; `σ` is the logistic function, `softplus(x) = ln(1 + eˣ)`,
`N(μ, σ²)` a normal draw, `Bern(p)` a coin with probability p. Times are UTC; nothing happens
after `config.end` (2026-10-31T23:59:59Z by default), so recent leads are *censored*.

### Accounts (max(50, n_leads / {GeneratorConfig.leads_per_account:g}))
- country ~ {_pairs(COUNTRIES, COUNTRY_P)}; region: JP → JP; SG, AU, KR, IN → APAC;
  US, CA → NA; GB, DE, FR → EMEA.
- industry ~ {_pairs(INDUSTRIES, INDUSTRY_P)}.
- employees = clip(round(exp(N(ln 150, {EMPLOYEES_LOG_SD:g}²))), 2, 300000);
  annual_revenue (USD) = employees × revenue-per-employee(industry) × exp(N(0, 0.4²)).
- founded_year = end.year − round(Gamma(2, 6 + 4·log10(employees))) (× 1.4 for JP).
- Names from word lists: `株式会社` / `有限会社` + kanji stem / katakana word + industry suffix
  for JP (e.g. `東洋精機株式会社`, `株式会社サンプル技研`), `<Prefix><suffix> <Industry word>
  <legal form>` elsewhere (e.g. `Bluepeak Analytics Inc.`); domains romanised and unique.
- Hidden: account effect a ~ N(0, {ACCOUNT_EFFECT_SD:g}²) shared by its leads; lead
  attraction ∝ employees^0.35 × LogNormal(0, 0.8).
- Shown missing (dirty but valid): domain 3%, industry 4%, employees 8%, revenue 20%,
  founded_year 12%.

### Leads
- {NO_ACCOUNT_SHARE:.0%} have no account (free-mail individuals); the others pick an account by
  attraction. source ~ {_pairs(schema.LEAD_SOURCES, LEAD_SOURCE_P)}.
- created_at: calendar days weighted by growth e^(ln 1.4 · years) × weekday (Mon–Fri ≈ 1.1,
  Sat 0.25, Sun 0.15) × 0.3 in Japanese holiday seasons, at a local office hour; webinar leads
  register up to 10 days before a bi-weekly Thursday webinar, exhibition leads are scanned at a
  3-day exhibition booth. lead_id follows created_at.
- Person: Japanese if the account is in JP (4% flipped); seniority ~
  {_pairs(SENIORITY_LEVELS, SENIORITY_P)} (25% executives below 50 employees); department ~
  {_pairs(DEPARTMENTS, DEPARTMENT_P)}. Titles like `営業部 部長`, `情報システム部 課長`,
  `代表取締役社長`, `VP of Sales`, `Head of IT`; e-mail on the account domain (6% free-mail).
- Owner: one of {len(INSIDE_SALES_JP)} Japanese or {len(INSIDE_SALES_GLOBAL)} global
  inside-sales reps (by language); rep skill shifts the call-connect log-odds.

### Hidden ground truth (returned as the ground-truth frame)
- **icp_fit** = industry ∈ {{{', '.join(ICP_INDUSTRIES)}}} ∧ {ICP_EMPLOYEES[0]} ≤ employees ≤
  {ICP_EMPLOYEES[1]} ∧ region ∈ {{{', '.join(ICP_REGIONS)}}} ∧ seniority ∈
  {{{', '.join(ICP_SENIORITY)}}} (true employees, even where the CRM shows them missing;
  leads without an account never fit).
- **latent_interest** z = {Z_ICP:g}·icp + source effect ({_pairs(schema.LEAD_SOURCES,
  SOURCE_EFFECT)}) + {Z_DEPT:g}·[department ∈ sales, marketing, it] + a_account + N(0,
  {Z_NOISE_SD:g}²). A duplicate record has its original's z − 0.3.
- True BANT: authority ~ Bern({_pairs(SENIORITY_LEVELS, AUTHORITY_P)});
  budget ~ Bern(σ({b0:g} + {b_size:g}·log10(employees/100) + {b_z:g}·z));
  need ~ Bern(σ({n0:g} + {n_icp:g}·icp + {n_z:g}·z));
  timeline = exp(N(ln {t_med:g} {t_z:+g}·z {t_icp:+g}·icp, {t_sd:g}²)) months, snapped to
  {{{', '.join(f'{t:g}' for t in TIMELINE_CHOICES)}}}.
  bant_ok = timeline ≤ 3 ∧ budget + authority + need ≥ 2 (the ≥3-of-4 rule with timeline).
- **p_sql** (probability of SQL within {SQL_HORIZON_DAYS:g} days of creation, ignoring
  censoring) = bant_ok · σ({SQL_B0:g} + {SQL_ICP:g}·icp + {SQL_Z:g}·z +
  {SQL_INTERACTION:g}·icp·softplus(z)). The SQL draw is Bern(p_sql); its time is created_at +
  {SQL_HORIZON_DAYS:g}·Beta(1.5, b) days, b = 6 for inbound form/chat/referral, else 3.5.
  ICP × engagement × BANT interact: without bant_ok nothing converts; z matters more for ICP.
  Realised: ICP-fit leads reach SQL ≈ 3× as often as others.
- **duplicate_of**: `duplicate_rate` of leads are the same person entered again later.

### Activities (rates scale with `activities_per_lead` / 20)
- Web sessions: Poisson process with rate ({WEB_SESSIONS:g}·e^(0.6z)/{WEB_TAU_DAYS:g})·
  e^(−t/{WEB_TAU_DAYS:g}) after creation plus a background {WEB_BACKGROUND_PER_DAY:g}·e^(0.4z)
  per day; each session has 1 + Poisson({PAGES_PER_SESSION:g}) page views, a pricing page
  with σ(−2.6 + 0.7z + 0.6·icp), downloads, forms, rare demo requests (σ(−5.5 + 0.8z +
  0.6·icp)). Inbound/organic/ads/chat leads also have anonymous visits in the 14 days before
  creation (stitched to the lead).
- Nurture e-mails: Poisson({NURTURE_EMAILS_PER_DAY:.3f}/day) for {NURTURE_DAYS:g} days, sent
  Tue/Thu 10:00 local; open σ(−1 + 0.5z), click | open σ(−1.2 + 0.6z) (→ a page view);
  unsubscribe after Exp(400·e^(0.5z)) days stops them; 2% of addresses bounce.
- Webinars (Poisson({WEBINARS_PER_YEAR:g}·e^(0.5z)) per year, attend σ(0.2 + 0.5z)) and
  exhibitions ({EXHIBITIONS_PER_YEAR:g}·e^(0.3z) per year) are followed by browsing bursts
  (Poisson(1.2·e^(0.3z)) sessions, Exp(2–3 days) later). Chats: Poisson(0.1·e^(0.5z)),
  decaying.
- Before every SQL: 1 + Poisson(2·e^(0.2z)) high-intent events (pricing {_RAMP_P[0]:g}, demo
  request {_RAMP_P[1]:g}, e-mail reply {_RAMP_P[2]:g}, download {_RAMP_P[3]:g}, page view
  {_RAMP_P[4]:g}, form {_RAMP_P[5]:g}) at sql_at − truncated Exp(6 days), plus a meeting_booked.
  High-intent types: {', '.join(HIGH_INTENT_TYPES)}.
- Inside sales dials 1 + Poisson(2.5) times in a 21-day work window (SQLs: Poisson(2) before
  sql_at plus the qualifying call or meeting at sql_at), weekdays 9:30–18:00 local; connect
  σ(−0.8 + 0.4z + rep skill). Sales e-mails Poisson(1.5), reply σ(−2 + 0.8z). During open
  deals: meetings and replies (after SQL — point-in-time bait).
- 3% of page views are anonymous (account only). event_id = E + 10-digit sequence in
  (lead, time, type) order.

### Status
- mql_at: first time the running engagement score ({weights}) reaches {MQL_THRESHOLD:g}.
- Work starts Exp(1.5 d) after creation for {', '.join(HOT_SOURCES)} leads, Exp(1 d) after
  MQL otherwise. Each BANT element is confirmed (value = truth, time = a connected call);
  SQLs confirm every true element and the timeline at sql_at.
- Not qualified after the window: disqualified w.p. 0.7 if a confirmed fact rules them out
  (no need, or neither budget nor authority, or a bounced address), else 0.04; otherwise
  recycled w.p. 0.6 (recycled_at 3–30 days later). 35% of recycled leads re-engage after
  day {SQL_HORIZON_DAYS:g} (browsing burst); bant_ok ones then qualify w.p. 0.5 (a late SQL).
- status = the latest of new/mql/sql/disqualified/recycled/converted up to end; untouched
  leads older than 30 days are nurturing.

### Opportunities
- 90% of SQLs become a deal Gamma(2, 1.5 days) later (the rest are recycled); plus
  {GeneratorConfig.direct_opportunity_rate:g} direct deals per lead (no lead, account ICP).
- product by size (<100, <1000, ≥1000 employees) from {', '.join(PRODUCTS)} with base
  {', '.join(f'${v:,.0f}' for v in PRODUCT_BASE_USD)}; amount_usd = base ×
  (employees/300)^0.15 × LogNormal(0, 0.45²). Currency: JPY (× {USD_JPY:g}, rounded to ¥1,000)
  for Japanese accounts, USD otherwise.
- won ~ Bern(σ({w0:g} + {w_icp:g}·icp + {w_z:g}·z {w_amt:+g}·ln(amount_usd/24000))); lost
  deals stop at {_pairs(STAGES[:4], LOST_AT_STAGE_P)}.
- cycle = LogNormal(ln {CLOSE_MEDIAN_DAYS:g} + 0.2·ln(amount_usd/24000), 0.5²) days split over
  prospecting → qualification → proposal → negotiation by Dirichlet(2, 2, 2, 2). Month-end
  push: w.p. {MONTH_END_PUSH_P[0]:g} (won) / {MONTH_END_PUSH_P[1]:g} (lost) the close moves to
  one of the month's last 5 days; w.p. {QUARTER_END_PUSH_P:g} a won deal slips to its quarter's
  last month.
- expected_close_date = month end of created + cycle × LogNormal(−0.25, 0.3²) (optimistic);
  whenever it passes with the deal open it moves 1 (80%) or 2 months on. 10% of deals that
  reach proposal regress to qualification and come back; amounts are re-scoped at proposal
  (20%) and discounted 3–20% at negotiation (40%). Every change is a row of
  opportunity_stage_history. Open deals at `end` have outcome open; their expected close date
  may lie after `end` (it is a plan, not an event).

### Near-duplicates and dirty-but-valid values
- A duplicate copies its original's person and account and differs in name form (spacing,
  full-width katakana, half-width ｶﾀｶﾅ, romaji, `SMITH, John`, full-width Ｌａｔｉｎ), e-mail
  (same, capitalised, free-mail or missing) and title; it is created later.
- Titles with full-width spaces, double spaces or full-width letters (3–4%), missing titles
  (4%), departments `n/a`, `-`, `不明`, `その他` (3%) or missing (10%), missing e-mails (2%).
""")


def _rewrap(markdown: str, width: int = 96) -> str:
    """Re-flow paragraphs and bullets (headings and blank lines stay as they are)."""
    blocks: list[list[str]] = []
    for line in markdown.splitlines():
        starts_block = not line.strip() or line.startswith(("#", "- ")) or not blocks
        if starts_block or not blocks[-1] or blocks[-1][0].startswith("#"):
            blocks.append([line] if line.strip() else [])
        else:
            blocks[-1].append(line.strip())
    out = []
    for block in blocks:
        text = " ".join(block)
        bullet = text.startswith("- ")
        out.append(text if text.startswith("#") or not text else textwrap.fill(
            text, width, subsequent_indent="  " if bullet else "",
            break_long_words=False, break_on_hyphens=False))
    return "\n".join(out) + "\n"
