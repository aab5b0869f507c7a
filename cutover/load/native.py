"""The load's columnar engine: a chunk read as Arrow batches, written by binary COPY.

Each Arrow batch is one transaction holding its rows (pgpq's binary COPY on the load's own
connection), their digests and the chunk's progress, as on the Python path. A batch the kernels
would not carry exactly (`NativeTable.coerce_batch` answers None), one Postgres refuses, and the
rest of a chunk whose reader fails (SQLite's dynamic typing) go through the Python path by key
range, so rejects, their reasons and the reconciliation come from one place.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from cutover.config import Settings
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.state import Chunk
from cutover.rows.path import RowPath
from cutover.schema.mapping import TablePlan
from cutover.sources.base import Source

if TYPE_CHECKING:
    from cutover.rows.native import NativeTable

NATIVE_MODULE = "cutover.rows.native"  # imports pyarrow, ADBC and pgpq: only when the engine runs
ENGINE_PYTHON = "python"
# overrides the `engine` setting for one run without editing cutover.toml (a fallback an operator
# can reach for, and how the test suite runs the fault tests on both engines)
ENGINE_ENV = "CUTOVER_ENGINE"


# Load processes when the columnar engine runs and --jobs is not given. Measured on the 1M chat
# bench (2 cores, loaded machine): one process 16.6 s and 244 MB, the main process and a worker
# 17.7 s and 451 MB summed: the columnar path leaves the other core to the server's COPY, and
# every process pays ~80 MB for pyarrow and the ADBC driver.
NATIVE_JOBS = 1
# ... and the threads that process runs chunks on. Measured on the 1M chat bench (2 cores, quiet
# machine, alternating): one thread 13.1-13.9 s and 199-202 MB, two 10.2-10.8 s and 236-245 MB.
NATIVE_THREADS = 2


def load_threads(settings: Settings, jobs: int | None) -> int:
    """The threads the load's one process runs chunks on: two under the columnar engine when
    --jobs is not given, else one.
    """
    if jobs is None and engine_in_use(settings) != ENGINE_PYTHON:
        return NATIVE_THREADS
    return 1


def load_jobs(settings: Settings, jobs: int | None) -> int | None:
    """The load's processes: as asked, else one under the
    columnar engine (None: the scheduler decides).
    """
    if jobs is None and engine_in_use(settings) != ENGINE_PYTHON:
        return NATIVE_JOBS
    return jobs


def engine_setting(settings: Settings) -> str:
    """The `engine` setting, or CUTOVER_ENGINE when the environment sets it."""
    return os.environ.get(ENGINE_ENV) or settings.engine


def native_module() -> ModuleType | None:
    """The columnar row path, or None when the native packages are not installed."""
    try:
        return importlib.import_module(NATIVE_MODULE)
    except ImportError:
        return None


def engine_in_use(settings: Settings) -> str:
    """The engine a load under these settings runs: the columnar one where it is available."""
    if engine_setting(settings) == ENGINE_PYTHON:
        return ENGINE_PYTHON
    native = native_module()
    return ENGINE_PYTHON if native is None else str(native.ENGINE_NAME)


def native_table(
    source: Source, tp: TablePlan, key_columns: list[str], path: RowPath, settings: Settings
) -> tuple[NativeTable | None, str]:
    """The table's columnar path, or None and the reason it takes the Python path."""
    if engine_setting(settings) == ENGINE_PYTHON:
        return None, "engine = 'python'"
    if not hasattr(source, "range_query"):
        return None, f"no columnar reader for a {source.kind} source"
    native = native_module()
    if native is None:
        return None, "the native packages are not installed (pip install 'cutover[native]')"
    columns = native.eligible(tp, key_columns, path)
    if isinstance(columns, str):
        return None, columns
    table: NativeTable = native.NativeTable(columns, path)
    return table, ""


class NativeChunk:
    """Runs one chunk through the columnar path, handing
    key ranges to `python_range` when needed.
    """

    def __init__(
        self,
        table: NativeTable,
        source: Any,
        tp: TablePlan,
        settings: Settings,
        database: str,
    ) -> None:
        self.table, self.source, self.tp = table, source, tp
        self.settings, self.database = settings, database
        self.statement: sql.Composed | None = None  # the chunk's CopyWriter decides (copy_like)
        self.keep: list[int] | None = None
        self.fallback_batches = 0  # batches (or chunk tails) that took the Python path

    def copy_like(self, writer: tgt.CopyWriter) -> None:
        """COPY the columns the row path's writer copies (not those Postgres computes)."""
        self.statement, self.keep = writer.binary_statement(), writer.keep

    def batches(self, chunk: Chunk) -> Iterator[Any]:
        """The chunk's remaining rows as Arrow batches of (key, *columns)."""
        native = native_module()
        assert native is not None
        query = self.source.range_query(
            self.tp.source,
            [c.source for c in self.tp.columns],
            chunk.resume_after,
            chunk.until,
            self.table.sentinel(),
        )
        rows = native.batch_rows(self.source.row_bytes(self.tp.source))
        return self.table.read(self.source.uri, query, rows)

    def write(self, conn: psycopg.Connection[Any], chunk: Chunk, batch: Any) -> bool:
        """COPY one batch with its digests and progress in one transaction; False: not written."""
        assert self.statement is not None, "copy_like(writer) first"
        coerced = self.table.coerce_batch(batch)
        if coerced is None:
            return False
        digests = self.table.digest_batch(coerced) if self.settings.digests == "load" else None
        keys = batch.column(0).to_pylist()
        if any(b <= a for a, b in zip(keys, keys[1:])):
            raise AssertionError(f"{self.tp.source.name}: the columnar reader lost key order")
        before = (chunk.rows_read, chunk.rows_written, chunk.last_key)
        try:
            with conn.transaction():
                with conn.cursor() as cur, cur.copy(self.statement) as copy:
                    copied = coerced if self.keep is None else coerced.select(self.keep)
                    for part in self.table.encode(copied):
                        copy.write(part)
                if digests is not None:
                    state.save_digests(conn, self.database, self.tp.name, digests)
                chunk.rows_read += len(keys)
                chunk.rows_written = chunk.rows_read - chunk.rows_rejected
                chunk.last_key = (keys[-1],)
                state.save_chunk(conn, self.database, chunk)
        except psycopg.Error as exc:
            chunk.rows_read, chunk.rows_written, chunk.last_key = before
            if conn.closed or conn.broken or tgt.is_transient(exc):
                raise
            return False  # Postgres refused a row: the Python path isolates it and says why
        return True
