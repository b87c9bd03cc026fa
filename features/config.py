"""``FeatureConfig``: every setting of the feature groups, one typed object that travels with a
trained model (``to_dict`` / ``from_dict``), and ``resolve_icp``, the ICP it names.

The defaults live here too (event weights, high-intent types, stage order, the ICP file), so
every feature group reads its settings from one place and no group imports another's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from crm.schema import ACTIVITY_TYPES
from features.attributes import check_attribute_specs
from features.icp import IcpConfig, load_icp, parse_icp

HIGH_INTENT_TYPES: tuple[str, ...] = (
    "pricing_page_view", "demo_request", "email_reply", "meeting_booked", "meeting_held")
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "page_view": 1.0, "pricing_page_view": 3.0, "content_download": 2.0, "form_submit": 3.0,
    "demo_request": 5.0, "email_sent": 0.0, "email_open": 0.5, "email_click": 1.5,
    "email_reply": 4.0, "email_bounce": 0.0, "unsubscribe": 0.0, "webinar_register": 2.0,
    "webinar_attend": 3.0, "exhibition_visit": 3.0, "chat": 2.0, "call_attempt": 0.0,
    "call_connected": 3.0, "meeting_booked": 5.0, "meeting_held": 5.0,
}
DEFAULT_ICP_FILE = Path(__file__).resolve().parents[1] / "config" / "icp.yaml"
DEFAULT_STAGE_ORDER: tuple[str, ...] = ("prospecting", "qualification", "proposal", "negotiation")

_POSITIVE_INTS = ("horizon_days", "snapshot_every_days", "max_snapshots",
                  "velocity_recent_days", "velocity_baseline_days", "engaged_contact_days")


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting of the feature pipeline; travels with a trained model (``to_dict``).

    Attributes:
        windows_days: look-back windows for counts and account roll-ups.
        half_life_days: half-life of the decayed engagement score.
        horizon_days: SQL label horizon (training examples).
        snapshot_every_days: spacing of periodic training snapshots.
        max_snapshots: most snapshots per lead / opportunity (the first one included).
        velocity_recent_days / velocity_baseline_days: the two periods velocity compares.
        engaged_contact_days: window of ``account_engaged_contacts_<n>d``.
        event_weights: weight per activity type in the decayed score; types with weight > 0
            count as engagement for the account roll-up. Missing types weigh 0.
        high_intent_types: types behind ``days_since_last_high_intent``.
        count_types: types that get a count per window.
        sql_timeline_months: longest BANT timeline that counts as met.
        stage_order: opportunity stages from first to last (regressions, stage rank).
        icp: an IcpConfig, a path to an ICP YAML file, or None for ``config/icp.yaml``.
        attributes: keys of ``leads.attributes`` used as features, key -> ``float``, ``bool``
            or ``category`` (optionally ``:actionable``; default kind fixed); feature
            ``attr_<key>``; ``date`` (age in days) and ``exclude`` too. Training types the
            keys nobody declared (``infer_attributes``); a declaration here overrides it.
        attribute_levels: category keys' kept levels (the cardinality cap; other values
            become ``other``), fitted by the typing at training.
        infer_attributes: type every undeclared ``leads.attributes`` key from the data at
            training (``features.attribute_typing``); False uses only ``attributes``.
    """

    windows_days: tuple[int, ...] = (7, 30, 90)
    half_life_days: float = 14.0
    horizon_days: int = 90
    snapshot_every_days: int = 14
    max_snapshots: int = 12
    velocity_recent_days: int = 7
    velocity_baseline_days: int = 21
    engaged_contact_days: int = 30
    event_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS), hash=False)
    high_intent_types: tuple[str, ...] = HIGH_INTENT_TYPES
    count_types: tuple[str, ...] = ACTIVITY_TYPES
    sql_timeline_months: float = 3.0
    stage_order: tuple[str, ...] = DEFAULT_STAGE_ORDER
    icp: IcpConfig | str | Path | None = field(default=None, hash=False)
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    attribute_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    infer_attributes: bool = True

    def __post_init__(self) -> None:
        for name in ("windows_days", "high_intent_types", "count_types", "stage_order"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "event_weights", dict(self.event_weights))
        object.__setattr__(self, "attributes", check_attribute_specs(self.attributes))
        object.__setattr__(self, "attribute_levels", _check_levels(self.attribute_levels))
        self._check_numbers()
        self._check_types()

    def _check_numbers(self) -> None:
        windows = self.windows_days
        if not windows or any(not isinstance(w, int) or w <= 0 for w in windows):
            raise ValueError(f"windows_days must be positive whole days, got {windows!r}")
        if len(set(windows)) != len(windows):
            raise ValueError(f"windows_days has duplicates: {windows!r}")
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        for name in ("half_life_days", "sql_timeline_months"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    def _check_types(self) -> None:
        for name in ("high_intent_types", "count_types"):
            unknown = sorted(set(getattr(self, name)) - set(ACTIVITY_TYPES))
            if unknown:
                raise ValueError(f"{name} has unknown activity type(s) {unknown}")
        unknown = sorted(set(self.event_weights) - set(ACTIVITY_TYPES))
        if unknown:
            raise ValueError(f"event_weights has unknown activity type(s) {unknown}")
        for name, weight in self.event_weights.items():
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise ValueError(f"event_weights[{name!r}] must be a number >= 0, got {weight!r}")
        if len(set(self.stage_order)) != len(self.stage_order):
            raise ValueError(f"stage_order has duplicates: {self.stage_order!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the ICP as its plain data, or its path)."""
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            data[item.name] = (list(value) if isinstance(value, tuple)
                               else dict(value) if isinstance(value, Mapping) else value)
        data["attribute_levels"] = {k: list(v) for k, v in self.attribute_levels.items()}
        icp = self.icp
        data["icp"] = (icp.model_dump(mode="json") if isinstance(icp, IcpConfig)
                       else None if icp is None else str(icp))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FeatureConfig":
        """Inverse of ``to_dict``; unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FeatureConfig key(s) {unknown}")
        values = dict(data)
        if isinstance(values.get("icp"), Mapping):
            values["icp"] = parse_icp(dict(values["icp"]), source="FeatureConfig.icp")
        return cls(**values)


def _check_levels(levels: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    if not isinstance(levels, Mapping):
        raise ValueError(f"attribute_levels must map a key to its levels, got {levels!r}")
    out = {}
    for key, values in levels.items():
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"attribute_levels[{key!r}] must be a list of texts, got {values!r}")
        out[key] = tuple(values)
    return out


def resolve_icp(config: FeatureConfig) -> IcpConfig:
    """The ICP of ``config``: as given, loaded from its path, or the default file."""
    if isinstance(config.icp, IcpConfig):
        return config.icp
    return load_icp(DEFAULT_ICP_FILE if config.icp is None else config.icp)
