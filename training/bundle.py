"""The model bundle: a fitted model plus everything fitted with it, stored without pickle.

The model is a LightGBM booster or a one-hot/binned logistic regression (or Odoo's naive
Bayes in the same additive form: ``training.linear.LinearModel``); ``model_kind`` says which.
Callers never branch on it: ``predict_matrix``, ``predict_raw``, ``contributions`` and
``explain`` work the same for every kind (contributions: TreeSHAP for the booster,
``coef x (x - reference)`` for the linear model; both on the raw log-odds scale, a column per
feature then the base value).

On disk a bundle is two files: the model (``model.txt``, LightGBM's text format, or
``linear.json``, the linear model's bins and weights) and ``bundle.json`` (model kind, feature
registry, category levels, calibrator, grade thresholds, training config, the feature settings
with the resolved ICP, the rules, training-data summary and the binned drift reference of
the test slice (``training.drift``), metrics). A model
version is self-contained: serving builds features with the bundle's own ICP and feature
settings and applies the bundle's own rules, so editing ``config/icp.yaml`` or
``config/rules.yaml`` changes only the next training run. ``load_bundle`` reads them back from
a directory or from an MLflow URI (``models:/leadscore-sql@champion``) — nothing is unpickled.

In MLflow the same two files are the artifacts of a pyfunc model logged "from code":
``log_bundle`` writes a three-line entry script that builds ``LeadScorePyfunc``, so MLflow stores
code, not a pickled object. Loading the pyfunc needs the ``leadscore`` package (``training``,
``features``) importable, as it is wherever leadscore serves.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.tracking._model_registry import utils as registry_utils
from mlflow.tracking._tracking_service import utils as tracking_utils
from mlflow.types import ColSpec, Schema

from features import FeatureConfig, resolve_icp
from features.registry import FeatureRegistry
from training.explain import LeadExplanation, explain_rows
from training.linear import LINEAR_FILE, LinearModel
from training.model import (
    Calibrator,
    assign_grades,
    check_grade_thresholds,
    feature_matrix,
    prepare_features,
    to_score,
)
from training.rules import RulesConfig, load_rules

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
BOOSTER_FILE = "model.txt"
MODEL_FILES = {"lightgbm": BOOSTER_FILE, "logistic": LINEAR_FILE, "naive_bayes": LINEAR_FILE}
BUNDLE_FILE = "bundle.json"
SUMMARY_QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
_PYFUNC_ENTRY = '''"""MLflow models-from-code entry point of a leadscore model (see log_bundle)."""
from mlflow.models import set_model

from training.bundle import LeadScorePyfunc

set_model(LeadScorePyfunc())
'''


@dataclass
class ModelBundle:
    """A fitted model with its features, category levels, calibrator and grade thresholds.

    The model is ``booster`` (LightGBM) or, when ``linear`` is given, the linear model
    (``booster`` is then ``None``). ``config`` is the training config; ``feature_config`` the feature pipeline's settings
    (``FeatureConfig.to_dict()`` with the ICP resolved to its data), so serving rebuilds
    features exactly as in training; ``rules`` the rule set of training
    (``RulesConfig.model_dump``): model-answer actions and the rules fallback of this version.
    Both are empty in bundles written before they were stored (serving then reads the files).
    """

    booster: lgb.Booster | None
    registry: FeatureRegistry
    categorical_levels: dict[str, list[str]]
    calibrator: Calibrator
    grade_thresholds: dict[str, float]
    config: dict = field(default_factory=dict)
    feature_config: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    training_summary: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    linear: LinearModel | None = None

    def __post_init__(self) -> None:
        self.grade_thresholds = check_grade_thresholds(self.grade_thresholds)
        if (self.booster is None) == (self.linear is None):
            raise ValueError("a bundle holds exactly one model: a booster or a linear model")
        model_features = (self.linear.features if self.linear is not None
                          else self.booster.feature_name())
        if model_features != self.registry.names:
            raise ValueError(f"{self.model_kind} model features {model_features} do not match "
                             f"the bundle's feature registry {self.registry.names}")
        missing = [n for n in self.registry.categorical() if n not in self.categorical_levels]
        if missing:
            raise ValueError(f"category levels missing for categorical features {missing}")
        if self.booster is not None:
            _check_booster_levels(self.booster, self.registry, self.categorical_levels)
        self._level_index = {name: pd.Index(levels, dtype="str")
                             for name, levels in self.categorical_levels.items()}
        self._level_codes = {name: {level: float(code) for code, level in enumerate(levels)}
                             for name, levels in self.categorical_levels.items()}

    @property
    def features(self) -> list[str]:
        """Model input columns, in order."""
        return self.registry.names

    @property
    def context_features(self) -> list[str]:
        """Features constant across the leads of a day in the training data (daily
        indicators, calendar): reasons group them as context (``training.explain``)."""
        return list(self.training_summary.get("context_features", []))

    @property
    def model_kind(self) -> str:
        """``lightgbm``, or the linear model's family (``logistic``, ``naive_bayes``)."""
        return self.linear.family if self.linear is not None else "lightgbm"

    def model_size(self) -> int:
        """Trees of the booster, or non-zero weights of the linear model."""
        return self.linear.size() if self.linear is not None else self.booster.current_iteration()

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The booster's input frame (categoricals fitted; see ``training.model``)."""
        return prepare_features(frame, self.registry, self.categorical_levels)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's input as a float matrix (category codes; fast path for predictions)."""
        return feature_matrix(frame, self.registry, self._level_index)

    def matrix_from_rows(self, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
        """``matrix`` for feature rows given as mappings (name -> number, text or None), as
        ``features.leads.build_single_lead_features`` builds them: the same codes without a
        DataFrame (serving's path)."""
        matrix = np.empty((len(rows), len(self.registry)), dtype=float)
        for j, definition in enumerate(self.registry):
            name = definition.name
            if definition.dtype == "category":
                codes = self._level_codes[name]
                matrix[:, j] = [codes.get(_level_text(row[name]), np.nan) for row in rows]
            else:
                matrix[:, j] = [np.nan if row[name] is None else row[name] for row in rows]
        return matrix

    def predict_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities and contributions (raw log-odds; a column per feature, then
        the base value) of a ``matrix``."""
        return self.calibrator.transform(self.raw_matrix(matrix)), self.contributions(matrix)

    def raw_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Uncalibrated model probabilities of a ``matrix``."""
        if self.linear is not None:
            return self.linear.predict_raw(matrix)
        return self.booster.predict(matrix, num_threads=self.num_threads)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the raw log-odds, then the base value, of a ``matrix``
        (TreeSHAP for the booster, ``coef x (x - reference)`` for the linear model)."""
        if self.linear is not None:
            return self.linear.contributions(matrix)
        return self.booster.predict(matrix, pred_contrib=True, num_threads=self.num_threads)

    @property
    def num_threads(self) -> int:
        """Threads for prediction: the training setting (default 1, which also keeps one-row
        latency steady on a busy machine, where OpenMP thread hand-offs can cost milliseconds)."""
        return int(self.config.get("booster", {}).get("num_threads", 1))

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Uncalibrated model probabilities."""
        return self.raw_matrix(self.matrix(frame))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities."""
        return self.calibrator.transform(self.predict_raw(frame))

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Calibrated ``probability``, ``score`` 1-99 and ``grade`` A-D, indexed like ``frame``."""
        proba = self.predict_proba(frame)
        return pd.DataFrame(
            {"probability": proba, "score": to_score(proba),
             "grade": pd.array(assign_grades(proba, self.grade_thresholds), dtype="str")},
            index=frame.index,
        )

    def explain(
        self, frame: pd.DataFrame, k: int = 3, language: str = "en"
    ) -> list[LeadExplanation]:
        """Top-``k`` reasons per row (SHAP on the raw log-odds scale; see ``training.explain``)."""
        return explain_rows(self, frame, k=k, language=language)

    def to_dict(self) -> dict:
        """The ``bundle.json`` content."""
        return {
            "format": BUNDLE_FORMAT,
            "model_kind": self.model_kind,
            "features": self.features,
            "registry": self.registry.to_dict(),
            "categorical_levels": self.categorical_levels,
            "calibrator": self.calibrator.to_dict(),
            "grade_thresholds": self.grade_thresholds,
            "config": self.config,
            "feature_config": self.feature_config,
            "rules": self.rules,
            "training_summary": self.training_summary,
            "metrics": self.metrics,
        }

    @property
    def model_file(self) -> str:
        """File name of the model inside a bundle directory."""
        return MODEL_FILES[self.model_kind]

    def save(self, directory: Path | str) -> Path:
        """Write the model file and ``bundle.json`` into ``directory`` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.linear is not None:
            self.linear.save(directory)
        else:
            self.booster.save_model(str(directory / BOOSTER_FILE))
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1, allow_nan=False)
        (directory / BUNDLE_FILE).write_text(text, encoding="utf-8")
        return directory

    @classmethod
    def from_files(cls, model_path: Path | str, bundle_path: Path | str) -> "ModelBundle":
        """Read a bundle from its two files (the model file of the bundle's ``model_kind``)."""
        data = read_bundle_json(bundle_path)
        registry = FeatureRegistry.from_dict(data["registry"])
        if registry.names != data["features"]:
            raise ValueError(f"{bundle_path}: feature list does not match the registry")
        linear = LinearModel.load(model_path) if data["model_kind"] != "lightgbm" else None
        return cls(
            booster=None if linear is not None else lgb.Booster(model_file=str(model_path)),
            registry=registry,
            categorical_levels=data["categorical_levels"],
            calibrator=Calibrator.from_dict(data["calibrator"]),
            grade_thresholds=data["grade_thresholds"],
            config=data.get("config", {}),
            feature_config=data.get("feature_config", {}),
            rules=data.get("rules", {}),
            training_summary=data.get("training_summary", {}),
            metrics=data.get("metrics", {}),
            linear=linear,
        )


def resolve_feature_config(data: FeatureConfig | Mapping[str, Any] | None) -> FeatureConfig:
    """Feature settings with the ICP resolved to its data (read from its file at most once).

    Args:
        data: a ``FeatureConfig``, its ``to_dict()`` form, or None / empty for the defaults.

    Returns:
        The settings whose ``icp`` is an ``IcpConfig``: ``to_dict()`` stores the ICP itself, so
        a bundle never depends on what ``config/icp.yaml`` holds later.
    """
    if isinstance(data, FeatureConfig):
        config = data
    else:
        config = FeatureConfig.from_dict(data) if data else FeatureConfig()
    return dataclasses.replace(config, icp=resolve_icp(config))


def resolve_rules(rules: RulesConfig | Mapping[str, Any] | None) -> RulesConfig:
    """A rule set: as given, from its ``model_dump`` form, or (None) ``config/rules.yaml``."""
    if isinstance(rules, RulesConfig):
        return rules
    return RulesConfig.model_validate(rules) if rules is not None else load_rules()
def read_bundle_json(path: Path | str) -> dict:
    """``bundle.json`` as a dict, checked for its format and model kind (default lightgbm)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path}: unsupported bundle format {data.get('format')!r} "
                         f"(this code reads format {BUNDLE_FORMAT})")
    data.setdefault("model_kind", "lightgbm")
    if data["model_kind"] not in MODEL_FILES:
        raise ValueError(f"{path}: unknown model_kind {data['model_kind']!r}; expected one of "
                         f"{sorted(MODEL_FILES)}")
    return data


def _check_booster_levels(booster: lgb.Booster, registry: FeatureRegistry,
                          levels: dict[str, list[str]]) -> None:
    booster_levels = [list(map(str, lv)) for lv in booster.pandas_categorical or []]
    if booster_levels != [levels[n] for n in registry.categorical()]:
        raise ValueError("the booster's category levels differ from the bundle's "
                         "categorical_levels; the two files do not belong together")


def _level_text(value: object) -> str | None:
    """A category value as its level text (what ``feature_matrix`` compares with)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else str(value)


@contextmanager
def use_tracking_uri(tracking_uri: str | None) -> Iterator[None]:
    """Point MLflow (tracking and registry) at ``tracking_uri`` inside the block, then restore.

    Some MLflow internals (registering a logged model, resolving ``models:/``) consult the
    global URI even when a client was given one, so every MLflow call here runs inside this.
    ``None`` leaves MLflow's current settings alone.
    """
    if tracking_uri is None:
        yield
        return
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    try:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_bundle(path_or_uri: str | Path, *, tracking_uri: str | None = None,
                isolate: bool = False) -> ModelBundle:
    """Load a bundle from a directory or an MLflow URI, without unpickling anything.

    Args:
        path_or_uri: a directory written by ``ModelBundle.save``, a logged pyfunc model's
            directory, or an MLflow URI such as ``models:/leadscore-sql@champion``.
        tracking_uri: MLflow tracking/registry URI for ``models:/`` and ``runs:/`` URIs
            (default: MLflow's current one).
        isolate: first check ``model.txt`` in a child process (``check_booster_file``), so a
            damaged file that makes LightGBM abort ends the child, not this process (serving).

    Raises:
        CorruptModelError: ``isolate`` and the booster file is truncated or unreadable.

    Registry artifacts are copied to a temporary folder first: MLflow writes a
    ``registered_model_meta`` file into the folder it downloads to, and a local artifact
    store's folder must stay as training left it.
    """
    location = str(path_or_uri)
    if "://" in location or location.startswith(("models:", "runs:")):
        with tempfile.TemporaryDirectory(prefix="leadscore-bundle-") as scratch:
            with use_tracking_uri(tracking_uri):
                location = mlflow.artifacts.download_artifacts(
                    artifact_uri=location, tracking_uri=tracking_uri,
                    registry_uri=tracking_uri, dst_path=scratch)
            return _read_bundle(Path(location), isolate)
    return _read_bundle(Path(location), isolate)


def _read_bundle(path: Path, isolate: bool) -> ModelBundle:
    directory = _find_bundle_dir(path)
    kind = read_bundle_json(directory / BUNDLE_FILE)["model_kind"]
    if isolate and MODEL_FILES[kind] == BOOSTER_FILE:
        check_booster_file(directory / BOOSTER_FILE)
    return ModelBundle.from_files(directory / MODEL_FILES[kind], directory / BUNDLE_FILE)


class CorruptModelError(ValueError):
    """A booster file that is truncated or that LightGBM cannot load."""


_CHECK_IN_CHILD = (
    "import json, sys, lightgbm\n"
    "booster = lightgbm.Booster(model_file=sys.argv[1])\n"
    "print(json.dumps({'trees': booster.num_trees(), 'features': booster.num_feature()}))\n")


def check_booster_file(path: Path | str, timeout: float = 120.0) -> dict:
    """Check that ``path`` is a complete LightGBM model that loads, without risking this process.

    LightGBM aborts the whole process (``terminate called``) or crashes on some damaged files,
    and loads a truncated file's first trees without complaint. So the file must end as
    ``Booster.save_model`` ends it (trees, ``end of parameters``, ``pandas_categorical``) and
    is then loaded once in a child Python process.

    Returns:
        ``{"trees": ..., "features": ...}`` as the child read them.

    Raises:
        CorruptModelError: the file is incomplete, or the child failed (exit status and
            LightGBM's last message in the error).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 200_000))
        tail = handle.read().decode("utf-8", errors="replace")
    last_line = tail.rstrip("\n").rsplit("\n", 1)[-1]
    if "end of parameters" not in tail or not last_line.startswith("pandas_categorical:"):
        raise CorruptModelError(f"{path}: incomplete LightGBM model file (it does not end "
                                f"with the parameters and pandas_categorical lines; truncated?)")
    try:
        child = subprocess.run([sys.executable, "-c", _CHECK_IN_CHILD, str(path)],
                               capture_output=True, text=True, timeout=timeout,
                               errors="replace")
    except subprocess.TimeoutExpired as error:
        raise CorruptModelError(f"{path}: loading took over {timeout:g}s in a child "
                                f"process") from error
    if child.returncode != 0:
        messages = [line for line in child.stderr.splitlines() if line.strip()]
        raise CorruptModelError(f"{path}: LightGBM could not load it in a child process "
                                f"(exit status {child.returncode}): "
                                f"{messages[-1] if messages else 'no message'}"[:1000])
    return json.loads(child.stdout.strip().splitlines()[-1])


def _find_bundle_dir(path: Path) -> Path:
    for candidate in (path, path / "artifacts"):
        if (candidate / BUNDLE_FILE).is_file() and any(
                (candidate / name).is_file() for name in MODEL_FILES.values()):
            return candidate
    files = " or ".join(dict.fromkeys(MODEL_FILES.values()))
    raise FileNotFoundError(f"no model file ({files}) + {BUNDLE_FILE} found in {path} "
                            f"or {path / 'artifacts'}")


def summarize_training_data(
    frame: pd.DataFrame, registry: FeatureRegistry, levels: dict[str, list[str]]
) -> dict:
    """Per-feature reference statistics of the training data, for drift monitoring.

    Numeric and bool features: missing share, mean, std and quantiles. Category features:
    missing share and the share of each fitted level. JSON-ready.
    """
    X = prepare_features(frame, registry, levels)
    summary = {"rows": int(len(X)), "features": {}}
    for definition in registry:
        column = X[definition.name]
        entry = {"dtype": definition.dtype, "missing_share": float(column.isna().mean())}
        if definition.dtype == "category":
            shares = column.value_counts(normalize=True, dropna=True)
            entry["frequencies"] = {str(k): float(v) for k, v in shares.items()}
        else:
            entry.update(_numeric_summary(column.to_numpy(dtype=float)))
        summary["features"][definition.name] = entry
    return summary


def _numeric_summary(values: np.ndarray) -> dict:
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return {"mean": None, "std": None, "quantiles": {}}
    quantiles = np.quantile(present, SUMMARY_QUANTILES)
    return {"mean": float(present.mean()), "std": float(present.std()),
            "quantiles": {str(q): float(v) for q, v in zip(SUMMARY_QUANTILES, quantiles)}}


# --- MLflow pyfunc ------------------------------------------------------------------------


class LeadScorePyfunc(PythonModel):
    """MLflow pyfunc wrapper: loads the bundle's two artifacts, predicts probability/score/grade."""

    def load_context(self, context) -> None:
        """Read the model file and ``bundle.json`` from the model's artifacts."""
        artifacts = context.artifacts  # "booster": models logged before the linear model
        self.bundle = ModelBundle.from_files(artifacts.get("model") or artifacts["booster"],
                                             artifacts["bundle"])

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        """``DataFrame[probability, score, grade]`` for a frame of model features."""
        return self.bundle.predict_frame(pd.DataFrame(model_input))


def model_signature(bundle: ModelBundle) -> ModelSignature:
    """Pyfunc signature: one column per feature (numbers and bools as double, categories as
    string), output probability / score / grade."""
    kinds = {"float": "double", "int": "double", "bool": "double", "category": "string"}
    inputs = Schema([ColSpec(kinds[d.dtype], d.name) for d in bundle.registry])
    outputs = Schema([ColSpec("double", "probability"), ColSpec("long", "score"),
                      ColSpec("string", "grade")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def signature_frame(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s feature columns in the pyfunc signature's types (input examples, batch jobs)."""
    columns = {}
    for definition in bundle.registry:
        series = frame[definition.name]
        if definition.dtype == "category":
            columns[definition.name] = series.astype("str")
        else:
            columns[definition.name] = series.astype("Float64").to_numpy(dtype=float,
                                                                         na_value=np.nan)
    return pd.DataFrame(columns, index=frame.index)


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc model (explicit: no inference subprocess)."""
    import sklearn

    return [f"mlflow=={mlflow.__version__}", f"lightgbm=={lgb.__version__}",
            f"pandas=={pd.__version__}", f"numpy=={np.__version__}",
            f"scikit-learn=={sklearn.__version__}"]


def log_bundle(bundle: ModelBundle, input_example: pd.DataFrame, *, name: str = "model"):
    """Log ``bundle`` as a pyfunc model (from code, no pickle) in the active MLflow run.

    Args:
        bundle: the fitted bundle.
        input_example: a few rows holding the model features (stored with the model).
        name: the logged model's name within the run.

    Returns:
        MLflow's ``ModelInfo`` (``.model_uri`` registers it).
    """
    with tempfile.TemporaryDirectory(prefix="leadscore-bundle-") as tmp:
        directory = bundle.save(Path(tmp) / "bundle")
        entry = Path(tmp) / "leadscore_pyfunc.py"
        entry.write_text(_PYFUNC_ENTRY, encoding="utf-8")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(entry),
            artifacts={"model": str(directory / bundle.model_file),
                       "bundle": str(directory / BUNDLE_FILE)},
            signature=model_signature(bundle),
            input_example=signature_frame(bundle, input_example.head(5)),
            pip_requirements=pip_requirements(),
            metadata={"leadscore_bundle_format": BUNDLE_FORMAT,
                      "loader": "training.bundle.load_bundle (needs the leadscore package)"},
        )
