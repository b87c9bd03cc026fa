"""The SQL model trained past one machine: examples on Dask, the booster on ``lightgbm.dask``.

``train_sql_on_dask`` runs the local trainer (``training.train.train_model``) with two changes:

1. **Examples** come from ``scale.features.build_sql_examples_dask`` (every partition's leads,
   the same rows as the local path) and stay in the cluster's memory.
2. **Model selection, calibration, baselines, evaluation and the gate** run on a *documented
   sample*: every snapshot of a stable hash-chosen subset of leads, about ``sample_rows`` rows
   (all examples when there are fewer). The logistic and naive-Bayes candidates and baselines
   see only this sample. When a LightGBM candidate wins, it is **refitted on every example
   before the sample's validation window** with ``lightgbm.dask.DaskLGBMClassifier`` (its
   parameters, its number of rounds from the folds, the sample's category levels), and that
   booster is calibrated, judged and registered — a bundle the service loads like any other.

Rows of one lead stay together in the sample (and on one side of its split).
"""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Mapping

import dask
import dask.dataframe as dd
import lightgbm as lgb
import pandas as pd
from distributed import Client

from crm.settings import Settings
from features.config import FeatureConfig
from features.leads import lead_feature_registry
from features.registry import FeatureRegistry
from scale.features import build_sql_examples_dask
from scale.partitions import AccountPartitions, bucket_of, collect_frame
from training.bundle import resolve_feature_config
from training.model import BoosterParams, prepare_features
from training.rules import RulesConfig, load_rules
from training.selection import FittedCandidate, Selection
from training.split import TimeSplit
from training.train import BoosterRefit, TrainConfig, TrainResult, train_model
from training.workflows import (
    load_training_setup,
    make_baseline_rule,
    model_name,
    prepare_tracking,
    type_training_attributes,
    with_seed,
)

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_ROWS = 200_000
_SAMPLE_BUCKETS = 1_000_000
Progress = Callable[[str], None]


def latest_timestamp_dask(tables: Mapping[str, dd.DataFrame]) -> pd.Timestamp:
    """The latest timestamp of any column of ``tables`` (one pass over the cluster).

    Raises:
        ValueError: no table holds a timestamp.
    """
    maxima = [frame[column].max() for frame in tables.values() for column in frame.columns
              if isinstance(frame[column].dtype, pd.DatetimeTZDtype)]
    found = [stamp for stamp in dask.compute(*maxima) if not pd.isna(stamp)]
    if not found:
        raise ValueError("the tables hold no timestamps: cannot choose a data cut (as_of_end)")
    return pd.Timestamp(max(found)).tz_convert("UTC")


def _in_sample(examples: pd.DataFrame, share: float) -> pd.DataFrame:
    buckets = bucket_of(examples["lead_id"], _SAMPLE_BUCKETS)
    return examples[buckets < share * _SAMPLE_BUCKETS]


def sample_examples(examples: dd.DataFrame, client: Client, rows: int) -> pd.DataFrame:
    """Every example of a stable, hash-chosen subset of leads, about ``rows`` rows (all of
    them when there are fewer), gathered into pandas.

    Raises:
        ValueError: ``rows`` below 1.
    """
    if rows < 1:
        raise ValueError(f"sample_rows must be at least 1, got {rows}")
    total = len(examples)
    share = min(1.0, rows / max(total, 1))
    chosen = examples if share >= 1.0 else examples.map_partitions(_in_sample, share,
                                                                    meta=examples._meta)
    sample = collect_frame(chosen, client)
    logger.info("training sample: %d of %d examples (%.1f%% of leads)", len(sample), total,
                100 * share)
    return sample


def _classifier_params(params: BoosterParams, seed: int) -> dict:
    """``BoosterParams`` under the scikit-learn names of ``DaskLGBMClassifier``."""
    return {"learning_rate": params.learning_rate, "num_leaves": params.num_leaves,
            "min_child_samples": params.min_data_in_leaf,
            "colsample_bytree": params.feature_fraction, "reg_lambda": params.lambda_l2,
            "max_cat_to_onehot": params.max_cat_to_onehot,
            "random_state": seed, "deterministic": True, "force_row_wise": True,
            "verbosity": -1}


