"""Account roll-up group (ABM): what the lead's whole company did before ``as_of``.

``account_activity_count_{w}d`` counts every activity of the company in ``[as_of - w d,
as_of)``; ``account_engaged_contacts_{n}d`` counts distinct leads of the company with an
engagement event (positive weight) in ``[as_of - n d, as_of)``. Each lead's engagement events
are merged into runs whose gaps are at most ``n`` days; the lead is engaged at ``as_of`` exactly
when a run satisfies ``run_start < as_of <= run_end + n d``, so distinct contacts = #runs
started before ``as_of`` − #runs ended (plus n days) before ``as_of`` — two binary searches.
``account_known_leads`` counts the company's leads created strictly before ``as_of``.

An activity's company is ``activities.account_id``, or, when that is blank, its lead's
``account_id`` (``features.activities``). Every feature is missing when there is no company.
The same functions serve the lead features (batch and single lead) and the win model
(``features.opportunity``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.activities import PreparedActivities, index_by
from features.behavior import type_tables
from features.config import FeatureConfig
from features.pointintime import NAT_US, US_PER_DAY, build_event_index, cutoff_positions
from features.registry import FeatureDef

ACCOUNT_LEADS_FEATURE = FeatureDef(
    "account_known_leads", "float", "actionable", "firmographic",
    "{value} contacts known at this company", "同じ企業の既知リード数は{value}名",
    "Leads of the same account created strictly before as_of (this one included); sales can "
    "add contacts (multi-threading). Missing when the lead has no account.")


def account_feature_defs(config: FeatureConfig) -> list[FeatureDef]:
    """FeatureDefs of the account roll-up (shared by lead and opportunity features)."""
    days = config.engaged_contact_days
    defs = [
        FeatureDef(f"account_activity_count_{w}d", "int", "actionable", "account",
                   f"{{value}} activities from this company in the last {w} days",
                   f"直近{w}日でこの企業から{{value}}件の活動",
                   "All activities of the company (any contact) in the window; "
                   "missing when there is no company.")
        for w in config.windows_days
    ]
    return defs + [FeatureDef(
        f"account_engaged_contacts_{days}d", "int", "actionable", "account",
        f"{{value}} contacts at this company engaged in the last {days} days",
        f"直近{days}日でこの企業の{{value}}名が反応",
        "Distinct leads of the company with an engagement activity (positive weight) in the "
        "window; missing when there is no company.")]


def _contact_runs(prepared: PreparedActivities, config: FeatureConfig,
                  window_us: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, run start, run end + window) of each run of a lead's engagement events."""
    engaged = type_tables(config).weights[prepared.kinds] > 0
    keep = engaged & (prepared.lead_codes >= 0) & (prepared.account_codes >= 0)
    n_leads = np.int64(len(prepared.lead_ids) + 1)
    contact_keys = prepared.account_codes[keep].astype(np.int64) * n_leads
    contact_keys += prepared.lead_codes[keep]
    contacts, contact_uniques = pd.factorize(contact_keys, sort=True)
    del contact_keys
    index = build_event_index(contacts.astype(np.int32), prepared.times[keep],
                              len(contact_uniques), ranked=(prepared.ranks[keep],
                                                            prepared.unique_times))
    times, codes = index.times, index.codes
    if len(index) == 0:
        return codes, times, times
    new_run = np.ones(len(index), dtype=bool)
    new_run[1:] = (codes[1:] != codes[:-1]) | (times[1:] - times[:-1] > window_us)
    run_starts = np.flatnonzero(new_run)
    run_ends = np.append(run_starts[1:], len(index)) - 1
    accounts = np.asarray(contact_uniques, dtype=np.int64)[codes[run_starts]] // n_leads
    return accounts, times[run_starts], times[run_ends] + window_us


def _engaged_contacts(prepared: PreparedActivities, account_codes: np.ndarray,
                      as_of: np.ndarray, config: FeatureConfig) -> np.ndarray:
    window_us = np.int64(config.engaged_contact_days) * US_PER_DAY
    accounts, run_starts, run_ends = _contact_runs(prepared, config, window_us)
    n_accounts = len(prepared.account_ids)
    started = build_event_index(accounts, run_starts, n_accounts)
    ended = build_event_index(accounts, run_ends, n_accounts)
    n_started = started.positions(account_codes, as_of) - started.starts_of(account_codes)
    n_ended = ended.positions(account_codes, as_of) - ended.starts_of(account_codes)
    return n_started - n_ended


def compute_account_rollup(prepared: PreparedActivities, account_codes: np.ndarray,
                              has_account: np.ndarray, as_of: np.ndarray,
                              config: FeatureConfig) -> dict[str, np.ndarray]:
    """Account roll-up per query: activity counts per window and engaged contacts.

    Args:
        prepared: the activities (``features.activities``).
        account_codes: position of each query's account in ``prepared.account_ids`` (-1 if the
            account has no activity).
        has_account: False where the query has no account at all (features become NaN).
        as_of: UTC µs per query.
    """
    index = index_by(prepared, prepared.account_codes, len(prepared.account_ids))
    pos = cutoff_positions(index, account_codes, as_of, set(config.windows_days))
    out = {f"account_activity_count_{w}d": np.where(has_account, pos[0] - pos[w], np.nan)
           for w in config.windows_days}
    del index
    engaged = _engaged_contacts(prepared, account_codes, as_of, config)
    out[f"account_engaged_contacts_{config.engaged_contact_days}d"] = np.where(
        has_account, engaged, np.nan)
    return out


def count_account_leads(lead_accounts: np.ndarray, created: np.ndarray, n_accounts: int,
                        account_codes: np.ndarray, as_of: np.ndarray) -> np.ndarray:
    """Leads of each query's account created strictly before its ``as_of``.

    Args:
        lead_accounts: account code of every known lead (-1: none), 0..n_accounts-1.
        created: creation time of every known lead (UTC µs; ``NAT_US`` never counts).
        account_codes: each query's account code (-1: the account has no known lead).
        as_of: UTC µs per query.

    Returns:
        float64 counts (the caller blanks queries without an account).
    """
    keep = (lead_accounts >= 0) & (created != NAT_US)
    index = build_event_index(lead_accounts[keep].astype(np.int64), created[keep], n_accounts)
    return (index.positions(account_codes, as_of)
            - index.starts_of(account_codes)).astype(np.float64)
