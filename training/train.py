"""Train one leadscore model end to end and register it as the ``challenger``.

``train_model`` runs: split by time -> minimum-data guard -> choose and fit the model on
rolling-origin folds (``training.selection``: LightGBM grid and logistic regression, lowest mean
fold log loss) -> calibrate and set grade thresholds on the newest fold (valid) -> evaluate the
model and the baselines on the untouched test slice -> the registration gate
(``training.gate``) -> SHAP plots -> log params, metrics, every candidate's fold figures, tags,
artifacts and the model to MLflow -> register a new version with alias ``challenger`` (only
when the gate passed, or with ``force``).

Which slice does what: **train** holds the older folds and fits the model and the category
levels; **valid** (newer) is the newest fold: it scores the candidates with the older folds,
fits the calibrator, the grade thresholds and the rule baseline's sigmoid; **test** (newest) is
used for nothing but measurement, so its numbers are honest (and, binned, as the drift
reference stored in the bundle: ``training.drift``).

Rows of different leads with identical features (the same person entered twice) share a group
(``group_identical_rows``) that never sits on both sides of the split or of a fold.

Baselines on the test slice: ``logistic`` (one-hot/binned logistic regression, ``C = 1``, raw),
``lightgbm_default`` (LightGBM's library defaults, 100 rounds, raw), ``naive_bayes`` (Odoo's
frequency tables on the lead's categorical fields) and ``rules`` (the points score).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm.tracking import ensure_experiment
from features import FeatureConfig
from features.attribute_typing import AttributeTyping
from features.registry import FeatureRegistry
from training.baselines import (
    NaiveBayesLeadScorer,
    RuleScore,
    RuleScoreBaseline,
    make_points_rule,
    naive_bayes_columns,
)
from training.bundle import (
    ModelBundle,
    log_bundle,
    resolve_feature_config,
    resolve_rules,
    summarize_training_data,
    use_tracking_uri,
)
from training.drift import build_drift_reference
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
from training.explain import find_context_features, plot_shap_summary
from training.gate import ModelRefusedError, check_registrable
from training.linear import fit_linear_model
from training.model import (
    BoosterParams,
    Calibrator,
    check_grade_thresholds,
    check_labels,
    check_minimum_data,
    feature_matrix,
    fit_calibrator,
    fit_grade_thresholds,
    prepare_features,
)
from training.registry import register_challenger
from training.rules import RulesConfig
from training.selection import (
    DEFAULT_CANDIDATES,
    Candidate,
    FittedCandidate,
    Selection,
    rolling_origin_folds,
    select_model,
)
from training.split import TimeSplit, identical_row_groups, split_by_time

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Fits the chosen LightGBM candidate again (its parameters and rounds, the selection's category
# levels) on more rows than the examples hold, e.g. ``scale.training`` on a Dask cluster.
BoosterRefit = Callable[[FittedCandidate, Selection, TimeSplit], lgb.Booster]
IDENTICAL_GROUP = "identical_row_group"
LIGHTGBM_DEFAULTS = {"objective": "binary", "verbosity": -1, "deterministic": True,
                     "force_row_wise": True}  # LightGBM's own defaults otherwise, 100 rounds


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
    candidates: tuple[Candidate, ...] = Field(DEFAULT_CANDIDATES, min_length=1)
    cv_folds: int = Field(3, ge=1, description="Rolling-origin folds (newest = valid).")
    group_identical_rows: bool = True
    max_identical_group: int = Field(10, ge=2, description="Larger identical-row groups are a "
                                     "common profile, not a repeated record.")
    min_trees: int = Field(10, ge=1)
    min_proba_std: float = Field(0.005, ge=0)
    baseline_tolerance_auc: float = Field(0.005, ge=0)
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
    candidates: pd.DataFrame | None = None  # every candidate's figures on every fold
    refused: list[str] | None = None  # gate problems of a model registered with force
    attributes: pd.DataFrame | None = None  # leads.attributes keys: type, used, reason


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
    data_cut: pd.Timestamp | None = None,
    force: bool = False,
    refit: BoosterRefit | None = None,
    attribute_typing: AttributeTyping | None = None,
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
        data_cut: the ``as_of_end`` the examples were built at; recorded so promotion can
            rebuild the same test slice.
        force: register even when the gate (``training.gate``) refuses the model.
        refit: when the chosen model is a LightGBM candidate, replaces its newest-fold fit
            (calibration, evaluation and the gate then judge the refitted booster).
        attribute_typing: how the dataset's own columns were typed (``feature_config`` holds
            its result); stored in the bundle, logged and reported.

    Returns:
        A ``TrainResult``. Raises ``InsufficientDataError`` when the training split is too
        small, ``ModelRefusedError`` (after logging the run) when the gate refuses the model.
    """
    config = config or TrainConfig()
    notify = _notifier(progress)
    _check_examples(examples, registry, config)
    split = split_examples(examples, registry, config)
    summary = split.summary(config.label_col)
    notify("split: " + ", ".join(f"{k} {v['rows']} rows / {v['positives']} positives"
                                 for k, v in summary.items()))
    bundle, selection = select_and_fit(split, registry, config, notify, refit)
    bundle.feature_config = resolve_feature_config(feature_config).to_dict()
    bundle.rules = resolve_rules(rules).model_dump(mode="json")
    if data_cut is not None:
        bundle.config["as_of_end"] = pd.Timestamp(data_cut).isoformat()
    if attribute_typing is not None:
        bundle.config["attributes"] = attribute_typing.to_records()
    reports = evaluate_split(bundle, split, registry, config, rule_score, selection)
    comparison = compare_reports(reports)
    bundle.metrics = _bundle_metrics(bundle, reports, selection, split, config)
    notify("test ROC AUC: " + ", ".join(f"{name} {report.metrics['roc_auc']:.3f}"
                                        for name, report in reports.items()))
    problems = gate_problems(bundle, split, reports, config)
    with use_tracking_uri(tracking_uri):
        experiment_id = ensure_experiment(config.experiment_name or model_name, tracking_uri,
                                       artifact_location)
        run_id, model_uri = _log_run(experiment_id, bundle, split, reports, config, model_name,
                                     selection, problems, force)
    notify(f"logged run {run_id} (metrics, reports, plots, model) to MLflow")
    if problems and not force:
        raise ModelRefusedError(model_name, problems, run_id)
    version = register_challenger(model_uri, model_name, tracking_uri=tracking_uri,
                                  tags={"run_id": run_id, "seed": str(config.seed),
                                        **({"leadscore.forced": "true"} if problems else {})})
    notify(f"registered {model_name} version {version} as challenger"
           + (" (forced past the gate)" if problems else ""))
    grades = grade_table(check_labels(split.test, config.label_col),
                         bundle.predict_frame(split.test)["grade"].to_numpy())
    return TrainResult(bundle, run_id, model_uri, model_name, version, reports, comparison,
                       summary, grades, selection.table(), problems or None,
                       attribute_table(bundle))


