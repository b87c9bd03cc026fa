"""Attribute features: declared keys of the ``leads.attributes`` JSON as model inputs.

A CRM keeps many fields the canonical model has no column for (X Education's
``total_time_spent_on_website``, ``lead_origin``, ``what_is_your_current_occupation``, ...). The
importer stores them in ``leads.attributes`` (a JSON object per lead); a ``FeatureConfig`` names
the ones a model uses and their type::

    attributes:
      total_time_spent_on_website: float
      lead_origin: category
      do_not_email: bool
      webinar_questions: float:actionable    # kind is "fixed" unless declared otherwise

Each declared key ``k`` becomes the feature ``attr_k`` (the prefix keeps attribute names apart
from the pipeline's own features, e.g. X Education's ``country`` vs the firmographic
``country``). Values: ``float`` takes JSON numbers and numeric text (anything else is missing);
``bool`` takes JSON true/false and yes/no/true/false/1/0 text; ``category`` takes the value as
text (with ``FeatureConfig.attribute_levels[k]`` given, a value outside those levels becomes
``other``: the cardinality cap fitted by ``features.attribute_typing``); ``date`` becomes the
age of the date in days at ``as_of`` (a date after ``as_of`` has not happened yet: missing);
``exclude`` leaves the key out (a training YAML's way to drop a column typed automatically).
A key absent from a lead's JSON, ``null`` or an empty JSON is missing.

Without a declaration the keys are typed from the data at training time
(``features.attribute_typing``); the typing is stored in the model's ``FeatureConfig``, so
serving types the same way.

Point in time: attributes carry no timestamps, so they are **taken as known at the lead's
creation** and used as they are at every ``as_of`` (like firmographics). Declare only fields
filled in before first contact (a field sales fills in after talking to the lead leaks the
outcome: keep it out of the mapping or out of this list).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from crm.timestamps import to_utc
from features.inputs import map_distinct, object_array
from features.registry import FeatureDef

logger = logging.getLogger(__name__)

ATTRIBUTE_DTYPES: tuple[str, ...] = ("float", "bool", "category", "date", "exclude")
OTHER_LEVEL = "other"
_FEATURE_DTYPE = {"date": "float"}  # the registry dtype of a date attribute's feature
_DAY_US = 86_400_000_000
ATTRIBUTE_KINDS: tuple[str, ...] = ("fixed", "actionable")
PREFIX = "attr_"
_KEY_RE = re.compile(r"^[A-Za-z0-9_]+$")
_TRUTH = {"true": 1.0, "yes": 1.0, "y": 1.0, "1": 1.0,
          "false": 0.0, "no": 0.0, "n": 0.0, "0": 0.0}


def parse_attribute_spec(key: str, spec: str) -> tuple[str, str]:
    """``(dtype, kind)`` of one declaration such as ``float`` or ``category:actionable``.

    Raises:
        ValueError: naming the key when the key, the dtype or the kind is not allowed.
    """
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ValueError(f"attributes: key {key!r} must be letters, digits and underscores "
                         "(the JSON key in leads.attributes)")
    if not isinstance(spec, str):
        raise ValueError(f"attributes[{key!r}] must be text such as 'float' or "
                         f"'category:actionable', got {spec!r}")
    dtype, _, kind = spec.strip().partition(":")
    kind = kind.strip() or "fixed"
    if dtype.strip() not in ATTRIBUTE_DTYPES:
        raise ValueError(f"attributes[{key!r}]: dtype must be one of {ATTRIBUTE_DTYPES}, "
                         f"got {dtype.strip()!r}")
    if kind not in ATTRIBUTE_KINDS:
        raise ValueError(f"attributes[{key!r}]: kind must be one of {ATTRIBUTE_KINDS}, "
                         f"got {kind!r}")
    return dtype.strip(), kind


def check_attribute_specs(specs: Mapping[str, str]) -> dict[str, str]:
    """The declarations as a plain dict, each checked by ``parse_attribute_spec``."""
    if not isinstance(specs, Mapping):
        raise ValueError(f"attributes must be a mapping of key -> dtype, got {specs!r}")
    for key, spec in specs.items():
        parse_attribute_spec(key, spec)
    return dict(specs)


def attribute_feature_name(key: str) -> str:
    """The feature column of attribute ``key``."""
    return PREFIX + key


def used_specs(specs: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``key -> (dtype, kind)`` of the keys that make features (``exclude`` left out)."""
    parsed = {key: parse_attribute_spec(key, spec) for key, spec in specs.items()}
    return {key: value for key, value in parsed.items() if value[0] != "exclude"}


