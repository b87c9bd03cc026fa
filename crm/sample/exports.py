"""Raw CRM exports in awkward real-world shapes, with base-rate drift (issue 11).

The sample CRM (``generate_crm``) writes canonical tables; real exports rarely look like
them. ``generate_export`` writes the files of two shapes met in practice, to be imported with a
mapping alone (``config/mappings/sample_funnel.yaml``, ``sample_telemarketing.yaml``):

* ``funnel`` — a B2B marketing funnel: ``mqls.csv`` (an MQL per row: hex ``mql_id``,
  ``first_contact_date`` as a date, ``origin``, a hex ``landing_page_id``) and the label in a
  second file, ``closed_deals.csv`` (the MQLs that became customers, with ``won_date`` and
  columns known only after winning: segment, lead type, declared revenue, seller id).
* ``telemarketing`` — a B2C call log, ``calls.csv``: **no id and no timestamp**, rows in time
  order, ``calls_per_day`` calls a day; per-call columns (age, job, marital status, contact
  channel, calls in this campaign, previous outcome, ...), columns that take **one value per
  day for every call** (``euribor3m``, ``emp_var_rate``, ``cons_conf_idx``; and the calendar:
  ``month``, ``day_of_week``) and the outcome ``y`` (yes/no).

Both drift: the log-odds of the outcome rise linearly from ``start_rate`` in the oldest row to
``end_rate`` at ``rise_until`` of the time, then stay (``start_rate == end_rate``: no drift), on
top of a stable per-row signal. Same config -> identical files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crm.sample.story import _sigmoid

SHAPES = ("funnel", "telemarketing")
_ORIGINS = {"organic_search": 0.3, "paid_search": 0.2, "social": -0.4, "email": 0.1,
            "referral": 0.9, "direct_traffic": 0.0, "display": -0.6, "unknown": -0.2}
_JOBS = {"admin.": 0.0, "blue-collar": -0.3, "technician": -0.1, "services": -0.2,
         "management": 0.1, "retired": 0.8, "student": 0.9, "self-employed": 0.0,
         "entrepreneur": -0.1, "housemaid": 0.0, "unemployed": 0.3, "unknown": 0.0}
_DAYS = np.array(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])
_MONTHS = np.array(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                    "nov", "dec"])


@dataclass(frozen=True)
class ExportConfig:
    """What to write.

    Attributes:
        shape: ``funnel`` or ``telemarketing``.
        n_rows: MQLs (funnel) or calls (telemarketing).
        seed: random seed.
        start_rate / end_rate: outcome rate of the oldest rows and after the rise.
        rise_until: share of the time over which the rate rises (0 < x <= 1).
        start: the first day (UTC midnight).
        days: funnel only: the days the MQLs spread over.
        calls_per_day: telemarketing only: calls a day (the day-constant columns change daily).
    """

    shape: str = "telemarketing"
    n_rows: int = 20_000
    seed: int = 42
    start_rate: float = 0.05
    end_rate: float = 0.30
    rise_until: float = 0.7
    start: pd.Timestamp = pd.Timestamp("2023-01-02", tz="UTC")
    days: int = 730
    calls_per_day: int = 24

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")
        if not isinstance(self.n_rows, int) or self.n_rows < 100:
            raise ValueError(f"n_rows must be a whole number >= 100, got {self.n_rows!r}")
        for name in ("start_rate", "end_rate"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        if not 0 < self.rise_until <= 1:
            raise ValueError(f"rise_until must be in (0, 1], got {self.rise_until!r}")
        if self.start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, got {self.start!r}")
        if self.days < 1 or not 1 <= self.calls_per_day <= 1440:
            raise ValueError("days must be >= 1 and calls_per_day between 1 and 1440")


def generate_export(config: ExportConfig) -> dict[str, pd.DataFrame]:
    """The export's files as frames, keyed by file name (see the module docstring)."""
    rng = np.random.default_rng(config.seed)
    if config.shape == "funnel":
        return _funnel(config, rng)
    return {"calls.csv": _calls(config, rng)}


