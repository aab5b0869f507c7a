"""Phase 2's data load: tables split into key-range chunks, run by worker processes, resumable.

Each chunk commits its rows with its progress (pipeline.ChunkLoader), so this module only decides
what to run and where: chunks of large integer-keyed tables, biggest tables first, on `jobs`
spawned processes that die with their parent and hold an advisory lock on the chunk they write.
Progress is read back from the committed state, so what the display shows is what is durable.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg

from cutover.config import Settings
from cutover.errors import BadValueError, CutoverError, TargetError
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.pipeline import ChunkLoader, Reporter
from cutover.load.state import Chunk
from cutover.schema.mapping import tables_in_load_order
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.sources.base import Source

POLL_S = 0.5  # how often the display reads committed progress while workers run
# below this (and PARALLEL_MIN_BYTES) a load finishes before worker processes would have started
PARALLEL_MIN_ROWS = 200_000
PARALLEL_MIN_BYTES = (
    64 * 2**20
)  # … and a load of fewer rows this big (blobs) is still worth its workers
# A chunk holds at most chunk_rows rows and about this many source bytes: small enough that the last
# chunk to finish keeps the other workers idle well under a second (the server takes in 50-150
# MB/s),
# large enough that a chunk's set-up (connection, lock, first query: ~20 ms) stays under 1 %.
CHUNK_BYTES = 32 * 2**20
EARLY_START_BYTES = (
    64 * 2**20
)  # a source this big starts its workers before profiling, hiding their ~1 s start-up
APPLICATION_NAME = "cutover load"  # how the load's connections show in pg_stat_activity


def default_jobs() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


def table_bytes(source: Source, tables: list[TablePlan]) -> dict[str, int]:
    """Estimated source bytes of each table (rows × a
    sampled row size); empty when the source cannot tell.
    """
    row_bytes = getattr(source, "row_bytes", None)
    if row_bytes is None:
        return {}
    sizes: dict[str, int] = {}
    for tp in tables:
        width = row_bytes(tp.source) if tp.rows else None
        sizes[tp.name] = int(tp.rows * width) if width else 0
    return sizes


def plan_chunks(
    source: Source, tables: list[TablePlan], chunk_rows: int, sizes: dict[str, int] | None = None
) -> list[Chunk]:
    """Key ranges for each table: several for a large table with one integer key (by rows or by
    bytes), else one.
    """
    sizes = sizes or {}
    chunks: list[Chunk] = []
    for tp in tables:
        count = max(
            math.ceil(tp.rows / chunk_rows), math.ceil(sizes.get(tp.name, 0) / CHUNK_BYTES), 1
        )
        bounds = source.key_range(tp.source) if count > 1 else None
        if bounds is None:
            chunks.append(Chunk(tp.name, 0, None, None))
            continue
        low, high = bounds
        step = max(1, math.ceil((high - low + 1) / count))
        starts = [low + i * step for i in range(1, count) if low + i * step <= high]
        edges: list[int | None] = [None, *starts, None]
        for i in range(len(edges) - 1):
            start, end = edges[i], edges[i + 1]
            chunks.append(
                Chunk(
                    tp.name,
                    i,
                    None if start is None else (start - 1,),
                    None if end is None else (end,),
                )
            )
    return chunks


def connect_for_load(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection named so an operator can see the load in pg_stat_activity."""
    return tgt.connect(url, autocommit=True, application_name=APPLICATION_NAME)


@dataclass(frozen=True)
class LoadContext:
    """One database's load as each of its chunks sees it (picklable: worker processes get it)."""

    source_url: str
    base_dir: Path
    target_url: str
    plan: SchemaPlan
    settings: Settings
    rejects_dir: Path


@dataclass
class ChunkJob:
    """One chunk of a load: a worker process needs nothing else."""

    ctx: LoadContext
    table: str
    chunk: int


def run_chunk(
    job: ChunkJob, on_progress: Callable[[int], None] | None = None, source: Source | None = None
) -> int:
    """Load one chunk (in a worker, or in-process); returns the rows it read in this run."""
    from cutover.sources import open_source

    own = source is None
    ctx = job.ctx
    src = open_source(ctx.source_url, ctx.base_dir) if source is None else source
    try:
        tp = next(t for t in ctx.plan.tables if t.name == job.table)
        loader = ChunkLoader(
            src,
            partial(connect_for_load, ctx.target_url),
            ctx.plan,
            tp,
            ctx.settings,
            ctx.rejects_dir,
            Chunk(job.table, job.chunk, None, None),
            on_progress,
        )
        return loader.run().rows_read
    finally:
        if own:
            src.close()


