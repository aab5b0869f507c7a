"""Reading both sides of a table as verify compares them: rows, and per-bucket digests.

The source is read through the load's row path (as the load would write it, minus the rows it
recorded as rejected); the target from a server-side cursor. A large table is digested by worker
processes over the load's key ranges, both sides at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from cutover.config import DatabaseConfig
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.scheduler import default_jobs
from cutover.proof import columnar
from cutover.rows.digest import Digests, RowHasher
from cutover.rows.path import Policies, RowPath
from cutover.sources import open_source
from cutover.sources.base import PROBE_ROWS, Source, rows_within_budget
from cutover.values.coerce import json_safe

# rows per fetch from a server-side cursor at most (and about BATCH_BYTES): bounded memory on any
# table
STREAM_BATCH = 5000
SIDES = ("source", "target")


def json_text(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data


def row_path(
    source: Source, schema_table: Any, manifest: dict[str, Any], t: dict[str, Any]
) -> RowPath:
    """The row path the load took for this table, as its manifest recorded it."""
    return RowPath.for_manifest(
        t,
        source.key_columns(schema_table),
        schema_table.primary_key,
        Policies.from_manifest(manifest),
        # a SQLite column holds any storage class, and the source may have changed since the load
        # profiled it; a SQL Server column holds its declared type
        profiled=source.kind != "sqlite",
    )


def target_batches(
    conn: psycopg.Connection[Any],
    schema: str,
    t: dict[str, Any],
    where: sql.Composable | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The target's rows from a server-side cursor, in fetches of at most STREAM_BATCH rows and
    about BATCH_BYTES.
    """
    cols = sql.SQL(", ").join(sql.Identifier(c["target"]) for c in t["columns"])
    query = sql.SQL("SELECT {} FROM {}").format(cols, tgt.qualified(schema, t["target"]))
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    with conn.transaction(), conn.cursor(name=f"cutover_verify_{id(t)}") as cur:
        cur.execute(query)
        size = PROBE_ROWS  # a small first fetch measures the row width, as a source read does
        while batch := cur.fetchmany(size):
            yield batch
            size = rows_within_budget(batch, STREAM_BATCH)


def target_rows(
    conn: psycopg.Connection[Any],
    schema: str,
    t: dict[str, Any],
    where: sql.Composable | None = None,
) -> Iterator[tuple[Any, ...]]:
    for batch in target_batches(conn, schema, t, where):
        yield from batch


@dataclass(frozen=True)
class SourceSide:
    """One table's source as verify reads it: the reader, its reflected table, the row path the
    load took, and the keys of the rows the load rejected (left out of every read).
    """

    source: Source
    table: Any
    path: RowPath
    excluded: frozenset[str]

    def batches(
        self, after: tuple[Any, ...] | None = None, until: tuple[Any, ...] | None = None
    ) -> Iterator[list[tuple[tuple[Any, ...], dict[str, Any]]]]:
        """The source's (row as the load wrote it, readable key) pairs minus the rejected rows,
        a source batch at a time.
        """
        path, excluded = self.path, self.excluded
        columns = [c.source for c in path.columns]
        width = path.width
        canonical = path.canonical_keys(excluded) if excluded else frozenset()
        read = self.source.read(
            self.table, columns, batch_size=STREAM_BATCH, after=after, until=until
        )
        for batch in read:
            out, origin, _rejects = path.coerce_batch(batch.rows, batch.suspect)
            pairs = []
            for row, src in zip(out, origin):
                key = {k: json_safe(v) for k, v in zip(path.key_columns, src[:width])}
                pk_key = path.primary_key_of(src)
                if excluded and (
                    key_text(key) in excluded
                    or (pk_key and key_text(pk_key) in excluded)
                    or key_text(path.key_of(src)) in excluded
                    or (canonical and path.canonical_key(row) in canonical)
                ):
                    continue
                pairs.append((row, pk_key or key))
            yield pairs

    def rows(self) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        """batches(), one pair at a time."""
        for batch in self.batches():
            yield from batch

    def python_digests(
        self, after: tuple[Any, ...] | None = None, until: tuple[Any, ...] | None = None
    ) -> Digests:
        """Per-bucket digests of batches(), read row by row."""
        digests = Digests()
        for pairs in self.batches(after, until):
            digests.add_rows(self.path.hasher, [row for row, _key in pairs])
        return digests

    def digests(
        self,
        after: tuple[Any, ...] | None = None,
        until: tuple[Any, ...] | None = None,
        recorded: dict[str, list[str]] | None = None,
    ) -> Digests:
        """python_digests' sums, read as Arrow batches where the table allows it (recorded: the
        load's storage classes, when the source is unchanged since; see columnar.source_digests).
        """
        found = columnar.source_digests(
            self.source,
            self.table,
            self.path,
            self.excluded,
            after,
            until,
            self.python_digests,
            recorded,
        )
        return self.python_digests(after, until) if found is None else found


