"""Train one leadscore model end to end and register it as the ``challenger``.

``train_model`` runs: split by time -> minimum-data guard -> fit the booster (early stopping on
valid) -> calibrate and set grade thresholds on valid -> evaluate the model and both baselines on
the untouched test slice -> SHAP plots -> log params, metrics, tags, artifacts and the model to
MLflow -> register a new version with alias ``challenger``.

Which slice does what: **train** fits the booster and the category levels; **valid** (newer)
drives early stopping, fits the calibrator and the grade thresholds and the rule baseline's
sigmoid; **test** (newest) is used for nothing but measurement, so its numbers are honest.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import mlflow
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from features import FeatureConfig
from features.registry import FeatureRegistry
from training.baselines import (
    NaiveBayesLeadScorer,
    RuleScore,
    RuleScoreBaseline,
    make_points_rule,
)
from training.bundle import (
    ModelBundle,
    log_bundle,
    resolve_feature_config,
    resolve_rules,
    summarize_training_data,
    use_tracking_uri,
)
from training.evaluate import (
    EvaluationReport,
    compare_reports,
    evaluate_model,
    grade_table,
    is_finite_number,
    plot_calibration,
    plot_lift_gains,
    render_report,
)
from training.explain import plot_shap_summary
from training.model import (
    BoosterParams,
    check_grade_thresholds,
    check_labels,
    check_minimum_data,
    fit_booster,
    fit_calibrator,
    fit_category_levels,
    fit_grade_thresholds,
    prepare_features,
)
from training.registry import register_challenger
from training.rules import RulesConfig
from training.split import TimeSplit, split_by_time

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


class TrainConfig(BaseModel):
    """Everything ``train_model`` can be told; defaults need no tuning."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42
    id_col: str = "lead_id"
    time_col: str = "as_of"
    label_col: str = "label"
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    isolate: Literal["train", "all"] = "train"
    embargo_days: float = Field(0.0, ge=0, description="Drop train rows this close to valid "
                                "(set to the label horizon).")
    booster: BoosterParams = Field(default_factory=BoosterParams)
    calibration_methods: tuple[Literal["sigmoid", "isotonic"], ...] = ("sigmoid", "isotonic")
    calibration_folds: int = Field(5, ge=2)
    grade_shares: tuple[float, float, float] = (0.10, 0.20, 0.30)
    grade_thresholds: dict[str, float] | None = None
    min_positives: int = Field(40, ge=1)
    min_negatives: int = Field(40, ge=1)
    segment_cols: tuple[str, ...] = ("source", "industry")
    icp_col: str | None = "icp_fit"
    ece_bins: int = Field(10, ge=1)
    min_segment_rows: int = Field(30, ge=1)
    shap_max_rows: int = Field(2000, ge=10)
    make_plots: bool = True
    experiment_name: str | None = None

    @field_validator("grade_thresholds")
    @classmethod
    def _valid_thresholds(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        return None if value is None else check_grade_thresholds(value)

    @classmethod
    def from_yaml(cls, path: Path | str) -> "TrainConfig":
        """Read a config from a YAML mapping (unknown keys are an error)."""
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training config must be a YAML mapping")
        return cls(**data)


@dataclass
class TrainResult:
    """What one training run produced."""

    bundle: ModelBundle
    run_id: str
    model_uri: str
    model_name: str
    version: str
    reports: dict[str, EvaluationReport]
    comparison: pd.DataFrame
    split_summary: dict
    grades: pd.DataFrame | None = None  # rows, positives, conversion rate per grade (test)


def train_model(
    examples: pd.DataFrame,
    registry: FeatureRegistry,
    *,
    model_name: str,
    tracking_uri: str,
    config: TrainConfig | None = None,
    rule_score: RuleScore | None = None,
    progress: Progress | None = None,
    artifact_location: str | Path | None = None,
    feature_config: FeatureConfig | Mapping[str, Any] | None = None,
    rules: RulesConfig | None = None,
) -> TrainResult:
    """Split, fit, calibrate, evaluate, explain, log and register one model.

    Args:
        examples: one row per snapshot: ``config.id_col``, ``config.time_col``,
            ``config.label_col`` (0/1) and every feature in ``registry``; segment and ICP
            columns are used for reporting when present.
        registry: the model's features (their order is the model's input order).
        model_name: registered model name (e.g. ``leadscore-sql``).
        tracking_uri: MLflow tracking and registry URI (e.g. ``sqlite:///mlruns/mlflow.db``).
        config: training settings (defaults: ``TrainConfig()``).
        rule_score: baseline rule ``frame -> scores``; default ``make_points_rule(registry)``.
        progress: called with one-line status messages.
        artifact_location: artifact root of a new experiment; default for a SQLite store:
            ``artifacts/`` beside the database file.
        feature_config: the feature pipeline's settings (a ``FeatureConfig`` or its
            ``to_dict()``; default ``FeatureConfig()``); stored in the bundle with the ICP
            resolved to its data, so serving builds features the same way whatever
            ``config/icp.yaml`` holds later.
        rules: the rule set stored in the bundle (actions on model answers, the rules fallback
            of this version); default ``config/rules.yaml`` as it is now.

    Returns:
        A ``TrainResult``; raises ``InsufficientDataError`` when the training split is too small.
    """
    config = config or TrainConfig()
    notify = _notifier(progress)
    _check_examples(examples, registry, config)
    split = split_by_time(examples, config.time_col, config.split_fractions,
                          entity_col=config.id_col, isolate=config.isolate,
                          embargo=pd.Timedelta(days=config.embargo_days) or None)
    summary = split.summary(config.label_col)
    notify("split: " + ", ".join(f"{k} {v['rows']} rows / {v['positives']} positives"
                                 for k, v in summary.items()))
    bundle = fit_bundle(split, registry, config, notify)
    bundle.feature_config = resolve_feature_config(feature_config).to_dict()
    bundle.rules = resolve_rules(rules).model_dump(mode="json")
    reports = evaluate_split(bundle, split, registry, config, rule_score)
    comparison = compare_reports(reports)
    bundle.metrics = _bundle_metrics(bundle, reports)
    notify("test ROC AUC: " + ", ".join(f"{name} {report.metrics['roc_auc']:.3f}"
                                        for name, report in reports.items()))
    with use_tracking_uri(tracking_uri):
        experiment_id = ensure_experiment(config.experiment_name or model_name, tracking_uri,
                                       artifact_location)
        run_id, model_uri = _log_run(experiment_id, bundle, split, reports, config, model_name)
    notify(f"logged run {run_id} (metrics, reports, plots, model) to MLflow")
    version = register_challenger(model_uri, model_name, tracking_uri=tracking_uri,
                                  tags={"run_id": run_id, "seed": str(config.seed)})
    notify(f"registered {model_name} version {version} as challenger")
    grades = grade_table(check_labels(split.test, config.label_col),
                         bundle.predict_frame(split.test)["grade"].to_numpy())
    return TrainResult(bundle, run_id, model_uri, model_name, version, reports, comparison,
                       summary, grades)


def _notifier(progress: Progress | None) -> Progress:
    def notify(message: str) -> None:
        logger.info(message)
        if progress is not None:
            progress(message)

    return notify


def _check_examples(examples: pd.DataFrame, registry: FeatureRegistry, config: TrainConfig) -> None:
    required = [config.id_col, config.time_col, config.label_col, *registry.names]
    missing = [c for c in required if c not in examples.columns]
    if missing:
        raise ValueError(f"examples are missing columns {missing} (id/time/label columns come "
                         "from TrainConfig, features from the registry)")
    if not pd.api.types.is_datetime64_any_dtype(examples[config.time_col]):
        raise ValueError(f"examples column {config.time_col!r} must be a timestamp, got "
                         f"{examples[config.time_col].dtype}")
    check_labels(examples, config.label_col)


def fit_bundle(
    split: TimeSplit,
    registry: FeatureRegistry,
    config: TrainConfig,
    notify: Progress | None = None,
) -> ModelBundle:
    """Fit booster (train, early-stopped on valid), calibrator and grade thresholds (valid).

    Raises ``InsufficientDataError`` when the train split is below the configured minimums,
    valid has fewer than ``calibration_folds`` of a class or test lacks a class.
    """
    notify = notify or _notifier(None)
    y_train, y_valid = _check_split_sizes(split, config)
    levels = fit_category_levels(split.train, registry)
    X_train = prepare_features(split.train, registry, levels)
    X_valid = prepare_features(split.valid, registry, levels)
    booster = fit_booster(X_train, y_train, X_valid, y_valid, params=config.booster,
                          seed=config.seed, progress=notify)
    raw_valid = booster.predict(X_valid)
    calibrator = fit_calibrator(raw_valid, y_valid, methods=config.calibration_methods,
                                folds=config.calibration_folds, seed=config.seed)
    notify(f"calibration: {calibrator.method} (cross-fitted Brier {calibrator.cv_brier})")
    valid_proba = calibrator.transform(raw_valid)
    thresholds = config.grade_thresholds or fit_grade_thresholds(valid_proba, config.grade_shares)
    return ModelBundle(
        booster=booster, registry=registry, categorical_levels=levels, calibrator=calibrator,
        grade_thresholds=thresholds,
        config={**config.model_dump(mode="json"), "best_iteration": booster.current_iteration()},
        training_summary=summarize_training_data(split.train, registry, levels),
    )


def _check_split_sizes(split: TimeSplit, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    y_train, y_valid, y_test = (check_labels(part, config.label_col)
                                for part in (split.train, split.valid, split.test))
    check_minimum_data(y_train, min_positives=config.min_positives,
                       min_negatives=config.min_negatives, split="train")
    folds = config.calibration_folds
    check_minimum_data(y_valid, min_positives=folds, min_negatives=folds, split="valid")
    check_minimum_data(y_test, min_positives=1, min_negatives=1, split="test")
    return y_train, y_valid


def evaluate_split(
    bundle: ModelBundle,
    split: TimeSplit,
    registry: FeatureRegistry,
    config: TrainConfig,
    rule_score: RuleScore | None = None,
) -> dict[str, EvaluationReport]:
    """Model, rule baseline and naive-Bayes baseline measured on the same test slice."""
    y_train, y_valid, y_test = (check_labels(part, config.label_col)
                                for part in (split.train, split.valid, split.test))
    rules = RuleScoreBaseline(rule_score or make_points_rule(registry)).fit(split.valid, y_valid)
    categorical = [d.name for d in registry if d.dtype in ("category", "bool")]
    naive_bayes = NaiveBayesLeadScorer(categorical=categorical).fit(
        split.train[registry.names], y_train)
    probabilities = {
        "model": bundle.predict_proba(split.test),
        "rules": rules.predict_proba(split.test)[:, 1],
        "naive_bayes": naive_bayes.predict_proba(split.test[registry.names])[:, 1],
    }
    return {name: evaluate_model(y_test, proba, split.test, segment_cols=config.segment_cols,
                                 icp_col=config.icp_col, n_bins=config.ece_bins,
                                 min_segment_rows=config.min_segment_rows)
            for name, proba in probabilities.items()}


def _bundle_metrics(bundle: ModelBundle, reports: dict[str, EvaluationReport]) -> dict:
    test = {name: {k: (float(v) if is_finite_number(v) else None)
                   for k, v in report.metrics.items()} for name, report in reports.items()}
    return {"test": test, "calibration_cv_brier": bundle.calibrator.cv_brier,
            "calibration_method": bundle.calibrator.method}


# --- MLflow -------------------------------------------------------------------------------


def _log_run(
    experiment_id: str,
    bundle: ModelBundle,
    split: TimeSplit,
    reports: dict[str, EvaluationReport],
    config: TrainConfig,
    model_name: str,
) -> tuple[str, str]:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags(_run_tags(split, model_name, config))
        mlflow.log_params(_run_params(bundle, config))
        mlflow.log_metrics(_run_metrics(bundle, reports))
        with tempfile.TemporaryDirectory(prefix="leadscore-report-") as tmp:
            _write_artifacts(Path(tmp), bundle, split, reports, config)
            mlflow.log_artifacts(tmp, artifact_path="evaluation")
        info = log_bundle(bundle, split.train, name="model")
    return run.info.run_id, info.model_uri


def ensure_experiment(name: str, tracking_uri: str,
                      artifact_location: str | Path | None = None) -> str:
    """Id of MLflow experiment ``name`` on the current tracking URI, created if missing.

    A new experiment's artifacts go to ``artifact_location``; for a SQLite store the default is
    ``artifacts/`` beside the database file (never the working directory's ``mlruns/``).
    """
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_location or _default_artifact_location(tracking_uri)
    if location is not None and "://" not in str(location):
        location = Path(location).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def _default_artifact_location(tracking_uri: str) -> str | None:
    """``artifacts/`` beside a SQLite database file; ``None`` (the server decides) otherwise."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri[len("sqlite:///"):])
    return (database.resolve().parent / "artifacts").as_uri()


def _run_tags(split: TimeSplit, model_name: str, config: TrainConfig) -> dict[str, str]:
    tags = {"leadscore.model_name": model_name, "leadscore.seed": str(config.seed),
            "leadscore.label": config.label_col}
    for name, part in split.parts().items():
        times = part[config.time_col]
        tags[f"data_window.{name}"] = f"{times.min().isoformat()} .. {times.max().isoformat()}"
    return tags


def _run_params(bundle: ModelBundle, config: TrainConfig) -> dict[str, object]:
    params = {f"booster.{k}": v for k, v in config.booster.model_dump().items()}
    params.update({k: v for k, v in config.model_dump(mode="json").items() if k != "booster"})
    params.update({"n_features": len(bundle.features),
                   "best_iteration": bundle.booster.current_iteration(),
                   "calibration_method": bundle.calibrator.method,
                   "grade_thresholds": json.dumps(bundle.grade_thresholds)})
    return {k: (json.dumps(v) if isinstance(v, (list, dict, tuple)) else v)
            for k, v in params.items()}


def _run_metrics(bundle: ModelBundle, reports: dict[str, EvaluationReport]) -> dict[str, float]:
    metrics = {f"test.{scorer}.{k}": float(v) for scorer, report in reports.items()
               for k, v in report.metrics.items() if is_finite_number(v)}
    metrics.update({f"valid.calibration_cv_brier.{k}": v
                    for k, v in bundle.calibrator.cv_brier.items()})
    return metrics


def _write_artifacts(
    out: Path,
    bundle: ModelBundle,
    split: TimeSplit,
    reports: dict[str, EvaluationReport],
    config: TrainConfig,
) -> None:
    y_test = check_labels(split.test, config.label_col)
    grades = bundle.predict_frame(split.test)["grade"].to_numpy()
    comparison = compare_reports(reports)
    text = render_report(comparison, reports["model"], grade_table(y_test, grades))
    (out / "report.md").write_text(text, encoding="utf-8")
    comparison.to_csv(out / "comparison.csv", index_label="metric")
    for name, report in reports.items():
        (out / f"{name}_report.json").write_text(
            json.dumps(report.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
    (out / "split.json").write_text(json.dumps(split.summary(config.label_col), indent=1))
    (out / "features.json").write_text(json.dumps(bundle.registry.to_dict(), ensure_ascii=False,
                                                  indent=1), encoding="utf-8")
    if config.make_plots:
        plot_calibration(reports, out / "calibration.png")
        plot_lift_gains(reports, out / "lift_gains.png")
        plot_shap_summary(bundle, split.test, out, max_rows=config.shap_max_rows, seed=config.seed)
