"""The fit store: entries by key in memory and on disk, never failing a forecast."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from forecast.fitstore import FitStore, make_key


def test_entries_outlive_the_process_through_the_directory(tmp_path: Path) -> None:
    key = make_key("time_to_close", "2026-06-01")
    FitStore(tmp_path).put(key, {"coef": [1.0, 2.0]})
    reopened = FitStore(tmp_path)
    assert reopened.get(key) == {"coef": [1.0, 2.0]}
    assert reopened.get(make_key("time_to_close", "2026-07-01")) is None
    assert (reopened.hits, reopened.misses) == (1, 1)


def test_memory_keeps_the_most_recently_used(tmp_path: Path) -> None:
    store = FitStore(max_items=2)
    for name in "abc":
        store.put(name, name.upper())
    assert store.get("a") is None and store.get("c") == "C"
    store.get("b")
    store.put("d", "D")   # "c" was used less recently than "b"
    assert store.get("c") is None and store.get("b") == "B"


def test_a_torn_file_is_a_miss_with_a_warning(tmp_path: Path, caplog) -> None:
    key = make_key("evidence")
    (tmp_path / f"{key}.pkl").write_bytes(b"\x80\x05not a pickle")
    with caplog.at_level(logging.WARNING, logger="forecast.fitstore"):
        assert FitStore(tmp_path).get(key) is None
    assert "cannot read" in caplog.text and key in caplog.text


def test_a_folder_that_cannot_be_written_costs_speed_not_the_answer(tmp_path: Path,
                                                                     caplog) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    store = FitStore(blocked / "fits")
    with caplog.at_level(logging.WARNING, logger="forecast.fitstore"):
        store.put("k", 1)
    assert store.get("k") == 1   # still in memory
    assert "cannot write" in caplog.text


def test_opening_prunes_the_oldest_files_and_leftover_temporaries(tmp_path: Path) -> None:
    for i in range(5):
        path = tmp_path / f"{i}.pkl"
        path.write_bytes(b"")
        os.utime(path, (1_000 + i, 1_000 + i))
    (tmp_path / "x.tmp").write_bytes(b"half")
    FitStore(tmp_path, max_files=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2.pkl", "3.pkl", "4.pkl"]


def test_keys_change_with_every_part() -> None:
    assert make_key("a", 1) == make_key("a", 1)
    assert len({make_key("a", 1), make_key("a", 2), make_key("b", 1)}) == 3


def test_bad_limits_are_named() -> None:
    with pytest.raises(ValueError, match="max_items"):
        FitStore(max_items=0)
