"""Reports on generated CRMs with a known truth: planted near-duplicates, a planted
bottleneck."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.generate import GeneratorConfig, generate_crm
from reports.dedupe import evaluate_duplicates, find_duplicate_accounts, find_duplicate_leads
from reports.funnel import build_funnel

PERIOD = "2026-09"


@pytest.fixture(scope="module")
def generated() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_crm(GeneratorConfig(n_leads=6000, seed=7))


@pytest.fixture(scope="module")
def sample_crm(generated) -> dict[str, pd.DataFrame]:
    return generated[0]


def test_planted_near_duplicates_are_found_with_high_precision_and_recall(generated):
    tables, truth = generated
    result = find_duplicate_leads(tables["leads"])
    quality = evaluate_duplicates(result, truth.set_index("lead_id")["duplicate_of"])
    assert quality.precision >= 0.95
    assert quality.recall >= 0.93
    planted = truth["duplicate_of"].notna().mean()
    assert abs(result.duplicate_rate - planted) < 0.01
    assert not result.meets_target          # 6% planted > the 5% target
    assert len(result.pairs) < 2 * len(tables["leads"])   # blocking, not all pairs


def test_generated_accounts_are_mostly_distinct(generated):
    tables, _ = generated
    result = find_duplicate_accounts(tables["accounts"], tables["leads"])
    assert result.duplicate_rate < 0.02    # only same-name companies without any domain


def _in_period(stamps: pd.Series) -> pd.Series:
    start = pd.Timestamp(PERIOD, tz="UTC")
    return (stamps >= start) & (stamps < start + pd.offsets.MonthBegin(1))


def _cut_stage(tables: dict[str, pd.DataFrame], stage: str, keep: float,
               seed: int = 0) -> dict[str, pd.DataFrame]:
    """Cut the conversion out of ``stage`` in PERIOD: drop ``1 - keep`` of the period's SQLs
    (stage 'mql') or of its new deals (stage 'sql'), with the deals that follow them."""
    rng = np.random.default_rng(seed)
    leads, deals = tables["leads"].copy(), tables["opportunities"]
    if stage == "mql":
        hit = _in_period(leads["sql_at"]) & (rng.random(len(leads)) > keep)
        leads.loc[hit, "sql_at"] = pd.NaT
        gone = deals["lead_id"].isin(leads.loc[hit, "lead_id"])
    elif stage == "sql":
        gone = _in_period(deals["created_at"]) & (rng.random(len(deals)) > keep)
    else:
        raise ValueError(stage)
    return {**tables, "leads": leads, "opportunities": deals[~gone]}


@pytest.mark.parametrize("stage", ["mql", "sql"])
def test_a_stage_cut_in_the_latest_period_is_named_the_bottleneck(sample_crm, stage):
    before = build_funnel(sample_crm, PERIOD)
    after = build_funnel(_cut_stage(sample_crm, stage, keep=0.3), PERIOD)
    assert before.bottleneck != stage
    assert after.bottleneck == stage
    assert after.stages.loc[stage, "change_vs_history"] < -0.4
    others = after.stages.drop(index=[stage, "won"])
    assert (others["change_vs_history"] > after.stages.loc[stage, "change_vs_history"]).all()
