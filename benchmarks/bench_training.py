"""Benchmark: model quality on the shared datasets and training time for 1M examples.

Part ``datasets`` runs the real training path (``training.workflows.train_from_tables``: import
with the mapping -> examples -> time split -> LightGBM -> calibration -> MLflow in a throw-away
store) on

* X Education leads (``config/mappings/xeducation.yaml`` + ``config/training/xeducation.yaml``),
  and also the dataset README's protocol (5-fold stratified CV, pooled out-of-fold), so the
  time-split figures can be compared with the README's;
* Maven CRM deals (``config/mappings/maven_crm.yaml`` + ``config/training/maven_crm.yaml``,
  newest 20 % of snapshots as test),

and prints ROC AUC, PR AUC, Brier, ECE and the top-30 % / bottom-30 % ratio of the model, the
rule baseline and the naive-Bayes baseline on the test slice.

Part ``scale`` times ``training.train.fit_bundle`` (booster with early stopping + calibration +
grade thresholds, default settings: 1 LightGBM thread) on a synthetic example frame: ``--rows``
rows (default 1,000,000) over one year, ``--features`` features (default 100: 90 numeric, 10
categorical with 5-50 levels, 8 % missing), a logistic label on 12 of them (base rate ~8 %).
It prints seconds per stage and the peak RSS of the process.

    .venv/bin/python benchmarks/bench_training.py                    # both parts
    .venv/bin/python benchmarks/bench_training.py --part scale --rows 200000
"""

from __future__ import annotations

import argparse
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
METRICS = ("rows", "positives", "roc_auc", "pr_auc", "brier", "ece", "top30_bottom30_ratio")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _print_comparison(title: str, comparison: pd.DataFrame, seconds: float) -> None:
    print(f"\n== {title} ({seconds:.1f} s end to end, MLflow logging included)")
    table = comparison.loc[[m for m in METRICS if m in comparison.index],
                           ["model", "rules", "naive_bayes"]]
    print(table.to_string(float_format=lambda v: f"{v:,.4f}"))


def bench_datasets() -> None:
    from crm.settings import load_settings
    from crm.importer import import_crm, load_mapping
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
            result = train_from_tables(task, tables, settings, setup.feature_config,
                                       setup.train_config)
            _print_comparison(title, result.comparison, time.perf_counter() - start)
            if task == "sql":
                bench_cross_validation(tables, setup)


def bench_cross_validation(tables, setup, folds: int = 5) -> None:
    """The dataset README's protocol: stratified k-fold, pooled out-of-fold metrics."""
    from training.evaluate import evaluate_model
    from training.workflows import build_examples, default_as_of_end, feature_registry
    from training.crossval import cross_validate

    examples = build_examples("sql", tables, setup.feature_config, default_as_of_end(tables))
    registry = feature_registry("sql", setup.feature_config)
    start = time.perf_counter()
    proba = cross_validate(examples, registry, setup.train_config, folds=folds)
    report = evaluate_model(examples["label"], proba, examples, icp_col=None)
    shown = {m: round(report.metrics[m], 4) for m in ("roc_auc", "pr_auc", "brier", "ece")}
    print(f"   X Education, README protocol ({folds}-fold stratified CV, pooled, same pipeline): "
          f"{shown} ({time.perf_counter() - start:.1f} s)")


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
    bundle = fit_bundle(split, registry, TrainConfig(make_plots=False), progress)
    seconds = time.perf_counter() - start
    print(f"\n== Training time: {rows:,} examples x {n_features} features "
          f"({len(split.train):,} train / {len(split.valid):,} valid rows, base rate "
          f"{frame['label'].mean():.3f}); frame made in {made:.1f} s")
    print(f"   fit_bundle (split + booster with early stopping + calibration + grades): "
          f"{seconds:.1f} s, best iteration {bundle.booster.current_iteration()}, "
          f"{bundle.config['booster']['num_threads']} LightGBM thread(s)")
    print(f"   stage seconds: { {k: round(v, 1) for k, v in stages.items()} }")
    print(f"   peak RSS of the process: {peak_rss_gb():.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("datasets", "scale", "all"), default="all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    if args.part in ("datasets", "all"):
        bench_datasets()
    if args.part in ("scale", "all"):
        bench_scale(args.rows, args.features)


if __name__ == "__main__":
    main()
