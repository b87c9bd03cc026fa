"""Lead features: every feature group, run for many pairs (batch) or for one lead (serving).

``LEAD_GROUPS`` lists the feature groups in output column order; each names its features
(``FeatureDef``), the lead columns it reads and its one kernel. Both builders run the same
kernels on the same arrays (``features.inputs.LeadInputs``):

* ``build_lead_features(tables, pairs, config)`` — any set of ``(lead_id, as_of)`` pairs from
  the canonical tables (training snapshots, batch scoring);
* ``build_single_lead_features(lead, account, events, as_of, config)`` — one lead from the
  plain records the scoring service holds (its company, the activities of its company's
  contacts, the company's other leads), without pandas on the way.

Groups: behavior (``features.behavior``), account roll-up (``features.account``), BANT and
status (``features.bant``), firmographics and job title (``features.firmographic``), known
leads of the company (``features.account``), ICP fit (``features.icp``) and declared
``leads.attributes`` keys (``features.attributes``). Adding a feature touches its group module
(and its test); adding a group adds one ``LeadGroup`` here.

Point in time: a feature at ``as_of`` uses only records with timestamps strictly before
``as_of``; scoring a lead at or before its ``created_at`` is an error. Firmographics and lead
attributes have no history in the canonical model and are used as current values, taken as
known at the lead's creation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from crm.schema import empty_frame
from crm.timestamps import to_utc_series
from features.account import (
    ACCOUNT_LEADS_FEATURE,
    account_feature_defs,
    compute_account_rollup,
    count_account_leads,
)
from features.activities import (
    AccountLeads,
    LeadEvents,
    PreparedActivities,
    factorize_small,
    prepare_activities,
)
from features.attributes import (
    attribute_categoricals,
    attribute_feature_defs,
    compute_attributes,
    used_specs,
)
from features.bant import (
    BANT_COLUMNS,
    BANT_FEATURES,
    STATUS_COLUMNS,
    STATUS_FEATURES,
    compute_bant,
    compute_status,
)
from features.behavior import behavior_feature_defs, compute_behavior
from features.config import FeatureConfig, resolve_icp
from features.firmographic import (
    ACCOUNT_COLUMNS,
    FIRMOGRAPHIC_FEATURES,
    LEAD_COLUMNS,
    compute_firmographics,
    firmographic_categoricals,
)
from features.icp import ICP_FEATURES, compute_icp, icp_categoricals
from features.inputs import (
    ColumnKind,
    LeadInputs,
    account_positions,
    read_columns,
    record_columns,
)
from features.pointintime import (
    assemble_feature_frame,
    lookup_rows,
    normalize_pairs,
    rank_times,
    record_text,
    required_us,
    take_ids,
    timed,
    timestamps_to_us,
)
from features.registry import FeatureDef, FeatureRegistry

Values = Mapping[str, Any]


def _no_columns(config: FeatureConfig) -> Mapping[str, ColumnKind]:
    return {}


def _as_computed(out: Values, config: FeatureConfig) -> Values:
    return out


@dataclass(frozen=True)
class LeadGroup:
    """One feature group: its features, the lead columns it reads and its kernel.

    Attributes:
        name: the group's name (also its timing stage, ``leads.<name>``).
        feature_defs: the group's features for a config, in output order.
        compute: the kernel: (inputs, config, features computed by earlier groups) -> feature
            name -> values per pair (numbers float64, categories object arrays of labels).
        lead_columns: the lead columns the kernel reads, by kind.
        frame_types: the batch frame's dtypes for the kernel's output (categories).
    """

    name: str
    feature_defs: Callable[[FeatureConfig], Sequence[FeatureDef]]
    compute: Callable[[LeadInputs, FeatureConfig, Values], Values]
    lead_columns: Callable[[FeatureConfig], Mapping[str, ColumnKind]] = _no_columns
    frame_types: Callable[[Values, FeatureConfig], Values] = _as_computed


def _behavior(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_behavior(inputs.activities, inputs.lead_codes, inputs.as_of, config)


def _account(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_account_rollup(inputs.activities, inputs.account_codes, inputs.has_account,
                                  inputs.as_of, config)


def _bant(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_bant(inputs, config)


def _status(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_status(inputs, config)


def _firmographic(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_firmographics(inputs.as_of, inputs.lead, inputs.accounts, inputs.account_rows)


def _known_leads(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    counts = count_account_leads(inputs.lead_accounts, inputs.lead_created,
                                 inputs.n_lead_accounts, inputs.known_lead_accounts,
                                 inputs.as_of)
    return {ACCOUNT_LEADS_FEATURE.name: np.where(inputs.has_account, counts, np.nan)}


def _icp(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    return compute_icp(done, resolve_icp(config))


def _attributes(inputs: LeadInputs, config: FeatureConfig, done: Values) -> Values:
    if not used_specs(config.attributes):
        return {}
    return compute_attributes(inputs.lead["attributes"], config.attributes, inputs.as_of,
                              config.attribute_levels)


def _attribute_columns(config: FeatureConfig) -> Mapping[str, ColumnKind]:
    return {"attributes": "value"} if used_specs(config.attributes) else {}


def _typed_attributes(out: Values, config: FeatureConfig) -> Values:
    return attribute_categoricals(out, config.attributes)


LEAD_GROUPS: tuple[LeadGroup, ...] = (
    LeadGroup("behavior", behavior_feature_defs, _behavior),
    LeadGroup("account", account_feature_defs, _account),
    LeadGroup("bant", lambda config: BANT_FEATURES, _bant, lambda config: BANT_COLUMNS),
    LeadGroup("status", lambda config: STATUS_FEATURES, _status, lambda config: STATUS_COLUMNS),
    LeadGroup("firmographic", lambda config: FIRMOGRAPHIC_FEATURES, _firmographic,
              lambda config: LEAD_COLUMNS, lambda out, config: firmographic_categoricals(out)),
    LeadGroup("account_leads", lambda config: (ACCOUNT_LEADS_FEATURE,), _known_leads),
    LeadGroup("icp", lambda config: ICP_FEATURES, _icp,
              frame_types=lambda out, config: icp_categoricals(out)),
    LeadGroup("attributes", lambda config: attribute_feature_defs(config.attributes),
              _attributes, _attribute_columns, _typed_attributes),
)


def lead_feature_registry(config: FeatureConfig) -> FeatureRegistry:
    """Every lead feature of ``LEAD_GROUPS``, in output column order."""
    return FeatureRegistry(d for group in LEAD_GROUPS for d in group.feature_defs(config))


@lru_cache(maxsize=64)
def _feature_names(config: FeatureConfig) -> tuple[str, ...]:
    return tuple(lead_feature_registry(config).names)


def _lead_columns(config: FeatureConfig) -> dict[str, ColumnKind]:
    columns: dict[str, ColumnKind] = {}
    for group in LEAD_GROUPS:
        columns.update(group.lead_columns(config))
    return columns


def compute_lead_groups(inputs: LeadInputs, config: FeatureConfig) -> dict[str, dict[str, Any]]:
    """Every group's kernel output (group name -> feature -> values per pair), in order."""
    done: dict[str, Any] = {}
    out: dict[str, dict[str, Any]] = {}
    for group in LEAD_GROUPS:
        with timed(f"leads.{group.name}"):
            out[group.name] = dict(group.compute(inputs, config, done))
        done.update(out[group.name])
    return out


