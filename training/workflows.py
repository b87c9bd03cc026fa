"""Train, promote and roll back the two leadscore models from the canonical tables.

The Python API behind ``leadscore train|promote|rollback``. ``train_model`` (``training.train``)
fits one model from an examples frame; this module supplies the rest of the job:

1. **Settings** — a task (``sql``: lead -> SQL within the horizon; ``win``: open deal -> won)
   plus a ``FeatureConfig`` and a ``TrainConfig``, by default the task's defaults, or read
   from a YAML file with two optional sections (``features:`` FeatureConfig overrides,
   ``training:`` TrainConfig overrides), e.g. ``config/training/xeducation.yaml``. For the
   ``sql`` task the dataset's own columns (``leads.attributes`` keys) are typed from the
   training period's leads (``features.attribute_typing``) unless the YAML declares them;
   the typing is stored in the model's feature settings and reported.
2. **Examples** — ``build_sql_examples`` / ``build_win_examples`` at the data cut
   ``as_of_end``; by default just after the latest timestamp present in the data (never
   wall-clock "now", so the same store always gives the same model).
3. **Baselines** — SQL: the points system of ``config/rules.yaml``
   (``make_rule_score(load_rules())``), the serving fallback; the rules and the feature
   settings with the resolved ICP are read once, used for the examples and the baselines and
   stored in the model's bundle (serving reads them from there, never from the files). Win: the stage-weighted
   probability of the same file's ``win`` section (``score_win_rules``), again what serving
   answers without a model; where every open deal is in one stage (Maven CRM) it is a
   constant and its AUC is 0.5. The naive-Bayes baseline comes with ``train_model``.
4. **Registry** — a new version gets alias ``challenger`` (unless the registration gate of
   ``training.gate`` refuses it; ``force`` overrides); ``promote_from_store`` compares it with
   the ``champion`` on the challenger's own test slice — the examples rebuilt at the data cut
   training recorded in the bundle (``config.as_of_end``), split with the training config it
   recorded; each model gets its features computed with its own ``FeatureConfig`` — and moves
   ``champion`` only when it is not worse.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Mapping

import pandas as pd
import yaml

from features.attribute_typing import AttributeTyping, type_lead_attributes
from features.training_sets import build_sql_examples, build_win_examples
from features.opportunity import build_opportunity_features, opportunity_feature_registry
from features.config import FeatureConfig
from features.leads import build_lead_features, lead_feature_registry
from features.registry import FeatureRegistry
from crm.settings import Settings, ensure_sqlite_parent
from crm.schema import TABLES, empty_frame
from training.baselines import RuleScore
from training.bundle import ModelBundle, load_bundle, resolve_feature_config
from training.model import InsufficientDataError, check_minimum_data
from training.registry import (
    CHALLENGER,
    PromotionResult,
    promote_challenger,
    record_training_refusal,
    rollback,
)
from training.rules import RulesConfig, load_rules, make_rule_score, score_win_rules
from training.train import Progress, TrainConfig, TrainResult, split_examples, train_model

logger = logging.getLogger(__name__)

Task = Literal["sql", "win"]
TASKS: tuple[str, ...] = ("sql", "win")
Tables = Mapping[str, pd.DataFrame]

_TABLES_NEEDED = {"sql": ("accounts", "leads", "activities"),
                  "win": ("leads", "activities", "opportunities", "opportunity_stage_history")}
_ID_COLUMNS = {"sql": "lead_id", "win": "opportunity_id"}
_NOT_EVENTS = {"expected_close_date"}  # a plan for the future, not something that happened


@dataclass(frozen=True)
class TrainingSetup:
    """Feature and training settings of one task."""

    task: str
    feature_config: FeatureConfig
    train_config: TrainConfig


def check_task(task: str) -> str:
    """``task`` if it is ``sql`` or ``win``; a ``ValueError`` naming it otherwise."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return task


def default_train_config(task: str) -> TrainConfig:
    """The task's TrainConfig defaults (win: deals are the entity, no lead segments/ICP)."""
    if check_task(task) == "win":
        return TrainConfig(id_col="opportunity_id", segment_cols=("opp_product",), icp_col=None)
    return TrainConfig()