def attribute_table(bundle: ModelBundle) -> pd.DataFrame | None:
    """The typing of the dataset's own columns recorded in ``bundle`` (None: not typed)."""
    records = bundle.config.get("attributes")
    return None if records is None else pd.DataFrame(records, columns=ATTRIBUTE_COLUMNS)


ATTRIBUTE_COLUMNS = ("key", "type", "used", "reason", "filled_share", "distinct")


def split_examples(examples: pd.DataFrame, registry: FeatureRegistry,
                   config: TrainConfig) -> TimeSplit:
    """The time split of ``config``; with ``group_identical_rows`` the examples gain an
    ``identical_row_group`` column and no group straddles the parts."""
    groups = None
    if config.group_identical_rows:
        groups = identical_row_groups(examples, registry.names, config.id_col,
                                      config.max_identical_group)
        examples = examples.assign(**{IDENTICAL_GROUP: groups.to_numpy()})
    return split_by_time(examples, config.time_col, config.split_fractions,
                         entity_col=config.id_col, isolate=config.isolate,
                         embargo=pd.Timedelta(days=config.embargo_days) or None, groups=groups)


def gate_problems(bundle: ModelBundle, split: TimeSplit, reports: dict[str, EvaluationReport],
                  config: TrainConfig) -> list[str]:
    """The registration gate's verdict on ``bundle`` (``training.gate.check_registrable``)."""
    return check_registrable(
        bundle.model_kind, bundle.model_size(), bundle.predict_proba(split.test),
        {name: report.metrics for name, report in reports.items()},
        min_trees=config.min_trees, min_proba_std=config.min_proba_std,
        tolerance_auc=config.baseline_tolerance_auc)


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
    """``select_and_fit`` without the selection details: the calibrated bundle."""
    return select_and_fit(split, registry, config, notify)[0]


