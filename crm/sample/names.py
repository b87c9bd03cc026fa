"""Rendering people and companies: JA/EN names and their variants, e-mail addresses, job
titles and departments as typed into a CRM (some messy, some missing).
"""

from __future__ import annotations

import jaconv
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crm.sample.story import DEPARTMENTS, SENIORITY_LEVELS
from crm.sample.streams import _Streams
from crm.sample.strings import (
    _cat,
    _choose,
    _make_unique,
    _null_where,
    _occurrence_rank,
    _pa,
    _take,
    _where,
)
from crm.sample.words import (
    _EN_DEPT,
    _EN_FAMILY,
    _EN_GIVEN,
    _EN_INDUSTRY_WORD,
    _EN_PREFIX,
    _EN_ROLE,
    _EN_SUFFIX,
    _FREE_MAIL_EN,
    _FREE_MAIL_JA,
    _JP_DEPT,
    _JP_FAMILY,
    _JP_GIVEN,
    _JP_INDUSTRY_SUFFIX,
    _JP_KATAKANA,
    _JP_STEMS,
    _JUNK_DEPARTMENTS,
    _LEGAL_FORMS,
    _TLDS,
)


def _render_account_names(st: _Streams, idx: np.ndarray, country: np.ndarray,
                          industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    jp_name, jp_dom = _render_jp_companies(st, idx, industry)
    en_name, en_dom = _render_en_companies(st, idx, country, industry)
    japan = country == 0
    tld = _where(japan & st.bern(idx, 0.2), ".jp", _take(_TLDS, country))
    return _where(japan, jp_name, en_name), _make_unique(_where(japan, jp_dom, en_dom), tld)


def _render_jp_companies(st: _Streams, idx: np.ndarray,
                         industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """前株/後株 names from a kanji stem, a katakana word and an industry suffix."""
    pattern, s, k, v = (st.pick(idx, 3), st.pick(idx, len(_JP_STEMS)),
                        st.pick(idx, len(_JP_KATAKANA)), st.pick(idx, 3))
    legal = st.cat(idx, (0.40, 0.55, 0.05))
    suffix = industry * 3 + v
    suffixes = [s for row in _JP_INDUSTRY_SUFFIX for s in row]
    parts = []
    for col in (0, 1):
        first = _where(pattern == 1, "", _take([w[col] for w in _JP_STEMS], s))
        middle = _where(pattern == 0, "", _take([w[col] for w in _JP_KATAKANA], k))
        parts.append((first, middle, _take([w[col] for w in suffixes], suffix)))
    core = _cat(*parts[0])
    name = _choose(legal, _cat("株式会社", core), _cat(core, "株式会社"), _cat("有限会社", core))
    first_r, middle_r, suffix_r = parts[1]
    domain = _where(st.bern(idx, 0.5), _cat(first_r, middle_r, suffix_r),
                    _cat(first_r, middle_r, "-", suffix_r))
    return name, domain


def _render_en_companies(st: _Streams, idx: np.ndarray, country: np.ndarray,
                         industry: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """`<Prefix><suffix> <Industry word> <legal form>`, e.g. Bluepeak Analytics Inc."""
    compound = _cat(_take(_EN_PREFIX, st.pick(idx, len(_EN_PREFIX))),
                    _take(_EN_SUFFIX, st.pick(idx, len(_EN_SUFFIX))))
    word = _take([w for row in _EN_INDUSTRY_WORD for w in row], industry * 3 + st.pick(idx, 3))
    legal = _take([f for row in _LEGAL_FORMS for f in row], country * 3 + st.pick(idx, 3))
    name = _cat(compound, " ", word, " ", legal)
    domain = _where(st.bern(idx, 0.5), _cat(compound, "-", word), compound)
    return name, pc.utf8_lower(domain)


def _render_people(st: _Streams, idx: np.ndarray, domains: pa.Array, account: np.ndarray,
                   ja: np.ndarray, person: dict[str, np.ndarray],
                   dup_of: np.ndarray) -> dict[str, pa.Array]:
    """Name, e-mail, job title and department as typed (null = missing); ``domains`` are the
    accounts' true domains, indexed by ``account``."""
    names = _render_names(st, idx, ja, person)
    user, host = _render_email_parts(st, idx, domains, account, ja, person, names)
    title, dept = _render_titles(st, idx, ja, person)
    dup = dup_of >= 0
    orig = np.maximum(dup_of, 0)
    variant = _choose(st.pick(idx, 4), names["alt_spacing"], names["kana"], names["half_width"],
                      names["latin"])
    email = _where(dup, _vary_email(st, idx, user.take(orig), host.take(orig), names, ja),
                   _cat(user, "@", host))
    same_title = dup & st.bern(idx, 0.5)
    return {"name": _where(dup, variant, names["name"]),
            "email": _null_where(st.bern(idx, 0.02), email),
            "job_title": _where(same_title, title.take(pa.array(orig)), title),
            "department": dept}


def _name_lists() -> dict[str, pa.Array]:
    """Every name form (kanji, kana, half-width kana, romaji, English, full-width) by index."""
    half = lambda s: jaconv.z2h(s, kana=True)
    wide = lambda s: jaconv.h2z(s, kana=False, ascii=True)
    return {
        "jf": _pa(r[0] for r in _JP_FAMILY), "jg": _pa(r[0] for r in _JP_GIVEN),
        "jf_kana": _pa(r[1] for r in _JP_FAMILY), "jg_kana": _pa(r[1] for r in _JP_GIVEN),
        "jf_half": _pa(half(r[1]) for r in _JP_FAMILY),
        "jg_half": _pa(half(r[1]) for r in _JP_GIVEN),
        "jf_roman": _pa(r[2] for r in _JP_FAMILY), "jg_roman": _pa(r[2] for r in _JP_GIVEN),
        "jf_latin": _pa(r[2].capitalize() for r in _JP_FAMILY),
        "jg_latin": _pa(r[2].capitalize() for r in _JP_GIVEN),
        "eg": _pa(r[0] for r in _EN_GIVEN), "eg_variant": _pa(r[1] for r in _EN_GIVEN),
        "ef": _pa(_EN_FAMILY), "eg_wide": _pa(wide(r[0]) for r in _EN_GIVEN),
        "ef_wide": _pa(wide(f) for f in _EN_FAMILY),
        "eg_local": _pa(r[0].lower().replace("-", "") for r in _EN_GIVEN),
        "ef_local": _pa(f.lower().replace("'", "") for f in _EN_FAMILY),
    }


def _render_names(st: _Streams, idx: np.ndarray, ja: np.ndarray,
                  person: dict[str, np.ndarray]) -> dict[str, pa.Array]:
    """Canonical name plus the variants a duplicate may carry, and e-mail name parts."""
    w = _name_lists()
    g, f = person["given"], person["family"]
    jg, jf = np.minimum(g, len(_JP_GIVEN) - 1), np.minimum(f, len(_JP_FAMILY) - 1)
    eg, ef = np.minimum(g, len(_EN_GIVEN) - 1), np.minimum(f, len(_EN_FAMILY) - 1)
    sep = (person["style"] % 10 >= 7).astype(int) + (person["style"] % 10 >= 9)
    seps = [" ", "", "\u3000"]
    kanji = lambda s: _cat(_take(w["jf"], jf), _take(seps, s), _take(w["jg"], jg))
    en = _cat(_take(w["eg"], eg), " ", _take(w["ef"], ef))
    pick = lambda jp, other: _where(ja, jp, other)
    return {
        "name": pick(kanji(sep), en),
        "alt_spacing": pick(kanji(np.where(sep == 0, 1, 0)), pc.utf8_upper(en)),
        "kana": pick(_cat(_take(w["jf_kana"], jf), " ", _take(w["jg_kana"], jg)),
                     _cat(_take(w["eg_variant"], eg), " ", _take(w["ef"], ef))),
        "half_width": pick(_cat(_take(w["jf_half"], jf), " ", _take(w["jg_half"], jg)),
                           _cat(_take(w["eg_wide"], eg), " ", _take(w["ef_wide"], ef))),
        "latin": pick(_cat(_take(w["jg_latin"], jg), " ", _take(w["jf_latin"], jf)),
                      _cat(_take(w["ef"], ef), ", ", _take(w["eg"], eg))),
        "local_given": pick(_take(w["jg_roman"], jg), _take(w["eg_local"], eg)),
        "local_family": pick(_take(w["jf_roman"], jf), _take(w["ef_local"], ef)),
    }


def _render_email_parts(st: _Streams, idx: np.ndarray, domains: pa.Array,
                        account: np.ndarray, ja: np.ndarray, person: dict[str, np.ndarray],
                        names: dict[str, pa.Array]) -> tuple[pa.Array, pa.Array]:
    """(user, host): corporate (four local-part styles) or free-mail; unique addresses."""
    g, f = names["local_given"], names["local_family"]
    local = _choose(person["style"] // 10 % 4, _cat(g, ".", f),
                    _cat(pc.utf8_slice_codeunits(g, 0, 1), f), _cat(f, ".", g), _cat(g, "_", f))
    free_user, free_host = _free_mail(st, idx, ja, g, f)
    use_free = (account < 0) | st.bern(idx, 0.06)
    user = _where(use_free, free_user, local)
    host = _where(use_free, free_host, domains.take(pa.array(np.maximum(account, 0))))
    rank = _occurrence_rank(_cat(user, "@", host))
    counter = pa.array(rank + 1).cast(pa.string())
    return _where(rank > 0, _cat(user, counter), user), host


def _free_mail(st: _Streams, idx: np.ndarray, ja: np.ndarray, g: pa.Array,
               f: pa.Array) -> tuple[pa.Array, pa.Array]:
    ja_host = _take([d for d, _ in _FREE_MAIL_JA], st.cat(idx, [p for _, p in _FREE_MAIL_JA]))
    en_host = _take([d for d, _ in _FREE_MAIL_EN], st.cat(idx, [p for _, p in _FREE_MAIL_EN]))
    digits = pa.array(10 + st.pick(idx, 90)).cast(pa.string())
    return _cat(g, ".", f, digits), _where(ja, ja_host, en_host)


def _vary_email(st: _Streams, idx: np.ndarray, user: pa.Array, host: pa.Array,
                names: dict[str, pa.Array], ja: np.ndarray) -> pa.Array:
    """A duplicate's e-mail: the same, capitalised, a free-mail address, or missing."""
    choice = st.cat(idx, (0.35, 0.15, 0.40, 0.10))
    free_user, free_host = _free_mail(st, idx, ja, names["local_given"], names["local_family"])
    return _choose(choice, _cat(user, "@", host), _cat(pc.utf8_title(user), "@", host),
                   _cat(free_user, "@", free_host), pa.scalar(None, pa.string()))


_MESSY_FORMS = 4  # clean, full-width space, double space, full-width letters


def _title_table() -> pa.Array:
    """Job titles indexed by (((language*6 + seniority)*8 + department)*3 + variant)*4 + mess."""
    wide = lambda s: jaconv.h2z(s, kana=False, ascii=True, digit=True)
    out = []
    for lang in (0, 1):
        for sen in range(len(SENIORITY_LEVELS)):
            for d in range(len(DEPARTMENTS)):
                for title in _titles(lang, sen, d):
                    out += [title, title.replace(" ", "\u3000"), title.replace(" ", "  "),
                            wide(title)]
    return _pa(out)


def _titles(lang: int, sen: int, d: int) -> tuple[str, str, str]:
    jd, ed, role = _JP_DEPT[d], _EN_DEPT[d], _EN_ROLE[d]
    chief = {"it": "CTO", "engineering": "CTO", "marketing": "CMO", "finance": "CFO",
             "sales": "CRO", "operations": "COO"}.get(DEPARTMENTS[d])
    japanese = (("代表取締役社長", "取締役", f"取締役 {chief}" if chief else "常務取締役"),
                ("執行役員", f"{jd}本部 本部長", f"執行役員 {jd}本部長"),
                (f"{jd}部 部長", f"{jd}部 部長", f"{jd}部 次長"),
                (f"{jd}部 課長", f"{jd}課 課長", f"{jd}部 マネージャー"),
                (f"{jd}部 係長", f"{jd}部 主任", f"{jd}部 リーダー"),
                (f"{jd}部 担当", f"{jd}部", f"{jd}担当"))
    english = (("CEO", "Founder", chief or "Managing Director"),
               (f"VP of {ed}", f"Vice President, {ed}", f"SVP {ed}"),
               (f"Director of {ed}", f"Head of {ed}", f"{ed} Director"),
               (f"{ed} Manager", f"Senior {ed} Manager", f"{ed} Manager"),
               (f"{ed} Team Lead", f"Team Lead, {ed}", f"Senior {role}"),
               (role, role, f"{ed} Associate"))
    return (japanese if lang == 0 else english)[sen]


def _render_titles(st: _Streams, idx: np.ndarray, ja: np.ndarray,
                   person: dict[str, np.ndarray]) -> tuple[pa.Array, pa.Array]:
    """Job title and department as typed: mostly clean, some messy, some missing."""
    lang = (~ja).astype(np.int64)
    variant = st.pick(idx, 3)
    messy = st.cat(idx, (0.93, 0.03, 0.02, 0.02))
    cell = (((lang * len(SENIORITY_LEVELS) + person["seniority"]) * len(DEPARTMENTS)
             + person["dept"]) * 3 + variant) * _MESSY_FORMS + messy
    title = _take(_title_table(), cell, missing=st.bern(idx, 0.04))
    departments = [f"{d}部" for d in _JP_DEPT] + list(_EN_DEPT) + list(_JUNK_DEPARTMENTS)
    kind = st.cat(idx, (0.87, 0.03, 0.10))
    junk = 2 * len(DEPARTMENTS) + st.pick(idx, len(_JUNK_DEPARTMENTS))
    dept = np.where(kind == 1, junk, lang * len(DEPARTMENTS) + person["dept"])
    return title, _take(departments, dept, missing=kind == 2)
