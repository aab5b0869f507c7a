"""The app's SQL in the plan and in phase 3: found, rewritten for the planned schema, proven.

The planned schema (`SchemaPlan`) becomes the plain `TargetSchema` the app-code engine reads;
each statement is fitted to the database whose tables it names. Phase 3 proves every rewrite on
the loaded target against the source (a read-only sqlite3 connection).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cutover import urls
from cutover.appcode import (
    CodeItem,
    Proof,
    Rewrite,
    Statement,
    TargetSchema,
    code_item,
    find_statements,
    prove_statement,
    rewrite_statement,
    scan_engine_options,
)
from cutover.config import Config, DatabaseConfig
from cutover.errors import CutoverError
from cutover.load import state
from cutover.load import target as tgt
from cutover.schema.mapping import map_schema
from cutover.schema.model import Finding
from cutover.schema.target_plan import SchemaPlan
from cutover.sources import open_source

BLOCKING = ("different", "failed")  # proof statuses that leave p3.code failed


@dataclass
class CodeEntry:
    """One statement of the app, its rewrite, and the database whose schema it was fitted to."""

    statement: Statement
    rewrite: Rewrite
    database: str | None

    def item(self) -> CodeItem:
        """The plan's `code` item."""
        return code_item(self.statement, self.rewrite)


@dataclass
class CodeProof:
    """A statement's rewrite and the verdict of running both sides on the loaded data."""

    entry: CodeEntry
    proof: Proof

    def to_dict(self) -> dict[str, Any]:
        """The plan's code item, the database, and the
        proof (status, reason, first differing rows).
        """
        return {
            **self.entry.item().to_dict(),
            "database": self.entry.database,
            "proof": self.proof.to_dict(),
        }


def target_schema(splan: SchemaPlan) -> TargetSchema:
    """The planned names, types, keys, rowid alias and NOCASE columns of every source table."""
    mapping: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    keys: dict[str, list[str]] = {}
    uniques: dict[str, list[list[str]]] = {}
    rowids: dict[str, str] = {}
    nocase: dict[str, list[str]] = {}
    for tp in splan.tables:
        source = tp.source.name
        mapping[source] = (tp.name, {c.source: (c.name, c.pg_type) for c in tp.columns})
        back = {c.name: c.source for c in tp.columns}
        keys[source] = [back[k] for k in tp.primary_key if k in back]
        uniques[source] = [
            [back[c] for c in key]
            for key in tp.unique_keys
            if key and all(c in back for c in key) and list(key) != tp.primary_key
        ]
        if tp.source.rowid_alias:
            rowids[source] = tp.source.rowid_alias
        nocase[source] = [
            c.name for c in tp.source.columns if (c.collation or "").upper() == "NOCASE"
        ]
    return TargetSchema.from_mapping(
        mapping, keys=keys, uniques=uniques, rowids=rowids, nocase=nocase
    )


def source_kind(config: Config) -> str:
    """The dialect the app's SQL was written for: that of the first database's source."""
    for db in config.databases:
        try:
            return urls.parse(db.source).kind
        except CutoverError:  # an unparsable URL is reported by the plan; SQLite is the default
            continue
    return "sqlite"


def scan_code(config: Config, schemas: dict[str, TargetSchema]) -> list[CodeEntry]:
    """Every statement under the app's folder, rewritten for the schema of the database it reads."""
    found = find_statements(config.base_dir, source_kind=source_kind(config))
    found = [s for s in found if not s.path.startswith(_ours(config))]
    entries = []
    for statement in found:
        database = _database_of(statement, schemas)
        schema = schemas.get(database) if database is not None else None
        entries.append(CodeEntry(statement, rewrite_statement(statement, schema), database))
    return entries


def _ours(config: Config) -> str:
    """The folder of the Alembic revisions cutover writes (its SQL is Postgres already)."""
    return Path(config.settings.alembic_dir).as_posix().strip("/") + "/"


def code_findings(config: Config) -> list[Finding]:
    """Engine options, pool settings, dialect types and test fixtures tied to the old database."""
    return [f.as_finding() for f in scan_engine_options(config.base_dir)]


