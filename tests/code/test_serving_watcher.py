"""ModelWatcher against an in-memory registry: load, swap, keep the old model on a failed load,
and name each fallback (no champion, too little data, failed load)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from features.config import FeatureConfig
from features.leads import lead_feature_registry
from serving.scorer import LeadScorer
from serving.watcher import ModelWatcher
from training.bundle import ModelBundle
from training.model import Calibrator, fit_category_levels, prepare_features
from training.rules import RulesConfig, WinStageRules, load_rules

FEATURES = ["icp_score", "engagement_decayed", "source"]


def make_bundle(seed: int, rules: RulesConfig | None = None) -> ModelBundle:
    """A tiny real model on three pipeline features (random data, a few trees), carrying
    ``rules`` (default: none stored, as in bundles written before rules were)."""
    rng = np.random.default_rng(seed)
    registry = lead_feature_registry(FeatureConfig()).select(FEATURES)
    frame = pd.DataFrame({"icp_score": rng.uniform(0, 100, 400),
                          "engagement_decayed": rng.exponential(3, 400),
                          "source": pd.array(rng.choice(["webinar", "referral"], 400),
                                             dtype="str")})
    labels = (rng.random(400) < frame["icp_score"] / 150).astype(int)
    levels = fit_category_levels(frame, registry)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": seed},
                        lgb.Dataset(prepare_features(frame, registry, levels), labels), 5)
    return ModelBundle(booster, registry, levels, Calibrator("sigmoid", {"a": 1.0, "b": 0.0}),
                       {"A": 0.6, "B": 0.4, "C": 0.2}, metrics={"test": {"seed": seed}},
                       rules=rules.model_dump(mode="json") if rules is not None else {})


class FakeRegistry:
    """Champion aliases, refusal flags and loadable versions, all in memory."""

    def __init__(self) -> None:
        self.champions: dict[str, str] = {}
        self.refusals: set[str] = set()
        self.bundles: dict[tuple[str, str], ModelBundle] = {}
        self.broken_registry = False
        self.loads: list[tuple[str, str]] = []
        self.versions: list[str] = []  # registered versions, whatever their aliases

    def champion(self, name: str) -> tuple[str, str | None] | None:
        if self.broken_registry:
            raise ConnectionError("registry host unreachable")
        version = self.champions.get(name)
        return None if version is None else (version, f"run-{version}")

    def refused(self, name: str) -> bool:
        return name in self.refusals

    def latest(self, name: str) -> str | None:
        return max(self.versions, key=int, default=None)

    def load(self, name: str, version: str) -> ModelBundle:
        self.loads.append((name, version))
        bundle = self.bundles.get((name, version))
        if bundle is None:
            raise ValueError(f"model.txt of {name} v{version} is corrupt")
        return bundle


@pytest.fixture()
def registry() -> FakeRegistry:
    registry = FakeRegistry()
    registry.bundles[("sql-model", "1")] = make_bundle(1)
    registry.bundles[("sql-model", "2")] = make_bundle(2)
    return registry


@pytest.fixture()
def failures() -> list[str]:
    return []


@pytest.fixture()
def swaps() -> list[None]:
    return []


@pytest.fixture()
def watcher(registry: FakeRegistry, failures: list[str], swaps: list[None]) -> ModelWatcher:
    scorer = LeadScorer(load_rules())
    return ModelWatcher(scorer, registry, {"sql": "sql-model"}, poll_seconds=0.05,
                        on_load_failure=failures.append, on_swap=lambda: swaps.append(None))


def test_no_champion_means_rules(watcher: ModelWatcher) -> None:
    watcher.check_once()
    assert watcher.scorer.active.sql is None
    assert watcher.scorer.active.fallback["sql"] == "no_champion"
    assert watcher.checked_at is not None


def test_refused_training_is_named(watcher: ModelWatcher, registry: FakeRegistry) -> None:
    registry.refusals.add("sql-model")
    watcher.check_once()
    assert watcher.scorer.active.fallback["sql"] == "insufficient_data"


def test_champion_is_loaded_then_followed(watcher: ModelWatcher, registry: FakeRegistry,
                                          swaps: list[None]) -> None:
    registry.champions["sql-model"] = "1"
    watcher.check_once()
    first = watcher.scorer.active.sql
    assert (first.version, first.run_id) == ("1", "run-1")
    assert first.bundle is registry.bundles[("sql-model", "1")]
    assert watcher.scorer.active.fallback["sql"] is None
    watcher.check_once()
    assert registry.loads == [("sql-model", "1")]  # unchanged alias: no reload
    registry.champions["sql-model"] = "2"
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "2" and registry.loads[-1] == ("sql-model", "2")
    assert len(swaps) == 2


def test_a_failed_load_keeps_the_old_model_and_is_reported(
        watcher: ModelWatcher, registry: FakeRegistry, failures: list[str]) -> None:
    registry.champions["sql-model"] = "1"
    watcher.check_once()
    registry.champions["sql-model"] = "3"  # no bundle: corrupt
    watcher.check_once()
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1"
    error = watcher.last_error["sql"]
    assert (error.name, error.version) == ("sql-model", "3")
    assert "model.txt of sql-model v3 is corrupt" in error.error
    assert failures == ["sql"]  # reported once, not retried before its back-off
    registry.champions["sql-model"] = "2"
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "2" and watcher.last_error["sql"] is None


def test_a_corrupt_first_champion_means_rules(watcher: ModelWatcher,
                                              registry: FakeRegistry) -> None:
    registry.champions["sql-model"] = "7"
    watcher.check_once()
    assert watcher.scorer.active.sql is None
    assert watcher.scorer.active.fallback["sql"] == "load_failed"


def test_an_unreachable_registry_keeps_serving(watcher: ModelWatcher,
                                               registry: FakeRegistry,
                                               failures: list[str]) -> None:
    registry.champions["sql-model"] = "1"
    watcher.check_once()
    registry.broken_registry = True
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "1"
    assert "registry host unreachable" in watcher.last_error["sql"].error


def test_a_removed_champion_goes_back_to_rules(watcher: ModelWatcher,
                                               registry: FakeRegistry) -> None:
    registry.champions["sql-model"] = "1"
    watcher.check_once()
    del registry.champions["sql-model"]
    watcher.check_once()
    assert watcher.scorer.active.sql is None
    assert watcher.scorer.active.fallback["sql"] == "no_champion"


def test_the_polling_thread_makes_the_scorer_ready_and_follows_moves(
        watcher: ModelWatcher, registry: FakeRegistry) -> None:
    assert not watcher.scorer.is_ready
    registry.champions["sql-model"] = "1"
    watcher.start()
    try:
        _wait_for(lambda: watcher.scorer.is_ready and watcher.scorer.active.sql is not None)
        registry.champions["sql-model"] = "2"
        _wait_for(lambda: watcher.scorer.active.sql.version == "2")
    finally:
        watcher.stop()


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _rules_with_win_rate(rate: float) -> RulesConfig:
    return load_rules().model_copy(update={"win": WinStageRules(default_probability=rate)})


def test_a_model_answers_with_its_own_rules_and_keeps_them_when_dropped(
        watcher: ModelWatcher, registry: FakeRegistry) -> None:
    registry.bundles[("sql-model", "4")] = make_bundle(4, _rules_with_win_rate(0.33))
    registry.champions["sql-model"] = "4"
    watcher.check_once()
    assert watcher.scorer.active.rules["sql"].source == "sql-model v4"
    assert watcher.scorer.active.rules["sql"].rules.win.default_probability == 0.33
    del registry.champions["sql-model"]  # no champion, no version listed: the last rules stay
    watcher.check_once()
    assert watcher.scorer.active.sql is None
    assert watcher.scorer.active.rules["sql"].source == "sql-model v4"


def test_without_a_champion_the_newest_versions_rules_answer(watcher: ModelWatcher,
                                                             registry: FakeRegistry) -> None:
    file_rules = watcher.scorer.active.rules["sql"]
    registry.versions = ["3", "5"]
    registry.bundles[("sql-model", "5")] = make_bundle(5, _rules_with_win_rate(0.44))
    watcher.check_once()
    assert watcher.scorer.active.fallback["sql"] == "no_champion"
    assert watcher.scorer.active.rules["sql"].source == "sql-model v5"
    watcher.check_once()
    assert registry.loads == [("sql-model", "5")]  # read once per version
    registry.versions.append("6")  # newest version unreadable: the rules in use stay
    watcher.check_once()
    assert watcher.scorer.active.rules["sql"].source == "sql-model v5"
    assert file_rules.source == "rules file"


def test_a_corrupt_newest_version_leaves_the_rules_file(watcher: ModelWatcher,
                                                       registry: FakeRegistry) -> None:
    registry.versions = ["7"]
    registry.champions["sql-model"] = "7"  # no bundle: corrupt
    watcher.check_once()
    assert watcher.scorer.active.fallback["sql"] == "load_failed"
    assert watcher.scorer.active.rules["sql"].source == "rules file"
    assert registry.loads == [("sql-model", "7")]  # the failed version is not read again


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_version_is_retried_with_back_off_once_fixed(
        registry: FakeRegistry, failures: list[str]) -> None:
    clock = FakeClock()
    watcher = ModelWatcher(LeadScorer(load_rules()), registry, {"sql": "sql-model"},
                           poll_seconds=1.0, retry_max_seconds=5.0,
                           on_load_failure=failures.append, clock=clock)
    registry.champions["sql-model"] = "3"  # broken files
    watcher.check_once()
    watcher.check_once()
    assert registry.loads == [("sql-model", "3")]  # 2 s back-off: not tried again yet
    clock.now += 2.1
    watcher.check_once()
    assert len(registry.loads) == 2 and failures == ["sql", "sql"]
    clock.now += 2.1  # the wait doubled to 4 s
    watcher.check_once()
    assert len(registry.loads) == 2
    registry.bundles[("sql-model", "3")] = make_bundle(3)  # the files are fixed
    clock.now += 2.0
    watcher.check_once()
    assert watcher.scorer.active.sql.version == "3" and watcher.last_error["sql"] is None
    assert watcher.scorer.active.fallback["sql"] is None


def test_the_error_clears_when_the_registry_reads_again(watcher: ModelWatcher,
                                                        registry: FakeRegistry) -> None:
    registry.champions["sql-model"] = "1"
    watcher.check_once()
    registry.broken_registry = True
    watcher.check_once()
    assert watcher.last_error["sql"] is not None
    registry.broken_registry = False
    watcher.check_once()
    assert watcher.last_error["sql"] is None and watcher.scorer.active.sql.version == "1"


def test_an_unreadable_registry_without_a_model_says_so(watcher: ModelWatcher,
                                                        registry: FakeRegistry) -> None:
    registry.broken_registry = True
    watcher.check_once()
    assert watcher.scorer.active.fallback["sql"] == "registry_unavailable"
