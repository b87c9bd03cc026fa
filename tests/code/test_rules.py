"""Rule-based scoring: points by hand, actions in order, config errors named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.rules import (
    ActionThresholds,
    RulesConfig,
    load_rules,
    recommend_actions,
    score_rules,
)

RULES = RulesConfig.model_validate({
    "attribute_points": {"numeric": {"icp_score": {"per_unit": 0.3, "max": 30}},
                         "categorical": {"title_seniority": {"manager": 7, "c_level": 12}},
                         "flags": {"free_mail": -5}},
    "behavior_points": {"numeric": {"high_intent_count_30d": {"per_unit": 4, "max": 12}}},
    "bant_points": {"numeric": {"bant_met_count": {"per_unit": 5, "max": 20}}},
})


def _frame(**columns: list) -> pd.DataFrame:
    base = {"icp_score": [100.0], "title_seniority": ["manager"], "free_mail": [0.0],
            "high_intent_count_30d": [1.0], "bant_met_count": [2.0], "bant_need": [np.nan],
            "bant_meets_sql_rule": [0.0], "is_mql": [0.0], "is_recycled": [0.0]}
    base.update(columns)
    return pd.DataFrame(base)


def test_points_add_up_by_hand() -> None:
    out = score_rules(_frame(), RULES)
    # 30 (ICP) + 7 (manager) + 4 (one high-intent action) + 10 (two BANT elements)
    assert out[["attribute_points", "behavior_points", "bant_points"]].iloc[0].tolist() == [
        37.0, 4.0, 10.0]
    assert out["score"].iloc[0] == 51


def test_caps_missing_values_and_unknown_levels() -> None:
    frame = _frame(icp_score=[np.nan], title_seniority=["intern-ish"],
                   high_intent_count_30d=[50.0], bant_met_count=[None], free_mail=[1.0])
    out = score_rules(frame, RULES)
    assert out["attribute_points"].iloc[0] == -5.0
    assert out["behavior_points"].iloc[0] == 12.0  # capped
    assert out["score"].iloc[0] == 7


def test_score_is_clipped_to_1_99() -> None:
    frame = _frame(icp_score=[0.0], title_seniority=[None], high_intent_count_30d=[0.0],
                   bant_met_count=[0.0], free_mail=[1.0])
    assert score_rules(frame, RULES)["score"].iloc[0] == 1


def test_more_high_intent_actions_never_lower_the_score() -> None:
    counts = [0.0, 1.0, 2.0, 3.0, 10.0]
    frame = pd.concat([_frame(high_intent_count_30d=[c]) for c in counts], ignore_index=True)
    assert np.all(np.diff(score_rules(frame, RULES)["score"].to_numpy()) >= 0)


@pytest.mark.parametrize(
    ("score", "overrides", "action"),
    [
        (5, {}, "disqualify"),
        (70, {"bant_need": [0.0]}, "disqualify"),
        (60, {}, "call_now"),
        (30, {"bant_meets_sql_rule": [1.0]}, "call_now"),
        (30, {}, "nurture"),
        (15, {"is_mql": [1.0]}, "recycle"),
        (15, {"is_recycled": [1.0]}, "recycle"),
        (15, {}, "nurture"),
    ],
)
def test_actions_follow_thresholds_in_order(score: int, overrides: dict, action: str) -> None:
    thresholds = ActionThresholds(call_now_score=60, nurture_score=25, disqualify_score=8)
    assert recommend_actions(np.array([score]), _frame(**overrides), thresholds)[0] == action


def test_missing_feature_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"missing from the frame: \['icp_score'\]"):
        score_rules(_frame().drop(columns="icp_score"), RULES)


def test_shipped_rules_file_loads() -> None:
    rules = load_rules()
    assert rules.actions.call_now_score > rules.actions.nurture_score
    assert "bant_met_count" in rules.features


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("behavior_point: {}\n", "behavior_point: Extra inputs are not permitted"),
        ("bant_points: {numeric: {bant_met_count: {per_unit: 5, max: -1}}}\n",
         "bant_points.numeric.bant_met_count.max"),
        ("actions: {call_now_score: 20, nurture_score: 30}\n", "disqualify_score <= nurture_score"),
    ],
)
def test_bad_rules_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_rules(path)


def test_shipped_rules_read_only_registered_lead_features() -> None:
    from features.config import FeatureConfig
    from features.leads import lead_feature_registry

    registry = lead_feature_registry(FeatureConfig())
    assert load_rules().features <= set(registry.names)
