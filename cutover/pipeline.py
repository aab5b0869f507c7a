"""Per-table load: read → coerce → COPY, rejects isolated and recorded, progress committed with rows.

Every batch is one Postgres transaction holding its rows and its progress record, so what is
committed is always consistent. After the load, unique and foreign keys are checked before
Alembic adds them, and rows that would break them go to the reject file (never silently).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from decimal import Decimal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from cutover import target as tgt
from cutover.coerce import Coercion, Reject, build, compile_row, json_safe, preview
from cutover.config import Settings
from cutover.errors import BadValueError, ChecksFailed
from cutover.mapping import SchemaPlan, TablePlan
from cutover.digest import Digests, RowHasher
from cutover.sources.base import InvalidText, Source


class Reporter(Protocol):
    """Receives progress; the CLI renders it, tests collect it, the library never prints."""

    def table_started(self, table: str, total: int) -> None: ...

    def advanced(self, table: str, rows: int) -> None: ...

    def table_done(self, result: "TableResult") -> None: ...

    def message(self, text: str) -> None: ...


class NullReporter:
    """A reporter that ignores everything."""

    def table_started(self, table: str, total: int) -> None:
        pass

    def advanced(self, table: str, rows: int) -> None:
        pass

    def table_done(self, result: "TableResult") -> None:
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


class RejectLog:
    """<workdir>/rejects/<db>/<table>.jsonl: one JSON line per rejected row, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.reasons: dict[str, int] = {}
        self._fh: Any = None
        if path.exists():
            path.unlink()

    def add(self, *, key: dict[str, Any], column: str | None, value: Any, reason: str, row: dict[str, Any], stage: str) -> None:
        """Append one reject record (the whole row is kept so nothing is lost)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        record = {"key": key, "column": column, "value": preview(value), "reason": reason, "stage": stage, "row": row}
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1
        short = reason.split(":")[0]
        self.reasons[short] = self.reasons.get(short, 0) + 1

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


PROGRESS_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.load_progress (
    database text NOT NULL,
    table_name text NOT NULL,
    last_key jsonb,
    rows_read bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    source_fingerprint text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (database, table_name)
);
CREATE TABLE IF NOT EXISTS {schema}.digests (
    database text NOT NULL,
    table_name text NOT NULL,
    bucket bigint NOT NULL,
    rows bigint NOT NULL,
    digest numeric NOT NULL,
    PRIMARY KEY (database, table_name, bucket)
);
CREATE TABLE IF NOT EXISTS {schema}.manifest (
    database text PRIMARY KEY,
    manifest jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
"""


def ensure_state(conn: psycopg.Connection[Any]) -> None:
    """Create the _cutover schema and its progress table in the target."""
    schema = sql.Identifier(tgt.STATE_SCHEMA)
    with conn.transaction():
        for statement in PROGRESS_DDL.strip().split(";\n"):
            if statement.strip():
                conn.execute(sql.SQL(statement.strip().rstrip(";")).format(schema=schema))


def _record_progress(conn: psycopg.Connection[Any], db: str, table: str, last_key: tuple[Any, ...] | None, res: TableResult, done: bool, fingerprint: str) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {}.load_progress AS p (database, table_name, last_key, rows_read, rows_written, rows_rejected, done, source_fingerprint, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (database, table_name) DO UPDATE SET last_key = EXCLUDED.last_key, rows_read = EXCLUDED.rows_read, "
            "rows_written = EXCLUDED.rows_written, rows_rejected = EXCLUDED.rows_rejected, done = EXCLUDED.done, "
            "source_fingerprint = EXCLUDED.source_fingerprint, updated_at = now()"
        ).format(sql.Identifier(tgt.STATE_SCHEMA)),
        (db, table, json.dumps([json_safe(k) for k in last_key]) if last_key is not None else None, res.read, res.written, res.rejected, done, fingerprint),
    )


def clear_progress(conn: psycopg.Connection[Any], db: str) -> None:
    """Forget a database's load progress, digests and manifest (a fresh load follows)."""
    with conn.transaction():
        for table in ("load_progress", "digests", "manifest"):
            conn.execute(sql.SQL("DELETE FROM {}.{} WHERE database = %s").format(sql.Identifier(tgt.STATE_SCHEMA), sql.Identifier(table)), (db,))