def fit_booster_dask(client: Client, examples: dd.DataFrame, registry: FeatureRegistry,
                     levels: Mapping[str, list[str]], params: BoosterParams, rounds: int,
                     seed: int, label_col: str = "label") -> lgb.Booster:
    """A LightGBM booster of ``rounds`` rounds fitted on every row of ``examples`` with
    ``lightgbm.dask`` (each worker trains on the partitions it holds).

    Args:
        examples: labelled examples with every feature of ``registry``.
        levels: category levels (the booster records them, as ``training.model`` does).
        params / rounds / seed: the chosen candidate's settings.
    """
    meta = prepare_features(examples._meta.iloc[:0], registry, levels)
    features = examples.map_partitions(prepare_features, registry, dict(levels), meta=meta)
    labels = examples[label_col]
    model = lgb.DaskLGBMClassifier(client=client, n_estimators=rounds,
                                   **_classifier_params(params, seed))
    with warnings.catch_warnings():  # it names n_jobs, which is not set: Dask sets threads
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(features, labels)
    return lgb.Booster(model_str=model.booster_.model_to_string())


def dask_refit(client: Client, examples: dd.DataFrame, registry: FeatureRegistry,
               config: TrainConfig) -> BoosterRefit:
    """The ``refit`` of ``train_model``: the chosen LightGBM candidate on every example of
    ``examples`` before the sample's validation window."""
    def refit(chosen: FittedCandidate, selection: Selection, split: TimeSplit) -> lgb.Booster:
        start = split.valid[config.time_col].min()
        before = examples[examples[config.time_col] < start]
        params = chosen.candidate.booster_params(config.booster)
        logger.info("refitting %s on every example before %s with lightgbm.dask (%d rounds)",
                    chosen.candidate.name, start, chosen.rounds)
        return fit_booster_dask(client, before, registry, selection.levels, params,
                                int(chosen.rounds or params.num_boost_round), config.seed,
                                config.label_col)

    return refit


def train_sql_on_dask(parts: AccountPartitions, client: Client, settings: Settings, *,
                      feature_config: FeatureConfig | None = None,
                      train_config: TrainConfig | None = None,
                      as_of_end: pd.Timestamp | None = None,
                      sample_rows: int = DEFAULT_SAMPLE_ROWS, progress: Progress | None = None,
                      rules: RulesConfig | None = None, force: bool = False) -> TrainResult:
    """Train, log and register the SQL model as ``training.workflows.train_from_tables`` does,
    with the examples on Dask and the LightGBM booster fitted by ``lightgbm.dask`` (see the
    module docstring for what runs on the sample). The dataset's own columns are typed as
    there (``type_training_attributes``), from the leads' ``created_at`` and ``attributes``
    gathered from the cluster.

    Args:
        parts: the account partitions of leads, activities and accounts.
        client: the Dask client.
        settings: MLflow store, model name, seed.
        feature_config / train_config / rules / force: as for ``train_from_tables``.
        as_of_end: the data cut; default just after the latest timestamp of the tables.
        sample_rows: about how many examples model selection and evaluation see.
        progress: called with one-line status messages.

    Raises:
        InsufficientDataError / ModelRefusedError: as ``train_model``.
    """
    setup = load_training_setup("sql")
    feature_config = resolve_feature_config(feature_config or setup.feature_config)
    train_config = with_seed(train_config or setup.train_config, settings.seed)
    rules = rules or load_rules()
    notify = progress or (lambda message: None)
    feature_config, typing = type_training_attributes(
        "sql", parts.leads[["created_at", "attributes"]].compute(), feature_config, train_config)
    cut = as_of_end if as_of_end is not None else latest_timestamp_dask(
        {"leads": parts.leads, "activities": parts.activities, "accounts": parts.accounts}
    ) + pd.Timedelta(microseconds=1)
    notify(f"building sql examples on Dask as of {cut.isoformat()}")
    examples = build_sql_examples_dask(parts, feature_config, cut).persist()
    sample = sample_examples(examples, client, sample_rows)
    notify(f"{len(examples):,} examples; model selection on a sample of {len(sample):,} "
           f"({int(sample['label'].sum()):,} positive)")
    registry = lead_feature_registry(feature_config)
    return train_model(
        sample, registry, model_name=model_name("sql", settings),
        tracking_uri=prepare_tracking(settings), config=train_config,
        rule_score=make_baseline_rule("sql", rules), progress=progress,
        artifact_location=settings.mlflow_artifact_root, feature_config=feature_config,
        rules=rules, data_cut=cut, force=force,
        refit=dask_refit(client, examples, registry, train_config), attribute_typing=typing)
