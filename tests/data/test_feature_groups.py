"""Every lead feature group, on generated data: the single-lead path equals the batch path, and
no record at or after ``as_of`` changes a feature.

Parametrised over ``features.leads.LEAD_GROUPS``: a new feature is covered as soon as its group
declares it; a new group as soon as it joins the list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm.sample import GeneratorConfig, generate_crm
from crm.schema import ACTIVITY_TYPES
from features.config import FeatureConfig
from features.leads import (
    LEAD_GROUPS,
    LeadQuery,
    build_lead_features,
    build_request_features,
    build_single_lead_features,
)
from tests.code.test_single_lead import assert_same_vector, single_lead_inputs

CONFIG = FeatureConfig(attributes={"newsletter_opt_in": "bool", "prefecture": "category"})
GROUPS = {group.name: [d.name for d in group.feature_defs(CONFIG)] for group in LEAD_GROUPS}


@pytest.fixture(scope="module")
def crm() -> dict[str, pd.DataFrame]:
    tables, _ = generate_crm(GeneratorConfig(n_leads=250, seed=23))
    return tables


def single_lead_vector(tables: dict[str, pd.DataFrame], lead_id: str,
                       as_of: pd.Timestamp) -> dict:
    """``build_single_lead_features`` on what the service gathers for one lead."""
    return build_single_lead_features(**single_lead_inputs(tables, lead_id), as_of=as_of,
                                      config=CONFIG)


def boundary_pairs(tables: dict[str, pd.DataFrame], n_leads: int = 60) -> pd.DataFrame:
    """Pairs at window edges of busy leads: an event exactly ``w`` days before as_of (counts)
    and an event exactly at as_of (does not), plus ordinary times in each lead's life."""
    activities = tables["activities"].dropna(subset=["lead_id"])
    busy = activities["lead_id"].value_counts().index[:n_leads]
    created = tables["leads"].set_index("lead_id")["created_at"]
    rows = []
    for lead_id in busy:
        times = activities.loc[activities["lead_id"] == lead_id, "occurred_at"]
        event = times.iloc[len(times) // 2]
        days = {0, *CONFIG.windows_days, CONFIG.velocity_recent_days,
                CONFIG.velocity_recent_days + CONFIG.velocity_baseline_days,
                CONFIG.engaged_contact_days}
        stamps = [event + pd.Timedelta(days=d) for d in days]
        stamps += [created[lead_id] + pd.Timedelta(days=d) for d in (0.25, 45, 400)]
        rows += [(lead_id, stamp) for stamp in stamps if stamp > created[lead_id]]
    return pd.DataFrame(rows, columns=["lead_id", "as_of"])


@pytest.fixture(scope="module")
def parity(crm) -> tuple[pd.DataFrame, list[dict]]:
    pairs = boundary_pairs(crm)
    batch = build_lead_features(crm, pairs, CONFIG)
    singles = [single_lead_vector(crm, lead_id, as_of) for lead_id, as_of in pairs.itertuples(
        index=False)]
    return batch, singles


@pytest.mark.parametrize("group", GROUPS)
def test_single_lead_path_equals_the_batch_path(parity, group) -> None:
    batch, singles = parity
    assert GROUPS[group], f"group {group} declares no feature under the test config"
    for position, single in enumerate(singles):
        assert_same_vector(single, batch.iloc[position], GROUPS[group], f"pair {position}")


def test_requests_scored_together_equal_each_scored_alone(crm, parity) -> None:
    """The service builds concurrent requests' features in one kernel call: each request has
    its own code space, so the same lead (and company) at several ``as_of`` in one call, with
    other companies' requests between them, gets exactly its single-request vector."""
    pairs = boundary_pairs(crm, n_leads=12)
    requests = [LeadQuery(**single_lead_inputs(crm, lead_id), as_of=as_of)
                for lead_id, as_of in pairs.itertuples(index=False)]
    assert pairs["lead_id"].duplicated().any()  # a lead twice in one call
    together = build_request_features(requests, CONFIG)
    names = [name for names in GROUPS.values() for name in names]
    for position, request in enumerate(requests):
        alone = build_request_features([request], CONFIG)[0]
        assert_same_vector(together[position], pd.Series(alone), names, f"pair {position}")


def test_window_edges_are_in_the_pairs(crm) -> None:
    """The pairs above do hold events exactly at as_of - w (counted) and at as_of (not)."""
    pairs = boundary_pairs(crm, n_leads=5)
    activities = crm["activities"]
    at_edge = pairs.apply(lambda p: (activities["occurred_at"] == p["as_of"]
                                     - pd.Timedelta(days=7)).any(), axis=1)
    at_as_of = pairs.apply(lambda p: (activities["occurred_at"] == p["as_of"]).any(), axis=1)
    assert at_edge.any() and at_as_of.any()


# --------------------------------------------------------------------------- point in time

def add_future_records(tables: dict[str, pd.DataFrame], cut: pd.Timestamp,
                       seed: int = 4) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` plus records dated at or after ``cut``: every lead's events again
    (from exactly ``cut`` on, every type, some with a blank account), BANT confirmations, MQL
    and recycling at ``cut``, and new leads of existing companies created at ``cut``."""
    rng = np.random.default_rng(seed)
    activities = tables["activities"]
    future = activities.sample(frac=0.5, random_state=seed).reset_index(drop=True)
    offsets = rng.integers(0, 30 * 86_400_000_000, len(future))
    offsets[: len(future) // 4] = 0  # exactly at the cut
    future = future.assign(
        event_id=[f"future-{i}" for i in range(len(future))],
        occurred_at=cut + pd.to_timedelta(offsets, unit="us"),
        type=rng.choice(ACTIVITY_TYPES, len(future)))
    future.loc[future.index[::5], "account_id"] = None
    leads = tables["leads"].copy()
    for column, value in (("budget", True), ("authority", True), ("need", True),
                          ("timeline_months", 1)):
        stamp = f"{'timeline' if column == 'timeline_months' else column}_confirmed_at"
        later = leads[stamp].isna() | (leads[stamp] >= cut)
        leads.loc[later, column] = value
        leads.loc[later, stamp] = cut
    for column in ("mql_at", "recycled_at"):
        leads.loc[leads[column].isna() | (leads[column] >= cut), column] = cut
    newcomers = leads[leads["account_id"].notna()].head(20).assign(
        lead_id=lambda f: "new-" + f["lead_id"], created_at=cut)
    return {**tables, "activities": pd.concat([activities, future], ignore_index=True),
            "leads": pd.concat([leads, newcomers], ignore_index=True)}


@pytest.fixture(scope="module")
def before_and_after(crm) -> tuple[pd.DataFrame, pd.DataFrame, dict, list]:
    leads = crm["leads"]
    cut = leads["created_at"].quantile(0.6)
    old = leads.loc[leads["created_at"] < cut, "lead_id"].head(120)
    pairs = pd.DataFrame({"lead_id": old.to_numpy(), "as_of": [cut] * len(old)})
    later = add_future_records(crm, cut)
    singles = [single_lead_vector(later, lead_id, cut) for lead_id in old[:30]]
    return (build_lead_features(crm, pairs, CONFIG), build_lead_features(later, pairs, CONFIG),
            later, singles)


@pytest.mark.parametrize("group", GROUPS)
def test_records_at_or_after_as_of_change_nothing(before_and_after, group) -> None:
    before, after, later, singles = before_and_after
    names = GROUPS[group]
    pd.testing.assert_frame_equal(after[names], before[names], check_exact=True)
    for position, single in enumerate(singles):
        assert_same_vector(single, before.iloc[position], names,
                           f"lead {before.lead_id[position]}")


def test_the_future_records_would_change_features_if_they_leaked(before_and_after) -> None:
    """The added records are not inert: scored just after them, the features move."""
    before, _, later, _ = before_and_after
    pairs = before[["lead_id", "as_of"]].assign(as_of=before["as_of"] + pd.Timedelta(days=31))
    moved = build_lead_features(later, pairs, CONFIG)
    for name in ("activity_count_30d", "account_activity_count_30d", "bant_met_count",
                 "is_mql", "account_known_leads"):
        assert (moved[name].fillna(-1) != before[name].fillna(-1)).any(), name