def load_training_setup(task: str, path: Path | str | None = None) -> TrainingSetup:
    """Settings of ``task``: its defaults, overridden by the YAML file at ``path`` if given.

    The YAML may hold ``features:`` (FeatureConfig keys) and ``training:`` (TrainConfig keys,
    nested ``booster:`` allowed); any other top-level key is an error naming the file.
    """
    data = _read_yaml(path) if path is not None else {}
    unknown = sorted(set(data) - {"features", "training", "task"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}; "
                         "expected features, training (and optionally task)")
    if "task" in data and data["task"] != task:
        raise ValueError(f"{path} is a config for task {data['task']!r}, not {task!r}")
    features = FeatureConfig.from_dict(data.get("features") or {})
    base = default_train_config(task).model_dump(exclude_unset=True)  # keeps "seed" unset
    training = TrainConfig(**{**base, **(data.get("training") or {})})
    return TrainingSetup(task, features, training)


def _read_yaml(path: Path | str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a training config must be a YAML mapping")
    return data


def latest_timestamp(tables: Tables) -> pd.Timestamp:
    """The latest event timestamp in ``tables`` (expected close dates are plans, not events).

    Raises:
        ValueError: when no table holds a timestamp.
    """
    latest = [frame[column].max() for frame in tables.values() for column in frame.columns
              if isinstance(frame[column].dtype, pd.DatetimeTZDtype)
              and column not in _NOT_EVENTS and frame[column].notna().any()]
    if not latest:
        raise ValueError("the tables hold no timestamps: cannot choose a data cut (as_of_end)")
    return max(latest)


def default_as_of_end(tables: Tables) -> pd.Timestamp:
    """The data cut: 1 µs after the latest timestamp, so every stored record is known."""
    return latest_timestamp(tables) + pd.Timedelta(microseconds=1)


def feature_registry(task: str, feature_config: FeatureConfig) -> FeatureRegistry:
    """The model's features for ``task``."""
    if check_task(task) == "win":
        return opportunity_feature_registry(feature_config)
    return lead_feature_registry(feature_config)


def build_examples(task: str, tables: Tables, feature_config: FeatureConfig,
                   as_of_end: pd.Timestamp) -> pd.DataFrame:
    """Labelled point-in-time snapshots of ``task`` (see ``features.training_sets``); a table
    missing from ``tables`` counts as empty."""
    _check_tables(check_task(task), tables)
    build = build_win_examples if task == "win" else build_sql_examples
    return build(complete_tables(tables), feature_config, as_of_end)


def complete_tables(tables: Tables) -> dict[str, pd.DataFrame]:
    """``tables`` with an empty canonical frame for every table it lacks."""
    return {name: tables[name] if name in tables else empty_frame(name) for name in TABLES}


def _check_tables(task: str, tables: Tables) -> None:
    required = ("leads",) if task == "sql" else ("opportunities", "opportunity_stage_history")
    missing = [name for name in required if name not in tables or tables[name].empty]
    if missing:
        raise ValueError(f"cannot train the {task} model: table(s) {missing} are empty")


def make_baseline_rule(task: str, rules: RulesConfig | None = None) -> RuleScore:
    """The rule baseline of ``task`` (see the module docstring)."""
    rules = rules or load_rules()
    if check_task(task) == "sql":
        return make_rule_score(rules)
    return lambda frame: score_win_rules(frame, rules.win)


def model_name(task: str, settings: Settings) -> str:
    """Registered model name of ``task`` (``leadscore-sql`` / ``leadscore-win`` by default)."""
    return settings.sql_model_name if check_task(task) == "sql" else settings.win_model_name


def train_from_tables(
    task: str,
    tables: Tables,
    settings: Settings,
    feature_config: FeatureConfig | None = None,
    train_config: TrainConfig | None = None,
    as_of_end: pd.Timestamp | None = None,
    progress: Progress | None = None,
    rules: RulesConfig | None = None,
    force: bool = False,
) -> TrainResult:
    """Build ``task``'s examples from ``tables``, train, log to MLflow and register a challenger.

    Args:
        task: ``sql`` or ``win``.
        tables: canonical tables.
        settings: MLflow store, registry names and the default seed.
        feature_config / train_config: default: the task's defaults (``load_training_setup``);
            ``train_config.seed`` is the settings' seed unless set in the config.
        as_of_end: the data cut; default just after the latest timestamp in ``tables``.
        progress: called with one-line status messages.
        rules: the rule set (baseline, stored in the bundle); default ``config/rules.yaml``.
        force: register even when the registration gate refuses the model.

    Returns:
        The ``TrainResult``. Raises ``InsufficientDataError`` below the minimum data and
        ``training.gate.ModelRefusedError`` when the gate refuses the model.
    """
    setup = load_training_setup(task)
    feature_config = resolve_feature_config(feature_config or setup.feature_config)
    rules = rules or load_rules()
    train_config = with_seed(train_config or setup.train_config, settings.seed)
    feature_config, typing = type_training_attributes(
        task, tables["leads"] if "leads" in tables else None, feature_config, train_config)
    cut = as_of_end if as_of_end is not None else default_as_of_end(tables)
    notify = progress or (lambda message: None)
    notify(f"building {task} examples as of {cut.isoformat()}")
    examples = build_examples(task, tables, feature_config, cut)
    check_minimum_data(examples["label"], min_positives=train_config.min_positives,
                       min_negatives=train_config.min_negatives, split="examples")
    notify(f"{len(examples):,} examples, {int(examples['label'].sum()):,} positive")
    return train_model(
        examples, feature_registry(task, feature_config), model_name=model_name(task, settings),
        tracking_uri=prepare_tracking(settings), config=train_config,
        rule_score=make_baseline_rule(task, rules), progress=progress,
        artifact_location=settings.mlflow_artifact_root,
        feature_config=feature_config, rules=rules, data_cut=cut, force=force,
        attribute_typing=typing)


def type_training_attributes(task: str, leads: pd.DataFrame | None,
                             feature_config: FeatureConfig, train_config: TrainConfig
                             ) -> tuple[FeatureConfig, AttributeTyping | None]:
    """The feature settings with the dataset's own columns typed (``sql`` with
    ``infer_attributes``; ``features.attribute_typing``) from the oldest
    ``split_fractions[0]`` of ``leads`` (``created_at`` and ``attributes`` suffice), and the
    typing to report; unchanged settings and None otherwise."""
    if task != "sql" or not feature_config.infer_attributes or leads is None:
        return feature_config, None
    typing = type_lead_attributes(leads, feature_config.attributes,
                                  train_config.split_fractions[0])
    return typing.apply(feature_config), typing


def with_seed(config: TrainConfig, seed: int) -> TrainConfig:
    """``config`` with the settings' seed unless the config set one explicitly."""
    return config if "seed" in config.model_fields_set else config.model_copy(update={"seed": seed})


def train_sql_from_tables(tables: Tables, settings: Settings, **options) -> TrainResult:
    """``train_from_tables("sql", ...)``: the lead -> SQL model."""
    return train_from_tables("sql", tables, settings, **options)


def train_win_from_tables(tables: Tables, settings: Settings, **options) -> TrainResult:
    """``train_from_tables("win", ...)``: the opportunity win model."""
    return train_from_tables("win", tables, settings, **options)


def read_tables(task: str, settings: Settings) -> dict[str, pd.DataFrame]:
    """The canonical tables ``task`` needs, read from the settings' store."""
    from crm.store import CRMStore

    return CRMStore(settings.database_url).read_tables(_TABLES_NEEDED[check_task(task)])


def train_from_store(task: str, settings: Settings, **options) -> TrainResult:
    """``train_from_tables`` on the tables in ``settings.database_url``.

    A refusal for too little data is recorded on the registered model
    (``record_training_refusal``), so the service can say why it answers with the rules; the
    ``InsufficientDataError`` is raised again.
    """
    try:
        return train_from_tables(task, read_tables(task, settings), settings, **options)
    except InsufficientDataError as error:
        record_training_refusal(model_name(task, settings), str(error),
                                tracking_uri=prepare_tracking(settings))
        raise


def train_sql_from_store(settings: Settings, **options) -> TrainResult:
    """Train and register the SQL model from the store."""
    return train_from_store("sql", settings, **options)


def train_win_from_store(settings: Settings, **options) -> TrainResult:
    """Train and register the win model from the store."""
    return train_from_store("win", settings, **options)


def prepare_tracking(settings: Settings) -> str:
    """The MLflow tracking URI; for a SQLite file, its folder is created first."""
    return ensure_sqlite_parent(settings.mlflow_tracking_uri)


# --- promotion ----------------------------------------------------------------------------


def _bundle_train_config(bundle: ModelBundle) -> TrainConfig:
    settings = {k: v for k, v in bundle.config.items() if k in TrainConfig.model_fields}
    return TrainConfig(**settings)


def build_holdout(task: str, tables: Tables, challenger: ModelBundle,
                  as_of_end: pd.Timestamp | None = None
                  ) -> Callable[[ModelBundle], pd.DataFrame]:
    """The hold-out both models are scored on, as ``bundle -> labelled features``.

    The rows are the challenger's test slice: the examples rebuilt from ``tables`` at the data
    cut training recorded (``as_of_end`` overrides it; models trained before it was recorded
    use the latest data) and split with the training config the challenger recorded; each
    model's features are computed for those same (entity, as_of) rows with its own
    ``FeatureConfig``.
    """
    feature_config = FeatureConfig.from_dict(challenger.feature_config)
    config = _bundle_train_config(challenger)
    cut = as_of_end if as_of_end is not None else recorded_data_cut(challenger, tables)
    examples = build_examples(task, tables, feature_config, cut)
    test = split_examples(examples, feature_registry(task, feature_config), config).test
    recorded = challenger.metrics.get("test", {}).get("model", {}).get("rows")
    if recorded is not None and int(recorded) != len(test):
        logger.warning("promotion hold-out has %d rows; training's test slice had %d (the store "
                       "changed since training)", len(test), int(recorded))
    id_col = _ID_COLUMNS[task]
    cache: dict[str, pd.DataFrame] = {_config_key(challenger.feature_config): test}

    def holdout(bundle: ModelBundle) -> pd.DataFrame:
        key = _config_key(bundle.feature_config)
        if key not in cache:
            pairs = test[[id_col, "as_of"]].reset_index(drop=True)
            features = _build_features(task, tables, pairs, FeatureConfig.from_dict(
                bundle.feature_config))
            cache[key] = features.assign(label=test["label"].to_numpy())
        return cache[key]

    return holdout


def recorded_data_cut(bundle: ModelBundle, tables: Tables) -> pd.Timestamp:
    """The data cut training recorded in ``bundle``; the latest data when it has none."""
    recorded = bundle.config.get("as_of_end")
    return pd.Timestamp(recorded) if recorded else default_as_of_end(tables)


def _config_key(feature_config: Mapping) -> str:
    return json.dumps(feature_config, sort_keys=True, default=str)


def _build_features(task: str, tables: Tables, pairs: pd.DataFrame,
                    config: FeatureConfig) -> pd.DataFrame:
    if task == "win":
        return build_opportunity_features(complete_tables(tables), pairs, config)
    return build_lead_features(tables, pairs, config)


def promote_from_tables(task: str, tables: Tables, settings: Settings,
                        tolerance_auc: float = 0.005, tolerance_brier: float = 0.005,
                        as_of_end: pd.Timestamp | None = None) -> PromotionResult:
    """Promote ``task``'s challenger if it is not worse than the champion on the hold-out.

    Raises:
        LookupError: no challenger is registered.
        training.registry.PromotionRefusedError: the challenger is worse (shows both).
    """
    name, uri = model_name(task, settings), prepare_tracking(settings)
    try:
        challenger = load_bundle(f"models:/{name}@{CHALLENGER}", tracking_uri=uri)
    except Exception as error:  # MLflow raises several types for a missing alias or model
        raise LookupError(f"registered model {name!r} has no {CHALLENGER!r} version to "
                          f"promote (train one first): {error}") from None
    holdout = build_holdout(task, tables, challenger, as_of_end)
    return promote_challenger(name, holdout, tolerance_auc, tolerance_brier, tracking_uri=uri)


def promote_from_store(task: str, settings: Settings, **options) -> PromotionResult:
    """``promote_from_tables`` on the tables in the settings' store."""
    return promote_from_tables(task, read_tables(task, settings), settings, **options)


def rollback_model(task: str, settings: Settings) -> str:
    """Restore the previous champion of ``task``'s model; returns the version now champion."""
    return rollback(model_name(task, settings), tracking_uri=prepare_tracking(settings))