def table_hasher(tp: TablePlan, naive_timezone: str) -> RowHasher:
    """The hasher for a table's target rows: its column types, keyed by its primary key."""
    names = [c.name for c in tp.columns]
    return RowHasher([c.pg_type for c in tp.columns], [names.index(k) for k in tp.primary_key if k in names], naive_timezone)


def save_digests(conn: psycopg.Connection[Any], db: str, table: str, digests: Digests) -> None:
    """Add per-bucket counts and digest sums to the stored ones (inside the caller's transaction)."""
    if not digests.buckets:
        return
    statement = sql.SQL(
        "INSERT INTO {}.digests AS d (database, table_name, bucket, rows, digest) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (database, table_name, bucket) DO UPDATE SET rows = d.rows + EXCLUDED.rows, digest = d.digest + EXCLUDED.digest"
    ).format(sql.Identifier(tgt.STATE_SCHEMA))
    with conn.cursor() as cur:
        cur.executemany(statement, [(db, table, b, c, Decimal(d)) for b, (c, d) in digests.buckets.items()])


def save_manifest(conn: psycopg.Connection[Any], manifest: dict[str, Any]) -> None:
    """Record what the load did, for verify: names, types, coercions, intentional omissions."""
    with conn.transaction():
        conn.execute(
            sql.SQL("INSERT INTO {}.manifest (database, manifest) VALUES (%s, %s) ON CONFLICT (database) DO UPDATE SET manifest = EXCLUDED.manifest, loaded_at = now()").format(sql.Identifier(tgt.STATE_SCHEMA)),
            (manifest["database"], Jsonb(manifest)),
        )