def _database_of(statement: Statement, schemas: dict[str, TargetSchema]) -> str | None:
    """The database whose planned tables the statement names most (the first on a tie)."""
    if not schemas:
        return None
    try:
        trees = sqlglot.parse(statement.sql, read=statement.dialect)
    except (ParseError, TokenError):
        trees = []
    names = {t.name for tree in trees if tree is not None for t in tree.find_all(exp.Table)}
    best, score = next(iter(schemas)), 0
    for database, schema in schemas.items():
        hits = sum(schema.table(n) is not None for n in names if n)
        if hits > score:
            best, score = database, hits
    return best


@contextmanager
def proving_sides(
    config: Config, db: DatabaseConfig, *, writes: bool = False
) -> Iterator[tuple[sqlite3.Connection | None, psycopg.Connection[Any]]]:
    """The source (None when it is not SQLite) and the target, on its schema.

    The source is opened read-only; when writes are to be proved, on a scratch copy instead
    (SQLite's backup API), so even a rolled-back write never touches the app's file.
    """
    source = None
    with tempfile.TemporaryDirectory(prefix="cutover-prove-") as scratch:
        if urls.parse(db.source).kind == "sqlite":
            path = urls.sqlite_path(db.source, config.base_dir)
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            if writes:
                copy = sqlite3.connect(Path(scratch) / "source.db")
                source.backup(copy)
                source.close()
                source = copy
        try:
            with psycopg.connect(urls.postgres_conninfo(db.target)) as target:
                target.execute(
                    sql.SQL("SET search_path TO {}, public").format(
                        sql.Identifier(db.target_schema)
                    )
                )
                target.commit()
                yield source, target
        finally:
            if source is not None:
                source.close()


