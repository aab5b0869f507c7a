"""SQLite generated columns (VIRTUAL or STORED) as Postgres `GENERATED ALWAYS AS (…) STORED`.

A generated column carried as a plain one keeps the values it had but stops following its inputs.
Where the expression translates (schema/sqltext.py: the same rules as CHECK constraints), the target
column computes it; Postgres has only STORED generated columns before 18, so both kinds become
STORED, which reads the same. Concatenation casts its non-text columns to text, because Postgres
refuses `'item-' || id` in a generation expression (text || bigint is not immutable). An expression
that does not translate leaves a plain column holding the computed values, with a finding; one
Postgres refuses anyway is caught by the rolled-back probe (load/schema_probe.py) the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from psycopg import sql

from cutover.schema import sqltext
from cutover.schema.model import Finding
from cutover.schema.typemap import ColumnPlan

TEXT_FAMILIES = {"text"}  # families whose values `||` takes as they are


def plain_column_finding(table: str, col: ColumnPlan, expression: str, why: str) -> Finding:
    """What plan says about a generated column carried as a plain one."""
    return Finding(
        "warning",
        "generated_untranslated",
        f"{table}.{col.source} is generated ({expression}) but {why}; it is carried as a plain "
        "column holding the computed values, which no longer follows its inputs",
        table=table,
        column=col.source,
        fix="add GENERATED ALWAYS AS (…) STORED by hand in the first revision, or let the app "
        "fill it",
        subject=f"generated:{col.source}",
    )


def plan_generated(
    table: str,
    columns: list[ColumnPlan],
    expressions: dict[str, str],
    findings: list[Finding],
) -> None:
    """Set ColumnPlan.generated for each generated column whose expression translates."""
    by_source = {c.source: c for c in columns}
    booleans = {c.source for c in columns if c.family == "boolean"}

    def renamer(concatenates: bool) -> Callable[[str], str | None]:
        def rename(name: str) -> str | None:
            ref = by_source.get(name)
            if ref is None or name in expressions:
                return None  # not a column, or another generated one (Postgres refuses those)
            ident = sql.Identifier(ref.name).as_string()
            if concatenates and ref.family not in TEXT_FAMILIES:
                return f"({ident})::text"
            return ident

        return rename

    for source_name, expression in expressions.items():
        col = by_source.get(source_name)
        if col is None:
            continue
        concatenates = any(t.text == "||" for t in sqltext.tokenize(expression))
        translated = sqltext.translate_expression(expression, renamer(concatenates), booleans)
        if translated is None:
            findings.append(
                plain_column_finding(table, col, expression, "the expression does not translate")
            )
            continue
        col.generated = translated