class TableLoader:
    """Loads one table: one instance per table and run."""

    def __init__(self, source: Source, conn: psycopg.Connection[Any], plan: SchemaPlan, tp: TablePlan, settings: Settings, rejects: RejectLog, reporter: Reporter, fingerprint: str) -> None:
        self.source, self.conn, self.plan, self.tp = source, conn, plan, tp
        self.settings, self.rejects, self.reporter = settings, rejects, reporter
        self.fingerprint = fingerprint
        self.key_columns = source.key_columns(tp.source)
        self.width = len(self.key_columns)
        self.coercions: list[Coercion | None] = [build(c.coercion, c.options) for c in tp.columns]
        self.transform = compile_row(self.width, self.coercions)
        self.writer = tgt.CopyWriter(conn, plan.target_schema, tp.name, [c.name for c in tp.columns])
        pk_sources = list(tp.source.primary_key)
        src_cols = [c.source for c in tp.columns]
        self.pk_positions = [(name, self.width + src_cols.index(name)) for name in pk_sources if name in src_cols and name not in self.key_columns]
        self.abort = settings.on_error == "abort"
        self.hasher = table_hasher(tp, settings.naive_timezone)

    def key_of(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """The key a person would look a row up by: stream key plus primary key values."""
        key = {k: json_safe(v) for k, v in zip(self.key_columns, row[: self.width])}
        for name, pos in self.pk_positions:
            key[name] = json_safe(row[pos])
        return key

    def row_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {c.source: json_safe(v) for c, v in zip(self.tp.columns, row[self.width :])}

    def reject(self, row: tuple[Any, ...], column: str | None, value: Any, reason: str, stage: str) -> None:
        key = self.key_of(row)
        if self.abort:
            raise BadValueError(f"bad value in {self.tp.source.name}.{column}: {reason}", table=self.tp.source.name, column=column, key=json.dumps(key, default=str), hint="--on-error=reject (the default) sends such rows to the reject file instead")
        self.rejects.add(key=key, column=column, value=value, reason=reason, row=self.row_dict(row), stage=stage)

    def run(self) -> TableResult:
        """Stream the whole table into Postgres; returns its counts."""
        tp = self.tp
        res = TableResult(tp.source.name, tp.name, rejects_path=self.rejects.path)
        started = time.monotonic()
        self.reporter.table_started(tp.source.name, tp.rows)
        columns = [c.source for c in tp.columns]
        last_key = None
        for batch in self.source.read(tp.source, columns, batch_size=self.settings.batch_size):
            rows = batch.rows
            if batch.suspect:
                rows = [self._fix_invalid_text(r) for r in rows]
                out, origin = self._coerce_slowly(rows)
            else:
                try:
                    out = [self.transform(r) for r in rows]
                    origin = rows
                except Reject:
                    out, origin = self._coerce_slowly(rows)
            with self.conn.transaction():
                refused = self.writer.copy_isolating(out) if out else []
                digests = Digests()
                skip = {index for index, _, _ in refused}
                digests.add_rows(self.hasher, [r for i, r in enumerate(out) if i not in skip] if skip else out)
                save_digests(self.conn, self.plan.database, tp.name, digests)
                for index, reason, column in refused:
                    row = origin[index]
                    value = None
                    if column is not None:
                        names = [c.name for c in tp.columns]
                        if column in names:
                            value = row[self.width + names.index(column)]
                            column = tp.columns[names.index(column)].source
                    self.reject(row, column, value, reason, "copy")
                res.read += len(rows)
                res.rejected = self.rejects.count
                res.written = res.read - res.rejected
                last_key = batch.last_key
                self.rejects.flush()
                _record_progress(self.conn, self.plan.database, tp.name, last_key, res, False, self.fingerprint)
            self.reporter.advanced(tp.source.name, res.read)
        with self.conn.transaction():
            _record_progress(self.conn, self.plan.database, tp.name, last_key, res, True, self.fingerprint)
        res.seconds = time.monotonic() - started
        return res

    def _fix_invalid_text(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """Apply the invalid_utf8 policy to a batch that failed to decode (bytea keeps raw bytes)."""
        if not any(isinstance(v, InvalidText) for v in row):
            return row
        fixed = list(row)
        for i, v in enumerate(row):
            if isinstance(v, InvalidText) and i >= self.width:
                col = self.tp.columns[i - self.width]
                if col.family == "bytes":
                    fixed[i] = v.raw
                elif self.settings.invalid_utf8 == "replace":
                    fixed[i] = v.raw.decode("utf-8", errors="replace")
        return tuple(fixed)

    def _coerce_slowly(self, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Row by row, so a bad value rejects its own row only and names its column."""
        out: list[tuple[Any, ...]] = []
        origin: list[tuple[Any, ...]] = []
        for row in rows:
            if not any(isinstance(v, InvalidText) for v in row):
                try:
                    out.append(self.transform(row))
                    origin.append(row)
                    continue
                except Reject:
                    pass
            for i, (col, fn) in enumerate(zip(self.tp.columns, self.coercions)):
                value = row[self.width + i]
                try:
                    if isinstance(value, InvalidText):
                        raise Reject(f"invalid UTF-8 in text: bytes {value.raw[:40].hex()} (invalid_utf8 = 'reject')")
                    if fn is not None:
                        fn(value)
                except Reject as exc:
                    self.reject(row, col.source, value, exc.reason, "coerce")
                    break
        return out, origin


def load_tables(source: Source, conn: psycopg.Connection[Any], plan: SchemaPlan, tables: list[TablePlan], settings: Settings, rejects_dir: Path, reporter: Reporter, fingerprint: str) -> dict[str, TableResult]:
    """Load every table in order, each with its own reject file."""
    ensure_state(conn)
    clear_progress(conn, plan.database)
    results: dict[str, TableResult] = {}
    for tp in tables:
        log = RejectLog(rejects_dir / f"{_file_safe(tp.source.name)}.jsonl")
        try:
            results[tp.name] = TableLoader(source, conn, plan, tp, settings, log, reporter, fingerprint).run()
            results[tp.name].reasons = dict(log.reasons)
        finally:
            log.close()
    return results


def _file_safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def enforce_keys(conn: psycopg.Connection[Any], plan: SchemaPlan, settings: Settings, rejects_dir: Path, results: dict[str, TableResult]) -> list[str]:
    """Reject rows that would break a unique key, then orphans of foreign keys, before Alembic adds them."""
    notes: list[str] = []
    logs: dict[str, _AppendLog] = {}

    def log_for(tp: TablePlan) -> "_AppendLog":
        if tp.name not in logs:
            logs[tp.name] = _AppendLog(rejects_dir / f"{_file_safe(tp.source.name)}.jsonl")
        return logs[tp.name]

    try:
        for tp in plan.tables:
            for check in tp.checks:
                query = sql.SQL("DELETE FROM {t} WHERE NOT ({expr}) RETURNING {cols}").format(t=tgt.qualified(plan.target_schema, tp.name), expr=sql.SQL(check.expression), cols=_returning(tp))  # expression: translated by sqltext, identifiers quoted
                removed = _remove(conn, plan, tp, query, settings)
                for row in removed:
                    log_for(tp).add(tp, row, None, f"violates check {check.name}: CHECK ({check.source_expression})", "check")
                if removed:
                    results[tp.name].rejected += len(removed)
                    results[tp.name].written -= len(removed)
                    notes.append(f"{tp.source.name}: {len(removed)} rows rejected by check {check.name}")
            for label, elements, where in _unique_keys(tp):
                removed = _delete_duplicates(conn, plan, tp, elements, where, settings)
                for row in removed:
                    log_for(tp).add(tp, row, None, f"duplicate under unique {label}: an earlier row has the same value", "unique")
                if removed:
                    results[tp.name].rejected += len(removed)
                    results[tp.name].written -= len(removed)
                    notes.append(f"{tp.source.name}: {len(removed)} rows rejected as duplicates under {label}")
        if settings.orphans == "reject":
            changed = True
            while changed:
                changed = False
                for tp in plan.tables:
                    for fk in tp.foreign_keys:
                        removed = _delete_orphans(conn, plan, tp, fk.columns, fk.ref_table, fk.ref_columns, settings)
                        for row in removed:
                            log_for(tp).add(tp, row, fk.columns[0], f"orphaned foreign key {fk.name}: no {fk.ref_table} row with ({', '.join(fk.ref_columns)}) = this row's ({', '.join(fk.columns)})", "foreign key")
                        if removed:
                            changed = True
                            results[tp.name].rejected += len(removed)
                            results[tp.name].written -= len(removed)
                            notes.append(f"{tp.source.name}: {len(removed)} rows rejected as orphans of {fk.name}")
    finally:
        for log in logs.values():
            log.close()
    for tp in plan.tables:
        if tp.name in logs:
            res = results[tp.name]
            for reason, n in logs[tp.name].reasons.items():
                res.reasons[reason] = res.reasons.get(reason, 0) + n
    return notes


class _AppendLog:
    """Appends post-load rejects (rows read back from Postgres) to a table's reject file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reasons: dict[str, int] = {}
        self._fh: Any = None

    def add(self, tp: TablePlan, row: dict[str, Any], column: str | None, reason: str, stage: str) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        by_target = {c.name: c.source for c in tp.columns}
        source_row = {by_target.get(k, k): v for k, v in row.items()}
        key_cols = tp.source.primary_key or list(source_row)
        key = {k: source_row.get(k) for k in key_cols}
        col = by_target.get(column, column) if column else None
        record = {"key": key, "column": col, "value": preview(source_row.get(col)) if col else None, "reason": reason, "stage": stage, "row": source_row}
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        short = reason.split(":")[0]
        self.reasons[short] = self.reasons.get(short, 0) + 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _unique_keys(tp: TablePlan) -> list[tuple[str, list[sql.Composable], str | None]]:
    keys: list[tuple[str, list[sql.Composable], str | None]] = []
    for u in tp.uniques:
        keys.append((u.name, [sql.Identifier(c) for c in u.columns], None))
    for idx in tp.indexes:
        if idx.unique:
            keys.append((idx.name, [sql.SQL(e.removesuffix(" DESC")) for e in idx.elements], idx.where))
    return keys


def _order_by(tp: TablePlan) -> sql.Composable:
    if tp.primary_key:
        return sql.SQL(", ").join(sql.Identifier(c) for c in tp.primary_key)
    return sql.SQL("ctid")


def _returning(tp: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c.name) for c in tp.columns)


def _remove(conn: psycopg.Connection[Any], plan: SchemaPlan, tp: TablePlan, query: sql.Composed, settings: Settings) -> list[dict[str, Any]]:
    """Run a DELETE … RETURNING of whole rows, taking their digests out in the same transaction."""
    with conn.transaction():
        removed = conn.execute(query).fetchall()
        if removed:
            digests = Digests()
            digests.add_rows(table_hasher(tp, settings.naive_timezone), removed, sign=-1)
            save_digests(conn, plan.database, tp.name, digests)
    names = [c.name for c in tp.columns]
    return [{n: json_safe(v) for n, v in zip(names, row)} for row in removed]


def _delete_duplicates(conn: psycopg.Connection[Any], plan: SchemaPlan, tp: TablePlan, elements: list[sql.Composable], where: str | None, settings: Settings) -> list[dict[str, Any]]:
    """Delete every row but the first (in key order) of each duplicate group; return the deleted rows."""
    table = tgt.qualified(plan.target_schema, tp.name)
    not_null = sql.SQL(" AND ").join(sql.SQL("({}) IS NOT NULL").format(e) for e in elements)
    condition = not_null if where is None else sql.SQL("{} AND ({})").format(not_null, sql.SQL(where))  # where: translated by sqltext, identifiers quoted
    query = sql.SQL(
        "DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY {parts} ORDER BY {order}) AS n "
        "FROM {t} WHERE {cond}) d WHERE d.n > 1) RETURNING {cols}"
    ).format(t=table, parts=sql.SQL(", ").join(elements), order=_order_by(tp), cond=condition, cols=_returning(tp))
    return _remove(conn, plan, tp, query, settings)


def _delete_orphans(conn: psycopg.Connection[Any], plan: SchemaPlan, tp: TablePlan, columns: list[str], ref_table: str, ref_columns: list[str], settings: Settings) -> list[dict[str, Any]]:
    """Delete child rows whose (non-null) foreign key has no parent; return the deleted rows."""
    child = tgt.qualified(plan.target_schema, tp.name)
    parent = tgt.qualified(plan.target_schema, ref_table)
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(p), sql.Identifier(c)) for c, p in zip(columns, ref_columns))
    cols = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c.name)) for c in tp.columns)
    query = sql.SQL("DELETE FROM {child} c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {match}) RETURNING {cols}").format(child=child, nn=not_null, parent=parent, match=match, cols=cols)
    return _remove(conn, plan, tp, query, settings)


