"""The mapping model: a mapping YAML as validated pydantic objects, checked against the
canonical schema (``crm.schema``). The format is described in ``crm.importer``."""

from __future__ import annotations

import fnmatch
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm import schema
from crm.importer.names import snake_case


class MappingError(ValueError):
    """The mapping YAML is invalid, or the source files do not fit it."""


def _text(value: object) -> str | None:
    """A YAML scalar as the text it has in an export cell (true/false for booleans)."""
    if value is None:
        return None
    if hasattr(value, "yaml_text"):
        return value.yaml_text  # a number as written: 01 stays "01", 1.50 stays "1.50"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _as_list(value: object) -> object:
    return value if isinstance(value, list) else [value]


def _check_timezone(name: str | None) -> str | None:
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r} (use an IANA name such as UTC or "
                             f"Asia/Tokyo)") from None
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(_Strict):
    """A test on one source column: ``in`` a list, ``not_in`` a list, or ``missing`` (bool)."""

    column: str
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    missing: bool | None = None

    @field_validator("in_", "not_in", mode="before")
    @classmethod
    def _texts(cls, value: object) -> object:
        return None if value is None else [_text(v) for v in _as_list(value)]

    @model_validator(mode="after")
    def _exactly_one_test(self) -> "Condition":
        given = [n for n, v in (("in", self.in_), ("not_in", self.not_in),
                                ("missing", self.missing)) if v is not None]
        if len(given) != 1:
            raise ValueError(f"condition on {self.column!r} needs exactly one of in, not_in, "
                             f"missing (got {', '.join(given) or 'none'})")
        return self

    def holds(self, source: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``source`` that meet the condition."""
        values = source[self.column]
        if self.missing is not None:
            return (values.isna() == self.missing).to_numpy()
        listed = values.isin(self.in_ if self.in_ is not None else self.not_in).to_numpy()
        return listed if self.in_ is not None else ~listed


class Lookup(_Strict):
    """Allowed values listed in another file of the export (e.g. products.csv:product)."""

    file: str
    column: str


class Timeline(_Strict):
    """A synthetic timestamp: ``start`` + (dense rank of the source number among the rows
    imported, ascending, from 0) x ``step``."""

    start: datetime
    step: str

    _aware = field_validator("start")(lambda cls, v: _aware_start(v))
    _positive = field_validator("step")(lambda cls, v: _positive_step(v))


class RowId(_Strict):
    """A generated row id: ``prefix`` + (``start`` + the row's position in the export, counted
    over all of the table's files in read order, before filters), zero-padded to ``width``."""

    prefix: str = ""
    start: int = 1
    width: int = Field(0, ge=0, le=20)


class RowOrder(_Strict):
    """A synthetic timestamp from the rows' order: ``start`` + position × ``step`` (the export
    is taken to be in time order; positions count over all files, before filters)."""

    start: datetime
    step: str

    _aware = field_validator("start")(lambda cls, v: _aware_start(v))
    _positive = field_validator("step")(lambda cls, v: _positive_step(v))


class Period(_Strict):
    """A timestamp from a period column and the rows' order. ``column`` holds the month of each
    row: ``YYYY-MM`` (or a date), or a month alone (1-12, ``jan``/``January``/``5月``), in which
    case the export must be in time order and ``first_year`` says the first row's year: the
    year rolls over each time the month goes back. The rows of one month are spread evenly over
    it in their order (the k-th of n at start + (k + 0.5) / n of the month), in ``timezone``
    (default: the mapping's, else UTC)."""

    column: str
    first_year: int | None = Field(None, ge=1900, le=2200)
    timezone: str | None = None

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))


