"""The rows phase 2 will reject, per table and why, foreseen on the source before anything loads.

The load rejects a row for a value its column's coercion refuses (an impossible date such as
`2024-02-30`, text in a number column, a string over its varchar length, NUL or invalid UTF-8 under
a rejecting policy), then, after the load, for a foreign key with no parent row, again and again
until none is left: a rejected user takes its conversations, their messages, their embeddings.

This module counts the same rows on the source. The columns that can refuse a value are read
through the row path's own coercions (rows/path.py; for date and time columns the loader passes
through untouched, the parse Postgres would apply); on SQLite, only the rows whose dates SQLite
cannot vouch for are parsed (sources/sqlite_dates.py). On SQLite the orphans are one anti-join
per foreign key and the cascade is the same anti-join against the parents still standing, repeated
until nothing changes, in an in-memory database with the source attached read-only. A row counts
once, under the first reason the load would give it. Unique keys and checks are not estimated
(SQLite enforced them when the rows were written).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cutover.config import Settings
from cutover.errors import SourceError
from cutover.rows.path import Policies, RowPath
from cutover.schema.model import Finding
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.schema.typemap import ColumnPlan
from cutover.sources import sqlite_dates
from cutover.sources.base import Source
from cutover.sources.sqlite import SqliteSource
from cutover.sources.sqlite_catalog import quote_ident as q
from cutover.values.coerce import Coercion, InvalidText, Reject, build, preview

# A table losing more than this share of its rows is a blocker: the issue's rule ("no table loses
# more than 1 % of its rows by default unless plan calls it a blocker").
REJECT_BLOCKER_SHARE = 0.01
# Rows read per batch for the value pass (the readers bound their batches in bytes as well).
VALUE_PASS_BATCH = 5_000
# A cascade deeper than this many rounds is a cycle of rejections feeding themselves; it ends there.
MAX_CASCADE_ROUNDS = 64
# Postgres parses date and time text the loader passes through untouched: the coercion that
# refuses what it would refuse, by target type.
PASSED_THROUGH = {"timestamptz": "timestamptz", "timestamp": "timestamp", "date": "date"}


@dataclass
class RejectReason:
    """How many rows one cause will reject: a column's values, an orphaned key, or the cascade."""

    kind: str  # "value", "orphan" or "cascade"
    count: int
    column: str | None = None
    detail: str = ""


@dataclass
class TableRejects:
    """The rows of one table the load will reject: how many, and why."""

    rows: int = 0
    cascade: int = 0
    reasons: list[RejectReason] = field(default_factory=list)


def _checker(col: ColumnPlan, fn: Coercion | None, settings: Settings) -> Coercion | None:
    """The function that raises Reject for a value the load would reject in this column.

    `fn` is the row path's own coercion; a date or time column without one passes its text to
    Postgres, which parses it: the same family's coercion refuses what Postgres would.
    """
    if fn is not None:
        return fn
    if col.family in ("timestamp", "date"):
        base = col.base_type
        name = PASSED_THROUGH.get(base, "timestamptz" if "tz" in base else "timestamp")
        return build(name, {"naive_timezone": settings.source_timezone})
    if col.family == "time":
        return build("time", {})
    return None


def _value_rejects(
    source: Source, tp: TablePlan, settings: Settings, utf8_columns: set[str]
) -> dict[tuple[Any, ...], tuple[str, str]]:
    """Keys of the rows whose values the load will reject → (column, first reason)."""
    width = len(source.key_columns(tp.source))
    path = RowPath.for_plan(tp, source.key_columns(tp.source), Policies.from_settings(settings))
    checks = [(c, _checker(c, fn, settings)) for c, fn in zip(tp.columns, path.coercions)]
    risky = [(c, fn) for c, fn in checks if fn is not None or c.source in utf8_columns]
    if not risky or not tp.rows:
        return {}
    reject_invalid = settings.invalid_utf8 == "reject"
    # SQLite tells plainly valid dates apart in the scan: only the other rows are parsed here
    dated = {
        c.source: c.family
        for c, _ in risky
        if isinstance(source, SqliteSource)
        and c.family in sqlite_dates.PLAIN
        and c.source not in utf8_columns
    }
    rest = [(c, fn) for c, fn in risky if c.source not in dated]

    def scan(batches: Iterable[list[tuple[Any, ...]]], checked: list[Any]) -> None:
        for rows in batches:
            for row in rows:
                for (col, fn), value in zip(checked, row[width:]):
                    reason = _refused(col, fn, value, reject_invalid)
                    if reason is not None:
                        found.setdefault(tuple(row[:width]), (col.source, reason))
                        break

    def read_all(checked: list[Any]) -> Iterator[list[tuple[Any, ...]]]:
        names = [c.source for c, _ in checked]
        for batch in source.read(tp.source, names, batch_size=VALUE_PASS_BATCH):
            yield batch.rows

    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    if rest:
        scan(read_all(rest), rest)
    if dated and isinstance(source, SqliteSource):
        checked = [(c, fn) for c, fn in risky if c.source in dated]
        try:
            scan(sqlite_dates.suspects(source, tp.source, dated), checked)
        except SourceError:  # text that is not UTF-8: the lenient reader, every row
            scan(read_all(checked), checked)
    return found


