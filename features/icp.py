"""Declarative ICP (ideal customer profile) fit: weighted criteria over firmographic columns.

An ICP is a list of criteria, each a rule on one column of the firmographic frame
(``features.firmographic.FIRMOGRAPHIC_COLUMNS``) with a weight:

* ``in`` / ``not_in``: the category value is (not) one of ``values``;
* ``range``: the number lies in ``[min, max]`` (either bound may be left out, both inclusive);
* ``min_rank``: the job-title seniority is at least ``level`` (a name in SENIORITY_LEVELS).

``icp_score`` = 100 × Σ weight × credit / Σ weight, where credit is 1 for a match, 0 for a
miss and ``missing_credit`` (default 0) when the lead's value is missing or ``unknown``.
``icp_fit`` = score ≥ ``fit_threshold`` and every ``required`` criterion matched; the tier is
A/B/C at or above the configured cut points, else D. The config is plain data
(``IcpConfig.model_dump()``) so it can travel with a trained model.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.firmographic import (
    FIRMOGRAPHIC_FEATURES,
    UNKNOWN,
    normalize_country,
    normalize_industry,
    normalize_region,
)
from features.inputs import map_distinct
from features.registry import FeatureDef
from features.titles import SENIORITY_LEVELS, SENIORITY_RANK

logger = logging.getLogger(__name__)

DEFAULT_ICP_PATH = Path("config/icp.yaml")
TIERS: tuple[str, ...] = ("A", "B", "C", "D")
TIER_DTYPE = pd.CategoricalDtype(list(TIERS), ordered=True)

_NUMERIC_FIELDS = frozenset(f.name for f in FIRMOGRAPHIC_FEATURES if f.dtype in ("float", "int"))
_CATEGORY_FIELDS = frozenset(f.name for f in FIRMOGRAPHIC_FEATURES if f.dtype == "category")
_RANK_FIELDS = frozenset({"title_seniority", "title_seniority_rank"})
_KNOWN_FIELDS = _NUMERIC_FIELDS | _CATEGORY_FIELDS
_VALUE_NORMALIZERS = {
    "industry": normalize_industry, "country": normalize_country, "region": normalize_region,
}
_EPSILON = 1e-9

ICP_FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("icp_score", "float", "fixed", "icp", "ICP fit score is {value} of 100",
               "ICP適合スコアは{value}点（100点満点）",
               "Weighted share of ICP criteria the lead's company and title meet (0-100)."),
    FeatureDef("icp_tier", "category", "fixed", "icp", "ICP tier is {value}",
               "ICPティアは{value}", "A/B/C/D from the ICP score and the configured cut points."),
    FeatureDef("icp_fit", "bool", "fixed", "icp", "fits the ICP: {value}", "ICP適合: {value}",
               "Score at or above fit_threshold and every required criterion met."),
)


@lru_cache(maxsize=1024)
def _allowed_labels(field: str, values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_normalize_value(field, v) for v in values)


def _normalize_value(field: str, value: object) -> str:
    normalize = _VALUE_NORMALIZERS.get(field)
    return normalize(value) if normalize else " ".join(str(value).casefold().split())


class IcpCriterion(BaseModel):
    """One weighted rule on one firmographic column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(description="Column of the firmographic frame the rule reads.")
    rule: Literal["in", "not_in", "range", "min_rank"]
    weight: float = Field(description="Relative importance, >= 0.")
    values: list[str] | None = Field(None, description="Allowed values for in / not_in.")
    min: float | None = Field(None, description="Lower bound for range (inclusive).")
    max: float | None = Field(None, description="Upper bound for range (inclusive).")
    level: str | None = Field(None, description="Lowest seniority level for min_rank.")
    required: bool = Field(False, description="A miss makes the lead a non-fit whatever the score.")
    missing_credit: float = Field(0.0, description="Credit (0-1) when the value is unknown.")
    name: str = Field("", description="Label for reports; defaults to field and rule.")

    @field_validator("field")
    @classmethod
    def _known_field(cls, field: str) -> str:
        if field not in _KNOWN_FIELDS:
            known = ", ".join(sorted(_KNOWN_FIELDS))
            raise ValueError(f"unknown field {field!r}; known fields: {known}")
        return field

    @field_validator("weight")
    @classmethod
    def _non_negative_weight(cls, weight: float) -> float:
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight must be a finite number >= 0, got {weight}")
        return weight

    @field_validator("missing_credit")
    @classmethod
    def _credit_in_unit_range(cls, credit: float) -> float:
        if not 0 <= credit <= 1:
            raise ValueError(f"missing_credit must be between 0 and 1, got {credit}")
        return credit

    @model_validator(mode="after")
    def _rule_fits_field(self) -> "IcpCriterion":
        check = {"in": self._check_values, "not_in": self._check_values,
                 "range": self._check_range, "min_rank": self._check_level}[self.rule]
        check()
        return self

    @property
    def label(self) -> str:
        """``name`` if given, else "<field> <rule>"."""
        return self.name or f"{self.field} {self.rule}"

    def allowed(self) -> frozenset[str]:
        """``values`` normalised like the column they are compared with."""
        return _allowed_labels(self.field, tuple(self.values or ()))

    def _check_values(self) -> None:
        if self.field not in _CATEGORY_FIELDS:
            raise ValueError(f"rule {self.rule} needs a category field, {self.field!r} is not one")
        if not self.values:
            raise ValueError(f"rule {self.rule} needs a non-empty 'values' list")

    def _check_range(self) -> None:
        if self.field not in _NUMERIC_FIELDS:
            raise ValueError(f"rule range needs a numeric field, {self.field!r} is not one")
        if self.min is None and self.max is None:
            raise ValueError("rule range needs 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min:g} is greater than max {self.max:g}")

    def _check_level(self) -> None:
        if self.field not in _RANK_FIELDS:
            raise ValueError(f"rule min_rank needs field title_seniority, got {self.field!r}")
        if self.level not in SENIORITY_LEVELS[1:]:
            raise ValueError(f"level must be one of {', '.join(SENIORITY_LEVELS[1:])}, "
                             f"got {self.level!r}")


