"""Schema parity: every table, column type, NOT NULL,
key, check and index the load made is still there.

Only what the load recorded as left out on purpose (with its reason) is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from cutover.config import DatabaseConfig
from cutover.load import target as tgt
from cutover.schema.rules import pg_base
from cutover.schema.sqltext import tokenize
from cutover.sources.base import Source


@dataclass
class SchemaIssue:
    """A source object without its target counterpart (and no recorded reason)."""

    table: str
    subject: str
    problem: str


def _norm_type(pg_type: str) -> str:
    base = pg_base(pg_type)
    params = pg_type[pg_type.find("(") :].replace(" ", "") if "(" in pg_type else ""
    if base in ("timestamp", "timestamptz", "time") and params == "(6)":
        params = ""
    return base + params


def _constraints(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT c.relname, con.conname, con.contype,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN
                   pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY
                   k.o)::text[]
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid
            = c.relnamespace
        WHERE n.nspname = %s
        """,
        (schema,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
    ).fetchall()
    conn.rollback()
    found: dict[str, Any] = {"p": {}, "u": set(), "f": set(), "c": set(), "i": set()}
    for table, name, kind, cols in rows:
        if kind == "p":
            found["p"][table] = list(cols)
        elif kind in ("u", "f", "c"):
            found[kind].add((table, name))
    for table, name in indexes:
        found["i"].add((table, name))
    return found


def schema_parity(
    conn: psycopg.Connection[Any],
    source: Source | None,
    db: DatabaseConfig,
    manifest: dict[str, Any],
    tables: list[dict[str, Any]],
) -> list[SchemaIssue]:
    schema = manifest["target_schema"]
    catalog = tgt.catalog(conn, schema, generated=True)
    cons = _constraints(conn, schema)
    omitted = {(o["table"], o["subject"]) for o in manifest["omissions"]}
    source_tables = source.reflect().tables if source is not None else []  # None: source gone
    """Source and manifest objects without their target counterpart (and no recorded reason)."""
    issues: list[SchemaIssue] = []
    carried = {t["source"] for t in manifest["tables"]}
    by_name = {x.name: x for x in source_tables}
    for new in source_tables:
        if new.name not in carried and (db.tables is None or new.name in db.tables):
            issues.append(
                SchemaIssue(new.name, "table", "source table was not loaded (new since the load?)")
            )
    for t in tables:
        name = t["target"]
        if name not in catalog:
            issues.append(SchemaIssue(t["source"], "table", f"target table {name} is missing"))
            continue
        cols = catalog[name]
        st = by_name.get(t["source"])
        if st is not None:
            known = {c["source"] for c in t["columns"]}
            for c in st.columns:
                if c.name not in known:
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"column {c.name}",
                            "source column was not loaded (new since the load?)",
                        )
                    )
        for c in t["columns"]:
            found = cols.get(c["target"])
            if found is None:
                issues.append(
                    SchemaIssue(
                        t["source"],
                        f"column {c['source']}",
                        f"target column {c['target']} is missing",
                    )
                )
                continue
            if _norm_type(found.pg_type) != _norm_type(c["pg_type"]):
                issues.append(
                    SchemaIssue(
                        t["source"],
                        f"column {c['source']}",
                        f"type is {found.pg_type}, the load made it {c['pg_type']}",
                    )
                )
            if not c["nullable"] and found.nullable:
                issues.append(
                    SchemaIssue(t["source"], f"column {c['source']}", "NOT NULL was dropped")
                )
        if t["key"] and cons["p"].get(name) != t["key"]:
            issues.append(
                SchemaIssue(
                    t["source"],
                    "primary key",
                    f"expected ({', '.join(t['key'])}), found "
                    f"({', '.join(cons['p'].get(name) or ['none'])})",
                )
            )
        if manifest["mode"] != "create":
            continue
        for u in t["uniques"]:
            if (name, u) not in cons["u"] and (name, u) not in cons["i"]:
                issues.append(
                    SchemaIssue(t["source"], f"unique {u}", "unique constraint is missing")
                )
        for idx in t["indexes"]:
            if (name, idx["name"]) not in cons["i"]:
                issues.append(
                    SchemaIssue(
                        t["source"], f"index {idx['source']}", f"index {idx['name']} is missing"
                    )
                )
        for check in t.get("checks", []):
            if (name, check["name"]) not in cons["c"]:
                issues.append(
                    SchemaIssue(
                        t["source"], f"check {check['name']}", "check constraint is missing"
                    )
                )
        for fk in t["foreign_keys"]:
            if (name, fk["name"]) not in cons["f"]:
                issues.append(
                    SchemaIssue(t["source"], f"foreign key {fk['name']}", "foreign key is missing")
                )
        if st is not None:
            carried_idx = {i["source"] for i in t["indexes"]}
            for idx in st.indexes:
                if idx.name not in carried_idx and (st.name, f"index:{idx.name}") not in omitted:
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"index {idx.name}",
                            "source index has no target index and no recorded reason",
                        )
                    )
            carried_checks = {c["source"] for c in t.get("checks", [])}
            for check in st.checks:
                implied = (
                    check.expression not in carried_checks
                    and (st.name, f"check:{check.name or check.expression}") not in omitted
                )
                if implied and not _is_boolean_domain_check(check.expression, t):
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"check {check.name or check.expression}",
                            "source CHECK has no target constraint and no recorded reason",
                        )
                    )
            carried_fk = {tuple(f["source_columns"]) for f in t["foreign_keys"]}
            for fk in st.foreign_keys:
                if (
                    tuple(fk.columns) not in carried_fk
                    and (st.name, "fk:" + ",".join(fk.columns)) not in omitted
                ):
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"foreign key ({', '.join(fk.columns)})",
                            "source foreign key has no target foreign key and no recorded reason",
                        )
                    )
    return issues


def _is_boolean_domain_check(expression: str, t: dict[str, Any]) -> bool:
    """`flag IN (0, 1)` on a column loaded as boolean: the type enforces it."""
    tokens = tokenize(expression)
    booleans = {c["source"] for c in t["columns"] if pg_base(c["pg_type"]) == "boolean"}
    return len(tokens) == 7 and tokens[0].ident in booleans and tokens[1].upper == "IN"