def write_export(config: ExportConfig, directory: Path | str) -> list[Path]:
    """Write ``generate_export(config)`` as CSV files into ``directory``; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in generate_export(config).items():
        frame.to_csv(directory / name, index=False)
        paths.append(directory / name)
    return paths


def drift_logit(position: np.ndarray, config: ExportConfig) -> np.ndarray:
    """The outcome's base log-odds at each row's time ``position`` (0 oldest .. 1 newest)."""
    low, high = (np.log(r / (1 - r)) for r in (config.start_rate, config.end_rate))
    return low + np.minimum(position / config.rise_until, 1.0) * (high - low)


def _hex(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.array([f"{a:016x}{b:016x}" for a, b in rng.integers(0, 2**63, (n, 2))])


def _funnel(config: ExportConfig, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    n = config.n_rows
    day = np.sort(rng.integers(0, config.days, n))
    origin = rng.choice(list(_ORIGINS), n, p=[0.3, 0.2, 0.1, 0.1, 0.05, 0.1, 0.05, 0.1])
    pages = _hex(rng, max(5, n // 40))
    popularity = 1.0 / np.arange(1, len(pages) + 1) ** 0.8
    page = rng.choice(len(pages), n, p=popularity / popularity.sum())
    page_effect = rng.normal(0, 0.6, len(pages))[page]
    signal = np.array([_ORIGINS[o] for o in origin]) + page_effect
    won = rng.random(n) < _sigmoid(drift_logit(day / config.days, config) + signal - signal.mean())
    contact = config.start + pd.to_timedelta(day, unit="D")
    won_at = contact + pd.to_timedelta(1 + rng.exponential(25, n), unit="D")
    end = config.start + pd.Timedelta(days=config.days)
    won &= np.asarray(won_at < end)  # the export ends: later wins are not in it yet
    mql_id = _hex(rng, n)
    mqls = pd.DataFrame({"mql_id": mql_id, "first_contact_date": contact.strftime("%Y-%m-%d"),
                         "landing_page_id": pages[page], "origin": origin})
    k = int(won.sum())
    deals = pd.DataFrame({
        "mql_id": mql_id[won], "seller_id": _hex(rng, k),
        "won_date": won_at[won].strftime("%Y-%m-%d %H:%M:%S"),
        "business_segment": rng.choice(["pet", "car_accessories", "home_decor", "health"], k),
        "lead_type": rng.choice(["online_medium", "online_big", "offline"], k),
        "declared_monthly_revenue": rng.lognormal(10, 1, k).round(0)})
    return {"mqls.csv": mqls, "closed_deals.csv": deals.sample(frac=1.0, random_state=1)}


def _calls(config: ExportConfig, rng: np.random.Generator) -> pd.DataFrame:
    n, per_day = config.n_rows, config.calls_per_day
    day = np.arange(n) // per_day
    n_days = int(day[-1]) + 1
    position = np.arange(n) / n
    dates = config.start + pd.to_timedelta(np.arange(n_days), unit="D")
    euribor = np.clip(4.9 - 4.2 * np.minimum(np.arange(n_days) / (n_days * config.rise_until),
                                             1) + rng.normal(0, 0.05, n_days).cumsum() * 0.1,
                      0.6, 5.1).round(3)
    emp_var = np.where(np.arange(n_days) < n_days * config.rise_until / 2, 1.4, -1.8)
    confidence = (-40 + rng.normal(0, 0.6, n_days).cumsum()).round(1)
    job = rng.choice(list(_JOBS), n)
    contact = rng.choice(["cellular", "telephone"], n, p=[0.65, 0.35])
    loan = rng.choice(["no", "yes", "unknown"], n, p=[0.8, 0.17, 0.03])
    campaign = 1 + rng.poisson(1.5, n)
    previous = rng.poisson(0.2, n)
    poutcome = np.where(previous == 0, "nonexistent",
                        np.where(rng.random(n) < 0.35, "success", "failure"))
    age = np.clip(rng.normal(40, 11, n), 18, 95).round().astype(int)
    signal = (np.array([_JOBS[j] for j in job]) + 0.6 * (contact == "cellular")
              - 0.15 * np.minimum(campaign - 1, 6) + 1.4 * (poutcome == "success")
              - 0.3 * (loan == "yes") + 0.5 * ((age < 25) | (age > 60)))
    outcome = rng.random(n) < _sigmoid(drift_logit(position, config) + signal - signal.mean())
    return pd.DataFrame({
        "age": age, "job": job,
        "marital": rng.choice(["married", "single", "divorced"], n, p=[0.6, 0.28, 0.12]),
        "education": rng.choice(["university.degree", "high.school", "basic.9y",
                                 "professional.course"], n),
        "housing": rng.choice(["yes", "no"], n), "loan": loan, "contact": contact,
        "month": _MONTHS[dates.month.to_numpy() - 1][day],
        "day_of_week": _DAYS[dates.day_of_week.to_numpy()][day],
        "campaign": campaign, "previous": previous, "poutcome": poutcome,
        "emp_var_rate": emp_var[day], "cons_conf_idx": confidence[day],
        "euribor3m": euribor[day], "y": np.where(outcome, "yes", "no")})
