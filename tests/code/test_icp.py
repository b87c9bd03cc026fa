"""Declarative ICP: config validation, scoring, tiers and the conversion report."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.icp import (
    ICP_FEATURES,
    IcpConfig,
    icp_conversion_report,
    load_icp,
    parse_icp,
    score_icp,
)
from features.titles import SENIORITY_RANK

REPO_ROOT = Path(__file__).resolve().parents[2]

CRITERIA = [
    {"field": "industry", "rule": "in", "values": ["software", "manufacturing", "finance"],
     "weight": 30},
    {"field": "employees", "rule": "range", "min": 100, "max": 5000, "weight": 25},
    {"field": "region", "rule": "in", "values": ["JP", "APAC"], "weight": 25},
    {"field": "title_seniority", "rule": "min_rank", "level": "manager", "weight": 20},
]


def make_icp(**overrides) -> IcpConfig:
    return parse_icp({"criteria": CRITERIA, **overrides})


def firmographics() -> pd.DataFrame:
    """Rows with hand-computed scores under CRITERIA (weights 30/25/25/20)."""
    return pd.DataFrame({
        "industry": ["software", "Manufacturing", "retail", None, "金融", "software",
                     "finance", "software"],
        "employees": [500, 50, 5000, None, 100, 5001, 20, 500],
        "region": ["JP", "APAC", "NA", None, "日本", "JP", "JP", "NA"],
        "title_seniority": pd.Categorical(["manager", "director", "individual", "unknown",
                                           "lead", "c_level", "individual", "manager"]),
    }, index=[f"L{i}" for i in range(8)])


EXPECTED_SCORES = [100.0, 75.0, 25.0, 0.0, 80.0, 75.0, 55.0, 75.0]
EXPECTED_TIERS = ["A", "B", "D", "D", "B", "B", "C", "B"]


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "icp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- load_icp / parse_icp errors -------------------------------------------------------------

@pytest.mark.parametrize(("criterion", "message"), [
    ({"field": "employes", "rule": "range", "min": 1, "weight": 1},
     "criteria.0.field: unknown field 'employes'; known fields: "),
    ({"field": "employees", "rule": "range", "min": 1, "weight": -5},
     "criteria.0.weight: weight must be a finite number >= 0, got -5"),
    ({"field": "employees", "rule": "range", "min": 5000, "max": 100, "weight": 1},
     "criteria.0: range min 5000 is greater than max 100"),
    ({"field": "employees", "rule": "range", "weight": 1},
     "criteria.0: rule range needs 'min', 'max' or both"),
    ({"field": "employees", "rule": "range", "min": 1, "weigth": 1},
     "criteria.0.weigth: Extra inputs are not permitted"),
    ({"field": "industry", "rule": "range", "min": 1, "weight": 1},
     "criteria.0: rule range needs a numeric field, 'industry' is not one"),
    ({"field": "employees", "rule": "in", "values": ["1"], "weight": 1},
     "criteria.0: rule in needs a category field, 'employees' is not one"),
    ({"field": "industry", "rule": "in", "values": [], "weight": 1},
     "criteria.0: rule in needs a non-empty 'values' list"),
    ({"field": "title_seniority", "rule": "min_rank", "level": "boss", "weight": 1},
     "criteria.0: level must be one of individual, senior_individual, lead, manager"),
    ({"field": "region", "rule": "min_rank", "level": "manager", "weight": 1},
     "criteria.0: rule min_rank needs field title_seniority, got 'region'"),
    ({"field": "industry", "rule": "equals", "values": ["x"], "weight": 1},
     "criteria.0.rule: Input should be 'in', 'not_in', 'range' or 'min_rank'"),
    ({"field": "industry", "rule": "in", "values": ["x"], "weight": 1, "missing_credit": 2},
     "criteria.0.missing_credit: missing_credit must be between 0 and 1, got 2"),
])
def test_load_icp_rejects_bad_criteria(tmp_path, criterion, message):
    path = write_yaml(tmp_path, yaml.safe_dump({"criteria": [criterion]}))
    with pytest.raises(ValueError) as err:
        load_icp(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


@pytest.mark.parametrize(("extra", "message"), [
    ({"fit_threshold": 120}, "fit_threshold: fit_threshold must be between 0 and 100, got 120"),
    ({"tiers": {"A": 50, "B": 60, "C": 10}},
     "tiers: tier cut points must fall A > B > C, got A=50, B=60, C=10"),
    ({"tiers": {"A": 150, "B": 60, "C": 10}},
     "tiers: tier A cut point must be between 0 and 100, got 150"),
    ({"tiers": {"A": 90, "B": 70, "C": 40, "D": 0}}, "tiers.D: Extra inputs are not permitted"),
    ({"criteria": []}, "criteria: List should have at least 1 item"),
    ({"criteria": [{**CRITERIA[0], "weight": 0}]},
     "<top level>: criteria weights must not all be 0"),
    ({"treshold": 50}, "treshold: Extra inputs are not permitted"),
])
def test_parse_icp_rejects_bad_settings(extra, message):
    with pytest.raises(ValueError, match="^my.yaml: ") as err:
        parse_icp({"criteria": CRITERIA, **extra}, source="my.yaml")
    assert message in str(err.value)


def test_load_icp_file_problems(tmp_path):
    with pytest.raises(FileNotFoundError, match="ICP config .*nope.yaml does not exist"):
        load_icp(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_icp(write_yaml(tmp_path, "criteria: [\n"))
    with pytest.raises(ValueError, match="expected a mapping at the top level, got list"):
        load_icp(write_yaml(tmp_path, "- 1\n- 2\n"))


def test_shipped_config_loads():
    icp = load_icp(REPO_ROOT / "config" / "icp.yaml")
    assert [c.field for c in icp.criteria] == ["industry", "employees", "region",
                                               "title_seniority"]
    assert icp.fit_threshold == 100
    assert IcpConfig.model_validate(icp.model_dump()) == icp  # travels as plain data


def test_shipped_config_reproduces_ground_truth_rule():
    """The generator's rule: target industry, 100-5000 staff, JP/APAC, manager or above."""
    grid = list(itertools.product(
        ["software", "manufacturing", "finance", "retail", None],
        [50, 100, 3000, 5000, 5001, None],
        ["JP", "APAC", "NA", "EMEA", None],
        ["individual", "lead", "manager", "director", "c_level", "unknown"]))
    frame = pd.DataFrame(grid, columns=["industry", "employees", "region", "title_seniority"])
    truth = (frame["industry"].isin(["software", "manufacturing", "finance"])
             & frame["employees"].between(100, 5000)
             & frame["region"].isin(["JP", "APAC"])
             & frame["title_seniority"].map(SENIORITY_RANK).ge(SENIORITY_RANK["manager"]))
    scored = score_icp(frame, load_icp(REPO_ROOT / "config" / "icp.yaml"))
    assert scored["icp_fit"].tolist() == truth.tolist()
    assert truth.any() and not truth.all()


