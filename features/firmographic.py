"""Firmographic features: who the lead's company is and who the lead is, one row per lead.

Firmographics (industry, size, revenue, country, region, founded year) are slowly-changing
attributes that the canonical model stores without history, so they are taken **as current
values** for every ``as_of``: a company that grew past 1,000 employees last month counts as
1,000+ for a lead scored two years ago. Only values that are genuinely dated respect ``as_of``:
``company_age_years`` (from ``founded_year``). How many contacts a company had before
``as_of`` needs the whole leads table, so ``features.leads`` counts it
(``account_known_leads``).

Text is normalised before it becomes a category: industry labels are NFKC-normalised,
lower-cased and mapped through a small alias table (``ソフトウェア`` / ``SaaS`` → ``software``,
``製造業`` → ``manufacturing``, the Maven CRM typo ``technolgy`` → ``technology``); labels not in
the table are kept as cleaned text (spaces → ``_``), and blanks or placeholders such as
``Select``, ``不明`` or ``n/a`` become ``unknown``. Countries become ISO 3166-1 alpha-2 codes and
a missing region is derived from the country (JP, APAC, NA, EMEA, LATAM).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping

import numpy as np
import pandas as pd

from crm.schema import require_columns
from features.inputs import ColumnKind, account_positions, map_distinct, read_columns
from features.pointintime import timestamps_to_us
from features.registry import FeatureDef
from features.titles import DEPARTMENT_DTYPE, SENIORITY_DTYPE, parse_title_columns

UNKNOWN = "unknown"

EMPLOYEE_BANDS: tuple[str, ...] = (
    "<10", "10-49", "50-99", "100-299", "300-999", "1000-4999", "5000+")
EMPLOYEE_EDGES: tuple[float, ...] = (10, 50, 100, 300, 1000, 5000)
REVENUE_BANDS: tuple[str, ...] = (
    "<1M", "1M-10M", "10M-50M", "50M-100M", "100M-500M", "500M-1B", "1B+")
REVENUE_EDGES: tuple[float, ...] = (1e6, 1e7, 5e7, 1e8, 5e8, 1e9)
REGIONS: tuple[str, ...] = ("JP", "APAC", "NA", "EMEA", "LATAM")

FREE_MAIL_DOMAINS: frozenset[str] = frozenset({
    # global webmail
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "outlook.com", "hotmail.com",
    "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "protonmail.com",
    "proton.me", "gmx.com", "gmx.de", "mail.com", "yandex.ru", "zoho.com", "fastmail.com",
    "hey.com", "tutanota.com", "qq.com", "163.com", "126.com", "naver.com", "daum.net",
    "yahoo.co.uk", "hotmail.co.uk",
    # Japan: webmail, mobile carriers, consumer ISPs
    "yahoo.co.jp", "outlook.jp", "hotmail.co.jp", "live.jp", "docomo.ne.jp", "ezweb.ne.jp",
    "au.com", "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "disney.ne.jp",
    "nifty.com", "biglobe.ne.jp", "ocn.ne.jp", "so-net.ne.jp", "plala.or.jp", "excite.co.jp",
    "infoseek.jp", "rakuten.jp", "ybb.ne.jp", "jcom.home.ne.jp", "dion.ne.jp",
})

_UNKNOWN_LABELS = frozenset({
    "", "select", "unknown", "n/a", "na", "none", "null", "nan", "-", "--", "?",
    "不明", "未選択", "未設定", "未入力", "なし",
})
_OTHER_LABELS = frozenset({"other", "others", "その他", "その他業種"})
INDUSTRY_ALIASES: dict[str, str] = {
    alias: canonical
    for canonical, aliases in {
        "software": ("software", "saas", "software & services", "software and services",
                     "ソフトウェア", "ソフトウエア", "ソフトウェア業", "saas・ソフトウェア"),
        "it_services": ("it services", "it service", "it", "si", "sier", "system integration",
                        "情報サービス", "情報サービス業", "受託開発", "システムインテグレーター"),
        "technology": ("technology", "tech", "technolgy", "high tech", "hi tech",
                       "テクノロジー"),
        "telecommunications": ("telecommunications", "telecom", "telecoms", "通信",
                               "通信業", "情報通信", "情報通信業"),
        "manufacturing": ("manufacturing", "manufacturer", "industrial", "製造", "製造業",
                          "メーカー", "ものづくり"),
        "finance": ("finance", "financial services", "financial", "banking", "bank",
                    "fintech", "insurance", "金融", "金融業", "金融・保険", "金融・保険業",
                    "銀行", "証券", "保険", "保険業"),
        "retail": ("retail", "小売", "小売業", "e commerce", "ecommerce", "ec", "通販"),
        "wholesale": ("wholesale", "trading", "卸売", "卸売業", "商社"),
        "healthcare": ("healthcare", "health care", "medical", "hospital", "医療",
                       "医療・福祉", "福祉"),
        "education": ("education", "edtech", "教育", "教育・学習支援", "学習支援"),
        "public_sector": ("public sector", "government", "官公庁", "自治体", "公務"),
        "construction": ("construction", "建設", "建設業", "建築"),
        "real_estate": ("real estate", "不動産", "不動産業"),
        "logistics": ("logistics", "transportation", "物流", "運輸", "運輸業", "運輸・物流"),
        "media": ("media", "advertising", "広告", "マスコミ", "出版", "メディア"),
        "professional_services": ("professional services", "consulting", "コンサルティング",
                                  "士業"),
    }.items()
    for alias in aliases
}
COUNTRY_ALIASES: dict[str, str] = {
    alias: code
    for code, aliases in {
        "JP": ("japan", "日本", "jpn", "nippon"), "US": ("united states", "usa", "america",
        "united states of america", "米国", "アメリカ"), "GB": ("united kingdom", "uk",
        "great britain", "england", "英国", "イギリス"), "CN": ("china", "中国", "prc"),
        "KR": ("korea", "south korea", "republic of korea", "韓国"), "TW": ("taiwan", "台湾"),
        "HK": ("hong kong", "香港"), "SG": ("singapore", "シンガポール"),
        "AU": ("australia", "オーストラリア"), "NZ": ("new zealand",), "IN": ("india", "インド"),
        "TH": ("thailand", "タイ"), "VN": ("vietnam", "viet nam", "ベトナム"),
        "MY": ("malaysia", "マレーシア"), "ID": ("indonesia", "インドネシア"),
        "PH": ("philippines", "philipines", "フィリピン"), "DE": ("germany", "ドイツ"),
        "FR": ("france", "フランス"), "CA": ("canada", "カナダ"), "BR": ("brazil",),
        "MX": ("mexico",), "IT": ("italy",), "BE": ("belgium",), "NO": ("norway",),
        "PL": ("poland",), "RO": ("romania",), "JO": ("jordan",), "KE": ("kenya",),
        "PA": ("panama",),
    }.items()
    for alias in aliases
}
_REGION_COUNTRIES: dict[str, str] = {
    "JP": "JP",
    **{c: "APAC" for c in ("CN KR TW HK MO SG AU NZ IN TH VN MY ID PH BD PK LK MM KH LA MN "
                           "NP BN").split()},
    **{c: "NA" for c in ("US", "CA")},
    **{c: "LATAM" for c in "MX BR AR CL CO PE PA UY VE EC CR GT DO BO PY".split()},
    **{c: "EMEA" for c in ("GB IE DE FR IT ES PT NL BE LU CH AT SE NO DK FI IS PL CZ SK HU RO "
                           "BG GR HR SI RS UA RU TR IL AE SA QA KW BH OM JO EG ZA NG KE MA TN "
                           "GH EE LV LT").split()},
}
REGION_ALIASES: dict[str, str] = {
    "jp": "JP", "japan": "JP", "日本": "JP", "apac": "APAC", "asia pacific": "APAC",
    "asia": "APAC", "アジア": "APAC", "アジア太平洋": "APAC", "na": "NA", "north america": "NA",
    "北米": "NA", "emea": "EMEA", "europe": "EMEA", "欧州": "EMEA", "latam": "LATAM",
    "latin america": "LATAM", "south america": "LATAM", "中南米": "LATAM",
}

_LEAD_COLUMNS = ("lead_id", "account_id", "email", "job_title", "department", "source",
                 "created_at")
_ACCOUNT_COLUMNS = ("account_id", "domain", "industry", "employees", "annual_revenue",
                    "country", "region", "founded_year")
_ACCOUNT_FEATURES = ("industry", "employees", "employee_band", "annual_revenue",
                     "revenue_band", "country", "region")

F = FeatureDef
FIRMOGRAPHIC_FEATURES: tuple[FeatureDef, ...] = (
    F("industry", "category", "fixed", "firmographic", "industry is {value}", "業種は{value}",
      "Normalised industry label of the lead's company ('unknown' if none)."),
    F("employees", "float", "fixed", "firmographic", "company has {value} employees",
      "従業員数は{value}名", "Headcount of the company (current value)."),
    F("employee_band", "category", "fixed", "firmographic", "company size is {value} employees",
      "従業員規模は{value}名", "Headcount band: " + ", ".join(EMPLOYEE_BANDS) + "."),
    F("annual_revenue", "float", "fixed", "firmographic", "annual revenue is USD {value}",
      "年間売上は{value}米ドル", "Annual revenue in USD (current value)."),
    F("revenue_band", "category", "fixed", "firmographic", "annual revenue is {value} USD",
      "売上規模は{value}米ドル", "Revenue band in USD: " + ", ".join(REVENUE_BANDS) + "."),
    F("country", "category", "fixed", "firmographic", "company is based in {value}",
      "所在国は{value}", "ISO 3166-1 alpha-2 country code of the company."),
    F("region", "category", "fixed", "firmographic", "sales region is {value}",
      "地域は{value}", "Sales region; derived from the country when blank."),
    F("company_age_years", "float", "fixed", "firmographic", "company is {value} years old",
      "創業{value}年", "Years from founded_year to the as-of year."),
    F("source", "category", "fixed", "firmographic", "lead source is {value}",
      "リードソースは{value}", "Where the lead came from (leads.source)."),
    F("free_mail", "bool", "fixed", "firmographic", "uses a free e-mail address: {value}",
      "フリーメール利用: {value}", "E-mail domain is webmail, a mobile carrier or a consumer ISP."),
    F("email_matches_account_domain", "bool", "fixed", "firmographic",
      "e-mail domain matches the company domain: {value}",
      "メールドメインが企業ドメインと一致: {value}",
      "The lead's e-mail domain equals the account domain or is a subdomain of it."),
    F("has_account", "bool", "fixed", "firmographic", "linked to a company record: {value}",
      "企業情報あり: {value}", "The lead's account_id is found in accounts."),
    F("title_seniority", "category", "fixed", "firmographic", "job title seniority is {value}",
      "役職レベルは{value}", "Seniority parsed from the job title (features.titles)."),
    F("title_seniority_rank", "int", "fixed", "firmographic",
      "job title seniority rank is {value} of 7", "役職ランクは{value}（最大7）",
      "0 unknown, 1 individual ... 7 c_level/owner."),
    F("title_department", "category", "fixed", "firmographic", "department is {value}",
      "部門は{value}", "Department parsed from department text, else the job title."),
)
FIRMOGRAPHIC_COLUMNS: tuple[str, ...] = ("lead_id",) + tuple(f.name for f in FIRMOGRAPHIC_FEATURES)


def _clean_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return " ".join(unicodedata.normalize("NFKC", str(value)).casefold().split())


def normalize_industry(value: object) -> str:
    """Canonical lower-case industry label; unknown text kept cleaned; blanks → 'unknown'."""
    text = _clean_text(value)
    if text in _UNKNOWN_LABELS:
        return UNKNOWN
    if text in _OTHER_LABELS:
        return "other"
    text = " ".join(text.replace("_", " ").replace("-", " ").split())
    return INDUSTRY_ALIASES.get(text, text.replace(" ", "_"))


def normalize_country(value: object) -> str:
    """ISO 3166-1 alpha-2 code for a code or a known country name; blanks → 'unknown'."""
    text = _clean_text(value)
    if text in _UNKNOWN_LABELS:
        return UNKNOWN
    if len(text) == 2 and text.isascii() and text.isalpha():
        return text.upper()
    return COUNTRY_ALIASES.get(text, text.upper())


def normalize_region(value: object) -> str:
    """Upper-case sales region (JP, APAC, NA, EMEA, LATAM, or the cleaned text)."""
    text = _clean_text(value)
    if text in _UNKNOWN_LABELS - {"na"}:
        return UNKNOWN
    return REGION_ALIASES.get(text, text.upper())


def region_of_country(country: str) -> str:
    """Sales region of an ISO country code ('unknown' when not in the table)."""
    return _REGION_COUNTRIES.get(country, UNKNOWN)


def normalize_domain(value: object) -> str:
    """Lower-case host of a domain, URL or e-mail address ('' when blank)."""
    text = _clean_text(value).rstrip(".")
    text = text.split("@")[-1].removeprefix("http://").removeprefix("https://")
    return text.split("/")[0].removeprefix("www.")


def is_free_mail_domain(domain: str) -> bool:
    """True for a free-mail domain or any subdomain of one (``xx.ocn.ne.jp``)."""
    parts = domain.split(".")
    return any(".".join(parts[i:]) in FREE_MAIL_DOMAINS for i in range(len(parts) - 1))


_EMAIL_DOMAIN = r"[@＠]([^@＠]+)$"


def email_domain(email: object) -> str:
    """Normalised domain of one e-mail address ('' when missing or without '@')."""
    if email is None or email is pd.NA or (isinstance(email, float) and email != email):
        return ""
    found = re.search(_EMAIL_DOMAIN, str(email))
    return normalize_domain(found.group(1)) if found else ""


def same_company(domain: str, account_domain: str) -> bool:
    """The e-mail domain is the company's domain or a subdomain of it."""
    if not domain or not account_domain:
        return False
    return domain == account_domain or domain.endswith("." + account_domain)


