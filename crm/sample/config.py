"""What to generate: ``GeneratorConfig`` and its checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm.sample.streams import RNG_BLOCK_LEADS

DEFAULT_END = pd.Timestamp("2026-10-31T23:59:59Z")


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Same config (and package version) -> identical tables.

    Attributes:
        n_leads: lead records to create, near-duplicates included (1 .. 10,000,000).
        seed: root of every random stream (0 .. 2**32 - 1).
        end: the "now" of the CRM, timezone-aware; nothing happens after it. Fixed by default
            (not ``now()``) so the output is deterministic.
        months: leads are created over this many months before ``end`` (1 .. 120).
        duplicate_rate: share of leads that are near-duplicates of an earlier lead (0 .. 0.5).
        activities_per_lead: target mean events per lead; every activity rate scales with it.
        leads_per_account: n_accounts = max(50, round(n_leads / leads_per_account)).
        direct_opportunity_rate: deals without a lead (account-based), per lead (0 .. 1).
        chunk_size: leads simulated per chunk; a positive multiple of RNG_BLOCK_LEADS. Bounds
            working memory and sets how often ``progress`` is called; it never changes output.
        sql_drift: base-rate drift: log-odds added to every lead's true SQL probability, rising
            linearly from 0 for the oldest lead to this for the newest (-5 .. 5; 0, the
            default, leaves the output as without the option).
    """

    n_leads: int = 5000
    seed: int = 42
    end: pd.Timestamp = DEFAULT_END
    months: int = 24
    duplicate_rate: float = 0.06
    activities_per_lead: float = 20.0
    leads_per_account: float = 4.0
    direct_opportunity_rate: float = 0.012
    chunk_size: int = 50_000
    sql_drift: float = 0.0

    def __post_init__(self) -> None:
        _check_range("n_leads", self.n_leads, 1, 10_000_000, integer=True)
        _check_range("seed", self.seed, 0, 2**32 - 1, integer=True)
        _check_range("months", self.months, 1, 120, integer=True)
        _check_range("duplicate_rate", self.duplicate_rate, 0.0, 0.5)
        _check_range("activities_per_lead", self.activities_per_lead, 0.1, 500.0)
        _check_range("leads_per_account", self.leads_per_account, 1.0, 1000.0)
        _check_range("direct_opportunity_rate", self.direct_opportunity_rate, 0.0, 1.0)
        _check_range("chunk_size", self.chunk_size, RNG_BLOCK_LEADS, 10_000_000, integer=True)
        _check_range("sql_drift", self.sql_drift, -5.0, 5.0)
        if self.chunk_size % RNG_BLOCK_LEADS:
            raise ValueError(f"chunk_size must be a multiple of {RNG_BLOCK_LEADS}, "
                             f"got {self.chunk_size}")
        if not isinstance(self.end, pd.Timestamp):
            raise TypeError(f"end must be a pandas Timestamp, got {self.end!r}")
        if self.end.tz is None:
            raise ValueError(f"end must be timezone-aware (e.g. UTC), got {self.end!r}")

    @property
    def n_accounts(self) -> int:
        """Number of accounts generated."""
        return max(50, round(self.n_leads / self.leads_per_account))


def _check_range(name: str, value: object, low: float, high: float,
                 integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (low <= value <= high):
        raise ValueError(f"{name} must be between {low} and {high}, got {value!r}")
