"""The mapped schema as Alembic code: one revision creating tables, one adding indexes and keys.

Files live in <project>/<alembic_dir>/<database>/ with an env.py and alembic.ini of their own, so
`alembic -c alembic/<db>/alembic.ini upgrade head` works without cutover too. A revision a user
edited (its body no longer matches the hash cutover wrote) is kept, never overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TextIO, TypeVar

from cutover.errors import TargetError, TransientError
from cutover.mapping import SchemaPlan, TablePlan
from cutover.typemap import ColumnPlan, pg_base

if TYPE_CHECKING:
    import psycopg
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.engine import Connection as SAConnection

T = TypeVar("T")

HASH_MARK = "# cutover-hash: "

# SQLAlchemy has no Postgres xml type; a revision that needs one defines it (and runs without cutover)
XML_TYPE = '''

class XML(sa.types.UserDefinedType):
    """Postgres xml."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "XML"
'''

ENV_PY = '''"""Alembic environment written by cutover; safe to edit and commit."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
version_table = config.get_main_option("version_table") or "alembic_version"
version_schema = config.get_main_option("version_table_schema") or None


def run(connection) -> None:
    context.configure(connection=connection, version_table=version_table, version_table_schema=version_schema, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:  # cutover passes its own connection
    run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(config.get_main_option("url_env") or "DATABASE_URL")
    if not url:
        raise SystemExit("pass -x url=postgresql+psycopg://… or set " + (config.get_main_option("url_env") or "DATABASE_URL"))
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
'''

MAKO = '''"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''

INI = """[alembic]
script_location = %(here)s
version_table = {version_table}
version_table_schema = {schema}
# the env key the app reads its database URL from; used when run without cutover
url_env = {env_key}
"""


@dataclass
class Revisions:
    """Where the two revisions of one database are, and their ids."""

    directory: Path
    tables_rev: str
    keys_rev: str
    kept_edits: list[Path]


def revision_ids(database: str) -> tuple[str, str]:
    """Stable ids: the same database always gets the same two revisions."""
    slug = re.sub(r"[^0-9a-zA-Z_]", "_", database).lower()
    return f"{slug}_0001_tables", f"{slug}_0002_keys"


def write(plan: SchemaPlan, directory: Path, *, version_table: str, env_key: str, not_valid_fks: bool = False) -> Revisions:
    """Render both revisions (and env.py on first use) into `directory`."""
    versions = directory / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    if not (directory / "env.py").exists():
        (directory / "env.py").write_text(ENV_PY, encoding="utf-8")
        (directory / "script.py.mako").write_text(MAKO, encoding="utf-8")
    (directory / "alembic.ini").write_text(INI.format(version_table=version_table, schema=plan.target_schema, env_key=env_key), encoding="utf-8")
    rev1, rev2 = revision_ids(plan.database)
    kept: list[Path] = []
    for path, text in (
        (versions / f"{rev1}.py", render_tables(plan, rev1)),
        (versions / f"{rev2}.py", render_keys(plan, rev2, rev1, not_valid_fks)),
    ):
        if _write_unless_edited(path, text):
            kept.append(path)
    return Revisions(directory, rev1, rev2, kept)


def _body_hash(text: str) -> str:
    body = "\n".join(line for line in text.splitlines() if not line.startswith((HASH_MARK, "Create Date:")))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _write_unless_edited(path: Path, text: str) -> bool:
    """Write `text` (with its hash line) unless the file was edited by hand; True when kept."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        m = re.search(rf"^{re.escape(HASH_MARK)}(\w+)$", old, re.MULTILINE)
        if m is None or m.group(1) != _body_hash(old):
            return True
        if m.group(1) == _body_hash(text):
            return False
    path.write_text(text.replace("\n\nfrom alembic", f"\n{HASH_MARK}{_body_hash(text)}\n\nfrom alembic", 1), encoding="utf-8")
    return False


def _header(message: str, rev: str, down: str | None) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f'"""{message}\n\nRevision ID: {rev}\nRevises:{" " + down if down else ""}\nCreate Date: {stamp}\n\nGenerated by cutover from the source schema. Review it, edit it, commit it:\ncutover keeps a revision you edited and runs it as you wrote it.\n"""\n'


