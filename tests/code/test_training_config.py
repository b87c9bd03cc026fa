"""TrainConfig: defaults, YAML loading and every rejected setting named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from training.train import TrainConfig


def test_defaults_need_no_tuning() -> None:
    config = TrainConfig()
    assert config.booster.learning_rate == 0.05 and config.booster.num_boost_round == 1000
    assert config.booster.early_stopping_rounds == 50 and config.booster.num_leaves == 31
    assert (config.min_positives, config.min_negatives) == (40, 40)
    assert config.split_fractions == (0.7, 0.15, 0.15) and config.grade_thresholds is None


def test_yaml_sets_nested_booster_params(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("seed: 7\nid_col: opportunity_id\nembargo_days: 90\n"
                    "booster:\n  num_leaves: 15\ngrade_thresholds: {A: 0.5, B: 0.3, C: 0.1}\n")
    config = TrainConfig.from_yaml(path)
    assert (config.seed, config.id_col, config.embargo_days) == (7, "opportunity_id", 90)
    assert config.booster.num_leaves == 15 and config.booster.learning_rate == 0.05
    assert config.grade_thresholds == {"A": 0.5, "B": 0.3, "C": 0.1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seeds: 7\n", "seeds"),
        ("booster:\n  is_unbalance: true\n", "is_unbalance"),
        ("grade_thresholds: {A: 0.1, B: 0.3, C: 0.05}\n", "A >= B >= C"),
        ("isolate: valid\n", "isolate"),
        ("calibration_methods: [beta]\n", "calibration_methods"),
        ("min_positives: 0\n", "min_positives"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        TrainConfig.from_yaml(path)


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="a training config must be a YAML mapping"):
        TrainConfig.from_yaml(path)