def _refused(col: ColumnPlan, fn: Coercion | None, value: Any, reject_invalid: bool) -> str | None:
    """Why the load would refuse this value, or None."""
    if isinstance(value, InvalidText):
        if col.family == "bytes" or not reject_invalid:
            return None
        return f"invalid UTF-8 in text: bytes {value.raw[:40].hex()}"
    if fn is None:
        return None
    try:
        fn(value)
    except Reject as exc:
        return exc.reason
    return None


def estimate(
    source: Source, splan: SchemaPlan, settings: Settings, findings: list[Finding]
) -> dict[str, TableRejects]:
    """Per source table, the rows phase 2 will reject and why (tables without any are left out)."""
    utf8 = {
        (f.table, f.column)
        for f in findings
        if f.code == "invalid_utf8" and f.severity == "warning" and f.table and f.column
    }
    values = {
        tp.name: _value_rejects(
            source, tp, settings, {c for t, c in utf8 if t == tp.source.name and c}
        )
        for tp in splan.tables
    }
    if settings.orphans == "reject" and isinstance(source, SqliteSource) and _has_keys(splan):
        with _Cascade(source.scratch(), source, splan) as cascade:
            return cascade.run(values)
    return {
        tp.source.name: _from_values(found) for tp in splan.tables if (found := values[tp.name])
    }


def _has_keys(splan: SchemaPlan) -> bool:
    return any(tp.foreign_keys for tp in splan.tables)


def _from_values(found: dict[tuple[Any, ...], tuple[str, str]]) -> TableRejects:
    counts = Counter(col for col, _ in found.values())
    first: dict[str, str] = {}
    for col, reason in found.values():
        first.setdefault(col, reason)
    reasons = [RejectReason("value", n, col, preview(first[col])) for col, n in counts.items()]
    return TableRejects(len(found), 0, reasons)