# --------------------------------------------------------------------------------- batch

def _pair_accounts(leads: pd.DataFrame, rows: np.ndarray, pairs: pd.DataFrame) -> pd.Series:
    """Account of each pair: ``pairs.account_id`` when given, else the lead's account."""
    own = take_ids(leads["account_id"], rows)
    if "account_id" not in pairs.columns:
        return own
    given = pairs["account_id"].astype("str").reset_index(drop=True)
    return given.where(given.notna(), own)


def lead_inputs_from_tables(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame,
                            config: FeatureConfig) -> LeadInputs:
    """``LeadInputs`` of normalised ``pairs`` from the canonical tables (the batch path)."""
    leads = tables["leads"]
    activities = tables["activities"] if "activities" in tables else empty_frame("activities")
    accounts = tables["accounts"] if "accounts" in tables else empty_frame("accounts")
    rows = lookup_rows(leads, pairs)
    pair_accounts = _pair_accounts(leads, rows, pairs)
    prepared = prepare_activities(activities, leads)
    lead_account_codes, lead_account_ids = pd.factorize(leads["account_id"],
                                                        use_na_sentinel=True)
    return LeadInputs(
        as_of=timestamps_to_us(pairs["as_of"], "pairs.as_of"),
        lead=read_columns(leads, rows, _lead_columns(config)),
        has_account=pair_accounts.notna().to_numpy(),
        accounts=read_columns(accounts, np.arange(len(accounts)), ACCOUNT_COLUMNS, "accounts"),
        account_rows=account_positions(pair_accounts, accounts["account_id"]),
        activities=prepared,
        lead_codes=prepared.lead_ids.get_indexer(pairs["lead_id"]).astype(np.int64),
        account_codes=prepared.account_ids.get_indexer(pair_accounts).astype(np.int64),
        lead_accounts=lead_account_codes.astype(np.int64),
        lead_created=timestamps_to_us(leads["created_at"], "leads.created_at"),
        n_lead_accounts=len(lead_account_ids),
        known_lead_accounts=pd.Index(lead_account_ids).get_indexer(pair_accounts).astype(
            np.int64))


