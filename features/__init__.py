"""Feature groups: CRM tables in, point-in-time feature frames out.

The public API used by training, serving and the CLI::

    from features import FeatureConfig, build_lead_features, build_single_lead_features

``features.leads`` runs the lead feature groups (``LEAD_GROUPS``) for many pairs or for one
lead; ``features.opportunity`` builds the win model's features; ``features.training_sets``
builds labelled point-in-time snapshots.
"""

from features.activities import AccountLeads, LeadEvents
from features.config import FeatureConfig, resolve_icp
from features.leads import (
    LEAD_GROUPS,
    build_lead_features,
    build_single_lead_features,
    lead_feature_registry,
    single_lead_frame,
)
from features.opportunity import build_opportunity_features, opportunity_feature_registry
from features.registry import FeatureDef, FeatureRegistry
from features.training_sets import build_sql_examples, build_win_examples

__all__ = [
    "LEAD_GROUPS",
    "AccountLeads",
    "FeatureConfig",
    "FeatureDef",
    "FeatureRegistry",
    "LeadEvents",
    "build_lead_features",
    "build_opportunity_features",
    "build_single_lead_features",
    "build_sql_examples",
    "build_win_examples",
    "lead_feature_registry",
    "opportunity_feature_registry",
    "resolve_icp",
    "single_lead_frame",
]
