"""Job-title parsing: seniority and department for English and Japanese titles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.titles import (
    DEPARTMENTS,
    SENIORITY_LEVELS,
    SENIORITY_RANK,
    ParsedTitle,
    normalize_title,
    parse_title,
    parse_titles,
)

# (title, department text, expected seniority, expected department)
JAPANESE_TITLES = [
    ("代表取締役社長", None, "c_level", "executive"),
    ("代表取締役", None, "c_level", "executive"),
    ("代表", None, "c_level", "executive"),
    ("ＣＥＯ", None, "c_level", "executive"),
    ("ＣＦＯ", None, "c_level", "finance"),
    ("会長", None, "c_level", "executive"),
    ("取締役会長", None, "c_level", "executive"),
    ("常務取締役", None, "c_level", "executive"),
    ("取締役 営業本部長", None, "c_level", "sales"),
    ("取締役兼CTO", None, "c_level", "engineering"),
    ("執行役員", None, "vp", "executive"),
    ("執行役員　マーケティング本部長", None, "vp", "marketing"),
    ("営業本部長", None, "vp", "sales"),
    ("第一事業部 事業部長", None, "vp", "other"),
    ("営業部　部長", None, "director", "sales"),  # ideographic space
    ("財務部長", None, "director", "finance"),
    ("部長", "管理部", "director", "operations"),
    ("経営企画部 部長", None, "director", "executive"),
    ("情報システム部 次長", None, "director", "it"),
    ("社長室 室長", None, "director", "executive"),
    ("第二工場 工場長", None, "director", "other"),
    ("経理部 課長", None, "manager", "finance"),
    ("課長", "ＩＴ推進室", "manager", "it"),
    ("販売促進課 課長", None, "manager", "marketing"),
    ("事業開発部 マネジャー", None, "manager", "sales"),
    ("ﾏｰｹﾃｨﾝｸﾞ部 ﾏﾈｰｼﾞｬｰ", None, "manager", "marketing"),  # half-width katakana
    ("人事部 課長代理", None, "lead", "hr"),
    ("総務課 係長", None, "lead", "operations"),
    ("アシスタントマネージャー", "営業部", "lead", "sales"),
    ("インサイドセールス リーダー", None, "lead", "sales"),
    ("ｶｽﾀﾏｰｻｸｾｽ ﾘｰﾀﾞｰ", None, "lead", "sales"),
    ("開発部 主任", None, "senior_individual", "engineering"),
    ("主任研究員", None, "senior_individual", "engineering"),
    ("プロダクトマネージャー", None, "senior_individual", "engineering"),
    ("ｴﾝｼﾞﾆｱ", None, "individual", "engineering"),
    ("ｼｽﾃﾑ開発部 ｴﾝｼﾞﾆｱ", None, "individual", "engineering"),
    ("営業担当", None, "individual", "sales"),
    ("情シス担当", None, "individual", "it"),
    ("人材開発部 担当", None, "individual", "hr"),
    ("パートナー営業部 担当", None, "individual", "sales"),  # パートナー is not パート(-time)
    ("一般", None, "individual", "other"),
    ("スタッフ", "人事部", "individual", "hr"),
    ("社長秘書", None, "individual", "other"),  # 社長 names the boss, not the lead
]

ENGLISH_TITLES = [
    ("CEO & Founder", None, "c_level", "executive"),
    ("Co-Founder", None, "c_level", "executive"),
    ("Owner", None, "c_level", "executive"),
    ("President", None, "c_level", "executive"),
    ("Managing Director", None, "c_level", "executive"),
    ("Chief Revenue Officer", None, "c_level", "sales"),
    ("Chief Information Officer", None, "c_level", "it"),
    ("Chief Financial Officer", None, "c_level", "finance"),
    ("VP of Sales", None, "vp", "sales"),
    ("Vice President, Marketing", None, "vp", "marketing"),
    ("Vice-President", None, "vp", "other"),
    ("SVP Engineering", None, "vp", "engineering"),
    ("Assistant Vice President, Finance", None, "director", "finance"),
    ("Head of IT", None, "director", "it"),
    ("Director of Marketing", None, "director", "marketing"),
    ("Director, Product Marketing", None, "director", "marketing"),
    ("Chief of Staff", None, "director", "executive"),
    ("Sales Manager", None, "manager", "sales"),
    ("IT Manager", None, "manager", "it"),
    ("Engineering Manager", None, "manager", "engineering"),
    ("Purchasing Manager", None, "manager", "operations"),
    ("General Manager", None, "manager", "other"),
    ("  senior   MARKETING manager ", None, "manager", "marketing"),
    ("Associate Director, Finance", None, "manager", "finance"),
    ("Assistant Manager", "Operations", "lead", "operations"),
    ("Team Lead, Customer Support", None, "lead", "operations"),
    ("Supervisor", "Logistics", "lead", "operations"),
    ("Account Manager", None, "senior_individual", "sales"),
    ("Product Manager", None, "senior_individual", "engineering"),
    ("Product Owner", None, "senior_individual", "engineering"),
    ("Art Director", None, "senior_individual", "other"),
    ("Senior Software Engineer", None, "senior_individual", "engineering"),
    ("Sr. Analyst", None, "senior_individual", "other"),
    ("Staff Engineer", None, "senior_individual", "engineering"),
    ("Software Engineer", None, "individual", "engineering"),
    ("Marketing Specialist", None, "individual", "marketing"),
    ("Lead Generation Specialist", None, "individual", "marketing"),
    ("Account Executive", None, "individual", "sales"),
    ("Business Development Representative", None, "individual", "sales"),
    ("Executive Assistant to the CEO", None, "individual", "other"),
    ("HR Coordinator", None, "individual", "hr"),
    ("Financial Analyst", None, "individual", "finance"),
    ("Staff Accountant", None, "individual", "finance"),
    ("Recruiter", None, "individual", "hr"),
    ("Intern", None, "individual", "other"),
]

ALL_TITLES = JAPANESE_TITLES + ENGLISH_TITLES


def test_table_is_big_enough():
    assert len(JAPANESE_TITLES) >= 25 and len(ENGLISH_TITLES) >= 25


@pytest.mark.parametrize(("title", "department", "seniority", "dept"), ALL_TITLES)
def test_parse_title(title, department, seniority, dept):
    parsed = parse_title(title, department)
    assert (parsed.seniority, parsed.department) == (seniority, dept)
    assert parsed.seniority_rank == SENIORITY_RANK[seniority]


@pytest.mark.parametrize("blank", [None, "", "   ", "\u3000", float("nan"), pd.NA])
def test_blank_title_is_unknown(blank):
    assert parse_title(blank) == ParsedTitle("unknown", 0, "unknown")


def test_unrecognised_text_has_unknown_level_and_other_department():
    assert parse_title("Ninja") == ParsedTitle("unknown", 0, "other")


@pytest.mark.parametrize(("variant", "plain"), [
    ("ＣＥＯ", "CEO"),
    ("ｴﾝｼﾞﾆｱ", "エンジニア"),
    ("営業部　部長", "営業部 部長"),
    ("ﾏﾈｰｼﾞｬｰ", "マネージャー"),
    ("Ｓａｌｅｓ　Ｍａｎａｇｅｒ", "sales manager"),
    ("マネ－ジャー", "マネージャー"),  # full-width hyphen-minus for the long vowel mark
])
def test_width_and_case_variants_normalise_alike(variant, plain):
    assert normalize_title(variant) == normalize_title(plain)
    assert parse_title(variant) == parse_title(plain)


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "-", "不明", "Select"])
def test_placeholder_department_is_blank(placeholder):
    assert parse_title(None, placeholder) == ParsedTitle("unknown", 0, "unknown")
    assert parse_title("部長", placeholder) == ParsedTitle("director", 5, "other")
    assert parse_title("Sales Manager", placeholder).department == "sales"


def test_department_text_wins_over_title_and_title_fills_gaps():
    assert parse_title("Marketing Manager", "営業部").department == "sales"
    assert parse_title("営業部長", "本社").department == "sales"
    assert parse_title("部長", "本社").department == "other"


def test_ranks_follow_level_order():
    assert [SENIORITY_RANK[level] for level in SENIORITY_LEVELS] == list(range(8))
    assert SENIORITY_RANK["c_level"] == 7 and SENIORITY_RANK["unknown"] == 0


def test_parse_titles_matches_parse_title_row_by_row():
    titles = pd.Series(["部長", None, "CEO", "部長", "Sales Manager", "ｴﾝｼﾞﾆｱ", "部長"],
                       index=[10, 11, 12, 13, 14, 15, 16], dtype="str")
    departments = pd.Series(["営業部", "人事部", None, "経理部", None, None, "営業部"],
                            index=titles.index, dtype="str")
    parsed = parse_titles(titles, departments)
    expected = [parse_title(t, d) for t, d in zip(titles.tolist(), departments.tolist())]
    assert parsed.index.equals(titles.index)
    assert list(parsed.columns) == ["title_seniority", "title_seniority_rank", "title_department"]
    assert parsed["title_seniority"].tolist() == [e.seniority for e in expected]
    assert parsed["title_seniority_rank"].tolist() == [e.seniority_rank for e in expected]
    assert parsed["title_department"].tolist() == [e.department for e in expected]
    assert parsed.loc[13, "title_department"] == "finance"  # same title, other department


def test_parse_titles_dtypes_use_fixed_categories():
    parsed = parse_titles(pd.Series(["CEO", None]))
    assert list(parsed["title_seniority"].cat.categories) == list(SENIORITY_LEVELS)
    assert parsed["title_seniority"].cat.ordered
    assert list(parsed["title_department"].cat.categories) == list(DEPARTMENTS)
    assert parsed["title_seniority_rank"].dtype == np.int64
    assert parsed.iloc[1].tolist() == ["unknown", 0, "unknown"]


def test_parse_titles_without_departments_and_empty_input():
    assert parse_titles(pd.Series(["VP Sales"]))["title_department"].tolist() == ["sales"]
    empty = parse_titles(pd.Series([], dtype="str"))
    assert len(empty) == 0 and list(empty.columns)[0] == "title_seniority"


def test_parse_titles_rejects_misaligned_departments():
    titles = pd.Series(["CEO", "CTO"], index=[0, 1])
    with pytest.raises(ValueError, match="departments must have the same index as titles"):
        parse_titles(titles, pd.Series(["営業部", "開発部"], index=[5, 6]))
