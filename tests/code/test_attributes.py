"""Attribute features: declared leads.attributes keys, their types, phrases and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features import FeatureConfig, build_lead_features, lead_feature_registry
from features.attributes import attribute_feature_defs, parse_attribute_spec
from crm.schema import coerce_table

AS_OF = pd.Timestamp("2025-06-01T00:00:00Z")
SPECS = {"visits": "float", "origin": "category", "opted_out": "bool",
         "questions": "float:actionable"}


def leads(*attributes: str | None) -> pd.DataFrame:
    records = [{"lead_id": f"L{i}", "source": "webinar", "status": "new",
                "created_at": AS_OF - pd.Timedelta(days=10), "attributes": text}
               for i, text in enumerate(attributes)]
    frame, problems = coerce_table("leads", pd.DataFrame(records))
    assert problems.empty, problems
    return frame


def pairs(*lead_ids: str) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": list(lead_ids), "as_of": [AS_OF] * len(lead_ids)})


def build_attribute_features(table: pd.DataFrame, pairs: pd.DataFrame,
                             specs: dict[str, str]) -> dict[str, pd.Series]:
    """The attribute columns ``build_lead_features`` gives for ``specs``."""
    frame = build_lead_features({"leads": table}, pairs, FeatureConfig(attributes=specs))
    return {name: frame[name] for name in frame.columns if name.startswith("attr_")}


def test_values_are_converted_by_their_declared_type():
    table = leads('{"visits": 3, "origin": "API", "opted_out": false, "questions": "2"}',
                  '{"visits": "4.5", "origin": 7, "opted_out": "Yes"}',
                  '{"visits": "many", "origin": "", "opted_out": "maybe", "questions": true}',
                  None, "{}")
    out = build_attribute_features(table, pairs("L0", "L1", "L2", "L3", "L4"), SPECS)
    np.testing.assert_array_equal(out["attr_visits"], [3.0, 4.5, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(out["attr_opted_out"], [0.0, 1.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(out["attr_questions"], [2.0, np.nan, 1.0, np.nan, np.nan])
    assert list(out["attr_origin"].astype(object)) == ["API", "7", np.nan, np.nan, np.nan]


def test_pairs_keep_their_order_and_repeat_leads():
    table = leads('{"visits": 1}', '{"visits": 2}')
    out = build_attribute_features(table, pairs("L1", "L0", "L1"), {"visits": "float"})
    assert out["attr_visits"].tolist() == [2.0, 1.0, 2.0]


def test_no_declaration_means_no_features_and_no_parsing():
    table = leads(None)
    table.loc[0, "attributes"] = "not json"  # never parsed when nothing is declared
    assert build_attribute_features(table, pairs("L0"), {}) == {}


def test_lead_pipeline_appends_attribute_features_in_declaration_order():
    config = FeatureConfig(attributes=SPECS)
    registry = lead_feature_registry(config)
    assert registry.names[-4:] == ["attr_visits", "attr_origin", "attr_opted_out",
                                   "attr_questions"]
    assert registry.names[:-4] == lead_feature_registry(FeatureConfig()).names
    frame = build_lead_features({"leads": leads('{"visits": 5, "origin": "API"}')},
                                pairs("L0"), config)
    assert frame.loc[0, "attr_visits"] == 5.0 and frame.loc[0, "attr_origin"] == "API"
    assert str(frame["attr_origin"].dtype) == "category"


@pytest.mark.parametrize("spec, dtype, kind", [
    ("float", "float", "fixed"), ("category", "category", "fixed"),
    ("bool:actionable", "bool", "actionable"), (" float : fixed", "float", "fixed"),
])
def test_specs_give_dtype_and_kind(spec, dtype, kind):
    assert parse_attribute_spec("x", spec) == (dtype, kind)


def test_registry_entries_have_group_kind_and_both_phrases():
    defs = {d.name: d for d in attribute_feature_defs(SPECS)}
    visits = defs["attr_visits"]
    assert (visits.group, visits.kind, visits.dtype) == ("attribute", "fixed", "float")
    assert defs["attr_questions"].kind == "actionable"
    assert visits.phrase(3.0) == "visits is 3"
    assert visits.phrase(3.0, "ja") == "visitsは3"
    assert defs["attr_opted_out"].phrase(None) == "opted out is unknown"


@pytest.mark.parametrize("specs, message", [
    ({"visits": "number"}, r"attributes\['visits'\]: dtype must be one of"),
    ({"visits": "float:sometimes"}, r"attributes\['visits'\]: kind must be one of"),
    ({"page views": "float"}, "key 'page views' must be letters, digits and underscores"),
    ({"visits": 3}, r"attributes\['visits'\] must be text such as 'float'"),
])
def test_bad_declarations_are_named(specs, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig(attributes=specs)


def test_attributes_round_trip_through_the_config_dict():
    config = FeatureConfig(attributes=SPECS)
    data = config.to_dict()
    assert data["attributes"] == SPECS
    assert FeatureConfig.from_dict(data) == config
    assert FeatureConfig.from_dict({k: v for k, v in data.items()
                                    if k != "attributes"}).attributes == {}


def test_a_non_object_json_is_an_error_naming_the_column():
    table = leads('{"visits": 1}')
    table.loc[0, "attributes"] = "[1, 2]"
    with pytest.raises(ValueError, match="leads.attributes of row 0 is not a JSON object"):
        build_attribute_features(table, pairs("L0"), {"visits": "float"})
