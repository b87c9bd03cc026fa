"""Firmographic features: bands, free mail, company age, industry labels, row alignment."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.firmographic import (
    EMPLOYEE_BANDS,
    FIRMOGRAPHIC_COLUMNS,
    FIRMOGRAPHIC_FEATURES,
    build_firmographic_features,
    is_free_mail_domain,
    normalize_country,
    normalize_industry,
)
from features.registry import FeatureRegistry
from crm import schema

AS_OF = pd.Timestamp("2024-04-01", tz="UTC")


def make_accounts(**columns) -> pd.DataFrame:
    base = {"account_id": ["A1", "A2", "A3"], "name": ["Alpha", "Beta", "Gamma"],
            "domain": ["alpha.co.jp", "www.Beta.com", None],
            "industry": ["ソフトウェア", "technolgy", None],
            "employees": [250, None, 12000], "annual_revenue": [2e7, None, 5e9],
            "country": ["JP", "Philipines", "US"], "region": [None, None, "NA"],
            "founded_year": [2000, 2030, None]}
    frame, problems = schema.coerce_table("accounts", pd.DataFrame({**base, **columns}))
    assert problems.empty
    return frame


def make_leads(n: int = 4, **columns) -> pd.DataFrame:
    base = {"lead_id": [f"L{i}" for i in range(n)],
            "account_id": (["A1", "A2", "ZZ", None] * n)[:n],
            "email": (["taro@sales.alpha.co.jp", "x@GMAIL.com", None, "no-at-sign"] * n)[:n],
            "job_title": (["営業部　部長", "ｴﾝｼﾞﾆｱ", None, "CEO"] * n)[:n],
            "department": ([None, "情報システム部", None, None] * n)[:n],
            "source": (["webinar", "inbound_form", "referral", "other"] * n)[:n],
            "created_at": (["2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"] * n)[:n],
            "status": ["new"] * n}
    frame, problems = schema.coerce_table("leads", pd.DataFrame({**base, **columns}))
    assert problems.empty
    return frame


def one_account_row(**account) -> pd.DataFrame:
    """Features of a single lead at a single account with the given account values."""
    accounts = make_accounts(**{k: [v, None, None] for k, v in account.items()})
    leads = make_leads(1)
    return build_firmographic_features(leads, accounts, AS_OF)


@pytest.mark.parametrize(("employees", "band"), [
    (0, "<10"), (9, "<10"), (10, "10-49"), (99, "50-99"), (100, "100-299"),
    (999, "300-999"), (1000, "1000-4999"), (4999, "1000-4999"), (5000, "5000+"),
    (250_000, "5000+"), (None, "unknown"),
])
def test_employee_band(employees, band):
    assert one_account_row(employees=employees)["employee_band"].iloc[0] == band


@pytest.mark.parametrize(("revenue", "band"), [
    (0.0, "<1M"), (999_999.0, "<1M"), (1e6, "1M-10M"), (4.9e7, "10M-50M"), (1e8, "100M-500M"),
    (1e9, "1B+"), (None, "unknown"),
])
def test_revenue_band(revenue, band):
    assert one_account_row(annual_revenue=revenue)["revenue_band"].iloc[0] == band


def test_bands_are_ordered_categories():
    out = one_account_row(employees=500)
    assert out["employee_band"].cat.ordered
    assert list(out["employee_band"].cat.categories) == ["unknown", *EMPLOYEE_BANDS]


@pytest.mark.parametrize(("email", "free"), [
    ("a@gmail.com", True), ("a@YAHOO.CO.JP", True), ("a@docomo.ne.jp", True),
    ("a@outlook.com", True), ("a@hotmail.com", True), ("a@icloud.com", True),
    ("a@ab.ocn.ne.jp", True),  # subdomain of a consumer ISP
    (" a@ezweb.ne.jp ", True), ("a＠gmail.com", True),  # full-width at sign
    ("a@alpha.co.jp", False), ("a@notgmail.com", False), ("a@gmail.com.evil.jp", False),
    (None, False), ("not an email", False),
])
def test_free_mail(email, free):
    leads = make_leads(1, email=[email])
    out = build_firmographic_features(leads, make_accounts(), AS_OF)
    assert out["free_mail"].tolist() == [free]
    assert out["free_mail"].dtype == bool


def test_free_mail_domain_helper():
    assert is_free_mail_domain("yahoo.co.jp") and not is_free_mail_domain("co.jp")


def test_email_domain_matches_account_domain():
    out = build_firmographic_features(make_leads(4), make_accounts(), AS_OF)
    # L0 uses a subdomain of alpha.co.jp; L1 is gmail at Beta; L2/L3 have no account
    assert out["email_matches_account_domain"].tolist() == [True, False, False, False]


@pytest.mark.parametrize(("founded", "as_of", "age"), [
    (2000, "2024-04-01", 24.0), (2000, "2000-12-31", 0.0), (2024, "2024-01-01", 0.0),
    (2030, "2024-04-01", None),  # founded after as_of: not a real age
    (None, "2024-04-01", None),
])
def test_company_age_as_of(founded, as_of, age):
    accounts = make_accounts(founded_year=[founded, None, None])
    out = build_firmographic_features(make_leads(1), accounts, pd.Timestamp(as_of, tz="UTC"))
    value = out["company_age_years"].iloc[0]
    assert (math.isnan(value) if age is None else value == age)


def test_company_age_with_per_row_as_of():
    leads = make_leads(2, account_id=["A1", "A1"])
    as_of = pd.Series(pd.to_datetime(["2010-06-01", "2020-06-01"], utc=True), index=leads.index)
    out = build_firmographic_features(leads, make_accounts(), as_of)
    assert out["company_age_years"].tolist() == [10.0, 20.0]


@pytest.mark.parametrize(("raw", "label"), [
    (None, "unknown"), ("", "unknown"), ("Select", "unknown"), ("不明", "unknown"),
    ("  N/A ", "unknown"), ("technolgy", "technology"), ("ソフトウェア", "software"),
    ("ＳａａＳ", "software"), ("製造業", "manufacturing"), ("Financial Services", "finance"),
    ("その他", "other"), ("Space  Mining", "space_mining"),
    ("professional_services", "professional_services"), ("Public-Sector", "public_sector"),
])
def test_industry_normalisation(raw, label):
    assert normalize_industry(raw) == label
    assert one_account_row(industry=raw)["industry"].iloc[0] == label


def test_unknown_industry_is_a_category_level():
    out = build_firmographic_features(make_leads(4), make_accounts(), AS_OF)
    assert out["industry"].tolist() == ["software", "technology", "unknown", "unknown"]
    assert "unknown" in out["industry"].cat.categories


@pytest.mark.parametrize(("country", "region", "want_country", "want_region"), [
    ("JP", None, "JP", "JP"), ("Japan", None, "JP", "JP"), ("日本", None, "JP", "JP"),
    ("Philipines", None, "PH", "APAC"), ("us", None, "US", "NA"), ("DE", None, "DE", "EMEA"),
    ("US", "apac", "US", "APAC"),  # a stated region wins over the derived one
    (None, None, "unknown", "unknown"), ("Atlantis", None, "ATLANTIS", "unknown"),
])
def test_country_and_region(country, region, want_country, want_region):
    out = one_account_row(country=country, region=region)
    assert (out["country"].iloc[0], out["region"].iloc[0]) == (want_country, want_region)
    assert normalize_country(country) == want_country


def test_output_rows_align_with_input():
    leads = make_leads(8).sample(frac=1.0, random_state=3)
    leads.index = [100 + 7 * i for i in range(len(leads))]
    out = build_firmographic_features(leads, make_accounts(), AS_OF)
    assert out.index.equals(leads.index)
    assert out["lead_id"].tolist() == leads["lead_id"].tolist()
    assert list(out.columns) == list(FIRMOGRAPHIC_COLUMNS)
    by_account = dict(zip(leads["account_id"].fillna("-"), out["has_account"]))
    assert by_account == {"A1": True, "A2": True, "ZZ": False, "-": False}
    alpha = out[leads["account_id"].eq("A1").fillna(False).to_numpy()]
    assert (alpha["industry"] == "software").all() and (alpha["employees"] == 250).all()


def test_titles_and_source_columns():
    out = build_firmographic_features(make_leads(4), make_accounts(), AS_OF)
    assert out["title_seniority"].tolist() == ["director", "individual", "unknown", "c_level"]
    assert out["title_seniority_rank"].tolist() == [5, 1, 0, 7]
    assert out["title_department"].tolist() == ["sales", "it", "unknown", "executive"]
    assert out["source"].tolist() == ["webinar", "inbound_form", "referral", "other"]


def test_feature_definitions_cover_output():
    registry = FeatureRegistry(FIRMOGRAPHIC_FEATURES)
    assert registry.names == list(FIRMOGRAPHIC_COLUMNS[1:])
    assert {d.group for d in registry} == {"firmographic"}
    assert [d.name for d in registry if d.kind != "fixed"] == []
    assert registry["title_seniority"].phrase("manager", "ja") == "役職レベルはmanager"
    out = build_firmographic_features(make_leads(4), make_accounts(), AS_OF)
    for name in registry.categorical():
        assert isinstance(out[name].dtype, pd.CategoricalDtype), name


@pytest.mark.parametrize(("call", "message"), [
    (lambda L, A: build_firmographic_features(L.drop(columns="email"), A, AS_OF),
     "leads is missing column\\(s\\) email"),
    (lambda L, A: build_firmographic_features(L, A.drop(columns=["region", "domain"]), AS_OF),
     "accounts is missing column\\(s\\) domain, region"),
    (lambda L, A: build_firmographic_features(L, pd.concat([A, A.iloc[[0]]]), AS_OF),
     "accounts.account_id has duplicate values: A1"),
    (lambda L, A: build_firmographic_features(L, A, pd.Timestamp("2024-04-01")),
     "as_of must be a timezone-aware timestamp"),
    (lambda L, A: build_firmographic_features(
        L, A, pd.Series(AS_OF, index=L.index + 1)), "as_of must have the same index as leads"),
    (lambda L, A: build_firmographic_features(
        L, A, pd.Series(pd.NaT, index=L.index, dtype=schema.TIMESTAMP_DTYPE)),
     "as_of has 4 missing value"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(make_leads(4), make_accounts())
