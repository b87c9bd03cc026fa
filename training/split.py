"""Split examples by time: train on the oldest rows, validate and test on the newest.

The rule (documented here because every metric depends on it):

1. Rows are cut by ``as_of`` only. Sorting all rows by time, the first ``fractions[0]`` of them
   fix the first boundary ``t1`` and the first ``fractions[0] + fractions[1]`` fix ``t2`` (if
   ties make ``t2 == t1``, ``t2`` moves to the next later timestamp);
   train is ``as_of < t1``, valid is ``t1 <= as_of < t2``, test is ``as_of >= t2``. Rows that
   share a timestamp always land on the same side, so the parts never overlap in time.
2. An entity (a lead, an opportunity) may have several snapshots. When it has snapshots in train
   and in a later part, its *train* snapshots are removed: valid and test stay untouched slices
   of recent time (the population the model will score), and the booster never learns from an
   entity it is evaluated on.
3. Valid and test may share entities by default (``isolate="train"``). Valid only drives early
   stopping, the calibrator and the grade thresholds (a handful of numbers); removing its
   straddlers would leave mostly entities that closed early — on the sample CRM (leads
   snapshot every 14 days for up to 24 weeks) that halves valid and doubles its conversion rate,
   which miscalibrates far more than the shared entities could leak. ``isolate="all"`` also
   removes valid's straddlers, for when entities are short-lived.
4. Optionally ``groups`` (e.g. ``identical_row_groups``: rows of different leads with identical
   features, the same person entered twice) never sit on two sides: a group's rows in an earlier
   part are removed whenever the group also has rows in a later part (valid included).
5. Optionally an ``embargo`` (set it to the label horizon) removes train rows whose ``as_of``
   lies within ``embargo`` before ``t1``: their labels would be decided by outcomes inside the
   valid/test period.

Nothing is shuffled; the split is a pure function of the frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")


@dataclass(frozen=True)
class TimeSplit:
    """Three time-ordered parts of an examples frame and how they were cut.

    Attributes:
        train, valid, test: the parts (original index and row order kept).
        boundaries: ``(t1, t2)``; train < t1 <= valid < t2 <= test.
        dropped: rows removed from each earlier part, by reason.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    boundaries: tuple[pd.Timestamp, pd.Timestamp]
    time_col: str = "as_of"
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    def parts(self) -> dict[str, pd.DataFrame]:
        """The three parts keyed by name."""
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def summary(self, label_col: str | None = None) -> dict[str, dict]:
        """Rows, time window and (if ``label_col`` given) positives of each part, JSON-ready."""
        summary: dict[str, dict] = {}
        for name, part in self.parts().items():
            times = part[self.time_col]
            entry = {"rows": int(len(part)), "start": str(times.min()), "end": str(times.max())}
            if label_col is not None:
                entry["positives"] = int(part[label_col].sum())
            entry["dropped"] = self.dropped.get(name, {})
            summary[name] = entry
        return summary


def split_by_time(
    examples: pd.DataFrame,
    time_col: str = "as_of",
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    entity_col: str | None = None,
    isolate: Literal["train", "all"] = "train",
    embargo: pd.Timedelta | None = None,
    groups: pd.Series | None = None,
) -> TimeSplit:
    """Cut ``examples`` into train / valid / test by ``time_col`` (see the module docstring).

    Args:
        examples: one row per (entity, as_of) snapshot.
        time_col: timestamp column; must have no missing values.
        fractions: shares of rows (before removals) for train, valid and test; sum to 1.
        entity_col: if given, entities seen in a later part are removed from train (and from
            valid too with ``isolate="all"``).
        isolate: ``train`` (default) or ``all``; see the module docstring.
        embargo: if given, train rows within ``embargo`` before ``t1`` are removed.
        groups: if given (aligned with ``examples``), a group's rows in an earlier part are
            removed when the group has rows in a later part.

    Returns:
        A ``TimeSplit``. Raises ``ValueError`` naming the problem when a part would be empty.
    """
    _check_split_inputs(examples, time_col, fractions, entity_col, embargo)
    if isolate not in ("train", "all"):
        raise ValueError(f"split_by_time: isolate must be 'train' or 'all', got {isolate!r}")
    t1, t2 = _time_boundaries(examples[time_col], fractions)
    times = examples[time_col]
    masks = {"train": times < t1, "valid": (times >= t1) & (times < t2), "test": times >= t2}
    dropped: dict[str, dict[str, int]] = {name: {} for name in PARTS}
    if entity_col is not None:
        _drop_straddling_entities(examples[entity_col], masks, dropped, isolate)
    if groups is not None:
        _drop_straddling_groups(groups, masks, dropped)
    if embargo is not None:
        embargoed = masks["train"] & (times >= t1 - embargo)
        dropped["train"]["embargo"] = int(embargoed.sum())
        masks["train"] = masks["train"] & ~embargoed
    parts = {name: examples.loc[mask.to_numpy()] for name, mask in masks.items()}
    for name, part in parts.items():
        if part.empty:
            raise ValueError(
                f"split_by_time: the {name} part is empty after removals "
                f"(boundaries {t1} / {t2}, dropped {dropped[name]}); "
                "add data or change fractions/embargo"
            )
    logger.info("split by %s at %s / %s: %s", time_col, t1, t2,
                {name: len(part) for name, part in parts.items()})
    return TimeSplit(parts["train"], parts["valid"], parts["test"], (t1, t2), time_col, dropped)


