"""The canonical CRM data model: five tables, one declarative definition each.

Every other part of leadscore (store, generator, importer, features) reads and writes frames of
this shape. A table definition drives three things, so they cannot drift apart:

* ``coerce_table`` turns raw columns into the canonical dtypes, recording every value it cannot
  convert;
* ``validate_table`` checks a frame with pandera and reports each violation as
  (table, column, row key, value, reason);
* ``crm.store`` derives its SQL tables from the same columns.

Timestamps are timezone-aware UTC (``datetime64[us, UTC]``); JSON columns hold JSON-object text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa

Kind = Literal["str", "int", "float", "bool", "datetime", "json"]

TIMESTAMP_DTYPE = pd.DatetimeTZDtype("us", "UTC")
PANDAS_DTYPES: dict[str, object] = {
    "str": "str",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "datetime": TIMESTAMP_DTYPE,
    "json": "str",
}

LEAD_SOURCES = (
    "inbound_form", "webinar", "exhibition", "outbound_list", "referral", "paid_ads",
    "organic", "partner", "email_campaign", "chat", "other",
)
LEAD_STATUSES = ("new", "mql", "sql", "nurturing", "disqualified", "recycled", "converted")
ACTIVITY_TYPES = (
    "page_view", "pricing_page_view", "content_download", "form_submit", "demo_request",
    "email_sent", "email_open", "email_click", "email_reply", "email_bounce", "unsubscribe",
    "webinar_register", "webinar_attend", "exhibition_visit", "chat",
    "call_attempt", "call_connected", "meeting_booked", "meeting_held",
)
OUTCOMES = ("open", "won", "lost")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical column: its kind, whether it may be missing, and its value rules."""

    name: str
    kind: Kind
    required: bool = False
    allowed: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""