def _q(name: str) -> str:
    return repr(name)


def render_type(col: ColumnPlan) -> tuple[str, set[str]]:
    """The SQLAlchemy type expression for a Postgres type, and the imports it needs."""
    t = col.pg_type.strip().lower()
    base = pg_base(t)
    args = re.findall(r"\d+", t[t.find("(") :]) if "(" in t else []
    simple = {
        "smallint": "sa.SmallInteger()",
        "integer": "sa.Integer()",
        "bigint": "sa.BigInteger()",
        "double precision": "sa.Double()",
        "real": "sa.REAL()",
        "boolean": "sa.Boolean()",
        "timestamp": "sa.DateTime()",
        "timestamptz": "sa.DateTime(timezone=True)",
        "date": "sa.Date()",
        "time": "sa.Time()",
        "text": "sa.Text()",
        "uuid": "sa.Uuid()",
        "bytea": "postgresql.BYTEA()",
        "jsonb": "postgresql.JSONB()",
        "json": "postgresql.JSON()",
        "citext": "postgresql.CITEXT()",
    }
    if base == "varchar":
        return (f"sa.String({args[0]})" if args else "sa.String()"), set()
    if base == "char":
        return f"sa.CHAR({args[0] if args else 1})", set()
    if base == "numeric":
        return f"sa.Numeric({', '.join(args)})", set()
    if base in ("vector", "halfvec", "sparsevec"):
        cls = {"vector": "Vector", "halfvec": "HALFVEC", "sparsevec": "SPARSEVEC"}[base]
        return f"{cls}({args[0] if args else ''})", {f"from pgvector.sqlalchemy import {cls}"}
    if base == "xml":
        return "XML()", {XML_TYPE}
    if base in simple:
        expr = simple[base]
        return expr, ({"from sqlalchemy.dialects import postgresql"} if expr.startswith("postgresql.") else set())
    from sqlalchemy.dialects.postgresql.base import ischema_names

    if base in ischema_names:
        cls_name = ischema_names[base].__name__
        return f"postgresql.{cls_name}({', '.join(args)})", {"from sqlalchemy.dialects import postgresql"}
    raise TargetError(f"no SQLAlchemy type for Postgres type {col.pg_type!r}", column=col.source, hint="use a Postgres type name such as text, integer, jsonb, vector(768)")


def _column_code(col: ColumnPlan) -> tuple[str, set[str]]:
    type_expr, imports = render_type(col)
    parts = [_q(col.name), type_expr]
    if col.identity:
        parts.append("sa.Identity(always=False)")
    if col.default is not None:
        parts.append(f"server_default=sa.text({_q(col.default)})")
    parts.append(f"nullable={col.nullable}")
    return f"sa.Column({', '.join(parts)})", imports


PLAIN_VECTOR_BYTES = 6_200  # vector(1536) float32 still fits a heap row with room for the other columns


def _inline_vector(col: ColumnPlan) -> bool:
    base = pg_base(col.pg_type)
    dims = re.findall(r"\d+", col.pg_type)
    if base not in ("vector", "halfvec") or not dims:
        return False
    return int(dims[0]) * (2 if base == "halfvec" else 4) <= PLAIN_VECTOR_BYTES


def _ident(schema: str | None, name: str) -> str:
    from psycopg import sql

    quoted = sql.Identifier(name).as_string()
    return quoted if schema in (None, "public") else f"{sql.Identifier(schema).as_string()}.{quoted}"


def _schema_kw(plan: SchemaPlan) -> str:
    return "" if plan.target_schema == "public" else f", schema={_q(plan.target_schema)}"