def select_and_fit(
    split: TimeSplit,
    registry: FeatureRegistry,
    config: TrainConfig,
    notify: Progress | None = None,
    refit: BoosterRefit | None = None,
) -> tuple[ModelBundle, Selection]:
    """Choose the model on rolling-origin folds, then fit calibrator and grade thresholds on
    the newest fold (valid).

    Raises ``InsufficientDataError`` when the train split is below the configured minimums,
    valid has fewer than ``calibration_folds`` of a class or test lacks a class.
    """
    notify = notify or _notifier(None)
    y_train, y_valid = _check_split_sizes(split, config)
    groups = tuple(c for c in (config.id_col, IDENTICAL_GROUP) if c in split.train.columns)
    folds = rolling_origin_folds(split.train, split.valid, config.cv_folds,
                                 time_col=config.time_col, group_cols=groups,
                                 label_col=config.label_col, min_class_rows=config.min_positives)
    selection = select_model(folds, registry, config.candidates, base_params=config.booster,
                             label_col=config.label_col, seed=config.seed, notify=notify)
    chosen = selection.chosen
    model = {"booster": chosen.model} if chosen.candidate.kind == "lightgbm" else {
        "linear": chosen.model}
    if refit is not None and "booster" in model:
        model["booster"] = refit(chosen, selection, split)
        notify(f"refitted {chosen.candidate.name}: {model['booster'].current_iteration()} "
               "rounds")
    bundle = ModelBundle(booster=model.get("booster"), registry=registry,
                         categorical_levels=selection.levels, calibrator=_IDENTITY,
                         grade_thresholds={"A": 1.0, "B": 1.0, "C": 1.0},
                         linear=model.get("linear"))
    raw_valid = bundle.predict_raw(split.valid)
    bundle.calibrator = fit_calibrator(raw_valid, y_valid, methods=config.calibration_methods,
                                       folds=config.calibration_folds, seed=config.seed)
    notify(f"calibration on the newest fold: {bundle.calibrator.method} (cross-fitted Brier "
           f"{bundle.calibrator.cv_brier}); base rate train {y_train.mean():.3f} -> newest fold "
           f"{y_valid.mean():.3f}")
    valid_proba = bundle.calibrator.transform(raw_valid)
    bundle.grade_thresholds = check_grade_thresholds(
        config.grade_thresholds or fit_grade_thresholds(valid_proba, config.grade_shares))
    bundle.config = {**config.model_dump(mode="json"), "model_kind": bundle.model_kind,
                     "candidate": chosen.candidate.name, "model_size": bundle.model_size(),
                     "cv_folds_used": len(folds)}
    bundle.training_summary = summarize_training_data(split.train, registry, selection.levels)
    bundle.training_summary["drift"] = build_drift_reference(
        bundle.matrix(split.test), bundle.predict_proba(split.test), registry, selection.levels)
    context = find_context_features(split.train, registry.names, config.time_col)
    bundle.training_summary["context_features"] = context
    if context:
        notify(f"context features (constant within a day; kept out of the top reasons): "
               f"{', '.join(context)}")
    return bundle, selection