@dataclass(frozen=True)
class RowRule:
    """A rule across columns: ``check(frame)`` is True for rows that pass."""

    name: str
    columns: tuple[str, ...]
    check: Callable[[pd.DataFrame], pd.Series]
    reason: str


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: ordered columns, the key that names a row, and cross-column rules."""

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    rules: tuple[RowRule, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no column {name!r}")


def _not_before(later: str, earlier: str) -> Callable[[pd.DataFrame], pd.Series]:
    def check(frame: pd.DataFrame) -> pd.Series:
        return (frame[later].isna() | frame[earlier].isna() | (frame[later] >= frame[earlier]))

    return check


def _set_together(value: str, stamp: str) -> Callable[[pd.DataFrame], pd.Series]:
    def check(frame: pd.DataFrame) -> pd.Series:
        return frame[value].isna() == frame[stamp].isna()

    return check


def _timestamp_rules(table: str, stamps: list[str], anchor: str) -> tuple[RowRule, ...]:
    return tuple(
        RowRule(f"{table}_{s}_after_{anchor}", (s, anchor), _not_before(s, anchor),
                f"{s} is before {anchor}")
        for s in stamps
    )


C = ColumnSpec

ACCOUNTS = TableSpec(
    name="accounts",
    key=("account_id",),
    description="Companies (firmographics).",
    columns=(
        C("account_id", "str", required=True, description="Stable account key."),
        C("name", "str", required=True, description="Company name (any script)."),
        C("domain", "str", description="Web/e-mail domain, lower case."),
        C("industry", "str", description="Industry label."),
        C("employees", "int", min_value=0, max_value=5_000_000, description="Headcount."),
        C("annual_revenue", "float", min_value=0, description="Annual revenue in USD."),
        C("country", "str", description="ISO 3166-1 alpha-2 country code."),
        C("region", "str", description="Sales region (e.g. JP, APAC, NA, EMEA)."),
        C("founded_year", "int", min_value=1600, max_value=2100, description="Year founded."),
    ),
)

_BANT = ("budget", "authority", "need", "timeline")
LEADS = TableSpec(
    name="leads",
    key=("lead_id",),
    description="People who may buy; status history and BANT with confirmation times.",
    columns=(
        C("lead_id", "str", required=True, description="Stable lead key."),
        C("account_id", "str", description="The lead's company, if known."),
        C("email", "str", description="E-mail address (personal data: never logged)."),
        C("name", "str", description="Full name (personal data: never logged)."),
        C("job_title", "str", description="Job title as typed, English or Japanese."),
        C("department", "str", description="Department as typed."),
        C("source", "str", required=True, allowed=LEAD_SOURCES, description="Lead source."),
        C("owner", "str", description="Inside-sales rep who owns the lead."),
        C("created_at", "datetime", required=True, description="When the lead entered the CRM."),
        C("status", "str", required=True, allowed=LEAD_STATUSES, description="Current status."),
        C("mql_at", "datetime", description="Became marketing-qualified."),
        C("sql_at", "datetime", description="Became sales-qualified (the SQL label)."),
        C("disqualified_at", "datetime", description="Disqualified."),
        C("recycled_at", "datetime", description="Returned to nurturing after loss/hold."),
        C("budget", "bool", description="BANT budget: budget exists."),
        C("budget_confirmed_at", "datetime", description="When budget was confirmed."),
        C("authority", "bool", description="BANT authority: contact decides or is the route."),
        C("authority_confirmed_at", "datetime", description="When authority was confirmed."),
        C("need", "bool", description="BANT need: a problem the product solves."),
        C("need_confirmed_at", "datetime", description="When need was confirmed."),
        C("timeline_months", "float", min_value=0, max_value=120,
          description="BANT timeline: months until the purchase decision, as stated."),
        C("timeline_confirmed_at", "datetime", description="When timeline was confirmed."),
        C("attributes", "json", description="Other CRM fields as a JSON object."),
    ),
    rules=_timestamp_rules(
        "leads",
        ["mql_at", "sql_at", "disqualified_at", "recycled_at"]
        + [f"{b}_confirmed_at" for b in _BANT],
        "created_at",
    )
    + tuple(
        RowRule(f"leads_{b}_confirmed", (value, f"{b}_confirmed_at"),
                _set_together(value, f"{b}_confirmed_at"),
                f"{value} and {b}_confirmed_at must be set together")
        for b, value in zip(_BANT, ("budget", "authority", "need", "timeline_months"))
    ),
)

ACTIVITIES = TableSpec(
    name="activities",
    key=("event_id",),
    description="Marketing and sales touches, one row per event.",
    columns=(
        C("event_id", "str", required=True, description="Idempotency key of the event."),
        C("lead_id", "str", description="The person, if known."),
        C("account_id", "str", description="The company, if known."),
        C("occurred_at", "datetime", required=True, description="When it happened."),
        C("type", "str", required=True, allowed=ACTIVITY_TYPES, description="Event type."),
        C("channel", "str", description="web, email, phone, event, ads, chat, ..."),
        C("properties", "json", description="Event details as a JSON object."),
    ),
    rules=(
        RowRule("activities_subject", ("lead_id", "account_id"),
                lambda f: f["lead_id"].notna() | f["account_id"].notna(),
                "lead_id or account_id is required"),
    ),
)

OPPORTUNITIES = TableSpec(
    name="opportunities",
    key=("opportunity_id",),
    description="Deals, with their current state and outcome.",
    columns=(
        C("opportunity_id", "str", required=True, description="Stable deal key."),
        C("account_id", "str", description="The buying company."),
        C("lead_id", "str", description="The lead the deal originated from."),
        C("owner", "str", description="Field-sales owner."),
        C("product", "str", description="Product or plan."),
        C("amount", "float", min_value=0, description="Deal value in `currency`."),
        C("currency", "str", required=True, description="ISO 4217 code."),
        C("created_at", "datetime", required=True, description="When the deal was created."),
        C("stage", "str", required=True, description="Current stage."),
        C("expected_close_date", "datetime", description="Current expected close date."),
        C("closed_at", "datetime", description="When it was won or lost."),
        C("outcome", "str", required=True, allowed=OUTCOMES, description="open, won or lost."),
        C("loss_reason", "str", description="Why it was lost."),
    ),
    rules=_timestamp_rules("opportunities", ["closed_at"], "created_at")
    + (
        RowRule("opportunities_closed", ("outcome", "closed_at"),
                lambda f: (f["outcome"] == "open") == f["closed_at"].isna(),
                "closed_at must be set exactly when outcome is won or lost"),
    ),
)

OPPORTUNITY_STAGE_HISTORY = TableSpec(
    name="opportunity_stage_history",
    key=("opportunity_id", "entered_at", "stage"),
    description=(
        "One row per change of a deal's stage, amount or expected close date: the state "
        "that began at `entered_at`. Rebuilds any deal as it stood at any past time."
    ),
    columns=(
        C("opportunity_id", "str", required=True, description="The deal."),
        C("stage", "str", required=True, description="Stage from entered_at on."),
        C("entered_at", "datetime", required=True, description="When this state began."),
        C("amount", "float", min_value=0, description="Amount from entered_at on."),
        C("expected_close_date", "datetime", description="Expected close from entered_at on."),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (ACCOUNTS, LEADS, ACTIVITIES, OPPORTUNITIES, OPPORTUNITY_STAGE_HISTORY)
}

VIOLATION_COLUMNS = ["table", "column", "row_key", "value", "reason"]


class SchemaViolationError(ValueError):
    """A frame broke the canonical schema; ``violations`` lists every problem found."""

    def __init__(self, violations: pd.DataFrame, shown: int = 10):
        self.violations = violations
        lines = [
            f"{v.table}.{v.column} [{v.row_key}]: {v.reason} (value: {v.value!r})"
            for v in violations.head(shown).itertuples()
        ]
        more = len(violations) - shown
        tail = [f"... and {more} more"] if more > 0 else []
        super().__init__(
            f"{len(violations)} schema violation(s):\n" + "\n".join(lines + tail)
        )


def require_columns(tables: Mapping[str, pd.DataFrame],
                    needed: Mapping[str, Sequence[str]]) -> None:
    """Raise a ValueError naming the first missing table, or a table's missing columns."""
    for table, columns in needed.items():
        if table not in tables:
            raise ValueError(f"tables has no {table!r} table")
        missing = [c for c in columns if c not in tables[table].columns]
        if missing:
            raise ValueError(f"{table} is missing column(s) {', '.join(missing)}")


