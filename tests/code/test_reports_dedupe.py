"""名寄せ on hand-made records: name, e-mail and phone variants that must match, near misses
that must not, and the numbers of the result."""

from __future__ import annotations

import pandas as pd
import pytest

from crm.schema import coerce_rows
from reports.dedupe import (
    candidate_pairs,
    evaluate_duplicates,
    find_duplicate_accounts,
    find_duplicate_leads,
)
from reports.names import (
    name_tokens,
    normalize_company_name,
    normalize_phone,
    shared_person_keys,
)


@pytest.mark.parametrize("variant", [
    "株式会社サンプル", "(株)サンプル", "㈱サンプル", "（株）ｻﾝﾌﾟﾙ", "サンプル株式会社",
    "サンプル　(株)", "さんぷる株式会社", "有限会社サンプル",
])
def test_japanese_company_name_variants_normalise_alike(variant):
    assert normalize_company_name(variant) == normalize_company_name("株式会社サンプル")


@pytest.mark.parametrize("variant", [
    "Bluepeak Analytics Inc.", "BLUEPEAK ANALYTICS, INC", "Ｂｌｕｅｐｅａｋ　Ａｎａｌｙｔｉｃｓ",
    "Bluepeak Analytics Co., Ltd.", "bluepeak-analytics corporation",
])
def test_english_company_name_variants_normalise_alike(variant):
    assert normalize_company_name(variant) == "bluepeakanalytics"


@pytest.mark.parametrize("a, b", [
    ("株式会社サンプル", "株式会社サンプル技研"), ("東洋精機株式会社", "東洋精工株式会社"),
    ("Bluepeak Analytics Inc.", "Bluepeak Capital Inc."),
])
def test_near_miss_company_names_stay_apart(a, b):
    assert normalize_company_name(a) != normalize_company_name(b)


@pytest.mark.parametrize("name, tokens", [
    ("ｵｶﾀﾞ ﾖｳｺ", ("okada", "yoko")), ("オカダ ヨウコ", ("okada", "yoko")),
    ("Yoko Okada", ("yoko", "okada")), ("Baker, Andrew", ("baker", "andrew")),
    ("Ｔｈｏｍａｓ　Ｊｏｎｅｓ", ("thomas", "jones")), ("岡田 陽子", ()), (None, ()),
])
def test_person_names_are_romanised(name, tokens):
    assert name_tokens(name) == tokens


def test_initials_only_bridge_to_a_single_token_address():
    assert shared_person_keys(("okada", "yoko"), ("yokada",))
    assert not shared_person_keys(("sarah", "singh"), ("sophie", "singh"))


@pytest.mark.parametrize("phone", ["+81 3-1234-5678", "03-1234-5678", "(03) 1234 5678",
                                   "０３－１２３４－５６７８", "+81 (0)3 1234 5678"])
def test_phone_numbers_normalise_to_national_digits(phone):
    assert normalize_phone(phone) == "0312345678"


def _leads(rows: list[tuple]) -> pd.DataFrame:
    keys = ("lead_id", "name", "email", "account_id", "attributes")
    records = [{**dict(zip(keys, row)), "source": "webinar", "status": "new",
                "created_at": f"2026-01-{i + 1:02d}T00:00:00Z"} for i, row in enumerate(rows)]
    return coerce_rows("leads", records)


LEADS = [
    ("L01", "岡田 陽子", "yokada@arc.co.jp", "A1", None),
    ("L02", "ｵｶﾀﾞ ﾖｳｺ", "yoko.okada55@yahoo.co.jp", "A1", None),     # kana + free-mail
    ("L03", "Yoko Okada", None, "A1", None),                          # romaji, no e-mail
    ("L04", "岡田　陽子", "YOKADA@arc.co.jp", "A1", None),              # spacing, capitals
    ("L05", "Yuki Okada", "yokada2@arc.co.jp", "A1", None),           # colleague: near miss
    ("L06", "佐藤 健", "ken.sato@foo.co.jp", "A2", '{"phone": "+81 3-1234-5678"}'),
    ("L07", "S. Kenji", None, "A2", '{"phone": "03-1234-5678"}'),      # same phone
    ("L08", "Sarah Singh", "sarah.singh79@icloud.com", "A4", None),
    ("L09", "Sophie Singh", "sophie_singh@acme.com", "A4", None),      # near miss
    ("L10", "佐藤 健", "ken.sato@bar.co.jp", "A5", None),               # namesake elsewhere
]


