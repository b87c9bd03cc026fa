"""Save or compare the lead features of a generated CRM: proof that a refactor changed nothing.

Runs only the public API that every version has (``features.build_lead_features`` on
``crm.generate``), so the same script runs against an old checkout and the current tree::

    git worktree add /tmp/old <commit>
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/feature_snapshot.py save /tmp/old.parquet
    PYTHONPATH=$PWD     .venv/bin/python benchmarks/feature_snapshot.py compare /tmp/old.parquet

``compare`` prints the number of pairs and features compared and exits 1 on the first column
whose values differ (exact comparison: numbers bit for bit, NaN equal to NaN, categories as
their labels).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from crm.sample import GeneratorConfig, generate_crm
from features import FeatureConfig, build_lead_features

CONFIGS = {"default": FeatureConfig(),
           "custom": FeatureConfig(windows_days=(3, 14, 60), half_life_days=5.0,
                                   velocity_recent_days=3, velocity_baseline_days=10,
                                   engaged_contact_days=14)}


def snapshot_pairs(tables: dict[str, pd.DataFrame], seed: int = 5) -> pd.DataFrame:
    """Every lead at several times in its life (just after creation up to two years on)."""
    leads = tables["leads"]
    offsets = np.asarray([0.001, 1, 6.99, 7, 30, 90.5, 400, 730]) * 86_400e6
    rng = np.random.default_rng(seed)
    shift = np.tile(offsets, len(leads)) + rng.integers(0, 3_600_000_000,
                                                        len(leads) * len(offsets))
    created = leads["created_at"].repeat(len(offsets)).reset_index(drop=True)
    return pd.DataFrame({"lead_id": leads["lead_id"].repeat(len(offsets)).to_numpy(),
                         "as_of": created + pd.to_timedelta(shift.astype(np.int64), unit="us")})


def build_snapshot(n_leads: int, seed: int) -> pd.DataFrame:
    """The features of every config on one generated CRM, configs side by side."""
    tables, _ = generate_crm(GeneratorConfig(n_leads=n_leads, seed=seed))
    pairs = snapshot_pairs(tables)
    frames = []
    for name, config in CONFIGS.items():
        features = build_lead_features(tables, pairs, config)
        frames.append(features.drop(columns=["lead_id", "as_of"]).add_prefix(f"{name}:"))
    out = pd.concat([pairs.reset_index(drop=True), *frames], axis=1)
    return out.astype({c: object for c in out.columns if isinstance(out[c].dtype,
                                                                    pd.CategoricalDtype)})


def compare(old: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """Names of the columns whose values differ (or exist on one side only)."""
    problems = sorted(set(old.columns) ^ set(new.columns))
    for column in old.columns.intersection(new.columns):
        a, b = old[column], new[column]
        if column == "as_of":
            same = a.equals(b)
        elif not (pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)):
            same = a.astype(object).where(a.notna(), None).tolist() == b.astype(object).where(
                b.notna(), None).tolist()
        else:
            x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
            same = np.array_equal(x.view(np.int64)[~np.isnan(x)], y.view(np.int64)[~np.isnan(y)]
                                  ) and np.array_equal(np.isnan(x), np.isnan(y))
        if not same:
            problems.append(column)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "compare"])
    parser.add_argument("path")
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    snapshot = build_snapshot(args.leads, args.seed)
    if args.action == "save":
        snapshot.to_parquet(args.path)
        print(f"saved {len(snapshot)} pairs x {snapshot.shape[1] - 2} features to {args.path}")
        return 0
    problems = compare(pd.read_parquet(args.path), snapshot)
    print(f"compared {len(snapshot)} pairs x {snapshot.shape[1] - 2} feature columns: "
          + ("identical" if not problems else f"{len(problems)} differ: {problems[:10]}"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