def table_spec(table: str) -> TableSpec:
    """Return the spec of a canonical table, with a clear error for an unknown name."""
    try:
        return TABLES[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; canonical tables: {sorted(TABLES)}") from None


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table``."""
    spec = table_spec(table)
    return pd.DataFrame({c.name: pd.Series(dtype=PANDAS_DTYPES[c.kind]) for c in spec.columns})


def row_keys(spec: TableSpec, frame: pd.DataFrame) -> pd.Series:
    """A readable key per row: the key columns joined with '|', or the row position."""
    if all(k in frame.columns for k in spec.key):
        parts = [frame[k].astype("str").fillna("<missing>") for k in spec.key]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + "|" + part
        return joined.reset_index(drop=True)
    return pd.Series([f"row {i}" for i in range(len(frame))], dtype="str")


class _NaiveTimestamps(Exception):
    pass


def coerce_column(values: pd.Series, kind: Kind) -> tuple[pd.Series, pd.Series, str]:
    """Convert ``values`` to ``kind``; return (converted, failed mask, reason for failures)."""
    present = values.notna()
    if kind == "str":
        converted = values.astype("str").str.strip()
        converted = converted.where(converted != "", None).astype("str")
        return converted, pd.Series(False, index=values.index), ""
    if kind in ("int", "float"):
        numeric = pd.to_numeric(values, errors="coerce")
        bad = present & numeric.isna()
        reason = "is not a number"
        if kind == "int":
            fractional = numeric.notna() & (np.floor(numeric) != numeric)
            bad |= fractional | (numeric.notna() & ~np.isfinite(numeric))
            numeric = numeric.where(~bad)
            return numeric.astype("Int64"), bad, "is not a whole number"
        bad |= numeric.notna() & ~np.isfinite(numeric)
        return numeric.where(~bad).astype("float64"), bad, reason
    if kind == "bool":
        truth = {"true": True, "1": True, "yes": True, "y": True,
                 "false": False, "0": False, "no": False, "n": False}
        text = values.astype("str").str.strip().str.lower()
        mapped = text.map(truth)
        bad = present & mapped.isna()
        return mapped.astype("boolean"), bad, "is not a yes/no value"
    if kind == "datetime":
        try:
            if isinstance(values.dtype, pd.DatetimeTZDtype):
                return values.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE), pd.Series(
                    False, index=values.index), ""
            if pd.api.types.is_datetime64_dtype(values.dtype):
                raise _NaiveTimestamps()
            parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        except (_NaiveTimestamps, TypeError, ValueError):
            bad = present
            return (pd.Series(pd.NaT, index=values.index, dtype=TIMESTAMP_DTYPE), bad,
                    "is not a timezone-aware timestamp")
        naive = present & ~values.astype("str").str.contains(
            r"(?:Z|[+-]\d{2}:?\d{2}|UTC)$", regex=True, na=False)
        bad = (present & parsed.isna()) | naive
        return (parsed.where(~bad).astype(TIMESTAMP_DTYPE), bad,
                "is not a timezone-aware timestamp")
    if kind == "json":
        def _is_object(text: object) -> bool:
            try:
                return isinstance(json.loads(text), dict)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return False

        converted = values.astype("str")
        bad = present & ~converted.map(_is_object).astype(bool)
        return converted.where(~bad), bad, "is not a JSON object"
    raise ValueError(f"unknown column kind {kind!r}")


def coerce_table(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cast ``frame`` to the canonical columns and dtypes of ``table``.

    Missing optional columns are added empty; extra columns are dropped. A value that cannot be
    converted becomes missing and is reported.

    Returns:
        (coerced frame, violations) where violations has ``VIOLATION_COLUMNS``.
    """
    spec = table_spec(table)
    keys = row_keys(spec, frame)
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series] = {}
    problems: list[pd.DataFrame] = []
    for col in spec.columns:
        if col.name not in frame.columns:
            out[col.name] = pd.Series(None, index=frame.index, dtype=PANDAS_DTYPES[col.kind])
            if col.required:
                problems.append(_violations(spec.name, col.name, keys, None,
                                            "required column is missing"))
            continue
        converted, bad, reason = coerce_column(frame[col.name], col.kind)
        out[col.name] = converted
        if bad.any():
            problems.append(_violations(spec.name, col.name, keys[bad.to_numpy()],
                                        frame.loc[bad, col.name], reason))
    return pd.DataFrame(out), _concat_violations(problems)


