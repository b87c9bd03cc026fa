"""Read and write the canonical CRM tables: SQL databases (SQLite, PostgreSQL) and files.

The SQL tables are derived from ``crm.schema`` so the database and the validator agree.
Every write validates first: a frame that breaks the schema raises ``SchemaViolationError``
and nothing is written. Timestamps are stored as UTC (``timestamptz`` on PostgreSQL; ISO text
on SQLite, which has no time-zone type) and always come back as ``datetime64[us, UTC]``.
"""

from __future__ import annotations

import io
import logging
import sqlite3
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crm import schema
from crm.settings import ensure_sqlite_parent
from crm.timestamps import to_utc_series

logger = logging.getLogger(__name__)

Tables = dict[str, pd.DataFrame]
WriteMode = Literal["append", "replace"]
FileFormat = Literal["parquet", "csv"]

_SQL_TYPES = {
    "str": sa.Text,
    "int": sa.BigInteger,
    "float": sa.Float,
    "bool": sa.Boolean,
    "datetime": lambda: sa.DateTime(timezone=True),
    "json": sa.Text,
}
_CHUNK_ROWS = 50_000


def build_metadata() -> sa.MetaData:
    """SQLAlchemy tables for every canonical table, keyed and indexed for the feature queries."""
    metadata = sa.MetaData()
    for spec in schema.TABLES.values():
        columns = [
            sa.Column(c.name, _SQL_TYPES[c.kind](), nullable=not c.required,
                      primary_key=c.name in spec.key)
            for c in spec.columns
        ]
        sa.Table(spec.name, metadata, *columns)
    for table, column in [("leads", "account_id"), ("activities", "lead_id"),
                          ("activities", "account_id"), ("activities", "occurred_at"),
                          ("opportunities", "account_id")]:
        sa.Index(f"ix_{table}_{column}", metadata.tables[table].c[column])
    return metadata


class CRMStore:
    """The canonical tables in one SQL database.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///data/leadscore.db`` or
            ``postgresql+psycopg://user:pw@host/db``.
    """

    def __init__(self, url: str):
        ensure_sqlite_parent(url)
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        self.url = url
        self.engine = sa.create_engine(url)
        self.metadata = build_metadata()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def create_schema(self) -> None:
        """Create any canonical table that does not exist yet."""
        self.metadata.create_all(self.engine)

    def drop_schema(self) -> None:
        """Drop every canonical table (all data is lost)."""
        self.metadata.drop_all(self.engine)

    def write_table(self, table: str, frame: pd.DataFrame, mode: WriteMode = "append") -> int:
        """Validate ``frame`` and write it to ``table``; return the number of rows written.

        ``replace`` empties the table first (in the same transaction). Appending a key that
        exists already fails with the database's integrity error and writes nothing.
        """
        schema.validate_table(table, frame)
        self.create_schema()
        sql_table = self.metadata.tables[table]
        with self.engine.begin() as conn:
            if mode == "replace":
                conn.execute(sql_table.delete())
            elif mode != "append":
                raise ValueError(f"mode must be 'append' or 'replace', not {mode!r}")
            self._insert(conn, table, frame)
        logger.info("wrote %d rows to %s", len(frame), table)
        return len(frame)

    def write_tables(self, tables: Tables, mode: WriteMode = "replace") -> dict[str, int]:
        """Write several tables; all are validated before any is written."""
        for name, frame in tables.items():
            schema.validate_table(name, frame)
        return {name: self.write_table(name, frame, mode) for name, frame in tables.items()}

    def insert_new(self, table: str, frame: pd.DataFrame) -> int:
        """Append only the rows whose key is not stored yet (idempotent ingest); return count."""
        schema.validate_table(table, frame)
        self.create_schema()
        key = list(schema.table_spec(table).key)
        existing = self.read_keys(table, frame[key])
        fresh = frame.merge(existing, on=key, how="left", indicator=True)
        fresh = fresh[fresh["_merge"] == "left_only"].drop(columns="_merge")
        if len(fresh):
            with self.engine.begin() as conn:
                self._insert(conn, table, fresh[frame.columns])
        return len(fresh)

    def read_keys(self, table: str, keys: pd.DataFrame) -> pd.DataFrame:
        """The subset of ``keys`` (key columns of ``table``) that is stored."""
        key = list(schema.table_spec(table).key)
        sql_table = self.metadata.tables[table]
        if len(key) != 1:
            stored = self.read_table(table)[key]
            return stored.merge(keys.drop_duplicates(), on=key)
        column = sql_table.c[key[0]]
        values = keys[key[0]].dropna().unique().tolist()
        found: list[str] = []
        with self.engine.connect() as conn:
            for start in range(0, len(values), 1000):
                chunk = values[start:start + 1000]
                found += conn.execute(sa.select(column).where(column.in_(chunk))).scalars().all()
        return pd.DataFrame({key[0]: pd.Series(found, dtype="str")})

    def read_table(self, table: str, where: sa.ColumnElement | None = None) -> pd.DataFrame:
        """Read ``table`` (optionally filtered) as a canonical frame."""
        spec = schema.table_spec(table)
        self.create_schema()
        query = sa.select(self.metadata.tables[table])
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":  # skip per-row datetime parsing
                compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
                raw = pd.read_sql_query(str(compiled), conn.connection.driver_connection)
            else:
                raw = pd.read_sql_query(query, conn)
        return _from_sql(spec, raw)

    def read_tables(self, names: Iterable[str] | None = None) -> Tables:
        """Read several canonical tables (default: all)."""
        return {name: self.read_table(name) for name in (names or schema.TABLES)}

    def table(self, name: str) -> sa.Table:
        """The SQLAlchemy table, for building ``where`` clauses."""
        return self.metadata.tables[schema.table_spec(name).name]

    def count_rows(self) -> dict[str, int]:
        """Row count per canonical table."""
        self.create_schema()
        with self.engine.connect() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for name, t in self.metadata.tables.items()
            }

    def _insert(self, conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if self.is_postgres:
            _copy_into_postgres(conn, table, frame)
        elif self.engine.dialect.name == "sqlite":
            _executemany_sqlite(conn, table, frame)
        else:
            sql_table = self.metadata.tables[table]
            for start in range(0, len(frame), _CHUNK_ROWS):
                conn.execute(sql_table.insert(), _to_records(frame.iloc[start:start + _CHUNK_ROWS]))


def _to_records(frame: pd.DataFrame) -> list[dict]:
    """Plain Python rows (None for missing, UTC datetimes) for SQLAlchemy's executemany."""
    out = frame.astype(object).where(frame.notna(), None)
    return out.to_dict("records")


def _sqlite_column(values: pd.Series) -> list:
    """One column as Python values sqlite3 accepts; timestamps as SQLAlchemy's UTC text."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        naive = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        text = np.char.replace(np.datetime_as_string(naive, unit="us"), "T", " ")
        return np.where(values.isna().to_numpy(), None, text.astype(object)).tolist()
    return values.astype(object).where(values.notna(), None).tolist()


def _executemany_sqlite(conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
    """Bulk insert through the sqlite3 driver: no per-row SQLAlchemy processing."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    cursor = conn.connection.driver_connection.cursor()
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start:start + _CHUNK_ROWS]
        rows = zip(*(_sqlite_column(chunk[c]) for c in chunk.columns))
        statement = f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
        try:
            cursor.executemany(statement, rows)
        except sqlite3.IntegrityError as err:
            raise sa.exc.IntegrityError(statement, None, err) from None