def clean_or_unknown(value: object) -> str:
    """Cleaned label text; blanks and placeholders -> 'unknown'."""
    text = _clean_text(value)
    return UNKNOWN if text in _UNKNOWN_LABELS else text


# --------------------------------------------------------------------------- the kernel

ACCOUNT_COLUMNS: dict[str, ColumnKind] = {
    "domain": "value", "industry": "value", "employees": "number",
    "annual_revenue": "number", "country": "value", "region": "value", "founded_year": "number"}
LEAD_COLUMNS: dict[str, ColumnKind] = {
    "email": "value", "job_title": "value", "department": "value", "source": "value"}


def _band(values: np.ndarray, edges: tuple[float, ...], labels: tuple[str, ...]) -> np.ndarray:
    codes = np.searchsorted(np.asarray(edges), values, side="right")
    named = np.asarray(labels, dtype=object)[np.minimum(codes, len(labels) - 1)]
    return np.where(np.isnan(values), UNKNOWN, named)


def _with_unknown(values: np.ndarray, missing: object) -> np.ndarray:
    """``values`` per accounts row plus a trailing row for leads without a known account."""
    return np.append(values, np.asarray([missing], dtype=values.dtype))


def _region(country: object, region: object) -> str:
    named = normalize_region(region)
    return region_of_country(normalize_country(country)) if named == UNKNOWN else named


