"""Lost and held leads worth another call (失注・保留リサイクル), and how often recycling works.

A lead is **held** at time t when, as known at t:

* ``lost`` — it has deals and every one of them was closed lost;
* ``disqualified`` / ``recycled`` — its latest status event (``mql_at``, ``sql_at``,
  ``disqualified_at``, ``recycled_at``) is a disqualification or a return to nurturing;
* ``nurturing`` — it has no status event at all and is older than ``nurture_after_days``
  (held since it turned that old).

**Candidates**: leads held at ``as_of`` whose score rose over the last ``lookback_days`` (or
since they were held, if later), ranked by the rise. The score comes from a passed-in scoring
function — the champion model's, where one is available — else the rule-based score of
``config/rules.yaml`` (``training.rules``) on the same point-in-time features.

**Re-engagement rate**: of the leads that became held (lost, disqualified or recycled) in the
``cohort_days`` ending ``horizon_days`` before ``as_of`` — so the whole horizon is observed —
the share that *requalified* within ``horizon_days``: a first MQL, an SQL or a new deal after
being held. The practice target (再商談化率) is at least 10%. The share that merely showed a
high-intent action again (pricing page, demo request, reply, meeting) is reported beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from crm.schema import require_columns
from crm.timestamps import to_utc_series
from reports.stages import UNASSIGNED, latest_time, to_utc_timestamp

logger = logging.getLogger(__name__)

REENGAGEMENT_TARGET = 0.10
HELD_STATES: tuple[str, ...] = ("lost", "disqualified", "recycled", "nurturing")
_STATUS_EVENTS = {"mql_at": "mql", "sql_at": "sql", "disqualified_at": "disqualified",
                  "recycled_at": "recycled"}

ScoreFunction = Callable[[Mapping[str, pd.DataFrame], pd.DataFrame], np.ndarray]
"""``(tables, pairs) -> scores``: one score per ``(lead_id, as_of)`` row of ``pairs``."""


@dataclass(frozen=True)
class RecycleReport:
    """Recycling candidates and the measured re-engagement rate.

    Attributes:
        as_of: the report time (UTC).
        candidates: held leads whose score rose, best first: ``lead_id``, ``state``,
            ``held_since``, ``source``, ``owner``, ``score_then``, ``score_now``, ``rise``.
        held: leads held at ``as_of``.
        cohort: leads that became held in the measured cohort window.
        requalified: of those, leads that reached a first MQL, an SQL or a new deal within
            the horizon.
        reengaged: of those, leads with a high-intent action within the horizon (None without
            an activities table).
        score_source: which score ranked the candidates (``rules`` or a model's name).
    """

    as_of: pd.Timestamp
    candidates: pd.DataFrame
    held: int
    cohort: int
    requalified: int
    reengaged: int | None
    score_source: str

    @property
    def requalified_rate(self) -> float:
        """requalified / cohort (NaN for an empty cohort)."""
        return self.requalified / self.cohort if self.cohort else float("nan")

    @property
    def reengaged_rate(self) -> float:
        """reengaged / cohort (NaN when unknown or for an empty cohort)."""
        if self.reengaged is None or not self.cohort:
            return float("nan")
        return self.reengaged / self.cohort

    @property
    def meets_target(self) -> bool:
        """Requalified rate at or above the practice target (10%)."""
        return self.requalified_rate >= REENGAGEMENT_TARGET


def _last_status(leads: pd.DataFrame, at: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(latest status event name, its time) per lead as known at ``at``."""
    times = pd.DataFrame({name: leads[column].where(leads[column] <= at)
                          for column, name in _STATUS_EVENTS.items()})
    latest = times.max(axis=1)
    has = latest.notna()
    names = pd.Series(None, index=leads.index, dtype="str")
    names[has] = times[has].idxmax(axis=1)
    return names, latest


def _deal_state(leads: pd.DataFrame, deals: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Per lead: has_deal (any deal known at ``at``), all_lost, last_lost (time)."""
    known = deals[deals["lead_id"].notna() & (deals["created_at"] <= at)]
    lost = (known["outcome"] == "lost") & (known["closed_at"] <= at)
    frame = pd.DataFrame({"lead_id": known["lead_id"], "lost": lost,
                          "lost_at": known["closed_at"].where(lost)})
    grouped = frame.groupby("lead_id").agg(all_lost=("lost", "all"), last_lost=("lost_at", "max"))
    out = grouped.reindex(leads["lead_id"])
    out["has_deal"] = out["all_lost"].notna()
    out["all_lost"] = out["all_lost"].fillna(False).astype(bool)
    return out.set_axis(leads.index)


def find_held_leads(tables: Mapping[str, pd.DataFrame], at: object,
                    nurture_after_days: int = 30) -> pd.DataFrame:
    """Leads held at ``at`` (see the module doc): ``lead_id``, ``state``, ``held_since``,
    ``source``, ``owner``."""
    require_columns(tables, {"leads": ("lead_id", "created_at", "source", "owner",
                                       *_STATUS_EVENTS),
                             "opportunities": ("lead_id", "created_at", "closed_at",
                                               "outcome")})
    at = to_utc_timestamp(at, "as_of")
    leads = tables["leads"]
    leads = leads[leads["created_at"] <= at]
    status, status_at = _last_status(leads, at)
    deals = _deal_state(leads, tables["opportunities"], at)
    old = leads["created_at"] <= at - pd.Timedelta(days=nurture_after_days)
    state = np.select(
        [deals["all_lost"], deals["has_deal"], status.isin(["disqualified", "recycled"]),
         status.isna() & old],
        ["lost", "", status.fillna(""), "nurturing"], default="")
    nurturing_from = leads["created_at"] + pd.Timedelta(days=nurture_after_days)
    since = np.select([deals["all_lost"], status.notna()],
                      [deals["last_lost"], status_at], default=nurturing_from)
    out = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(), "state": state,
                        "held_since": to_utc_series(since),
                        "source": leads["source"].to_numpy(),
                        "owner": leads["owner"].fillna(UNASSIGNED).to_numpy()})
    return out[out["state"] != ""].reset_index(drop=True)


def rule_scorer(rules_path: str | None = None) -> ScoreFunction:
    """The rule-based 1–99 score (``config/rules.yaml``) on point-in-time lead features."""
    from features import FeatureConfig, build_lead_features
    from training.rules import DEFAULT_RULES_PATH, load_rules, score_rules

    rules = load_rules(rules_path or DEFAULT_RULES_PATH)

    def score(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame) -> np.ndarray:
        features = build_lead_features(tables, pairs, FeatureConfig())
        return score_rules(features, rules)["score"].to_numpy(dtype=float)

    return score


def model_scorer(bundle) -> ScoreFunction:
    """The 1–99 score of a trained lead model (a ``training.bundle.ModelBundle``, e.g. the
    registry's champion) on the features it was trained with."""
    from features import build_lead_features
    from training.bundle import resolve_feature_config
    from training.model import to_score

    config = resolve_feature_config(bundle.feature_config)

    def score(tables: Mapping[str, pd.DataFrame], pairs: pd.DataFrame) -> np.ndarray:
        return to_score(bundle.predict_proba(build_lead_features(tables, pairs, config)))

    return score


def _score_change(tables: Mapping[str, pd.DataFrame], held: pd.DataFrame,
                  as_of: pd.Timestamp, lookback_days: int,
                  score: ScoreFunction) -> pd.DataFrame:
    then = held["held_since"].clip(lower=as_of - pd.Timedelta(days=lookback_days))
    then = then + pd.Timedelta(seconds=1)  # the state change itself is known
    both = pd.DataFrame({"lead_id": pd.concat([held["lead_id"], held["lead_id"]]),
                         "as_of": pd.concat([then, pd.Series(as_of, index=held.index)])})
    scores = np.asarray(score(tables, both.reset_index(drop=True)), dtype=float)
    out = held.copy()
    out["score_then"], out["score_now"] = scores[:len(held)], scores[len(held):]
    out["rise"] = out["score_now"] - out["score_then"]
    return out


def _happened_within(times: pd.DataFrame, cohort: pd.DataFrame, column: str,
                     horizon: pd.Timedelta) -> np.ndarray:
    """Cohort leads with a ``column`` time in (held_since, held_since + horizon]; ``times`` has
    ``lead_id`` and ``column`` (several rows per lead allowed)."""
    joined = cohort[["lead_id", "held_since"]].merge(times[["lead_id", column]], on="lead_id")
    hit = joined[(joined[column] > joined["held_since"])
                 & (joined[column] <= joined["held_since"] + horizon)]
    return cohort["lead_id"].isin(hit["lead_id"]).to_numpy()


def _requalified(tables: Mapping[str, pd.DataFrame], cohort: pd.DataFrame,
                 horizon: pd.Timedelta) -> np.ndarray:
    leads = tables["leads"]
    status = pd.concat([leads[["lead_id", c]].set_axis(["lead_id", "at"], axis=1)
                        for c in ("mql_at", "sql_at")])
    deals = tables["opportunities"][["lead_id", "created_at"]].set_axis(["lead_id", "at"], axis=1)
    return _happened_within(pd.concat([status, deals]), cohort, "at", horizon)


def _reengaged(activities: pd.DataFrame, cohort: pd.DataFrame,
               horizon: pd.Timedelta) -> np.ndarray:
    from features.config import HIGH_INTENT_TYPES

    events = activities[activities["type"].isin(HIGH_INTENT_TYPES)]
    return _happened_within(events, cohort, "occurred_at", horizon)


def find_held_events(tables: Mapping[str, pd.DataFrame], start: pd.Timestamp,
                     end: pd.Timestamp) -> pd.DataFrame:
    """Leads that became held in [start, end): ``lead_id`` and ``held_since``, the first time
    in the window they were disqualified, recycled or lost a deal — whatever happened next."""
    leads, deals = tables["leads"], tables["opportunities"]
    lost = deals[(deals["outcome"] == "lost") & deals["lead_id"].notna()]
    parts = [leads[["lead_id", c]].set_axis(["lead_id", "held_since"], axis=1)
             for c in ("disqualified_at", "recycled_at")]
    parts.append(lost[["lead_id", "closed_at"]].set_axis(["lead_id", "held_since"], axis=1))
    events = pd.concat(parts)
    events = events[(events["held_since"] >= start) & (events["held_since"] < end)]
    return events.groupby("lead_id", as_index=False)["held_since"].min()


def measure_reengagement(tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp,
                         horizon_days: int, cohort_days: int) -> tuple[int, int, int | None]:
    """(cohort size, requalified, reengaged or None) for leads that became lost, disqualified
    or recycled in [as_of − horizon − cohort_days, as_of − horizon)."""
    horizon = pd.Timedelta(days=horizon_days)
    cut = as_of - horizon
    cohort = find_held_events(tables, cut - pd.Timedelta(days=cohort_days), cut)
    requalified = int(_requalified(tables, cohort, horizon).sum())
    activities = tables.get("activities")
    reengaged = None if activities is None else int(_reengaged(activities, cohort,
                                                               horizon).sum())
    return len(cohort), requalified, reengaged


def build_recycle_report(tables: Mapping[str, pd.DataFrame], *, as_of: object | None = None,
                         score: ScoreFunction | None = None, score_source: str = "rules",
                         lookback_days: int = 30, min_rise: float = 1.0,
                         horizon_days: int = 180, cohort_days: int = 365,
                         nurture_after_days: int = 30) -> RecycleReport:
    """Held leads whose score rose, ranked, and the measured re-engagement rate.

    Args:
        tables: canonical ``leads``, ``opportunities``, ``activities`` (and ``accounts`` for
            the features of the default score).
        as_of: report time (timezone-aware); default the data's newest timestamp.
        score: ``(tables, pairs) -> scores`` — e.g. the champion model's; default the rules.
        score_source: a label for the score used (shown in reports).
        lookback_days: compare today's score with the score this long ago (or when the lead
            was held, if later).
        min_rise: smallest score rise that makes a candidate.
        horizon_days: how long after being held a lead may requalify to count.
        cohort_days: length of the cohort window whose re-engagement is measured.
        nurture_after_days: an untouched lead this old counts as nurturing.

    Returns:
        A ``RecycleReport``.
    """
    for name, value in (("lookback_days", lookback_days), ("horizon_days", horizon_days),
                        ("cohort_days", cohort_days)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    as_of = to_utc_timestamp(as_of if as_of is not None else latest_time(tables), "as_of")
    held = find_held_leads(tables, as_of, nurture_after_days)
    held = held[held["held_since"] < as_of]
    changed = _score_change(tables, held, as_of, lookback_days, score or rule_scorer())
    candidates = changed[changed["rise"] >= min_rise].sort_values(
        ["rise", "score_now", "lead_id"], ascending=[False, False, True]).reset_index(drop=True)
    cohort, requalified, reengaged = measure_reengagement(tables, as_of, horizon_days,
                                                          cohort_days)
    logger.info("recycle as of %s: %d held, %d rising", as_of, len(held), len(candidates))
    return RecycleReport(as_of=as_of, candidates=candidates, held=len(held), cohort=cohort,
                         requalified=requalified, reengaged=reengaged,
                         score_source=score_source if score else "rules")
