"""Benchmark: all lead features for 1M (lead, as_of) pairs over 20M activities.

Builds canonical tables — synthesised with vectorised numpy (default), or from the sample-CRM
generator (``--source generator``, ~20 activities per lead) — then times
``features.build_lead_features`` end to end for one ``(lead, as_of)`` pair per lead and prints
seconds, pairs/s, activities/s, peak RSS and the time of every stage (from the ``features``
DEBUG stage log). Target on the 2-core dev machine: <= 60 s and <= 4 GB peak.

Activities carry only the columns the features read (lead_id, account_id, occurred_at, type),
as a loader would select them from the store; ``type`` is the canonical ``str`` dtype.

    .venv/bin/python benchmarks/bench_features.py                # 1M leads x 20M activities
    .venv/bin/python benchmarks/bench_features.py --leads 100000 --activities 2000000
    .venv/bin/python benchmarks/bench_features.py --source generator --leads 200000
"""

from __future__ import annotations

import argparse
import logging
import re
import resource
import time

import numpy as np
import pandas as pd

from features.icp import load_icp
from features.config import DEFAULT_ICP_FILE, FeatureConfig
from features.leads import build_lead_features
from crm.schema import ACTIVITY_TYPES

END = pd.Timestamp("2026-10-31T00:00:00Z")
US_PER_DAY = 86_400_000_000
TYPE_SHARE = {"page_view": 30, "email_sent": 20, "email_open": 12, "email_click": 4,
              "pricing_page_view": 5, "content_download": 4, "form_submit": 2}
TITLES = np.asarray(["営業部長", "Sales Manager", "CEO", "エンジニア", "Director of IT", "課長",
                     "Marketing Specialist", None], dtype=object)
INDUSTRIES = np.asarray(["software", "製造業", "finance", "retail", "SaaS", None], dtype=object)


def _ids(prefix: str, codes: np.ndarray, width: int) -> pd.Series:
    names = pd.Index([f"{prefix}{i:0{width}d}" for i in range(int(codes.max()) + 1)], dtype="str")
    return pd.Series(names.take(codes)).astype("str")


def _stamps(us: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(us, unit="us", utc=True)).dt.as_unit("us")


def _maybe(rng: np.random.Generator, n: int, share: float, us: np.ndarray) -> pd.Series:
    missing = np.iinfo(np.int64).min
    return _stamps(np.where(rng.random(n) < share, us, missing)).where(rng.random(n) < share)


def make_accounts(rng: np.random.Generator, n: int) -> pd.DataFrame:
    codes = np.arange(n)
    return pd.DataFrame({
        "account_id": _ids("A", codes, 7), "name": _ids("Company ", codes, 7),
        "domain": _ids("c", codes, 7) + ".co.jp",
        "industry": pd.Series(INDUSTRIES[rng.integers(0, len(INDUSTRIES), n)], dtype="str"),
        "employees": pd.array(rng.integers(5, 20_000, n), dtype="Int64"),
        "annual_revenue": rng.lognormal(16, 2, n),
        "country": pd.Series(rng.choice(["JP", "JP", "JP", "US", "SG"], n), dtype="str"),
        "region": pd.Series([None] * n, dtype="str"),
        "founded_year": pd.array(rng.integers(1900, 2024, n), dtype="Int64")})


def make_leads(rng: np.random.Generator, n: int, n_accounts: int) -> pd.DataFrame:
    created = (END.value // 1000 - rng.integers(1, 730, n) * US_PER_DAY
               - rng.integers(0, US_PER_DAY, n))
    account = rng.integers(0, n_accounts, n)
    frame = pd.DataFrame({
        "lead_id": _ids("L", np.arange(n), 7),
        "account_id": _ids("A", account, 7).where(rng.random(n) < 0.95),
        "email": _ids("p", np.arange(n), 7) + "@" + _ids("c", account, 7) + ".co.jp",
        "job_title": pd.Series(TITLES[rng.integers(0, len(TITLES), n)], dtype="str"),
        "department": pd.Series([None] * n, dtype="str"),
        "source": pd.Series(rng.choice(["webinar", "inbound_form", "exhibition"], n),
                            dtype="str"),
        "status": pd.Series(["new"] * n, dtype="str"),
        "created_at": _stamps(created)})
    later = lambda: created + rng.integers(1, 120, n) * US_PER_DAY  # noqa: E731
    frame["mql_at"] = _maybe(rng, n, 0.3, later())
    frame["recycled_at"] = _maybe(rng, n, 0.05, later())
    for element in ("budget", "authority", "need"):
        stamp = _maybe(rng, n, 0.2, later())
        frame[element] = pd.array(np.where(stamp.notna(), rng.random(n) < 0.7, None),
                                  dtype="boolean")
        frame[f"{element}_confirmed_at"] = stamp
    stamp = _maybe(rng, n, 0.2, later())
    frame["timeline_months"] = np.where(stamp.notna(), rng.choice([1.0, 3.0, 6.0, 12.0], n),
                                        np.nan)
    frame["timeline_confirmed_at"] = stamp
    return frame


