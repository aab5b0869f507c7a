"""What a load keeps in the target's `_cutover` schema, committed with the rows it describes.

- `chunks`: one row per key range of a table (chunk -1 holds post-load rejects): how far it got,
  counts, done. Written in the same transaction as the chunk's rows, so it is always the truth.
- `digests`: per-bucket row counts and digest sums of what was written (verify reads them).
- `rejects`: every rejected row's key, column, reason and stage (the reject files in the workdir
  are copies for people; verify from any checkout reads these).
- `changes`: per column, how many values a policy the user chose changed (rounded decimals,
  replaced invalid UTF-8); verify reports the tables equal under those policies, with the counts.
- `manifest`: the load's plan; `complete` turns true only when the whole load has finished,
  so an incomplete manifest means an interrupted load to resume.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cutover.errors import UsageError
from cutover.rows.digest import Digests
from cutover.values.coerce import json_safe

SCHEMA = "_cutover"
POST_LOAD_CHUNK = (
    -1
)  # the chunk number under which post-load rejects (duplicates, orphans, checks) are counted

DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.chunks (
    database text NOT NULL,
    table_name text NOT NULL,
    chunk integer NOT NULL,
    after_key jsonb,
    until_key jsonb,
    last_key jsonb,
    rows_read bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    started_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (database, table_name, chunk)
);
CREATE TABLE IF NOT EXISTS {schema}.digests (
    database text NOT NULL,
    table_name text NOT NULL,
    bucket bigint NOT NULL,
    rows bigint NOT NULL,
    digest numeric NOT NULL,
    PRIMARY KEY (database, table_name, bucket)
);
CREATE TABLE IF NOT EXISTS {schema}.rejects (
    database text NOT NULL,
    table_name text NOT NULL,
    chunk integer NOT NULL,
    key jsonb NOT NULL,
    column_name text,
    reason text NOT NULL,
    stage text NOT NULL
);
CREATE INDEX IF NOT EXISTS rejects_table ON {schema}.rejects (database, table_name);
CREATE TABLE IF NOT EXISTS {schema}.changes (
    database text NOT NULL,
    table_name text NOT NULL,
    column_name text NOT NULL,
    policy text NOT NULL,
    "values" bigint NOT NULL,
    PRIMARY KEY (database, table_name, column_name, policy)
);
CREATE TABLE IF NOT EXISTS {schema}.manifest (
    database text PRIMARY KEY,
    manifest jsonb NOT NULL,
    complete boolean NOT NULL DEFAULT false,
    loaded_at timestamptz NOT NULL DEFAULT now()
)
"""


def _t(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(name))


def ensure(conn: psycopg.Connection[Any]) -> None:
    """Create the _cutover schema and its tables when missing."""
    with conn.transaction():
        for statement in DDL.strip().split(";\n"):
            conn.execute(sql.SQL(statement.strip()).format(schema=sql.Identifier(SCHEMA)))


def key_to_json(key: tuple[Any, ...] | None) -> Jsonb | None:
    """A stream key as stored: JSON-safe values (bytes as {"hex": …})."""
    return None if key is None else Jsonb([json_safe(k) for k in key])


def key_from_json(value: Any) -> tuple[Any, ...] | None:
    """The stream key back from its stored form."""
    if value is None:
        return None
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(
        bytes.fromhex(v["hex"]) if isinstance(v, dict) and "hex" in v else v for v in items
    )


@dataclass
class Chunk:
    """One key range of one table, and how far its load got."""

    table: str
    chunk: int
    after: tuple[Any, ...] | None
    until: tuple[Any, ...] | None
    last_key: tuple[Any, ...] | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    done: bool = False

    @property
    def resume_after(self) -> tuple[Any, ...] | None:
        return self.last_key if self.last_key is not None else self.after


