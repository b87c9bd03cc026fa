"""Why a lead got its score: SHAP contributions, per-lead reasons and global SHAP plots.

Contributions come from ``ModelBundle.contributions``: for a booster ``booster.predict(X,
pred_contrib=True)``, which is exactly TreeSHAP (the ``shap`` package calls the same routine);
for the logistic regression ``coef x (x - reference)`` per feature (its exact SHAP values under
feature independence). They explain the model's **raw log-odds**, before calibration: they add
up to the raw margin, not to the calibrated probability. Every explanation carries that note so
no screen presents them as probability points.

Reasons a rep can act on:

* features that were **constant across the leads of a day** in the training data (daily
  indicators, calendar: ``find_context_features``, stored in the bundle) explain the day, not
  the lead; they are grouped as ``context`` and kept out of the top reasons;
* an **identifier-like** value (uuid, hex, a long code: ``looks_like_identifier``) is never
  quoted: the reason names the field only;
* a category value **not seen in training** is named as unseen (the model scores it as unknown).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from crm.timestamps import to_utc_series
from features.attribute_typing import looks_like_identifier
from features.attributes import PREFIX as ATTRIBUTE_PREFIX
from features.registry import FeatureRegistry

SHAP_SCALE = "log-odds"
SHAP_NOTE = (
    "Contributions are SHAP values on the model's raw log-odds scale, before calibration; "
    "they add up to the raw score, not to the calibrated probability."
)
LANGUAGES = ("en", "ja")


class ExplainableModel(Protocol):
    """What explaining needs of a model (``training.bundle.ModelBundle`` provides it; declared
    here so this module does not import the bundle, which imports it)."""

    registry: FeatureRegistry
    categorical_levels: dict[str, list[str]]

    @property
    def features(self) -> list[str]: ...

    @property
    def context_features(self) -> list[str]: ...

    def matrix(self, frame: pd.DataFrame) -> np.ndarray: ...

    def contributions(self, matrix: np.ndarray) -> np.ndarray: ...

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Reason:
    """One feature's push on one lead's score, phrased for a sales rep."""

    feature: str
    value: object
    contribution: float
    direction: str  # "positive" raises the score, "negative" lowers it
    kind: str  # "actionable" or "fixed"
    text: str


@dataclass(frozen=True)
class LeadExplanation:
    """Top positive and negative reasons for one row, with the scale they are on."""

    row: object
    positive: list[Reason]
    negative: list[Reason]
    base_value: float
    raw_log_odds: float
    scale: str = SHAP_SCALE
    note: str = SHAP_NOTE
    language: str = "en"
    context: list[Reason] = field(default_factory=list)  # the day's context, not the lead's

    def to_dict(self) -> dict:
        """JSON-ready form (values are rendered as plain Python objects)."""
        data = asdict(self)
        for reason in data["positive"] + data["negative"] + data["context"]:
            reason["value"] = _plain(reason["value"])
        data["row"] = _plain(self.row)
        return data


def compute_contributions(bundle: ExplainableModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Contributions (log-odds) per feature plus a ``base_value`` column."""
    values = bundle.contributions(bundle.matrix(frame))
    return pd.DataFrame(values, index=frame.index, columns=[*bundle.features, "base_value"])


def explain_rows(
    bundle: ExplainableModel, X: pd.DataFrame, k: int = 3, language: str = "en"
) -> list[LeadExplanation]:
    """Top-``k`` positive and negative reasons for each row of ``X``.

    Args:
        bundle: the model (its registry supplies the phrases and actionable/fixed kinds).
        X: rows holding every model feature, with the values the sales rep knows.
        k: reasons per direction.
        language: ``en`` or ``ja``.

    Returns:
        One ``LeadExplanation`` per row, in ``X``'s order.
    """
    contributions = compute_contributions(bundle, X)
    values = [X.iloc[position] for position in range(len(X))]
    return explain_contributions(bundle, contributions.to_numpy(), values, list(X.index), k,
                                 language)


def explain_contributions(
    bundle: ExplainableModel, contributions: np.ndarray, values: Sequence[Mapping[str, object]],
    rows: Sequence[object], k: int = 3, language: str = "en",
) -> list[LeadExplanation]:
    """Reasons from precomputed TreeSHAP values (``pred_contrib`` output: one column per model
    feature, then the base value) and each row's feature values (a mapping per row).

    The top ``k`` each way are chosen among the lead's own features; the bundle's context
    features (constant within a day) go to ``context``, largest push first."""
    _check_request(k, language)
    n_features = len(bundle.features)
    context = np.isin(bundle.features, list(getattr(bundle, "context_features", ())))
    explanations = []
    for position, (row, raw) in enumerate(zip(rows, values)):
        shap_values = contributions[position, :n_features]
        base = float(contributions[position, n_features])
        own = np.where(context, 0.0, shap_values)
        order = np.argsort(-own, kind="stable")
        up = [j for j in order[:k] if own[j] > 0]
        down = [j for j in order[::-1][:k] if own[j] < 0]
        days = [j for j in np.argsort(-np.abs(shap_values), kind="stable")
                if context[j] and shap_values[j] != 0][:k]
        explanations.append(LeadExplanation(
            row=row,
            positive=[_reason(bundle, j, raw, shap_values[j], language) for j in up],
            negative=[_reason(bundle, j, raw, shap_values[j], language) for j in down],
            base_value=base,
            raw_log_odds=float(base + shap_values.sum()),
            language=language,
            context=[_reason(bundle, j, raw, shap_values[j], language) for j in days],
        ))
    return explanations