def _die_with_parent() -> None:
    """Worker initializer: if the parent is killed, so is the worker (Linux); the advisory lock
    covers the rest.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def largest_first(pending: list[Chunk], chunks: list[Chunk], weight: dict[str, int]) -> list[Chunk]:
    """Pending chunks heaviest first: a table's weight (bytes or rows) shared among its chunks."""
    per_table: dict[str, int] = {}
    for c in chunks:
        if c.chunk >= 0:
            per_table[c.table] = per_table.get(c.table, 0) + 1
    return sorted(
        pending,
        key=lambda c: (-weight.get(c.table, 0) / per_table.get(c.table, 1), c.table, c.chunk),
    )


class _Stopped(Exception):
    """Ends the parent's own chunk when the load stops (another chunk failed, or an interrupt)."""


def _warm_up() -> None:
    """A worker's first task: import what loading a
    chunk needs, while the parent is still profiling.
    """
    import cutover.load.pipeline  # noqa: F401
    import cutover.sources  # noqa: F401


class Workers:
    """The load's worker processes: spawned when first needed, or early, so their start-up
    overlaps profiling.
    """

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.size = 0

    @classmethod
    def early(cls, source_bytes: int | None, jobs: int | None) -> Workers:
        """Workers already starting when the source is big enough that the load will want them."""
        workers = cls()
        wanted = default_jobs() if jobs is None else jobs
        if wanted > 1 and (source_bytes or 0) >= EARLY_START_BYTES:
            pool = workers.get(wanted - 1)  # the parent loads chunks as well
            for _ in range(wanted - 1):
                pool.submit(_warm_up)
        return workers

    def get(self, size: int) -> ProcessPoolExecutor:
        """The pool (started with `size` processes unless it already runs)."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=size, mp_context=get_context("spawn"), initializer=_die_with_parent
            )
            self.size = size
        return self.pool

    def close(self, wait: bool = True, kill: bool = False) -> None:
        """Stop the workers (cancelling queued work); with kill, end the chunks they are running
        too (each committed batch stays; the one in flight rolls back, as after kill -9).
        """
        if self.pool is not None:
            # the executor's own table of its processes: it offers no other way to reach them
            running = list(getattr(self.pool, "_processes", {}).values()) if kill else []
            self.pool.shutdown(wait=wait and not kill, cancel_futures=True)
            for process in running:
                process.terminate()
            self.pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(wait=exc[0] is None)


def load(
    ctx: LoadContext,
    source: Source,
    conn: psycopg.Connection[Any],
    reporter: Reporter,
    jobs: int | None,
    workers: Workers | None = None,
    threads: int = 1,
) -> None:
    """Run every unfinished chunk on `jobs` workers
    (None: one per core, when the load is big enough); in one process, on `threads` threads.

    Chunks go largest first (by estimated bytes where the source can tell, else rows), so the last
    ones to finish are small and no worker waits long for another (longest-processing-time order).
    """
    plan = ctx.plan
    tables = tables_in_load_order(plan)
    chunks = state.load_chunks(conn, plan.database)
    conn.rollback()
    rows = {t.name: t.rows for t in tables}
    sizes = table_bytes(source, tables)
    pending = [c for c in chunks if not c.done and c.chunk >= 0]
    pending = largest_first(pending, chunks, sizes if any(sizes.values()) else rows)
    done_rows = {t.name: sum(c.rows_read for c in chunks if c.table == t.name) for t in tables}
    names = {t.name: t.source.name for t in tables}
    for tp in tables:
        reporter.table_started(tp.source.name, tp.rows)
        if done_rows[tp.name]:
            reporter.advanced(tp.source.name, done_rows[tp.name])
    jobs_list = [ChunkJob(ctx, c.table, c.chunk) for c in pending]
    if jobs is None:
        pending_tables = {c.table for c in pending}
        big = (
            sum(rows.get(t, 0) for t in pending_tables) >= PARALLEL_MIN_ROWS
            or sum(sizes.get(t, 0) for t in pending_tables) >= PARALLEL_MIN_BYTES
        )
        jobs = default_jobs() if big else 1
    workers = workers or Workers()
    if jobs <= 1 or len(jobs_list) <= 1:
        workers.close(wait=False)
        if threads > 1 and len(jobs_list) > 1:
            _on_threads(jobs_list, threads, done_rows, names, reporter)
            return
        for job in jobs_list:

            def advanced(n: int, table: str = job.table) -> None:
                done_rows[table] += n
                reporter.advanced(names[table], done_rows[table])

            run_chunk(job, advanced, source)
        return
    failures: list[str] = []
    monitor: list[psycopg.Connection[Any]] = []
    queue = deque(jobs_list)
    stop = threading.Event()

    def cancellable(_rows: int) -> None:
        if stop.is_set():  # the parent's own chunk stops after its last committed batch
            raise _Stopped()

    # jobs - 1 worker processes, and the parent loads chunks too: it would only be polling
    # otherwise,
    # and one process fewer is one Python (~40 MB) fewer
    procs = min(jobs, len(jobs_list)) - 1
    in_flight: dict[Future[int], tuple[ChunkJob, bool]] = {}  # future → (job, runs in the parent)
    with workers, ThreadPoolExecutor(max_workers=1, thread_name_prefix="cutover-chunk") as here:
        pool = workers.get(procs)

        def fill() -> None:
            in_pool = sum(1 for _, mine in in_flight.values() if not mine)
            while queue and in_pool < procs:
                job = queue.popleft()
                in_flight[pool.submit(run_chunk, job)] = (job, False)
                in_pool += 1
            if queue and not any(mine for _, mine in in_flight.values()):
                job = queue.popleft()
                in_flight[here.submit(run_chunk, job, cancellable)] = (job, True)

        try:
            fill()
            while in_flight:
                finished, _ = wait(set(in_flight), timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    job, _mine = in_flight.pop(future)
                    exc = future.exception()
                    if exc is None:
                        continue
                    if isinstance(exc, BadValueError):
                        raise exc
                    if isinstance(exc, BrokenProcessPool):
                        raise TargetError(
                            "a worker process died before finishing its chunk",
                            hint="everything committed is kept and `cutover run --phase 2` "
                            "resumes; when calling cutover from a "
                            'Python script, guard it with `if __name__ == "__main__":` (worker '
                            "processes import it) or pass jobs=1",
                        ) from exc
                    message = (
                        exc.message
                        if isinstance(exc, CutoverError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    failures.append(f"{names[job.table]} chunk {job.chunk}: {message}")
                fill()
                _report_progress(monitor, ctx.target_url, plan.database, names, reporter)
        except BaseException as exc:
            stop.set()
            queue.clear()
            # a bad value: the others finish their batch first; Ctrl-C or SIGTERM: they stop now
            # (SIGTERM reaches this process alone, Ctrl-C the whole process group)
            workers.close(
                wait=isinstance(exc, BadValueError), kill=isinstance(exc, KeyboardInterrupt)
            )
            raise
    for mon in monitor:
        mon.close()
    if failures:
        raise TargetError(
            f"{len(failures)} chunk(s) failed: " + "; ".join(failures[:5]),
            hint="every chunk that finished is kept; fix the cause and run `cutover run --phase "
            "2` to resume",
        )


def _on_threads(
    jobs: list[ChunkJob],
    threads: int,
    done_rows: dict[str, int],
    names: dict[str, str],
    reporter: Reporter,
) -> None:
    """Run the chunks on threads of this process, each with its own source and target
    connections (the columnar engine: ADBC, Arrow's kernels and COPY leave the GIL).

    As when they run one after another, the first failure or interrupt ends the load: the other
    chunks stop after their last committed batch, and that failure is raised.
    """
    stop = threading.Event()
    lock = threading.Lock()

    def run(job: ChunkJob) -> int:
        def advanced(n: int) -> None:
            if stop.is_set():
                raise _Stopped()
            with lock:
                done_rows[job.table] += n
                reporter.advanced(names[job.table], done_rows[job.table])

        return run_chunk(job, advanced)

    pool = ThreadPoolExecutor(threads, thread_name_prefix="cutover-chunk")
    try:
        for future in as_completed([pool.submit(run, job) for job in jobs]):
            future.result()
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _report_progress(
    monitor: list[psycopg.Connection[Any]],
    target_url: str,
    database: str,
    names: dict[str, str],
    reporter: Reporter,
) -> None:
    """Show committed progress; the display never fails the load (it reconnects next time)."""
    try:
        if not monitor:
            monitor.append(
                tgt.connect(target_url, autocommit=True, application_name="cutover monitor")
            )
        totals: dict[str, int] = {}
        for chunk in state.load_chunks(monitor[0], database):
            if chunk.chunk >= 0:
                totals[chunk.table] = totals.get(chunk.table, 0) + chunk.rows_read
    except (psycopg.Error, CutoverError):
        for conn in monitor:
            conn.close()
        monitor.clear()
        return
    for table, read in totals.items():
        if table in names:
            reporter.advanced(names[table], read)