class IcpTiers(BaseModel):
    """Lowest ICP score of tiers A, B and C; anything below C is D."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    A: float = 90.0
    B: float = 70.0
    C: float = 40.0

    @model_validator(mode="after")
    def _descending_within_0_100(self) -> "IcpTiers":
        for tier in ("A", "B", "C"):
            if not 0 <= getattr(self, tier) <= 100:
                raise ValueError(f"tier {tier} cut point must be between 0 and 100, "
                                 f"got {getattr(self, tier)}")
        if not self.A > self.B > self.C:
            raise ValueError(f"tier cut points must fall A > B > C, got A={self.A:g}, "
                             f"B={self.B:g}, C={self.C:g}")
        return self


class IcpConfig(BaseModel):
    """A whole ICP: weighted criteria, the fit threshold and the tier cut points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "icp"
    description: str = ""
    criteria: list[IcpCriterion] = Field(min_length=1)
    fit_threshold: float = Field(100.0, description="Lowest score (0-100) that counts as fit.")
    tiers: IcpTiers = IcpTiers()

    @field_validator("fit_threshold")
    @classmethod
    def _threshold_in_range(cls, threshold: float) -> float:
        if not 0 <= threshold <= 100:
            raise ValueError(f"fit_threshold must be between 0 and 100, got {threshold}")
        return threshold

    @model_validator(mode="after")
    def _some_weight(self) -> "IcpConfig":
        if sum(c.weight for c in self.criteria) <= 0:
            raise ValueError("criteria weights must not all be 0")
        return self


def parse_icp(data: Any, source: str = "ICP config") -> IcpConfig:
    """Validate a mapping (e.g. parsed YAML) into an IcpConfig.

    Raises:
        ValueError: naming ``source`` and, for each problem, the key path and what is wrong.
    """
    if not isinstance(data, dict):
        raise ValueError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return IcpConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(_describe(error) for error in err.errors())
        raise ValueError(f"{source}: {problems}") from None