def _copy_into_postgres(conn: sa.Connection, table: str, frame: pd.DataFrame) -> None:
    """Bulk load through COPY ... FROM STDIN (CSV), far faster than INSERT on PostgreSQL."""
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor:
        for start in range(0, len(frame), _CHUNK_ROWS):
            buffer = io.StringIO()
            frame.iloc[start:start + _CHUNK_ROWS].to_csv(
                buffer, header=False, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buffer.getvalue())


def _from_sql(spec: schema.TableSpec, raw: pd.DataFrame) -> pd.DataFrame:
    """Give a frame read from SQL its canonical dtypes (naive timestamps are stored UTC)."""
    out = {}
    for col in spec.columns:
        values = raw[col.name]
        if col.kind == "datetime":
            out[col.name] = to_utc_series(values, format="ISO8601")
        elif col.kind == "bool":
            out[col.name] = values.astype("boolean")
        else:
            out[col.name] = values.astype(schema.PANDAS_DTYPES[col.kind])
    return pd.DataFrame(out)


def export_tables(tables: Tables, directory: Path | str, fmt: FileFormat = "parquet") -> list[Path]:
    """Write each table to ``directory/<table>.<fmt>``; return the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = directory / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        else:
            raise ValueError(f"format must be 'parquet' or 'csv', not {fmt!r}")
        paths.append(path)
    return paths


def read_table_files(directory: Path | str) -> tuple[Tables, pd.DataFrame]:
    """Read ``<table>.parquet`` or ``<table>.csv`` files in canonical form.

    Returns:
        (tables, violations): rows that break the schema are left out and listed.
    """
    directory = Path(directory)
    tables: Tables = {}
    problems = []
    for name in schema.TABLES:
        parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
        if parquet.exists():
            raw = pd.read_parquet(parquet)
        elif csv.exists():
            raw = pd.read_csv(csv, dtype="str", keep_default_na=False, na_values=[""])
        else:
            continue
        tables[name], violations = schema.split_valid(name, raw)
        problems.append(violations)
    if not tables:
        raise FileNotFoundError(f"no <table>.parquet or <table>.csv files in {directory}")
    return tables, pd.concat(problems, ignore_index=True)
