"""One consistent state of a live SQLite source for the whole load.

Parallel workers each open their own source connection, so a writer committing during the load
would give tables (and chunks of one table) different moments of the data. A SQLite file in WAL
mode with a `-wal` file beside it has an open connection, maybe a writer: the load then reads a
copy taken with SQLite's backup API, which is one consistent snapshot, and says so.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from cutover import urls
from cutover.errors import SourceError

SNAPSHOT_DIR = "snapshots"  # under the workdir: the copy is as large as the source, and private


@dataclass
class Snapshot:
    """The URL the load reads, and what a person is told about it."""

    url: str
    note: str | None = None
    path: Path | None = None

    def remove(self) -> None:
        """Delete the copy (after the load; verify reads the live source)."""
        if self.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


def is_live(path: Path) -> bool:
    """WAL mode with a non-empty -wal file: a connection
    is open (SQLite removes it on the last close).
    """
    wal = path.with_name(path.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
    finally:
        conn.close()


def consistent_source(url: str, base_dir: Path, workdir: Path, database: str) -> Snapshot:
    """The source as the load should read it: itself, or a snapshot copy of a live SQLite file."""
    if urls.parse(url).kind != "sqlite":
        return Snapshot(url)  # SQL Server: the reader's own SNAPSHOT transaction (see no_snapshot)
    path = urls.sqlite_path(url, base_dir)
    if not path.exists() or not is_live(path):
        return Snapshot(url)
    folder = workdir / SNAPSHOT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{database}.db"
    started = time.monotonic()
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one moment of the data
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise SourceError(
            f"{path.name} is in use (WAL mode with an open connection) and could not be copied "
            f"to a consistent snapshot: {exc}",
            database=database,
            hint="stop the application's writers, or free disk space for a copy of the file in "
            "the workdir",
        ) from exc
    taken = time.strftime("%H:%M:%S")
    note = (
        f"{database}: {path.name} is in use (WAL mode, an open connection), so the load reads one "
        f"consistent snapshot of it taken at {taken} with SQLite's backup API "
        f"({time.monotonic() - started:.1f}s); rows written after that are not in this load "
        "and `cutover verify` will name them"
    )
    return Snapshot(f"sqlite:///{copy.resolve()}", note, copy)
