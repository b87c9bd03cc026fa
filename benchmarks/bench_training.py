"""Benchmark: model selection quality on the shared datasets and drifted data; training time.

Part ``datasets`` runs the real training path (``training.workflows.train_from_tables``: import
with the mapping -> examples -> time split -> candidates on rolling-origin folds -> calibration
on the newest fold -> MLflow in a throw-away store) on

* X Education leads (``config/mappings/xeducation.yaml`` + ``config/training/xeducation.yaml``),
  and also the dataset README's protocol (5-fold stratified CV, pooled out-of-fold, with the
  candidate the time split chose), so the time-split figures can be compared with the README's;
* Maven CRM deals (``config/mappings/maven_crm.yaml`` + ``config/training/maven_crm.yaml``,
  newest 20 % of snapshots as test);
* generated leads with strong base-rate drift (``drifted_examples`` of
  ``tests/model/test_quality_drift.py``: ~5 % -> ~30 %, 24,000 leads) through ``train_model``,
* a generated telemarketing call log with the same drift (``crm.sample.exports``: 24,000
  calls, no id, time only as row order, day-constant indicators) written to CSV, imported with
  ``config/mappings/sample_telemarketing.yaml`` alone and trained with
  ``config/training/sample_telemarketing.yaml`` (its columns typed automatically; also
  ``--part exports`` alone),

and prints, for each, every candidate's mean figures on the folds, then ROC AUC, log loss,
Brier and ECE on the test slice of the selected model and of every baseline (logistic
regression, default LightGBM, Odoo's naive Bayes, the rules), and the issue-11 verdict:
selected AUC >= best of (logistic, default LightGBM, naive Bayes) - 0.005, and ECE <= 0.03
where the test slice has >= 2,000 rows.

Part ``scale`` times ``training.train.fit_bundle`` with one LightGBM candidate on one fold (the
booster's throughput; the default grid fits every candidate on three folds) + calibration +
grade thresholds, 1 LightGBM thread, on a synthetic example frame: ``--rows``
rows (default 1,000,000) over one year, ``--features`` features (default 100: 90 numeric, 10
categorical with 5-50 levels, 8 % missing), a logistic label on 12 of them (base rate ~8 %).
It prints seconds per stage and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_training.py                    # both parts
    .venv/bin/python benchmarks/bench_training.py --part datasets
    .venv/bin/python benchmarks/bench_training.py --part exports
    .venv/bin/python benchmarks/bench_training.py --part scale --rows 200000
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
SCORERS = ("model", "logistic", "lightgbm_default", "naive_bayes", "rules")
BASELINES = ("logistic", "lightgbm_default", "naive_bayes")
METRICS = ("roc_auc", "log_loss", "brier", "ece")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def print_result(title: str, result, seconds: float) -> None:
    """Candidates on the folds, scorers on the test slice, and the issue-11 verdict."""
    from training.selection import summarize_candidates

    test = result.reports["model"].metrics
    print(f"\n== {title}: {int(test['rows']):,} test rows, base rate {test['base_rate']:.3f} "
          f"({seconds:.0f} s end to end, MLflow logging included)")
    print(f"   base rate by slice: { {k: round(v, 3) for k, v in result.bundle.metrics['base_rate'].items()} }")
    summary = summarize_candidates(result.candidates)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    table = pd.DataFrame({name: {m: result.reports[name].metrics[m] for m in METRICS}
                          for name in SCORERS}).T
    table.index = [f"{name} ({result.bundle.config['candidate']})" if name == "model" else name
                   for name in SCORERS]
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    best = max(result.reports[name].metrics["roc_auc"] for name in BASELINES)
    auc_ok = test["roc_auc"] >= best - 0.005
    ece = "n/a (< 2,000 rows)" if test["rows"] < 2000 else (
        "yes" if test["ece"] <= 0.03 else "NO")
    print(f"   selected AUC {test['roc_auc']:.4f} >= best baseline {best:.4f} - 0.005: "
          f"{'yes' if auc_ok else 'NO'}; ECE {test['ece']:.4f} <= 0.03: {ece}; "
          f"gate: {'refused: ' + '; '.join(result.refused) if result.refused else 'passed'}")


def bench_datasets() -> None:
    from crm.importer import import_crm, load_mapping
    from crm.settings import load_settings
    from training.workflows import load_training_setup, train_from_tables

    if not DATASETS.is_dir():
        print(f"shared datasets not found at {DATASETS}: skipping the dataset part")
        return
    runs = [("X Education (SQL, time split 70/15/15)", "sql", "xeducation.yaml",
             DATASETS / "leads_xeducation" / "Leads.csv"),
            ("Maven CRM (win, newest 20 % test)", "win", "maven_crm.yaml",
             DATASETS / "maven_crm")]
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        settings = load_settings(mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                                 mlflow_artifact_root=Path(tmp) / "artifacts")
        for title, task, name, source in runs:
            start = time.perf_counter()
            tables = import_crm(load_mapping(ROOT / "config" / "mappings" / name), source).tables
            setup = load_training_setup(task, ROOT / "config" / "training" / name)
            config = setup.train_config.model_copy(update={"make_plots": False})
            result = train_from_tables(task, tables, settings, setup.feature_config, config,
                                       force=True)
            print_result(title, result, time.perf_counter() - start)
            if task == "sql":
                bench_cross_validation(tables, setup, result)
        bench_drift(settings.mlflow_tracking_uri)
        bench_export_drift(settings)


def bench_export_drift(settings=None, rows: int = 24_000) -> None:
    """The generated telemarketing export (see the module docstring), end to end."""
    from crm.importer import import_crm, load_mapping
    from crm.sample.exports import ExportConfig, write_export
    from crm.settings import load_settings
    from training.workflows import load_training_setup, train_from_tables

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        settings = settings or load_settings(mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db",
                                             mlflow_artifact_root=Path(tmp) / "artifacts")
        start = time.perf_counter()
        write_export(ExportConfig(shape="telemarketing", n_rows=rows), Path(tmp) / "calls")
        tables = import_crm(load_mapping(ROOT / "config" / "mappings" /
                                         "sample_telemarketing.yaml"), Path(tmp) / "calls").tables
        setup = load_training_setup("sql", ROOT / "config" / "training" /
                                    "sample_telemarketing.yaml")
        config = setup.train_config.model_copy(update={"make_plots": False})
        result = train_from_tables("sql", tables, settings, setup.feature_config, config,
                                   force=True)
    print_result(f"Generated telemarketing export, {rows:,} calls, ~5 % -> ~30 % (import + "
                 "typed attributes)", result, time.perf_counter() - start)
    used = result.attributes[result.attributes["used"]]["key"].tolist()
    print(f"   attributes used: {', '.join(used)}; context (constant within a day): "
          f"{', '.join(result.bundle.context_features) or 'none'}")


def bench_drift(tracking_uri: str) -> None:
    """Generated leads whose base rate climbs from ~5 % to ~30 % (the test's helper)."""
    from training.train import TrainConfig, train_model

    spec = importlib.util.spec_from_file_location(
        "quality_drift", ROOT / "tests" / "model" / "test_quality_drift.py")
    drift = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drift)
    start = time.perf_counter()
    result = train_model(drift.drifted_examples(), drift.REGISTRY, model_name="bench-drift",
                         tracking_uri=tracking_uri, force=True,
                         config=TrainConfig(make_plots=False, segment_cols=(), icp_col=None))
    print_result("Generated leads, base rate ~5 % -> ~30 % (drift)", result,
                 time.perf_counter() - start)


