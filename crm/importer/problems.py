"""Row problems: what is wrong with which row, the common currency of mapping and validation.

A problem frame has columns ``column``, ``value``, ``reason`` and is indexed by row position;
``SOURCE_FILE`` / ``SOURCE_ROW`` / ``SOURCE_POSITION`` are the columns the reader adds to say
where a row came from.
"""

from __future__ import annotations

import pandas as pd

SOURCE_FILE, SOURCE_ROW = "__source_file__", "__source_row__"
SOURCE_POSITION = "__source_position__"  # 0-based order of the row over all of a table's files


def problem(column: str, values: pd.Series, reason: str) -> pd.DataFrame:
    """Problems of the rows in ``values`` (index = row position)."""
    return pd.DataFrame({"column": column, "value": values.astype("object").where(
        values.notna(), None).map(lambda v: None if v is None else str(v)), "reason": reason},
        index=values.index)


def concat_problems(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One problem frame from several (an empty, typed one when there are none)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"column": pd.Series(dtype="str"), "value": pd.Series(dtype="object"),
                             "reason": pd.Series(dtype="str")})
    return pd.concat(parts)