def attribute_feature_defs(specs: Mapping[str, str]) -> list[FeatureDef]:
    """One ``FeatureDef`` (group ``attribute``) per declared key, in declaration order."""
    defs = []
    for key, (dtype, kind) in used_specs(specs).items():
        label = key.replace("_", " ")
        en, ja = ((f"{label}: {{value}} days ago", f"{label}: {{value}}日前") if dtype == "date"
                  else (f"{label} is {{value}}", f"{label}は{{value}}"))
        defs.append(FeatureDef(
            attribute_feature_name(key), _FEATURE_DTYPE.get(dtype, dtype), kind, "attribute",
            en, ja, f"leads.attributes[{key!r}] as {dtype}; no history: taken as known at "
                    "creation." + (" Days from the date to as_of; missing until the date."
                                   if dtype == "date" else "")))
    return defs


def parse_attribute_object(text: object, where: str = "leads.attributes") -> dict:
    """One ``leads.attributes`` value as a dict (missing or blank -> empty).

    Raises:
        ValueError: the text is not a JSON object (``where`` names the row in the message).
    """
    if isinstance(text, Mapping):
        return dict(text)
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)) or not str(
            text).strip():
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not a JSON object: {str(text)[:80]!r}")
    return value


def _as_float(value: object) -> float:
    if isinstance(value, (bool, int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return np.nan
    else:
        return np.nan
    return number if np.isfinite(number) else np.nan


def _as_bool(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return float(value)
    if isinstance(value, str):
        return _TRUTH.get(value.strip().lower(), np.nan)
    return np.nan


def _as_category(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return ("true" if value else "false") if isinstance(value, bool) else str(value).strip()


def parse_date_us(value: object) -> float:
    """A date or time value (ISO text; no zone means UTC) as epoch microseconds; NaN if not."""
    if not isinstance(value, str) or not value.strip():
        return np.nan
    stamp = to_utc(value.strip())
    return np.nan if stamp is pd.NaT else float(stamp.value // 1000)


def _date_ages(values: Sequence, as_of_us: np.ndarray) -> np.ndarray:
    """Days from each date to its pair's ``as_of``; missing when absent or still ahead."""
    memo: dict[str, float] = {}
    for value in values:
        if isinstance(value, str) and value not in memo:
            memo[value] = parse_date_us(value)
    stamps = np.array([memo.get(v, np.nan) if isinstance(v, str) else np.nan for v in values],
                      dtype=np.float64)
    ages = (np.asarray(as_of_us, dtype=np.float64) - stamps) / _DAY_US
    return np.where(ages >= 0, ages, np.nan)


def _capped(values: list, levels: Sequence[str] | None) -> list:
    if levels is None:
        return values
    kept = set(levels)
    return [v if v is None or v in kept else OTHER_LEVEL for v in values]


_SCALAR = {"float": _as_float, "bool": _as_bool, "category": _as_category}


def _parse_objects(raw: Sequence) -> np.ndarray:
    """Each pair's attributes as a dict; an error names the first bad pair's row."""
    try:
        return map_distinct(parse_attribute_object, raw)
    except ValueError:
        for position, text in enumerate(raw):
            parse_attribute_object(text, f"leads.attributes of row {position}")
        raise


def compute_attributes(raw: Sequence, specs: Mapping[str, str],
                       as_of_us: np.ndarray | None = None,
                       levels: Mapping[str, Sequence[str]] | None = None
                       ) -> dict[str, np.ndarray]:
    """The declared attribute features of each pair.

    Args:
        raw: each pair's ``leads.attributes`` (JSON-object text, a mapping, or missing).
        specs: key -> ``dtype[:kind]`` (see the module docstring).
        as_of_us: each pair's ``as_of`` in epoch microseconds (needed by ``date`` keys).
        levels: category keys' kept levels (others become ``other``); absent keys keep all.

    Returns:
        ``attr_<key>`` -> values per pair: float64 for float, bool (1/0) and date (age in
        days), an object array of text (None missing) for category. Empty when ``specs`` is
        empty.

    Raises:
        ValueError: a value that is not a JSON object, or date keys without ``as_of_us``.
    """
    used = used_specs(specs)
    if not used:
        return {}
    objects = _parse_objects(raw)
    levels = levels or {}
    out: dict[str, np.ndarray] = {}
    for key, (dtype, _) in used.items():
        name = attribute_feature_name(key)
        if dtype == "date":
            if as_of_us is None:
                raise ValueError(f"attributes[{key!r}] is a date: its age needs each as_of")
            out[name] = _date_ages([obj.get(key) for obj in objects], as_of_us)
        elif dtype == "category":
            values = [_as_category(obj.get(key)) for obj in objects]
            out[name] = object_array(_capped(values, levels.get(key)))
        else:
            out[name] = np.asarray([_SCALAR[dtype](obj.get(key)) for obj in objects],
                                   dtype=np.float64)
    return out


def attribute_categoricals(out: Mapping[str, object], specs: Mapping[str, str]
                           ) -> dict[str, object]:
    """The batch frame's types: category attributes with their observed values as levels."""
    typed = dict(out)
    for key, (dtype, _) in used_specs(specs).items():
        if dtype == "category":
            values = out[attribute_feature_name(key)]
            typed[attribute_feature_name(key)] = pd.Categorical(
                values, categories=sorted({v for v in values if v is not None}))
    return typed