def create_chunks(conn: psycopg.Connection[Any], database: str, chunks: list[Chunk]) -> None:
    """Record the chunks of a fresh load (inside the caller's transaction)."""
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} (database, table_name, chunk, after_key, until_key) VALUES (%s, "
                "%s, %s, %s, %s)"
            ).format(_t("chunks")),
            [
                (database, c.table, c.chunk, key_to_json(c.after), key_to_json(c.until))
                for c in chunks
            ],
        )


def load_chunks(
    conn: psycopg.Connection[Any],
    database: str,
    table: str | None = None,
    chunk: int | None = None,
    *,
    lock: bool = False,
) -> list[Chunk]:
    """The recorded chunks of a database (or one table,
    or one chunk, optionally locked FOR UPDATE).
    """
    query = sql.SQL(
        "SELECT table_name, chunk, after_key, until_key, last_key, rows_read, rows_written, "
        "rows_rejected, done FROM {} WHERE database = %s"
    ).format(_t("chunks"))
    params: list[Any] = [database]
    if table is not None:
        query = sql.SQL("{} AND table_name = %s").format(query)
        params.append(table)
    if chunk is not None:
        query = sql.SQL("{} AND chunk = %s").format(query)
        params.append(chunk)
    query = sql.SQL("{} ORDER BY table_name, chunk{}").format(
        query, sql.SQL(" FOR UPDATE") if lock else sql.SQL("")
    )
    rows = conn.execute(query, params).fetchall()
    return [
        Chunk(t, c, key_from_json(a), key_from_json(u), key_from_json(last), r, w, j, d)
        for t, c, a, u, last, r, w, j, d in rows
    ]


def save_chunk(conn: psycopg.Connection[Any], database: str, chunk: Chunk) -> None:
    """Record a chunk's progress (inside the transaction that wrote its rows)."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} AS c (database, table_name, chunk, after_key, until_key, last_key, "
            "rows_read, rows_written, rows_rejected, done, started_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now()) "
            "ON CONFLICT (database, table_name, chunk) DO UPDATE SET last_key = "
            "EXCLUDED.last_key, rows_read = EXCLUDED.rows_read, "
            "rows_written = EXCLUDED.rows_written, rows_rejected = EXCLUDED.rows_rejected, done "
            "= EXCLUDED.done, "
            "started_at = coalesce(c.started_at, now()), updated_at = now()"
        ).format(_t("chunks")),
        (
            database,
            chunk.table,
            chunk.chunk,
            key_to_json(chunk.after),
            key_to_json(chunk.until),
            key_to_json(chunk.last_key),
            chunk.rows_read,
            chunk.rows_written,
            chunk.rows_rejected,
            chunk.done,
        ),
    )


def table_seconds(conn: psycopg.Connection[Any], database: str) -> dict[str, float]:
    """Per table: seconds from its first chunk's start to its last chunk's last commit."""
    rows = conn.execute(
        sql.SQL(
            "SELECT table_name, extract(epoch FROM max(updated_at) - min(started_at)) FROM {} "
            "WHERE database = %s AND chunk >= 0 GROUP BY table_name"
        ).format(_t("chunks")),
        (database,),
    ).fetchall()
    return {t: float(s or 0) for t, s in rows}


def save_digests(
    conn: psycopg.Connection[Any], database: str, table: str, digests: Digests
) -> None:
    """Add per-bucket counts and digest sums to the
    stored ones (inside the caller's transaction).
    """
    if not digests.buckets:
        return
    statement = sql.SQL(
        "INSERT INTO {} AS d (database, table_name, bucket, rows, digest) VALUES (%s, %s, %s, "
        "%s, %s) "
        "ON CONFLICT (database, table_name, bucket) DO UPDATE SET rows = d.rows + "
        "EXCLUDED.rows, digest = d.digest + EXCLUDED.digest"
    ).format(_t("digests"))
    with conn.cursor() as cur:
        cur.executemany(
            statement,
            [(database, table, b, c, Decimal(d)) for b, (c, d) in digests.buckets.items()],
        )


def stored_digests(conn: psycopg.Connection[Any], database: str, table: str) -> Digests:
    """The digests a load stored for a table."""
    digests = Digests()
    for bucket, count, digest in conn.execute(
        sql.SQL(
            "SELECT bucket, rows, digest FROM {} WHERE database = %s AND table_name = %s"
        ).format(_t("digests")),
        (database, table),
    ):
        digests.buckets[int(bucket)] = [int(count), int(Decimal(digest))]
    return digests


@dataclass
class RejectedKey:
    """One rejected row as the target records it: its key, the column at fault, why, and where."""

    key: dict[str, Any]
    column: str | None
    reason: str
    stage: str


def save_rejects(
    conn: psycopg.Connection[Any],
    database: str,
    table: str,
    chunk: int,
    rejected: list[RejectedKey],
) -> None:
    """Record rejected rows (inside the transaction that commits their chunk's progress)."""
    if not rejected:
        return
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} (database, table_name, chunk, key, column_name, reason, stage) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(_t("rejects")),
            [(database, table, chunk, Jsonb(r.key), r.column, r.reason, r.stage) for r in rejected],
        )


