"""The plan's table rows and its estimate of phase
2: read, coerce, digest and COPY a sample, timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from cutover.config import Settings
from cutover.load import target as tgt
from cutover.phases.plan_probe import probe_rows
from cutover.phases.reject_estimate import TableRejects
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.sources.base import Source

PROBE_TABLE = "_cutover_probe"  # the temporary table the throughput probe copies into (rolled back)


@dataclass
class ColumnRow:
    """One column: source type → target type, the coercion,
    and why (declared, sampled, override, catalog).
    """

    source: str
    declared: str
    target: str
    pg_type: str
    nullable: bool
    coercion: str
    reason: str
    why: str


@dataclass
class TableRow:
    """One table: rows, columns, and the measured load rate."""

    source: str
    target: str
    rows: int
    primary_key: list[str]
    columns: list[ColumnRow]
    sampled_rows: int = 0
    rows_per_second: float | None = None
    estimate_seconds: float | None = None
    rejects: TableRejects | None = None  # the rows phase 2 will reject, foreseen (reject_estimate)


@dataclass
class Estimate:
    """Phase 2's duration: the profiling scan as timed,
    plus rows ÷ the rate measured on a sample.
    """

    rows: int
    sampled_rows: int
    profile_seconds: float
    load_seconds: float
    measured: str

    @property
    def total_seconds(self) -> float:
        return self.profile_seconds + self.load_seconds


def estimate(
    source: Source,
    conn: psycopg.Connection[Any] | None,
    splan: SchemaPlan,
    settings: Settings,
    rows: list[TableRow],
    profile_seconds: float,
) -> Estimate:
    """Time read → coerce → digest → COPY on the first
    rows of each table; scale by its row count.
    """
    copied_all = conn is not None
    for tp, row in zip(splan.tables, rows):
        if not tp.rows:
            row.estimate_seconds = 0.0
            continue
        started = time.monotonic()
        batch, out, _digests = probe_rows(source, tp, settings)
        copied = conn is not None and _copy_probe(conn, tp, out)
        copied_all = copied_all and copied
        elapsed = max(time.monotonic() - started, 1e-6)
        row.sampled_rows = len(batch)
        row.rows_per_second = round(len(batch) / elapsed, 1) if batch else None
        row.estimate_seconds = round(
            elapsed if len(batch) >= tp.rows else tp.rows * elapsed / max(len(batch), 1), 3
        )
    load = sum(r.estimate_seconds or 0.0 for r in rows)
    measured = (
        "read, coerce, digest and COPY"
        if copied_all
        else "read, coerce and digest (COPY not measured)"
    )
    return Estimate(
        sum(t.rows for t in splan.tables),
        sum(r.sampled_rows for r in rows),
        round(profile_seconds, 3),
        round(load, 3),
        measured,
    )


def _copy_probe(conn: psycopg.Connection[Any], tp: TablePlan, rows: list[tuple[Any, ...]]) -> bool:
    """COPY the rows into a temporary table inside a transaction that is always rolled back."""
    # pg_type comes from the type map or the user's override, as in the Alembic revisions
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in tp.columns
    )
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} ({})").format(sql.Identifier(PROBE_TABLE), columns)
            )
            tgt.CopyWriter(conn, "pg_temp", PROBE_TABLE, [c.name for c in tp.columns]).copy(rows)
    except psycopg.Error:
        return False
    return True
