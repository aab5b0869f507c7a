"""Plan findings for SQL Server, in the spirit of AWS DMS's premigration assessment.

Each function returns the Finding(s) for one kind of thing that does not move as it is; the codes
are listed in docs/mssql.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cutover.schema import sqltext
from cutover.schema.model import Finding, Table
from cutover.schema.naming import snake_case
from cutover.sources.mssql_facts import DatabaseFacts, TableInfo
from cutover.sources.mssql_sql import portable_expression

ICU_CASE_INSENSITIVE = (
    "CREATE COLLATION case_insensitive (provider = icu, locale = "
    "'und-u-ks-level2', deterministic = false)"
)
_KINDS = {
    "P": "stored procedure",
    "FN": "scalar function",
    "IF": "inline table function",
    "TF": "table function",
    "SO": "sequence",
    "SN": "synonym",
}


def temporal(table: str, history: str | None, period: list[str]) -> Finding:
    """A system-versioned temporal table."""
    cols = (
        f"; its period columns ({', '.join(period)}) are carried as ordinary timestamp columns"
        if period
        else ""
    )
    return Finding(
        "warning",
        "temporal_table",
        f"{table} is a system-versioned temporal table (history in {history or '?'}): Postgres "
        f"has no system versioning; the current rows are carried{cols}",
        table=table,
        fix="keep history with a trigger (e.g. the temporal_tables pattern) or an audit table; "
        "the history table is carried as an ordinary table",
    )


def history_table(table: str, parent: str | None) -> Finding:
    """The history table of a temporal table."""
    return Finding(
        "info",
        "temporal_history",
        f"{table} is the history table of {parent or 'a temporal table'}; carried as an "
        "ordinary table",
        table=table,
    )


def memory_optimized(table: str, durability: str) -> Finding:
    """A memory-optimized (In-Memory OLTP) table."""
    if durability.upper() == "SCHEMA_ONLY":
        return Finding(
            "warning",
            "memory_optimized",
            f"{table} is memory-optimized with DURABILITY = SCHEMA_ONLY: its rows do not "
            "survive a restart; it is carried as an ordinary table with whatever rows it holds "
            "now",
            table=table,
            fix="an UNLOGGED table is Postgres' closest equivalent",
        )
    return Finding(
        "warning",
        "memory_optimized",
        f"{table} is a memory-optimized table: carried as an ordinary Postgres table; it is "
        "read without a snapshot transaction (SQL Server forbids SNAPSHOT isolation on it)",
        table=table,
        fix="nothing to do unless the app relies on natively compiled procedures",
    )


def columnstore(table: str, index: str, clustered: bool) -> Finding:
    """A columnstore index."""
    kind = "clustered columnstore" if clustered else "columnstore"
    return Finding(
        "warning",
        "columnstore_index",
        f"{kind} index {index} on {table} has no Postgres equivalent; it is not created",
        table=table,
        fix="for analytics, consider BRIN indexes, partitioning, or a columnar extension "
        "(citus, hydra)",
        subject=f"index:{index}",
    )


def special_index(table: str, index: str, kind: str) -> Finding:
    """An XML or spatial index."""
    fix = (
        "PostGIS GiST indexes after overriding the column to geometry/geography"
        if kind == "spatial"
        else "an expression index on xpath() results"
    )
    return Finding(
        "warning",
        "index_unsupported",
        f"{kind} index {index} on {table} is not carried",
        table=table,
        fix=fix,
        subject=f"index:{index}",
    )


def disabled(what: str, table: str, name: str, subject: str | None = None) -> Finding:
    """A disabled index, check or foreign key: not carried (the data may break it)."""
    return Finding(
        "warning",
        f"disabled_{what.replace(' ', '_')}",
        f"{what} {name} on {table} is disabled in SQL Server; it is not created",
        table=table,
        fix="enable and validate it at the source first if the app relies on it",
        subject=subject or f"{what}:{name}",
    )


def untrusted(what: str, table: str, name: str) -> Finding:
    """A constraint created WITH NOCHECK: existing rows
    may break it, and Postgres will check them.
    """
    return Finding(
        "warning",
        f"untrusted_{what.replace(' ', '_')}",
        f"{what} {name} on {table} is not trusted (WITH NOCHECK): existing rows may break it; "
        "those rows are rejected, not loaded",
        table=table,
        fix=f"check first: ALTER TABLE … WITH CHECK CHECK CONSTRAINT {name} at the source",
    )


def trigger(name: str, table: str, is_disabled: bool, instead_of: bool) -> Finding:
    """A trigger (reported, not carried)."""
    kind = "INSTEAD OF trigger" if instead_of else "trigger"
    state = " (disabled)" if is_disabled else ""
    return Finding(
        "warning",
        "trigger",
        f"{kind} {name} on {table}{state} is not carried",
        table=table,
        fix="rewrite it as a PL/pgSQL trigger function",
    )


def identity_not_integer(table: str, column: str, declared: str) -> Finding:
    """IDENTITY on decimal/numeric: Postgres identities are integers."""
    return Finding(
        "warning",
        "identity_type",
        f"{table}.{column} is an IDENTITY {declared}; Postgres identity columns are integers, "
        "so it is carried without an identity",
        table=table,
        column=column,
        fix=f'columns."{table}.{column}" = "bigint" in cutover.toml, then add GENERATED BY '
        "DEFAULT AS IDENTITY by hand",
    )


def modules(kinds: dict[str, list[str]]) -> Finding:
    """Procedures, functions, sequences, synonyms: counted, not carried."""
    parts = [
        f"{len(names)} {_KINDS.get(kind, kind)}{'s' if len(names) > 1 else ''} "
        f"({', '.join(names[:3])}{' …' if len(names) > 3 else ''})"
        for kind, names in sorted(kinds.items())
    ]
    return Finding(
        "info",
        "modules",
        "not carried: " + "; ".join(parts),
        fix="rewrite them in PL/pgSQL (procedures, functions), CREATE SEQUENCE, or views "
        "(synonyms)",
    )


def table_findings(table: Table, info: TableInfo) -> list[Finding]:
    """Per-table findings: keys, identities, computed and
    lossy columns, collations, padding, precision.
    """
    out: list[Finding] = []
    name = table.name
    if not info.key:
        out.append(
            Finding(
                "warning",
                "single_pass",
                f"{name} has no primary key or unique key usable for paging; it is streamed in "
                "one ordered pass, and rejects name rows by their number in that order",
                table=name,
                fix="add a primary key at the source (or after the cutover)",
            )
        )
    elif info.key != table.primary_key:
        out.append(
            Finding(
                "info",
                "keyset_on_unique",
                f"{name} is paged by its unique key ({', '.join(info.key)})",
                table=name,
            )
        )
    if info.identity is not None:
        col, seed, increment, last = info.identity
        if increment != 1 or seed < 1:
            out.append(
                Finding(
                    "warning",
                    "identity_increment",
                    f"{name}.{col} is IDENTITY({seed}, {increment}); the Postgres identity "
                    "continues after the highest value but steps by 1",
                    table=name,
                    column=col,
                    fix=f'ALTER TABLE "{name}" ALTER COLUMN "{col}" SET INCREMENT BY {increment}',
                )
            )
    names = {c.name for c in table.columns}
    ci: list[str] = []
    padded: list[str] = []
    fine: list[str] = []
    for c in table.columns:
        ct = info.types[c.name]
        if c.generated and c.generated != "period":
            ddl = generated_suggestion(name, c.name, c.generated, names)
            out.append(
                Finding(
                    "warning",
                    "computed_column",
                    f"{name}.{c.name} is computed ({c.generated}); it is carried as a plain "
                    "column holding the computed values",
                    table=name,
                    column=c.name,
                    fix=ddl
                    or "rewrite the expression as a Postgres generated column, or keep it as a "
                    "plain column the app fills",
                )
            )
        if ct.name == "timestamp":
            out.append(
                Finding(
                    "warning",
                    "rowversion",
                    f"{name}.{c.name} is a rowversion: carried as bytea holding today's values; "
                    "Postgres does not bump it on update",
                    table=name,
                    column=c.name,
                    fix="use the xmin system column for optimistic concurrency, or a trigger "
                    "that bumps a bigint",
                )
            )
        if ct.name in ("sql_variant", "hierarchyid", "geography", "geometry", "udt"):
            out.append(_lossy(name, c.name, ct.name))
        if c.collation and "_CI" in c.collation.upper():
            ci.append(c.name)
        if ct.name in ("char", "nchar") and (ct.length or 0) > 1:
            padded.append(c.name)
        if ct.name in ("datetime2", "time", "datetimeoffset") and ct.scale == 7:
            fine.append(c.name)
    if ci:
        out.append(
            Finding(
                "warning",
                "case_insensitive",
                f"{name}: {len(ci)} column(s) use a case-insensitive collation "
                f"({', '.join(ci[:5])}{' …' if len(ci) > 5 else ''}); SQL Server compares them "
                "ignoring case, Postgres will not (WHERE name = 'KIM' stops finding 'kim', and "
                "unique keys start accepting 'Kim' next to 'kim')",
                table=name,
                count=len(ci),
                fix=f'columns."{name}.{ci[0]}" = "citext" (CREATE EXTENSION citext), or '
                f"{ICU_CASE_INSENSITIVE} and declare the columns COLLATE case_insensitive",
            )
        )
    if padded:
        out.append(
            Finding(
                "info",
                "char_padding",
                f"{name}: char(n) columns ({', '.join(padded[:5])}) hold space-padded values; "
                "they are carried padded, but Postgres compares trailing spaces where SQL "
                "Server ignores them",
                table=name,
                fix="rtrim() the values after the load if the app never meant the padding",
            )
        )
    if fine:
        out.append(
            Finding(
                "info",
                "sub_microsecond",
                f"{name}: {', '.join(fine)} keep 100-ns precision; Postgres keeps microseconds, "
                "so the 7th fractional digit is dropped",
                table=name,
            )
        )
    return out


def _lossy(table: str, column: str, type_name: str) -> Finding:
    fixes = {
        "sql_variant": (
            "its values are carried as exact text, each read by its base type (ISO 8601 with "
            "every fractional digit, floats that read back the same); the base type is not kept",
            "override the column to the type the values really have",
        ),
        "hierarchyid": (
            "carried as its text path (/1/3/2/)",
            "the ltree extension holds paths with the same ordering and ancestry operators",
        ),
        "geography": (
            "carried as EWKT text (SRID=4326;POINT(…))",
            f'with PostGIS: columns."{table}.{column}" = "geography" reads the EWKT as is',
        ),
        "geometry": (
            "carried as EWKT text (SRID=…;POLYGON(…))",
            f'with PostGIS: columns."{table}.{column}" = "geometry" reads the EWKT as is',
        ),
        "udt": (
            "a CLR user-defined type: carried as its serialized bytes (bytea)",
            "convert it at the source to a standard type",
        ),
    }
    what, fix = fixes[type_name]
    return Finding(
        "warning",
        "lossy_type",
        f"{table}.{column} is {type_name}: {what}",
        table=table,
        column=column,
        fix=fix,
    )


def identifier_findings(tables: list[Table]) -> list[Finding]:
    """Names that collide once folded (lower case, snake_case),
    and mixed-case names Postgres needs quoted.
    """
    out = []
    for group in folded_collisions([t.name for t in tables]):
        out.append(
            Finding(
                "warning",
                "identifier_collision",
                f"tables {', '.join(group)} become the same name once folded to lower or snake "
                "case",
                fix="keep snake_case = false, or rename one at the source",
                table=group[0],
            )
        )
    mixed_tables = sum(1 for t in tables if t.name != t.name.lower())
    mixed_columns = 0
    for t in tables:
        for group in folded_collisions([c.name for c in t.columns]):
            out.append(
                Finding(
                    "warning",
                    "identifier_collision",
                    f"{t.name}: columns {', '.join(group)} become the same name once folded to "
                    "lower or snake case",
                    table=t.name,
                    fix="keep snake_case = false, or rename one at the source",
                )
            )
        mixed_columns += sum(1 for c in t.columns if c.name != c.name.lower())
    if mixed_tables or mixed_columns:
        out.append(
            Finding(
                "info",
                "mixed_case_names",
                f"{mixed_tables} table and {mixed_columns} column names have upper-case "
                "letters: Postgres folds unquoted names to lower case, so the app's SQL must "
                'quote them ("OrderId") unless they are renamed',
                fix="snake_case = true in cutover.toml renames them (order_id), with the app's "
                "models changed to match",
            )
        )
    return out


def database_findings(
    schema_name: str, schemas: Sequence[Sequence[Any]], db: DatabaseFacts, memory_optimized: bool
) -> list[Finding]:
    """Other schemas, snapshot isolation, and the source as a whole."""
    out = []
    for other, count in schemas:
        if other != schema_name:
            out.append(
                Finding(
                    "warning",
                    "other_schema",
                    f"schema {other} holds {count} table(s) this database entry does not read "
                    f"(it reads {schema_name})",
                    fix=f"add a [[databases]] entry with the same source plus ?schema={other} "
                    f'(or ;schema={other}) and target_schema = "{other}"',
                )
            )
    if db.snapshot_isolation.upper() != "ON" or memory_optimized:
        why = (
            "memory-optimized tables cannot be read in a SNAPSHOT transaction"
            if memory_optimized
            else "ALLOW_SNAPSHOT_ISOLATION is OFF"
        )
        out.append(
            Finding(
                "warning",
                "no_snapshot",
                f"{why}: tables are read one after another without one consistent snapshot, so "
                "rows written during the load may be missed or half-seen",
                fix="stop writes during phase 2 (verify then proves the copy), or ALTER "
                "DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON",
            )
        )
    return out


def folded_collisions(names: list[str]) -> list[list[str]]:
    """Groups of names that become the same once lower-cased or snake_cased."""
    groups: dict[str, set[str]] = {}
    for name in names:
        for key in {name.lower(), snake_case(name)}:
            groups.setdefault(key, set()).add(name)
    seen: set[frozenset[str]] = set()
    out = []
    for members in groups.values():
        frozen = frozenset(members)
        if len(members) > 1 and frozen not in seen:
            seen.add(frozen)
            out.append(sorted(members))
    return out


def generated_suggestion(table: str, column: str, definition: str, columns: set[str]) -> str | None:
    """The Postgres generated column a computed column
    could become, when its expression translates.
    """
    portable = portable_expression(definition)
    if portable is None:
        return None
    translated = sqltext.translate_expression(
        portable, lambda n: '"' + n.replace('"', '""') + '"' if n in columns else None
    )
    if translated is None:
        return None
    return (
        f'ALTER TABLE "{table}" DROP COLUMN "{column}", ADD COLUMN "{column}" <type> '
        f"GENERATED ALWAYS AS ({translated}) STORED"
    )
