"""Import a CRM export into the canonical tables with a declarative mapping YAML.

A mapping says, per canonical table, which export file(s) to read and how each canonical column
is made from the source columns. ``import_crm`` reads the files, applies the mapping, validates
the result against ``crm.schema`` and returns the canonical rows plus a rejection report.
Nothing is dropped silently: for every table ``read = loaded + rejected + filtered``.

Mapping YAML (full guide with examples: ``config/mappings/README.md``)::

    version: 1
    name: my_crm
    timezone: Asia/Tokyo          # assumed for naive dates ("2024-04-01 09:00"); none = reject them
    missing_values: ["", "NA"]    # source cells that mean "not filled in" ("" always does)
    tables:
      leads:                      # a canonical table
        file: leads.csv           # or a list / glob ("leads_*.csv"), relative to the source folder
        encoding: utf-8-sig       # cp932 for Shift-JIS exports; delimiter: "," likewise
        missing_values: [...]     # replaces the mapping-level list for this table
        filters:                  # deliberate drops (counted as filtered, not rejected)
          - {column: Status, not_in: [Test]}
        duplicates: {ignore: [Id]}   # report rows repeating an earlier one (not dropped)
        columns:                  # canonical column: how to make it
          lead_id: Id             # short form: copy a source column
          source:
            from: Lead Source     # the source column
            values: {Google: paid_ads, Seminar: webinar}   # value map
            unmapped: reject      # or keep (pass unlisted values through)
            default: other        # when missing after mapping
          created_at: {from: Created, date_format: "%Y/%m/%d %H:%M", timezone: Asia/Tokyo}
          sql_at: {copy_of: created_at, offset: 1D, when: {column: Converted, in: ["1"]}}
          account_id: {from: Company, transform: slug}   # or lower / upper
          currency: {constant: JPY}
        attributes:               # extra source columns kept in the JSON column (leads.attributes)
          - Industry                          # key = snake_case name, value = text
          - {from: Visits, type: number}      # numbers stay numbers in the JSON
          - {from: Opt Out, type: bool, name: opted_out}
        exclude:                  # source columns deliberately not imported, with the reason
          Tags: filled in by sales after contact; leaks the outcome
        references: {account_id: accounts.account_id}   # must be among the loaded accounts

More column options: ``missing_values`` (extra tokens for this column), ``allowed_from:
{file, column}`` (value must be listed in another file), ``scale`` (multiply a number),
``timeline: {start, step}`` (a synthetic timestamp from a monotone id's order) and ``when``
(the value is set only on rows meeting the conditions, missing elsewhere). A table may list
``rows:`` templates (each with ``when`` and ``columns``) to make several canonical rows from one
source row, e.g. stage-history rows from two date columns.

Every source column of a file must be used, listed under ``attributes`` or listed under
``exclude``; an unmentioned column is an error, so a new CRM field is never imported (or
dropped) by accident. Source row numbers in reports are 1-based data rows (row 1 is the first
row after the header).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crm import schema

logger = logging.getLogger(__name__)

REJECTION_COLUMNS = ["table", "source_file", "source_row", "row_key", "column", "value", "reason"]
COUNT_COLUMNS = ["table", "source_rows", "read", "filtered", "rejected", "loaded"]
DUPLICATE_COLUMNS = ["table", "source_file", "source_row", "first_source_file", "first_source_row"]
_FILE, _ROW = "__source_file__", "__source_row__"
_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"
_TRUTH = {"true": True, "yes": True, "y": True, "1": True,
          "false": False, "no": False, "n": False, "0": False}


class MappingError(ValueError):
    """The mapping YAML is invalid, or the source files do not fit it."""


# --------------------------------------------------------------------------------------------
# The mapping model
# --------------------------------------------------------------------------------------------

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

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start needs a timezone, e.g. 2019-01-01T00:00:00Z")
        return value

    @field_validator("step")
    @classmethod
    def _positive(cls, value: str) -> str:
        if _timedelta(value) <= pd.Timedelta(0):
            raise ValueError(f"step {value!r} must be a positive duration such as 57min or 1h")
        return value


def _timedelta(text: str) -> pd.Timedelta:
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
            _timedelta(value)
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> "ColumnMap":
        origins = [n for n, v in (("from", self.source), ("constant", self.constant),
                                  ("copy_of", self.copy_of)) if v is not None]
        if len(origins) != 1:
            raise ValueError("needs exactly one of from, constant, copy_of "
                             f"(got {', '.join(origins) or 'none'})")
        if self.offset is not None and self.copy_of is None:
            raise ValueError("offset is only allowed with copy_of")
        if self.timeline is not None and self.source is None:
            raise ValueError("timeline needs from (the column whose order gives the time)")
        return self

    def source_columns(self) -> set[str]:
        """Source columns this column reads (its ``from`` and ``when`` columns)."""
        return ({self.source} if self.source else set()) | {c.column for c in self.when}


class AttributeMap(ColumnMap):
    """One entry of the JSON attributes: a source column, its JSON key and value type."""

    name: str | None = None
    type: Literal["str", "number", "bool"] = "str"

    @model_validator(mode="after")
    def _plain_source(self) -> "AttributeMap":
        if self.source is None:
            raise ValueError("an attribute needs from (a source column)")
        extra = [n for n in ("date_format", "timeline", "timezone") if getattr(self, n)]
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

    @field_validator("file", "filters", mode="before")
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
        return used

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
        problems = _mapping_problems(self)
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

def _json_column(spec: schema.TableSpec) -> str | None:
    return next((c.name for c in spec.columns if c.kind == "json"), None)


def _mapping_problems(mapping: ImportMapping) -> list[str]:
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
    json_col = _json_column(spec)
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
    made = set(columns) | ({_json_column(spec)} if has_attributes else set())
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
    target = colmap.copy_of
    if target is not None and (target not in columns or columns[target].copy_of is not None):
        problems.append(f"{where}: copy_of {target!r} must name a column mapped with from or "
                        "constant in the same table")
    return problems


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


# --------------------------------------------------------------------------------------------
# Loading a mapping
# --------------------------------------------------------------------------------------------

class _MappingLoader(yaml.SafeLoader):
    """YAML 1.2 booleans (Yes/No/On/Off/NO stay text: they are CRM values and country codes),
    numbers that keep their written text, and an error on duplicate keys (a value map listing
    a value twice)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r} (quote keys that must "
                    "differ as text, e.g. '01' and '1')", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _YamlInt(int):
    yaml_text: str


class _YamlFloat(float):
    yaml_text: str


def _construct_number(loader: _MappingLoader, node: yaml.ScalarNode) -> int | float:
    """Numbers remember how they were written, for value maps keyed by codes such as 01."""
    if node.tag.endswith(":int"):
        number: int | float = _YamlInt(loader.construct_yaml_int(node))
    else:
        number = _YamlFloat(loader.construct_yaml_float(node))
    number.yaml_text = node.value  # type: ignore[union-attr]
    return number


_MappingLoader.add_constructor("tag:yaml.org,2002:int", _construct_number)
_MappingLoader.add_constructor("tag:yaml.org,2002:float", _construct_number)
_MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def load_mapping(path: Path | str) -> ImportMapping:
    """Read and validate a mapping YAML.

    Raises:
        MappingError: the file is missing, is not YAML, or breaks the mapping format; the
            message names each bad key by its path (e.g. ``tables.leads.columns.source``).
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_MappingLoader)
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except yaml.YAMLError as err:
        raise MappingError(f"{path}: not valid YAML: {err}") from None
    return parse_mapping(data, origin=str(path))


def parse_mapping(data: object, origin: str = "<mapping>") -> ImportMapping:
    """Validate an already-parsed mapping (a dict as ``load_mapping`` reads it from YAML)."""
    if not isinstance(data, dict):
        raise MappingError(f"{origin}: a mapping must be a YAML mapping with keys name, tables")
    try:
        return ImportMapping.model_validate(data)
    except ValidationError as err:
        raise MappingError(_describe_errors(err, origin)) from None


def _describe_errors(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if e["type"] == "extra_forbidden":
            where, message = ".".join(loc[:-1]), f"unknown key {loc[-1]!r}"
        else:
            where, message = ".".join(loc), str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {where}: {message}" if where else f"  - {message}")
    return f"{origin}: invalid mapping:\n" + "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Reading the export (the I/O edge)
# --------------------------------------------------------------------------------------------

def _read_file(path: Path, delimiter: str = ",", encoding: str = "utf-8-sig") -> pd.DataFrame:
    """Read a CSV (all cells as text) or Parquet file; column names are stripped."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = _parquet_as_text(pd.read_parquet(path))
        elif suffix in (".csv", ".tsv", ".txt"):
            frame = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[],
                                sep=delimiter, encoding=encoding)
        else:
            raise MappingError(f"{path.name}: unsupported file type {suffix!r} (.csv or .parquet)")
    except UnicodeDecodeError:
        raise MappingError(f"{path.name}: cannot be read as {encoding}; set encoding in the "
                           "mapping (e.g. cp932 for Shift-JIS exports)") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _parquet_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet columns as export text; timestamps stay timestamps (naive ones are read in the
    mapping's timezone when parsed)."""
    out = {}
    for name, values in frame.items():
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[name] = values
            continue
        if pd.api.types.is_float_dtype(values.dtype):
            whole = values.dropna()
            if len(whole) == len(whole[np.isfinite(whole) & (whole == np.floor(whole))]):
                values = values.astype("Int64")
        text = values.astype("str") if not pd.api.types.is_bool_dtype(values.dtype) else (
            values.map({True: "true", False: "false"}))
        out[name] = text.where(values.notna())
    return pd.DataFrame(out, index=frame.index)


def _resolve_source(source: Path) -> tuple[Path, Path | None]:
    if not source.exists():
        raise FileNotFoundError(f"source not found: {source}")
    return (source, None) if source.is_dir() else (source.parent, source)


def _table_files(table: str, tmap: TableMap, folder: Path, only: Path | None) -> list[Path]:
    if only is not None:
        hits = any(fnmatch.fnmatchcase(only.name, pattern) for pattern in tmap.file)
        return [only] if hits else []
    paths: list[Path] = []
    for pattern in tmap.file:
        found = sorted(folder.glob(pattern)) if any(ch in pattern for ch in "*?[") else (
            [folder / pattern] if (folder / pattern).is_file() else [])
        if not found:
            raise MappingError(f"tables.{table}.file: no file {pattern!r} in {folder}")
        paths += [p for p in found if p not in paths]
    return paths


def _read_table_source(table: str, tmap: TableMap, paths: list[Path], folder: Path,
                       mapping: ImportMapping) -> pd.DataFrame:
    """Read, check and concatenate a table's files; add source file and row columns."""
    parts = []
    for path in paths:
        frame = _read_file(path, tmap.delimiter, tmap.encoding)
        label = path.relative_to(folder).as_posix()
        _check_source_columns(table, tmap, mapping, label, list(frame.columns))
        frame[_FILE] = label
        frame[_ROW] = np.arange(1, len(frame) + 1)
        parts.append(frame)
    combined = pd.concat(parts, ignore_index=True)
    tokens = {"", *(tmap.missing_values if tmap.missing_values is not None
                    else mapping.missing_values)}
    return _normalise_missing(combined, tokens)


def _check_source_columns(table: str, tmap: TableMap, mapping: ImportMapping, label: str,
                          columns: list[str]) -> None:
    used = tmap.source_columns()
    missing = [c for c in used if c not in columns]
    if missing:
        uses = "; ".join(f"{c!r} (used by tables.{table}.{used[c]})" for c in missing)
        raise MappingError(f"{label}: missing source column(s) {uses}; "
                           f"columns in the file: {columns}")
    readers = [t for t in mapping.tables.values() if t.file == tmap.file]
    known = set().union(*(t.source_columns() for t in readers))
    unlisted = [c for c in columns if c not in known and not any(t.is_excluded(c) for t in readers)]
    if unlisted:
        raise MappingError(f"{label}: column(s) {unlisted} are not in the mapping; map them, "
                           f"list them under tables.{table}.attributes, or list them under "
                           f"tables.{table}.exclude with the reason")


def _normalise_missing(frame: pd.DataFrame, tokens: set[str]) -> pd.DataFrame:
    """Strip text cells and turn missing-value tokens into NA (non-text cells stay as they are:
    a column mixing CSV text and Parquet timestamps is object-typed)."""
    out = frame.copy()
    for name in frame.columns:
        values = frame[name]
        if name in (_FILE, _ROW):
            continue
        if isinstance(values.dtype, pd.StringDtype):
            values = values.str.strip()
        elif values.dtype == object:
            values = values.map(lambda v: v.strip() if isinstance(v, str) else v)
        else:
            continue
        out[name] = values.mask(values.isin(list(tokens)))
    return out


def _read_lookups(mapping: ImportMapping, folder: Path) -> dict[tuple[str, str], frozenset[str]]:
    lookups = {}
    for file, column in mapping.lookups():
        path = folder / file
        if not path.is_file():
            raise MappingError(f"allowed_from: file {file!r} not found in {folder}")
        frame = _read_file(path)
        if column not in frame.columns:
            raise MappingError(f"{file}: missing source column {column!r} (used by allowed_from);"
                               f" columns in the file: {list(frame.columns)}")
        lookups[(file, column)] = frozenset(frame[column].str.strip().dropna()) - {""}
    return lookups


# --------------------------------------------------------------------------------------------
# Mapping source rows to canonical rows (pure)
# --------------------------------------------------------------------------------------------

@dataclass
class _Context:
    timezone: str | None
    lookups: dict[tuple[str, str], frozenset[str]]


def _problem(column: str, values: pd.Series, reason: str) -> pd.DataFrame:
    """Problems of the rows in ``values`` (index = row position)."""
    return pd.DataFrame({"column": column, "value": values.astype("object").where(
        values.notna(), None).map(lambda v: None if v is None else str(v)), "reason": reason},
        index=values.index)


def snake_case(name: str) -> str:
    """``Total Time Spent`` / ``TotalVisits`` -> ``total_time_spent`` / ``total_visits``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"\W+", "_", spaced).strip("_").lower()


def slugify(text: str) -> str | None:
    """A stable key from a name: NFKC, lower case, runs of non-word characters -> '-'."""
    slug = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFKC", text).lower()).strip("-")
    return slug or None


def _initial_values(spec: ColumnMap, source: pd.DataFrame, done: dict[str, pd.Series]
                    ) -> pd.Series:
    if spec.constant is not None:
        return pd.Series(spec.constant, index=source.index, dtype="str")
    if spec.copy_of is not None:
        values = done[spec.copy_of]
        return values + _timedelta(spec.offset) if spec.offset else values
    values = source[spec.source]
    if spec.missing_values and pd.api.types.is_string_dtype(values.dtype):
        values = values.mask(values.isin(spec.missing_values))
    return values


def _map_values(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.values is None:
        return values, None
    known = values.isin(list(spec.values))
    mapped = values.map(spec.values).astype("str")
    if spec.unmapped == "keep":
        return mapped.where(known, values), None
    unknown = values.notna() & ~known
    reason = f"has a value that is not in its value map (source column {spec.source!r})"
    return mapped, _problem(name, values[unknown], reason)


def _fill_default(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                  ) -> tuple[pd.Series, None]:
    return (values if spec.default is None else values.fillna(spec.default)), None


def _apply_transform(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                     ) -> tuple[pd.Series, None]:
    if spec.transform == "slug":
        return values.map(slugify, na_action="ignore").astype("str"), None
    if spec.transform in ("lower", "upper"):
        return getattr(values.astype("str").str, spec.transform)(), None
    return values, None


def _check_allowed(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                   ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.allowed_from is None:
        return values, None
    lookup = spec.allowed_from
    bad = values.notna() & ~values.isin(list(ctx.lookups[(lookup.file, lookup.column)]))
    reason = f"is not listed in {lookup.file} column {lookup.column!r}"
    return values.mask(bad), _problem(name, values[bad], reason)


def _to_number(values: pd.Series, spec: ColumnMap, name: str) -> tuple[pd.Series, pd.DataFrame]:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (numbers.isna() | ~np.isfinite(numbers.fillna(0)))
    where = f" (source column {spec.source!r})" if spec.source else ""
    return numbers.mask(bad).astype("float64"), _problem(name, values[bad],
                                                         f"is not a number{where}")


def _apply_scale(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                 ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.scale is None:
        return values, None
    numbers, problems = _to_number(values, spec, name)
    return numbers * spec.scale, problems


def _apply_timeline(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
                    ) -> tuple[pd.Series, pd.DataFrame | None]:
    if spec.timeline is None:
        return values, None
    numbers, problems = _to_number(values, spec, name)
    steps = numbers.rank(method="dense") - 1
    offsets = pd.to_timedelta(steps * _timedelta(spec.timeline.step).value, unit="ns")
    start = pd.Timestamp(spec.timeline.start).tz_convert("UTC")
    return (start + offsets).astype(schema.TIMESTAMP_DTYPE), problems


def _parse_dates(values: pd.Series, spec: ColumnMap, name: str, ctx: _Context
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
    problems = _concat_problems([])
    if naive.any():
        parsed = pd.to_datetime(text[naive], format=fmt, errors="coerce")
        local, problems = _localise(parsed, tz, name, text[naive])
        out.loc[naive] = local
    unparsed = text.notna() & out.isna() & ~text.index.isin(problems.index)
    return out, _concat_problems([problems, _problem(name, text[unparsed], _format_reason(spec))])


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
                _problem(name, text[given], reason))
    local = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    gap = parsed.notna() & local.isna()
    reason = f"is not a valid local time in {tz} (daylight-saving gap or overlap)"
    return (local.dt.tz_convert("UTC").astype(schema.TIMESTAMP_DTYPE),
            _problem(name, text[gap], reason))


_STEPS = (_map_values, _fill_default, _apply_transform, _check_allowed, _apply_scale,
          _apply_timeline)


def _evaluate_column(kind: str, name: str, spec: ColumnMap, source: pd.DataFrame,
                     done: dict[str, pd.Series], ctx: _Context
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


def _evaluate_attribute(attr: AttributeMap, source: pd.DataFrame, column: str, ctx: _Context
                        ) -> tuple[pd.Series, list[pd.DataFrame]]:
    name = f"{column}.{attr.key}"
    values, problems = _evaluate_column("str", name, attr, source, {}, ctx)
    if attr.type == "number" and attr.scale is None:
        values, found = _to_number(values, attr, name)
        problems.append(found)
    elif attr.type == "bool":
        truth = values.astype("str").str.lower().map(_TRUTH)
        bad = values.notna() & truth.isna()
        problems.append(_problem(name, values[bad], "is not a yes/no value "
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


def _build_attributes(attributes: list[AttributeMap], source: pd.DataFrame, column: str,
                      ctx: _Context) -> tuple[pd.Series, list[pd.DataFrame]]:
    """The JSON object text per row, in the mapping's key order (missing values as null)."""
    values, problems = {}, []
    for attr in attributes:
        values[attr.key], found = _evaluate_attribute(attr, source, column, ctx)
        problems += found
    records = pd.DataFrame(values, index=source.index).astype("object").to_dict("records")
    texts = [json.dumps({k: _json_value(v) for k, v in r.items()}, ensure_ascii=False)
             for r in records]
    return pd.Series(texts, index=source.index, dtype="str"), problems


def _evaluate_template(spec: schema.TableSpec, tmap: TableMap, columns: dict[str, ColumnMap],
                       source: pd.DataFrame, ctx: _Context
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical columns (pre-validation) and mapping problems for the rows of ``source``."""
    done: dict[str, pd.Series] = {}
    problems: list[pd.DataFrame] = []
    for name, colmap in sorted(columns.items(), key=lambda kv: kv[1].copy_of is not None):
        done[name], found = _evaluate_column(spec.column(name).kind, name, colmap, source,
                                             done, ctx)
        problems += found
    json_col = _json_column(spec)
    if tmap.attributes and json_col:
        done[json_col], found = _build_attributes(tmap.attributes, source, json_col, ctx)
        problems += found
    return pd.DataFrame(done, index=source.index), _concat_problems(problems)


def _concat_problems(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({"column": pd.Series(dtype="str"), "value": pd.Series(dtype="object"),
                             "reason": pd.Series(dtype="str")})
    return pd.concat(parts)


def _conditions_mask(conditions: list[Condition], source: pd.DataFrame) -> np.ndarray:
    if not conditions:
        return np.ones(len(source), dtype=bool)
    return np.logical_and.reduce([c.holds(source) for c in conditions])


@dataclass
class _Mapped:
    """Canonical rows made from the source (index = row position), before validation."""

    frame: pd.DataFrame
    meta: pd.DataFrame
    problems: pd.DataFrame
    read: int
    filtered: int


def _map_rows(spec: schema.TableSpec, tmap: TableMap, raw: pd.DataFrame, ctx: _Context
              ) -> _Mapped:
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
        metas.append(part[[_FILE, _ROW]].set_axis(part.index + offset))
        problems.append(found.set_axis(found.index + offset))
        offset += len(part)
    meta = pd.concat(metas).sort_values([_FILE, _ROW], kind="stable")  # a source row's rows together
    return _Mapped(_concat_frames(spec, frames).loc[meta.index], meta, _concat_problems(problems),
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
            parts.append(_problem(column, pd.Series(None, index=frame.index, dtype="object"),
                                  str(reason)))
            continue
        before = frame[column]
        present = before.notna() & (before.astype("str").str.strip() != "")
        failed = present & coerced[column].isna()
        parts.append(_problem(column, before[failed], str(reason)))
    return _concat_problems(parts)


def _key_problems(spec: schema.TableSpec, coerced: pd.DataFrame, meta: pd.DataFrame
                  ) -> pd.DataFrame:
    """Missing key parts, and repeated keys (the first row is kept)."""
    key = list(spec.key)
    parts = [_problem(k, pd.Series(None, index=coerced.index[coerced[k].isna()], dtype="object"),
                      "is required but missing") for k in key]
    complete = coerced[coerced[key].notna().all(axis=1)]
    positions = pd.Series(complete.index, index=complete.index)
    first = positions.groupby([complete[k] for k in key], sort=False).transform("first")
    repeated = first[first != positions]
    kept_at = meta.loc[repeated.to_numpy(), _FILE].astype("str") + " row " + meta.loc[
        repeated.to_numpy(), _ROW].astype("str")
    parts.append(_problem(",".join(key), pd.Series(("first row kept: " + kept_at).to_numpy(),
                                                   index=repeated.index),
                          "duplicate key (first row kept)"))
    return _concat_problems(parts)


def _rule_problems(spec: schema.TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.find_violations`` per row position (keys are unique and complete here)."""
    violations = schema.find_violations(spec.name, frame)
    if not len(violations):
        return _concat_problems([])
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
        parts.append(_problem(column, values[bad], f"is not among the loaded {target}"))
    return _concat_problems(parts)


def _drop(frame: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    return frame[~frame.index.isin(problems.index)]


def _validate_rows(spec: schema.TableSpec, tmap: TableMap, mapped: _Mapped,
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
    return candidate, _concat_problems(problems)


# --------------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------------

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
    columns = [c for c in raw.columns if c not in (*ignore, _FILE, _ROW)]
    positions = pd.Series(np.arange(len(raw)), index=raw.index)
    group = raw[columns].groupby(columns, dropna=False, sort=False).ngroup()
    first = positions.groupby(group.to_numpy()).transform("first").to_numpy()
    repeat = first != positions.to_numpy()
    return pd.DataFrame({
        "table": table,
        "source_file": raw[_FILE].to_numpy()[repeat],
        "source_row": raw[_ROW].to_numpy()[repeat],
        "first_source_file": raw[_FILE].to_numpy()[first[repeat]],
        "first_source_row": raw[_ROW].to_numpy()[first[repeat]],
    }).astype({"source_row": "Int64", "first_source_row": "Int64"})


def _rejection_frame(spec: schema.TableSpec, mapped: _Mapped, problems: pd.DataFrame
                     ) -> pd.DataFrame:
    keys = pd.Series(schema.row_keys(spec, mapped.frame).to_numpy(), index=mapped.frame.index)
    at = problems.index
    out = pd.DataFrame({
        "table": spec.name,
        "source_file": mapped.meta.loc[at, _FILE].to_numpy(),
        "source_row": mapped.meta.loc[at, _ROW].to_numpy(),
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
class _TableOutcome:
    loaded: pd.DataFrame
    rejections: pd.DataFrame
    counts: dict[str, object]
    duplicates: pd.DataFrame | None


def _import_table(table: str, tmap: TableMap, raw: pd.DataFrame, ctx: _Context,
                  loaded: dict[str, pd.DataFrame], warnings: list[str]) -> _TableOutcome:
    """Map, validate and count one table (pure: ``raw`` is already read)."""
    spec = schema.TABLES[table]
    duplicates = None
    if tmap.duplicates is not None:
        duplicates = find_repeated_rows(raw, tmap.duplicates.ignore, table)
        if len(duplicates):
            warnings.append(f"{table}: {len(duplicates):,} source rows repeat an earlier row in "
                            f"every column except {', '.join(tmap.duplicates.ignore)} "
                            "(reported in duplicates, not dropped)")
    mapped = _map_rows(spec, tmap, raw, ctx)
    valid, problems = _validate_rows(spec, tmap, mapped, loaded, warnings)
    frame = schema.validate_table(table, valid.reset_index(drop=True))
    rejected = problems.index.nunique()
    counts = {"table": table, "source_rows": len(raw), "read": mapped.read,
              "filtered": mapped.filtered, "rejected": rejected, "loaded": len(frame)}
    if mapped.read != len(frame) + rejected + mapped.filtered:
        raise RuntimeError(f"{table}: counts do not add up: {counts}")
    logger.info("imported %s: %s", table, counts)
    return _TableOutcome(frame, _rejection_frame(spec, mapped, problems), counts, duplicates)


def import_crm(mapping: ImportMapping, source: Path | str) -> ImportResult:
    """Map a CRM export to the canonical tables.

    Args:
        mapping: a validated mapping (``load_mapping``).
        source: the export folder (file names in the mapping are relative to it), or one
            export file: then only the tables reading a file of that name are imported.

    Returns:
        ImportResult with the valid canonical rows, every rejection with its source file and
        row, per-table counts, repeated source rows and warnings.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        MappingError: a file is missing or unreadable, or its columns do not fit the mapping
            (a used column is absent, or a column is neither used nor excluded).
    """
    folder, only = _resolve_source(Path(source))
    files = {t: _table_files(t, mapping.tables[t], folder, only)
             for t in schema.TABLES if t in mapping.tables}
    files = {t: paths for t, paths in files.items() if paths}
    if not files:
        raise MappingError(f"no table of mapping {mapping.name!r} reads {only.name if only else folder}")
    ctx = _Context(mapping.timezone, _read_lookups(mapping, folder))
    warnings = [f"{t}: not imported ({only.name} is not its file)"
                for t in mapping.tables if t not in files]
    outcomes: dict[str, _TableOutcome] = {}
    for table, paths in files.items():
        raw = _read_table_source(table, mapping.tables[table], paths, folder, mapping)
        loaded = {t: o.loaded for t, o in outcomes.items()}
        outcomes[table] = _import_table(table, mapping.tables[table], raw, ctx, loaded, warnings)
    return _assemble(outcomes, warnings)


def _assemble(outcomes: dict[str, _TableOutcome], warnings: list[str]) -> ImportResult:
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