def render_tables(plan: SchemaPlan, rev: str) -> str:
    """Revision 1: extensions and tables with their primary keys."""
    imports: set[str] = set()
    ups: list[str] = []
    downs: list[str] = []
    skw = _schema_kw(plan)
    if plan.target_schema != "public":
        ups.append(f"op.execute('CREATE SCHEMA IF NOT EXISTS \"{plan.target_schema}\"')")
    if any(pg_base(c.pg_type) in ("vector", "halfvec", "sparsevec") for t in plan.tables for c in t.columns):
        ups.append('op.execute("CREATE EXTENSION IF NOT EXISTS vector")')
    for tp in plan.tables:
        lines = [f"op.create_table(", f"    {_q(tp.name)},"]
        for col in tp.columns:
            code, imp = _column_code(col)
            imports |= imp
            lines.append(f"    {code},")
        if tp.primary_key:
            cols = ", ".join(_q(c) for c in tp.primary_key)
            lines.append(f"    sa.PrimaryKeyConstraint({cols}, name={_q(tp.pk_name or tp.name + '_pkey')}),")
        if skw:
            lines.append(f"    schema={_q(plan.target_schema)},")
        lines.append(")")
        ups.append("\n    ".join(lines))
        for col in tp.columns:
            if _inline_vector(col):
                # pgvector's advice: keep vectors in the heap (no TOAST), so an index scan beats a seq scan
                statement = f"ALTER TABLE {_ident(plan.target_schema, tp.name)} ALTER COLUMN {_ident(None, col.name)} SET STORAGE PLAIN"
                ups.append(f"op.execute({_q(statement)})")
        downs.insert(0, f"op.drop_table({_q(tp.name)}{skw})")
    return _module(f"create the {plan.database} tables", rev, None, imports, ups, downs)


def render_keys(plan: SchemaPlan, rev: str, down: str, not_valid_fks: bool) -> str:
    """Revision 2: unique constraints, secondary indexes, foreign keys (after the load)."""
    ups: list[str] = []
    downs: list[str] = []
    skw = _schema_kw(plan)
    for tp in plan.tables:
        for u in tp.uniques:
            ups.append(f"op.create_unique_constraint({_q(u.name)}, {_q(tp.name)}, [{', '.join(_q(c) for c in u.columns)}]{skw})")
            downs.insert(0, f"op.drop_constraint({_q(u.name)}, {_q(tp.name)}, type_='unique'{skw})")
        for idx in tp.indexes:
            if idx.simple:
                cols = ", ".join(_q(c) for c in idx.columns)
            else:
                cols = ", ".join(f"sa.text({_q(e)})" for e in idx.elements)
            extra = ", unique=True" if idx.unique else ""
            if idx.using:
                extra += f", postgresql_using={_q(idx.using)}"
            if idx.ops:
                extra += f", postgresql_ops={{{_q(idx.columns[0])}: {_q(idx.ops)}}}"
            if idx.options:
                extra += f", postgresql_with={idx.options!r}"
            if idx.where:
                extra += f", postgresql_where=sa.text({_q(idx.where)})"
            ups.append(f"op.create_index({_q(idx.name)}, {_q(tp.name)}, [{cols}]{extra}{skw})")
            downs.insert(0, f"op.drop_index({_q(idx.name)}, table_name={_q(tp.name)}{skw})")
    for tp in plan.tables:
        for check in tp.checks:
            ups.append(f"op.create_check_constraint({_q(check.name)}, {_q(tp.name)}, sa.text({_q(check.expression)}){skw})")
            downs.insert(0, f"op.drop_constraint({_q(check.name)}, {_q(tp.name)}, type_='check'{skw})")
    for tp in plan.tables:
        for fk in tp.foreign_keys:
            extra = ""
            if fk.deferrable:
                extra += ", deferrable=True" + (", initially='DEFERRED'" if fk.initially_deferred else "")
            if fk.on_delete:
                extra += f", ondelete={_q(fk.on_delete)}"
            if fk.on_update:
                extra += f", onupdate={_q(fk.on_update)}"
            if not_valid_fks:
                extra += ", postgresql_not_valid=True"
            if skw:
                extra += f", source_schema={_q(plan.target_schema)}, referent_schema={_q(plan.target_schema)}"
            ups.append(
                f"op.create_foreign_key({_q(fk.name)}, {_q(tp.name)}, {_q(fk.ref_table)}, "
                f"[{', '.join(_q(c) for c in fk.columns)}], [{', '.join(_q(c) for c in fk.ref_columns)}]{extra})"
            )
            downs.insert(0, f"op.drop_constraint({_q(fk.name)}, {_q(tp.name)}, type_='foreignkey'{skw})")
    return _module(f"indexes, unique, check and foreign keys of {plan.database} (added after the data load)", rev, down, set(), ups, downs)