def save_changes(
    conn: psycopg.Connection[Any], database: str, table: str, changes: dict[tuple[str, str], int]
) -> None:
    """Add values changed under a policy, by (column, policy) (inside the batch's transaction)."""
    if not changes:
        return
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                'INSERT INTO {} AS c (database, table_name, column_name, policy, "values") '
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (database, table_name, column_name, "
                "policy) "
                'DO UPDATE SET "values" = c."values" + EXCLUDED."values"'
            ).format(_t("changes")),
            [(database, table, col, policy, n) for (col, policy), n in changes.items()],
        )


def changed_values(
    conn: psycopg.Connection[Any], database: str, table: str
) -> dict[tuple[str, str], int]:
    """Values a load changed under a policy, by (column, policy); empty for older targets."""
    try:
        rows = conn.execute(
            sql.SQL(
                'SELECT column_name, policy, "values" FROM {} WHERE database = %s AND '
                "table_name = %s"
            ).format(_t("changes")),
            (database, table),
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        rows = []
    conn.rollback()
    return {(c, p): int(n) for c, p, n in rows}


def rejected_keys(
    conn: psycopg.Connection[Any], database: str, table: str
) -> list[RejectedKey] | None:
    """The rows a load rejected from a table; None when the target predates the rejects table."""
    try:
        rows = conn.execute(
            sql.SQL(
                "SELECT key, column_name, reason, stage FROM {} WHERE database = %s AND "
                "table_name = %s"
            ).format(_t("rejects")),
            (database, table),
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        return None
    conn.rollback()
    return [RejectedKey(json.loads(k) if isinstance(k, str) else k, c, r, s) for k, c, r, s in rows]


def durable(conn: psycopg.Connection[Any]) -> None:
    """Make the current transaction's commit wait until the WAL is on disk, and with it every
    earlier commit.

    A server with synchronous_commit = off acknowledges commits it can still lose in a crash; a
    chunk whose worker returned must not turn out unfinished afterwards, so the commits that end
    a chunk or a load are synchronous whatever the server's default (per-batch ones need not be:
    a lost batch is lost together with its progress record, and the chunk resumes before it).
    """
    conn.execute("SET LOCAL synchronous_commit = on")


def save_manifest(
    conn: psycopg.Connection[Any], manifest: dict[str, Any], *, complete: bool
) -> None:
    """Record the load's plan; complete=True marks the whole load finished."""
    with conn.transaction():
        durable(conn)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (database, manifest, complete) VALUES (%s, %s, %s) ON CONFLICT "
                "(database) DO UPDATE SET manifest = EXCLUDED.manifest, complete = "
                "EXCLUDED.complete, loaded_at = now()"
            ).format(_t("manifest")),
            (manifest["database"], Jsonb(manifest), complete),
        )


