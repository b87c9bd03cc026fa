"""Training stage: split by time, fit, calibrate, evaluate, explain and register models.

Modules (import what you need; this package imports nothing heavy on its own):

* ``training.split``     — ``split_by_time`` (train oldest, valid/test newest).
* ``training.model``     — ``fit_booster``, ``fit_calibrator``, grades, ``InsufficientDataError``.
* ``training.linear``    — ``LinearModel``: logistic regression on one-hot/binned features and
  Odoo's naive Bayes as additive log-odds models (served and explained like the booster).
* ``training.selection`` — rolling-origin folds, candidates, ``select_model`` (mean log loss).
* ``training.gate``      — ``check_registrable``, ``ModelRefusedError`` (nothing degenerate
  registers).
* ``training.bundle``    — ``ModelBundle``, ``load_bundle`` (no pickle), MLflow pyfunc.
* ``training.evaluate``  — ``evaluate_model`` and its tables and plots.
* ``training.baselines`` — rule-score and naive-Bayes (Odoo's frequency tables) baselines.
* ``training.explain``   — ``explain_rows`` (per-lead reasons), SHAP plots.
* ``training.registry``  — ``promote_challenger``, ``rollback``.
* ``training.train``     — ``train_model`` (the whole run) and ``TrainConfig``.
* ``training.workflows`` — from canonical tables or the store: ``train_sql_from_tables``,
  ``train_win_from_tables``, ``train_*_from_store``, ``promote_from_store``, ``rollback_model``.
* ``training.crossval``  — ``cross_validate`` (k-fold figures comparable with published ones).
"""
