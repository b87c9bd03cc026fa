"""Rule-based lead scoring: attribute points, behavior points, BANT judgment, actions.

The points system of inside-sales practice, configured in ``config/rules.yaml``. It scores the
same point-in-time feature frame the models use, so it serves two roles:

* the baseline every model report compares with (``training.baselines.RuleScoreBaseline``);
* the fallback the service answers with when no trustworthy model is loaded.

``recommend_actions`` turns a score (from rules or a model) plus BANT/status features into
call_now / nurture / recycle / disqualify, in the same order for both sources; the thresholds
are ``actions`` for rule scores and ``model_actions`` (if given) for model scores, whose scale
(probability x 100) differs from rule points.
``score_win_rules`` gives a deal's win probability from its stage (the ``win`` section), the
serving fallback of the win model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_RULES_PATH = Path(__file__).resolve().parents[1] / "config" / "rules.yaml"
Action = Literal["call_now", "nurture", "recycle", "disqualify"]
ACTIONS: tuple[str, ...] = ("call_now", "nurture", "recycle", "disqualify")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericPoints(_Strict):
    per_unit: float
    max: float = Field(gt=0)


class PointGroup(_Strict):
    numeric: dict[str, NumericPoints] = {}
    categorical: dict[str, dict[str, float]] = {}
    flags: dict[str, float] = {}

    @property
    def features(self) -> set[str]:
        return set(self.numeric) | set(self.categorical) | set(self.flags)


class ActionThresholds(_Strict):
    call_now_score: float = Field(60, ge=1, le=99)
    nurture_score: float = Field(25, ge=1, le=99)
    disqualify_score: float = Field(8, ge=0, le=99)
    disqualify_when_no_need: bool = True

    def model_post_init(self, _context: object) -> None:
        if not self.disqualify_score <= self.nurture_score <= self.call_now_score:
            raise ValueError("actions: need disqualify_score <= nurture_score <= call_now_score")


class WinStageRules(_Strict):
    """Win probability by deal stage: the stage-weighted pipeline, used when no win model is
    loaded. Stages not listed (and deals with no known stage) get ``default_probability``."""

    stage_probability: dict[str, float] = {}
    default_probability: float = Field(0.1, ge=0, le=1)

    def model_post_init(self, _context: object) -> None:
        bad = {stage: p for stage, p in self.stage_probability.items() if not 0 <= p <= 1}
        if bad:
            raise ValueError(f"win.stage_probability values must be within 0..1, got {bad}")


class RulesConfig(_Strict):
    """The whole rule set; unknown keys are errors."""

    attribute_points: PointGroup = PointGroup()
    behavior_points: PointGroup = PointGroup()
    bant_points: PointGroup = PointGroup()
    actions: ActionThresholds = ActionThresholds()
    model_actions: ActionThresholds | None = None
    win: WinStageRules = WinStageRules()

    def thresholds_for(self, source: str) -> ActionThresholds:
        """Action thresholds for answers from ``rules`` or a ``model`` (``model_actions``, when
        set: a model's score is a calibrated probability x 100, not rule points)."""
        if source == "model" and self.model_actions is not None:
            return self.model_actions
        return self.actions

    @property
    def groups(self) -> dict[str, PointGroup]:
        return {"attribute": self.attribute_points, "behavior": self.behavior_points,
                "bant": self.bant_points}

    @property
    def features(self) -> set[str]:
        return set().union(*(g.features for g in self.groups.values()))


def load_rules(path: Path | str = DEFAULT_RULES_PATH) -> RulesConfig:
    """Read and check a rules YAML file; errors name the file and the bad key."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return RulesConfig.model_validate(data)
    except FileNotFoundError:
        raise FileNotFoundError(f"rules file {path} does not exist") from None
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"{path}: {problems}") from None


def _numeric_values(features: pd.DataFrame | Mapping[str, Sequence[float]], name: str,
                    n: int, missing: float = 0.0) -> np.ndarray:
    """A numeric feature as floats; ``missing`` for NaN, non-numbers and an absent feature."""
    if name not in features:
        return np.full(n, missing)
    try:
        values = np.asarray(features[name], dtype=float)
    except (TypeError, ValueError):
        values = pd.to_numeric(pd.Series(list(features[name])), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), missing, values)


def score_points(frame: pd.DataFrame, group: PointGroup) -> np.ndarray:
    """Points of one group for every row of a feature frame (missing values score 0)."""
    missing = sorted(group.features - set(frame.columns))
    if missing:
        raise ValueError(f"rules need feature column(s) missing from the frame: {missing}")
    total = np.zeros(len(frame))
    for name, rule in group.numeric.items():
        points = _numeric_values(frame, name, len(frame)) * rule.per_unit
        total += np.clip(points, -rule.max, rule.max)
    for name, levels in group.categorical.items():
        text = frame[name].astype("object").astype("str")
        total += text.map(levels).astype("float64").fillna(0.0).to_numpy()
    for name, points in group.flags.items():
        total += (_numeric_values(frame, name, len(frame)) > 0) * points
    return total


def score_rules(frame: pd.DataFrame, rules: RulesConfig) -> pd.DataFrame:
    """Rule-based score for each row: points per group, total, 1-99 score and action."""
    parts = {f"{name}_points": score_points(frame, group) for name, group in rules.groups.items()}
    total = sum(parts.values())
    scores = np.clip(np.rint(total), 1, 99).astype(int)
    out = pd.DataFrame(parts, index=frame.index)
    out["score"] = scores
    out["action"] = recommend_actions(scores, frame, rules.actions)
    return out


def recommend_actions(scores: np.ndarray | pd.Series,
                      features: pd.DataFrame | Mapping[str, Sequence[float]],
                      thresholds: ActionThresholds) -> np.ndarray:
    """call_now / nurture / recycle / disqualify per row, from a 1-99 score and BANT/status.

    ``features`` is a feature frame or any mapping of feature name -> values per row (missing
    features count as 0 / unknown). Order: disqualify (score below ``disqualify_score`` or
    need confirmed "no"), call_now (score at or above ``call_now_score`` or the SQL rule met),
    nurture (score at or above ``nurture_score``), recycle (already worked: MQL or recycled
    before), else nurture.
    """
    scores = np.asarray(scores, dtype=float)
    need = _numeric_values(features, "bant_need", len(scores), missing=np.nan)
    no_need = (need == 0) & thresholds.disqualify_when_no_need
    worked = ((_numeric_values(features, "is_mql", len(scores)) > 0)
              | (_numeric_values(features, "is_recycled", len(scores)) > 0))
    sql_rule = _numeric_values(features, "bant_meets_sql_rule", len(scores)) > 0
    return np.select(
        [scores < thresholds.disqualify_score, no_need,
         (scores >= thresholds.call_now_score) | sql_rule,
         scores >= thresholds.nurture_score, worked],
        ["disqualify", "disqualify", "call_now", "nurture", "recycle"],
        default="nurture",
    )


def score_win_rules(frame: pd.DataFrame, rules: WinStageRules) -> np.ndarray:
    """Rule-based win probability per row, looked up from the ``opp_stage`` feature."""
    if "opp_stage" not in frame.columns:
        raise ValueError("win rules need the feature column 'opp_stage'")
    stages = frame["opp_stage"].astype("object").astype("str")
    probability = stages.map(rules.stage_probability).astype("float64")
    return probability.fillna(rules.default_probability).to_numpy()


def make_rule_score(rules: RulesConfig):
    """A ``frame -> scores`` callable for ``train_model(rule_score=...)``."""

    def rule_score(frame: pd.DataFrame) -> np.ndarray:
        return score_rules(frame, rules)["score"].to_numpy(dtype=float)

    return rule_score