def _check_split_inputs(
    examples: pd.DataFrame,
    time_col: str,
    fractions: tuple[float, float, float],
    entity_col: str | None,
    embargo: pd.Timedelta | None,
) -> None:
    if time_col not in examples.columns:
        raise ValueError(f"split_by_time: time column {time_col!r} is not in the examples")
    if entity_col is not None and entity_col not in examples.columns:
        raise ValueError(f"split_by_time: entity column {entity_col!r} is not in the examples")
    if examples[time_col].isna().any():
        count = int(examples[time_col].isna().sum())
        raise ValueError(f"split_by_time: time column {time_col!r} has {count} missing values")
    if len(fractions) != 3 or any(not (0 < f < 1) for f in fractions):
        raise ValueError(
            f"split_by_time: fractions must be three shares in (0, 1), got {fractions}")
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split_by_time: fractions must sum to 1, got {sum(fractions):.4f}")
    if embargo is not None and embargo < pd.Timedelta(0):
        raise ValueError(f"split_by_time: embargo must not be negative, got {embargo}")


def _time_boundaries(
    times: pd.Series, fractions: tuple[float, float, float]
) -> tuple[pd.Timestamp, pd.Timestamp]:
    ordered = times.sort_values(kind="stable").reset_index(drop=True)
    n = len(ordered)
    if n < 3:
        raise ValueError(f"split_by_time: need at least 3 rows to split, got {n}")
    first = min(int(n * fractions[0]), n - 1)
    second = min(int(n * (fractions[0] + fractions[1])), n - 1)
    t1, t2 = ordered.iloc[first], ordered.iloc[second]
    if t2 <= t1 and (ordered > t1).any():  # ties at t1 ate the valid share: next timestamp
        t2 = ordered[ordered > t1].iloc[0]
    return t1, t2


def _drop_straddling_entities(
    entities: pd.Series,
    masks: dict[str, pd.Series],
    dropped: dict[str, dict[str, int]],
    isolate: str,
) -> None:
    if isolate == "all":
        in_test = masks["valid"] & entities.isin(entities[masks["test"]].unique())
        masks["valid"] = masks["valid"] & ~in_test
        dropped["valid"]["entity_in_later_part"] = int(in_test.sum())
    later_entities = entities[masks["test"] | masks["valid"]].unique()
    in_later = masks["train"] & entities.isin(later_entities)
    masks["train"] = masks["train"] & ~in_later
    dropped["train"]["entity_in_later_part"] = int(in_later.sum())


def _drop_straddling_groups(groups: pd.Series, masks: dict[str, pd.Series],
                            dropped: dict[str, dict[str, int]]) -> None:
    later = groups[masks["test"]].unique()
    for earlier in ("valid", "train"):
        in_later = masks[earlier] & groups.isin(later)
        masks[earlier] = masks[earlier] & ~in_later
        dropped[earlier]["identical_row_in_later_part"] = int(in_later.sum())
        later = np.union1d(later, groups[masks[earlier]].unique())


def identical_row_groups(examples: pd.DataFrame, columns: list[str],
                         entity_col: str | None = None, max_rows: int = 10) -> pd.Series:
    """A group key per row: rows whose ``columns`` are all identical share one (a content hash).

    With ``entity_col``, only identical rows of *different* entities are grouped (an entity's
    own snapshots are handled by the entity rule); every other row is its own group. A content
    shared by more than ``max_rows`` rows is a common profile (e.g. every optional field
    blank), not a repeated record: it is not grouped, since keeping it out of the earlier parts
    would strip that whole population from training and calibration.
    """
    content = pd.util.hash_pandas_object(examples[columns], index=False)
    counts = content.map(content.value_counts())
    repeated = ((counts > 1) & (counts <= max_rows)).to_numpy()
    if entity_col is not None:
        per_content = examples[entity_col].groupby(content.to_numpy()).transform("nunique")
        repeated = repeated & (per_content.to_numpy() > 1)
    own = pd.Series(np.arange(len(examples)), index=examples.index).astype("str")
    return own.where(~repeated, "h" + content.astype("str").to_numpy())
