"""The generating story's parameters, its link functions and the hidden ICP rule.

Every number here is rendered into ``describe_ground_truth`` (``crm.sample.describe``), so the
documentation cannot drift from the simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

INDUSTRIES = ("software", "manufacturing", "finance", "retail", "healthcare", "logistics",
              "construction", "education", "professional_services", "media", "public_sector")
INDUSTRY_P = (0.18, 0.18, 0.10, 0.10, 0.08, 0.08, 0.07, 0.05, 0.08, 0.04, 0.04)
REVENUE_PER_EMPLOYEE_USD = (220e3, 280e3, 450e3, 180e3, 160e3, 200e3, 230e3, 90e3, 150e3,
                            170e3, 120e3)
COUNTRIES = ("JP", "US", "GB", "DE", "SG", "AU", "KR", "IN", "FR", "CA")
COUNTRY_P = (0.50, 0.14, 0.06, 0.06, 0.07, 0.05, 0.03, 0.03, 0.03, 0.03)
COUNTRY_REGION = ("JP", "NA", "EMEA", "EMEA", "APAC", "APAC", "APAC", "APAC", "EMEA", "NA")
UTC_OFFSET_HOURS = (9.0, -5.0, 0.0, 1.0, 8.0, 10.0, 9.0, 5.5, 1.0, -5.0)
EMPLOYEES_LOG_MEDIAN = math.log(150.0)
EMPLOYEES_LOG_SD = 1.5
ACCOUNT_EFFECT_SD = 0.4
LEAD_GROWTH_PER_YEAR = math.log(1.4)  # lead volume grows 40% a year

LEAD_SOURCE_P = (0.16, 0.14, 0.12, 0.15, 0.05, 0.10, 0.10, 0.05, 0.07, 0.03, 0.03)
SOURCE_EFFECT = (0.5, 0.2, 0.0, -0.5, 0.6, -0.1, 0.1, 0.3, -0.2, 0.4, -0.3)
SENIORITY_LEVELS = ("executive", "vp", "director", "manager", "team_lead", "staff")
SENIORITY_P = (0.06, 0.08, 0.14, 0.22, 0.18, 0.32)
AUTHORITY_P = (0.95, 0.85, 0.70, 0.45, 0.15, 0.05)
DEPARTMENTS = ("sales", "marketing", "it", "engineering", "finance", "hr", "operations",
               "corporate")
DEPARTMENT_P = (0.22, 0.20, 0.18, 0.12, 0.07, 0.05, 0.10, 0.06)
NO_ACCOUNT_SHARE = 0.04
TIMELINE_CHOICES = (1.0, 2.0, 3.0, 4.0, 6.0, 9.0, 12.0, 18.0, 24.0, 36.0)

ICP_INDUSTRIES = ("software", "manufacturing", "finance")
ICP_EMPLOYEES = (100, 5000)
ICP_REGIONS = ("JP", "APAC")
ICP_SENIORITY = ("executive", "vp", "director", "manager")

# latent interest z = Z_ICP*icp + SOURCE_EFFECT[source] + Z_DEPT*target_dept + a_account + eps
Z_ICP, Z_DEPT, Z_NOISE_SD = 0.3, 0.3, 0.8
BUDGET_COEF = (-0.3, 0.6, 0.5)        # intercept, per log10(employees/100), per z
NEED_COEF = (-0.4, 0.4, 0.8)          # intercept, icp, z
TIMELINE_COEF = (4.5, -0.45, -0.2, 0.6)  # median months, per z, icp, log-sd
# p_sql = bant_ok * sigmoid(SQL_B0 + SQL_ICP*icp + SQL_Z*z + SQL_INTERACTION*icp*softplus(z))
SQL_B0, SQL_ICP, SQL_Z, SQL_INTERACTION = -1.6, 0.1, 0.6, 0.4
SQL_HORIZON_DAYS = 90.0
MQL_THRESHOLD = 50.0
ENGAGEMENT_WEIGHTS = {
    "page_view": 1, "pricing_page_view": 8, "content_download": 10, "form_submit": 10,
    "demo_request": 40, "email_open": 1, "email_click": 3, "email_reply": 10,
    "webinar_register": 5, "webinar_attend": 15, "exhibition_visit": 10, "chat": 10,
    "meeting_booked": 40, "unsubscribe": -10,
}
HIGH_INTENT_TYPES = ("pricing_page_view", "demo_request", "email_reply", "meeting_booked")

USD_JPY = 150.0
PRODUCTS = ("Starter", "Professional", "Enterprise")
PRODUCT_BASE_USD = (6_000.0, 24_000.0, 90_000.0)
STAGES = ("prospecting", "qualification", "proposal", "negotiation", "won", "lost")
LOSS_REASONS = ("price", "competitor", "no_budget", "no_decision", "timing", "product_fit",
                "lost_contact")
CLOSE_MEDIAN_DAYS = 55.0
WIN_COEF = (-1.3, 1.0, 0.35, -0.35)  # intercept, icp, z, per log(amount_usd / 24k)
MONTH_END_PUSH_P = (0.45, 0.35)  # won, lost
QUARTER_END_PUSH_P = 0.25

INSIDE_SALES_JP = ("佐藤 健", "鈴木 美咲", "田中 翔", "小林 結衣", "加藤 拓海", "山本 彩",
                   "吉田 直人", "松本 葵")
INSIDE_SALES_GLOBAL = ("Emily Clark", "Ryan Lee", "Sophie Martin", "Arjun Mehta")
REP_SKILL = (0.3, -0.2, 0.1, 0.0, -0.4, 0.2, 0.5, -0.1, 0.2, -0.3, 0.0, 0.4)
ACCOUNT_EXECUTIVES_JP = ("高橋 修", "伊藤 真理子", "渡辺 大地", "中村 里奈")
ACCOUNT_EXECUTIVES_GLOBAL = ("Daniel Brooks", "Mei Tan")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def icp_fit(industry: object, employees: object, region: object,
            seniority: object) -> np.ndarray:
    """The generator's hidden ICP rule, exactly, on plain values.

    Args:
        industry, employees, region, seniority: equal-length array-likes of industry labels,
            headcounts, sales regions and seniority levels (``SENIORITY_LEVELS``). A missing
            value never fits.

    Returns:
        A boolean numpy array: industry in ICP_INDUSTRIES, ICP_EMPLOYEES[0] <= employees <=
        ICP_EMPLOYEES[1], region in ICP_REGIONS and seniority in ICP_SENIORITY.
    """
    values = {"industry": industry, "employees": employees, "region": region,
              "seniority": seniority}
    lengths = {name: len(v) for name, v in values.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"icp_fit needs equal-length inputs, got lengths {lengths}")
    emp = pd.to_numeric(pd.Series(employees), errors="coerce").to_numpy(dtype=float)
    text = {k: pd.Series(values[k], dtype="str") for k in ("industry", "region", "seniority")}
    return (text["industry"].isin(ICP_INDUSTRIES).to_numpy()
            & (emp >= ICP_EMPLOYEES[0]) & (emp <= ICP_EMPLOYEES[1])
            & text["region"].isin(ICP_REGIONS).to_numpy()
            & text["seniority"].isin(ICP_SENIORITY).to_numpy())


def _icp_rule(industry: np.ndarray, employees: np.ndarray, region: np.ndarray,
              seniority: np.ndarray) -> np.ndarray:
    """``icp_fit`` on codes (industry and seniority indices, region labels)."""
    return (np.isin(industry, [INDUSTRIES.index(i) for i in ICP_INDUSTRIES])
            & (employees >= ICP_EMPLOYEES[0]) & (employees <= ICP_EMPLOYEES[1])
            & np.isin(region, ICP_REGIONS)
            & np.isin(seniority, [SENIORITY_LEVELS.index(s) for s in ICP_SENIORITY]))


HOT_SOURCES = ("inbound_form", "exhibition", "outbound_list", "referral", "partner", "chat")
WEB_SESSIONS, WEB_TAU_DAYS, WEB_BACKGROUND_PER_DAY = 1.6, 21.0, 0.003
PAGES_PER_SESSION = 0.5  # extra page views per session (Poisson mean)
NURTURE_EMAILS_PER_DAY, NURTURE_DAYS = 1.0 / 30.0, 180.0
WEBINARS_PER_YEAR, EXHIBITIONS_PER_YEAR = 0.3, 0.15
_RAMP_TYPES = ("pricing_page_view", "demo_request", "email_reply", "content_download",
               "page_view", "form_submit")
_RAMP_P = (0.35, 0.10, 0.20, 0.10, 0.20, 0.05)


LOST_AT_STAGE_P = (0.20, 0.30, 0.30, 0.20)
