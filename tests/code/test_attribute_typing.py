"""The dataset's own columns typed from the data: ids out, numbers from text, capped categories,
dates as ages, declarations override; and the typing travels in the FeatureConfig."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crm.schema import coerce_table
from features import FeatureConfig, build_lead_features
from features.activities import LeadEvents
from features.attribute_typing import TypingRules, type_attributes, type_lead_attributes
from features.leads import build_single_lead_features

AS_OF = pd.Timestamp("2025-06-01T00:00:00Z")
N = 200


def _rows(rng: np.random.Generator, n: int = N) -> list[str]:
    cities = [f"city{i}" for i in range(80)]
    weights = np.r_[np.full(10, 15.0), np.ones(70)]
    rows = []
    for i in range(n):
        rows.append(json.dumps({
            "uuid": f"{rng.integers(0, 2**62):016x}{rng.integers(0, 2**62):016x}",
            "customer_no": 100_000 + 13 * i,
            "email_text": f"person{i}@example.com",
            "visits": str(rng.integers(0, 30)),
            "spend": f"{rng.gamma(2.0, 50.0):.2f}",
            "city": str(rng.choice(cities, p=weights / weights.sum())),
            "plan": str(rng.choice(["basic", "pro"])),
            "opted_in": str(rng.choice(["Yes", "No"])),
            "first_seen": f"2025-0{rng.integers(1, 5)}-1{rng.integers(0, 9)}",
            "channel": "web",
            "rare": "x" if i < 1 else None}))
    return rows


@pytest.fixture(scope="module")
def typing():
    return type_attributes(_rows(np.random.default_rng(3)))


def _decision(typing, key: str):
    return next(d for d in typing.decisions if d.key == key)


@pytest.mark.parametrize(("key", "reason"), [
    ("uuid", "uuid/hex-looking values: an id"),
    ("customer_no", "whole numbers, each lead's different: an id"),
    ("email_text", "100% of the filled values are different"),
    ("channel", "one value for every lead ('web')"),
    ("rare", "filled for 0.5% of the leads"),
])
def test_id_like_constant_and_empty_keys_are_left_out_with_the_reason(typing, key,
                                                                     reason) -> None:
    decision = _decision(typing, key)
    assert not decision.used and reason in decision.reason
    assert key not in typing.specs
    row = typing.table().set_index("key").loc[key]
    assert not row["used"] and reason in row["reason"]


@pytest.mark.parametrize(("key", "dtype", "reason"), [
    ("visits", "float", "numbers written as text"), ("spend", "float", "numbers written as text"),
    ("plan", "category", "2 values"), ("opted_in", "bool", "yes/no values"),
    ("first_seen", "date", "age in days"),
])
def test_usable_keys_get_their_type(typing, key, dtype, reason) -> None:
    decision = _decision(typing, key)
    assert decision.used and decision.type == dtype and reason in decision.reason
    assert typing.specs[key] == dtype


def test_a_high_cardinality_category_is_capped(typing) -> None:
    decision = _decision(typing, "city")
    assert decision.used and decision.distinct > 30
    kept = typing.levels["city"]
    assert set(kept) == {f"city{i}" for i in range(10)}  # the frequent ones, >= 5 leads each
    assert "the rest as 'other'" in decision.reason
    capped = type_attributes(_rows(np.random.default_rng(3)),
                             rules=TypingRules(max_levels=4)).levels["city"]
    assert len(capped) == 4


def test_a_declaration_overrides_the_typing() -> None:
    rows = _rows(np.random.default_rng(4))
    typing = type_attributes(rows, {"visits": "category", "plan": "exclude"})
    assert list(typing.specs)[:2] == ["visits", "plan"]
    assert typing.specs["visits"] == "category" and _decision(typing, "visits").used
    assert not _decision(typing, "plan").used
    assert "declared in the training config" in _decision(typing, "plan").reason
    config = typing.apply(FeatureConfig())
    assert not config.infer_attributes and "attr_plan" not in _frame(rows, config).columns


def test_only_the_training_period_leads_shape_the_typing() -> None:
    created = pd.date_range("2025-01-01", periods=10, freq="D", tz="UTC")
    texts = [json.dumps({"size": str(i)}) for i in range(7)] + [json.dumps({"size": "big"})] * 3
    leads = pd.DataFrame({"created_at": created[::-1], "attributes": texts[::-1]})
    typing = type_lead_attributes(leads, train_share=0.7,
                                  rules=TypingRules(id_min_rows=1000, min_level_count=1))
    assert typing.specs == {"size": "float"}  # "big" only in the newest leads


def _leads(texts: list[str]) -> pd.DataFrame:
    records = [{"lead_id": f"L{i:03d}", "source": "webinar", "status": "new",
                "created_at": AS_OF - pd.Timedelta(days=200), "attributes": text}
               for i, text in enumerate(texts)]
    frame, problems = coerce_table("leads", pd.DataFrame(records))
    assert problems.empty, problems
    return frame


def _frame(texts: list[str], config: FeatureConfig) -> pd.DataFrame:
    leads = _leads(texts)
    pairs = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": AS_OF})
    return build_lead_features({"leads": leads}, pairs, config)


def test_the_typed_features_are_the_same_in_batch_and_for_one_lead(typing) -> None:
    rows = _rows(np.random.default_rng(3))
    config = typing.apply(FeatureConfig())
    frame = _frame(rows, config)
    assert "attr_uuid" not in frame.columns and "attr_customer_no" not in frame.columns
    city = frame["attr_city"].astype(object)
    assert set(city) <= set(typing.levels["city"]) | {"other"} and (city == "other").any()
    assert frame["attr_visits"].between(0, 29).all()
    assert frame["attr_first_seen"].between(30, 160).all()
    leads = _leads(rows)
    for position in (0, 7, 19):
        lead = leads.iloc[position].to_dict()
        one = build_single_lead_features(lead, None, LeadEvents.from_records([]), AS_OF, config)
        for name in ("attr_city", "attr_visits", "attr_first_seen", "attr_opted_in"):
            value = frame[name].iloc[position]
            assert one[name] == (value if isinstance(value, str) else pytest.approx(value))


def test_a_date_counts_only_once_it_has_passed() -> None:
    config = FeatureConfig(attributes={"renewal": "date"})
    frame = _frame([json.dumps({"renewal": "2025-05-31"}), json.dumps({"renewal": "2025-07-01"}),
                    json.dumps({"renewal": "soon"})], config)
    np.testing.assert_allclose(frame["attr_renewal"], [1.0, np.nan, np.nan])


def test_levels_of_an_unknown_shape_are_refused() -> None:
    with pytest.raises(ValueError, match=r"attribute_levels\['city'\] must be a list of texts"):
        FeatureConfig(attribute_levels={"city": "a"})
