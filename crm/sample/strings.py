"""Vectorised string building on pyarrow arrays (take, concatenate, choose, make unique)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _pa(items: object) -> pa.Array:
    """A small vocabulary as a pyarrow string array."""
    return items if isinstance(items, pa.Array) else pa.array(list(items), pa.string())


def _take(items: object, index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """``items[index]`` as pyarrow strings (null where ``missing``)."""
    index = pa.array(np.asarray(index, dtype=np.int64), mask=missing)
    return pc.take(_pa(items), index)


def _cat(*parts: object) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def _where(mask: np.ndarray, yes: object, no: object) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), yes, no)


def _choose(index: np.ndarray, *options: object) -> pa.Array:
    return pc.choose(pa.array(np.asarray(index, dtype=np.int8)), *options)


def _null_where(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return _where(mask, pa.scalar(None, pa.string()), values)


def _occurrence_rank(values: pa.Array) -> np.ndarray:
    """0 for the first occurrence of each value, 1 for the second, ... (in array order)."""
    codes = pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    new_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(codes)), 0))
    rank = np.empty(len(codes), dtype=np.int64)
    rank[order] = np.arange(len(codes)) - group_start
    return rank


def _make_unique(stem: pa.Array, suffix: pa.Array) -> pa.Array:
    """stem + suffix, with 2, 3, ... appended to the stem of repeated values."""
    rank = _occurrence_rank(_cat(stem, suffix))
    counter = pa.array(rank + 1).cast(pa.string())
    return _cat(_where(rank > 0, _cat(stem, counter), stem), suffix)