def coerce_rows(table: str, rows: pd.DataFrame | list[dict]) -> pd.DataFrame:
    """``coerce_table`` for rows that must convert cleanly: raise on any unconvertible value.

    Raises:
        SchemaViolationError: listing every value that could not be converted.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    coerced, problems = coerce_table(table, frame)
    if len(problems):
        raise SchemaViolationError(problems)
    return coerced


def _violations(table: str, column: str, keys: pd.Series, values: object,
                reason: str) -> pd.DataFrame:
    n = len(keys)
    vals = (pd.Series(values).astype("str").to_numpy() if values is not None
            else np.full(n, None, dtype=object))
    return pd.DataFrame({"table": table, "column": column, "row_key": keys.to_numpy(),
                         "value": vals, "reason": reason}, index=range(n))


def _concat_violations(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in VIOLATION_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def _pandera_schema(spec: TableSpec) -> pa.DataFrameSchema:
    columns = {}
    for col in spec.columns:
        checks = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed),
                                        error=f"not one of {', '.join(col.allowed)}"))
        if col.min_value is not None:
            checks.append(pa.Check.ge(col.min_value, error=f"is below {col.min_value:g}"))
        if col.max_value is not None:
            checks.append(pa.Check.le(col.max_value, error=f"is above {col.max_value:g}"))
        columns[col.name] = pa.Column(PANDAS_DTYPES[col.kind], checks=checks,
                                      nullable=not col.required)
    rules = [pa.Check(rule.check, error=rule.reason, name=rule.name) for rule in spec.rules]
    return pa.DataFrameSchema(columns, checks=rules, unique=list(spec.key), strict=True,
                              ordered=False, report_duplicates="all")


_SCHEMAS: dict[str, pa.DataFrameSchema] = {}


def _schema_for(spec: TableSpec) -> pa.DataFrameSchema:
    if spec.name not in _SCHEMAS:
        _SCHEMAS[spec.name] = _pandera_schema(spec)
    return _SCHEMAS[spec.name]


def find_violations(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Every way ``frame`` breaks the schema of ``table``, one row per (row, column, reason)."""
    spec = table_spec(table)
    frame = frame.reset_index(drop=True)
    try:
        _schema_for(spec).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        return _translate_failures(spec, frame, err.failure_cases)
    return _concat_violations([])