def read_manifest(
    conn: psycopg.Connection[Any], database: str
) -> tuple[dict[str, Any], bool] | None:
    """(manifest, complete) of a database's last load, or None."""
    try:
        row = conn.execute(
            sql.SQL("SELECT manifest, complete FROM {} WHERE database = %s").format(_t("manifest")),
            (database,),
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    conn.rollback()
    if row is None:
        return None
    manifest = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return manifest, bool(row[1])


def manifest_status(conn: psycopg.Connection[Any], database: str) -> tuple[bool, datetime] | None:
    """(complete, loaded_at) of a database's last load, or None when the target holds none."""
    try:
        row = conn.execute(
            sql.SQL("SELECT complete, loaded_at FROM {} WHERE database = %s").format(
                _t("manifest")
            ),
            (database,),
        ).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        row = None
    conn.rollback()
    return None if row is None else (bool(row[0]), row[1])


def forget(conn: psycopg.Connection[Any], database: str) -> None:
    """Remove a database's chunks, digests and manifest (a fresh load follows)."""
    with conn.transaction():
        for table in ("chunks", "digests", "rejects", "changes", "manifest"):
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE database = %s").format(_t(table)), (database,)
            )


def lock_chunk(conn: psycopg.Connection[Any], database: str, table: str, chunk: int) -> None:
    """Session advisory lock on one chunk: an orphaned
    worker and a resumed run never write it at once.
    """
    conn.execute(
        "SELECT pg_advisory_lock(hashtext(%s), hashtext(%s))", (database, f"{table}:{chunk}")
    )


# "cutover2": one bigint advisory lock, apart from the chunk locks' int pairs
RUN_LOCK = 0x6375_746F_7665_7232


class RunLock:
    """A session advisory lock held for a whole phase 2
    on one target database, on its own connection.
    """

    def __init__(self, conn: psycopg.Connection[Any], database: str) -> None:
        self.conn, self.database = conn, database

    @classmethod
    def take(cls, conn: psycopg.Connection[Any], database: str) -> RunLock:
        """Take the lock on an autocommit connection kept for the phase, or refuse clearly."""
        (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (RUN_LOCK,)).fetchone() or (False,)
        if not got:
            holder = conn.execute(
                "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
                (RUN_LOCK,),
            ).fetchone()
            who = (
                f" (server pid {holder[0]}, {holder[1] or 'no application name'}, "
                f"connected since {holder[3]:%Y-%m-%d %H:%M:%S %Z})"
                if holder
                else ""
            )
            conn.close()
            raise UsageError(
                f"another `cutover run --phase 2` is loading into this target database{who}; "
                f"two at once would drop or mix each other's tables",
                database=database,
                hint="wait for it to finish (`cutover status` shows its progress), or stop it; "
                "an interrupted run resumes with `cutover run --phase 2`",
            )
        return cls(conn, database)

    def release(self) -> None:
        """Let the next run in (closing the connection would too)."""
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
        except psycopg.OperationalError:
            pass  # the server restarted under the run: the lock went with its session
        finally:
            self.conn.close()


STATE_TABLES = ("manifest", "chunks", "digests", "rejects", "changes")  # what a proof export holds


def export(conn: psycopg.Connection[Any], database: str) -> dict[str, list[dict[str, Any]]]:
    """Every `_cutover` row of one database, per table, as JSON objects (the proof, for keeping)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in STATE_TABLES:
        rows = conn.execute(
            sql.SQL("SELECT to_jsonb(x)::text FROM {} x WHERE database = %s ORDER BY 1").format(
                _t(table)
            ),
            (database,),
        ).fetchall()
        out[table] = [json.loads(r[0]) for r in rows]
    conn.rollback()
    return out


def remove(conn: psycopg.Connection[Any], database: str) -> bool:
    """Delete one database's run state; drop `_cutover`
    when no other database's remains. True if dropped.
    """
    with conn.transaction():
        for table in STATE_TABLES:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE database = %s").format(_t(table)), (database,)
            )
        others = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_t("manifest"))).fetchone()
        if others and others[0]:
            return False
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(SCHEMA)))
    return True
