"""Accounts: firmographics, the hidden account effect and the CRM's missing values."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from crm.sample.config import GeneratorConfig
from crm.sample.names import _render_account_names
from crm.sample.story import (
    ACCOUNT_EFFECT_SD,
    COUNTRY_P,
    EMPLOYEES_LOG_MEDIAN,
    EMPLOYEES_LOG_SD,
    INDUSTRY_P,
    REVENUE_PER_EMPLOYEE_USD,
)
from crm.sample.streams import _Streams


@dataclass
class _Accounts:
    country: np.ndarray
    industry: np.ndarray
    employees: np.ndarray       # true headcount (the CRM may show it missing)
    revenue: np.ndarray
    founded: np.ndarray
    effect: np.ndarray          # hidden account-level interest
    weight: np.ndarray          # how many leads it attracts
    name: pa.Array
    domain: pa.Array            # true domain (used by e-mails)
    shown: dict[str, np.ndarray]  # missing-value masks of the CRM view


def _generate_accounts(config: GeneratorConfig, st: _Streams) -> _Accounts:
    n = config.n_accounts
    idx = np.arange(n)
    country = st.cat(idx, COUNTRY_P)
    industry = st.cat(idx, INDUSTRY_P)
    employees = np.clip(np.round(np.exp(st.normal(idx, EMPLOYEES_LOG_MEDIAN,
                                                  EMPLOYEES_LOG_SD))), 2, 300_000)
    revenue = employees * np.take(REVENUE_PER_EMPLOYEE_USD, industry) * np.exp(
        st.normal(idx, 0.0, 0.4))
    age_scale = (6.0 + 4.0 * np.log10(employees)) * np.where(country == 0, 1.4, 1.0)
    founded = config.end.year - np.minimum(np.round(st.gamma(idx, 2.0, age_scale)), 150)
    effect = st.normal(idx, 0.0, ACCOUNT_EFFECT_SD)
    weight = employees ** 0.35 * np.exp(st.normal(idx, 0.0, 0.8))
    name, domain = _render_account_names(st, idx, country, industry)
    shown = {"domain": st.bern(idx, 0.97), "industry": st.bern(idx, 0.96),
             "employees": st.bern(idx, 0.92), "annual_revenue": st.bern(idx, 0.80),
             "founded_year": st.bern(idx, 0.88)}
    return _Accounts(country, industry, employees, np.round(revenue, -3), founded, effect,
                     weight, name, domain, shown)
