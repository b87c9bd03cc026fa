"""``import_crm``: read each mapped table's files, map, validate and count them, in schema order."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from crm import schema
from crm.importer.canonical import map_rows, validate_rows
from crm.importer.mapping import ImportMapping, MappingError, TableMap
from crm.importer.reading import read_lookups, read_table_source, resolve_source, table_files
from crm.importer.report import (
    ImportResult,
    TableOutcome,
    assemble_result,
    find_repeated_rows,
    rejection_frame,
)
from crm.importer.transforms import Context

logger = logging.getLogger(__name__)


def _import_table(table: str, tmap: TableMap, raw: pd.DataFrame, ctx: Context,
                  loaded: dict[str, pd.DataFrame], warnings: list[str]) -> TableOutcome:
    """Map, validate and count one table (pure: ``raw`` is already read)."""
    spec = schema.TABLES[table]
    duplicates = None
    if tmap.duplicates is not None:
        duplicates = find_repeated_rows(raw, tmap.duplicates.ignore, table)
        if len(duplicates):
            warnings.append(f"{table}: {len(duplicates):,} source rows repeat an earlier row in "
                            f"every column except {', '.join(tmap.duplicates.ignore)} "
                            "(reported in duplicates, not dropped)")
    mapped = map_rows(spec, tmap, raw, dataclasses.replace(ctx, rows=raw))
    valid, problems = validate_rows(spec, tmap, mapped, loaded, warnings)
    frame = schema.validate_table(table, valid.reset_index(drop=True))
    rejected = problems.index.nunique()
    counts = {"table": table, "source_rows": len(raw), "read": mapped.read,
              "filtered": mapped.filtered, "rejected": rejected, "loaded": len(frame)}
    if mapped.read != len(frame) + rejected + mapped.filtered:
        raise RuntimeError(f"{table}: counts do not add up: {counts}")
    logger.info("imported %s: %s", table, counts)
    return TableOutcome(frame, rejection_frame(spec, mapped, problems), counts, duplicates)


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
    folder, only = resolve_source(Path(source))
    files = {t: table_files(t, mapping.tables[t], folder, only)
             for t in schema.TABLES if t in mapping.tables}
    files = {t: paths for t, paths in files.items() if paths}
    if not files:
        read = only.name if only else folder
        raise MappingError(f"no table of mapping {mapping.name!r} reads {read}")
    ctx = Context(mapping.timezone, read_lookups(mapping, folder))
    warnings = [f"{t}: not imported ({only.name} is not its file)"
                for t in mapping.tables if t not in files]
    outcomes: dict[str, TableOutcome] = {}
    for table, paths in files.items():
        raw = read_table_source(table, mapping.tables[table], paths, folder, mapping)
        loaded = {t: o.loaded for t, o in outcomes.items()}
        outcomes[table] = _import_table(table, mapping.tables[table], raw, ctx, loaded, warnings)
    return assemble_result(outcomes, warnings)