def is_write(statement: Statement) -> bool:
    """INSERT, UPDATE, DELETE or REPLACE (proved by effect, in a rolled-back transaction)."""
    return bool(re.match(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", statement.sql, re.I))


def _as_sqlite(statement: Statement) -> Statement | str:
    """T-SQL left over in a SQLite app, as SQLite runs it (dbo. dropped); or why it cannot be."""
    try:
        trees = [t for t in sqlglot.parse(statement.sql, read="tsql") if t is not None]
    except (ParseError, TokenError) as exc:
        return f"cannot read the T-SQL: {str(exc).splitlines()[0]}"
    for tree in trees:
        for table in tree.find_all(exp.Table):
            db = table.args.get("db")
            if db is not None and db.name.lower() == "dbo":
                table.set("db", None)
    text = ";\n".join(t.sql(dialect="sqlite") for t in trees)
    return Statement(
        statement.path, statement.line, "sqlite", text, statement.call, statement.params
    )


def prove_entry(
    entry: CodeEntry,
    source: sqlite3.Connection | None,
    target: psycopg.Connection[Any],
    schema: TargetSchema | None,
) -> Proof:
    """Run the statement on the source and its rewrite on the target; T-SQL left over in a SQLite
    app is run on the source as SQLite (sqlglot), the baseline the app meant."""
    if entry.rewrite.postgres_sql is None:
        return Proof("manual", "; ".join(entry.rewrite.changes))
    if source is None:
        return Proof("manual", "the source is not SQLite: proved by hand on SQL Server")
    statement = entry.statement
    if statement.dialect == "tsql":
        baseline = _as_sqlite(statement)
        if isinstance(baseline, str):
            return Proof("manual", baseline)
        statement = baseline
    return prove_statement(source, target, statement, entry.rewrite, schema)


def proof_line(entry: CodeEntry, proof: Proof) -> str:
    """`path:line status — reason` for the checklist and the report."""
    where = f"{entry.statement.path}:{entry.statement.line}"
    return f"{where} {proof.status}" + (f" — {proof.reason}" if proof.reason else "")


def planned_schema(config: Config, db: DatabaseConfig, conn: psycopg.Connection[Any]) -> SchemaPlan:
    """The schema phase 2 planned for a database (fitted
    to the target's tables in existing mode).
    """
    source = open_source(db.source, config.base_dir)
    try:
        catalog = tgt.catalog(conn, db.target_schema) if db.schema_mode == "existing" else None
        return map_schema(source, db, config.settings, catalog)
    finally:
        source.close()


def has_views(config: Config, db: DatabaseConfig) -> bool:
    """True when the database's source is SQLite and holds a view (a cheap catalog read)."""
    if urls.parse(db.source).kind != "sqlite":
        return False
    path = urls.sqlite_path(db.source, config.base_dir)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False  # a missing source is verify's error to report, not this one's
    try:
        return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'view'").fetchone())
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def planned_schemas(config: Config, database: str | None = None) -> dict[str, TargetSchema]:
    """The planned target schema of every selected database, by name, when the app has SQL to
    prove (none otherwise). The load's manifest in the target holds it; a load recorded before
    manifests did is planned again (which profiles every table).
    """
    if not any(
        not s.path.startswith(_ours(config))
        for s in find_statements(config.base_dir, source_kind=source_kind(config))
    ):
        return {}
    schemas = {}
    for db in config.database(database):
        with tgt.connect(db.target, autocommit=True) as conn:
            found = state.read_manifest(conn, db.name)
            loaded = manifest_schema(found[0]) if found is not None else None
            schemas[db.name] = loaded or target_schema(planned_schema(config, db, conn))
    return schemas


def manifest_schema(manifest: dict[str, Any]) -> TargetSchema | None:
    """target_schema() of the plan a load recorded; None for a manifest without unique keys."""
    if any("unique_keys" not in t for t in manifest["tables"]):
        return None
    mapping: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    keys: dict[str, list[str]] = {}
    uniques: dict[str, list[list[str]]] = {}
    rowids: dict[str, str] = {}
    nocase: dict[str, list[str]] = {}
    for t in manifest["tables"]:
        source = t["source"]
        mapping[source] = (
            t["target"],
            {c["source"]: (c["target"], c["pg_type"]) for c in t["columns"]},
        )
        back = {c["target"]: c["source"] for c in t["columns"]}
        keys[source] = [back[k] for k in t["key"] if k in back]
        uniques[source] = [
            [back[c] for c in key]
            for key in t["unique_keys"]
            if key and all(c in back for c in key) and list(key) != t["key"]
        ]
        if t.get("rowid_alias"):
            rowids[source] = t["rowid_alias"]
        nocase[source] = [c["source"] for c in t["columns"] if c.get("nocase")]
    return TargetSchema.from_mapping(
        mapping, keys=keys, uniques=uniques, rowids=rowids, nocase=nocase
    )


def prove_app_code(config: Config, schemas: dict[str, TargetSchema]) -> list[CodeProof]:
    """Prove every statement of the app on the loaded target of the database it reads."""
    entries = scan_code(config, schemas)
    proofs: list[CodeProof] = []
    for name in schemas:
        db = config.database(name)[0]
        mine = [e for e in entries if e.database == name]
        if not mine:
            continue
        with proving_sides(config, db, writes=any(is_write(e.statement) for e in mine)) as (
            source,
            target,
        ):
            for entry in mine:
                proofs.append(CodeProof(entry, prove_entry(entry, source, target, schemas[name])))
    order = {id(e): i for i, e in enumerate(entries)}
    proofs.sort(key=lambda p: order[id(p.entry)])
    return proofs


def excuse_code_rejects(code: list[CodeProof], rejected: dict[str, list[str]]) -> None:
    """A statement that differs while reading a table the load rejected rows of is for a person.

    The source side still holds the rejected rows: its status becomes `manual`, with both reasons.
    """
    for item in code:
        tables = {t.casefold(): t for t in rejected.get(item.entry.database or "", [])}
        if item.proof.status != "different" or not tables:
            continue
        try:
            trees = sqlglot.parse(item.entry.statement.sql, read=item.entry.statement.dialect)
        except (ParseError, TokenError):
            continue
        read = sorted(
            {
                tables[t.name.casefold()]
                for tree in trees
                if tree is not None
                for t in tree.find_all(exp.Table)
                if t.name.casefold() in tables
            }
        )
        if read:
            item.proof.status = "manual"
            item.proof.reason = (
                f"{item.proof.reason}; the load rejected rows of {', '.join(read)}, "
                "which the source side still holds: compare by hand"
            )
