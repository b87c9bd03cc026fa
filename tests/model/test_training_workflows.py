"""The training API (training.workflows) on a generated CRM, in throw-away MLflow stores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features import FeatureConfig, resolve_icp
from crm.settings import load_settings
from crm.sample import GeneratorConfig, generate_crm
from training.model import InsufficientDataError
from training.registry import PromotionRefusedError, promote_challenger
from training.rules import load_rules
from training.selection import Candidate
from training.train import TrainConfig
from training.workflows import (
    build_holdout,
    default_as_of_end,
    latest_timestamp,
    load_training_setup,
    promote_from_tables,
    train_from_tables,
    train_sql_from_tables,
    train_win_from_tables,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("training_workflows")]

FAST = TrainConfig(make_plots=False, cv_folds=2, candidates=(
    Candidate(name="lightgbm", kind="lightgbm"),
    Candidate(name="logistic", kind="logistic", C=0.1)))
BOOSTED = FAST.model_copy(update={"candidates": FAST.candidates[:1]})
STUMP = FAST.model_copy(update={"candidates": (  # one split: a clearly worse model
    Candidate(name="stump", kind="lightgbm", booster={"num_leaves": 2, "num_boost_round": 1}),)})


@pytest.fixture(scope="module")
def tables():
    return generate_crm(GeneratorConfig(n_leads=3000, seed=5))[0]


def settings_in(root: Path, **overrides):
    return load_settings(mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                         mlflow_artifact_root=root / "artifacts", **overrides)


def test_the_data_cut_is_just_after_the_latest_event_not_a_plan(tables) -> None:
    history = tables["opportunity_stage_history"]
    events = [tables["activities"]["occurred_at"].max(), tables["leads"]["sql_at"].max(),
              tables["opportunities"]["closed_at"].max(), history["entered_at"].max()]
    assert latest_timestamp(tables) == max(events)
    late = history.assign(expected_close_date=pd.Timestamp("2030-01-01", tz="UTC"))
    assert latest_timestamp({**tables, "opportunity_stage_history": late}) == max(events)
    assert default_as_of_end(tables) - max(events) == pd.Timedelta(microseconds=1)
    with pytest.raises(ValueError, match="hold no timestamps"):
        latest_timestamp({"leads": tables["leads"][["lead_id"]]})


def test_same_seed_same_model_other_seed_other_model(tables, tmp_path: Path) -> None:
    first = train_sql_from_tables(tables, settings_in(tmp_path / "a"), train_config=BOOSTED)
    again = train_sql_from_tables(tables, settings_in(tmp_path / "b"), train_config=BOOSTED)
    other = train_sql_from_tables(tables, settings_in(tmp_path / "c", seed=7),
                                  train_config=BOOSTED)
    assert first.bundle.to_dict() == again.bundle.to_dict()
    assert first.bundle.booster.model_to_string() == again.bundle.booster.model_to_string()
    assert first.bundle.config["seed"] == 42 and other.bundle.config["seed"] == 7
    assert "seed" not in load_training_setup("sql").train_config.model_fields_set
    assert other.bundle.booster.model_to_string() != first.bundle.booster.model_to_string()
    assert first.reports["model"].metrics["roc_auc"] > first.reports["rules"].metrics["roc_auc"]
    resolved = replace(FeatureConfig(), icp=resolve_icp(FeatureConfig())).to_dict()
    stored = dict(first.bundle.feature_config)
    typed = {key: stored.pop(key) for key in ("attributes", "attribute_levels",
                                              "infer_attributes")}
    assert stored == {k: v for k, v in resolved.items() if k not in typed}
    assert typed["infer_attributes"] is False  # the sample's own columns, typed at training
    assert typed["attributes"] == {"newsletter_opt_in": "bool", "prefecture": "category",
                                   "utm_medium": "category", "utm_source": "category"}
    assert first.bundle.feature_config["icp"]["name"] == "jp-midmarket-saas"
    assert first.bundle.rules == load_rules().model_dump(mode="json")


def test_win_model_trains_on_deals_with_the_stage_rule_baseline(tables, tmp_path: Path) -> None:
    result = train_win_from_tables(tables, settings_in(tmp_path), train_config=replace_config(
        "win", make_plots=False))
    assert result.model_name == "leadscore-win" and result.version == "1"
    assert result.bundle.config["id_col"] == "opportunity_id"
    assert "opp_stage" in result.bundle.features and "icp_fit" not in result.bundle.features
    rules = result.reports["rules"].metrics
    assert rules["roc_auc"] > 0.55  # stages of the sample CRM carry signal
    assert set(result.reports["model"].segments["segment"]) == {"opp_product"}


def replace_config(task: str, **changes) -> TrainConfig:
    return load_training_setup(task).train_config.model_copy(update=changes)


def test_each_model_is_scored_on_the_same_rows_with_its_own_features(tables,
                                                                     tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    short = FeatureConfig(half_life_days=3.0)
    champion = train_sql_from_tables(tables, settings, train_config=STUMP, force=True)
    promote_challenger("leadscore-sql", _rows(tables, champion), tracking_uri=_uri(settings))
    challenger = train_sql_from_tables(tables, settings, feature_config=short,
                                       train_config=FAST)
    holdout = build_holdout("sql", tables, challenger.bundle)
    mine, theirs = holdout(challenger.bundle), holdout(champion.bundle)
    assert len(mine) == challenger.split_summary["test"]["rows"]
    pd.testing.assert_frame_equal(mine[["lead_id", "as_of", "label"]].reset_index(drop=True),
                                  theirs[["lead_id", "as_of", "label"]].reset_index(drop=True))
    assert not np.allclose(mine["engagement_decayed"], theirs["engagement_decayed"])


def test_a_better_challenger_is_promoted_and_a_worse_one_refused(tables,
                                                                tmp_path: Path) -> None:
    """The promotion gate with its default tolerances (0.005 AUC and Brier), through the CLI's
    path: a one-split model (registered with force), a full model with other features
    (promoted), a one-split one again (refused)."""
    settings = settings_in(tmp_path)
    train_sql_from_tables(tables, settings, train_config=STUMP, force=True)
    assert promote_from_tables("sql", tables, settings).champion_metrics is None
    train_sql_from_tables(tables, settings, feature_config=FeatureConfig(half_life_days=3.0),
                          train_config=BOOSTED)
    better = promote_from_tables("sql", tables, settings)
    assert better.promoted and (better.champion_version, better.challenger_version) == ("1", "2")
    assert better.challenger_metrics["roc_auc"] >= better.champion_metrics["roc_auc"] + 0.05
    assert better.challenger_metrics["brier"] < better.champion_metrics["brier"]
    train_sql_from_tables(tables, settings, train_config=STUMP, force=True)
    with pytest.raises(PromotionRefusedError, match="refused challenger v3") as refused:
        promote_from_tables("sql", tables, settings)
    worse = refused.value.result
    assert worse.champion_version == "2" and not worse.promoted
    assert worse.challenger_metrics["roc_auc"] < worse.champion_metrics["roc_auc"] - 0.005
    assert "ROC AUC" in worse.reason


def _uri(settings) -> str:
    return settings.mlflow_tracking_uri


def _rows(tables, trained) -> pd.DataFrame:
    return build_holdout("sql", tables, trained.bundle)(trained.bundle)


def test_too_little_data_is_refused_before_mlflow(tmp_path: Path) -> None:
    tiny = generate_crm(GeneratorConfig(n_leads=150, seed=1))[0]
    with pytest.raises(InsufficientDataError, match="the examples split has .* positives"):
        train_from_tables("sql", tiny, settings_in(tmp_path / "ml"))
    assert not (tmp_path / "ml").exists()


def test_setup_yaml_overrides_the_task_defaults(tmp_path: Path) -> None:
    path = tmp_path / "win.yaml"
    path.write_text("task: win\nfeatures:\n  stage_order: [new, engaging]\n"
                    "  attributes: {}\ntraining:\n  split_fractions: [0.6, 0.2, 0.2]\n"
                    "  booster: {num_leaves: 7}\n")
    setup = load_training_setup("win", path)
    assert setup.feature_config.stage_order == ("new", "engaging")
    assert setup.train_config.split_fractions == (0.6, 0.2, 0.2)
    assert setup.train_config.booster.num_leaves == 7
    assert setup.train_config.id_col == "opportunity_id"  # the task default survives
    assert load_training_setup("sql").train_config == TrainConfig()


@pytest.mark.parametrize("text, error, message", [
    ("task: win\n", ValueError, "is a config for task 'win', not 'sql'"),
    ("model: x\n", ValueError, r"unknown top-level key\(s\) \['model'\]"),
    ("features:\n  windows: [7]\n", ValueError, r"unknown FeatureConfig key\(s\) \['windows'\]"),
    ("training:\n  seeds: 1\n", ValidationError, "seeds"),
    ("- 1\n", ValueError, "a training config must be a YAML mapping"),
])
def test_bad_setup_files_are_named(tmp_path: Path, text, error, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(error, match=message):
        load_training_setup("sql", path)


def test_unknown_task_and_missing_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        load_training_setup("churn")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_training_setup("sql", tmp_path / "absent.yaml")


def test_shipped_dataset_configs_load() -> None:
    root = Path(__file__).resolve().parents[2] / "config" / "training"
    xeducation = load_training_setup("sql", root / "xeducation.yaml")
    assert xeducation.feature_config.max_snapshots == 1
    assert xeducation.feature_config.attributes["total_time_spent_on_website"] == "float"
    maven = load_training_setup("win", root / "maven_crm.yaml")
    assert maven.feature_config.stage_order == ("prospecting", "engaging")
    assert maven.train_config.split_fractions[2] == 0.2


def test_promotion_scores_the_test_slice_training_recorded(tables, tmp_path: Path) -> None:
    """Trained at an earlier data cut, the challenger is judged on that run's own test slice,
    not on a slice rebuilt from today's data."""
    cut = default_as_of_end(tables) - pd.Timedelta(days=120)
    result = train_sql_from_tables(tables, settings_in(tmp_path), train_config=BOOSTED,
                                   as_of_end=cut)
    assert result.bundle.config["as_of_end"] == cut.isoformat()
    holdout = build_holdout("sql", tables, result.bundle)(result.bundle)
    test = result.split_summary["test"]
    assert len(holdout) == test["rows"] and int(holdout["label"].sum()) == test["positives"]
    assert str(holdout["as_of"].max()) == test["end"]
    today = build_holdout("sql", tables, result.bundle, default_as_of_end(tables))
    assert str(today(result.bundle)["as_of"].max()) > test["end"]
