"""The inside-sales leader's reports: funnel and bottleneck, 名寄せ (dedupe), KPI reverse plan,
lost/held-lead recycling.

Pure functions over the canonical tables (pandas frames in, dataclasses and frames out); the
CLI (``leadscore funnel|dedupe|plan|recycle``), the web pages and the notebook call them::

    from reports import build_funnel, find_duplicate_leads, build_kpi_plan, build_recycle_report
"""

from reports.dedupe import (
    DedupeQuality,
    DedupeResult,
    evaluate_duplicates,
    find_duplicate_accounts,
    find_duplicate_leads,
)
from reports.funnel import FunnelReport, build_funnel
from reports.plan import KpiPlan, build_kpi_plan
from reports.recycle import RecycleReport, build_recycle_report, model_scorer, rule_scorer
from reports.stages import STAGES, build_stage_times

__all__ = ["STAGES", "DedupeQuality", "DedupeResult", "FunnelReport", "KpiPlan",
           "RecycleReport", "build_funnel", "build_kpi_plan", "build_recycle_report",
           "build_stage_times", "evaluate_duplicates", "find_duplicate_accounts",
           "find_duplicate_leads", "model_scorer", "rule_scorer"]