def target_digests(
    conn: psycopg.Connection[Any],
    url: str | None,
    schema: str,
    t: dict[str, Any],
    hasher: RowHasher,
    after: tuple[Any, ...] | None = None,
    until: tuple[Any, ...] | None = None,
) -> Digests:
    """Per-bucket digests of the target's rows over a load key range: read as Arrow where the
    table's types allow it (and `url` is given), else from a psycopg server-side cursor (which
    raises what it meets).
    """
    found = None if url is None else columnar.target_digests(url, schema, t, hasher, after, until)
    if found is not None:
        return found
    digests = Digests()
    for rows in target_batches(conn, schema, t, columnar.range_where(t, after, until)):
        digests.add_rows(hasher, rows)
    return digests


def key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


@dataclass(frozen=True)
class DigestJob:
    """One side of one key range of a table, digested in a worker process."""

    side: str  # "source" or "target"
    source_url: str
    base_dir: Path
    target_url: str
    manifest: dict[str, Any]
    table: dict[str, Any]
    after: tuple[Any, ...] | None
    until: tuple[Any, ...] | None
    excluded: frozenset[str]


def _digest_job(job: DigestJob) -> tuple[str, dict[int, list[int]]]:
    """("ok", buckets) of one job, or (the problem, {}) when the target table cannot be read."""
    if job.side == "source":
        source = open_source(job.source_url, job.base_dir)
        try:
            st = source.reflect().table(job.table["source"])
            path = row_path(source, st, job.manifest, job.table)
            side = SourceSide(source, st, path, job.excluded)
            return "ok", side.digests(job.after, job.until).buckets
        finally:
            source.close()
    hasher = RowPath.for_manifest(job.table, [], [], Policies.from_manifest(job.manifest)).hasher
    conn = tgt.connect(job.target_url)
    try:
        set_json_loads(json_text, conn)
        schema = job.manifest["target_schema"]
        digests = target_digests(
            conn, job.target_url, schema, job.table, hasher, job.after, job.until
        )
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        return exc.diag.message_primary or type(exc).__name__, {}
    finally:
        conn.close()
    return "ok", digests.buckets


class Workers:
    """The verify's worker processes, started on first use (one per core)."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    def digests(self, jobs: list[DigestJob]) -> tuple[Digests, Digests, str | None]:
        """(source digests, target digests, a problem reading the target) summed over the jobs."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(default_jobs(), mp_context=get_context("spawn"))
        sides = {"source": Digests(), "target": Digests()}
        problem = None
        for job, (status, buckets) in zip(jobs, self.pool.map(_digest_job, jobs)):
            if status != "ok":
                problem = status
            sides[job.side].merge(buckets)
        return sides["source"], sides["target"], problem

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def parallel_jobs(
    conn: psycopg.Connection[Any],
    db: DatabaseConfig,
    base_dir: Path,
    manifest: dict[str, Any],
    t: dict[str, Any],
    keyed: bool,
    excluded: frozenset[str],
    sides: tuple[str, ...],
) -> list[DigestJob]:
    """Jobs over the load's chunks (key ranges of a
    table keyed by one integer), or the whole table.
    """
    ranges: list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]] = [(None, None)]
    if keyed:
        chunks = [
            c for c in state.load_chunks(conn, manifest["database"], t["target"]) if c.chunk >= 0
        ]
        conn.rollback()
        if len(chunks) > 1:
            ranges = [(c.after, c.until) for c in sorted(chunks, key=lambda c: c.chunk)]
    return [
        DigestJob(side, db.source, base_dir, db.target, manifest, t, after, until, excluded)
        for after, until in ranges
        for side in sides
    ]
