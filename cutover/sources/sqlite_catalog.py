"""The SQLite catalog as the neutral schema model: tables, columns, keys, indexes, views, triggers.

Read from `PRAGMA table_list`, `table_xinfo`, `index_list`/`index_xinfo`, `foreign_key_list` and
the CREATE statements in `sqlite_schema` (for what the pragmas do not say: CHECKs, collations,
generated expressions, virtual table modules).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cutover.schema import sqltext
from cutover.schema.model import (
    Column,
    Finding,
    ForeignKey,
    Index,
    IndexColumn,
    Schema,
    Table,
    Trigger,
    UniqueConstraint,
    View,
)
from cutover.sources.sqlite_ddl import (
    apply_declared_constraints,
    parse_index_sql,
    parse_table_constraints,
)
from cutover.sources.sqlite_virtual import (
    CARRIED_MODULES,
    FTS_KEY,
    FTS_MODULES,
    VirtualModule,
    parse_virtual,
    shadow_tables,
)

# PRAGMA table_xinfo's `hidden`: 2 for a VIRTUAL generated column, 3 for a STORED one.
GENERATED_KINDS = {2: "virtual", 3: "stored"}


def quote_ident(name: str) -> str:
    """SQLite identifier quoting (this SQL only ever goes to the source, read-only)."""
    return '"' + name.replace('"', '""') + '"'


def reflect(conn: sqlite3.Connection, stand_in_collations: set[str]) -> Schema:
    """Tables, columns, keys, indexes, views and triggers of the main database."""
    listed = conn.execute("PRAGMA main.table_list").fetchall()
    kinds = {row[1]: row[2] for row in listed}
    without_rowid = {row[1] for row in listed if row[4]}  # wr: the catalog's own answer
    catalog = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid"
    ).fetchall()
    schema = Schema(tables=[])
    virtuals = {
        name: vm
        for obj_type, name, _t, sql in catalog
        if obj_type == "table"
        and (kinds.get(name) == "virtual" or (sql or "").upper().startswith("CREATE VIRTUAL"))
        and (vm := parse_virtual(sql or "")) is not None
    }
    shadows = shadow_tables(virtuals)
    for obj_type, name, tbl_name, sql in catalog:
        if obj_type == "table":
            if name.startswith("sqlite_"):
                continue
            kind = kinds.get(name, "table")
            if kind == "shadow" or name in shadows:
                continue
            if kind == "virtual" or (sql or "").upper().startswith("CREATE VIRTUAL"):
                table = _virtual_table(conn, name, sql or "", virtuals.get(name), schema)
                if table is not None:
                    schema.tables.append(table)
                continue
            schema.tables.append(_table(conn, name, sql or "", name not in without_rowid))
        elif obj_type == "view":
            schema.views.append(View(name, sql))
            schema.findings.append(
                Finding(
                    "warning",
                    "view",
                    f"view {name} is not carried",
                    table=name,
                    fix="recreate it in a follow-up Alembic revision",
                )
            )
        elif obj_type == "trigger":
            schema.triggers.append(Trigger(name, tbl_name, sql))
            schema.findings.append(
                Finding(
                    "warning",
                    "trigger",
                    f"trigger {name} on {tbl_name} is not carried",
                    table=tbl_name,
                    fix="rewrite it as a PL/pgSQL trigger function",
                )
            )
    for name in sorted(stand_in_collations):
        schema.findings.append(
            Finding(
                "warning",
                "collation",
                f"collation {name} is declared by the file but unknown to sqlite3; a "
                "byte-order stand-in was used to read it",
                fix="choose a Postgres collation (or citext) for the affected columns",
            )
        )
    return schema


def _virtual_table(
    conn: sqlite3.Connection, name: str, sql: str, vm: VirtualModule | None, schema: Schema
) -> Table | None:
    """A full-text or R-tree table as a table to carry, or None with the finding why not."""
    why = None
    if vm is None or vm.module not in CARRIED_MODULES:
        why = f"its module ({vm.module if vm else 'unknown'}) has no Postgres equivalent"
    elif vm.contentless:
        why = "it is a contentless FTS table (content=''): it keeps no text to carry"
    else:
        try:
            conn.execute(f"SELECT * FROM {quote_ident(name)} LIMIT 0").fetchall()
        except sqlite3.DatabaseError as exc:
            why = f"this sqlite3 cannot read it ({exc})"
    if why is not None:
        schema.findings.append(
            Finding(
                "warning",
                "virtual_table",
                f"virtual table {name} is not carried: {why}",
                table=name,
                fix="rebuild it in Postgres (e.g. full-text search with tsvector and a GIN index)",
                subject=f"virtual:{name}",
            )
        )
        return None
    assert vm is not None
    table = _table(conn, name, sql, True)
    table.virtual, table.module, table.module_options = True, vm.module, dict(vm.options)
    if vm.module in FTS_MODULES:
        # the rowid is how the app finds a match's row (often its content table's key): kept
        table.columns.insert(0, Column(FTS_KEY, "INTEGER", nullable=False))
        key = FTS_KEY
    else:
        key = table.columns[0].name  # an R-tree's first column is its integer id
    table.primary_key, table.rowid_alias = [key], key
    table.column(key).nullable = False
    return table


def _table(conn: sqlite3.Connection, name: str, sql: str, has_rowid: bool) -> Table:
    q = quote_ident(name)
    xinfo = conn.execute(f"PRAGMA main.table_xinfo({q})").fetchall()
    columns: list[Column] = []
    pk: list[tuple[int, str]] = []
    # a keyword, not a word inside a string or a name ('autoincrement' as a DEFAULT)
    autoincrement = any(
        t.kind == "word" and t.upper == "AUTOINCREMENT" for t in sqltext.tokenize(sql)
    )
    for _cid, col, decl, notnull, default, pk_pos, hidden in xinfo:
        if hidden == 1:  # a virtual table's hidden column
            continue
        columns.append(
            Column(
                name=col,
                declared_type=decl or "",
                nullable=not notnull,
                default=default,
                collation=None,
                generated=GENERATED_KINDS.get(hidden),
            )
        )
        if pk_pos:
            pk.append((pk_pos, col))
    primary_key = [c for _, c in sorted(pk)]
    table = Table(name=name, columns=columns, primary_key=primary_key, has_rowid=has_rowid, sql=sql)
    if has_rowid and len(primary_key) == 1:
        col = table.column(primary_key[0])
        if col.declared_type.strip().upper() == "INTEGER":
            table.rowid_alias = col.name
            col.autoincrement = autoincrement
            col.nullable = False
    for col in columns:
        if col.name in primary_key:
            col.nullable = False
    _collations(conn, table, sql)
    _indexes(conn, table)
    _foreign_keys(conn, table)
    apply_declared_constraints(table, parse_table_constraints(sql))
    return table


def _collations(conn: sqlite3.Connection, table: Table, sql: str) -> None:
    tokens = sqltext.tokenize(sql)
    try:
        start = next(i for i, t in enumerate(tokens) if t.text == "(")
        body = tokens[start + 1 : sqltext.matching_paren(tokens, start)]
    except (StopIteration, ValueError):
        return
    for part in sqltext.split_top_level(body):
        name = part[0].ident
        for prev, tok in zip(part, part[1:]):
            if prev.upper == "COLLATE" and tok.ident and name:
                for col in table.columns:
                    if col.name == name:
                        col.collation = tok.ident


def _indexes(conn: sqlite3.Connection, table: Table) -> None:
    q = quote_ident(table.name)
    for _seq, idx_name, unique, origin, partial in conn.execute(
        f"PRAGMA main.index_list({q})"
    ).fetchall():
        if origin == "pk":
            continue
        info = [
            r
            for r in conn.execute(f"PRAGMA main.index_xinfo({quote_ident(idx_name)})").fetchall()
            if r[5]
        ]
        if origin == "u":
            table.uniques.append(UniqueConstraint(None, [r[2] for r in info]))
            continue
        sql_row = conn.execute(
            "SELECT sql FROM sqlite_schema WHERE type='index' AND name=?", (idx_name,)
        ).fetchone()
        index_sql = sql_row[0] if sql_row else ""
        elements, where = parse_index_sql(index_sql)
        cols: list[IndexColumn] = []
        for pos, (_seqno, cid, cname, desc, coll, _key) in enumerate(info):
            expression = None
            if cid == -2:
                expression = elements[pos] if pos < len(elements) else "?"
            cols.append(
                IndexColumn(cname, expression, bool(desc), coll if coll != "BINARY" else None)
            )
        table.indexes.append(Index(idx_name, cols, bool(unique), where if partial else None))


def _foreign_keys(conn: sqlite3.Connection, table: Table) -> None:
    rows = conn.execute(f"PRAGMA main.foreign_key_list({quote_ident(table.name)})").fetchall()
    groups: dict[int, list[Any]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    for fk_rows in groups.values():
        fk_rows.sort(key=lambda r: r[1])
        ref_table = fk_rows[0][2]
        ref_cols = [r[4] for r in fk_rows]
        if any(c is None for c in ref_cols):
            ref_cols = _primary_key_of(conn, ref_table)
        actions = [None if a in ("NO ACTION", None) else a for a in (fk_rows[0][5], fk_rows[0][6])]
        table.foreign_keys.append(
            ForeignKey(
                None,
                [r[3] for r in fk_rows],
                ref_table,
                list(ref_cols),
                on_update=actions[0],
                on_delete=actions[1],
            )
        )


def _primary_key_of(conn: sqlite3.Connection, table: str) -> list[str]:
    rows = conn.execute(f"PRAGMA main.table_info({quote_ident(table)})").fetchall()
    return [r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5])]


# -- data ------------------------------------------------------------------------------