def _company_values(accounts: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Normalised firmographics per accounts row, plus one trailing all-unknown row."""
    employees = _with_unknown(accounts["employees"], np.nan)
    revenue = _with_unknown(accounts["annual_revenue"], np.nan)
    return {
        "industry": _with_unknown(map_distinct(normalize_industry, accounts["industry"]),
                                  normalize_industry(None)),
        "employees": employees,
        "employee_band": _band(employees, EMPLOYEE_EDGES, EMPLOYEE_BANDS),
        "annual_revenue": revenue,
        "revenue_band": _band(revenue, REVENUE_EDGES, REVENUE_BANDS),
        "country": _with_unknown(map_distinct(normalize_country, accounts["country"]),
                                 normalize_country(None)),
        "region": _with_unknown(map_distinct(_region, accounts["country"], accounts["region"]),
                                _region(None, None)),
        "founded_year": _with_unknown(accounts["founded_year"], np.nan),
        "domain": _with_unknown(map_distinct(normalize_domain, accounts["domain"]), ""),
    }


def _years(as_of: np.ndarray) -> np.ndarray:
    """Calendar year (UTC) of each µs timestamp, as float64."""
    return as_of.astype("datetime64[us]").astype("datetime64[Y]").astype(np.float64) + 1970


def _domain_flags(domain: str | None) -> bool:
    return is_free_mail_domain(domain or "")


def _matches(domain: str | None, account_domain: str | None) -> bool:
    return same_company(domain or "", account_domain or "")


def compute_firmographics(as_of: np.ndarray, lead: Mapping[str, Any],
                          accounts: Mapping[str, Any],
                          account_rows: np.ndarray) -> dict[str, np.ndarray]:
    """Firmographic and job-title features of each pair (``FIRMOGRAPHIC_FEATURES``).

    Args:
        as_of: UTC µs per pair.
        lead: ``LEAD_COLUMNS`` per pair (``features.inputs``).
        accounts: ``ACCOUNT_COLUMNS`` per accounts row.
        account_rows: each pair's row in ``accounts`` (-1: no account, or not found).

    Returns:
        Feature -> values per pair: categories as object arrays of labels, numbers and flags
        as float64. Firmographics are current values (no history, see the module docstring).
    """
    company = _company_values(accounts)
    rows = np.where(account_rows >= 0, account_rows, len(company["employees"]) - 1)
    out = {name: company[name][rows] for name in _ACCOUNT_FEATURES}
    age = _years(as_of) - company["founded_year"][rows]
    out["company_age_years"] = np.where(age >= 0, age, np.nan)
    out["source"] = map_distinct(clean_or_unknown, lead["source"])
    domains = map_distinct(email_domain, lead["email"])
    out["free_mail"] = map_distinct(_domain_flags, domains).astype(np.float64)
    out["email_matches_account_domain"] = map_distinct(
        _matches, domains, company["domain"][rows]).astype(np.float64)
    out["has_account"] = (account_rows >= 0).astype(np.float64)
    out.update(parse_title_columns(lead["job_title"], lead["department"]))
    return out


def _observed(values: np.ndarray) -> pd.Categorical:
    return pd.Categorical(values, categories=sorted(set(values) | {UNKNOWN}))


def firmographic_categoricals(out: Mapping[str, Any]) -> dict[str, Any]:
    """The batch frame's categories: bands ordered from unknown up, titles by their levels,
    other labels as observed (plus ``unknown``)."""
    bands = {"employee_band": EMPLOYEE_BANDS, "revenue_band": REVENUE_BANDS}
    typed = dict(out)
    for name in ("industry", "country", "region", "source"):
        typed[name] = _observed(out[name])
    for name, labels in bands.items():
        typed[name] = pd.Categorical(out[name], categories=[UNKNOWN, *labels], ordered=True)
    typed["title_seniority"] = pd.Categorical(out["title_seniority"], dtype=SENIORITY_DTYPE)
    typed["title_department"] = pd.Categorical(out["title_department"], dtype=DEPARTMENT_DTYPE)
    return typed


def _as_of_series(as_of: pd.Series | pd.Timestamp, index: pd.Index) -> pd.Series:
    """``as_of`` as a UTC timestamp per lead row, checked."""
    if isinstance(as_of, pd.Series):
        if not isinstance(as_of.dtype, pd.DatetimeTZDtype):
            raise ValueError(f"as_of must be timezone-aware timestamps, got dtype {as_of.dtype}")
        if not as_of.index.equals(index):
            raise ValueError("as_of must have the same index as leads")
        if as_of.isna().any():
            raise ValueError(f"as_of has {int(as_of.isna().sum())} missing value(s)")
        return as_of.dt.tz_convert("UTC")
    stamp = pd.Timestamp(as_of)
    if stamp.tzinfo is None or pd.isna(stamp):
        raise ValueError(f"as_of must be a timezone-aware timestamp, got {as_of!r}")
    return pd.Series(stamp.tz_convert("UTC"), index=index)


def build_firmographic_features(leads: pd.DataFrame, accounts: pd.DataFrame,
                                as_of: pd.Series | pd.Timestamp) -> pd.DataFrame:
    """Firmographic and job-title features for every lead row (``compute_firmographics`` on
    a leads table).

    Args:
        leads: canonical leads table (any index; one output row per input row).
        accounts: canonical accounts table; ``account_id`` must be unique.
        as_of: the scoring time, one timezone-aware timestamp or a Series on ``leads.index``.

    Returns:
        Frame on ``leads.index`` with ``FIRMOGRAPHIC_COLUMNS`` (lead_id first).
    """
    require_columns({"leads": leads, "accounts": accounts},
                    {"leads": _LEAD_COLUMNS, "accounts": _ACCOUNT_COLUMNS})
    stamps = _as_of_series(as_of, leads.index)
    rows = np.arange(len(leads))
    out = firmographic_categoricals(compute_firmographics(
        timestamps_to_us(stamps, "as_of"), read_columns(leads, rows, LEAD_COLUMNS),
        read_columns(accounts, np.arange(len(accounts)), ACCOUNT_COLUMNS, "accounts"),
        account_positions(leads["account_id"], accounts["account_id"])))
    flags = ("free_mail", "email_matches_account_domain", "has_account")
    out.update({name: out[name].astype(bool) for name in flags})
    out["title_seniority_rank"] = out["title_seniority_rank"].astype(np.int64)
    frame = pd.DataFrame({name: out[name] for name in FIRMOGRAPHIC_COLUMNS[1:]},
                         index=leads.index)
    frame.insert(0, "lead_id", leads["lead_id"])
    return frame