class _Cascade:
    """Orphans and the rows they take with them, counted in SQL on a SQLite source."""

    def __init__(self, conn: sqlite3.Connection, source: SqliteSource, splan: SchemaPlan) -> None:
        self.conn, self.source, self.splan = conn, source, splan
        self.by_name = {tp.name: tp for tp in splan.tables}
        self.index = {tp.name: i for i, tp in enumerate(splan.tables)}
        self.details: dict[str, str] = {}

    def __enter__(self) -> _Cascade:
        return self

    def __exit__(self, *_: object) -> None:
        self.conn.close()

    def _keys(self, tp: TablePlan, alias: str) -> list[str]:
        return [f"{alias}.{k}" for k in self.source.key_sql(tp.source)]

    def run(
        self, values: dict[str, dict[tuple[Any, ...], tuple[str, str]]]
    ) -> dict[str, TableRejects]:
        for tp in self.splan.tables:
            width = len(self.source.key_columns(tp.source))
            ks = ", ".join(f"k{j}" for j in range(width))
            self.conn.execute(
                f"CREATE TABLE r{self.index[tp.name]} ({ks}, why TEXT, PRIMARY KEY ({ks})) "
                "WITHOUT ROWID"
            )
            marks = ", ".join("?" * (width + 1))
            self.conn.executemany(
                f"INSERT OR IGNORE INTO r{self.index[tp.name]} VALUES ({marks})",
                ((*k, f"value:{col}") for k, (col, _) in values[tp.name].items()),
            )
            for col, reason in values[tp.name].values():
                self.details.setdefault(f"{tp.name}|value:{col}", preview(reason))
        for tp, fk in self._keys_of():
            self._insert(tp, fk, cascade=False)
        for _ in range(MAX_CASCADE_ROUNDS):
            if not sum(self._insert(tp, fk, cascade=True) for tp, fk in self._keys_of()):
                break
        return self._counts()

    def _keys_of(self) -> list[tuple[TablePlan, Any]]:
        return [
            (tp, fk)
            for tp in self.splan.tables
            for fk in tp.foreign_keys
            if fk.ref_table in self.by_name
        ]

    def _insert(self, tp: TablePlan, fk: Any, *, cascade: bool) -> int:
        """Reject the rows of `tp` with no standing parent under `fk`; how many were new."""
        parent = self.by_name[fk.ref_table]
        child_cols = {c.name: c.source for c in tp.columns}
        parent_cols = {c.name: c.source for c in parent.columns}
        cols = [child_cols[c] for c in fk.columns]
        refs = [parent_cols[c] for c in fk.ref_columns]
        not_null = " AND ".join(f"c.{q(c)} IS NOT NULL" for c in cols)
        match = " AND ".join(f"p.{q(r)} = c.{q(c)}" for c, r in zip(cols, refs))
        standing = ""
        if cascade:
            j = self.index[parent.name]
            if not self.conn.execute(f"SELECT 1 FROM r{j} LIMIT 1").fetchone():
                return 0
            pkeys = self._keys(parent, "p")
            same = " AND ".join(f"x.k{n} = {k}" for n, k in enumerate(pkeys))
            standing = f" AND NOT EXISTS (SELECT 1 FROM r{j} x WHERE {same})"
        label = f"cascade:{parent.source.name}" if cascade else f"orphan:{','.join(cols)}"
        self.details.setdefault(
            f"{tp.name}|{label}",
            f"its {parent.source.name} row is rejected"
            if cascade
            else f"no {parent.source.name} row with ({', '.join(refs)}) = ({', '.join(cols)})",
        )
        i = self.index[tp.name]
        keys = ", ".join(self._keys(tp, "c"))
        before = self.conn.total_changes
        self.conn.execute(
            f"INSERT OR IGNORE INTO r{i} SELECT {keys}, ? FROM src.{q(tp.source.name)} c "
            f"WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM src.{q(parent.source.name)} p "
            f"WHERE {match}{standing})",
            (label,),
        )
        return self.conn.total_changes - before

    def _counts(self) -> dict[str, TableRejects]:
        out: dict[str, TableRejects] = {}
        for tp in self.splan.tables:
            rows = self.conn.execute(
                f"SELECT why, count(*) FROM r{self.index[tp.name]} GROUP BY why ORDER BY 2 DESC"
            ).fetchall()
            if not rows:
                continue
            reasons = []
            for label, n in rows:
                kind, _, what = label.partition(":")
                column = None if kind == "cascade" else what
                reasons.append(
                    RejectReason(kind, int(n), column, self.details.get(f"{tp.name}|{label}", ""))
                )
            out[tp.source.name] = TableRejects(
                sum(r.count for r in reasons),
                sum(r.count for r in reasons if r.kind == "cascade"),
                reasons,
            )
        return out


def findings(estimates: dict[str, TableRejects], splan: SchemaPlan) -> list[Finding]:
    """A blocker for each table that would lose more than
    REJECT_BLOCKER_SHARE of its rows, else a warning.
    """
    rows = {tp.source.name: tp.rows for tp in splan.tables}
    found = []
    for table, est in estimates.items():
        total = rows.get(table, 0)
        share = est.rows / total if total else 1.0
        why = "; ".join(_describe(r) for r in est.reasons)
        over = share > REJECT_BLOCKER_SHARE
        found.append(
            Finding(
                "blocker" if over else "warning",
                "rejects_over_threshold" if over else "rejects_expected",
                f"{table}: {est.rows:,} of {total:,} rows ({share:.1%}) would be rejected: {why}",
                table=table,
                count=est.rows,
                fix="fix the rows at the source; or keep orphaned rows with orphans = 'keep' "
                "(foreign keys added NOT VALID), override a column's type in cutover.toml, "
                "or accept the loss with `cutover run --phase 2 --force --allow-rejects`",
            )
        )
    return found


def _describe(r: RejectReason) -> str:
    if r.kind == "value":
        return f"{r.count:,} by a value in {r.column} (e.g. {r.detail})"
    if r.kind == "orphan":
        return f"{r.count:,} orphaned on ({r.column}): {r.detail}"
    return f"{r.count:,} in cascade: {r.detail}"