def _translate_failures(spec: TableSpec, frame: pd.DataFrame,
                        failures: pd.DataFrame) -> pd.DataFrame:
    keys = row_keys(spec, frame)
    rules = {r.name: r for r in spec.rules} | {r.reason: r for r in spec.rules}
    rows = []
    for f in failures.itertuples():
        check, column, index = str(f.check), f.column, f.index
        if check in rules:
            rule = rules[check]
            column = ",".join(rule.columns)
            reason = rule.reason
            value = _row_values(frame, rule.columns, index)
        elif check == "not_nullable":
            reason, value = "is required but missing", None
        elif check in ("field_uniqueness", "multiple_fields_uniqueness"):
            column, reason = ",".join(spec.key), "duplicate key"
            value = None if index is None else keys.iloc[int(index)]
        elif check.startswith("dtype("):
            reason = f"has dtype {f.failure_case}, expected {check[6:-1]}"
            value, index = None, None
        elif check.startswith("column_in_dataframe"):
            reason, value, index = "required column is missing", None, None
        elif check.startswith("column_in_schema"):
            column, reason, value, index = f.failure_case, "is not a canonical column", None, None
        else:
            reason, value = check, f.failure_case
        row_key = "<all rows>" if index is None or pd.isna(index) else keys.iloc[int(index)]
        rows.append((spec.name, column, row_key, None if value is None else str(value), reason))
    return pd.DataFrame(rows, columns=VIOLATION_COLUMNS).drop_duplicates(ignore_index=True)


def _row_values(frame: pd.DataFrame, columns: tuple[str, ...], index: object) -> str | None:
    if index is None or pd.isna(index):
        return None
    row = frame.iloc[int(index)]
    return ", ".join(f"{c}={row[c]}" for c in columns)


def validate_table(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` if it meets the schema of ``table``; raise SchemaViolationError if not."""
    violations = find_violations(table, frame)
    if len(violations):
        raise SchemaViolationError(violations)
    return frame


def split_valid(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce and validate ``frame``; keep the rows that pass and report the rest.

    Rows with any violation are rejected whole; duplicate keys keep their first row.

    Returns:
        (valid canonical rows, violations) — every rejected row appears in violations.
    """
    coerced, coercion_problems = coerce_table(table, frame)
    spec = table_spec(table)
    keys = row_keys(spec, frame.reset_index(drop=True))
    convertible = ~keys.isin(set(coercion_problems["row_key"])).to_numpy()
    duplicated = coerced.duplicated(list(spec.key), keep="first").to_numpy()
    dup_report = _violations(table, ",".join(spec.key), keys[duplicated], None,
                             "duplicate key (first row kept)")
    candidate = coerced[convertible & ~duplicated]
    rule_problems = find_violations(table, candidate)
    keep = ~keys[convertible & ~duplicated].isin(set(rule_problems["row_key"])).to_numpy()
    violations = _concat_violations([coercion_problems, dup_report, rule_problems])
    return candidate[keep].reset_index(drop=True), violations


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def describe_markdown() -> str:
    """The data model as Markdown tables (the README's "Data model" section is this text)."""
    parts = []
    for spec in TABLES.values():
        parts.append(f"**`{spec.name}`** — {spec.description} Key: `{', '.join(spec.key)}`.\n")
        parts.append("| column | type | required | rule | meaning |\n|---|---|---|---|---|")
        for col in spec.columns:
            rule = []
            if col.allowed:
                rule.append("one of " + ", ".join(f"`{v}`" for v in col.allowed))
            if col.min_value is not None:
                rule.append(f"≥ {_number(col.min_value)}")
            if col.max_value is not None:
                rule.append(f"≤ {_number(col.max_value)}")
            parts.append(f"| `{col.name}` | {col.kind} | {'yes' if col.required else ''} | "
                         f"{'; '.join(rule)} | {col.description} |")
        for row_rule in spec.rules:
            parts.append(f"| *rule* | | | | {row_rule.reason} |")
        parts.append("")
    return "\n".join(parts)
