"""The mapped schema as Alembic code: one revision creating tables, one adding indexes and keys.

Files live in <project>/<alembic_dir>/<database>/ with an env.py and alembic.ini of their own, so
`alembic -c alembic/<db>/alembic.ini upgrade head` works without cutover too. A revision a user
edited (its body no longer matches the hash cutover wrote) is kept, never overwritten. The folder
records the config and database it belongs to (cutover-owner.json): another config's database of
the same name is refused rather than allowed to overwrite it.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from cutover.config import PG_SESSION_OPTIONS
from cutover.errors import TargetError
from cutover.schema.naming import fit
from cutover.schema.owner import Owner, check_owner, record_owner
from cutover.schema.rules import pg_base
from cutover.schema.search import TRIGRAM_OPS
from cutover.schema.target_plan import SchemaPlan
from cutover.schema.typemap import ColumnPlan

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy.engine import Connection as SAConnection

T = TypeVar("T")

HASH_MARK = "# cutover-hash: "

# alembic_version.version_num is varchar(32): a revision id is the database's slug and a suffix
VERSION_NUM_CHARS = 32
TABLES_SUFFIX, KEYS_SUFFIX = "_0001_tables", "_0002_keys"
SLUG_BYTES = VERSION_NUM_CHARS - max(len(TABLES_SUFFIX), len(KEYS_SUFFIX))

# SQLAlchemy has no Postgres xml type; a revision that needs one defines it (and runs without
# cutover)
XML_TYPE = '''

class XML(sa.types.UserDefinedType):
    """Postgres xml."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "XML"