def _describe(error: dict) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "<top level>"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def load_icp(path: Path | str) -> IcpConfig:
    """Read and validate an ICP YAML file.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: for invalid YAML or config, naming the file and the bad key/value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ICP config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    icp = parse_icp(data, source=str(path))
    logger.info("loaded ICP %r (%d criteria) from %s", icp.name, len(icp.criteria), path)
    return icp


def _criterion_credit(values: Mapping[str, Any], criterion: IcpCriterion) -> np.ndarray:
    """Credit per row: 1 match, 0 miss, missing_credit when the value is missing/unknown."""
    match = {"min_rank": _rank_match, "range": _range_match}.get(criterion.rule, _category_match)
    known, hit = match(values, criterion)
    return np.where(known, hit.astype("float64"), criterion.missing_credit)


def _numbers(column: Any) -> np.ndarray:
    if isinstance(column, np.ndarray) and column.dtype == np.float64:
        return column
    return pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype="float64",
                                                                      na_value=np.nan)


def _rank_match(values: Mapping[str, Any], criterion: IcpCriterion
                ) -> tuple[np.ndarray, np.ndarray]:
    """min_rank reads the rank column when present, else the level names."""
    if "title_seniority_rank" in values:
        ranks = _numbers(values["title_seniority_rank"])
        ranks = np.where(np.isnan(ranks), 0.0, ranks)
    else:
        ranks = map_distinct(_seniority_rank, values[criterion.field]).astype(np.float64)
    return ranks > 0, ranks >= SENIORITY_RANK[criterion.level]


def _seniority_rank(level: object) -> int:
    return 0 if level is None else SENIORITY_RANK.get(str(level), 0)


def _range_match(values: Mapping[str, Any], criterion: IcpCriterion
                 ) -> tuple[np.ndarray, np.ndarray]:
    numbers = _numbers(values[criterion.field])
    low = -np.inf if criterion.min is None else criterion.min
    high = np.inf if criterion.max is None else criterion.max
    return ~np.isnan(numbers), (numbers >= low) & (numbers <= high)


def _label(field: str, value: object) -> str:
    return UNKNOWN if value is None else _normalize_value(field, value)


_LABELERS = {field: partial(_label, field) for field in _CATEGORY_FIELDS}


def _category_match(values: Mapping[str, Any], criterion: IcpCriterion
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Normalise each distinct value once, then test membership of ``criterion.allowed()``."""
    labels = map_distinct(_LABELERS[criterion.field], values[criterion.field])
    allowed = criterion.allowed()
    known = labels != UNKNOWN
    inside = np.fromiter((label in allowed for label in labels), dtype=bool, count=len(labels))
    return known, inside if criterion.rule == "in" else ~inside


def _needed_columns(values: Mapping[str, Any], icp: IcpConfig) -> set[str]:
    return {"title_seniority_rank" if c.rule == "min_rank" and "title_seniority_rank" in values
            else c.field for c in icp.criteria}


def compute_icp(values: Mapping[str, Any], icp: IcpConfig) -> dict[str, np.ndarray]:
    """ICP score, tier and fit of each row (``ICP_FEATURES``).

    Args:
        values: column -> values per row for the columns the criteria name (the firmographic
            features; raw labels work, they are normalised again).
        icp: a validated IcpConfig.

    Returns:
        ``icp_score`` (float64 0-100), ``icp_tier`` (object array of A-D), ``icp_fit`` (1/0).

    Raises:
        ValueError: a column the criteria need is missing.
    """
    missing = sorted(name for name in _needed_columns(values, icp) if name not in values)
    if missing:
        raise ValueError(
            f"firmographics is missing column(s) needed by the ICP: {', '.join(missing)}")
    n = len(next(iter(values.values()))) if len(values) else 0
    total = sum(c.weight for c in icp.criteria)
    score = np.zeros(n)
    required_met = np.ones(n, dtype=bool)
    for criterion in icp.criteria:
        credit = _criterion_credit(values, criterion)
        score += criterion.weight * credit
        if criterion.required:
            required_met &= credit >= 1
    score = np.clip(100.0 * score / total, 0.0, 100.0)
    return {"icp_score": score, "icp_tier": _tiers(score, icp.tiers).astype(object),
            "icp_fit": ((score >= icp.fit_threshold - _EPSILON) & required_met).astype(float)}


