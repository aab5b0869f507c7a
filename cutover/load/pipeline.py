"""Loading one chunk: read → coerce → COPY, rejects
isolated and recorded, progress committed with rows.

Every batch is one Postgres transaction holding its rows, their digests and the chunk's progress,
so what is committed is always consistent and a chunk resumes exactly after its last commit.
After the load, checks, unique and foreign keys are enforced before Alembic adds them, and rows
that would break them go to the reject file (never silently).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from cutover.config import Settings
from cutover.errors import (
    BadValueError,
    ChecksFailed,
    ReaderStopped,
    TargetError,
    TransientError,
)
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.native import NativeChunk, native_table
from cutover.load.rejects import RejectLog, loaded_value, merge, part_file, reasons_in
from cutover.load.state import Chunk
from cutover.rows.path import Policies, RowPath
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.sources.base import Source


class Reporter(Protocol):
    """Receives progress; the CLI renders it, tests collect it, the library never prints."""

    def table_started(self, table: str, total: int) -> None: ...

    def advanced(self, table: str, rows: int) -> None: ...

    def table_done(self, result: TableResult) -> None: ...

    def message(self, text: str) -> None: ...


class NullReporter:
    """A reporter that ignores everything."""

    def table_started(self, table: str, total: int) -> None:
        pass

    def advanced(self, table: str, rows: int) -> None:
        pass

    def table_done(self, result: TableResult) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class TableResult:
    """One table's reconciliation: read = written + rejected."""

    table: str
    target: str
    read: int = 0
    written: int = 0
    rejected: int = 0
    bytes: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciled(self) -> bool:
        return self.read == self.written + self.rejected


RETRY_ATTEMPTS = 8  # transient failures (connection lost, server restart) retried per chunk
RETRY_FIRST_WAIT_S = 0.5  # doubled after each failure …
RETRY_MAX_WAIT_S = 15.0  # … up to this; about a minute in all, longer than a server restart takes


def row_path(tp: TablePlan, key_columns: list[str], settings: Settings) -> RowPath:
    """The row path of a table under the run's settings."""
    return RowPath.for_plan(tp, key_columns, Policies.from_settings(settings))


Connect = Callable[[], "psycopg.Connection[Any]"]