# --- score_icp --------------------------------------------------------------------------------

def test_score_icp_hand_computed():
    scored = score_icp(firmographics(), make_icp())
    assert list(scored.columns) == [f.name for f in ICP_FEATURES]
    assert scored.index.equals(firmographics().index)
    assert scored["icp_score"].tolist() == pytest.approx(EXPECTED_SCORES)
    assert scored["icp_tier"].astype(str).tolist() == EXPECTED_TIERS
    assert scored["icp_fit"].tolist() == [s == 100 for s in EXPECTED_SCORES]


def test_tier_cut_points_are_inclusive():
    icp = make_icp(tiers={"A": 100, "B": 75, "C": 55})
    tiers = score_icp(firmographics(), icp)["icp_tier"].astype(str).tolist()
    assert tiers == ["A", "B", "D", "D", "B", "B", "C", "B"]


def test_fit_threshold_and_required_criteria():
    lenient = score_icp(firmographics(), make_icp(fit_threshold=75))
    assert lenient["icp_fit"].tolist() == [s >= 75 for s in EXPECTED_SCORES]
    criteria = [dict(c) for c in CRITERIA]
    criteria[2]["required"] = True  # region is a knock-out
    strict = score_icp(firmographics(), parse_icp({"criteria": criteria, "fit_threshold": 75}))
    # L7 scores 75 but is in NA, so the required region criterion makes it a non-fit
    assert strict["icp_fit"].tolist() == [True, True, False, False, True, True, False, False]