def find_context_features(frame: pd.DataFrame, names: Sequence[str], time_col: str = "as_of",
                          *, min_days: int = 10, share: float = 0.99) -> list[str]:
    """Features constant across the rows of a day (daily indicators, calendar).

    A feature counts when, over the days holding at least two rows, at most ``1 - share`` of
    the days show two values, and at least ``max(3, 5%)`` of the days agree on a value other
    than the most common one (so a rare flag, constant on most days only because it is rare,
    does not count). Fewer than ``min_days`` such days: no feature counts.

    Args:
        frame: the training rows (features and ``time_col``).
        names: the features to check.
        time_col: the rows' timestamps (days are UTC calendar days).
    """
    days = to_utc_series(frame[time_col]).dt.floor("D").to_numpy()
    day_codes, _ = pd.factorize(days)
    sizes = np.bincount(day_codes)
    busy = sizes[day_codes] >= 2
    n_days = int((sizes >= 2).sum())
    if n_days < min_days:
        return []
    order = np.argsort(day_codes[busy], kind="stable")
    rows = np.flatnonzero(busy)[order]
    starts = np.flatnonzero(np.r_[True, np.diff(day_codes[rows]) != 0])
    found = []
    for name in names:
        codes, _ = pd.factorize(frame[name].to_numpy()[rows], use_na_sentinel=True)
        codes = np.where(codes < 0, codes.max() + 1, codes)  # missing is a value of its own
        low, high = np.minimum.reduceat(codes, starts), np.maximum.reduceat(codes, starts)
        constant = low == high
        usual = np.bincount(low[constant]).max() if constant.any() else 0
        unusual = int(constant.sum()) - int(usual)
        if (~constant).mean() <= 1 - share and unusual >= max(3, 0.05 * n_days):
            found.append(name)
    return found


def _check_request(k: int, language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _reason(bundle: ExplainableModel, j: int, raw: Mapping[str, object], contribution: float,
            language: str) -> Reason:
    definition = bundle.registry[bundle.features[j]]
    value = raw[definition.name]
    value = None if _is_missing(value) else value
    direction = "positive" if contribution > 0 else "negative"
    text = definition.phrase(value, language)
    if definition.dtype == "category" and value is not None:
        unseen = str(value) not in bundle.categorical_levels.get(definition.name, ())
        if looks_like_identifier(str(value)):
            value, text = None, _IDENTIFIER[language].format(label=_label(definition.name))
        if unseen:
            text = _UNSEEN[language].format(
                label=_label(definition.name),
                value="" if value is None else _QUOTE[language].format(value=value))
    return Reason(definition.name, value, float(contribution), direction, definition.kind,
                  text)


_IDENTIFIER = {"en": "{label}: this particular value (an identifier, not quoted)",
               "ja": "{label}: この値（識別子のため表示しません）"}
_UNSEEN = {"en": "{label}{value}: a value not seen in training (scored as unknown)",
           "ja": "{label}{value}: 学習データにない値（不明として採点）"}
_QUOTE = {"en": " '{value}'", "ja": "「{value}」"}


def _label(name: str) -> str:
    return name.removeprefix(ATTRIBUTE_PREFIX).replace("_", " ")


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# --- global plots -------------------------------------------------------------------------


def plot_shap_summary(
    bundle: ExplainableModel,
    frame: pd.DataFrame,
    out_dir: Path,
    *,
    max_rows: int = 2000,
    top_dependence: int = 3,
    seed: int = 0,
) -> list[Path]:
    """SHAP bar, beeswarm and top-feature dependence plots as PNG files in ``out_dir``.

    Args:
        bundle: the model.
        frame: rows to explain (a sample of at most ``max_rows`` is used).
        out_dir: existing directory for the PNG files.
        top_dependence: dependence plots for this many features with the largest mean |SHAP|.
        seed: seeds the row sample.

    Returns:
        The written paths.
    """
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():  # shap 0.51 uses colormap setters matplotlib deprecates
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap

    sample = frame if len(frame) <= max_rows else frame.sample(max_rows, random_state=seed)
    contributions = compute_contributions(bundle, sample)
    explanation = shap.Explanation(
        values=contributions[bundle.features].to_numpy(),
        base_values=contributions["base_value"].to_numpy(),
        data=_numeric_view(bundle.prepare(sample)).to_numpy(),
        feature_names=bundle.features,
    )
    paths = [_save_shap_plot(plt, shap.plots.bar, explanation, Path(out_dir) / "shap_bar.png"),
             _save_shap_plot(plt, shap.plots.beeswarm, explanation,
                             Path(out_dir) / "shap_beeswarm.png", plot_size=None)]
    ranking = np.argsort(-np.abs(explanation.values).mean(axis=0))[:top_dependence]
    for j in ranking:
        name = bundle.features[j]
        path = Path(out_dir) / f"shap_dependence_{name}.png"
        paths.append(_save_shap_plot(plt, shap.plots.scatter, explanation[:, int(j)], path))
    return paths


def _numeric_view(X: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as codes (missing as NaN) so SHAP can colour by value."""
    view = X.copy()
    for column in view.columns:
        if isinstance(view[column].dtype, pd.CategoricalDtype):
            codes = view[column].cat.codes.astype(float)
            view[column] = codes.where(codes >= 0)
    return view.astype(float)


def _save_shap_plot(plt, plot, explanation, path: Path, **options) -> Path:
    figure, axes = plt.subplots(figsize=(8, 5))
    try:
        plot(explanation, ax=axes, show=False, **options)
        axes.set_title(f"{axes.get_title()} (SHAP, {SHAP_SCALE})".strip())
        figure.savefig(path, dpi=100, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path
