"""The app's code on Postgres: find the raw SQL an app
carries, rewrite it for the planned schema, prove it.

- `find` scans the app's Python with `ast` for SQL strings passed to sqlite3 / pyodbc / pymssql
  cursors, SQLAlchemy `text()` and `exec_driver_sql`, and `pandas.read_sql`, and names each
  statement's dialect (SQLite, or T-SQL left from an SQL Server era).
- `engine_options` finds what else ties the app to its old database: dialect-only engine options,
  pool settings against the teams' DB standards, dialect-specific SQLAlchemy types, SQLite test
  fixtures.
- `rewrite` transpiles a statement with sqlglot and fits it to the planned target schema
  (booleans, jsonb, timestamps, LIKE, upserts, placeholders, identifiers); a statement with no
  safe rewrite is `manual`, with the reason.
- `prove` runs a statement and its rewrite on the source and the loaded target and compares
  their results (reads) or their effects (writes, rolled back on both sides).

Imports: the standard library, sqlglot, psycopg, and from cutover only `cutover.errors` and
`cutover.schema` (the neutral model). The planned schema comes in as a plain argument
(`TargetSchema`, or the mapping `TargetSchema.from_mapping` accepts), so this package never
imports the mapping or the type map.
"""

from __future__ import annotations

from cutover.appcode.engine_options import scan_engine_options
from cutover.appcode.find import find_statements
from cutover.appcode.model import (
    CodeFinding,
    CodeItem,
    Rewrite,
    Statement,
    TargetColumn,
    TargetSchema,
    TargetTable,
)
from cutover.appcode.prove import Proof, prove, prove_statement
from cutover.appcode.rewrite import code_item, rewrite, rewrite_statement

__all__ = [
    "CodeFinding",
    "CodeItem",
    "Proof",
    "Rewrite",
    "Statement",
    "TargetColumn",
    "TargetSchema",
    "TargetTable",
    "code_item",
    "find_statements",
    "prove",
    "prove_statement",
    "rewrite",
    "rewrite_statement",
    "scan_engine_options",
]
