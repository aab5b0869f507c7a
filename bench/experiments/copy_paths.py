"""Experiment behind RESULTS.md's load-path numbers: ways to stream messages into Postgres.

    .venv/bin/python bench/experiments/copy_paths.py bench/out/chat-1000000-s7.db postgresql://postgres@127.0.0.1:PORT/bench_cutover

Needs the bench server running (chat_vs_pgloader.py --keep-server) and a loaded `messages` table
in the target database, whose definition the scratch table copies. Times, for the messages table
and without cutover's savepoints, progress rows and reject handling:

A  keyset pages of tuples → Copy.write_row, one COPY and commit per page (what pipeline.py does),
   also split into reading alone and reading + formatting into memory;
B  SQLite builds each COPY text line itself (escaping with replace()), Python only joins bytes;
C  A with a reader thread fetching the next page while this one is sent;
D  A in two processes, each with its own SQLite and Postgres connection, on half the rowid range;
and A with 50,000-row pages instead of 5,000.
"""

from __future__ import annotations

import io
import multiprocessing
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import Copy, FileWriter

COLUMNS = ["id", "conversation_id", "role", "content", "metadata", "tokens", "created_at"]
PAGE_ROWS = 5_000  # cutover's default batch_size
BIG_PAGE_ROWS = 50_000  # ten times that: does per-batch commit cost matter?


def copy_escaped(column: str) -> str:
    """COPY text escaping of one column, done by SQLite ('\\N' for NULL)."""
    inner = f"CAST({column} AS TEXT)"
    for raw, escaped in (
        ("'\\'", "'\\\\'"),
        ("char(9)", "'\\t'"),
        ("char(10)", "'\\n'"),
        ("char(13)", "'\\r'"),
    ):
        inner = f"replace({inner}, {raw}, {escaped})"
    return f"coalesce({inner}, '\\N')"


LINE = "CAST(" + " || char(9) || ".join(copy_escaped(c) for c in COLUMNS) + " || char(10) AS BLOB)"


class Bench:
    def __init__(self, db: str, url: str) -> None:
        self.db, self.url = db, url
        self.pg = psycopg.connect(url)
        self.copy_sql = sql.SQL("COPY scratch ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        )

    def source(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, check_same_thread=False)

    def pages(
        self,
        conn: sqlite3.Connection,
        select: str,
        rows_per_page: int = PAGE_ROWS,
        after: int = 0,
        upto: int | None = None,
    ) -> Iterator[list[Any]]:
        last, bound = after, "" if upto is None else f" AND id <= {int(upto)}"
        while rows := conn.execute(
            f"SELECT id, {select} FROM messages WHERE id > ?{bound} ORDER BY id LIMIT ?",
            (last, rows_per_page),
        ).fetchall():
            yield rows
            last = rows[-1][0]

    def load_range(self, after: int, upto: int) -> int:
        n = 0
        for page in self.pages(self.source(), ", ".join(COLUMNS), after=after, upto=upto):
            self.send_rows(page)
            n += len(page)
        return n

    def two_processes(self) -> int:
        top = int(self.source().execute("SELECT max(id) FROM messages").fetchone()[0])
        half = top // 2
        with multiprocessing.get_context("fork").Pool(2) as pool:
            return sum(
                pool.starmap(
                    _load_range, [(self.db, self.url, 0, half), (self.db, self.url, half, top)]
                )
            )

    def send_rows(self, rows: list[Any]) -> None:
        with self.pg.transaction(), self.pg.cursor() as cur, cur.copy(self.copy_sql) as copy:
            for row in rows:
                copy.write_row(row[1:])

    def read_only(self) -> int:
        return sum(len(p) for p in self.pages(self.source(), ", ".join(COLUMNS)))

    def read_and_format(self) -> int:
        n = 0
        with self.pg.cursor() as cur:
            for page in self.pages(self.source(), ", ".join(COLUMNS)):
                with Copy(cur, writer=FileWriter(io.BytesIO())) as copy:
                    for row in page:
                        copy.write_row(row[1:])
                n += len(page)
        return n

    def current(self, rows_per_page: int = PAGE_ROWS) -> int:
        n = 0
        for page in self.pages(self.source(), ", ".join(COLUMNS), rows_per_page):
            self.send_rows(page)
            n += len(page)
        return n

    def sqlite_formatted(self) -> int:
        n = 0
        for page in self.pages(self.source(), LINE):
            with self.pg.transaction(), self.pg.cursor() as cur, cur.copy(self.copy_sql) as copy:
                copy.write(b"".join(r[1] for r in page))
            n += len(page)
        return n

    def sqlite_formatted_read_only(self) -> int:
        return sum(len(p) for p in self.pages(self.source(), LINE))

    def prefetched(self) -> int:
        pages: queue.Queue[list[Any] | None] = queue.Queue(maxsize=1)

        def reader() -> None:
            for page in self.pages(self.source(), ", ".join(COLUMNS)):
                pages.put(page)
            pages.put(None)

        threading.Thread(target=reader, daemon=True).start()
        n = 0
        while (page := pages.get()) is not None:
            self.send_rows(page)
            n += len(page)
        return n

    def timed(self, label: str, fn: Callable[[], int]) -> None:
        self.pg.execute("TRUNCATE scratch")
        self.pg.commit()
        started = time.perf_counter()
        n = fn()
        seconds = time.perf_counter() - started
        print(f"{seconds:6.1f}s  {n / seconds:9,.0f} rows/s  {label}", flush=True)


def _load_range(db: str, url: str, after: int, upto: int) -> int:
    """One worker of D: its own connections, its half of the table."""
    worker = Bench(db, url)
    try:
        return worker.load_range(after, upto)
    finally:
        worker.pg.close()


def main() -> None:
    bench = Bench(sys.argv[1], sys.argv[2])
    bench.pg.execute("DROP TABLE IF EXISTS scratch")
    bench.pg.execute("CREATE TABLE scratch (LIKE messages)")  # same column types, no indexes
    bench.pg.commit()
    try:
        bench.timed("A  read only: keyset pages of tuples", bench.read_only)
        bench.timed(
            "A  read + psycopg COPY formatting into memory (no server)", bench.read_and_format
        )
        bench.timed("A  end to end (what pipeline.py does)", bench.current)
        bench.timed(
            f"A  end to end, {BIG_PAGE_ROWS:,}-row pages and commits",
            lambda: bench.current(BIG_PAGE_ROWS),
        )
        bench.timed("B  read only: SQLite-formatted COPY lines", bench.sqlite_formatted_read_only)
        bench.timed("B  end to end: SQLite-formatted COPY lines", bench.sqlite_formatted)
        bench.timed(
            "C  end to end: A + a reader thread prefetching the next page", bench.prefetched
        )
        bench.timed(
            "D  end to end: A in 2 processes, half the rowid range each", bench.two_processes
        )
        bench.timed("A  end to end again (drift check)", bench.current)
    finally:
        bench.pg.execute("DROP TABLE IF EXISTS scratch")
        bench.pg.commit()
        bench.pg.close()


if __name__ == "__main__":
    main()