def _module(message: str, rev: str, down: str | None, imports: set[str], ups: list[str], downs: list[str]) -> str:
    head = _header(message, rev, down)
    lines = [head, "from alembic import op", "import sqlalchemy as sa", *sorted(imports), "", f"revision = {_q(rev)}", f"down_revision = {_q(down) if down else None}", "branch_labels = None", "depends_on = None", "", ""]
    lines.append("def upgrade() -> None:")
    lines += [f"    {u}" for u in ups] or ["    pass"]
    lines += ["", "", "def downgrade() -> None:"]
    lines += [f"    {d}" for d in downs] or ["    pass"]
    return "\n".join(lines) + "\n"


def upgrade(revisions: Revisions, target_url: str, revision: str, schema: str, version_table: str) -> list[tuple[str, float]]:
    """Run `alembic upgrade <revision>` with cutover's own connection; returns (DDL, seconds) of index and key builds."""
    from alembic import command
    from sqlalchemy import event

    timings: list[tuple[str, float]] = []

    def run(cfg: AlembicConfig, connection: SAConnection) -> None:
        started: dict[int, float] = {}

        @event.listens_for(connection, "before_cursor_execute")
        def _start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            started[id(cursor)] = time.monotonic()

        @event.listens_for(connection, "after_cursor_execute")
        def _stop(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX", "ALTER TABLE")):
                timings.append((_shown(statement), time.monotonic() - started.pop(id(cursor), time.monotonic())))

        command.upgrade(cfg, revision)

    _alembic(revisions, target_url, schema, version_table, f"alembic upgrade to {revision}", run)
    return timings


def _alembic(revisions: Revisions, target_url: str, schema: str, version_table: str, what: str, run: Callable[[AlembicConfig, SAConnection], T], output_buffer: TextIO | None = None) -> T:
    """Run an Alembic command through env.py on cutover's own connection, in one transaction."""
    from alembic.config import Config
    from sqlalchemy import create_engine, pool

    from cutover.urls import redact, sqlalchemy_url

    cfg = Config(str(revisions.directory / "alembic.ini"), output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(revisions.directory))
    cfg.set_main_option("version_table", version_table)
    cfg.set_main_option("version_table_schema", schema)
    engine = create_engine(sqlalchemy_url(target_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            return run(cfg, connection)
    except Exception as exc:
        raise TargetError(f"{what} failed: {redact(_first_line(exc))}", hint=f"inspect the revision in {revisions.directory / 'versions'}") from exc
    finally:
        engine.dispose()


# -- the keys revision on several connections at once ----------------------------------------------

DDL_SHOWN_CHARS = 200  # a note or an error shows a statement this far: its name, table and USING clause
KEYS_APPLICATION_NAME = "cutover keys"  # how the key builds' connections show in pg_stat_activity

# The statements of a keys revision as SQLAlchemy renders them for Postgres: names bare or double-quoted.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_RELATION = rf"{_IDENT}(?:\.{_IDENT})?"
_INDEX = re.compile(rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?P<name>{_IDENT})\s+ON\s+(?P<table>{_RELATION})(?=[\s(])", re.IGNORECASE)
_CONSTRAINT = re.compile(
    rf"ALTER\s+TABLE\s+(?P<table>{_RELATION})\s+ADD\s+CONSTRAINT\s+(?P<name>{_IDENT})\s+(?P<kind>UNIQUE|CHECK|PRIMARY\s+KEY|FOREIGN\s+KEY)\b"
    rf'(?:\s*\((?:[^()"]|"(?:[^"]|"")*")*\)\s*REFERENCES\s+(?P<ref>{_RELATION}))?',
    re.IGNORECASE,
)
_VERSION_ROW = re.compile(rf"(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+TABLE)\s+(?P<table>{_RELATION})", re.IGNORECASE)
_CONTYPES = {"unique": "u", "check": "c", "primary key": "p", "foreign key": "f"}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _shown(statement: str) -> str:
    return " ".join(statement.split())[:DDL_SHOWN_CHARS]


@dataclass(frozen=True)
class KeyStatement:
    """One statement of the keys revision as Alembic renders it, and the index or constraint it builds."""

    ddl: str
    kind: str  # index, unique, check, primary key or foreign key
    name: str
    table: tuple[str, ...]  # (schema, table) or (table,), as the statement names it
    references: tuple[str, ...] | None = None

    @property
    def tables(self) -> frozenset[tuple[str, ...]]:
        """The tables the statement locks: its own and, for a foreign key, the referenced one."""
        return frozenset(t for t in (self.table, self.references) if t is not None)


def upgrade_keys_parallel(revisions: Revisions, target_url: str, schema: str, version_table: str, jobs: int) -> list[tuple[str, float]]:
    """The keys revision on `jobs` connections (indexes and checks, then foreign keys), skipping what exists; (DDL, seconds) per build."""
    from alembic import command

    keys_file = revisions.directory / "versions" / f"{revisions.keys_rev}.py"
    edited = any(p.name == keys_file.name for p in revisions.kept_edits)
    # Alembic's offline SQL turns tabs into spaces, which would change a string literal holding one
    if jobs <= 1 or edited or re.search(r"\t|\\t", keys_file.read_text(encoding="utf-8")):
        return upgrade(revisions, target_url, revisions.keys_rev, schema, version_table)
    current, statements = _offline_keys(revisions, target_url, schema, version_table)
    if current != revisions.tables_rev or statements is None:  # an unusual state or statement: Alembic decides
        return upgrade(revisions, target_url, revisions.keys_rev, schema, version_table)
    built = _build(statements, target_url, jobs, keys_file) if statements else {}
    _alembic(revisions, target_url, schema, version_table, f"alembic stamp {revisions.keys_rev}", lambda cfg, _: command.stamp(cfg, revisions.keys_rev))
    return [(_shown(s.ddl), built[s]) for s in statements if s in built]


class _StatementLog(io.StringIO):
    """Alembic's offline output one write at a time: it writes each statement in one call, and a literal may hold ';\\n\\n'."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def _offline_keys(revisions: Revisions, target_url: str, schema: str, version_table: str) -> tuple[str | None, list[KeyStatement] | None]:
    """The database's current revision, and the keys revision's statements as `alembic upgrade --sql` writes them (None: one is not an index or key)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    log = _StatementLog()

    def run(cfg: AlembicConfig, connection: SAConnection) -> str | None:
        current = MigrationContext.configure(connection, opts={"version_table": version_table, "version_table_schema": schema}).get_current_revision()
        # offline, env.py's connection only lends its dialect, so the SQL is compiled as online
        command.upgrade(cfg, f"{revisions.tables_rev}:{revisions.keys_rev}", sql=True)
        return current

    current = _alembic(revisions, target_url, schema, version_table, f"alembic upgrade {revisions.tables_rev}:{revisions.keys_rev} --sql", run, output_buffer=log)
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
            statements.append(KeyStatement(ddl, "index", _unquote(m["name"]), _relation(m["table"])))
        elif m := _CONSTRAINT.match(ddl):
            kind = " ".join(m["kind"].lower().split())
            statements.append(KeyStatement(ddl, kind, _unquote(m["name"]), _relation(m["table"]), _relation(m["ref"]) if m["ref"] else None))
        else:
            return None
    return statements


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident.lower()


def _relation(text: str) -> tuple[str, ...]:
    return tuple(_unquote(part) for part in re.findall(_IDENT, text))


def _build(statements: list[KeyStatement], target_url: str, jobs: int, keys_file: Path) -> dict[KeyStatement, float]:
    """Run the statements on `jobs` autocommit connections, each its own transaction: indexes and checks first, then foreign keys."""
    from cutover import target as tgt

    conns: list[psycopg.Connection[Any]] = []
    built: dict[KeyStatement, float] = {}
    try:
        for _ in range(min(jobs, len(statements))):
            conns.append(tgt.connect(target_url, autocommit=True, application_name=KEYS_APPLICATION_NAME))
        ordered = _largest_first(conns[0], statements)
        # CREATE INDEX on one table can run side by side; ADD CONSTRAINT takes an exclusive lock and waits its turn.
        # A foreign key locks its table and the referenced one, so two touching a table never run together.
        for batch, exclusive in (([s for s in ordered if s.kind != "foreign key"], False), ([s for s in ordered if s.kind == "foreign key"], True)):
            work = _Work(batch, exclusive)
            _run(conns, work)
            built.update(work.built)
            if work.failures:
                raise _failure(*work.failures[0], keys_file)
    finally:
        for conn in conns:
            conn.close()
    return built


def _largest_first(conn: psycopg.Connection[Any], statements: list[KeyStatement]) -> list[KeyStatement]:
    """Builds on the biggest tables first, so the longest ones do not start last (revision order among equals)."""
    from psycopg import sql

    tables = sorted({s.table for s in statements})
    names = [sql.Identifier(*t).as_string(conn) for t in tables]
    rows = conn.execute("SELECT coalesce(pg_relation_size(to_regclass(t)), 0) FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n", (names,)).fetchall()
    size = {t: row[0] for t, row in zip(tables, rows)}
    return sorted(statements, key=lambda s: -size[s.table])


class _Work:
    """The statements the build threads share; with exclusive=True no two running ones share a table."""

    def __init__(self, statements: list[KeyStatement], exclusive: bool) -> None:
        self.pending = list(statements)
        self.exclusive = exclusive
        self.busy: set[tuple[str, ...]] = set()
        self.built: dict[KeyStatement, float] = {}
        self.failures: list[tuple[KeyStatement, Exception]] = []
        self.stopped = False
        self.changed = threading.Condition()

    def take(self) -> KeyStatement | None:
        """The next statement free to run, waiting while only blocked ones are left; None when all are taken or one failed."""
        with self.changed:
            while not self.stopped and self.pending:
                for i, statement in enumerate(self.pending):
                    if not self.exclusive or not statement.tables & self.busy:
                        if self.exclusive:
                            self.busy |= statement.tables
                        return self.pending.pop(i)
                self.changed.wait()
            return None

    def finish(self, statement: KeyStatement, seconds: float | None, error: Exception | None) -> None:
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
    """One thread per connection until the work is done; psycopg releases the GIL while the server builds."""
    threads = [threading.Thread(target=_worker, args=(conn, work), name=f"cutover-keys-{i}", daemon=True) for i, conn in enumerate(conns)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # interrupted: cancel the builds in flight; what finished stays, a rerun skips it
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
                # Offline, SQLAlchemy doubles every % for psycopg's paramstyle; a parameter mapping, even an
                # empty one, makes psycopg undo it, as it does for Alembic online.
                conn.execute(statement.ddl, {})
                seconds = time.monotonic() - started
        except Exception as exc:
            error = exc
        finally:
            work.finish(statement, seconds, error)


def _exists(conn: psycopg.Connection[Any], statement: KeyStatement) -> bool:
    """Whether the statement's index or constraint is already on its table (built by an interrupted run)."""
    from psycopg import sql

    table = sql.Identifier(*statement.table).as_string(conn)
    if statement.kind == "index":
        row = conn.execute("SELECT EXISTS (SELECT FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(%s) AND c.relname = %s)", (table, statement.name)).fetchone()
    else:
        row = conn.execute("SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = to_regclass(%s) AND conname = %s AND contype = %s)", (table, statement.name, _CONTYPES[statement.kind])).fetchone()
    return bool(row and row[0])


def _failure(statement: KeyStatement, exc: Exception, keys_file: Path) -> TargetError:
    from cutover import target as tgt
    from cutover.urls import redact

    detail = getattr(getattr(exc, "diag", None), "message_detail", None)
    error = TransientError if tgt.is_transient(exc) else TargetError
    return error(
        redact(f"{_shown(statement.ddl)} failed: {_first_line(exc)}" + (f" ({detail})" if detail else "")),
        table=statement.table[-1],
        hint=f"fix the cause and run phase 2 again: the indexes and keys already built are kept and skipped; the statement comes from {keys_file}",
    )


def stamp_base(revisions: Revisions, target_url: str, schema: str, version_table: str) -> None:
    """Forget earlier upgrades (after the tables were dropped with --yes)."""
    import psycopg
    from psycopg import sql

    from cutover.urls import postgres_conninfo

    with psycopg.connect(postgres_conninfo(target_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(version_table)))