def make_activities(rng: np.random.Generator, n: int, leads: pd.DataFrame,
                    lead_accounts: np.ndarray) -> pd.DataFrame:
    n_leads = len(leads)
    lead = np.minimum(rng.pareto(1.5, n) * n_leads / 20, n_leads - 1).astype(np.int64)
    lead = rng.permutation(n_leads)[lead]                       # skewed: a few busy leads
    created = leads["created_at"].array.asi8[lead]              # µs (the column is us-unit)
    when = np.minimum(created + (rng.exponential(45, n) * US_PER_DAY).astype(np.int64),
                      END.value // 1000)
    names = list(ACTIVITY_TYPES)
    weights = np.asarray([TYPE_SHARE.get(t, 1) for t in names], dtype=float)
    kinds = rng.choice(len(names), n, p=weights / weights.sum())
    lead_ids = pd.Series(leads["lead_id"].array.take(lead)).astype("str")
    no_lead = rng.random(n) < 0.03                               # account-only events
    account = np.where(rng.random(n) < 0.8, lead_accounts[lead], -1)   # 20% blank: from lead
    account = np.where(no_lead & (account < 0), lead_accounts[lead], account)
    return pd.DataFrame({
        "lead_id": lead_ids.where(~no_lead),
        "account_id": _ids("A", np.maximum(account, 0), 7).where(account >= 0),
        "occurred_at": _stamps(when),
        "type": pd.Series(np.asarray(names, dtype=object)[kinds], dtype="str")})


class StageLog(logging.Handler):
    """Collects 'stage X took Y s' records from the features loggers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stages: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = re.match(r"stage (\S+) took ([\d.]+) s", record.getMessage())
        if match:
            self.stages.append((match.group(1), float(match.group(2))))


def current_rss_gb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 1e9


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers features only."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset_gb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def make_tables(n_leads: int, n_activities: int, seed: int) -> dict[str, pd.DataFrame]:
    """Synthetic canonical accounts, leads and activities."""
    rng = np.random.default_rng(seed)
    n_accounts = max(n_leads // 4, 1)
    accounts = make_accounts(rng, n_accounts)
    leads = make_leads(rng, n_leads, n_accounts)
    lead_accounts = pd.Index(accounts["account_id"]).get_indexer(leads["account_id"])
    activities = make_activities(rng, n_activities, leads, lead_accounts)
    return {"accounts": accounts, "leads": leads, "activities": activities}


def generated_tables(n_leads: int, n_activities: int, seed: int) -> dict[str, pd.DataFrame]:
    """Sample-CRM tables from ``crm.sample``, activities cut to the columns read."""
    from crm.sample import GeneratorConfig, generate_crm

    config = GeneratorConfig(n_leads=n_leads, seed=seed,
                             activities_per_lead=min(max(n_activities / n_leads, 0.1), 500.0))
    tables, _ = generate_crm(config)
    tables["activities"] = tables["activities"].loc[
        :, ["lead_id", "account_id", "occurred_at", "type"]].copy()
    return {name: tables[name] for name in ("accounts", "leads", "activities")}


def one_pair_per_lead(leads: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A random as_of up to 180 days after each lead's creation (capped at the data's end)."""
    rng = np.random.default_rng(seed)
    created = leads["created_at"].dt.as_unit("us").array.asi8
    as_of = np.minimum(created + rng.integers(1, 180 * US_PER_DAY, len(leads)),
                       max(created.max() + 1, END.value // 1000))
    return pd.DataFrame({"lead_id": leads["lead_id"], "as_of": _stamps(as_of)})


def run_features(tables: dict[str, pd.DataFrame], pairs: pd.DataFrame
                 ) -> tuple[pd.DataFrame, float, list[tuple[str, float]]]:
    """(feature frame, seconds, stage timings) of one ``build_lead_features`` call."""
    log = StageLog()
    features_logger = logging.getLogger("features")
    features_logger.addHandler(log)
    features_logger.setLevel(logging.DEBUG)
    config = FeatureConfig(icp=load_icp(DEFAULT_ICP_FILE))
    start = time.perf_counter()
    frame = build_lead_features(tables, pairs, config)
    return frame, time.perf_counter() - start, log.stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=None,
                        help="number of activities (default: 20 per lead)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", choices=("synthetic", "generator"), default="synthetic")
    args = parser.parse_args()
    start = time.perf_counter()
    build = make_tables if args.source == "synthetic" else generated_tables
    tables = build(args.leads, args.activities or 20 * args.leads, args.seed)
    pairs = one_pair_per_lead(tables["leads"], args.seed)
    generated, rss_before = time.perf_counter() - start, current_rss_gb()
    was_reset = reset_peak_rss()
    frame, seconds, stages = run_features(tables, pairs)
    features_peak = peak_rss_since_reset_gb() if was_reset else float("nan")
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9   # KiB on Linux
    n_activities = len(tables["activities"])
    print(f"data ({args.source}): {len(pairs):,} pairs, {len(tables['leads']):,} leads, "
          f"{len(tables['accounts']):,} accounts, {n_activities:,} activities (synthesised in "
          f"{generated:.1f} s; RSS {rss_before:.2f} GB before features)")
    print(f"features: {frame.shape[1] - 2} columns in {seconds:.1f} s -> "
          f"{len(pairs) / seconds:,.0f} pairs/s, {n_activities / seconds:,.0f} activities/s")
    print(f"peak RSS while computing features (input data included): {features_peak:.2f} GB; "
          f"whole process incl. building the data (ru_maxrss): {peak_gb:.2f} GB")
    print("stages (s; nested stages are included in their parents):")
    for name, took in stages:
        print(f"  {name:<32} {took:7.2f}")


if __name__ == "__main__":
    main()
