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
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import psycopg

from cutover import state
from cutover import target as tgt
from cutover.config import Settings
from cutover.errors import BadValueError, CutoverError, TargetError
from cutover.mapping import SchemaPlan, TablePlan
from cutover.pipeline import ChunkLoader, Reporter
from cutover.sources.base import Source
from cutover.state import Chunk

POLL_S = 0.5
PARALLEL_MIN_ROWS = 200_000  # below this a load finishes before worker processes would have started  # how often the display reads committed progress while workers run
APPLICATION_NAME = "cutover load"  # how the load's connections show in pg_stat_activity


def default_jobs() -> int:
    """One worker per core."""
    return os.cpu_count() or 1


def plan_chunks(source: Source, tables: list[TablePlan], chunk_rows: int) -> list[Chunk]:
    """Key ranges for each table: several for a large table with one integer key, else one."""
    chunks: list[Chunk] = []
    for tp in tables:
        bounds = source.key_range(tp.source) if tp.rows > chunk_rows else None
        if bounds is None:
            chunks.append(Chunk(tp.name, 0, None, None))
            continue
        low, high = bounds
        count = math.ceil(tp.rows / chunk_rows)
        step = max(1, math.ceil((high - low + 1) / count))
        starts = [low + i * step for i in range(1, count) if low + i * step <= high]
        edges: list[int | None] = [None, *starts, None]
        for i in range(len(edges) - 1):
            start, end = edges[i], edges[i + 1]
            chunks.append(Chunk(tp.name, i, None if start is None else (start - 1,), None if end is None else (end,)))
    return chunks


def connect_for_load(url: str) -> "psycopg.Connection[Any]":
    """An autocommit connection named so an operator can see the load in pg_stat_activity."""
    return tgt.connect(url, autocommit=True, application_name=APPLICATION_NAME)


@dataclass
class ChunkJob:
    """Everything a worker process needs to load one chunk (all picklable)."""

    source_url: str
    base_dir: Path
    target_url: str
    plan: SchemaPlan
    table: str
    chunk: int
    settings: Settings
    rejects_dir: Path


def run_chunk(job: ChunkJob, on_progress: Callable[[int], None] | None = None, source: Source | None = None) -> int:
    """Load one chunk (in a worker, or in-process); returns the rows it read in this run."""
    from cutover.sources import open_source

    own = source is None
    src = open_source(job.source_url, job.base_dir) if source is None else source
    try:
        tp = next(t for t in job.plan.tables if t.name == job.table)
        loader = ChunkLoader(src, partial(connect_for_load, job.target_url), job.plan, tp, job.settings, job.rejects_dir, Chunk(job.table, job.chunk, None, None), on_progress)
        return loader.run().rows_read
    finally:
        if own:
            src.close()


def _die_with_parent() -> None:
    """Worker initializer: if the parent is killed, so is the worker (Linux); the advisory lock covers the rest."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def load(source: Source, source_url: str, base_dir: Path, target_url: str, conn: "psycopg.Connection[Any]", plan: SchemaPlan, tables: list[TablePlan], settings: Settings, rejects_dir: Path, reporter: Reporter, jobs: int | None) -> None:
    """Run every unfinished chunk on `jobs` workers (None: one per core, when the load is big enough)."""
    chunks = state.load_chunks(conn, plan.database)
    conn.rollback()
    rows = {t.name: t.rows for t in tables}
    pending = [c for c in chunks if not c.done and c.chunk >= 0]
    pending.sort(key=lambda c: (-rows.get(c.table, 0), c.table, c.chunk))
    done_rows = {t.name: sum(c.rows_read for c in chunks if c.table == t.name) for t in tables}
    names = {t.name: t.source.name for t in tables}
    for tp in tables:
        reporter.table_started(tp.source.name, tp.rows)
        if done_rows[tp.name]:
            reporter.advanced(tp.source.name, done_rows[tp.name])
    jobs_list = [ChunkJob(source_url, base_dir, target_url, plan, c.table, c.chunk, settings, rejects_dir) for c in pending]
    if jobs is None:
        pending_rows = sum(rows.get(table, 0) for table in {c.table for c in pending})
        jobs = default_jobs() if pending_rows >= PARALLEL_MIN_ROWS else 1
    if jobs <= 1 or len(jobs_list) <= 1:
        for job in jobs_list:
            def advanced(n: int, table: str = job.table) -> None:
                done_rows[table] += n
                reporter.advanced(names[table], done_rows[table])

            run_chunk(job, advanced, source)
        return
    failures: list[str] = []
    monitor: list["psycopg.Connection[Any]"] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_list)), mp_context=get_context("spawn"), initializer=_die_with_parent) as pool:
        futures: dict[Future[int], ChunkJob] = {pool.submit(run_chunk, job): job for job in jobs_list}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, timeout=POLL_S, return_when=FIRST_EXCEPTION)
            for future in finished:
                exc = future.exception()
                if exc is None:
                    continue
                job = futures[future]
                if isinstance(exc, BadValueError):
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise exc
                if isinstance(exc, BrokenProcessPool):
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise TargetError(
                        "a worker process died before finishing its chunk",
                        hint="everything committed is kept and `cutover run --phase 2` resumes; when calling cutover from a "
                        "Python script, guard it with `if __name__ == \"__main__\":` (worker processes import it) or pass jobs=1",
                    ) from exc
                message = exc.message if isinstance(exc, CutoverError) else f"{type(exc).__name__}: {exc}"
                failures.append(f"{names[job.table]} chunk {job.chunk}: {message}")
            _report_progress(monitor, target_url, plan.database, names, reporter)
    for mon in monitor:
        mon.close()
    if failures:
        raise TargetError(
            f"{len(failures)} chunk(s) failed: " + "; ".join(failures[:5]),
            hint="every chunk that finished is kept; fix the cause and run `cutover run --phase 2` to resume",
        )


def _report_progress(monitor: list["psycopg.Connection[Any]"], target_url: str, database: str, names: dict[str, str], reporter: Reporter) -> None:
    """Show committed progress; the display never fails the load (it reconnects next time)."""
    try:
        if not monitor:
            monitor.append(tgt.connect(target_url, autocommit=True, application_name="cutover monitor"))
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