class ChunkLoader:
    """Loads one chunk of one table, resuming from what its progress record says is committed."""

    def __init__(
        self,
        source: Source,
        connect: Connect,
        plan: SchemaPlan,
        tp: TablePlan,
        settings: Settings,
        rejects_dir: Path,
        chunk: Chunk,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.source, self.connect, self.plan, self.tp = source, connect, plan, tp
        self.settings, self.rejects_dir, self.chunk_no = settings, rejects_dir, chunk.chunk
        self.on_progress = on_progress
        self.path = row_path(tp, source.key_columns(tp.source), settings)
        self.abort = settings.on_error == "abort"
        self.rejects: RejectLog | None = None
        self.pending: list[state.RejectedKey] = []  # this batch's rejects, committed with it
        table, self.python_reason = native_table(
            source, tp, source.key_columns(tp.source), self.path, settings
        )
        self.native = (
            None if table is None else NativeChunk(table, source, tp, settings, plan.database)
        )

    def reject(
        self, row: tuple[Any, ...], column: str | None, value: Any, reason: str, stage: str
    ) -> None:
        key = self.path.key_of(row)
        if self.abort:
            raise BadValueError(
                f"bad value in {self.tp.source.name}.{column}: {reason}",
                table=self.tp.source.name,
                column=column,
                key=json.dumps(key, default=str),
                hint="--on-error=reject (the default) sends such rows to the reject file instead",
            )
        assert self.rejects is not None
        self.pending.append(state.RejectedKey(key, column, reason, stage))
        self.rejects.add(
            key=key,
            column=column,
            value=value,
            reason=reason,
            row=self.path.row_dict(row),
            stage=stage,
        )

    def run(self) -> Chunk:
        """Load the chunk, retrying transient failures from the last committed batch."""
        wait = RETRY_FIRST_WAIT_S
        for attempt in range(1, RETRY_ATTEMPTS + 1):
            try:
                return self._run_once()
            except TransientError as exc:
                if attempt == RETRY_ATTEMPTS:
                    raise TargetError(
                        f"chunk {self.chunk_no} of {self.tp.source.name} failed {attempt} "
                        f"times: {exc.message}",
                        table=self.tp.source.name,
                        hint="everything committed so far is kept; `cutover run --phase 2` "
                        "resumes from there",
                    ) from exc
                time.sleep(wait)
                wait = min(wait * 2, RETRY_MAX_WAIT_S)
        raise AssertionError("unreachable")

    def _run_once(self) -> Chunk:
        tp, db = self.tp, self.plan.database
        conn = None
        try:
            conn = self.connect()
            state.lock_chunk(conn, db, tp.name, self.chunk_no)
            (chunk,) = state.load_chunks(conn, db, tp.name, self.chunk_no)
            if chunk.done:
                return chunk
            self.rejects = RejectLog(
                part_file(self.rejects_dir, tp.source.name, self.chunk_no), keep=chunk.rows_rejected
            )
            writer = tgt.CopyWriter(
                conn, self.plan.target_schema, tp.name, [c.name for c in tp.columns]
            )
            if self.native is not None:
                self._load_native(conn, writer, chunk, self.native)
            else:
                self._load_python(conn, writer, chunk, chunk.resume_after, chunk.until)
            chunk.done = True
            with conn.transaction():
                state.durable(conn)
                state.save_chunk(conn, db, chunk)
            return chunk
        except psycopg.Error as exc:
            if conn is None or conn.closed or conn.broken or tgt.is_transient(exc):
                raise TransientError(
                    f"lost the target while loading {tp.source.name}: {exc}"
                ) from exc
            raise TargetError(
                f"loading {tp.source.name} (chunk {self.chunk_no}) failed: {exc}",
                table=tp.source.name,
            ) from exc
        finally:
            if self.rejects is not None:
                self.rejects.close()
            if conn is not None:
                conn.close()

    def _load_python(
        self,
        conn: psycopg.Connection[Any],
        writer: tgt.CopyWriter,
        chunk: Chunk,
        after: tuple[Any, ...] | None,
        until: tuple[Any, ...] | None,
    ) -> None:
        """Load the rows with keys after `after` and before `until` through the row path."""
        for batch in self.source.read(
            self.tp.source,
            [c.source for c in self.tp.columns],
            batch_size=self.settings.batch_size,
            after=after,
            until=until,
        ):
            self._write_batch(conn, writer, chunk, batch.rows, batch.suspect, batch.last_key)
            if self.on_progress is not None:
                self.on_progress(len(batch.rows))

    def _load_native(
        self,
        conn: psycopg.Connection[Any],
        writer: tgt.CopyWriter,
        chunk: Chunk,
        native: NativeChunk,
    ) -> None:
        """Load the chunk as Arrow batches; a batch they cannot carry goes through the row path."""
        native.copy_like(writer)
        batches = native.batches(chunk)
        while True:
            try:
                batch = next(batches, None)
            except ReaderStopped as exc:  # ADBC: a value of another storage class, a collation
                native.fallback_batches += 1
                self.python_reason = f"the columnar reader stopped: {exc}"
                self._load_python(conn, writer, chunk, chunk.resume_after, chunk.until)
                return
            if batch is None:
                return
            if native.write(conn, chunk, batch):
                if self.on_progress is not None:
                    self.on_progress(batch.num_rows)
                continue
            native.fallback_batches += 1
            last = batch.column(0)[-1].as_py()
            self._load_python(conn, writer, chunk, chunk.resume_after, (last + 1,))

    def _write_batch(
        self,
        conn: psycopg.Connection[Any],
        writer: tgt.CopyWriter,
        chunk: Chunk,
        rows: list[tuple[Any, ...]],
        suspect: bool,
        last_key: tuple[Any, ...],
    ) -> None:
        """Coerce, COPY, digest, reject and record progress for one batch, in one transaction."""
        tp, path = self.tp, self.path
        self.pending = []
        out, origin, rejects = path.coerce_batch(rows, suspect)
        changes = path.take_changes()
        for bad in rejects:
            self.reject(bad.row, bad.column, bad.value, bad.reason, "coerce")
        assert self.rejects is not None
        with conn.transaction():
            refused = writer.copy_isolating(out) if out else []
            if self.settings.digests == "load":
                skip = {index for index, _, _ in refused}
                digests = path.digest_batch(
                    [r for i, r in enumerate(out) if i not in skip] if skip else out
                )
                state.save_digests(conn, self.plan.database, tp.name, digests)
            names = [c.name for c in tp.columns]
            for index, reason, column in refused:
                row = origin[index]
                value = None
                if column in names:
                    value = row[path.width + names.index(column)]
                    column = tp.columns[names.index(column)].source
                self.reject(row, column, value, reason, "copy")
            chunk.rows_read += len(rows)
            chunk.rows_rejected = self.rejects.count
            chunk.rows_written = chunk.rows_read - chunk.rows_rejected
            chunk.last_key = last_key
            self.rejects.sync()
            state.save_rejects(conn, self.plan.database, tp.name, self.chunk_no, self.pending)
            state.save_changes(conn, self.plan.database, tp.name, changes)
            state.save_chunk(conn, self.plan.database, chunk)


class _PostLoad:
    """Post-load rejects of one table: reject lines and
    chunk -1 counters, committed with each DELETE.
    """

    def __init__(
        self, conn: psycopg.Connection[Any], plan: SchemaPlan, tp: TablePlan, rejects_dir: Path
    ) -> None:
        self.plan, self.tp = plan, tp
        found = state.load_chunks(conn, plan.database, tp.name, state.POST_LOAD_CHUNK)
        self.chunk = (
            found[0] if found else Chunk(tp.name, state.POST_LOAD_CHUNK, None, None, done=True)
        )
        self.log = RejectLog(
            part_file(rejects_dir, tp.source.name, state.POST_LOAD_CHUNK),
            keep=self.chunk.rows_rejected,
        )

    def remove(
        self,
        conn: psycopg.Connection[Any],
        query: sql.Composed,
        settings: Settings,
        column: str | None,
        reason: str,
        stage: str,
    ) -> int:
        """Run a DELETE … RETURNING of whole rows; reject
        them, take out their digests, count them.
        """
        tp = self.tp
        by_target = {c.name: c.source for c in tp.columns}
        names = [c.name for c in tp.columns]
        with conn.transaction():
            removed = conn.execute(query).fetchall()
            if not removed:
                return 0
            if settings.digests == "load":
                digests = row_path(tp, [], settings).digest_batch(removed, sign=-1)
                state.save_digests(conn, self.plan.database, tp.name, digests)
            recorded = []
            for row in removed:
                source_row = {by_target[n]: loaded_value(v) for n, v in zip(names, row)}
                key_cols = tp.source.primary_key or list(source_row)
                col = by_target.get(column, column) if column else None
                key = {k: source_row.get(k) for k in key_cols}
                recorded.append(state.RejectedKey(key, col, reason, stage))
                self.log.add(
                    key=key,
                    column=col,
                    value=source_row.get(col) if col else None,
                    reason=reason,
                    row=source_row,
                    stage=stage,
                )
            state.save_rejects(conn, self.plan.database, tp.name, state.POST_LOAD_CHUNK, recorded)
            self.chunk.rows_rejected += len(removed)
            self.chunk.rows_written -= len(removed)
            self.log.sync()
            state.save_chunk(conn, self.plan.database, self.chunk)
        return len(removed)

    def close(self) -> None:
        self.log.close()


def enforce_keys(
    conn: psycopg.Connection[Any], plan: SchemaPlan, settings: Settings, rejects_dir: Path
) -> list[str]:
    """Reject rows that would break a check, a unique
    key, or a foreign key, before Alembic adds them.
    """
    notes: list[str] = []
    posts: dict[str, _PostLoad] = {}

    def post(tp: TablePlan) -> _PostLoad:
        if tp.name not in posts:
            posts[tp.name] = _PostLoad(conn, plan, tp, rejects_dir)
        return posts[tp.name]

    table_of = tgt.qualified
    try:
        for tp in plan.tables:
            for check in tp.checks:
                query = sql.SQL("DELETE FROM {t} WHERE NOT ({expr}) RETURNING {cols}").format(
                    t=table_of(plan.target_schema, tp.name),
                    expr=sql.SQL(check.expression),
                    cols=_returning(tp),
                )  # expression: translated by sqltext, identifiers quoted
                n = post(tp).remove(
                    conn,
                    query,
                    settings,
                    None,
                    f"violates check {check.name}: CHECK ({check.source_expression})",
                    "check",
                )
                if n:
                    notes.append(f"{tp.source.name}: {n} rows rejected by check {check.name}")
            for label, elements, where in _unique_keys(tp):
                n = post(tp).remove(
                    conn,
                    _duplicates_query(plan, tp, elements, where),
                    settings,
                    None,
                    f"duplicate under unique {label}: an earlier row has the same value",
                    "unique",
                )
                if n:
                    notes.append(f"{tp.source.name}: {n} rows rejected as duplicates under {label}")
        if settings.orphans == "reject":
            changed = True
            while changed:
                changed = False
                for tp in plan.tables:
                    for fk in tp.foreign_keys:
                        reason = (
                            f"orphaned foreign key {fk.name}: no {fk.ref_table} row with "
                            f"({', '.join(fk.ref_columns)}) = this row's "
                            f"({', '.join(fk.columns)})"
                        )
                        n = post(tp).remove(
                            conn,
                            _orphans_query(plan, tp, fk.columns, fk.ref_table, fk.ref_columns),
                            settings,
                            fk.columns[0],
                            reason,
                            "foreign key",
                        )
                        if n:
                            changed = True
                            notes.append(
                                f"{tp.source.name}: {n} rows rejected as orphans of {fk.name}"
                            )
    finally:
        for p in posts.values():
            p.close()
    return notes


def _unique_keys(tp: TablePlan) -> list[tuple[str, list[sql.Composable], str | None]]:
    keys: list[tuple[str, list[sql.Composable], str | None]] = []
    for u in tp.uniques:
        keys.append((u.name, [sql.Identifier(c) for c in u.columns], None))
    for idx in tp.indexes:
        if idx.unique:
            keys.append(
                (idx.name, [sql.SQL(e.removesuffix(" DESC")) for e in idx.elements], idx.where)
            )
    return keys


def _order_by(tp: TablePlan) -> sql.Composable:
    if tp.primary_key:
        return sql.SQL(", ").join(sql.Identifier(c) for c in tp.primary_key)
    return sql.SQL("ctid")


def _returning(tp: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in tp.columns)


def _duplicates_query(
    plan: SchemaPlan, tp: TablePlan, elements: list[sql.Composable], where: str | None
) -> sql.Composed:
    """DELETE every row but the first (in key order) of each duplicate group, RETURNING them."""
    table = tgt.qualified(plan.target_schema, tp.name)
    not_null = sql.SQL(" AND ").join(sql.SQL("({}) IS NOT NULL").format(e) for e in elements)
    condition = (
        not_null if where is None else sql.SQL("{} AND ({})").format(not_null, sql.SQL(where))
    )  # where: translated by sqltext, identifiers quoted
    return sql.SQL(
        "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER "
        "(PARTITION BY {parts} ORDER BY {order}) AS n "
        "FROM {t} WHERE {cond}) d WHERE d.n > 1) RETURNING {cols}"
    ).format(
        t=table,
        parts=sql.SQL(", ").join(elements),
        order=_order_by(tp),
        cond=condition,
        cols=_returning(tp),
    )


def _orphans_query(
    plan: SchemaPlan, tp: TablePlan, columns: list[str], ref_table: str, ref_columns: list[str]
) -> sql.Composed:
    """DELETE child rows whose (non-null) foreign key has no parent, RETURNING them."""
    child = tgt.qualified(plan.target_schema, tp.name)
    parent = tgt.qualified(plan.target_schema, ref_table)
    not_null = sql.SQL(" AND ").join(
        sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in columns
    )
    match = sql.SQL(" AND ").join(
        sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c))
        for c, p in zip(columns, ref_columns)
    )
    cols = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c.name)) for c in tp.columns)
    return sql.SQL(
        "DELETE FROM {child} c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE "
        "{match}) RETURNING {cols}"
    ).format(child=child, nn=not_null, parent=parent, match=match, cols=cols)


