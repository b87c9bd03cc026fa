"""Reading the export (the I/O edge): files as text frames, checked against the mapping."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from crm.importer.mapping import ImportMapping, Join, MappingError, TableMap
from crm.importer.problems import SOURCE_FILE, SOURCE_POSITION, SOURCE_ROW


def read_file(path: Path, delimiter: str = ",", encoding: str = "utf-8-sig") -> pd.DataFrame:
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


def resolve_source(source: Path) -> tuple[Path, Path | None]:
    """(folder, the one file to import or None) for an export folder or file."""
    if not source.exists():
        raise FileNotFoundError(f"source not found: {source}")
    return (source, None) if source.is_dir() else (source.parent, source)


def table_files(table: str, tmap: TableMap, folder: Path, only: Path | None) -> list[Path]:
    """The files a table reads: its patterns in ``folder``, or ``only`` if it matches one."""
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


def read_table_source(table: str, tmap: TableMap, paths: list[Path], folder: Path,
                      mapping: ImportMapping) -> pd.DataFrame:
    """Read, check and concatenate a table's files; add source file and row columns."""
    parts = []
    for path in paths:
        frame = read_file(path, tmap.delimiter, tmap.encoding)
        label = path.relative_to(folder).as_posix()
        _check_source_columns(table, tmap, mapping, label, list(frame.columns))
        frame[SOURCE_FILE] = label
        frame[SOURCE_ROW] = np.arange(1, len(frame) + 1)
        parts.append(frame)
    combined = pd.concat(parts, ignore_index=True)
    combined[SOURCE_POSITION] = np.arange(len(combined))
    tokens = {"", *(tmap.missing_values if tmap.missing_values is not None
                    else mapping.missing_values)}
    combined = _normalise_missing(combined, tokens)
    for i, join in enumerate(tmap.join):
        other = _normalise_missing(_read_joined(table, i, join, folder), tokens)
        combined = join_file(combined, other, join, f"tables.{table}.join[{i}]")
    return combined


def _read_joined(table: str, i: int, join: Join, folder: Path) -> pd.DataFrame:
    path = folder / join.file
    where = f"tables.{table}.join[{i}]"
    if not path.is_file():
        raise MappingError(f"{where}.file: no file {join.file!r} in {folder}")
    frame = read_file(path, join.delimiter, join.encoding)
    columns = list(frame.columns)
    missing = [c for c in [join.right_key, *join.columns] if c not in columns]
    if missing:
        raise MappingError(f"{join.file}: missing column(s) {missing} (used by {where}); "
                           f"columns in the file: {columns}")
    known = {join.right_key, *join.columns}
    unlisted = [c for c in columns if c not in known
                and not any(fnmatch.fnmatchcase(c, pattern) for pattern in join.exclude)]
    if unlisted:
        raise MappingError(f"{join.file}: column(s) {unlisted} are not in the mapping; list them "
                           f"under {where}.columns, or under {where}.exclude with the reason")
    return frame


def join_file(rows: pd.DataFrame, other: pd.DataFrame, join: Join, where: str) -> pd.DataFrame:
    """Left-join ``other``'s listed columns (as ``<name>.<column>``) and ``present_as`` onto
    ``rows`` by the join key; rows keep their order and number."""
    key = other[join.right_key]
    repeated = key.notna() & key.duplicated(keep=False)
    if repeated.any() and join.keep == "error":
        examples = ", ".join(map(repr, key[repeated].unique()[:3]))
        raise MappingError(f"{where}: {int(repeated.sum()):,} rows of {join.file} share a key "
                           f"{join.right_key!r} with another row (e.g. {examples}); set keep: "
                           "first or keep: last to choose one")
    kept = other[key.notna()].drop_duplicates(join.right_key, keep=join.keep
                                              if join.keep != "error" else "first")
    lookup = kept.set_index(join.right_key)
    position = lookup.index.get_indexer(rows[join.left_key])
    found = position >= 0
    out = rows.copy()
    for column in join.columns:
        values = lookup[column].to_numpy(dtype=object)[np.where(found, position, 0)]
        out[f"{join.alias}.{column}"] = pd.Series(values, index=rows.index,
                                                  dtype="str").where(found)
    if join.present_as:
        out[join.present_as] = pd.Series(np.where(found, "true", "false"), index=rows.index,
                                         dtype="str")
    return out


def _check_source_columns(table: str, tmap: TableMap, mapping: ImportMapping, label: str,
                          columns: list[str]) -> None:
    used = tmap.file_columns()
    missing = [c for c in used if c not in columns]
    if missing:
        uses = "; ".join(f"{c!r} (used by tables.{table}.{used[c]})" for c in missing)
        raise MappingError(f"{label}: missing source column(s) {uses}; "
                           f"columns in the file: {columns}")
    readers = [t for t in mapping.tables.values() if t.file == tmap.file]
    known = set().union(*(t.file_columns() for t in readers))
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
        if name in (SOURCE_FILE, SOURCE_ROW, SOURCE_POSITION):
            continue
        if isinstance(values.dtype, pd.StringDtype):
            values = values.str.strip()
        elif values.dtype == object:
            values = values.map(lambda v: v.strip() if isinstance(v, str) else v)
        else:
            continue
        out[name] = values.mask(values.isin(list(tokens)))
    return out


def read_lookups(mapping: ImportMapping, folder: Path) -> dict[tuple[str, str], frozenset[str]]:
    """The allowed values of every ``allowed_from`` (file, column) of the mapping."""
    lookups = {}
    for file, column in mapping.lookups():
        path = folder / file
        if not path.is_file():
            raise MappingError(f"allowed_from: file {file!r} not found in {folder}")
        frame = read_file(path)
        if column not in frame.columns:
            raise MappingError(f"{file}: missing source column {column!r} (used by allowed_from);"
                               f" columns in the file: {list(frame.columns)}")
        lookups[(file, column)] = frozenset(frame[column].str.strip().dropna()) - {""}
    return lookups
