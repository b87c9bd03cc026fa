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
``timeline: {start, step}`` (a synthetic timestamp from a monotone id's order), generated
origins for exports without ids or times (``row_id: {prefix, start, width}``, ``row_order:
{start, step}``, ``period: {column, first_year}``) and ``when`` (the value is set only on rows
meeting the conditions; ``default`` fills the others). A table may ``join`` columns of another
file on a key (``present_as`` says whether the key is there, e.g. a label). A table may list
``rows:`` templates (each with ``when`` and ``columns``) to make several canonical rows from one
source row, e.g. stage-history rows from two date columns.

Every source column of a file must be used, listed under ``attributes`` or listed under
``exclude``; an unmentioned column is an error, so a new CRM field is never imported (or
dropped) by accident. Source row numbers in reports are 1-based data rows (row 1 is the first
row after the header).

The package, by responsibility: ``mapping`` (the model and its checks against the schema),
``loading`` (the YAML dialect), ``reading`` (export files), ``transforms`` (one column's
values), ``canonical`` (rows through templates, then validation), ``report`` (the result and
its text), ``run`` (``import_crm``).
"""

from crm.importer.loading import load_mapping, parse_mapping
from crm.importer.mapping import (
    AttributeMap,
    ColumnMap,
    Condition,
    ImportMapping,
    MappingError,
    TableMap,
)
from crm.importer.names import slugify, snake_case
from crm.importer.report import (
    COUNT_COLUMNS,
    DUPLICATE_COLUMNS,
    REJECTION_COLUMNS,
    ImportResult,
    find_repeated_rows,
    format_rejection_report,
)
from crm.importer.run import import_crm

__all__ = [
    "COUNT_COLUMNS",
    "DUPLICATE_COLUMNS",
    "REJECTION_COLUMNS",
    "AttributeMap",
    "ColumnMap",
    "Condition",
    "ImportMapping",
    "ImportResult",
    "MappingError",
    "TableMap",
    "find_repeated_rows",
    "format_rejection_report",
    "import_crm",
    "load_mapping",
    "parse_mapping",
    "slugify",
    "snake_case",
]
