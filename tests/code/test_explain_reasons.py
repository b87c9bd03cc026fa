"""Reasons a rep can act on: the day's context apart, identifiers unquoted, unseen values named."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from features.registry import FeatureDef, FeatureRegistry
from training.explain import explain_contributions, find_context_features

REGISTRY = FeatureRegistry([
    FeatureDef("visits", "float", "actionable", "behavioral", "{value} visits", "訪問{value}回"),
    FeatureDef("attr_landing_page_id", "category", "fixed", "attribute",
               "landing page id is {value}", "landing page idは{value}"),
    FeatureDef("attr_euribor", "float", "fixed", "attribute", "euribor is {value}",
               "euriborは{value}"),
    FeatureDef("attr_job", "category", "fixed", "attribute", "job is {value}", "jobは{value}"),
])


@dataclass
class Model:
    registry: FeatureRegistry = REGISTRY
    categorical_levels: dict = field(default_factory=lambda: {
        "attr_landing_page_id": ["d51b0d02ab", "e77a1c9f03"], "attr_job": ["admin", "student"]})
    context_features: list = field(default_factory=lambda: ["attr_euribor"])

    @property
    def features(self) -> list[str]:
        return self.registry.names


def _explain(row: dict, shap: list[float], language: str = "en", k: int = 3):
    contributions = np.array([[*shap, -1.0]])
    return explain_contributions(Model(), contributions, [row], [0], k, language)[0]


ROW = {"visits": 4.0, "attr_landing_page_id": "d51b0d02ab", "attr_euribor": 4.86,
       "attr_job": "admin"}


def test_the_days_context_is_kept_out_of_the_top_reasons() -> None:
    explanation = _explain(ROW, [0.2, 0.1, 0.9, -0.3], k=1)
    assert [r.feature for r in explanation.positive] == ["visits"]
    assert [r.feature for r in explanation.negative] == ["attr_job"]
    assert [r.feature for r in explanation.context] == ["attr_euribor"]
    assert explanation.context[0].text == "euribor is 4.86"
    assert explanation.raw_log_odds == pytest.approx(-1.0 + 0.9)  # still the whole sum


@pytest.mark.parametrize(("language", "text"), [
    ("en", "landing page id: this particular value (an identifier, not quoted)"),
    ("ja", "landing page id: この値（識別子のため表示しません）"),
])
def test_an_identifier_is_never_quoted(language: str, text: str) -> None:
    explanation = _explain(ROW, [0.0, 0.5, 0.0, 0.0], language)
    reason = explanation.positive[0]
    assert reason.feature == "attr_landing_page_id" and reason.text == text
    assert reason.value is None and "d51b0d02" not in str(explanation.to_dict())


@pytest.mark.parametrize(("value", "text"), [
    ("astronaut", "job 'astronaut': a value not seen in training (scored as unknown)"),
    ("admin", "job is admin"),
])
def test_an_unseen_category_is_named_as_unseen(value: str, text: str) -> None:
    explanation = _explain({**ROW, "attr_job": value}, [0.0, 0.0, 0.0, -0.4])
    assert explanation.negative[0].text == text


def test_an_unseen_identifier_is_unseen_and_unquoted() -> None:
    explanation = _explain({**ROW, "attr_landing_page_id": "ffee00112233"}, [0, 0.3, 0, 0])
    assert explanation.positive[0].text == ("landing page id: a value not seen in training "
                                            "(scored as unknown)")


def _days(n_days: int = 40, per_day: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_days), per_day)
    as_of = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(day, unit="D") \
        + pd.to_timedelta(rng.integers(0, 86_000, len(day)), unit="s")
    daily = rng.normal(3, 1, n_days).round(2)
    weekday = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])[day % 7]
    return pd.DataFrame({
        "as_of": as_of, "euribor": daily[day], "weekday": pd.Categorical(weekday),
        "visits": rng.poisson(3, len(day)).astype(float),
        "rare_flag": (rng.random(len(day)) < 0.01).astype(float),
        "always": np.ones(len(day))})


def test_context_features_are_the_ones_constant_within_a_day() -> None:
    frame = _days()
    names = ["euribor", "weekday", "visits", "rare_flag", "always"]
    assert find_context_features(frame, names) == ["euribor", "weekday"]


def test_too_few_shared_days_decide_nothing() -> None:
    frame = _days(n_days=5)
    assert find_context_features(frame, ["euribor"]) == []
