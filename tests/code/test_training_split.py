"""split_by_time: parts ordered in time, entities on one side, every bad input named."""

from __future__ import annotations

import pandas as pd
import pytest

from training.split import split_by_time

START = pd.Timestamp("2025-01-01", tz="UTC")


def _examples(days: list[int], entities: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": entities or [f"L{i}" for i in range(len(days))],
        "as_of": [START + pd.Timedelta(days=d) for d in days],
        "label": [i % 2 for i in range(len(days))],
    })


def test_parts_do_not_overlap_in_time_and_keep_every_row() -> None:
    examples = _examples(list(range(20))).sample(frac=1, random_state=3)  # order must not matter
    split = split_by_time(examples, fractions=(0.6, 0.2, 0.2))
    assert (len(split.train), len(split.valid), len(split.test)) == (12, 4, 4)
    assert split.train["as_of"].max() < split.valid["as_of"].min()
    assert split.valid["as_of"].max() < split.test["as_of"].min()
    assert split.boundaries == (START + pd.Timedelta(days=12), START + pd.Timedelta(days=16))


def test_rows_sharing_a_timestamp_stay_on_one_side() -> None:
    split = split_by_time(_examples([0, 1, 2, 3, 5, 5, 5, 5, 8, 9]), fractions=(0.5, 0.25, 0.25))
    # The 50 % and 75 % rows both fall on day 5: valid is all of day 5, test starts at day 8.
    assert (split.valid["as_of"] == START + pd.Timedelta(days=5)).all() and len(split.valid) == 4
    assert split.train["as_of"].max() == START + pd.Timedelta(days=3)
    assert split.test["as_of"].min() == START + pd.Timedelta(days=8)


def test_entity_seen_later_is_removed_from_train() -> None:
    entities = ["A", "B", "C", "D", "E", "F", "G", "A", "B", "H"]
    split = split_by_time(_examples(list(range(10)), entities), fractions=(0.6, 0.2, 0.2),
                          entity_col="lead_id")
    # A (day 0 and day 7 = valid) and B (day 1 and day 8 = test) leave train.
    assert split.train["lead_id"].tolist() == ["C", "D", "E", "F"]
    assert split.valid["lead_id"].tolist() == ["G", "A"]
    assert split.test["lead_id"].tolist() == ["B", "H"]
    assert split.dropped["train"]["entity_in_later_part"] == 2
    train = set(split.train["lead_id"])
    assert not train & set(split.valid["lead_id"]) and not train & set(split.test["lead_id"])


@pytest.mark.parametrize(("isolate", "valid_ids", "dropped"),
                         [("train", ["X", "G"], 0), ("all", ["G"], 1)])
def test_valid_keeps_entities_shared_with_test_unless_isolated(isolate, valid_ids, dropped) -> None:
    entities = ["A", "B", "C", "D", "E", "F", "X", "G", "X", "H"]
    split = split_by_time(_examples(list(range(10)), entities), fractions=(0.6, 0.2, 0.2),
                          entity_col="lead_id", isolate=isolate)
    assert split.valid["lead_id"].tolist() == valid_ids
    assert split.test["lead_id"].tolist() == ["X", "H"]
    assert split.dropped["valid"].get("entity_in_later_part", 0) == dropped


def test_embargo_drops_train_rows_whose_label_window_crosses_into_valid() -> None:
    split = split_by_time(_examples(list(range(20))), fractions=(0.6, 0.2, 0.2),
                          embargo=pd.Timedelta(days=2))
    assert split.train["as_of"].max() == START + pd.Timedelta(days=9)  # days 10, 11 dropped
    assert len(split.valid) == 4 and len(split.test) == 4  # later parts untouched
    assert split.dropped["train"]["embargo"] == 2


def test_summary_reports_windows_and_positives() -> None:
    summary = split_by_time(_examples(list(range(10))), fractions=(0.6, 0.2, 0.2)).summary("label")
    assert summary["train"]["rows"] == 6 and summary["train"]["positives"] == 3
    assert summary["test"]["start"] == str(START + pd.Timedelta(days=8))


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda f: f.drop(columns="as_of"), {}, "time column 'as_of' is not in the examples"),
        (lambda f: f.assign(as_of=f["as_of"].where(f.index != 3)), {}, "has 1 missing values"),
        (lambda f: f, {"fractions": (0.5, 0.2, 0.2)}, "fractions must sum to 1"),
        (lambda f: f, {"fractions": (1.0, 0.0, 0.0)}, "three shares in \\(0, 1\\)"),
        (lambda f: f, {"entity_col": "account_id"}, "entity column 'account_id'"),
        (lambda f: f, {"embargo": pd.Timedelta(days=-1)}, "embargo must not be negative"),
        (lambda f: f, {"isolate": "valid"}, "isolate must be 'train' or 'all', got 'valid'"),
        (lambda f: f.assign(as_of=START), {}, "the train part is empty"),
        (lambda f: f.head(2), {}, "need at least 3 rows"),
    ],
)
def test_bad_input_is_named(change, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        split_by_time(change(_examples(list(range(10)))), **kwargs)
