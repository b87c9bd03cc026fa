"""Feature groups: CRM tables in, point-in-time feature frames out.

The public API used by training, serving and the CLI::

    from features import FeatureConfig, build_lead_features, build_online_lead_features
"""

from features.bant import build_bant_features, build_status_features
from features.behavioral import build_behavioral_features
from features.config import FeatureConfig, resolve_icp
from features.leads import build_lead_features, build_single_lead_features, lead_feature_registry
from features.online import build_online_lead_features
from features.opportunity import build_opportunity_features, opportunity_feature_registry
from features.registry import FeatureDef, FeatureRegistry
from features.training_sets import build_sql_examples, build_win_examples

__all__ = [
    "FeatureConfig",
    "FeatureDef",
    "FeatureRegistry",
    "build_bant_features",
    "build_behavioral_features",
    "build_lead_features",
    "build_online_lead_features",
    "build_opportunity_features",
    "build_single_lead_features",
    "build_sql_examples",
    "build_status_features",
    "build_win_examples",
    "lead_feature_registry",
    "opportunity_feature_registry",
    "resolve_icp",
]
