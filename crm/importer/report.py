"""What an import produced: the result, repeated source rows, rejections and the text report."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm import schema
from crm.importer.canonical import Mapped
from crm.importer.problems import SOURCE_FILE, SOURCE_POSITION, SOURCE_ROW

REJECTION_COLUMNS = ["table", "source_file", "source_row", "row_key", "column", "value", "reason"]
COUNT_COLUMNS = ["table", "source_rows", "read", "filtered", "rejected", "loaded"]
DUPLICATE_COLUMNS = ["table", "source_file", "source_row", "first_source_file", "first_source_row"]


@dataclass
class ImportResult:
    """What an import produced.

    Attributes:
        tables: canonical frames, each passing ``schema.validate_table``.
        rejections: one row per (rejected row, problem): ``REJECTION_COLUMNS``.
        counts: per table ``COUNT_COLUMNS``; ``read = loaded + rejected + filtered``.
            ``read`` is canonical rows attempted (source rows x row templates).
        duplicates: source rows repeating an earlier row (``DUPLICATE_COLUMNS``); reported
            only, never dropped.
        warnings: plain-text notes for the user (duplicates found, checks skipped).
    """

    tables: dict[str, pd.DataFrame]
    rejections: pd.DataFrame
    counts: pd.DataFrame
    duplicates: pd.DataFrame = field(default_factory=lambda: _no_duplicates())
    warnings: list[str] = field(default_factory=list)


def _no_duplicates() -> pd.DataFrame:
    dtypes = {c: "str" for c in DUPLICATE_COLUMNS} | {"source_row": "Int64",
                                                      "first_source_row": "Int64"}
    return pd.DataFrame(columns=DUPLICATE_COLUMNS).astype(dtypes)


def find_repeated_rows(raw: pd.DataFrame, ignore: list[str], table: str) -> pd.DataFrame:
    """Source rows equal to an earlier row in every column except ``ignore`` (after
    missing-value tokens are applied), with the earlier row they repeat."""
    columns = [c for c in raw.columns
               if c not in (*ignore, SOURCE_FILE, SOURCE_ROW, SOURCE_POSITION)]
    positions = pd.Series(np.arange(len(raw)), index=raw.index)
    group = raw[columns].groupby(columns, dropna=False, sort=False).ngroup()
    first = positions.groupby(group.to_numpy()).transform("first").to_numpy()
    repeat = first != positions.to_numpy()
    return pd.DataFrame({
        "table": table,
        "source_file": raw[SOURCE_FILE].to_numpy()[repeat],
        "source_row": raw[SOURCE_ROW].to_numpy()[repeat],
        "first_source_file": raw[SOURCE_FILE].to_numpy()[first[repeat]],
        "first_source_row": raw[SOURCE_ROW].to_numpy()[first[repeat]],
    }).astype({"source_row": "Int64", "first_source_row": "Int64"})


def rejection_frame(spec: schema.TableSpec, mapped: Mapped, problems: pd.DataFrame
                    ) -> pd.DataFrame:
    """One row per (rejected row, problem), with its source file, row and key."""
    keys = pd.Series(schema.row_keys(spec, mapped.frame).to_numpy(), index=mapped.frame.index)
    at = problems.index
    out = pd.DataFrame({
        "table": spec.name,
        "source_file": mapped.meta.loc[at, SOURCE_FILE].to_numpy(),
        "source_row": mapped.meta.loc[at, SOURCE_ROW].to_numpy(),
        "row_key": keys.loc[at].to_numpy(),
        "column": problems["column"].to_numpy(),
        "value": problems["value"].to_numpy(),
        "reason": problems["reason"].to_numpy(),
    }, index=range(len(problems)))
    return _typed_rejections(out.sort_values(["source_file", "source_row"], kind="stable",
                                             ignore_index=True))


def _typed_rejections(frame: pd.DataFrame) -> pd.DataFrame:
    dtypes = {c: "str" for c in REJECTION_COLUMNS} | {"source_row": "Int64"}
    return frame.reindex(columns=REJECTION_COLUMNS).astype(dtypes)


@dataclass
class TableOutcome:
    """What importing one table produced (``assemble_result`` combines them)."""

    loaded: pd.DataFrame
    rejections: pd.DataFrame
    counts: dict[str, object]
    duplicates: pd.DataFrame | None


def assemble_result(outcomes: dict[str, TableOutcome], warnings: list[str]) -> ImportResult:
    """Combine the per-table outcomes into one ``ImportResult``."""
    rejections = [o.rejections for o in outcomes.values() if len(o.rejections)]
    duplicates = [o.duplicates for o in outcomes.values()
                  if o.duplicates is not None and len(o.duplicates)]
    return ImportResult(
        tables={t: o.loaded for t, o in outcomes.items()},
        rejections=_typed_rejections(pd.concat(rejections, ignore_index=True) if rejections
                                     else pd.DataFrame(columns=REJECTION_COLUMNS)),
        counts=pd.DataFrame([o.counts for o in outcomes.values()], columns=COUNT_COLUMNS),
        duplicates=(pd.concat(duplicates, ignore_index=True) if duplicates
                    else _no_duplicates()),
        warnings=warnings,
    )


def format_rejection_report(result: ImportResult, max_rows: int = 20) -> str:
    """Plain-text summary for the CLI: counts, rejections by reason, the first rejections,
    warnings."""
    lines = ["Import counts (read = loaded + rejected + filtered):",
             result.counts.to_string(index=False)]
    rejections = result.rejections
    if len(rejections):
        by_reason = (rejections.assign(problem=rejections["column"] + " " + rejections["reason"])
                     .groupby(["table", "problem"], sort=False).size()
                     .rename("rows").reset_index().sort_values("rows", ascending=False))
        lines += ["", "Rejections by problem:", by_reason.to_string(index=False), "",
                  f"First {min(max_rows, len(rejections))} of {len(rejections):,} rejections:"]
        lines += [_rejection_line(r) for r in rejections.head(max_rows).itertuples()]
    else:
        lines += ["", "No rejections."]
    if result.warnings:
        lines += ["", "Warnings:"] + [f"  {w}" for w in result.warnings]
    return "\n".join(lines)


def _rejection_line(r: object) -> str:
    value = "" if r.value is None or pd.isna(r.value) else f" (value: {r.value!r})"  # type: ignore[attr-defined]
    return (f"  {r.table} {r.source_file} row {r.source_row} [{r.row_key}]: "  # type: ignore[attr-defined]
            f"{r.column} {r.reason}{value}")  # type: ignore[attr-defined]
