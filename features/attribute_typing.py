"""Type the dataset's own columns (``leads.attributes`` keys) from the data, at training time.

A CRM export carries its signal in fields the canonical model has no column for; the importer
keeps them in ``leads.attributes``. ``type_attributes`` looks at every key of the training
leads and decides, key by key, what it is and whether a model may use it:

==============  ==============================================================================
type            when
==============  ==============================================================================
bool            every filled value is true/false, yes/no, y/n or 0/1 (JSON or text)
float           at least ``parse_share`` of the filled values are numbers (JSON or text)
date            at least ``parse_share`` of them are ISO dates or times -> age in days at as_of
category        anything else; levels rarer than ``min_level_count`` leads, and any beyond the
                ``max_levels`` most frequent, become ``other`` (the cardinality cap)
==============  ==============================================================================

Left out, with the reason in the report: keys filled for fewer than ``min_filled_share`` of the
leads, keys with one value everywhere, **id-like** keys (uuid / long hex values, texts that are
distinct for at least ``id_unique_share`` of the leads, whole numbers that are all different)
and category keys none of whose values reaches ``min_level_count``. A key declared in the
training YAML (``FeatureConfig.attributes``) keeps its declared type (``exclude`` drops it).

The result is fitted state: ``AttributeTyping.apply`` writes the types and the kept levels into
the ``FeatureConfig`` that travels in the model's bundle, so serving computes the same features.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from features.attributes import (
    _KEY_RE,
    _TRUTH,
    OTHER_LEVEL,
    _as_float,
    _parse_objects,
    parse_attribute_spec,
)
from features.config import FeatureConfig

logger = logging.getLogger(__name__)

_DATE_RE = re.compile(r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}"
                      r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_HEX_RE = re.compile(r"^(\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}\}?|[0-9a-fA-F]{16,})$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_\-.:/]{8,}$")
_MISSING_TEXT = {"", "nan", "null", "none", "n/a", "na"}


def looks_like_identifier(value: object) -> bool:
    """True for text a rep cannot act on as a reason: a uuid, a long hex string, or a code of
    8+ characters without spaces that is at least a third digits (``d51b0d02``, ``A000291``)."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _HEX_RE.match(text):
        return True
    digits = sum(c.isdigit() for c in text)
    return bool(_CODE_RE.match(text)) and digits >= 4 and digits >= len(text) / 3


@dataclass(frozen=True)
class TypingRules:
    """Thresholds of ``type_attributes`` (see the module docstring)."""

    max_levels: int = 30
    min_level_count: int = 5
    min_filled_share: float = 0.01
    parse_share: float = 0.98
    id_unique_share: float = 0.9
    id_min_rows: int = 20


@dataclass(frozen=True)
class AttributeDecision:
    """What one key became, and why."""

    key: str
    type: str
    used: bool
    reason: str
    filled_share: float
    distinct: int


@dataclass
class AttributeTyping:
    """The typing of every key: specs for ``FeatureConfig.attributes``, kept category levels
    and one decision per key (used or not, with the reason)."""

    specs: dict[str, str] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)
    decisions: list[AttributeDecision] = field(default_factory=list)

    def apply(self, config: FeatureConfig) -> FeatureConfig:
        """``config`` with these types and levels; inference off (the typing is final)."""
        return dataclasses.replace(config, attributes=dict(self.specs),
                                   attribute_levels=dict(self.levels), infer_attributes=False)

    def table(self) -> pd.DataFrame:
        """One row per key: key, type, used, reason, filled_share, distinct."""
        columns = [f.name for f in dataclasses.fields(AttributeDecision)]
        return pd.DataFrame([dataclasses.asdict(d) for d in self.decisions], columns=columns)

    def to_records(self) -> list[dict]:
        """The decisions as JSON-ready dicts (stored in the bundle)."""
        return [dataclasses.asdict(d) for d in self.decisions]


def type_attributes(raw: Sequence, declared: Mapping[str, str] | None = None,
                    rules: TypingRules | None = None) -> AttributeTyping:
    """Type every key found in ``raw`` (the training leads' ``leads.attributes``).

    Args:
        raw: JSON-object texts or mappings, one per lead (missing allowed).
        declared: key -> spec from the training YAML; these keys keep their declared type.
        rules: thresholds (default ``TypingRules()``).

    Returns:
        The ``AttributeTyping``: declared keys first in their order, then the others by name.

    Raises:
        ValueError: a value that is not a JSON object (naming its row).
    """
    rules, declared = rules or TypingRules(), dict(declared or {})
    objects = _parse_objects(raw) if len(raw) else np.empty(0, dtype=object)
    found = sorted({key for obj in objects for key in obj if key not in declared})
    typing = AttributeTyping()
    for key in declared:
        values = [obj.get(key) for obj in objects]
        dtype, _ = parse_attribute_spec(key, declared[key])
        present = _present(values)
        typing.specs[key] = declared[key]
        typing.decisions.append(AttributeDecision(
            key, dtype, dtype != "exclude", "declared in the training config",
            _share(len(present), len(values)), len(set(map(str, present)))))
    for key in found:
        _type_one(key, [obj.get(key) for obj in objects], rules, typing)
    used = [d.key for d in typing.decisions if d.used]
    logger.info("leads.attributes: %d key(s) used (%s), %d left out", len(used),
                ", ".join(used), len(typing.decisions) - len(used))
    return typing


