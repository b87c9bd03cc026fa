"""Value transforms (pure): one canonical column made from the source cells, step by step
(value map, default, transform, allowed values, scale, timeline, date parsing), and the JSON
attributes column."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from crm import schema
from crm.importer.mapping import AttributeMap, ColumnMap, Period, parse_duration
from crm.importer.names import slugify
from crm.importer.problems import SOURCE_POSITION, concat_problems, problem

_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"
_TRUTH = {"true": True, "yes": True, "y": True, "1": True,
          "false": False, "no": False, "n": False, "0": False}


@dataclass
class Context:
    """What every column evaluation may need beyond its own spec."""

    timezone: str | None
    lookups: dict[tuple[str, str], frozenset[str]]
    rows: pd.DataFrame | None = None  # every source row of the table being mapped, in order


def _initial_values(spec: ColumnMap, name: str, source: pd.DataFrame,
                    done: dict[str, pd.Series], ctx: Context
                    ) -> tuple[pd.Series, pd.DataFrame | None]:
    """The column's values before any step: its origin (from, constant, copy_of, row_id,
    row_order, period; ``from`` with ``timeline``)."""
    if spec.row_id is not None:
        number = source[SOURCE_POSITION].to_numpy() + spec.row_id.start
        texts = [f"{spec.row_id.prefix}{n:0{spec.row_id.width}d}" for n in number]
        return pd.Series(texts, index=source.index, dtype="str"), None
    if spec.row_order is not None:
        step = parse_duration(spec.row_order.step)
        start = pd.Timestamp(spec.row_order.start).tz_convert("UTC")
        offsets = pd.to_timedelta(source[SOURCE_POSITION].to_numpy() * step.value, unit="ns")
        return pd.Series(start + offsets, index=source.index).astype(schema.TIMESTAMP_DTYPE), None
    if spec.period is not None:
        return _period_times(spec.period, name, source, ctx)
    if spec.timeline is not None:
        return _apply_timeline(_source_values(spec, source), spec, name)
    return _source_values(spec, source, done), None


def _source_values(spec: ColumnMap, source: pd.DataFrame,
                   done: dict[str, pd.Series] | None = None) -> pd.Series:
    if spec.constant is not None:
        return pd.Series(spec.constant, index=source.index, dtype="str")
    if spec.copy_of is not None and done is not None:
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


def _apply_timeline(values: pd.Series, spec: ColumnMap, name: str
                    ) -> tuple[pd.Series, pd.DataFrame | None]:
    numbers, problems = _to_number(values, spec, name)
    steps = numbers.rank(method="dense") - 1
    offsets = pd.to_timedelta(steps * parse_duration(spec.timeline.step).value, unit="ns")
    start = pd.Timestamp(spec.timeline.start).tz_convert("UTC")
    return (start + offsets).astype(schema.TIMESTAMP_DTYPE), problems


_MONTH_NAMES = {name: i + 1 for i, names in enumerate(zip(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"))) for name in names}
_YEAR_MONTH = re.compile(r"^(\d{4})[-/.](\d{1,2})(?:[-/.]\d{1,2})?")


def _month_of(text: str) -> tuple[int | None, int | None]:
    """(year or None, month) of a period cell, (None, None) when it is not a month."""
    found = _YEAR_MONTH.match(text)
    if found:
        month = int(found.group(2))
        return (int(found.group(1)), month) if 1 <= month <= 12 else (None, None)
    word = text.strip().lower().removesuffix("月").removesuffix(".")
    if word.isdigit() and 1 <= int(word) <= 12:
        return None, int(word)
    return None, _MONTH_NAMES.get(word)


def _period_times(period: Period, name: str, source: pd.DataFrame, ctx: Context
                  ) -> tuple[pd.Series, pd.DataFrame]:
    """Timestamps from a month column and the row order (see ``Period``), computed over every
    row of the table so that filters and templates never move a row in time."""
    rows = ctx.rows if ctx.rows is not None else source
    cells = rows[period.column].astype("str")
    parsed = [(None, None) if pd.isna(c) else _month_of(c) for c in cells]
    year = np.array([y if y is not None else -1 for y, _ in parsed])
    month = np.array([m if m is not None else -1 for _, m in parsed])
    if ((month > 0) & (year < 0)).any():
        year = _roll_years(month, period.first_year, year)
    reason = np.where(cells.notna().to_numpy() & (month < 0),
                      "is not a month (1-12, a month name or YYYY-MM)",
                      np.where((month > 0) & (year < 0), "has no year: set period.first_year", ""))
    usable = (month > 0) & (year > 0)
    start = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    start[usable] = pd.to_datetime(pd.DataFrame({"year": year[usable], "month": month[usable],
                                                 "day": 1})).to_numpy()
    tz = ZoneInfo(period.timezone or ctx.timezone or "UTC")
    first = start.dt.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    after = (start + pd.offsets.MonthBegin(1)).dt.tz_localize(tz, ambiguous=True,
                                                               nonexistent="shift_forward")
    groups = pd.Series(year * 100 + month, index=rows.index)
    rank = groups.groupby(groups).cumcount().to_numpy()
    size = groups.groupby(groups).transform("size").to_numpy()
    times = (first + (after - first) * ((rank + 0.5) / size)).dt.tz_convert("UTC")
    at = pd.Index(rows[SOURCE_POSITION]).get_indexer(source[SOURCE_POSITION])
    out = times.iloc[at].set_axis(source.index).astype(schema.TIMESTAMP_DTYPE)
    here = pd.Series(reason[at], index=source.index)
    problems = [problem(name, source.loc[here == text, period.column], text)
                for text in here.unique() if text]
    return out.where(here == ""), concat_problems(problems)


def _roll_years(month: np.ndarray, first_year: int | None, year: np.ndarray) -> np.ndarray:
    """Years of month-only rows in time order: ``first_year`` for the first, +1 each time the
    month goes back (rows without a month keep the year running)."""
    if first_year is None:
        return year
    out = year.copy()
    current, previous = first_year, 0
    for i, m in enumerate(month):
        if m < 0:
            continue
        if m < previous:
            current += 1
        previous = m
        if out[i] < 0:
            out[i] = current
    return out


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
    # a time in the spring-forward gap moves to the first valid time after it (02:30 -> 03:00
    # local, pandas' shift_forward); a time repeated in the autumn overlap is read as its first
    # (daylight-saving) occurrence
    local = parsed.dt.tz_localize(tz, ambiguous=np.ones(len(parsed), dtype=bool),
                                  nonexistent="shift_forward")
    gap = parsed.notna() & local.isna()
    reason = f"is not a valid local time in {tz}"
    return (local.dt.tz_convert("UTC").astype(schema.TIMESTAMP_DTYPE),
            problem(name, text[gap], reason))


_STEPS = (_map_values, _fill_default, _apply_transform, _check_allowed, _apply_scale)
_MADE_TIMES = ("timeline", "row_order", "period")


def evaluate_column(kind: str, name: str, spec: ColumnMap, source: pd.DataFrame,
                    done: dict[str, pd.Series], ctx: Context
                    ) -> tuple[pd.Series, list[pd.DataFrame]]:
    """One canonical column for every source row, and the rows it could not make.

    Precedence, in this order: the origin (``from``, ``constant``, ``copy_of``, ``row_id``,
    ``row_order``, ``period``), then ``when`` (rows not meeting it become missing, and nothing
    about them is reported), then the value map, then ``default`` (which fills the rows
    ``when`` left missing too), then transform, allowed values, scale and date parsing.
    """
    values, found = _initial_values(spec, name, source, done, ctx)
    problems: list[pd.DataFrame] = [found] if found is not None and len(found) else []
    if spec.when:
        keep = np.logical_and.reduce([c.holds(source) for c in spec.when])
        values = values.where(keep)
        problems = [p[keep[source.index.get_indexer(p.index)]] for p in problems]
    made_time = any(getattr(spec, origin) is not None for origin in _MADE_TIMES)
    steps = _STEPS + ((_parse_dates,) if kind == "datetime" and not made_time else ())
    for step in steps:
        values, found = step(values, spec, name, ctx)
        if found is not None and len(found):
            problems.append(found)
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
