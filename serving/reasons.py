"""Turn model outputs and rule points into the reasons, grades and warnings of an answer.

Model reasons come from ``ModelBundle.explain`` (TreeSHAP on the raw log-odds); rule reasons are
the points each rule item gave the lead, computed with ``training.rules.score_points`` item by
item, so they add up to the rule score exactly.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from features.registry import FeatureRegistry
from training.explain import SHAP_NOTE, SHAP_SCALE, LeadExplanation
from training.explain import Reason as ModelReason
from training.rules import PointGroup, RulesConfig, score_points
from serving.schemas import ReasonOut, ReasonsOut

RULE_SCALE = "points"
RULE_NOTE = ("Contributions are the points each rule of config/rules.yaml gave this lead; they "
             "add up to the rule score before clipping to 1-99.")
WIN_RULE_SCALE = "probability"
WIN_RULE_NOTE = ("No win model is loaded: the probability is the stage win rate of "
                 "config/rules.yaml (win.stage_probability).")
_POINTS_SUFFIX = {"en": " ({points:+.0f} points)", "ja": "（{points:+.0f}点）"}
_STAGE_SUFFIX = {"en": " (stage win rate {p:.0%})", "ja": "（ステージ受注率 {p:.0%}）"}


def json_value(value: object) -> bool | int | float | str | None:
    """A feature value as plain JSON (missing and non-finite numbers as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    return str(value)


def model_reasons(explanation: LeadExplanation) -> ReasonsOut:
    """The reasons of one model explanation."""

    def convert(reason: ModelReason) -> ReasonOut:
        return ReasonOut(feature=reason.feature, value=json_value(reason.value),
                         text=reason.text, contribution=reason.contribution, kind=reason.kind)

    return ReasonsOut(positive=[convert(r) for r in explanation.positive],
                      negative=[convert(r) for r in explanation.negative],
                      scale=SHAP_SCALE, note=SHAP_NOTE,
                      context=[convert(r) for r in explanation.context])


def rule_points(frame: pd.DataFrame, rules: RulesConfig) -> pd.DataFrame:
    """Points per rule item (one column per feature) for every row; rows sum to the total."""
    points: dict[str, np.ndarray] = {}
    for group in rules.groups.values():
        items = ([PointGroup(numeric={n: r}) for n, r in group.numeric.items()]
                 + [PointGroup(categorical={n: lv}) for n, lv in group.categorical.items()]
                 + [PointGroup(flags={n: p}) for n, p in group.flags.items()])
        for item in items:
            (name,) = item.features
            points[name] = points.get(name, 0.0) + score_points(frame, item)
    return pd.DataFrame(points, index=frame.index)


def rule_reasons(points: pd.Series, values: pd.Series, registry: FeatureRegistry, k: int,
                 language: str) -> ReasonsOut:
    """Top-``k`` rule items up and down for one lead (items giving 0 points are left out)."""
    order = points.sort_values(ascending=False, kind="stable")
    up = [name for name in order.index[:k] if order[name] > 0]
    down = [name for name in order.index[::-1][:k] if order[name] < 0]

    def reason(name: str) -> ReasonOut:
        value = json_value(values[name])
        definition = registry[name]
        text = definition.phrase(value, language) + _POINTS_SUFFIX[language].format(
            points=points[name])
        return ReasonOut(feature=name, value=value, text=text,
                         contribution=float(points[name]), kind=definition.kind)

    return ReasonsOut(positive=[reason(n) for n in up], negative=[reason(n) for n in down],
                      scale=RULE_SCALE, note=RULE_NOTE)


def rule_grades(scores: np.ndarray, rules: RulesConfig) -> list[str]:
    """Grades for rule scores, from the action thresholds: A at or above ``call_now_score``,
    B at or above ``nurture_score``, C at or above ``disqualify_score``, else D."""
    t = rules.actions
    return np.select([scores >= t.call_now_score, scores >= t.nurture_score,
                      scores >= t.disqualify_score], ["A", "B", "C"], default="D").tolist()


def win_rule_reasons(stage: object, probability: float, registry: FeatureRegistry,
                     language: str) -> ReasonsOut:
    """The single reason of a rule-based win probability: the deal's stage."""
    value = json_value(stage)
    text = registry["opp_stage"].phrase(value, language) + _STAGE_SUFFIX[language].format(
        p=probability)
    reason = ReasonOut(feature="opp_stage", value=value, text=text, contribution=probability,
                       kind=registry["opp_stage"].kind)
    return ReasonsOut(positive=[reason], negative=[], scale=WIN_RULE_SCALE, note=WIN_RULE_NOTE)


def unknown_category_warnings(rows: Sequence[Mapping[str, object]],
                              levels: dict[str, frozenset[str]]) -> list[list[str]]:
    """Per row (a mapping of feature values): a warning for each category value the model
    never saw in training."""
    warnings: list[list[str]] = [[] for _ in rows]
    for name, known in levels.items():
        for position, row in enumerate(rows):
            value = row[name]
            if not _missing(value) and str(value) not in known:
                warnings[position].append(f"{name} '{value}' was not seen in training: the "
                                          "model treats it as unknown")
    return warnings


def _missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
