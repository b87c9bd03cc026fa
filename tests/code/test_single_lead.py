"""The single-lead path (``build_single_lead_features``): edge cases equal the batch path,
window edges, the frame it gives, and errors naming the field. Per-group parity and point in
time on generated data: ``tests/data/test_feature_groups.py``."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features import build_lead_features, lead_feature_registry
from features.activities import AccountLeads, LeadEvents
from features.leads import build_single_lead_features, single_lead_frame
from tests.code.test_leads import ATTRIBUTE_CONFIG, CONFIG, ago, canon, lead, sample_tables


def _record(row: pd.Series) -> dict:
    return {key: (None if value is pd.NA or value is pd.NaT else value)
            for key, value in row.items()}


def single_lead_inputs(tables: dict[str, pd.DataFrame], lead_id: str) -> dict:
    """What the service gathers for one lead: its record, its company, the activities of the
    lead and of the company's contacts, and the company's other leads."""
    leads, activities = tables["leads"], tables["activities"]
    row = leads[leads["lead_id"] == lead_id].iloc[0]
    account_id = row["account_id"]
    accounts = tables["accounts"]
    company = accounts[accounts["account_id"] == account_id]
    colleagues = (leads[(leads["account_id"] == account_id) & (leads["lead_id"] != lead_id)]
                  if pd.notna(account_id) else leads.iloc[:0])
    related = activities["lead_id"].isin({lead_id, *colleagues["lead_id"]})
    if pd.notna(account_id):
        related |= (activities["account_id"] == account_id).fillna(False)
    return {"lead": _record(row),
            "account": _record(company.iloc[0]) if len(company) else None,
            "events": LeadEvents.from_frame(activities[related.to_numpy()]),
            "account_leads": AccountLeads.from_frame(colleagues)}


def assert_same_vector(online: dict, batch: pd.Series, names: list[str], where: str) -> None:
    for name in names:
        want, got = batch[name], online[name]
        if pd.isna(want):
            assert got is None or (isinstance(got, float) and math.isnan(got)), (where, name, got)
        elif isinstance(want, str):
            assert got == want, (where, name, got, want)
        else:
            assert got == float(want), (where, name, got, want)


def _compare(tables, lead_ids, as_ofs, config) -> int:
    pairs = pd.DataFrame({"lead_id": pd.array(lead_ids, dtype="str"),
                          "as_of": pd.Series(as_ofs).dt.as_unit("us")})
    batch = build_lead_features(tables, pairs, config)
    names = lead_feature_registry(config).names
    for position, (lead_id, as_of) in enumerate(zip(lead_ids, as_ofs)):
        online = build_single_lead_features(**single_lead_inputs(tables, lead_id), as_of=as_of,
                                            config=config)
        assert_same_vector(online, batch.iloc[position], names, f"{lead_id}@{as_of}")
    return len(lead_ids)


@pytest.mark.parametrize("config", [CONFIG, ATTRIBUTE_CONFIG], ids=["default", "attributes"])
def test_edge_leads_match_the_batch_pipeline(config) -> None:
    tables = sample_tables()  # BANT before/after as_of, recycled, no account, attributes
    lead_ids = tables["leads"]["lead_id"].tolist()
    as_ofs = [ago(0)] * len(lead_ids) + [ago(7.5)] * len(lead_ids)
    assert _compare(tables, lead_ids * 2, as_ofs, config) == 2 * len(lead_ids)


def test_window_edges_count_as_the_batch_pipeline_does() -> None:
    """Events exactly at as_of - w days count, events at as_of do not, blank activity accounts
    take the lead's, and a colleague's engagement counts once however often it happens."""
    as_of = ago(0)
    accounts = canon("accounts", [{"account_id": "A1", "name": "x", "domain": "a.co.jp"}])
    leads = canon("leads", [lead("L1"), lead("L2"), lead("L3", account_id=None)])
    edges = [ago(7), ago(30), ago(90), ago(90.000001), ago(0), ago(7) + pd.Timedelta("1us")]
    records = ([{"event_id": f"e{i}", "lead_id": "L1", "occurred_at": t, "type": "email_open"}
                for i, t in enumerate(edges)]
               + [{"event_id": f"c{i}", "lead_id": "L2", "occurred_at": ago(d), "type": "chat"}
                  for i, d in enumerate((1, 2, 29.9))]
               + [{"event_id": "x", "lead_id": "L3", "account_id": "A1", "occurred_at": ago(3),
                   "type": "page_view"}])
    tables = {"accounts": accounts, "leads": leads, "activities": canon("activities", records)}
    _compare(tables, ["L1", "L2", "L3"], [as_of] * 3, CONFIG)
    online = build_single_lead_features(**single_lead_inputs(tables, "L1"), as_of=as_of,
                                        config=CONFIG)
    assert online["email_open_count_7d"] == 2  # at as_of - 7d and just after; not at as_of
    assert online["email_open_count_90d"] == 4
    assert online["account_activity_count_30d"] == 3 + 3 + 1
    assert online["account_engaged_contacts_30d"] == 3


def test_online_frame_has_the_batch_columns_and_dtypes() -> None:
    tables = sample_tables()
    pairs = pd.DataFrame({"lead_id": pd.array(["L1", "L2"], dtype="str"),
                          "as_of": pd.Series([ago(0)] * 2).dt.as_unit("us")})
    batch = build_lead_features(tables, pairs, CONFIG)
    rows = [build_single_lead_features(**single_lead_inputs(tables, lead_id), as_of=ago(0),
                                       config=CONFIG) for lead_id in ("L1", "L2")]
    frame = single_lead_frame(rows, ["L1", "L2"], [ago(0)] * 2, lead_feature_registry(CONFIG))
    assert list(frame.columns) == list(batch.columns)
    for name in batch.columns:
        assert (isinstance(frame[name].dtype, pd.CategoricalDtype)
                == isinstance(batch[name].dtype, pd.CategoricalDtype)), name
    pd.testing.assert_frame_equal(frame.astype(object), batch.astype(object), check_exact=False,
                                  rtol=1e-12)


def _events(*records: dict) -> LeadEvents:
    return LeadEvents.from_records(list(records))


@pytest.mark.parametrize("change, message", [
    (lambda: dict(as_of=pd.Timestamp("2025-06-01")), "as_of must be a timezone-aware"),
    (lambda: dict(lead=lead("L9", created_days_ago=-1)), "cannot be scored before it exists"),
    (lambda: dict(lead={"lead_id": "L9"}), "leads.created_at is missing"),
    (lambda: dict(events=_events({"occurred_at": "yesterday", "type": "chat"})),
     "activities.occurred_at must be a timezone-aware"),
    (lambda: dict(events=_events({"occurred_at": ago(1), "type": "fax"})),
     "activities.type has unknown value 'fax'"),
    (lambda: dict(lead=lead("L9", attributes="[1, 2]")),
     "leads.attributes of row 0 is not a JSON object"),
], ids=["naive as_of", "created after as_of", "no created_at", "text time", "unknown type",
        "attributes not an object"])
def test_bad_input_names_the_field(change, message) -> None:
    args = {"lead": lead("L9"), "account": None, "events": LeadEvents.concat([]),
            "as_of": ago(0), "config": ATTRIBUTE_CONFIG}
    with pytest.raises(ValueError, match=message):
        build_single_lead_features(**{**args, **change()})
