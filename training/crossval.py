"""Stratified k-fold cross-validation of the whole fit (model selection, calibration).

Model reports use the time split (``training.split``): it is what a deployed model faces. Public
datasets often publish k-fold figures instead (the X Education README: 5-fold stratified CV,
pooled). ``cross_validate`` measures this package's pipeline under that protocol, so the two
can be compared: in each fold the other folds are cut at random (stratified) into a fitting part
and a validation part (early stopping, calibrator, grades), exactly as ``fit_bundle`` uses the
time split's train and valid parts; the held-out fold only receives predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from features.registry import FeatureRegistry
from training.model import check_labels
from training.split import TimeSplit
from training.train import TrainConfig, TrainResult, fit_bundle


def chosen_only(config: TrainConfig, result: TrainResult) -> TrainConfig:
    """``config`` narrowed to the candidate ``result`` selected, with one validation fold (what
    the k-fold protocol refits in every fold)."""
    name = result.bundle.config["candidate"]
    chosen = tuple(c for c in config.candidates if c.name == name)
    return config.model_copy(update={"candidates": chosen, "cv_folds": 1})


def cross_validate(examples: pd.DataFrame, registry: FeatureRegistry,
                   config: TrainConfig | None = None, *, folds: int = 5,
                   valid_share: float = 0.15) -> np.ndarray:
    """Out-of-fold calibrated probabilities of ``examples`` (row order kept).

    Args:
        examples: labelled rows with every registry feature (``config.label_col``).
        registry: the model's features.
        config: training settings (default ``TrainConfig()``); ``seed`` seeds the folds.
        folds: number of stratified folds.
        valid_share: share of each fold's training rows used as its validation part.
    """
    config = config or TrainConfig()
    labels = check_labels(examples, config.label_col)
    rows = examples.reset_index(drop=True)
    proba = np.empty(len(rows))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=config.seed)
    for fit_rows, held_rows in splitter.split(rows, labels):
        fit_part, valid_part = train_test_split(
            rows.iloc[fit_rows], test_size=valid_share, stratify=labels[fit_rows],
            random_state=config.seed)
        held = rows.iloc[held_rows]
        split = TimeSplit(fit_part, valid_part, held, (pd.NaT, pd.NaT), config.time_col)
        bundle = fit_bundle(split, registry, config, lambda message: None)
        proba[held_rows] = bundle.predict_proba(held)
    return proba
