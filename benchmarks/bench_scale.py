"""Benchmark: the local path vs Dask (2-worker LocalCluster) for lead features and batch
scoring of a generated CRM, with wall time and peak memory.

The sample-CRM generator writes leads, activities and accounts as Parquet part files (rows
shuffled, so companies straddle files). Then, each in a fresh process or cluster:

* local features — ``pd.read_parquet`` of the three tables, ``build_lead_features`` of every
  lead at one ``as_of``, written to one Parquet file; peak RSS of that process;
* local scoring — the same, then ``scale.scoring.score_tables`` (features, calibrated score,
  grade, action, TreeSHAP reasons) written to one Parquet file;
* Dask partition — read the part files and regroup them by account (``partition_by_account``,
  a shuffle) into the workers' memory (what ``leadscore train --engine dask`` holds);
* Dask features / Dask scoring — the same, streamed: the regrouped partitions go through the
  same functions one by one and are written as one Parquet file each (what
  ``leadscore score --engine dask`` does), so a worker holds a few partitions, not the data;

Peak memory of a Dask worker is the worker process's own high-water mark at the
end of each stage (``VmHWM``); every stage runs in a fresh process and cluster. The model is a
small LightGBM fitted on a separate 3,000-lead CRM (scoring cost hardly depends on its size).

    .venv/bin/python benchmarks/bench_scale.py                  # 300k leads features, 30k scoring
    .venv/bin/python benchmarks/bench_scale.py --stages partition,features --memory-limit 1GiB
    .venv/bin/python benchmarks/bench_scale.py --leads 1000000 --stages features --memory-limit 10GiB
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2026-11-01T00:00:00Z")
TABLES = ("leads", "activities", "accounts")


def _peak_gb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss`` it does not carry
    the parent's high-water mark over ``fork`` + ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # not Linux: KiB


def write_crm(n_leads: int, directory: Path, files: int) -> dict[str, int]:
    """Generate a CRM and write its tables as ``files`` shuffled Parquet parts each."""
    from crm.sample import GeneratorConfig, generate_crm

    tables, _ = generate_crm(GeneratorConfig(n_leads=n_leads, seed=42))
    counts = {}
    for name in TABLES:
        frame = tables.pop(name)
        counts[name] = len(frame)
        order = np.random.default_rng(1).permutation(len(frame))
        (directory / name).mkdir(parents=True)
        for i, rows in enumerate(np.array_split(order, files)):
            frame.iloc[np.sort(rows)].to_parquet(directory / name / f"part-{i}.parquet",
                                                 index=False)
        del frame
    return counts


def save_model(directory: Path) -> None:
    """A small SQL model (3,000 generated leads) saved as bundle files."""
    from crm.sample import GeneratorConfig, generate_crm
    from features.config import FeatureConfig
    from features.leads import lead_feature_registry
    from features.training_sets import build_sql_examples
    from training.split import split_by_time
    from training.train import TrainConfig, fit_bundle

    tables, _ = generate_crm(GeneratorConfig(n_leads=3000, seed=5))
    config = FeatureConfig()
    examples = build_sql_examples(tables, config, AS_OF)
    train = TrainConfig(make_plots=False, candidates=TrainConfig().candidates[:1])
    split = split_by_time(examples, "as_of", train.split_fractions, entity_col="lead_id")
    bundle = fit_bundle(split, lead_feature_registry(config), train)
    bundle.feature_config = config.to_dict()
    bundle.save(directory)


def load_active(directory: Path):
    """The saved model as the ``ActiveModels`` a scorer would hold."""
    from serving.scorer import LeadScorer, prepare_model
    from training.bundle import ModelBundle
    from training.rules import load_rules

    bundle = ModelBundle.from_files(directory / "model.txt", directory / "bundle.json")
    scorer = LeadScorer(load_rules())
    scorer.swap(prepare_model("sql", "bench", "1", bundle))
    return scorer.active


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# ----------------------------------------------------------------------- local (one process)

def run_local(stage: str, data: Path, model: Path, out: Path) -> dict:
    from features.config import FeatureConfig
    from scale.features import build_lead_features_at
    from scale.scoring import score_tables

    start, cpu = time.perf_counter(), _cpu_seconds()
    tables = {name: pd.read_parquet(data / name) for name in TABLES}
    read = time.perf_counter() - start
    if stage == "features":
        features = build_lead_features_at(tables, [AS_OF], FeatureConfig())
        features.to_parquet(out / "features.parquet", index=False)
        rows = len(features)
    else:
        scores = score_tables(tables, load_active(model), AS_OF)
        scores.to_parquet(out / "scores.parquet", index=False)
        rows = len(scores)
    return {"seconds": time.perf_counter() - start, "read_seconds": read, "rows": rows,
            "cpu_seconds": _cpu_seconds() - cpu, "peak_gb": _peak_gb()}


def run_stage(engine: str, stage: str, data: Path, model: Path, out: Path,
              args: argparse.Namespace) -> dict:
    """One engine's stage in a fresh process (its peak memory is its own)."""
    command = [sys.executable, __file__, "--run", f"{engine}:{stage}", "--data", str(data),
               "--model", str(model), "--out", str(out), "--workers", str(args.workers),
               "--partitions", str(args.partitions), "--memory-limit", args.memory_limit]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{engine} {stage} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------- dask