def build_lead_features(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame,
                        config: FeatureConfig) -> pd.DataFrame:
    """All lead features of each ``(lead_id, as_of)`` pair, point in time.

    Args:
        tables: canonical tables; uses leads (with ``attributes`` when the config declares
            any), activities and accounts (missing accounts or activities count as empty).
        pairs: ``lead_id``, timezone-aware ``as_of`` and optionally ``account_id``.
        config: the feature settings.

    Returns:
        One row per pair in pair order: ``lead_id``, ``as_of`` (UTC), then
        ``lead_feature_registry(config).names`` — float64 numbers, categorical categories.

    Raises:
        ValueError: unknown lead ids, naive timestamps, a lead created at or after its as_of.
    """
    pairs = normalize_pairs(pairs, "lead_id")
    with timed("leads.inputs"):
        inputs = lead_inputs_from_tables(tables, pairs, config)
    columns: dict[str, Any] = {}
    for group, out in zip(LEAD_GROUPS, compute_lead_groups(inputs, config).values()):
        columns.update(group.frame_types(out, config))
    return assemble_feature_frame(pairs, columns, lead_feature_registry(config), "lead_id")


# ------------------------------------------------------------------------------ one lead

@dataclass(frozen=True)
class LeadQuery:
    """One lead to score at ``as_of``, from the plain, typed records the scoring service holds.

    Attributes:
        lead: the canonical leads record (typed values; ``lead_id`` and ``created_at`` needed).
        account: the lead's accounts record, or None.
        events: the lead's activities and those of the other contacts of its company.
        as_of: timezone-aware scoring time.
        account_leads: the other leads of the company (blank activity accounts and lead
            counts); None for none.
    """

    lead: Mapping[str, Any]
    account: Mapping[str, Any] | None
    events: LeadEvents
    as_of: pd.Timestamp | datetime
    account_leads: AccountLeads | None = None


@dataclass(frozen=True)
class _Request:
    """One request's arrays with codes local to it (``_merge_requests`` offsets them)."""

    as_of: int
    has_account: bool
    account: Mapping[str, Any] | None
    events: LeadEvents
    lead_codes: np.ndarray
    n_leads: int
    account_codes: np.ndarray
    n_accounts: int
    lead_code: int
    account_code: int
    lead_accounts: np.ndarray
    lead_created: list[int]
    n_lead_accounts: int


def _request_arrays(request: LeadQuery) -> _Request:
    """Check one request and code its leads and accounts (the company's, for blank ones)."""
    as_of_us = required_us(request.as_of, "as_of")
    lead = request.lead
    created = required_us(lead.get("created_at"), "leads.created_at")
    lead_id, account_id = record_text(lead.get("lead_id")), record_text(lead.get("account_id"))
    if created >= as_of_us:
        raise ValueError(f"as_of is at or before the lead's created_at (a lead cannot be scored "
                         f"before it exists): {lead_id}")
    others = request.account_leads or AccountLeads([], [], [])
    account = request.account
    known = account is not None and account_id is not None and record_text(
        account.get("account_id")) == account_id
    mine = [i for i, other in enumerate(others.ids) if other != lead_id]
    lead_account_codes, lead_account_ids = factorize_small(
        [account_id, *(others.accounts[i] for i in mine)])
    owners = {**dict(zip(others.ids, others.accounts)), lead_id: account_id}
    events = request.events
    lead_codes, lead_ids = factorize_small(events.leads)
    account_codes, account_ids = factorize_small(
        [owner if owner is not None else owners.get(lead_of)
         for owner, lead_of in zip(events.accounts.tolist(), events.leads.tolist())])
    return _Request(
        as_of=as_of_us, has_account=account_id is not None, account=account if known else None,
        events=events, lead_codes=lead_codes, n_leads=len(lead_ids),
        account_codes=account_codes, n_accounts=len(account_ids),
        lead_code=_position(lead_ids, lead_id), account_code=_position(account_ids, account_id),
        lead_accounts=lead_account_codes, lead_created=[created, *(others.created[i] for i in mine)],
        n_lead_accounts=len(lead_account_ids))


def _offset(codes: np.ndarray, offset: int) -> np.ndarray:
    return np.where(codes >= 0, codes + offset, codes)


