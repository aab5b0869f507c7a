"""The keys revision on several connections at once: indexes and checks, then foreign keys.

Alembic runs a revision in one transaction, one statement after another. For the keys revision
cutover wrote (not one the user edited) this runs Alembic's own offline SQL instead, a statement
per connection and transaction, skipping what an interrupted run already built, then stamps the
revision; anything unusual is left to Alembic (migrations.upgrade).
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover.errors import TargetError, TransientError
from cutover.schema.migrations import Revisions, _alembic, _first_line, _shown, upgrade

if TYPE_CHECKING:
    import psycopg
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.engine import Connection as SAConnection

KEYS_APPLICATION_NAME = "cutover keys"  # how the key builds' connections show in pg_stat_activity

# The statements of a keys revision as SQLAlchemy renders them for Postgres: names bare or double-
# quoted.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_RELATION = rf"{_IDENT}(?:\.{_IDENT})?"
_INDEX = re.compile(
    rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<name>{_IDENT})\s+ON\s+(?P<table>{_RELATION})(?=[\s(])",
    re.IGNORECASE,
)
_CONSTRAINT = re.compile(
    rf"ALTER\s+TABLE\s+(?P<table>{_RELATION})\s+ADD\s+CONSTRAINT\s+(?P<name>{_IDENT})\s+"
    r"(?P<kind>UNIQUE|CHECK|PRIMARY\s+KEY|FOREIGN\s+KEY)\b"
    rf'(?:\s*\((?:[^()"]|"(?:[^"]|"")*")*\)\s*REFERENCES\s+(?P<ref>{_RELATION}))?',
    re.IGNORECASE,
)
_VERSION_ROW = re.compile(
    rf"(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+TABLE)\s+(?P<table>{_RELATION})",
    re.IGNORECASE,
)
_CONTYPES = {"unique": "u", "check": "c", "primary key": "p", "foreign key": "f"}


@dataclass(frozen=True)
class KeyStatement:
    """One statement of the keys revision as Alembic
    renders it, and the index or constraint it builds.
    """

    ddl: str
    kind: str  # index, unique, check, primary key or foreign key
    name: str
    table: tuple[str, ...]  # (schema, table) or (table,), as the statement names it
    references: tuple[str, ...] | None = None

    @property
    def tables(self) -> frozenset[tuple[str, ...]]:
        """The tables the statement locks: its own and, for a foreign key, the referenced one."""
        return frozenset(t for t in (self.table, self.references) if t is not None)


def upgrade_keys_parallel(
    revisions: Revisions, target_url: str, schema: str, version_table: str, jobs: int
) -> list[tuple[str, float]]:
    """The keys revision on `jobs` connections (indexes and checks, then foreign keys), skipping
    what exists; (DDL, seconds) per build.
    """
    from alembic import command

    keys_file = revisions.directory / "versions" / f"{revisions.keys_rev}.py"
    edited = any(p.name == keys_file.name for p in revisions.kept_edits)
    # Alembic's offline SQL turns tabs into spaces, which would change a string literal holding one
    if jobs <= 1 or edited or re.search(r"\t|\\t", keys_file.read_text(encoding="utf-8")):
        return upgrade(revisions, target_url, revisions.keys_rev, schema, version_table)
    current, statements = _offline_keys(revisions, target_url, schema, version_table)
    if (
        current != revisions.tables_rev or statements is None
    ):  # an unusual state or statement: Alembic decides
        return upgrade(revisions, target_url, revisions.keys_rev, schema, version_table)
    built = _build(statements, target_url, jobs, keys_file) if statements else {}
    _alembic(
        revisions,
        target_url,
        schema,
        version_table,
        f"alembic stamp {revisions.keys_rev}",
        lambda cfg, _: command.stamp(cfg, revisions.keys_rev),
    )
    return [(_shown(s.ddl), built[s]) for s in statements if s in built]


class _StatementLog(io.StringIO):
    """Alembic's offline output one write at a time.

    Alembic writes each statement in one call, and a literal may hold ';\\n\\n'.
    """

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def _offline_keys(
    revisions: Revisions, target_url: str, schema: str, version_table: str
) -> tuple[str | None, list[KeyStatement] | None]:
    """The database's current revision, and the keys revision's statements as `alembic upgrade
    --sql` writes them (None: one is not an index or key).
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    log = _StatementLog()

    def run(cfg: AlembicConfig, connection: SAConnection) -> str | None:
        current = MigrationContext.configure(
            connection, opts={"version_table": version_table, "version_table_schema": schema}
        ).get_current_revision()
        # offline, env.py's connection only lends its dialect, so the SQL is compiled as online
        command.upgrade(cfg, f"{revisions.tables_rev}:{revisions.keys_rev}", sql=True)
        return current

    current = _alembic(
        revisions,
        target_url,
        schema,
        version_table,
        f"alembic upgrade {revisions.tables_rev}:{revisions.keys_rev} --sql",
        run,
        output_buffer=log,
    )
    return current, _key_statements(log.writes, version_table)


