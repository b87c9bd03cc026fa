"""The account split (scale.partitions) on small inline tables, with Dask's in-process
scheduler: where each row goes, and the errors."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from crm.schema import empty_frame
from scale.partitions import (
    PARTITION,
    bucket_of,
    canonical_frame,
    partition_by_account,
    unify_categories,
)

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def _frame(table: str, rows: list[dict]) -> pd.DataFrame:
    frame = empty_frame(table)
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True).astype(frame.dtypes)


def _tables() -> dict[str, pd.DataFrame]:
    leads = _frame("leads", [
        {"lead_id": "L1", "account_id": "A1", "created_at": T0},
        {"lead_id": "L2", "account_id": "A1", "created_at": T0},
        {"lead_id": "L3", "account_id": "A2", "created_at": T0},
        {"lead_id": "L4", "account_id": None, "created_at": T0},
    ])
    activities = _frame("activities", [
        {"event_id": "E1", "lead_id": "L1", "account_id": None, "occurred_at": T0,
         "type": "web_visit"},
        {"event_id": "E2", "lead_id": "L3", "account_id": "A1", "occurred_at": T0,
         "type": "web_visit"},  # L3 is at A2 but the activity names A1: both buckets
        {"event_id": "E3", "lead_id": None, "account_id": "A2", "occurred_at": T0,
         "type": "web_visit"},
        {"event_id": "E4", "lead_id": "L9", "account_id": None, "occurred_at": T0,
         "type": "web_visit"},  # unknown lead, no company: touches no feature
        {"event_id": "E5", "lead_id": "L4", "account_id": None, "occurred_at": T0,
         "type": "email_open"},
    ])
    accounts = _frame("accounts", [{"account_id": "A1"}, {"account_id": "A2"}])
    return {"leads": leads, "activities": activities, "accounts": accounts}


def _buckets(frame: dd.DataFrame, column: str) -> dict[str, set[int]]:
    with dask.config.set(scheduler="sync"):
        rows = frame.reset_index()[[PARTITION, column]].compute()
    out: dict[str, set[int]] = {}
    for bucket, key in zip(rows[PARTITION], rows[column]):
        out.setdefault(key, set()).add(int(bucket))
    return out


@pytest.mark.parametrize("npartitions", [1, 2, 7])
def test_a_company_its_leads_and_their_activities_share_a_bucket(npartitions: int) -> None:
    tables = _tables()
    parts = partition_by_account({n: dd.from_pandas(f, npartitions=2) for n, f in tables.items()},
                                 npartitions)
    assert parts.npartitions == npartitions
    lead_buckets = _buckets(parts.leads, "lead_id")
    account_buckets = _buckets(parts.accounts, "account_id")
    event_buckets = _buckets(parts.activities, "event_id")
    a1, a2 = account_buckets["A1"], account_buckets["A2"]
    assert lead_buckets["L1"] == lead_buckets["L2"] == a1
    assert lead_buckets["L3"] == a2
    assert lead_buckets["L4"] == {int(bucket_of(pd.Series(["L4"]), npartitions)[0])}
    assert event_buckets["E1"] == a1 and event_buckets["E3"] == a2
    assert event_buckets["E2"] == a1 | a2  # the company's roll-up and the lead's behaviour
    assert event_buckets["E5"] == lead_buckets["L4"]
    assert "E4" not in event_buckets


def test_buckets_are_stable_and_in_range() -> None:
    ids = pd.Series([f"A{i}" for i in range(500)], dtype="str")
    buckets = bucket_of(ids, 4)
    assert set(buckets) == {0, 1, 2, 3}
    assert (bucket_of(ids.astype(object), 4) == buckets).all()  # dtype does not matter


def test_missing_ids_and_bad_partition_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="account_id has 1 missing value"):
        bucket_of(pd.Series(["A1", None], dtype="str", name="account_id"), 2)
    tables = {n: dd.from_pandas(f, npartitions=1) for n, f in _tables().items()}
    with pytest.raises(ValueError, match="npartitions must be at least 1, got 0"):
        partition_by_account(tables, 0)
    with pytest.raises(ValueError, match="needs a leads table"):
        partition_by_account({"activities": tables["activities"]}, 2)


def test_partitions_come_back_canonical() -> None:
    raw = _tables()["leads"].astype({"lead_id": "string[pyarrow]"})
    raw[PARTITION] = 0
    frame = canonical_frame(raw.set_index(PARTITION), "leads")
    assert list(frame.columns) == list(empty_frame("leads").columns)
    assert (frame.dtypes == empty_frame("leads").dtypes).all()
    assert frame.index.equals(pd.RangeIndex(4))


def test_observed_categories_become_their_sorted_union_and_fixed_ones_stay() -> None:
    fixed = pd.CategoricalDtype(["z", "a"])
    first = pd.DataFrame({"seen": pd.Categorical(["b", "c"]),
                          "fixed": pd.Categorical(["a", "z"], dtype=fixed)})
    second = pd.DataFrame({"seen": pd.Categorical(["a"]),
                           "fixed": pd.Categorical(["z"], dtype=fixed)})
    out = unify_categories([first, second])
    assert [list(f["seen"].cat.categories) for f in out] == [["a", "b", "c"]] * 2
    assert [list(f["fixed"].cat.categories) for f in out] == [["z", "a"]] * 2
    assert list(out[0]["seen"]) == ["b", "c"]
