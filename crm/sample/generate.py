"""``generate_crm``: accounts and people in one pass, then the simulation chunk by chunk,
then the canonical tables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from crm.sample.accounts import _generate_accounts
from crm.sample.calendar import _build_calendar
from crm.sample.config import GeneratorConfig
from crm.sample.deals import _Deals, _simulate_direct_deals
from crm.sample.leads import _generate_people
from crm.sample.simulate import _Fates, _simulate_chunk
from crm.sample.streams import _Streams
from crm.sample.tables import (
    _accounts_frame,
    _activities_frame,
    _deal_tables,
    _ground_truth_frame,
    _Ids,
    _leads_frame,
)
from crm.sample.vocabulary import _Vocabulary

logger = logging.getLogger(__name__)


def generate_crm(
    config: GeneratorConfig, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Generate a sample CRM and its hidden ground truth.

    Args:
        config: what to generate (see ``GeneratorConfig``).
        progress: called with the number of leads simulated so far, once per chunk.

    Returns:
        (tables, ground_truth): the five canonical tables keyed by name, and one row per lead
        with lead_id, icp_fit, seniority_level, latent_interest, p_sql, duplicate_of.
    """
    cal = _build_calendar(config)
    vocab = _Vocabulary.build(cal)
    accounts = _generate_accounts(config, _Streams.single(config.seed, 0))
    people = _generate_people(config, cal, accounts, vocab, _Streams.single(config.seed, 1))
    ids = _Ids.build(config.n_leads, config.n_accounts)
    fates = _Fates.empty(config.n_leads)
    activities: list[pd.DataFrame] = []
    deals: list[_Deals] = []
    for start in range(0, config.n_leads, config.chunk_size):
        stop = min(start + config.chunk_size, config.n_leads)
        chunk = _simulate_chunk(config, cal, vocab, accounts, people, fates, start, stop)
        offset = sum(len(frame) for frame in activities)
        activities.append(_activities_frame(chunk.events, people, ids, vocab, cal, start,
                                            offset, chunk.streams))
        deals.append(chunk.deals)
        logger.debug("simulated leads %d-%d: %d events", start, stop, len(activities[-1]))
        if progress is not None:
            progress(stop)
    deals.append(_simulate_direct_deals(config, cal, accounts))
    opportunities, history = _deal_tables(deals, ids, cal.end)
    tables = {
        "accounts": _accounts_frame(accounts, ids),
        "leads": _leads_frame(people, fates, ids, vocab, cal.end),
        "activities": pd.concat(activities, ignore_index=True),
        "opportunities": opportunities,
        "opportunity_stage_history": history,
    }
    return tables, _ground_truth_frame(people, ids)
