"""The one feature registry: every feature's name, dtype, kind and explanation phrases.

Each feature module declares its features as a module-level tuple of ``FeatureDef`` constants;
``FeatureRegistry`` gathers them. A trained model stores ``registry.to_dict()`` in its bundle,
so serving explains a score with the phrases the model was trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Literal

Dtype = Literal["float", "int", "bool", "category"]
Kind = Literal["actionable", "fixed"]
Language = Literal["en", "ja"]


@dataclass(frozen=True)
class FeatureDef:
    """One model input.

    Attributes:
        name: column name in every feature frame.
        dtype: float, int, bool or category (categories are fitted at training time).
        kind: ``actionable`` when sales can change it (engagement, BANT), ``fixed`` otherwise.
        group: behavioral, firmographic, icp, bant, opportunity, attribute.
        phrase_en / phrase_ja: templates with ``{value}`` for the lead's value.
        description: what the feature measures, for documentation.
    """

    name: str
    dtype: Dtype
    kind: Kind
    group: str
    phrase_en: str
    phrase_ja: str
    description: str = ""

    def phrase(self, value: object, language: Language = "en") -> str:
        """Render this feature's phrase for ``value`` in ``language``."""
        if _is_missing(value) and self.dtype in ("float", "int"):
            # "first activity unknown days ago" reads badly: name the measure instead
            label = self.name.replace("_", " ")
            return f"{label}: データなし" if language == "ja" else f"{label}: no data"
        template = self.phrase_ja if language == "ja" else self.phrase_en
        return template.format(value=_format_value(value, language))


_UNKNOWN = {"en": "unknown", "ja": "不明"}


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # None or NaN


def _format_value(value: object, language: Language = "en") -> str:
    if _is_missing(value):
        return _UNKNOWN[language]
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"
    return str(value)


class FeatureRegistry:
    """An ordered, name-unique collection of ``FeatureDef``."""

    def __init__(self, definitions: Iterable[FeatureDef]):
        self._defs: dict[str, FeatureDef] = {}
        for definition in definitions:
            if definition.name in self._defs:
                raise ValueError(f"feature {definition.name!r} is defined twice")
            self._defs[definition.name] = definition

    def __getitem__(self, name: str) -> FeatureDef:
        try:
            return self._defs[name]
        except KeyError:
            raise KeyError(f"unknown feature {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._defs

    def __iter__(self):
        return iter(self._defs.values())

    def __len__(self) -> int:
        return len(self._defs)

    @property
    def names(self) -> list[str]:
        return list(self._defs)

    def select(self, names: Iterable[str]) -> "FeatureRegistry":
        """A registry holding only ``names``, in that order."""
        return FeatureRegistry(self[name] for name in names)

    def categorical(self) -> list[str]:
        return [d.name for d in self if d.dtype == "category"]

    def to_dict(self) -> list[dict]:
        """JSON-ready form that travels inside a model bundle."""
        return [asdict(d) for d in self]

    @classmethod
    def from_dict(cls, rows: list[dict]) -> "FeatureRegistry":
        return cls(FeatureDef(**row) for row in rows)