def _aware_start(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("start needs a timezone, e.g. 2019-01-01T00:00:00Z")
    return value


def _positive_step(value: str) -> str:
    if parse_duration(value) <= pd.Timedelta(0):
        raise ValueError(f"step {value!r} must be a positive duration such as 57min or 1h")
    return value


class Join(_Strict):
    """Columns of another file of the export, joined to each row on a key (a left join: rows
    without a match keep going, with the joined columns missing).

    ``on`` names the key column (the same name in both files) or ``{left: ..., right: ...}``.
    The joined file's columns are read as ``<name>.<column>`` (``name`` defaults to the file's
    stem); ``present_as`` adds a column holding ``true``/``false``: whether the row's key is in
    the other file (e.g. a label kept in a file of closed deals). Every column of the other file
    must be the key, listed in ``columns`` or listed in ``exclude`` with the reason, as for the
    table's own files. A key repeated in the other file is an error unless ``keep`` says which
    of its rows to use (``first`` or ``last`` in file order)."""

    file: str
    on: str | dict[str, str]
    name: str | None = None
    columns: list[str] = []
    present_as: str | None = None
    exclude: dict[str, str] = {}
    keep: Literal["error", "first", "last"] = "error"
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    @field_validator("columns", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return _as_list(value)

    @field_validator("on")
    @classmethod
    def _keys(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(value, dict) and set(value) != {"left", "right"}:
            raise ValueError("on takes a column name or {left: <column here>, right: <column "
                             "in the joined file>}")
        return value

    @property
    def alias(self) -> str:
        return self.name or Path(self.file).stem

    @property
    def left_key(self) -> str:
        return self.on if isinstance(self.on, str) else self.on["left"]

    @property
    def right_key(self) -> str:
        return self.on if isinstance(self.on, str) else self.on["right"]

    def made_columns(self) -> list[str]:
        """The source columns this join adds to each row."""
        made = [f"{self.alias}.{c}" for c in self.columns]
        return made + ([self.present_as] if self.present_as else [])


def parse_duration(text: str) -> pd.Timedelta:
    """``1D`` / ``57min`` as a Timedelta; a ValueError naming the text otherwise."""
    try:
        return pd.Timedelta(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (examples: 1D, 12h, 57min)") from None


class ColumnMap(_Strict):
    """How one canonical column is made: from a source column, a constant or another column."""

    source: str | None = Field(None, alias="from")
    constant: str | None = None
    copy_of: str | None = None
    offset: str | None = None
    values: dict[str, str | None] | None = None
    unmapped: Literal["reject", "keep"] = "reject"
    default: str | None = None
    missing_values: list[str] = []
    transform: Literal["slug", "lower", "upper"] | None = None
    allowed_from: Lookup | None = None
    scale: float | None = None
    date_format: str | None = None
    timezone: str | None = None
    timeline: Timeline | None = None
    row_id: RowId | None = None
    row_order: RowOrder | None = None
    period: Period | None = None
    when: list[Condition] = []

    @field_validator("constant", "default", mode="before")
    @classmethod
    def _scalar_text(cls, value: object) -> object:
        return _text(value)

    @field_validator("values", mode="before")
    @classmethod
    def _map_texts(cls, value: object) -> object:
        if isinstance(value, dict):
            return {_text(k): _text(v) for k, v in value.items()}
        return value

    @field_validator("missing_values", mode="before")
    @classmethod
    def _token_texts(cls, value: object) -> object:
        return [_text(v) for v in _as_list(value)]

    @field_validator("when", mode="before")
    @classmethod
    def _when_list(cls, value: object) -> object:
        return _as_list(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("offset")
    @classmethod
    def _offset(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> "ColumnMap":
        origins = [n for n, v in (("from", self.source), ("constant", self.constant),
                                  ("copy_of", self.copy_of), ("row_id", self.row_id),
                                  ("row_order", self.row_order), ("period", self.period))
                   if v is not None]
        if len(origins) != 1:
            raise ValueError("needs exactly one of from, constant, copy_of, row_id, row_order, "
                             f"period (got {', '.join(origins) or 'none'})")
        if self.offset is not None and self.copy_of is None:
            raise ValueError("offset is only allowed with copy_of")
        if self.timeline is not None and self.source is None:
            raise ValueError("timeline needs from (the column whose order gives the time)")
        return self

    def source_columns(self) -> set[str]:
        """Source columns this column reads (its ``from`` and ``when`` columns)."""
        period = {self.period.column} if self.period else set()
        return ({self.source} if self.source else set()) | period | {c.column for c in self.when}


class AttributeMap(ColumnMap):
    """One entry of the JSON attributes: a source column, its JSON key and value type."""

    name: str | None = None
    type: Literal["str", "number", "bool"] = "str"

    @model_validator(mode="after")
    def _plain_source(self) -> "AttributeMap":
        if self.source is None:
            raise ValueError("an attribute needs from (a source column)")
        extra = [n for n in ("date_format", "timeline", "timezone", "row_id", "row_order",
                             "period") if getattr(self, n)]
        if extra:
            raise ValueError(f"{', '.join(extra)} not allowed in an attribute")
        return self

    @property
    def key(self) -> str:
        """The JSON key: ``name`` or the source column in snake_case."""
        return self.name or snake_case(self.source or "")


class RowTemplate(_Strict):
    """One canonical row to make from each source row meeting ``when``."""

    when: list[Condition] = []
    columns: dict[str, ColumnMap] = {}

    @field_validator("when", mode="before")
    @classmethod
    def _when_list(cls, value: object) -> object:
        return _as_list(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _short_forms(cls, value: object) -> object:
        return _expand_short_forms(value)


class DuplicateCheck(_Strict):
    """Report rows that repeat an earlier row in every source column except ``ignore``."""

    ignore: list[str] = []


def _expand_short_forms(value: object) -> object:
    if isinstance(value, dict):
        return {k: {"from": v} if isinstance(v, str) else v for k, v in value.items()}
    return value


class TableMap(_Strict):
    """The mapping of one canonical table."""

    file: list[str]
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    missing_values: list[str] | None = None
    filters: list[Condition] = []
    duplicates: DuplicateCheck | None = None
    columns: dict[str, ColumnMap] = {}
    rows: list[RowTemplate] = []
    attributes: list[AttributeMap] = []
    exclude: dict[str, str] = {}
    references: dict[str, str] = {}
    join: list[Join] = []

    @field_validator("file", "filters", "join", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return _as_list(value)

    @field_validator("missing_values", mode="before")
    @classmethod
    def _token_texts(cls, value: object) -> object:
        return None if value is None else [_text(v) for v in _as_list(value)]

    @field_validator("columns", mode="before")
    @classmethod
    def _short_forms(cls, value: object) -> object:
        return _expand_short_forms(value)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attribute_short_forms(cls, value: object) -> object:
        return [{"from": v} if isinstance(v, str) else v for v in _as_list(value or [])]

    def templates(self) -> list[tuple[list[Condition], dict[str, ColumnMap]]]:
        """(when, columns) per canonical row made from a source row; shared columns included."""
        if not self.rows:
            return [([], self.columns)]
        return [(t.when, {**self.columns, **t.columns}) for t in self.rows]

    def source_columns(self) -> dict[str, str]:
        """Every source column the table reads, with where the mapping uses it."""
        used: dict[str, str] = {}
        for i, (when, columns) in enumerate(self.templates()):
            for cond in [*self.filters, *when]:
                used.setdefault(cond.column, "a filter / when condition")
            for name, spec in columns.items():
                for column in spec.source_columns():
                    used.setdefault(column, f"columns.{name}")
        for attr in self.attributes:
            for column in attr.source_columns():
                used.setdefault(column, f"attributes.{attr.key}")
        for column in self.duplicates.ignore if self.duplicates else []:
            used.setdefault(column, "duplicates.ignore")
        for i, join in enumerate(self.join):
            used.setdefault(join.left_key, f"join[{i}].on")
        return used

    def joined_columns(self) -> set[str]:
        """The source columns the joins add (``<name>.<column>`` and ``present_as``)."""
        return {c for join in self.join for c in join.made_columns()}

    def file_columns(self) -> dict[str, str]:
        """The used source columns that must come from the table's own files."""
        joined = self.joined_columns()
        return {c: where for c, where in self.source_columns().items() if c not in joined}

    def is_excluded(self, column: str) -> bool:
        """True if ``column`` matches an ``exclude`` entry (glob patterns allowed)."""
        return any(fnmatch.fnmatchcase(column, pattern) for pattern in self.exclude)


class ImportMapping(_Strict):
    """A parsed and validated mapping YAML (see the module docstring for the format)."""

    version: Literal[1] = 1
    name: str
    description: str = ""
    timezone: str | None = None
    missing_values: list[str] = [""]
    tables: dict[str, TableMap]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("missing_values", mode="before")
    @classmethod
    def _token_texts(cls, value: object) -> object:
        return [_text(v) for v in _as_list(value)]

    @model_validator(mode="after")
    def _fits_schema(self) -> "ImportMapping":
        problems = mapping_problems(self)
        if problems:
            raise ValueError("\n  - ".join(problems))
        return self

    def lookups(self) -> set[tuple[str, str]]:
        """Every (file, column) named by ``allowed_from``."""
        found = set()
        for tmap in self.tables.values():
            specs = [s for _, cols in tmap.templates() for s in cols.values()] + tmap.attributes
            found |= {(s.allowed_from.file, s.allowed_from.column) for s in specs
                      if s.allowed_from is not None}
        return found


# --------------------------------------------------------------------------------------------
# Checking a mapping against the canonical schema
# --------------------------------------------------------------------------------------------

def json_column(spec: schema.TableSpec) -> str | None:
    """The table's JSON column (where attributes go), if it has one."""
    return next((c.name for c in spec.columns if c.kind == "json"), None)


def mapping_problems(mapping: ImportMapping) -> list[str]:
    """Every way the mapping does not fit the canonical schema, one message each."""
    problems: list[str] = []
    order = list(schema.TABLES)
    for table, tmap in mapping.tables.items():
        if table not in schema.TABLES:
            problems.append(f"tables.{table}: not a canonical table (tables: {', '.join(order)})")
            continue
        problems += _table_problems(schema.TABLES[table], tmap, f"tables.{table}")
        problems += _reference_problems_in(table, tmap, mapping, order)
    return problems


def _table_problems(spec: schema.TableSpec, tmap: TableMap, where: str) -> list[str]:
    problems: list[str] = []
    json_col = json_column(spec)
    if tmap.attributes and json_col is None:
        problems.append(f"{where}.attributes: {spec.name} has no JSON column for attributes")
    elif tmap.attributes and any(json_col in cols for _, cols in tmap.templates()):
        problems.append(f"{where}.attributes: {json_col} is also mapped under columns")
    for i, (_, columns) in enumerate(tmap.templates()):
        at = f"{where}.rows[{i}]" if tmap.rows else where
        problems += _template_problems(spec, columns, bool(tmap.attributes), at)
    used = tmap.source_columns()
    for column in sorted(c for c in used if tmap.is_excluded(c)):
        problems.append(f"{where}.exclude: {column!r} is excluded but used by {used[column]}")
    keys = [a.key for a in tmap.attributes]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(f"{where}.attributes: key {key!r} appears more than once")
    return problems


def _template_problems(spec: schema.TableSpec, columns: dict[str, ColumnMap],
                       has_attributes: bool, where: str) -> list[str]:
    problems = [f"{where}.columns.{name}: not a column of {spec.name} (columns: "
                f"{', '.join(spec.column_names)})" for name in columns
                if name not in spec.column_names]
    made = set(columns) | ({json_column(spec)} if has_attributes else set())
    missing = [c.name for c in spec.columns if c.required and c.name not in made]
    if missing:
        problems.append(f"{where}.columns: required column(s) of {spec.name} not mapped: "
                        f"{', '.join(missing)}")
    for name, colmap in columns.items():
        if name in spec.column_names:
            problems += _column_problems(spec, name, colmap, columns, f"{where}.columns.{name}")
    return problems


def _column_problems(spec: schema.TableSpec, name: str, colmap: ColumnMap,
                     columns: dict[str, ColumnMap], where: str) -> list[str]:
    kind = spec.column(name).kind
    problems = []
    if kind != "datetime":
        problems += [f"{where}: {option} is only for timestamp columns ({name} is {kind})"
                     for option in ("date_format", "timezone", "timeline", "offset")
                     if getattr(colmap, option) is not None]
    if colmap.scale is not None and kind not in ("int", "float"):
        problems.append(f"{where}: scale is only for number columns ({name} is {kind})")
    problems += _value_problems(spec.column(name), colmap, where)
    if (colmap.row_order or colmap.period) and kind != "datetime":
        problems.append(f"{where}: row_order and period make timestamps ({name} is {kind})")
    target = colmap.copy_of
    if target is not None and (target not in columns or columns[target].copy_of is not None):
        problems.append(f"{where}: copy_of {target!r} must name a column mapped with from or "
                        "constant in the same table")
    return problems


def _value_problems(column: schema.ColumnSpec, colmap: ColumnMap, where: str) -> list[str]:
    """Constants, value-map targets and defaults that the canonical column cannot hold: found
    once, when the mapping loads, instead of once per row."""
    given = [("constant", colmap.constant), ("default", colmap.default)]
    given += [(f"values[{key!r}]", value) for key, value in (colmap.values or {}).items()]
    problems = []
    for option, text in given:
        reason = None if text is None else value_problem(column, text)
        if reason:
            problems.append(f"{where}.{option}: {text!r} {reason}")
    return problems


def value_problem(column: schema.ColumnSpec, text: str) -> str | None:
    """Why ``text`` cannot be a value of ``column`` (None when it can), by the schema's own
    coercion and its allowed values and bounds. Timestamps are not checked here: they are
    read with the mapping's date format and timezone."""
    if column.kind == "datetime":
        return None
    values, bad, reason = schema.coerce_column(pd.Series([text], dtype="object"), column.kind)
    if bool(bad.iloc[0]):
        return reason
    if column.allowed is not None and text not in column.allowed:
        return f"is not one of {', '.join(column.allowed)}"
    number = values.iloc[0] if column.kind in ("int", "float") else None
    if number is not None and column.min_value is not None and number < column.min_value:
        return f"is below the minimum {column.min_value:g}"
    if number is not None and column.max_value is not None and number > column.max_value:
        return f"is above the maximum {column.max_value:g}"
    return None


def _reference_problems_in(table: str, tmap: TableMap, mapping: ImportMapping,
                           order: list[str]) -> list[str]:
    problems = []
    for column, target in tmap.references.items():
        parent, _, parent_column = target.partition(".")
        where = f"tables.{table}.references.{column}"
        if parent not in mapping.tables or order.index(parent) >= order.index(table):
            problems.append(f"{where}: {target!r} must be <table>.<column> of a table mapped "
                            f"here that loads before {table} ({', '.join(order)})")
        elif parent_column not in schema.TABLES[parent].column_names:
            problems.append(f"{where}: {parent} has no column {parent_column!r}")
    return problems