_IDENTITY = Calibrator("sigmoid", {"a": 1.0, "b": 0.0})


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
    selection: Selection | None = None,
) -> dict[str, EvaluationReport]:
    """Model and baselines (see the module docstring) measured on the same test slice.

    A baseline that ``selection`` already fitted on the train part as a candidate (logistic
    with ``C = 1``) is reused rather than fitted again.
    """
    y_train, y_valid, y_test = (check_labels(part, config.label_col)
                                for part in (split.train, split.valid, split.test))
    rules = RuleScoreBaseline(rule_score or make_points_rule(registry)).fit(split.valid, y_valid)
    fields = naive_bayes_columns(registry)
    naive_bayes = NaiveBayesLeadScorer().fit(split.train[fields], y_train)
    logistic = selection.newest_fit("logistic", 1.0) if selection is not None else None
    levels = bundle.categorical_levels
    logistic = logistic or fit_linear_model(feature_matrix(split.train, registry, levels),
                                            y_train, registry, levels, C=1.0)
    probabilities = {
        "model": bundle.predict_proba(split.test),
        "logistic": logistic.predict_raw(feature_matrix(split.test, registry, levels)),
        "lightgbm_default": _lightgbm_baseline(split, registry, bundle.categorical_levels,
                                               y_train, config),
        "naive_bayes": naive_bayes.predict_proba(split.test[fields])[:, 1],
        "rules": rules.predict_proba(split.test)[:, 1],
    }
    return {name: evaluate_model(y_test, proba, split.test, segment_cols=config.segment_cols,
                                 icp_col=config.icp_col, n_bins=config.ece_bins,
                                 min_segment_rows=config.min_segment_rows)
            for name, proba in probabilities.items()}


def _lightgbm_baseline(split: TimeSplit, registry: FeatureRegistry, levels: dict,
                       y_train: np.ndarray, config: TrainConfig) -> np.ndarray:
    params = {**LIGHTGBM_DEFAULTS, "seed": config.seed,
              "num_threads": config.booster.num_threads}
    X_train = prepare_features(split.train, registry, levels)
    booster = lgb.train(params, lgb.Dataset(X_train, label=y_train), num_boost_round=100)
    return booster.predict(prepare_features(split.test, registry, levels))


def _bundle_metrics(bundle: ModelBundle, reports: dict[str, EvaluationReport],
                    selection: Selection, split: TimeSplit, config: TrainConfig) -> dict:
    test = {name: {k: (float(v) if is_finite_number(v) else None)
                   for k, v in report.metrics.items()} for name, report in reports.items()}
    rates = {name: float(check_labels(part, config.label_col).mean())
             for name, part in (("train", split.train), ("newest_fold", split.valid),
                                ("test", split.test))}
    return {"test": test, "calibration_cv_brier": bundle.calibrator.cv_brier,
            "calibration_method": bundle.calibrator.method, "base_rate": rates,
            "selection": json.loads(selection.summary().to_json(orient="records"))}


# --- MLflow -------------------------------------------------------------------------------


def _log_run(
    experiment_id: str,
    bundle: ModelBundle,
    split: TimeSplit,
    reports: dict[str, EvaluationReport],
    config: TrainConfig,
    model_name: str,
    selection: Selection,
    problems: list[str],
    force: bool,
) -> tuple[str, str]:
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.set_tags(_run_tags(split, model_name, config, bundle, problems, force))
        mlflow.log_params(_run_params(bundle, config))
        mlflow.log_metrics({**_run_metrics(bundle, reports), **_selection_metrics(selection)})
        with tempfile.TemporaryDirectory(prefix="leadscore-report-") as tmp:
            _write_artifacts(Path(tmp), bundle, split, reports, config, selection, problems)
            mlflow.log_artifacts(tmp, artifact_path="evaluation")
        info = log_bundle(bundle, split.train, name="model")
    return run.info.run_id, info.model_uri


