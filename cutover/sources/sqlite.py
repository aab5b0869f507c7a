"""SQLite source: reflection from the catalog, a profiling scan, and keyset-paged streaming."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from cutover.errors import SourceError
from cutover.schema import sqltext
from cutover.schema.model import (
    Schema,
    Table,
    TableProfile,
)
from cutover.sources import sqlite_catalog
from cutover.sources.base import (
    PROBE_ROWS,
    Batch,
    SourceInfo,
    rows_within_budget,
)
from cutover.sources.sqlite_catalog import quote_ident
from cutover.sources.sqlite_profile import Scan, profile_table
from cutover.values.coerce import InvalidText

BUILTIN_COLLATIONS = {"BINARY", "NOCASE", "RTRIM"}


# A table with more rows than this is profiled by one thread per core over its rowid ranges (each
# with its own connection: SQLite runs a statement without holding the GIL), 2.4 → 1.2 s at 1M rows.
PROFILE_SPLIT_ROWS = 100_000
# row_bytes() samples at this many places of the key range, so a table whose rows grow over time is
# not judged by its oldest …
ROW_BYTES_POINTS = 8
ROW_BYTES_SAMPLE = (
    32  # … rows, this many at each place: enough to average out one odd row, cheap on any table
)


STORAGE_CLASSES = {"integer", "real", "text", "blob"}  # what typeof() answers, besides 'null'


def _key_sql(table: Table, key: str) -> str:
    """A stream key column in SQL: a primary key column quoted, the rowid by its bare alias."""
    return quote_ident(key) if key in table.primary_key else key


def _byte_order(a: str, b: str) -> int:
    return (a > b) - (a < b)


def _lenient_text(raw: bytes) -> str | InvalidText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidText(raw)


class SqliteSource:
    """A SQLite database file, opened read-only."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(
                f"SQLite file not found: {self.path}",
                path=str(self.path),
                hint="check the source URL in cutover.toml (sqlite:///relative or "
                "sqlite:////absolute)",
            )
        self._uri = f"file:{pathname2url(str(self.path.resolve()))}?mode=ro"
        try:
            self.conn = self._open()
            self.conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SourceError(
                f"cannot open {self.path} as SQLite: {exc}", path=str(self.path)
            ) from exc
        self.stand_in_collations = self._register_collations()
        self._schema: Schema | None = None

    def _open(self) -> sqlite3.Connection:
        """A read-only connection with the stand-in collations (once they are known)."""
        conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
        for name in getattr(self, "stand_in_collations", ()):
            # The file declares a collation this sqlite3 lacks; byte order keeps reads working.
            conn.create_collation(name, _byte_order)
        return conn

    # -- catalog ---------------------------------------------------------------------------

    def describe(self) -> SourceInfo:
        """SQLite library version, file size, journal mode."""
        mode = self.conn.execute("PRAGMA journal_mode").fetchone()[0]
        size = self.path.stat().st_size
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists():
            size += wal.stat().st_size
        notes = [f"journal_mode={mode}"]
        if self.stand_in_collations:
            notes.append("stand-in collations: " + ", ".join(sorted(self.stand_in_collations)))
        return SourceInfo("sqlite", sqlite3.sqlite_version, size, notes)

    def _register_collations(self) -> set[str]:
        rows = self.conn.execute("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL").fetchall()
        names: set[str] = set()
        for (sql,) in rows:
            names |= {n for n in sqltext.collations(sql) if n.upper() not in BUILTIN_COLLATIONS}
        for name in names:
            self.conn.create_collation(name, _byte_order)  # see _open
        return names

    def reflect(self) -> Schema:
        """Tables, columns, keys, indexes, views and triggers of the main database."""
        if self._schema is None:
            self._schema = sqlite_catalog.reflect(self.conn, self.stand_in_collations)
        return self._schema

    def count(self, table: Table) -> int:
        """Exact row count."""
        return int(
            self.conn.execute(f"SELECT count(*) FROM {quote_ident(table.name)}").fetchone()[0]
        )

    def key_columns(self, table: Table) -> list[str]:
        """The key rows are streamed and resumed by: rowid,
        or the primary key of a WITHOUT ROWID table.
        """
        if table.rowid_alias:
            return [table.rowid_alias]
        if table.has_rowid:
            taken = {c.name.lower() for c in table.columns}
            for alias in ("rowid", "_rowid_", "oid"):
                if alias not in taken:
                    return [alias]
            raise SourceError(
                "table has columns named rowid, _rowid_ and oid; cannot address its rows",
                table=table.name,
            )
        return list(table.primary_key)

    def key_sql(self, table: Table) -> list[str]:
        """The stream key columns as SQL (a primary key column quoted, the rowid bare)."""
        return [_key_sql(table, k) for k in self.key_columns(table)]

    def scratch(self) -> sqlite3.Connection:
        """A writable in-memory database with this file
        attached read-only as `src` (plan's anti- joins).
        """
        conn = sqlite3.connect(":memory:", uri=True, check_same_thread=False)
        conn.execute("ATTACH DATABASE ? AS src", (self._uri,))
        for name in self.stand_in_collations:
            conn.create_collation(name, _byte_order)
        return conn

    def key_range(self, table: Table) -> tuple[Any, Any] | None:
        """(min, max) of a single integer stream key,
        for splitting a table into chunks; else None.
        """
        keys = self.key_columns(table)
        if len(keys) != 1:
            return None
        key = _key_sql(table, keys[0])
        # two statements: SQLite reads one end of the key's b-tree for a lone min() or max(), but
        # scans the table for both at once
        (low,) = self.conn.execute(f"SELECT min({key}) FROM {quote_ident(table.name)}").fetchone()
        (high,) = self.conn.execute(f"SELECT max({key}) FROM {quote_ident(table.name)}").fetchone()
        return (low, high) if isinstance(low, int) and isinstance(high, int) else None

    def row_bytes(self, table: Table) -> float | None:
        """About how many bytes a row holds, from a few
        short runs of rows spread over the key range.

        length() reads a blob's size from its header, not its content, so even a table of large
        blobs answers in milliseconds; text is counted in characters, close enough for scheduling.
        """
        if not table.columns:
            return None
        keys = self.key_columns(table)
        size = " + ".join(f"coalesce(length({quote_ident(c.name)}), 0)" for c in table.columns)
        tname = quote_ident(table.name)
        bounds = self.key_range(table)
        if bounds is None:
            starts: list[int | None] = [None]
        else:
            low, high = bounds
            starts = [low + (high - low) * i // ROW_BYTES_POINTS for i in range(ROW_BYTES_POINTS)]
        key = _key_sql(table, keys[0])
        total = found = 0
        for start in starts:
            where = "" if start is None else f"WHERE {key} >= ?"
            params: tuple[Any, ...] = () if start is None else (start,)
            limit = ROW_BYTES_SAMPLE if start is not None else ROW_BYTES_SAMPLE * ROW_BYTES_POINTS
            row = self.conn.execute(
                f"SELECT sum(s), count(*) FROM (SELECT {size} AS s FROM {tname} {where} ORDER "
                f"BY {key} LIMIT ?)",
                (*params, limit),
            ).fetchone()
            total += int(row[0] or 0)
            found += int(row[1])
        return total / found if found else None

    def read(
        self,
        table: Table,
        columns: list[str],
        *,
        batch_size: int,
        after: tuple[Any, ...] | None = None,
        until: tuple[Any, ...] | None = None,
    ) -> Iterator[Batch]:
        """Rows in key order, batch_size at a time, each
        (*key, *columns); keys > after and < until.
        """
        keys = self.key_columns(table)
        key_sql = ", ".join(_key_sql(table, k) for k in keys)
        select = ", ".join([key_sql] + [quote_ident(c) for c in columns])
        order = key_sql
        tname = quote_ident(table.name)
        marks = ", ".join("?" * len(keys))
        lower = f"({key_sql}) > ({marks})" if len(keys) > 1 else f"{key_sql} > ?"
        upper = f"({key_sql}) < ({marks})" if len(keys) > 1 else f"{key_sql} < ?"
        bound = f" AND {upper}" if until is not None else ""
        first = (
            f"SELECT {select} FROM {tname} {'WHERE ' + upper if until is not None else ''} "
            f"ORDER BY {order} LIMIT ?"
        )
        nxt = f"SELECT {select} FROM {tname} WHERE {lower}{bound} ORDER BY {order} LIMIT ?"
        tail = tuple(until) if until is not None else ()
        width = len(keys)
        last = after
        limit = min(batch_size, PROBE_ROWS)  # a first small batch measures the row width
        while True:
            sql, params = (first, (*tail, limit)) if last is None else (nxt, (*last, *tail, limit))
            suspect = False
            try:
                rows = self.conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc).lower():
                    raise SourceError(
                        f"reading {table.name} failed: {exc}", table=table.name
                    ) from exc
                rows = self._read_lenient(sql, params)
                suspect = True
            if not rows:
                return
            yield Batch(rows, width, suspect)
            if len(rows) < limit:
                return
            last = tuple(rows[-1][:width])
            limit = rows_within_budget(rows, batch_size)

    @property
    def uri(self) -> str:
        """The read-only URI this source opens (for readers with their own SQLite connection)."""
        return self._uri

    def range_query(
        self,
        table: Table,
        columns: list[str],
        after: tuple[Any, ...] | None,
        until: tuple[Any, ...] | None,
        first: list[str],
        storage: dict[str, str] | None = None,
    ) -> str:
        """SELECT (key, *columns) over one integer key's
        range in key order, after a typed first row.

        For columnar readers that cannot bind parameters: the bounds are integers, written as
        literals; `first` is the SQL of a first row whose values give each column its type.
        With `storage` (column → the one storage class it may hold besides NULL), a last column
        counts each row's values of any other class: a columnar reader converts those silently
        within its first batch (an integer in a text column arrives as text).
        """
        (key,) = self.key_columns(table)
        key_sql = _key_sql(table, key)
        bounds = [f"{key_sql} > {int(after[0])}"] if after is not None else []
        bounds += [f"{key_sql} < {int(until[0])}"] if until is not None else []
        where = f"WHERE {' AND '.join(bounds)}" if bounds else ""
        select = ", ".join([key_sql] + [quote_ident(c) for c in columns])
        if storage is not None:
            if not set(storage.values()) <= STORAGE_CLASSES:
                raise ValueError(f"not SQLite storage classes: {sorted(storage.values())}")
            counts = [
                f"(typeof({quote_ident(c)}) NOT IN ('{k}', 'null'))" for c, k in storage.items()
            ]
            select += ", " + (" + ".join(counts) or "0")
        rows = f"SELECT {select} FROM {quote_ident(table.name)} {where} ORDER BY {key_sql}"
        # SQLite runs a UNION ALL's arms in order, and the subquery keeps its ORDER BY
        return f"SELECT {', '.join(first)} UNION ALL SELECT * FROM ({rows})"

    def _read_lenient(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Re-read a batch whose text is not all UTF-8, marking the bad values."""
        cur = self.conn.cursor()
        cur.row_factory = None
        previous = self.conn.text_factory
        self.conn.text_factory = _lenient_text
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            self.conn.text_factory = previous

    def sample(self, table: Table, column: str, limit: int) -> list[Any]:
        """Up to `limit` non-null values of a column, spread over the table."""
        q = quote_ident(column)
        total = self.count(table)
        step = max(1, total // max(limit, 1))
        keys = self.key_columns(table)
        if table.has_rowid and step > 1:
            key = _key_sql(table, keys[0])
            sql = (
                f"SELECT {q} FROM {quote_ident(table.name)} WHERE {q} IS NOT NULL AND ({key} "
                "% ?) = 0 LIMIT ?"
            )
            params: tuple[Any, ...] = (step, limit)
        else:
            sql = f"SELECT {q} FROM {quote_ident(table.name)} WHERE {q} IS NOT NULL LIMIT ?"
            params = (limit,)
        previous = self.conn.text_factory
        self.conn.text_factory = _lenient_text
        try:
            values = [r[0] for r in self.conn.execute(sql, params)]
            if len(values) < limit and step > 1:
                extra = self.conn.execute(
                    f"SELECT {q} FROM {quote_ident(table.name)} WHERE {q} IS NOT NULL LIMIT ?",
                    (limit - len(values),),
                )
                values += [r[0] for r in extra]
            return values
        finally:
            self.conn.text_factory = previous

    def profile(self, table: Table, wanted: dict[str, set[str]]) -> TableProfile:
        """Per column, the statistics `wanted` names (see
        sqlite_profile for how few scans that takes).
        """
        bounds = self.key_range(table) if table.has_rowid else None
        if (
            bounds is None
            or bounds[1] - bounds[0] < PROFILE_SPLIT_ROWS
            or (os.cpu_count() or 1) < 2
        ):
            return profile_table(Scan(quote_ident(table.name), [self.conn]), wanted, quote_ident)
        parts = os.cpu_count() or 1
        low, high = bounds
        step = (high - low) // parts + 1
        ranges = [(low - 1 + i * step, low - 1 + (i + 1) * step) for i in range(parts)]
        extra = [self._open() for _ in range(parts - 1)]
        try:
            key = _key_sql(table, self.key_columns(table)[0])
            return profile_table(
                Scan(quote_ident(table.name), [self.conn, *extra], key, ranges), wanted, quote_ident
            )
        finally:
            for conn in extra:
                conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction for the whole load: every table is read as of the same moment."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("ROLLBACK")

    def sequence_values(self) -> dict[str, int]:
        """AUTOINCREMENT high-water marks from sqlite_sequence (never reused, so the identity
        continues past them).
        """
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'"
        ).fetchone()
        if not exists:
            return {}
        return {
            name: int(seq)
            for name, seq in self.conn.execute("SELECT name, seq FROM sqlite_sequence")
            if seq is not None
        }

    def fingerprint(self) -> str:
        """Changes when the source's data changes
        (data_version is per connection; use file state).
        """
        parts = []
        for suffix in ("", "-wal"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                st = p.stat()
                parts.append(f"{suffix}:{st.st_size}:{st.st_mtime_ns}")
        parts.append(str(self.conn.execute("PRAGMA schema_version").fetchone()[0]))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