def finish_tables(
    conn: psycopg.Connection[Any], plan: SchemaPlan, rejects_dir: Path
) -> dict[str, TableResult]:
    """Merge reject files, continue identities, ANALYZE, and reconcile read = written + rejected."""
    chunks = state.load_chunks(conn, plan.database)
    seconds = state.table_seconds(conn, plan.database)
    conn.rollback()
    results: dict[str, TableResult] = {}
    problems = []
    for tp in plan.tables:
        mine = [c for c in chunks if c.table == tp.name]
        parts = [
            part_file(rejects_dir, tp.source.name, c.chunk)
            for c in sorted(mine, key=lambda c: (c.chunk < 0, c.chunk))
        ]
        path = merge(rejects_dir, tp.source.name, parts)
        res = TableResult(
            tp.source.name,
            tp.name,
            sum(c.rows_read for c in mine),
            sum(c.rows_written for c in mine),
            sum(c.rows_rejected for c in mine),
            seconds=seconds.get(tp.name, 0.0),
            rejects_path=path,
        )
        res.reasons = reasons_in(path)
        with conn.transaction():
            ident = tp.identity_column
            if ident is not None:
                tgt.reset_identity(conn, plan.target_schema, tp.name, ident.name, tp.sequence_floor)
            res.bytes = tgt.table_bytes(conn, plan.target_schema, tp.name)
            actual = tgt.row_count(conn, plan.target_schema, tp.name)
        conn.execute(sql.SQL("ANALYZE {}").format(tgt.qualified(plan.target_schema, tp.name)))
        if actual != res.written or not res.reconciled:
            problems.append(
                f"{tp.source.name}: read {res.read}, written {res.written} (target holds "
                f"{actual}), rejected {res.rejected}"
            )
        results[tp.name] = res
    if problems:
        raise ChecksFailed(
            "rows do not reconcile: " + "; ".join(problems),
            hint="this is a bug in cutover; please report it with the reject files",
        )
    return results