def test_missing_credit_and_not_in():
    icp = parse_icp({"criteria": [
        {"field": "industry", "rule": "not_in", "values": ["Retail"], "weight": 1},
        {"field": "employees", "rule": "range", "min": 100, "weight": 1, "missing_credit": 0.5},
    ]})
    frame = pd.DataFrame({"industry": ["retail", "software", None],
                          "employees": [50, None, 1000]})
    assert score_icp(frame, icp)["icp_score"].tolist() == pytest.approx([0.0, 75.0, 50.0])


def test_min_rank_prefers_rank_column():
    frame = pd.DataFrame({"title_seniority": ["individual", "individual"],
                          "title_seniority_rank": [4, 1]})
    icp = parse_icp({"criteria": [CRITERIA[3]]})
    assert score_icp(frame, icp)["icp_score"].tolist() == [100.0, 0.0]


def test_score_icp_names_missing_columns():
    with pytest.raises(ValueError, match="missing column\\(s\\) needed by the ICP: employees"):
        score_icp(firmographics().drop(columns="employees"), make_icp())


# --- icp_conversion_report --------------------------------------------------------------------

def report(fit: list[bool], converted: list[bool]) -> dict:
    return icp_conversion_report(pd.Series(fit), pd.Series(converted))


def test_conversion_report_arithmetic():
    fit = [True] * 4 + [False] * 8
    converted = [True, True, False, False] + [True] + [False] * 7
    result = report(fit, converted)
    assert {k: result[k] for k in ("fit_count", "non_fit_count", "fit_converted",
                                   "non_fit_converted")} == {
        "fit_count": 4, "non_fit_count": 8, "fit_converted": 2, "non_fit_converted": 1}
    assert result["fit_rate"] == 0.5 and result["non_fit_rate"] == 0.125
    assert result["ratio"] == pytest.approx(4.0)
    assert result["meets_target"] is True


def test_conversion_report_below_target():
    result = report([True] * 5 + [False] * 4, [True] + [False] * 4 + [True] + [False] * 3)
    assert result["ratio"] == pytest.approx(0.2 / 0.25)
    assert result["meets_target"] is False


def test_conversion_report_zero_non_fit_conversions():
    result = report([True, True, False, False], [True, False, False, False])
    assert result["non_fit_rate"] == 0.0
    assert math.isinf(result["ratio"]) and result["meets_target"] is True
    nobody = report([True, False], [False, False])
    assert nobody["ratio"] is None and nobody["meets_target"] is False


def test_conversion_report_empty_group():
    result = report([True, True], [True, False])
    assert result["non_fit_count"] == 0 and result["non_fit_rate"] is None
    assert result["ratio"] is None and result["meets_target"] is False


def test_conversion_report_rejects_bad_input():
    with pytest.raises(ValueError, match="converted has 1 missing value"):
        icp_conversion_report(pd.Series([True, False]), pd.Series([True, None], dtype="boolean"))
    with pytest.raises(ValueError, match="icp_fit must be boolean, got dtype str"):
        icp_conversion_report(pd.Series(["yes", "no"]), pd.Series([True, False]))
    with pytest.raises(ValueError, match="icp_fit and converted must share the same index"):
        icp_conversion_report(pd.Series([True], index=[1]), pd.Series([True], index=[2]))
