"""The Postgres side: connections, preflight, catalog, the COPY writer, and post-load steps.

Every identifier goes through psycopg.sql.Identifier; values are always parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from cutover import urls
from cutover.config import PG_SESSION_OPTIONS
from cutover.errors import TargetError, TransientError
from cutover.schema.target_plan import Catalog, CatalogColumn

STATE_SCHEMA = "_cutover"  # progress and digests live in the target, committed with the rows
CONNECT_TIMEOUT_S = 10
# What libpq says when a server is restarting or the network blinks, worth a retry (a wrong
# password,
# a missing database or a pg_hba.conf refusal is not): reconnecting mid-load rides out a restart.
CONNECT_TRANSIENT = (
    "timeout",
    "Connection refused",
    "server closed the connection unexpectedly",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",  # crash recovery still replaying WAL
    "Consistent recovery state has not been yet reached",
    "Connection reset by peer",
    "No route to host",
)

# SQLSTATE classes worth a retry: connection exceptions, admin shutdown, serialization, deadlock.
TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")


@dataclass
class ServerInfo:
    """What preflight found on the target server."""

    version: str
    version_num: int
    database: str
    user: str
    can_create: bool
    vector_available: str | None
    vector_installed: str | None


def is_transient(exc: BaseException) -> bool:
    """Whether a psycopg error is worth retrying."""
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
        exc, psycopg.errors.ProgrammingError
    ):
        state = getattr(exc, "sqlstate", None)
        return state is None or state.startswith(TRANSIENT_SQLSTATES)
    state = getattr(exc, "sqlstate", None) or ""
    return bool(state) and state.startswith(TRANSIENT_SQLSTATES)


def connect(
    url: str, *, autocommit: bool = False, create: bool = False, application_name: str = "cutover"
) -> psycopg.Connection[Any]:
    """Connect to the target; with create=True, create the database first if it is missing."""
    conninfo = urls.postgres_conninfo(url)
    options = {
        "autocommit": autocommit,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": application_name,
        "options": session_options(conninfo),
    }
    try:
        return psycopg.connect(conninfo, **options)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        message = str(exc)
        if create and "does not exist" in message and "database" in message:
            create_database(url)
            return psycopg.connect(conninfo, **options)  # type: ignore[arg-type]
        error = (
            TransientError if any(sign in message for sign in CONNECT_TRANSIENT) else TargetError
        )
        # libpq's message is "what failed: why\n\thint": keep every line, on one line
        said = " ".join(line.strip() for line in message.splitlines() if line.strip())
        raise error(
            f"cannot connect to {urls.redact(url)}: {urls.redact(said)}",
            hint="is the server running and the URL right? `cutover demo` shows a working "
            "embedded setup",
        ) from exc


def session_options(conninfo: str) -> str:
    """The URL's own libpq `options`, with TimeZone pinned to UTC after them (so it wins)."""
    own = conninfo_to_dict(conninfo).get("options")
    return f"{own} {PG_SESSION_OPTIONS}" if own else PG_SESSION_OPTIONS


def create_database(url: str) -> None:
    """CREATE DATABASE for the database the URL names, through the server's 'postgres' database."""
    name = urls.parse(url).database or "postgres"
    admin = urls.with_database(urls.postgres_conninfo(url), "postgres")
    try:
        with psycopg.connect(
            admin, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, options=PG_SESSION_OPTIONS
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise TargetError(
            f"cannot create database {name}: {exc}",
            hint="create it yourself (createdb) or grant CREATEDB",
        ) from exc


def server_info(conn: psycopg.Connection[Any], schema: str) -> ServerInfo:
    """Version, privileges and pgvector availability of the target."""
    row = conn.execute(
        """
        SELECT current_setting('server_version'), current_setting('server_version_num')::int,
               current_database(), current_user,
               has_database_privilege(current_database(), 'CREATE')
                 AND (NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(s)s)
                      OR has_schema_privilege(%(s)s, 'CREATE')),
               (SELECT default_version FROM pg_available_extensions WHERE name = 'vector'),
               (SELECT extversion FROM pg_extension WHERE extname = 'vector')
        """,
        {"s": schema},
    ).fetchone()
    assert row is not None
    conn.rollback()
    return ServerInfo(*row)


def vector_install_hint(version_num: int) -> str:
    """How to get pgvector onto a server of this major version."""
    major = version_num // 10000
    return (
        f"install pgvector for PostgreSQL {major}: apt-get install postgresql-{major}-pgvector "
        f"(or the pgvector/pgvector:pg{major} image), then CREATE EXTENSION vector"
    )


def create_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS (autocommit connection)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def existing_tables(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    """Names of the ordinary tables already in the target schema."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
        "n.nspname = %s AND c.relkind IN ('r', 'p')",
        (schema,),
    ).fetchall()
    conn.rollback()
    return {r[0] for r in rows}


def catalog(conn: psycopg.Connection[Any], schema: str, *, generated: bool = False) -> Catalog:
    """Columns of every table in the target schema with their types, as an existing schema to
    fit. Generated columns (which nothing can load into) only with `generated=True`, for parity.
    """
    rows = conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
               a.atthasdef, a.attidentity <> ''
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
          AND (a.attgenerated = '' OR %s)
        ORDER BY c.relname, a.attnum
        """,
        (schema, generated),
    ).fetchall()
    conn.rollback()
    result: Catalog = {}
    for table, column, pg_type, nullable, has_default, identity in rows:
        result.setdefault(table, {})[column] = CatalogColumn(
            column, pg_type, nullable, has_default, identity
        )
    return result


def qualified(schema: str, table: str) -> sql.Composed:
    """schema.table, both quoted."""
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def drop_tables(conn: psycopg.Connection[Any], schema: str, tables: Iterable[str]) -> None:
    """DROP TABLE … CASCADE for each table (only after the user said --yes)."""
    for table in tables:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(qualified(schema, table)))