def icp_categoricals(out: Mapping[str, Any]) -> dict[str, Any]:
    """The batch frame's types: the tier as an ordered A-D category."""
    return {**out, "icp_tier": pd.Categorical(out["icp_tier"], dtype=TIER_DTYPE)}


def score_icp(firmographics: pd.DataFrame, icp: IcpConfig) -> pd.DataFrame:
    """Score every row of a frame against the ICP (``compute_icp`` on its columns).

    Args:
        firmographics: frame with the columns the criteria name (see
            ``build_firmographic_features``); values are normalised again, so raw labels work.
        icp: a validated IcpConfig.

    Returns:
        Frame on ``firmographics.index`` with ``icp_score`` (float 0-100), ``icp_tier``
        (ordered category A-D) and ``icp_fit`` (bool).
    """
    columns = {name: firmographics[name].array for name in firmographics.columns}
    out = icp_categoricals(compute_icp(columns, icp))
    return pd.DataFrame({"icp_score": out["icp_score"], "icp_tier": out["icp_tier"],
                         "icp_fit": out["icp_fit"].astype(bool)}, index=firmographics.index)


def _tiers(score: np.ndarray, tiers: IcpTiers) -> np.ndarray:
    cuts = [(tiers.A, "A"), (tiers.B, "B"), (tiers.C, "C")]
    return np.select([score >= cut - _EPSILON for cut, _ in cuts], [t for _, t in cuts], "D")


def icp_conversion_report(icp_fit: pd.Series, converted: pd.Series,
                          target_ratio: float = 2.0) -> dict:
    """How much better ICP-fit leads convert than non-fit leads.

    Args:
        icp_fit: bool per lead (no missing values).
        converted: bool per lead on the same index (e.g. ``leads.sql_at.notna()``).
        target_ratio: the ratio the ICP should reach (project goal: fit converts >= 2x).

    Returns:
        dict with counts (``fit_count``, ``non_fit_count``, ``fit_converted``,
        ``non_fit_converted``), ``fit_rate`` and ``non_fit_rate`` (None for an empty group),
        ``ratio`` = fit_rate / non_fit_rate and ``meets_target`` (ratio >= target_ratio).
        When non-fit leads never convert, ratio is ``inf`` if fit leads do and None if they do
        not either; ratio is None whenever a group is empty. meets_target is False for None.
    """
    fit, won = _bool_array(icp_fit, "icp_fit"), _bool_array(converted, "converted")
    if not icp_fit.index.equals(converted.index):
        raise ValueError("icp_fit and converted must share the same index")
    counts = {"fit_count": int(fit.sum()), "non_fit_count": int((~fit).sum()),
              "fit_converted": int((fit & won).sum()), "non_fit_converted": int((~fit & won).sum())}
    fit_rate = _rate(counts["fit_converted"], counts["fit_count"])
    non_fit_rate = _rate(counts["non_fit_converted"], counts["non_fit_count"])
    ratio = _ratio(fit_rate, non_fit_rate)
    return {**counts, "fit_rate": fit_rate, "non_fit_rate": non_fit_rate, "ratio": ratio,
            "target_ratio": target_ratio,
            "meets_target": ratio is not None and ratio >= target_ratio}


def _bool_array(values: pd.Series, name: str) -> np.ndarray:
    if values.isna().any():
        raise ValueError(f"{name} has {int(values.isna().sum())} missing value(s)")
    if not (pd.api.types.is_bool_dtype(values) or set(pd.unique(values)) <= {0, 1}):
        raise ValueError(f"{name} must be boolean, got dtype {values.dtype}")
    return values.to_numpy(dtype=bool)


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _ratio(fit_rate: float | None, non_fit_rate: float | None) -> float | None:
    if fit_rate is None or non_fit_rate is None:
        return None
    if non_fit_rate == 0:
        return math.inf if fit_rate > 0 else None
    return fit_rate / non_fit_rate
