"""Reports on generated CRMs with a known truth: a planted bottleneck."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.generate import GeneratorConfig, generate_crm
from reports.funnel import build_funnel

PERIOD = "2026-09"


@pytest.fixture(scope="module")
def sample_crm() -> dict[str, pd.DataFrame]:
    tables, _ = generate_crm(GeneratorConfig(n_leads=6000, seed=7))
    return tables


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