REFUSED_TAG = "leadscore.refused"


def _run_tags(split: TimeSplit, model_name: str, config: TrainConfig, bundle: ModelBundle,
              problems: list[str], force: bool) -> dict[str, str]:
    tags = {"leadscore.model_name": model_name, "leadscore.seed": str(config.seed),
            "leadscore.label": config.label_col, "leadscore.model_kind": bundle.model_kind,
            "leadscore.candidate": str(bundle.config.get("candidate"))}
    if "as_of_end" in bundle.config:
        tags["leadscore.as_of_end"] = bundle.config["as_of_end"]
    if problems:
        tags[REFUSED_TAG] = "; ".join(problems)[:5000]
        tags["leadscore.forced"] = str(force).lower()
    for name, part in split.parts().items():
        times = part[config.time_col]
        tags[f"data_window.{name}"] = f"{times.min().isoformat()} .. {times.max().isoformat()}"
    return tags


def _run_params(bundle: ModelBundle, config: TrainConfig) -> dict[str, object]:
    params = {f"booster.{k}": v for k, v in config.booster.model_dump().items()}
    params.update({k: v for k, v in config.model_dump(mode="json").items()
                   if k not in ("booster", "candidates")})
    params.update({"candidates": ", ".join(c.name for c in config.candidates),
                   "n_features": len(bundle.features), "model_kind": bundle.model_kind,
                   "selected_candidate": bundle.config.get("candidate"),
                   "model_size": bundle.model_size(),
                   "calibration_method": bundle.calibrator.method,
                   "grade_thresholds": json.dumps(bundle.grade_thresholds)})
    attributes = attribute_table(bundle)
    if attributes is not None:
        used, dropped = attributes[attributes["used"]], attributes[~attributes["used"]]
        params["attributes.used"] = ", ".join(f"{k} ({t})" for k, t in
                                              zip(used["key"], used["type"]))[:6000] or "none"
        params["attributes.left_out"] = "; ".join(
            f"{k}: {r}" for k, r in zip(dropped["key"], dropped["reason"]))[:6000] or "none"
    return {k: (json.dumps(v) if isinstance(v, (list, dict, tuple)) else v)
            for k, v in params.items()}


def _run_metrics(bundle: ModelBundle, reports: dict[str, EvaluationReport]) -> dict[str, float]:
    metrics = {f"test.{scorer}.{k}": float(v) for scorer, report in reports.items()
               for k, v in report.metrics.items() if is_finite_number(v)}
    metrics.update({f"valid.calibration_cv_brier.{k}": v
                    for k, v in bundle.calibrator.cv_brier.items()})
    return metrics


def _selection_metrics(selection: Selection) -> dict[str, float]:
    metrics = {}
    for row in selection.table().itertuples(index=False):
        for name in ("log_loss", "roc_auc"):
            metrics[f"cv.{row.candidate}.fold{row.fold}.{name}"] = float(getattr(row, name))
        metrics[f"cv.{row.candidate}.mean_log_loss"] = float(row.mean_log_loss)
    return metrics


def _write_artifacts(
    out: Path,
    bundle: ModelBundle,
    split: TimeSplit,
    reports: dict[str, EvaluationReport],
    config: TrainConfig,
    selection: Selection,
    problems: list[str],
) -> None:
    y_test = check_labels(split.test, config.label_col)
    grades = bundle.predict_frame(split.test)["grade"].to_numpy()
    comparison = compare_reports(reports)
    text = render_report(comparison, reports["model"], grade_table(y_test, grades),
                         selection=selection.table(), base_rates=bundle.metrics.get("base_rate"),
                         refused=problems, attributes=attribute_table(bundle))
    (out / "report.md").write_text(text, encoding="utf-8")
    comparison.to_csv(out / "comparison.csv", index_label="metric")
    selection.table().to_csv(out / "candidates.csv", index=False)
    if attribute_table(bundle) is not None:
        attribute_table(bundle).to_csv(out / "attributes.csv", index=False)
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