'''

TEMPLATES = (
    "cutover.alembic"  # the repository's top-level alembic/ folder, installed in the package
)


def _template(name: str) -> str:
    """A file of the Alembic environment cutover writes next to each database's revisions."""
    return resources.files(TEMPLATES).joinpath(name).read_text(encoding="utf-8")


@dataclass
class Revisions:
    """Where the two revisions of one database are, and their ids."""

    directory: Path
    tables_rev: str
    keys_rev: str
    kept_edits: list[Path]


def revision_ids(database: str) -> tuple[str, str]:
    """Stable ids that fit alembic_version.version_num: the same database, the same two revisions.

    A short ASCII name keeps its readable slug (and the ids earlier runs recorded); a long one, or
    one whose slug lost characters (non-ASCII), gets a shortened slug with a hash of the name.
    """
    slug = re.sub(r"[^0-9a-zA-Z_]", "_", database).lower()
    lossy = not database.isascii() or not any(ch.isalnum() for ch in slug)
    if lossy:
        slug = re.sub(r"_+", "_", slug).strip("_") or "db"
    slug = fit(slug, SLUG_BYTES, hashed_from=database if lossy else None)
    return f"{slug}{TABLES_SUFFIX}", f"{slug}{KEYS_SUFFIX}"


def write(
    plan: SchemaPlan,
    directory: Path,
    *,
    version_table: str,
    env_key: str,
    not_valid_fks: bool = False,
    owner: Owner | None = None,
) -> Revisions:
    """Render both revisions (and env.py on first use) into `directory`, recording its owner."""
    if owner is not None:
        check_owner(directory, owner)
    versions = directory / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    if owner is not None:
        record_owner(directory, owner)
    if not (directory / "env.py").exists():
        (directory / "env.py").write_text(_template("env.py"), encoding="utf-8")
        (directory / "script.py.mako").write_text(_template("script.py.mako"), encoding="utf-8")
    (directory / "alembic.ini").write_text(
        _template("alembic.ini.template").format(
            version_table=version_table, schema=plan.target_schema, env_key=env_key
        ),
        encoding="utf-8",
    )
    rev1, rev2 = revision_ids(plan.database)
    kept: list[Path] = []
    for path, text in (
        (versions / f"{rev1}.py", render_tables(plan, rev1)),
        (versions / f"{rev2}.py", render_keys(plan, rev2, rev1, not_valid_fks)),
    ):
        if _write_unless_edited(path, text):
            kept.append(path)
    return Revisions(directory, rev1, rev2, kept)


@dataclass
class ObjectSQL:
    """One view or trigger for revision 3: the DDL that
    creates it and drops it, and its source SQL.
    """

    kind: str  # view | trigger
    name: str
    creates: list[str]
    drops: list[str]
    source_sql: str = ""


@dataclass
class Objects:
    """Views and triggers for revision 3, in the order they are created."""

    items: list[ObjectSQL] = field(default_factory=list)


def views_revision_id(database: str) -> str:
    """The third revision's stable id: `<db>_0003_views`, after the keys."""
    return f"{revision_ids(database)[0].removesuffix('_0001_tables')}_0003_views"


def write_views(revisions: Revisions, database: str, objects: Objects) -> str | None:
    """Render revision 3 (views and triggers, in order)
    after the keys one; its id, or None when empty.
    """
    rev = views_revision_id(database)
    path = revisions.directory / "versions" / f"{rev}.py"
    if not objects.items:
        if path.exists() and not _edited(path.read_text(encoding="utf-8")):
            path.unlink()  # cutover wrote it for views the source no longer has
        return rev if path.exists() else None
    creates = [c for item in objects.items for c in item.creates]
    drops = [d for item in reversed(objects.items) for d in item.drops]
    ups = [f"op.execute(sa.text({_q(_bind_safe(c))}))" for c in creates]
    downs = [f"op.execute(sa.text({_q(_bind_safe(d))}))" for d in drops]
    text = _module(
        f"views and triggers of {database} (translated from the source)",
        rev,
        revisions.keys_rev,
        set(),
        ups,
        downs,
    )
    if _write_unless_edited(path, text):
        revisions.kept_edits.append(path)
    return rev


def _bind_safe(statement: str) -> str:
    """Colons sa.text() would read as bind parameters, escaped (casts `::` and `:=` stay)."""
    return re.sub(r"(?<![:\w\\]):(?=\w)", r"\:", statement)


def _body_hash(text: str) -> str:
    body = "\n".join(
        line for line in text.splitlines() if not line.startswith((HASH_MARK, "Create Date:"))
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _edited(text: str) -> bool:
    """True when a revision cutover wrote was changed by hand since (or was never cutover's)."""
    m = re.search(rf"^{re.escape(HASH_MARK)}(\w+)$", text, re.MULTILINE)
    return m is None or m.group(1) != _body_hash(text)


def _write_unless_edited(path: Path, text: str) -> bool:
    """Write `text` (with its hash line) unless the file was edited by hand; True when kept."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        m = re.search(rf"^{re.escape(HASH_MARK)}(\w+)$", old, re.MULTILINE)
        if m is None or m.group(1) != _body_hash(old):
            return True
        if m.group(1) == _body_hash(text):
            return False
    path.write_text(
        text.replace("\n\nfrom alembic", f"\n{HASH_MARK}{_body_hash(text)}\n\nfrom alembic", 1),
        encoding="utf-8",
    )
    return False


def _header(message: str, rev: str, down: str | None) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return (
        f'"""{message}\n\nRevision ID: {rev}\nRevises:{" " + down if down else ""}\nCreate '
        f"Date: {stamp}\n\nGenerated by cutover from the source schema. Review it, edit it, "
        'commit it:\ncutover keeps a revision you edited and runs it as you wrote it.\n"""\n'
    )


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
        return expr, (
            {"from sqlalchemy.dialects import postgresql"}
            if expr.startswith("postgresql.")
            else set()
        )
    from sqlalchemy.dialects.postgresql.base import ischema_names

    if base in ischema_names:
        cls_name = ischema_names[base].__name__
        return f"postgresql.{cls_name}({', '.join(args)})", {
            "from sqlalchemy.dialects import postgresql"
        }
    raise TargetError(
        f"no SQLAlchemy type for Postgres type {col.pg_type!r}",
        column=col.source,
        hint="use a Postgres type name such as text, integer, jsonb, vector(768)",
    )


def _column_code(col: ColumnPlan) -> tuple[str, set[str]]:
    type_expr, imports = render_type(col)
    parts = [_q(col.name), type_expr]
    if col.identity:
        parts.append("sa.Identity(always=False)")
    elif col.family == "integer":
        # else SQLAlchemy makes a lone integer primary key a SERIAL, inventing values for it
        parts.append("autoincrement=False")
    if col.default is not None:
        parts.append(f"server_default=sa.text({_q(col.default)})")
    if col.generated is not None:  # positional: right after the type
        parts.insert(2, f"sa.Computed({_q(col.generated)}, persisted=True)")
    parts.append(f"nullable={col.nullable}")
    return f"sa.Column({', '.join(parts)})", imports


PLAIN_VECTOR_BYTES = (
    6_200  # vector(1536) float32 still fits a heap row with room for the other columns
)


def _inline_vector(col: ColumnPlan) -> bool:
    base = pg_base(col.pg_type)
    dims = re.findall(r"\d+", col.pg_type)
    if base not in ("vector", "halfvec") or not dims:
        return False
    return int(dims[0]) * (2 if base == "halfvec" else 4) <= PLAIN_VECTOR_BYTES


def _ident(schema: str | None, name: str) -> str:
    from psycopg import sql

    quoted = sql.Identifier(name).as_string()
    return (
        quoted if schema in (None, "public") else f"{sql.Identifier(schema).as_string()}.{quoted}"
    )


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
    if any(
        pg_base(c.pg_type) in ("vector", "halfvec", "sparsevec")
        for t in plan.tables
        for c in t.columns
    ):
        ups.append('op.execute("CREATE EXTENSION IF NOT EXISTS vector")')
    if any(i.ops == TRIGRAM_OPS for t in plan.tables for i in t.indexes):
        ups.append('op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")')
    for tp in plan.tables:
        lines = ["op.create_table(", f"    {_q(tp.name)},"]
        for col in tp.columns:
            code, imp = _column_code(col)
            imports |= imp
            lines.append(f"    {code},")
        if tp.primary_key:
            cols = ", ".join(_q(c) for c in tp.primary_key)
            lines.append(
                f"    sa.PrimaryKeyConstraint({cols}, name={_q(tp.pk_name or tp.name + '_pkey')}),"
            )
        if skw:
            lines.append(f"    schema={_q(plan.target_schema)},")
        lines.append(")")
        ups.append("\n    ".join(lines))
        for col in tp.columns:
            if _inline_vector(col):
                # pgvector's advice: keep vectors in the heap (no TOAST), so an index scan beats a
                # seq scan
                statement = (
                    f"ALTER TABLE {_ident(plan.target_schema, tp.name)} ALTER COLUMN "
                    f"{_ident(None, col.name)} SET STORAGE PLAIN"
                )
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
            ups.append(
                f"op.create_unique_constraint({_q(u.name)}, {_q(tp.name)}, "
                f"[{', '.join(_q(c) for c in u.columns)}]{skw})"
            )
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
            ups.append(
                f"op.create_check_constraint({_q(check.name)}, {_q(tp.name)}, "
                f"sa.text({_q(check.expression)}){skw})"
            )
            downs.insert(
                0, f"op.drop_constraint({_q(check.name)}, {_q(tp.name)}, type_='check'{skw})"
            )
    for tp in plan.tables:
        for fk in tp.foreign_keys:
            extra = ""
            if fk.deferrable:
                extra += ", deferrable=True" + (
                    ", initially='DEFERRED'" if fk.initially_deferred else ""
                )
            if fk.on_delete:
                extra += f", ondelete={_q(fk.on_delete)}"
            if fk.on_update:
                extra += f", onupdate={_q(fk.on_update)}"
            if not_valid_fks:
                extra += ", postgresql_not_valid=True"
            if skw:
                extra += (
                    f", source_schema={_q(plan.target_schema)}, "
                    f"referent_schema={_q(plan.target_schema)}"
                )
            ups.append(
                f"op.create_foreign_key({_q(fk.name)}, {_q(tp.name)}, {_q(fk.ref_table)}, "
                f"[{', '.join(_q(c) for c in fk.columns)}], "
                f"[{', '.join(_q(c) for c in fk.ref_columns)}]{extra})"
            )
            downs.insert(
                0, f"op.drop_constraint({_q(fk.name)}, {_q(tp.name)}, type_='foreignkey'{skw})"
            )
    return _module(
        f"indexes, unique, check and foreign keys of {plan.database} (added after the data load)",
        rev,
        down,
        set(),
        ups,
        downs,
    )


def _module(
    message: str, rev: str, down: str | None, imports: set[str], ups: list[str], downs: list[str]
) -> str:
    head = _header(message, rev, down)
    lines = [
        head,
        "from alembic import op",
        "import sqlalchemy as sa",
        *sorted(imports),
        "",
        f"revision = {_q(rev)}",
        f"down_revision = {_q(down) if down else None}",
        "branch_labels = None",
        "depends_on = None",
        "",
        "",
    ]
    lines.append("def upgrade() -> None:")
    lines += [f"    {u}" for u in ups] or ["    pass"]
    lines += ["", "", "def downgrade() -> None:"]
    lines += [f"    {d}" for d in downs] or ["    pass"]
    return "\n".join(lines) + "\n"


def upgrade(
    revisions: Revisions, target_url: str, revision: str, schema: str, version_table: str
) -> list[tuple[str, float]]:
    """Run `alembic upgrade <revision>` with cutover's own connection; returns (DDL, seconds) of
    index and key builds.
    """
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
            if (
                statement.lstrip()
                .upper()
                .startswith(("CREATE INDEX", "CREATE UNIQUE INDEX", "ALTER TABLE"))
            ):
                timings.append(
                    (
                        _shown(statement),
                        time.monotonic() - started.pop(id(cursor), time.monotonic()),
                    )
                )

        command.upgrade(cfg, revision)

    _alembic(revisions, target_url, schema, version_table, f"alembic upgrade to {revision}", run)
    return timings


def _alembic(
    revisions: Revisions,
    target_url: str,
    schema: str,
    version_table: str,
    what: str,
    run: Callable[[AlembicConfig, SAConnection], T],
    output_buffer: TextIO | None = None,
) -> T:
    """Run an Alembic command through env.py on cutover's own connection, in one transaction."""
    from alembic.config import Config
    from sqlalchemy import create_engine, pool

    from cutover.urls import redact, sqlalchemy_url

    cfg = Config(str(revisions.directory / "alembic.ini"), output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(revisions.directory))
    cfg.set_main_option("version_table", version_table)
    cfg.set_main_option("version_table_schema", schema)
    engine = create_engine(
        sqlalchemy_url(target_url),
        poolclass=pool.NullPool,
        connect_args={"options": PG_SESSION_OPTIONS},
    )
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            return run(cfg, connection)
    except Exception as exc:
        raise TargetError(
            f"{what} failed: {redact(_first_line(exc))}",
            hint=f"inspect the revision in {revisions.directory / 'versions'}",
        ) from exc
    finally:
        engine.dispose()


DDL_SHOWN_CHARS = (
    200  # a note or an error shows a statement this far: its name, table and USING clause
)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _shown(statement: str) -> str:
    return " ".join(statement.split())[:DDL_SHOWN_CHARS]


def stamp_base(revisions: Revisions, target_url: str, schema: str, version_table: str) -> None:
    """Forget earlier upgrades (after the tables were dropped with --yes)."""
    import psycopg
    from psycopg import sql

    from cutover.urls import postgres_conninfo

    with psycopg.connect(
        postgres_conninfo(target_url), autocommit=True, options=PG_SESSION_OPTIONS
    ) as conn:
        conn.execute(
            sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                sql.Identifier(schema), sql.Identifier(version_table)
            )
        )
