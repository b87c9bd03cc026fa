"""The data layer: the canonical CRM model, its store, settings, import and the sample CRM.

Everything else (features, training, forecast, serving, the CLI) builds on these modules;
nothing here imports from a stage above it.
"""
