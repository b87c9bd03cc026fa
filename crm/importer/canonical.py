"""Assembling canonical tables (pure): source rows mapped through the row templates, then
validated row by row with the schema's coercion and checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm import schema
from crm.importer.mapping import ColumnMap, Condition, TableMap, json_column
from crm.importer.problems import SOURCE_FILE, SOURCE_ROW, concat_problems, problem
from crm.importer.transforms import Context, build_attributes, evaluate_column


def _evaluate_template(spec: schema.TableSpec, tmap: TableMap, columns: dict[str, ColumnMap],
                       source: pd.DataFrame, ctx: Context
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical columns (pre-validation) and mapping problems for the rows of ``source``."""
    done: dict[str, pd.Series] = {}
    problems: list[pd.DataFrame] = []
    for name, colmap in sorted(columns.items(), key=lambda kv: kv[1].copy_of is not None):
        done[name], found = evaluate_column(spec.column(name).kind, name, colmap, source,
                                            done, ctx)
        problems += found
    json_col = json_column(spec)
    if tmap.attributes and json_col:
        done[json_col], found = build_attributes(tmap.attributes, source, json_col, ctx)
        problems += found
    return pd.DataFrame(done, index=source.index), concat_problems(problems)


def _conditions_mask(conditions: list[Condition], source: pd.DataFrame) -> np.ndarray:
    if not conditions:
        return np.ones(len(source), dtype=bool)
    return np.logical_and.reduce([c.holds(source) for c in conditions])


@dataclass
class Mapped:
    """Canonical rows made from the source (index = row position), before validation."""

    frame: pd.DataFrame
    meta: pd.DataFrame
    problems: pd.DataFrame
    read: int
    filtered: int


def map_rows(spec: schema.TableSpec, tmap: TableMap, raw: pd.DataFrame, ctx: Context
             ) -> Mapped:
    """Apply filters and row templates; every template sees the rows the filters keep."""
    templates = tmap.templates()
    kept = raw[_conditions_mask(tmap.filters, raw)]
    filtered = (len(raw) - len(kept)) * len(templates)
    frames, metas, problems = [], [], []
    offset = 0
    for when, columns in templates:
        part = kept[_conditions_mask(when, kept)].reset_index(drop=True)
        filtered += len(kept) - len(part)
        frame, found = _evaluate_template(spec, tmap, columns, part, ctx)
        frames.append(frame.set_axis(frame.index + offset))
        metas.append(part[[SOURCE_FILE, SOURCE_ROW]].set_axis(part.index + offset))
        problems.append(found.set_axis(found.index + offset))
        offset += len(part)
    # a source row's canonical rows stay together
    meta = pd.concat(metas).sort_values([SOURCE_FILE, SOURCE_ROW], kind="stable")
    return Mapped(_concat_frames(spec, frames).loc[meta.index], meta, concat_problems(problems),
                  read=len(raw) * len(templates), filtered=filtered)


def _concat_frames(spec: schema.TableSpec, frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return schema.empty_frame(spec.name)
    columns = [c for c in spec.column_names if any(c in f.columns for f in frames)]
    return pd.concat([f.reindex(columns=columns) for f in frames])


# --------------------------------------------------------------------------------------------
# Validating canonical rows (row-precise, using the schema's coercion and checks)
# --------------------------------------------------------------------------------------------

def _coercion_problems(frame: pd.DataFrame, coerced: pd.DataFrame,
                       reported: pd.DataFrame) -> pd.DataFrame:
    """Rows whose value ``coerce_table`` could not convert (it reports them by key only)."""
    parts = []
    for column, reason in reported.groupby("column", sort=False)["reason"].first().items():
        if column not in frame.columns:
            parts.append(problem(column, pd.Series(None, index=frame.index, dtype="object"),
                                 str(reason)))
            continue
        before = frame[column]
        present = before.notna() & (before.astype("str").str.strip() != "")
        failed = present & coerced[column].isna()
        parts.append(problem(column, before[failed], str(reason)))
    return concat_problems(parts)


def _key_problems(spec: schema.TableSpec, coerced: pd.DataFrame, meta: pd.DataFrame
                  ) -> pd.DataFrame:
    """Missing key parts, and repeated keys (the first row is kept)."""
    key = list(spec.key)
    parts = [problem(k, pd.Series(None, index=coerced.index[coerced[k].isna()], dtype="object"),
                     "is required but missing") for k in key]
    complete = coerced[coerced[key].notna().all(axis=1)]
    positions = pd.Series(complete.index, index=complete.index)
    first = positions.groupby([complete[k] for k in key], sort=False).transform("first")
    repeated = first[first != positions]
    kept_at = meta.loc[repeated.to_numpy(), SOURCE_FILE].astype("str") + " row " + meta.loc[
        repeated.to_numpy(), SOURCE_ROW].astype("str")
    parts.append(problem(",".join(key), pd.Series(("first row kept: " + kept_at).to_numpy(),
                                                  index=repeated.index),
                         "duplicate key (first row kept)"))
    return concat_problems(parts)


def _rule_problems(spec: schema.TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.find_violations`` per row position (keys are unique and complete here)."""
    violations = schema.find_violations(spec.name, frame)
    if not len(violations):
        return concat_problems([])
    if (violations["row_key"] == "<all rows>").any():
        raise RuntimeError(f"{spec.name}: whole-table violation after coercion:\n{violations}")
    keys = pd.DataFrame({"row_key": schema.row_keys(spec, frame).to_numpy(),
                         "position": frame.index})
    found = violations.merge(keys, on="row_key", how="inner")
    return found.set_index("position")[["column", "value", "reason"]].rename_axis(None)


def _reference_problems(tmap: TableMap, frame: pd.DataFrame, loaded: dict[str, pd.DataFrame],
                        warnings: list[str], table: str) -> pd.DataFrame:
    parts = []
    for column, target in tmap.references.items():
        parent, _, parent_column = target.partition(".")
        if parent not in loaded:
            warnings.append(f"{table}: {column} not checked against {target} ({parent} was not "
                            "imported in this run)")
            continue
        values = frame[column]
        bad = values.notna() & ~values.isin(loaded[parent][parent_column].dropna())
        parts.append(problem(column, values[bad], f"is not among the loaded {target}"))
    return concat_problems(parts)


def _drop(frame: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame.index.isin(problems.index)]


def validate_rows(spec: schema.TableSpec, tmap: TableMap, mapped: Mapped,
                  loaded: dict[str, pd.DataFrame], warnings: list[str]
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split mapped rows into canonical valid rows and problems (each keyed by row position).

    A row is reported with the problems of the first stage that rejects it: mapping, then
    coercion, then key, then the schema's value and cross-column rules, then references.
    """
    frame = _drop(mapped.frame, mapped.problems)
    coerced, reported = schema.coerce_table(spec.name, frame)
    coerced.index = frame.index
    problems = [mapped.problems, _coercion_problems(frame, coerced, reported)]
    candidate = _drop(coerced, problems[-1])
    problems.append(_key_problems(spec, candidate, mapped.meta))
    candidate = _drop(candidate, problems[-1])
    problems.append(_rule_problems(spec, candidate))
    candidate = _drop(candidate, problems[-1])
    problems.append(_reference_problems(tmap, candidate, loaded, warnings, spec.name))
    candidate = _drop(candidate, problems[-1])
    return candidate, concat_problems(problems)