def finish_tables(conn: psycopg.Connection[Any], plan: SchemaPlan, results: dict[str, TableResult]) -> None:
    """Identity continuation, ANALYZE, sizes, and the reconciliation read = written + rejected."""
    problems = []
    for tp in plan.tables:
        res = results[tp.name]
        with conn.transaction():
            ident = tp.identity_column
            if ident is not None:
                tgt.reset_identity(conn, plan.target_schema, tp.name, ident.name, tp.sequence_floor)
            res.bytes = tgt.table_bytes(conn, plan.target_schema, tp.name)
            actual = tgt.row_count(conn, plan.target_schema, tp.name)
            conn.execute(
                sql.SQL("UPDATE {}.load_progress SET rows_written = %s, rows_rejected = %s WHERE database = %s AND table_name = %s").format(sql.Identifier(tgt.STATE_SCHEMA)),
                (res.written, res.rejected, plan.database, tp.name),
            )
        conn.execute(sql.SQL("ANALYZE {}").format(tgt.qualified(plan.target_schema, tp.name)))
        conn.commit()
        if actual != res.written or not res.reconciled:
            problems.append(f"{tp.source.name}: read {res.read}, written {res.written} (target holds {actual}), rejected {res.rejected}")
    if problems:
        raise ChecksFailed("rows do not reconcile: " + "; ".join(problems), hint="this is a bug in cutover; please report it with the reject files")