def _key_statements(writes: list[str], version_table: str) -> list[KeyStatement] | None:
    statements: list[KeyStatement] = []
    for write in writes:
        text = write.strip()
        if not text or text.startswith("--") or text.upper() in ("BEGIN;", "COMMIT;"):
            continue
        ddl = text.removesuffix(";")
        if (m := _VERSION_ROW.match(ddl)) and _relation(m["table"])[-1] == version_table:
            continue
        if m := _INDEX.match(ddl):
            statements.append(
                KeyStatement(ddl, "index", _unquote(m["name"]), _relation(m["table"]))
            )
        elif m := _CONSTRAINT.match(ddl):
            kind = " ".join(m["kind"].lower().split())
            statements.append(
                KeyStatement(
                    ddl,
                    kind,
                    _unquote(m["name"]),
                    _relation(m["table"]),
                    _relation(m["ref"]) if m["ref"] else None,
                )
            )
        else:
            return None
    return statements


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident.lower()


def _relation(text: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in re.findall(_IDENT, text))


def _build(
    statements: list[KeyStatement], target_url: str, jobs: int, keys_file: Path
) -> dict[KeyStatement, float]:
    """Run the statements on `jobs` autocommit connections, each its own transaction: indexes and
    checks first, then foreign keys.
    """
    from cutover.load import target as tgt

    conns: list[psycopg.Connection[Any]] = []
    built: dict[KeyStatement, float] = {}
    try:
        for _ in range(min(jobs, len(statements))):
            conns.append(
                tgt.connect(target_url, autocommit=True, application_name=KEYS_APPLICATION_NAME)
            )
        ordered = _largest_first(conns[0], statements)
        # CREATE INDEX on one table can run side by side; ADD CONSTRAINT takes an exclusive lock and
        # waits its turn.
        # A foreign key locks its table and the referenced one, so two touching a table never run
        # together.
        for batch, exclusive in (
            ([s for s in ordered if s.kind != "foreign key"], False),
            ([s for s in ordered if s.kind == "foreign key"], True),
        ):
            work = _Work(batch, exclusive)
            _run(conns, work)
            built.update(work.built)
            if work.failures:
                raise _failure(*work.failures[0], keys_file)
    finally:
        for conn in conns:
            conn.close()
    return built


def _largest_first(
    conn: psycopg.Connection[Any], statements: list[KeyStatement]
) -> list[KeyStatement]:
    """Builds on the biggest tables first, so the longest
    ones do not start last (revision order among equals).
    """
    from psycopg import sql

    tables = sorted({s.table for s in statements})
    names = [sql.Identifier(*t).as_string(conn) for t in tables]
    rows = conn.execute(
        "SELECT coalesce(pg_relation_size(to_regclass(t)), 0) FROM unnest(%s::text[]) WITH "
        "ORDINALITY AS u(t, n) ORDER BY n",
        (names,),
    ).fetchall()
    size = {t: row[0] for t, row in zip(tables, rows)}
    return sorted(statements, key=lambda s: -size[s.table])