@pytest.fixture
def result():
    return find_duplicate_leads(_leads(LEADS))


def test_variants_of_one_person_form_one_cluster(result):
    clusters = result.clusters.set_index("id")["cluster"]
    assert set(clusters[clusters == "L01"].index) == {"L01", "L02", "L03", "L04"}
    assert clusters.get("L07") == "L06"
    assert {"L05", "L08", "L09", "L10"}.isdisjoint(clusters.index)


def test_duplicate_rate_and_merge_file(result):
    assert result.duplicate_rate == pytest.approx(4 / 10)  # L02, L03, L04, L07 merge away
    assert not result.meets_target
    merges = result.merge_suggestions()
    assert merges["merge_id"].tolist() == ["L02", "L03", "L04", "L07"]
    assert (merges["keep_id"] == ["L01", "L01", "L01", "L06"]).all()
    assert merges.loc[merges["merge_id"] == "L04", "reasons"].item().startswith("same e-mail")
    assert "same phone" in merges.loc[merges["merge_id"] == "L07", "reasons"].item()
    assert (merges["score"] >= result.threshold).all()


def test_evaluation_counts_pairs_within_clusters(result):
    truth = {"L02": "L01", "L03": "L01", "L04": "L01", "L07": "L06", "L09": "L08"}
    quality = evaluate_duplicates(result, truth)
    assert quality.true_pairs == 6 + 1 + 1       # C(4, 2) + L06-L07 + L08-L09
    assert quality.found_pairs == 7
    assert quality.precision == pytest.approx(1.0)
    assert quality.recall == pytest.approx(7 / 8)


def test_blocks_larger_than_max_block_are_skipped():
    keys = pd.DataFrame({"row": [0, 1, 2, 3, 0, 1], "key": ["a", "a", "a", "a", "b", "b"]})
    assert candidate_pairs(keys, max_block=3).tolist() == [[0, 1]]
    assert len(candidate_pairs(keys, max_block=4)) == 6


def test_account_variants_match_and_other_domains_do_not():
    accounts = coerce_rows("accounts", [
        {"account_id": "A1", "name": "株式会社サンプル", "domain": "sample.co.jp", "country": "JP"},
        {"account_id": "A2", "name": "㈱ｻﾝﾌﾟﾙ", "country": "JP"},
        {"account_id": "A3", "name": "サンプル技研株式会社", "country": "JP"},
        {"account_id": "A4", "name": "Bluepeak Inc.", "domain": "bluepeak.com", "country": "US"},
        {"account_id": "A5", "name": "BLUEPEAK, INC", "domain": "bluepeak.de", "country": "DE"},
        {"account_id": "A6", "name": "Sample Corp", "domain": "sample.co.jp", "country": "JP"},
    ])
    found = find_duplicate_accounts(accounts)
    assert found.clusters.set_index("id")["cluster"].to_dict() == {"A1": "A1", "A2": "A1",
                                                                   "A6": "A1"}
    leads = _leads([("L1", "X", "x@other.co.jp", "A2", None)])
    apart = find_duplicate_accounts(accounts, leads)  # A2's staff write from another domain
    assert "A2" not in set(apart.clusters["id"])


@pytest.mark.parametrize("threshold", [0, 1.5])
def test_threshold_out_of_range_is_named(threshold):
    with pytest.raises(ValueError, match="threshold must be in"):
        find_duplicate_leads(_leads(LEADS), threshold=threshold)


def test_missing_lead_columns_are_named():
    with pytest.raises(ValueError, match=r"leads is missing column\(s\) email"):
        find_duplicate_leads(_leads(LEADS).drop(columns="email"))
