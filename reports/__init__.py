"""The inside-sales leader's reports: funnel and bottleneck, 名寄せ (dedupe), KPI reverse plan,
lost/held-lead recycling.

Pure functions over the canonical tables (pandas frames in, dataclasses and frames out); the
CLI (``leadscore funnel|dedupe|plan|recycle``), the web pages and the notebook call them.
"""

from reports.dedupe import (
    DedupeQuality,
    DedupeResult,
    evaluate_duplicates,
    find_duplicate_accounts,
    find_duplicate_leads,
)
from reports.funnel import FunnelReport, build_funnel
from reports.stages import STAGES, build_stage_times

__all__ = ["STAGES", "DedupeQuality", "DedupeResult", "FunnelReport", "build_funnel",
           "build_stage_times", "evaluate_duplicates", "find_duplicate_accounts",
           "find_duplicate_leads"]
