"""Headline numbers of a generated CRM (``summarize_crm``)."""

from __future__ import annotations

import pandas as pd

from crm import schema
from crm.sample.story import SQL_HORIZON_DAYS

Tables = dict[str, pd.DataFrame]


_GROUND_TRUTH_COLUMNS = ("lead_id", "icp_fit", "seniority_level", "latent_interest", "p_sql",
                         "duplicate_of")


def summarize_crm(tables: Tables, ground_truth: pd.DataFrame,
                  end: pd.Timestamp | None = None) -> dict[str, object]:
    """Headline numbers of a generated CRM (pure; reads only the frames).

    Args:
        tables: the canonical tables (as returned by ``generate_crm``).
        ground_truth: the ground-truth frame returned with them.
        end: the CRM's "now"; default the latest created/occurred/closed timestamp. The
            90-day SQL rates count only leads created at least 90 days before it.

    Returns:
        rows per table, activities_per_lead, sql_rate_90d, icp_sql_rate_90d,
        non_icp_sql_rate_90d, icp_sql_ratio, duplicate_share, win_rate, median_days_to_close,
        median_days_to_win, month_end_close_share, status_counts and opportunities_per_month
        ("YYYY-MM" -> deals created).
    """
    _check_summary_inputs(tables, ground_truth)
    leads, opps = tables["leads"], tables["opportunities"]
    end = end if end is not None else _latest_timestamp(tables)
    truth = ground_truth.set_index("lead_id").reindex(leads["lead_id"])
    sql90 = (leads["sql_at"].notna()
             & (leads["sql_at"] <= leads["created_at"] + pd.Timedelta(days=SQL_HORIZON_DAYS)))
    mature = (leads["created_at"] <= end - pd.Timedelta(days=SQL_HORIZON_DAYS)).to_numpy()
    icp = truth["icp_fit"].fillna(False).to_numpy(dtype=bool)
    rate = lambda mask: float(sql90[mask].mean()) if mask.any() else float("nan")
    icp_rate, non_rate = rate(mature & icp), rate(mature & ~icp)
    return {
        "rows": {name: len(frame) for name, frame in tables.items()},
        "activities_per_lead": len(tables["activities"]) / max(len(leads), 1),
        "sql_rate_90d": rate(mature),
        "icp_sql_rate_90d": icp_rate,
        "non_icp_sql_rate_90d": non_rate,
        "icp_sql_ratio": icp_rate / non_rate if non_rate > 0 else float("nan"),
        "duplicate_share": float(truth["duplicate_of"].notna().mean()) if len(leads) else 0.0,
        "status_counts": leads["status"].value_counts().to_dict(),
        **_summarize_deals(opps),
    }


def _check_summary_inputs(tables: Tables, ground_truth: pd.DataFrame) -> None:
    missing = [name for name in schema.TABLES if name not in tables]
    if missing:
        raise ValueError(f"tables is missing {missing}; expected {sorted(schema.TABLES)}")
    absent = [c for c in _GROUND_TRUTH_COLUMNS if c not in ground_truth.columns]
    if absent:
        raise ValueError(f"ground_truth is missing columns {absent}")


def _latest_timestamp(tables: Tables) -> pd.Timestamp:
    stamps = [tables["leads"]["created_at"].max(), tables["activities"]["occurred_at"].max(),
              tables["opportunities"]["closed_at"].max()]
    stamps = [s for s in stamps if pd.notna(s)]
    if not stamps:
        raise ValueError("tables hold no timestamps; pass end explicitly")
    return max(stamps)


def _summarize_deals(opps: pd.DataFrame) -> dict[str, object]:
    closed = opps[opps["outcome"] != "open"]
    won = closed["outcome"] == "won"
    days = (closed["closed_at"] - closed["created_at"]).dt.total_seconds() / 86_400
    month_end = (closed["closed_at"].dt.days_in_month - closed["closed_at"].dt.day) < 5
    per_month = opps["created_at"].dt.strftime("%Y-%m").value_counts().sort_index()
    return {
        "win_rate": float(won.mean()) if len(closed) else float("nan"),
        "median_days_to_close": float(days.median()) if len(closed) else float("nan"),
        "median_days_to_win": float(days[won].median()) if won.any() else float("nan"),
        "month_end_close_share": float(month_end.mean()) if len(closed) else float("nan"),
        "opportunities_per_month": {str(k): int(v) for k, v in per_month.items()},
    }