def truncate_tables(conn: psycopg.Connection[Any], schema: str, tables: Sequence[str]) -> None:
    """TRUNCATE the given tables together (existing-schema mode, after --yes)."""
    if tables:
        conn.execute(
            sql.SQL("TRUNCATE {} CASCADE").format(
                sql.SQL(", ").join(qualified(schema, t) for t in tables)
            )
        )


def row_count(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    """Exact count(*) of a target table."""
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {}").format(qualified(schema, table))
    ).fetchone()
    return int(row[0]) if row else 0


def table_bytes(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    """On-disk size of a table with its TOAST and indexes."""
    row = conn.execute(
        "SELECT pg_total_relation_size(%s::regclass)", (qualified(schema, table).as_string(conn),)
    ).fetchone()
    return int(row[0]) if row else 0


class CopyWriter:
    """COPY rows into one table; a failing batch is split until only its bad rows remain."""

    def __init__(
        self, conn: psycopg.Connection[Any], schema: str, table: str, columns: Sequence[str]
    ) -> None:
        self.conn = conn
        # Postgres computes generated columns and refuses values for them: rows keep their
        # place (they are digested whole), the COPY leaves those positions out
        computed = generated_columns(conn, schema, table)
        self.keep = [i for i, c in enumerate(columns) if c not in computed] if computed else None
        self.target = sql.SQL("{} ({})").format(
            qualified(schema, table),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns if c not in computed),
        )
        self.statement = sql.SQL("COPY {} FROM STDIN").format(self.target)
        self.columns = list(columns)

    def binary_statement(self) -> sql.Composed:
        """The same COPY (the same columns) in binary format, for the columnar engine."""
        return sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(self.target)

    def copy(self, rows: Sequence[Sequence[Any]]) -> None:
        """Send rows in one COPY; raises psycopg errors as they come."""
        keep = self.keep
        with self.conn.cursor() as cur, cur.copy(self.statement) as copy:
            for row in rows:
                copy.write_row(row if keep is None else [row[i] for i in keep])

    def copy_isolating(self, rows: Sequence[Sequence[Any]]) -> list[tuple[int, str, str | None]]:
        """COPY inside savepoints, bisecting on data errors;
        returns (index, reason, column) of rows refused.
        """
        refused: list[tuple[int, str, str | None]] = []
        self._bisect(rows, 0, refused)
        return refused

    def _bisect(
        self, rows: Sequence[Sequence[Any]], offset: int, refused: list[tuple[int, str, str | None]]
    ) -> None:
        if not rows:
            return
        try:
            with self.conn.transaction():
                self.copy(rows)
            return
        except psycopg.Error as exc:
            if (
                is_transient(exc)
                or self.conn.closed
                or isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
                and self.conn.broken
            ):
                raise TransientError(f"connection lost during COPY: {exc}") from exc
            if len(rows) == 1:
                refused.append((offset, _reason(exc), _column_of(exc, self.columns)))
                return
        mid = len(rows) // 2
        self._bisect(rows[:mid], offset, refused)
        self._bisect(rows[mid:], offset + mid, refused)


def generated_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> set[str]:
    """The columns of a table that Postgres computes (GENERATED ALWAYS AS …); empty if none."""
    name = qualified(schema, table).as_string(conn)
    with conn.transaction():
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped AND attgenerated <> ''",
            (name,),
        ).fetchall()
    return {r[0] for r in rows}


def _reason(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if diag.message_detail:
        text += f" ({diag.message_detail})"
    return f"Postgres refused the row: {text}"


_CONTEXT_COLUMN = re.compile(r'column (?:"((?:[^"]|"")+)"|(\S+?)):')


def _column_of(exc: psycopg.Error, columns: list[str]) -> str | None:
    m = _CONTEXT_COLUMN.search(exc.diag.context or "")
    if m:
        return (m.group(1) or m.group(2) or "").replace('""', '"') or None
    return exc.diag.column_name


def reset_identity(
    conn: psycopg.Connection[Any], schema: str, table: str, column: str, floor: int | None
) -> int | None:
    """Make the identity continue after max(column) (and after an AUTOINCREMENT high-water mark)."""
    seq = conn.execute(
        "SELECT pg_get_serial_sequence(%s, %s)", (qualified(schema, table).as_string(conn), column)
    ).fetchone()
    if not seq or seq[0] is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), qualified(schema, table))
    ).fetchone()
    top = max(int(row[0]) if row and row[0] is not None else 0, floor or 0)
    if top > 0:
        conn.execute("SELECT setval(%s, %s, true)", (seq[0], top))
    else:
        conn.execute("SELECT setval(%s, 1, false)", (seq[0],))
    return top + 1


def analyze(conn: psycopg.Connection[Any], schema: str, table: str) -> None:
    """ANALYZE so the planner knows the new table."""
    conn.execute(sql.SQL("ANALYZE {}").format(qualified(schema, table)))