def _type_one(key: str, values: list, rules: TypingRules, typing: AttributeTyping) -> None:
    present = _present(values)
    texts = [str(v).strip() if not isinstance(v, bool) else str(v).lower() for v in present]
    distinct = len(set(texts))
    filled = _share(len(present), len(values))

    def decide(dtype: str, used: bool, reason: str, levels: list[str] | None = None) -> None:
        if used:
            typing.specs[key] = dtype
            if levels is not None:
                typing.levels[key] = levels
        typing.decisions.append(AttributeDecision(key, dtype, used, reason, filled, distinct))

    if not _KEY_RE.match(key):
        return decide("ignored", False, "the key is not letters, digits and underscores")
    if filled < rules.min_filled_share or not present:
        return decide("empty", False, f"filled for {filled:.1%} of the leads "
                                      f"(less than {rules.min_filled_share:.0%})")
    if distinct == 1 and filled >= 0.999:
        return decide("constant", False, f"one value for every lead ({texts[0][:40]!r})")
    kind = _value_kind(present, texts, rules)
    if kind == "bool":
        return decide("bool", True, "yes/no values")
    if kind == "float":
        if _all_distinct_whole_numbers(present, distinct, rules):
            return decide("id-like", False, "whole numbers, each lead's different: an id")
        text_share = np.mean([isinstance(v, str) for v in present])
        return decide("float", True, "numbers written as text" if text_share > 0.5
                      else "numbers")
    if kind == "date":
        return decide("date", True, "dates: used as their age in days at scoring time")
    id_reason = _id_reason(texts, distinct, rules)
    if id_reason:
        return decide("id-like", False, id_reason)
    counts = Counter(texts)
    kept = [v for v, n in counts.most_common() if n >= rules.min_level_count][:rules.max_levels]
    if not kept:
        return decide("category", False, f"every value is rarer than {rules.min_level_count} "
                                         "leads")
    if len(kept) == distinct:
        return decide("category", True, f"{distinct} values" if distinct > 1
                      else f"one value ({texts[0][:40]!r}) or missing")
    return decide("category", True, f"{distinct} values: the {len(kept)} most frequent kept "
                                    f"(at least {rules.min_level_count} leads each), the rest "
                                    f"as {OTHER_LEVEL!r}", sorted(kept))


def _present(values: list) -> list:
    return [v for v in values if v is not None and not isinstance(v, (dict, list))
            and not (isinstance(v, float) and np.isnan(v))
            and not (isinstance(v, str) and v.strip().lower() in _MISSING_TEXT)]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _value_kind(present: list, texts: list[str], rules: TypingRules) -> str:
    """bool, float, date or text: what (nearly) every filled value parses as."""
    if len(set(t.lower() for t in texts)) <= 2 and all(
            isinstance(v, bool) or t.lower() in _TRUTH for v, t in zip(present, texts)):
        return "bool"
    numbers = sum(not np.isnan(_as_float(v)) for v in present)
    if numbers >= rules.parse_share * len(present):
        return "float"
    dates = sum(isinstance(v, str) and bool(_DATE_RE.match(t)) for v, t in zip(present, texts))
    if dates >= rules.parse_share * len(present):
        return "date"
    return "text"


def _all_distinct_whole_numbers(present: list, distinct: int, rules: TypingRules) -> bool:
    if len(present) < max(rules.id_min_rows, 50) or distinct < 0.99 * len(present):
        return False
    numbers = np.array([_as_float(v) for v in present])
    numbers = numbers[~np.isnan(numbers)]
    return bool(len(numbers) and np.all(numbers == np.round(numbers)))


def _id_reason(texts: list[str], distinct: int, rules: TypingRules) -> str | None:
    hex_share = np.mean([bool(_HEX_RE.match(t)) for t in texts])
    if hex_share >= 0.9:
        return "uuid/hex-looking values: an id"
    unique = distinct / len(texts)
    if len(texts) >= rules.id_min_rows and unique >= rules.id_unique_share:
        return f"{unique:.0%} of the filled values are different: an id or free text"
    return None



def type_lead_attributes(leads: pd.DataFrame, declared: Mapping[str, str] | None = None,
                         train_share: float = 1.0, rules: TypingRules | None = None
                         ) -> AttributeTyping:
    """``type_attributes`` on the oldest ``train_share`` of ``leads`` by ``created_at`` (the
    training period's leads: newer leads, the test period's, never shape the typing)."""
    if not 0 < train_share <= 1:
        raise ValueError(f"train_share must be in (0, 1], got {train_share!r}")
    oldest = leads.sort_values("created_at", kind="stable").head(
        max(1, int(round(len(leads) * train_share))))
    return type_attributes(oldest["attributes"].tolist(), declared, rules)