class _Work:
    """The statements the build threads share; with
    exclusive=True no two running ones share a table.
    """

    def __init__(self, statements: list[KeyStatement], exclusive: bool) -> None:
        self.pending = list(statements)
        self.exclusive = exclusive
        self.busy: set[tuple[str, ...]] = set()
        self.built: dict[KeyStatement, float] = {}
        self.failures: list[tuple[KeyStatement, Exception]] = []
        self.stopped = False
        self.changed = threading.Condition()

    def take(self) -> KeyStatement | None:
        """The next statement free to run, waiting while only blocked ones are left; None when
        all are taken or one failed.
        """
        with self.changed:
            while not self.stopped and self.pending:
                for i, statement in enumerate(self.pending):
                    if not self.exclusive or not statement.tables & self.busy:
                        if self.exclusive:
                            self.busy |= statement.tables
                        return self.pending.pop(i)
                self.changed.wait()
            return None

    def finish(
        self, statement: KeyStatement, seconds: float | None, error: Exception | None
    ) -> None:
        """Record a statement's outcome (seconds None: it was already built) and free its tables."""
        with self.changed:
            if self.exclusive:
                self.busy -= statement.tables
            if seconds is not None:
                self.built[statement] = seconds
            if error is not None:
                self.failures.append((statement, error))
                self.stopped = True
            self.changed.notify_all()

    def stop(self) -> None:
        """Hand out no more statements."""
        with self.changed:
            self.stopped = True
            self.changed.notify_all()


def _run(conns: list[psycopg.Connection[Any]], work: _Work) -> None:
    """One thread per connection until the work is done;
    psycopg releases the GIL while the server builds.
    """
    threads = [
        threading.Thread(target=_worker, args=(conn, work), name=f"cutover-keys-{i}", daemon=True)
        for i, conn in enumerate(conns)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except (
        BaseException
    ):  # interrupted: cancel the builds in flight; what finished stays, a rerun skips it
        import psycopg

        work.stop()
        for conn in conns:
            with contextlib.suppress(psycopg.Error):
                conn.cancel_safe()
        for thread in threads:
            thread.join()
        raise


def _worker(conn: psycopg.Connection[Any], work: _Work) -> None:
    while (statement := work.take()) is not None:
        seconds: float | None = None
        error: Exception | None = None
        try:
            if not _exists(conn, statement):
                started = time.monotonic()
                # Offline, SQLAlchemy doubles every % for psycopg's paramstyle; a parameter mapping,
                # even an
                # empty one, makes psycopg undo it, as it does for Alembic online.
                conn.execute(statement.ddl, {})
                seconds = time.monotonic() - started
        except Exception as exc:
            error = exc
        finally:
            work.finish(statement, seconds, error)


def _exists(conn: psycopg.Connection[Any], statement: KeyStatement) -> bool:
    """Whether the statement's index or constraint is already on its table (built by an
    interrupted run).
    """
    from psycopg import sql

    table = sql.Identifier(*statement.table).as_string(conn)
    if statement.kind == "index":
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%s) AND c.relname = %s)",
            (table, statement.name),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass(%s) AND "
            "conname = %s AND contype = %s)",
            (table, statement.name, _CONTYPES[statement.kind]),
        ).fetchone()
    return bool(row and row[0])


def _failure(statement: KeyStatement, exc: Exception, keys_file: Path) -> TargetError:
    from cutover.load import target as tgt
    from cutover.urls import redact

    detail = getattr(getattr(exc, "diag", None), "message_detail", None)
    error = TransientError if tgt.is_transient(exc) else TargetError
    return error(
        redact(
            f"{_shown(statement.ddl)} failed: {_first_line(exc)}"
            + (f" ({detail})" if detail else "")
        ),
        table=statement.table[-1],
        hint="fix the cause and run phase 2 again: the indexes and keys already built are kept "
        f"and skipped; the statement comes from {keys_file}",
    )
