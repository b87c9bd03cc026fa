"""Value transforms (pure): one canonical column made from the source cells, step by step
(value map, default, transform, allowed values, scale, timeline, date parsing), and the JSON
attributes column."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm import schema
from crm.importer.mapping import AttributeMap, ColumnMap, parse_duration
from crm.importer.names import slugify
from crm.importer.problems import concat_problems, problem

_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"
_TRUTH = {"true": True, "yes": True, "y": True, "1": True,
          "false": False, "no": False, "n": False, "0": False}


@dataclass
class Context:
    """What every column evaluation may need beyond its own spec."""

    timezone: str | None
    lookups: dict[tuple[str, str], frozenset[str]]


def _initial_values(spec: ColumnMap, source: pd.DataFrame, done: dict[str, pd.Series]
                    ) -> pd.Series:
    if spec.constant is not None:
        return pd.Series(spec.constant, index=source.index, dtype="str")
    if spec.copy_of is not None:
        values = done[spec.copy_of]
        return values + parse_duration(spec.offset) if spec.offset else values
    values = source[spec.source]
    if spec.missing_values and pd.api.types.is_string_dtype(values.dtype):
        values = values.mask(values.isin(spec.missing_values))
    return values


def _map_values(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.values is None:
        return values, None
    known = values.isin(list(spec.values))
    mapped = values.map(spec.values).astype("str")
    if spec.unmapped == "keep":
        return mapped.where(known, values), None
    unknown = values.notna() & ~known
    reason = f"has a value that is not in its value map (source column {spec.source!r})"
    return mapped, problem(name, values[unknown], reason)


def _fill_default(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                  ) -> tuple[pd.Series, None]:
    return (values if spec.default is None else values.fillna(spec.default)), None


def _apply_transform(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                     ) -> tuple[pd.Series, None]:
    if spec.transform == "slug":
        return values.map(slugify, na_action="ignore").astype("str"), None
    if spec.transform in ("lower", "upper"):
        return getattr(values.astype("str").str, spec.transform)(), None
    return values, None


def _check_allowed(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                   ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.allowed_from is None:
        return values, None
    lookup = spec.allowed_from
    bad = values.notna() & ~values.isin(list(ctx.lookups[(lookup.file, lookup.column)]))
    reason = f"is not listed in {lookup.file} column {lookup.column!r}"
    return values.mask(bad), problem(name, values[bad], reason)


def _to_number(values: pd.Series, spec: ColumnMap, name: str) -> tuple[pd.Series, pd.DataFrame]:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (numbers.isna() | ~np.isfinite(numbers.fillna(0)))
    where = f" (source column {spec.source!r})" if spec.source else ""
    return numbers.mask(bad).astype("float64"), problem(name, values[bad],
                                                        f"is not a number{where}")


def _apply_scale(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                 ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.scale is None:
        return values, None
    numbers, problems = _to_number(values, spec, name)
    return numbers * spec.scale, problems


def _apply_timeline(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                    ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.timeline is None:
        return values, None
    numbers, problems = _to_number(values, spec, name)
    steps = numbers.rank(method="dense") - 1
    offsets = pd.to_timedelta(steps * parse_duration(spec.timeline.step).value, unit="ns")
    start = pd.Timestamp(spec.timeline.start).tz_convert("UTC")
    return (start + offsets).astype(schema.TIMESTAMP_DTYPE), problems


def _parse_dates(values: pd.Series, spec: ColumnMap, name: str, ctx: Context
                 ) -> tuple[pd.Series, pd.DataFrame | None]:
    """Timestamps in UTC: text with an offset is read as such, naive text in the timezone."""
    tz = spec.timezone or ctx.timezone
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(schema.TIMESTAMP_DTYPE), None
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return _localise(values, tz, name, values.astype("str"))
    text = values.astype("str")
    fmt = spec.date_format or "ISO8601"
    aware = text.notna() & text.str.contains(_OFFSET_RE, regex=True, na=False)
    out = pd.Series(pd.NaT, index=text.index, dtype=schema.TIMESTAMP_DTYPE)
    if aware.any():
        out.loc[aware] = pd.to_datetime(text[aware], format=fmt, utc=True, errors="coerce"
                                        ).astype(schema.TIMESTAMP_DTYPE)
    naive = text.notna() & ~aware
    problems = concat_problems([])
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt, errors="coerce")
        local, problems = _localise(parsed, tz, name, text[naive])
        out.loc[naive] = local
    unparsed = text.notna() & out.isna() & ~text.index.isin(problems.index)
    return out, concat_problems([problems, problem(name, text[unparsed], _format_reason(spec))])


def _format_reason(spec: ColumnMap) -> str:
    fmt = f"date format {spec.date_format!r}" if spec.date_format else "an ISO 8601 date"
    where = f" (source column {spec.source!r})" if spec.source else ""
    return f"does not match {fmt}{where}"


def _localise(parsed: pd.Series, tz: str | None, name: str, text: pd.Series
              ) -> tuple[pd.Series, pd.DataFrame]:
    """Read naive timestamps in ``tz``; report those that cannot be placed in time."""
    if tz is None:
        given = parsed.notna()
        reason = "has no timezone and the mapping sets none (add timezone:)"
        return (pd.Series(pd.NaT, index=parsed.index, dtype=schema.TIMESTAMP_DTYPE),
                problem(name, text[given], reason))
    local = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    gap = parsed.notna() & local.isna()
    reason = f"is not a valid local time in {tz} (daylight-saving gap or overlap)"
    return (local.dt.tz_convert("UTC").astype(schema.TIMESTAMP_DTYPE),
            problem(name, text[gap], reason))


_STEPS = (_map_values, _fill_default, _apply_transform, _check_allowed, _apply_scale,
          _apply_timeline)


def evaluate_column(kind: str, name: str, spec: ColumnMap, source: pd.DataFrame,
                    done: dict[str, pd.Series], ctx: Context
                    ) -> tuple[pd.Series, list[pd.DataFrame]]:
    """One canonical column for every source row, and the rows it could not make."""
    values = _initial_values(spec, source, done)
    problems: list[pd.DataFrame] = []
    steps = _STEPS + ((_parse_dates,) if kind == "datetime" and spec.timeline is None else ())
    for step in steps:
        values, found = step(values, spec, name, ctx)
        if found is not None and len(found):
            problems.append(found)
    if spec.when:
        keep = np.logical_and.reduce([c.holds(source) for c in spec.when])
        values = values.where(keep)
        problems = [p[keep[source.index.get_indexer(p.index)]] for p in problems]
    return values, problems


def _evaluate_attribute(attr: AttributeMap, source: pd.DataFrame, column: str, ctx: Context
                        ) -> tuple[pd.Series, list[pd.DataFrame]]:
    name = f"{column}.{attr.key}"
    values, problems = evaluate_column("str", name, attr, source, {}, ctx)
    if attr.type == "number" and attr.scale is None:
        values, found = _to_number(values, attr, name)
        problems.append(found)
    elif attr.type == "bool":
        truth = values.astype("str").str.lower().map(_TRUTH)
        bad = values.notna() & truth.isna()
        problems.append(problem(name, values[bad], "is not a yes/no value "
                                f"(source column {attr.source!r})"))
        values = truth.astype("boolean")
    return values, problems


def _json_value(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def build_attributes(attributes: list[AttributeMap], source: pd.DataFrame, column: str,
                     ctx: Context) -> tuple[pd.Series, list[pd.DataFrame]]:
    """The JSON object text per row, in the mapping's key order (missing values as null)."""
    values, problems = {}, []
    for attr in attributes:
        values[attr.key], found = _evaluate_attribute(attr, source, column, ctx)
        problems += found
    records = pd.DataFrame(values, index=source.index).astype("object").to_dict("records")
    texts = [json.dumps({k: _json_value(v) for k, v in r.items()}, ensure_ascii=False)
             for r in records]
    return pd.Series(texts, index=source.index, dtype="str"), problems