def _worker_peaks(client) -> list[float]:
    return sorted(client.run(_peak_gb).values())


def run_dask(stage: str, data: Path, model: Path, out: Path, args: argparse.Namespace) -> dict:
    from distributed import wait

    from features.config import FeatureConfig
    from scale.cluster import open_client
    from scale.features import build_lead_features_dask
    from scale.inputs import read_parquet_tables
    from scale.partitions import partition_by_account
    from scale.scoring import score_partitions, write_partitioned_scores

    with open_client(n_workers=args.workers, memory_limit=args.memory_limit) as client:
        cpu = sum(client.run(_cpu_seconds).values())
        start = time.perf_counter()
        parts = partition_by_account(read_parquet_tables(data), args.partitions)
        if stage == "partition":  # regrouped and held in the workers' memory
            parts = parts.persist()
            wait([parts.leads, parts.activities, parts.accounts])
            rows = int(parts.leads.map_partitions(len).sum().compute())
        elif stage == "features":  # streamed: partition by partition to Parquet files
            features = build_lead_features_dask(parts, [AS_OF], FeatureConfig())
            features.to_parquet(str(out / "features"), write_index=False)
            rows = len(pd.read_parquet(out / "features", columns=["lead_id"]))
        else:
            write_partitioned_scores(score_partitions(parts, load_active(model), AS_OF),
                                     out / "scores").compute()
            rows = len(pd.read_parquet(out / "scores", columns=["lead_id"]))
        seconds = time.perf_counter() - start
        cpu = sum(client.run(_cpu_seconds).values()) - cpu
        peaks = _worker_peaks(client)
    return {"seconds": seconds, "rows": rows,
            "cpu_seconds": cpu,
            "peak_gb": max(peaks), "worker_peaks_gb": peaks, "client_peak_gb": _peak_gb()}


# --------------------------------------------------------------------------------- report

def _peaks(engine: str, result: dict) -> str:
    if engine == "local":
        return f"{result['peak_gb']:.2f}"
    workers = ", ".join(f"{p:.2f}" for p in result["worker_peaks_gb"])
    return f"{result['peak_gb']:.2f} (workers {workers}; client {result['client_peak_gb']:.2f})"


def print_table(results: dict[str, dict], sizes: dict[str, dict[str, int]], args) -> None:
    print(f"\n{args.workers} Dask workers x 1 thread, {args.partitions} account partitions, "
          f"memory limit {args.memory_limit}/worker; local = one process")
    print("| stage | leads | activities | engine | wall s | leads/s "
          "| CPU s (all workers) | peak GB (local process / worst Dask worker) |")
    print("|---|---|---|---|---|---|---|---|")
    for key, result in results.items():
        engine, stage = key.split(":")
        counts = sizes[stage]
        rate = result["rows"] / result["seconds"] if result["seconds"] else float("nan")
        print(f"| {stage} | {counts['leads']:,} | {counts['activities']:,} | {engine} "
              f"| {result['seconds']:.1f} | {rate:,.0f} "
              f"| {result['cpu_seconds']:.1f} | {_peaks(engine, result)} |")
    for stage in ("features", "scoring"):
        if f"local:{stage}" in results and f"dask:{stage}" in results:  # same run, same load
            local, dask = results[f"local:{stage}"], results[f"dask:{stage}"]
            print(f"{stage}: dask/local wall {dask['seconds'] / local['seconds']:.2f}x, "
                  f"worst worker / local peak {dask['peak_gb'] / local['peak_gb']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300_000, help="CRM size for features")
    parser.add_argument("--score-leads", type=int, default=30_000,
                        help="CRM size for scoring (TreeSHAP reasons: ~1 ms per lead)")
    parser.add_argument("--files", type=int, default=4, help="Parquet part files per table")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--memory-limit", default="6GiB")
    parser.add_argument("--stages", default="features,scoring",
                        help="comma-separated: partition, features, scoring")
    parser.add_argument("--engines", default="local,dask")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        engine, stage = args.run.split(":")
        run = run_local if engine == "local" else run_dask
        extra = (args,) if engine == "dask" else ()
        print(json.dumps(run(stage, args.data, args.model, args.out, *extra)))
        return
    root = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    try:
        save_model(root / "model")
        results: dict[str, dict] = {}
        sizes: dict[str, dict[str, int]] = {}
        for stage in args.stages.split(","):
            n_leads = args.score_leads if stage == "scoring" else args.leads
            data = root / f"data-{n_leads}"
            if not data.exists():
                start = time.perf_counter()
                sizes[f"data-{n_leads}"] = write_crm(n_leads, data, args.files)
                print(f"generated and wrote a CRM of {n_leads:,} leads in "
                      f"{time.perf_counter() - start:.1f} s", flush=True)
            sizes[stage] = sizes[f"data-{n_leads}"]
            for engine in args.engines.split(","):
                if engine == "local" and stage == "partition":
                    continue  # the local path reads whole tables: nothing to regroup
                out = root / f"out-{engine}-{stage}"
                out.mkdir()
                results[f"{engine}:{stage}"] = run_stage(engine, stage, data, root / "model",
                                                         out, args)
                print(f"{engine} {stage}: {json.dumps(results[f'{engine}:{stage}'])}",
                      flush=True)
        print_table(results, sizes, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