def _merge_requests(parts: Sequence[_Request], config: FeatureConfig) -> LeadInputs:
    """One ``LeadInputs`` over the requests, each in its own code space: request i's leads
    and accounts never meet request j's, even when they share an id."""
    lead_start = np.cumsum([0, *(p.n_leads for p in parts)])
    account_start = np.cumsum([0, *(p.n_accounts for p in parts)])
    known_start = np.cumsum([0, *(p.n_lead_accounts for p in parts)])
    times = np.concatenate([p.events.times for p in parts]).astype(np.int64, copy=False)
    ranks, unique_times = rank_times(times)
    activities = PreparedActivities(
        times, ranks, unique_times, np.concatenate([p.events.kinds for p in parts]),
        np.concatenate([_offset(p.lead_codes, s) for p, s in zip(parts, lead_start)]),
        range(int(lead_start[-1])),
        np.concatenate([_offset(p.account_codes, s) for p, s in zip(parts, account_start)]),
        range(int(account_start[-1])))
    accounts = [p.account for p in parts if p.account is not None]
    account_rows = np.cumsum([p.account is not None for p in parts]) - 1
    return LeadInputs(
        as_of=np.array([p.as_of for p in parts], dtype=np.int64),
        lead=None,  # filled by the caller (record_columns checks and types the values)
        has_account=np.array([p.has_account for p in parts]),
        accounts=record_columns(accounts, ACCOUNT_COLUMNS, "accounts"),
        account_rows=np.where([p.account is not None for p in parts], account_rows, -1),
        activities=activities,
        lead_codes=np.array([_offset(np.array(p.lead_code), s)
                             for p, s in zip(parts, lead_start)], dtype=np.int64),
        account_codes=np.array([_offset(np.array(p.account_code), s)
                                for p, s in zip(parts, account_start)], dtype=np.int64),
        lead_accounts=np.concatenate([_offset(p.lead_accounts, s)
                                      for p, s in zip(parts, known_start)]).astype(np.int64),
        lead_created=np.array([c for p in parts for c in p.lead_created], dtype=np.int64),
        n_lead_accounts=int(known_start[-1]),
        known_lead_accounts=np.array([s if p.lead_accounts[0] >= 0 else -1
                                      for p, s in zip(parts, known_start)], dtype=np.int64))


def lead_inputs_from_records(requests: Sequence[LeadQuery],
                             config: FeatureConfig) -> LeadInputs:
    """``LeadInputs`` of several requests' plain records, one pair each (the serving path).

    Raises:
        ValueError: naive ``as_of``, missing or naive ``created_at``, a lead created at or
            after ``as_of``, or a value that does not convert.
    """
    parts = [_request_arrays(request) for request in requests]
    inputs = _merge_requests(parts, config)
    return dataclasses.replace(inputs, lead=record_columns(
        [request.lead for request in requests], _lead_columns(config)))


def _position(values: Sequence, value: object) -> int:
    if value is None:
        return -1
    try:
        return list(values).index(value)
    except ValueError:
        return -1


def build_request_features(requests: Sequence[LeadQuery],
                           config: FeatureConfig) -> list[dict[str, Any]]:
    """Every lead feature of each request, as ``build_lead_features`` computes it.

    The requests run through the kernels together (one set of numpy calls for all of them,
    which is what makes a batch of concurrent ``/score`` requests cheap), each in its own code
    space: a request's features depend only on its own records.

    Args:
        requests: each lead's records and ``as_of``.
        config: the model's ``FeatureConfig`` (its ICP resolved once by the caller, e.g.
            ``dataclasses.replace(config, icp=resolve_icp(config))``, saves a file read).

    Returns:
        Per request, feature name -> value in registry order: floats (``np.float64``, NaN =
        unknown) for numbers and flags, text (None = missing) for categories.

    Raises:
        ValueError: naive ``as_of``, missing or naive ``created_at``, a lead created at or
            after ``as_of``, or a value that does not convert (the caller retries one by one
            to find the request at fault).
    """
    if not requests:
        return []
    out: dict[str, Any] = {}
    for values in compute_lead_groups(lead_inputs_from_records(requests, config),
                                      config).values():
        out.update(values)
    names = _feature_names(config)
    return [{name: out[name][i] for name in names} for i in range(len(requests))]


def build_single_lead_features(lead: Mapping[str, Any], account: Mapping[str, Any] | None,
                               events: LeadEvents, as_of: pd.Timestamp | datetime,
                               config: FeatureConfig,
                               account_leads: AccountLeads | None = None) -> dict[str, Any]:
    """Every lead feature of one lead at ``as_of`` (``build_request_features`` for one
    ``LeadQuery``; see there)."""
    return build_request_features(
        [LeadQuery(lead, account, events, as_of, account_leads)], config)[0]


def single_lead_frame(rows: Sequence[Mapping[str, Any]], lead_ids: Sequence[str],
                      as_ofs: Sequence[pd.Timestamp], registry: FeatureRegistry
                      ) -> pd.DataFrame:
    """Rows of ``build_single_lead_features`` as the frame ``build_lead_features`` returns
    (``lead_id``, ``as_of``, then the registry's features with the same dtypes)."""
    pairs = pd.DataFrame({"lead_id": pd.array(list(lead_ids), dtype="str"),
                          "as_of": to_utc_series(list(as_ofs))})
    columns = {name: [row[name] for row in rows] for name in registry.names}
    return assemble_feature_frame(pairs, columns, registry, "lead_id")
