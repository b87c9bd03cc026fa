"""The registration gate: nothing degenerate is registered without ``--force``.

``train_model`` measures the selected model and the baselines on the untouched test slice and
refuses to register (raises ``ModelRefusedError``; the MLflow run is still logged, tagged
``leadscore.refused`` with the reasons) when any of these holds:

* **too few trees** — a booster with fewer than ``min_trees`` rounds (early stopping that stops
  at iteration 1 leaves a constant model); a linear model with no non-zero weight;
* **near-constant score** — the calibrated test probabilities vary by less than
  ``min_proba_std`` (standard deviation): every lead would get the same score;
* **beaten by a simple baseline** — the ``logistic`` or the ``naive_bayes`` baseline is better
  on both counts: a test ROC AUC higher by more than ``tolerance_auc`` *and* a lower test log
  loss. (A baseline that ranks slightly better but predicts worse probabilities does not make
  the model degenerate: on weak-signal data the two measures disagree within sampling noise.)

The served model never changes on a refusal: no version is registered, so the ``champion`` (or
the rules) keeps answering.
"""

from __future__ import annotations

import numpy as np

GATE_BASELINES = ("logistic", "naive_bayes")


class ModelRefusedError(RuntimeError):
    """The trained model failed the registration gate; ``problems`` says why, ``run_id`` names
    the MLflow run that recorded it."""

    def __init__(self, model_name: str, problems: list[str], run_id: str | None = None):
        self.model_name = model_name
        self.problems = list(problems)
        self.run_id = run_id
        super().__init__(f"{model_name}: model refused, not registered — " + "; ".join(problems)
                         + (f" (MLflow run {run_id})" if run_id else ""))


def check_registrable(
    model_kind: str,
    model_size: int,
    test_proba: np.ndarray,
    test_metrics: dict[str, dict[str, float]],
    *,
    min_trees: int = 10,
    min_proba_std: float = 0.005,
    tolerance_auc: float = 0.005,
) -> list[str]:
    """Reasons the model must not be registered (empty when it passes).

    Args:
        model_kind: ``lightgbm`` or ``logistic``.
        model_size: trees of the booster, or non-zero weights of the linear model.
        test_proba: the model's calibrated probabilities on the test slice.
        test_metrics: test ``roc_auc`` and ``log_loss`` by scorer name: ``model`` and the
            ``GATE_BASELINES`` present.
        min_trees, min_proba_std, tolerance_auc: see the module docstring.
    """
    problems = []
    if model_kind == "lightgbm" and model_size < min_trees:
        problems.append(f"too few trees: {model_size} (minimum {min_trees}); early stopping "
                        "found no signal the validation folds confirm")
    if model_kind != "lightgbm" and model_size == 0:
        problems.append(f"the {model_kind} model has no non-zero weight")
    spread = float(np.std(np.asarray(test_proba, dtype=float)))
    if spread < min_proba_std:
        problems.append(f"near-constant score: the test probabilities' standard deviation is "
                        f"{spread:.5f} (minimum {min_proba_std})")
    model = test_metrics["model"]
    for name in GATE_BASELINES:
        baseline = test_metrics.get(name)
        if (baseline is not None and model["roc_auc"] < baseline["roc_auc"] - tolerance_auc
                and model["log_loss"] > baseline["log_loss"]):
            problems.append(f"the {name} baseline beats it on the test slice: ROC AUC "
                            f"{baseline['roc_auc']:.4f} vs {model['roc_auc']:.4f} (tolerance "
                            f"{tolerance_auc}) and log loss {baseline['log_loss']:.4f} vs "
                            f"{model['log_loss']:.4f}")
    return problems
