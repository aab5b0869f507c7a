"""The one path from a source row to its target row and canonical digest.

A `RowPath` is built once per table, from the load's TablePlan (`for_plan`) or from the
manifest the load recorded in the target (`for_manifest`): both describe the same columns, so
load, verify and plan's probe coerce, reject and digest a row alike. Its interface works a batch
at a time (`coerce_batch`, `digest_batch`), so a columnar implementation (Arrow, binary COPY) can
replace the per-row loop without its callers changing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from cutover.config import PG_SESSION_TIMEZONE, Settings
from cutover.rows.digest import Digests, RowHasher
from cutover.schema.mapping import TablePlan
from cutover.schema.typemap import family_of, pg_base
from cutover.sources.base import InvalidText
from cutover.values.coerce import Coercion, Reject, build, compile_row, json_safe, passes_guard

Row = tuple[Any, ...]
Transform = Callable[[Row], Row]


@dataclass(frozen=True)
class Policies:
    """The run-wide policies that decide what a source value becomes (recorded with the load)."""

    invalid_utf8: str = "reject"
    naive_timezone: str = "UTC"

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        """The policies of this run's settings."""
        return cls(invalid_utf8=settings.invalid_utf8, naive_timezone=settings.naive_timezone)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Policies:
        """The policies a load recorded (loads recorded before policies were: the defaults)."""
        recorded = manifest.get("policies") or {}
        return cls(
            invalid_utf8=recorded.get("invalid_utf8", "reject"),
            naive_timezone=manifest.get("naive_timezone", "UTC"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The form recorded in the load's manifest."""
        return {"invalid_utf8": self.invalid_utf8}


@dataclass(frozen=True)
class ColumnPath:
    """What the row path needs of one column."""

    source: str
    target: str
    pg_type: str
    coercion: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RowReject:
    """A source row that cannot be carried: the column and value at fault, and why."""

    row: Row
    column: str | None
    value: Any
    reason: str


class RowPath:
    """Coerces and digests the rows of one table; rows arrive as (*stream key, *values)."""

    def __init__(
        self,
        columns: Sequence[ColumnPath],
        key_columns: Sequence[str],
        primary_key: Sequence[str],
        target_key: Sequence[str],
        policies: Policies,
    ) -> None:
        self.columns = list(columns)
        self.key_columns = list(key_columns)
        self.width = len(self.key_columns)
        self.policies = policies
        self.coercions: list[Coercion | None] = [self._coercion(c) for c in self.columns]
        self.transform = compile_row(self.width, self.coercions)
        # columns whose batches of plain ISO text go to Postgres untouched (coerce.GUARDS)
        self.guards = [
            (i, c.options["guard"])
            for i, c in enumerate(self.columns)
            if c.options.get("guard") and self.coercions[i] is not None
        ]
        self.variants: dict[tuple[int, ...], Transform] = {(): self.transform}
        sources = [c.source for c in self.columns]
        self.pk_positions = [
            (name, self.width + sources.index(name))
            for name in primary_key
            if name in sources and name not in self.key_columns
        ]
        self.readable_pk = [
            (name, self.width + sources.index(name)) for name in primary_key if name in sources
        ]
        self.bytes_columns = {
            i for i, c in enumerate(self.columns) if family_of(c.pg_type) == "bytes"
        }
        targets = [c.target for c in self.columns]
        self.hasher = RowHasher(
            [c.pg_type for c in self.columns],
            [targets.index(k) for k in target_key if k in targets],
            policies.naive_timezone,
        )

    def _coercion(self, column: ColumnPath) -> Coercion | None:
        """The column's coercion; a naive driver value bound for timestamptz is read in source_timezone.

        Sessions speak UTC, so Postgres reads a naive value as UTC; only another source zone
        needs Python to attach it.
        """
        zone = self.policies.naive_timezone
        if column.coercion == "identity" and pg_base(column.pg_type) == "timestamptz":
            if zone != PG_SESSION_TIMEZONE:
                return build("timestamptz", {"naive_timezone": zone})
        return build(column.coercion, column.options)

    @classmethod
    def for_plan(cls, tp: TablePlan, key_columns: Sequence[str], policies: Policies) -> RowPath:
        """The path of a table the load plans."""
        columns = [
            ColumnPath(c.source, c.name, c.pg_type, c.coercion, c.options) for c in tp.columns
        ]
        return cls(columns, key_columns, tp.source.primary_key, tp.primary_key, policies)

    @classmethod
    def for_manifest(
        cls,
        table: dict[str, Any],
        key_columns: Sequence[str],
        primary_key: Sequence[str],
        policies: Policies,
    ) -> RowPath:
        """The path of a table as the load recorded it in the target's manifest."""
        columns = [
            ColumnPath(c["source"], c["target"], c["pg_type"], c["coercion"], c["options"])
            for c in table["columns"]
        ]
        return cls(columns, key_columns, primary_key, table["key"], policies)

    # -- keys a person reads -------------------------------------------------------------------

    def key_of(self, row: Row) -> dict[str, Any]:
        """The key a person would look a row up by: stream key plus primary key values."""
        key = {k: json_safe(v) for k, v in zip(self.key_columns, row[: self.width])}
        for name, pos in self.pk_positions:
            key[name] = json_safe(row[pos])
        return key

    def primary_key_of(self, row: Row) -> dict[str, Any]:
        """The primary key's values alone (empty when the table has none)."""
        return {name: json_safe(row[pos]) for name, pos in self.readable_pk}

    def row_dict(self, row: Row) -> dict[str, Any]:
        """A source row by column name, JSON-safe (for reject files)."""
        return {c.source: json_safe(v) for c, v in zip(self.columns, row[self.width :])}

    # -- coercion ------------------------------------------------------------------------------

    def coerce_batch(
        self, rows: list[Row], suspect: bool = False
    ) -> tuple[list[Row], list[Row], list[RowReject]]:
        """(target rows, the source rows they came from, rejects) of one batch.

        `suspect` marks a batch the reader could not decode as UTF-8: its undecodable values
        follow the invalid_utf8 policy. A batch with no bad value costs one generated call per row.
        """
        if suspect:
            rows = [self._fix_invalid_text(r) for r in rows]
        else:
            try:
                return list(map(self.batch_transform(rows), rows)), rows, []
            except Reject:
                pass
        return self._coerce_slowly(rows)

    def batch_transform(self, rows: list[Row]) -> Transform:
        """The row transform for this batch: guarded columns whose values all pass are left alone."""
        if not self.guards:
            return self.transform
        passing = tuple(
            i
            for i, guard in self.guards
            if passes_guard(guard, map(itemgetter(self.width + i), rows))
        )
        transform = self.variants.get(passing)
        if transform is None:
            transform = compile_row(
                self.width, [None if i in passing else fn for i, fn in enumerate(self.coercions)]
            )
            self.variants[passing] = transform
        return transform

    def _fix_invalid_text(self, row: Row) -> Row:
        """Apply the invalid_utf8 policy to undecodable values (bytea keeps raw bytes)."""
        if not any(isinstance(v, InvalidText) for v in row):
            return row
        fixed = list(row)
        for i, v in enumerate(row):
            if isinstance(v, InvalidText) and i >= self.width:
                if i - self.width in self.bytes_columns:
                    fixed[i] = v.raw
                elif self.policies.invalid_utf8 == "replace":
                    fixed[i] = v.raw.decode("utf-8", errors="replace")
        return tuple(fixed)

    def _coerce_slowly(self, rows: list[Row]) -> tuple[list[Row], list[Row], list[RowReject]]:
        """Row by row, so a bad value rejects its own row only and names its column."""
        out: list[Row] = []
        origin: list[Row] = []
        rejects: list[RowReject] = []
        for row in rows:
            if not any(isinstance(v, InvalidText) for v in row):
                try:
                    out.append(self.transform(row))
                    origin.append(row)
                    continue
                except Reject:
                    pass
            for i, (col, fn) in enumerate(zip(self.columns, self.coercions)):
                value = row[self.width + i]
                try:
                    if isinstance(value, InvalidText):
                        raise Reject(
                            f"invalid UTF-8 in text: bytes {value.raw[:40].hex()} (invalid_utf8 = 'reject')"
                        )
                    if fn is not None:
                        fn(value)
                except Reject as exc:
                    rejects.append(RowReject(row, col.source, value, exc.reason))
                    break
        return out, origin, rejects

    # -- canonical form --------------------------------------------------------------------------

    def digest_batch(self, rows: Sequence[Row], sign: int = 1) -> Digests:
        """Per-bucket counts and digest sums of target rows (sign=-1 takes rows out)."""
        digests = Digests()
        digests.add_rows(self.hasher, rows, sign)
        return digests