def bench_cross_validation(tables, setup, result, folds: int = 5) -> None:
    """The dataset README's protocol: stratified k-fold, pooled out-of-fold metrics."""
    from training.crossval import chosen_only, cross_validate
    from training.evaluate import evaluate_model
    from training.workflows import build_examples, default_as_of_end, feature_registry

    examples = build_examples("sql", tables, setup.feature_config, default_as_of_end(tables))
    registry = feature_registry("sql", setup.feature_config)
    start = time.perf_counter()
    proba = cross_validate(examples, registry, chosen_only(setup.train_config, result),
                           folds=folds)
    report = evaluate_model(examples["label"], proba, examples, icp_col=None)
    shown = {m: round(report.metrics[m], 4) for m in ("roc_auc", "pr_auc", "brier", "ece")}
    print(f"   X Education, README protocol ({folds}-fold stratified CV, pooled, same pipeline "
          f"and candidate): {shown} ({time.perf_counter() - start:.1f} s)")


def make_examples(rows: int, n_features: int, seed: int = 0) -> tuple[pd.DataFrame, list]:
    """A synthetic example frame (see the module docstring) and its feature definitions."""
    from features.registry import FeatureDef

    rng = np.random.default_rng(seed)
    n_cat = max(1, n_features // 10)
    n_num = n_features - n_cat
    numbers = rng.standard_normal((rows, n_num)).astype(np.float64)
    numbers[rng.random((rows, n_num)) < 0.08] = np.nan
    columns = {f"x{j:03d}": numbers[:, j] for j in range(n_num)}
    z = -2.8 + np.nansum(numbers[:, :10] * np.linspace(0.6, 0.1, 10), axis=1)
    for j in range(n_cat):
        levels = int(rng.integers(5, 51))
        codes = rng.integers(0, levels, rows)
        if j < 2:
            z += rng.normal(0, 0.5, levels)[codes]
        columns[f"c{j:02d}"] = pd.Categorical.from_codes(
            codes, categories=[f"level{k}" for k in range(levels)])
    start = pd.Timestamp("2025-01-01", tz="UTC")
    frame = pd.DataFrame({
        "lead_id": pd.array([f"L{i}" for i in range(rows)], dtype="str"),
        "as_of": (start + pd.to_timedelta(rng.uniform(0, 365, rows), "D")).as_unit("us"),
        "label": (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(np.int64),
        **columns})
    defs = [FeatureDef(name, "category" if name.startswith("c") else "float", "fixed",
                       "synthetic", "{value}", "{value}") for name in columns]
    return frame, defs


def bench_scale(rows: int, n_features: int) -> None:
    from features.registry import FeatureRegistry
    from training.split import split_by_time
    from training.train import TrainConfig, fit_bundle

    start = time.perf_counter()
    frame, defs = make_examples(rows, n_features)
    made = time.perf_counter() - start
    registry, stages = FeatureRegistry(defs), {}
    last = [time.perf_counter()]

    def progress(message: str) -> None:
        now = time.perf_counter()
        stages[message.split(":")[0]] = stages.get(message.split(":")[0], 0.0) + now - last[0]
        last[0] = now

    start = time.perf_counter()
    split = split_by_time(frame, entity_col="lead_id")
    config = TrainConfig(make_plots=False, cv_folds=1,  # one booster: throughput, not choice
                         candidates=[{"name": "lightgbm", "kind": "lightgbm"}])
    bundle = fit_bundle(split, registry, config, progress)
    seconds = time.perf_counter() - start
    print(f"\n== Training time: {rows:,} examples x {n_features} features "
          f"({len(split.train):,} train / {len(split.valid):,} valid rows, base rate "
          f"{frame['label'].mean():.3f}); frame made in {made:.1f} s")
    print(f"   fit_bundle (one LightGBM candidate on one fold + calibration + grades): "
          f"{seconds:.1f} s, selected {bundle.config['candidate']} (size "
          f"{bundle.model_size()}), {bundle.config['booster']['num_threads']} LightGBM thread(s)")
    print(f"   stage seconds: { {k: round(v, 1) for k, v in stages.items()} }")
    print(f"   peak RSS of the process: {peak_rss_gb():.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("datasets", "exports", "scale", "all"),
                        default="all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    if args.part in ("datasets", "all"):
        bench_datasets()
    if args.part == "exports":
        bench_export_drift()
    if args.part in ("scale", "all"):
        bench_scale(args.rows, args.features)


if __name__ == "__main__":
    main()
