"""The one path from a source row to its target row and canonical digest.

A `RowPath` is built once per table, from the load's TablePlan (`for_plan`) or from the
manifest the load recorded in the target (`for_manifest`): both describe the same columns, so
load, verify and plan's probe coerce, reject and digest a row alike. Its interface works a batch
at a time (`coerce_batch`, `digest_batch`), so a columnar implementation (Arrow, binary COPY) can
replace the per-row loop without its callers changing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from typing import Any

from cutover.config import PG_SESSION_TIMEZONE, Settings
from cutover.rows.digest import Digests, RowHasher
from cutover.schema.rules import INT_RANGES, family_of, numeric_scale, pg_base, type_modifiers
from cutover.schema.target_plan import TablePlan
from cutover.values.coerce import (
    BUILDERS,
    Coercion,
    InvalidText,
    Reject,
    build,
    compile_row,
    json_safe,
    passes_guard,
)

Row = tuple[Any, ...]
Transform = Callable[[Row], Row]


@dataclass(frozen=True)
class Policies:
    """The run-wide policies that decide what a source value becomes (recorded with the load)."""

    invalid_utf8: str = "reject"
    naive_timezone: str = "UTC"
    rounding: str = "reject"
    char_padding: str = "reject"
    nul_in_text: str = "reject"

    @classmethod
    def from_settings(cls, settings: Settings) -> Policies:
        """The policies of this run's settings."""
        return cls(
            settings.invalid_utf8,
            settings.source_timezone,
            settings.rounding,
            settings.char_padding,
            settings.nul_in_text,
        )

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> Policies:
        """The policies a load recorded (loads recorded before policies were: the defaults)."""
        recorded = manifest.get("policies") or {}
        return cls(
            invalid_utf8=recorded.get("invalid_utf8", "reject"),
            naive_timezone=manifest.get("naive_timezone", "UTC"),
            rounding=recorded.get("rounding", "reject"),
            char_padding=recorded.get("char_padding", "reject"),
            nul_in_text=recorded.get("nul_in_text", "reject"),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The form recorded in the load's manifest."""
        return {
            "invalid_utf8": self.invalid_utf8,
            "rounding": self.rounding,
            "char_padding": self.char_padding,
            "nul_in_text": self.nul_in_text,
        }

    def describe(self, policy: str) -> str:
        """How a person reads a policy that changed values: `rounding = 'round'`."""
        return f"{policy} = {getattr(self, policy)!r}"


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
        *,
        profiled: bool = True,
    ) -> None:
        self.columns = list(columns)
        # False for a reader the load's profile does not describe (verify, after the source may
        # have changed): a column the load passed through unchanged gets its family's rule
        self.profiled = profiled
        self.key_columns = list(key_columns)
        self.width = len(self.key_columns)
        self.policies = policies
        # values changed under an explicit policy, by (column, policy), since take_changes()
        self.changes: dict[tuple[str, str], int] = {}
        self.coercions: list[Coercion | None] = [self._coercion(c) for c in self.columns]
        self.transform = compile_row(self.width, self.coercions)
        # columns whose batches of plain ISO text go to Postgres untouched (coerce.GUARDS); never
        # char(n), whose values must be n long whatever the batch
        self.guards = [
            (i, c.options["guard"])
            for i, c in enumerate(self.columns)
            if c.options.get("guard")
            and self.coercions[i] is not None
            and pg_base(c.pg_type) != "char"
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
        # the columns a post-load reject is recorded by: the primary key, else the whole row
        self.reject_key = [(n, p - self.width) for n, p in self.readable_pk] or [
            (name, i) for i, name in enumerate(sources)
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
        """The column's coercion under the run's policies.

        A naive driver value bound for timestamptz is read in source_timezone (sessions speak UTC,
        so only another zone needs Python); a numeric(p,s) column's values are checked against its
        scale (SQLite stores reals whatever the declaration), and a real column's against float32,
        so a value Postgres would round is rejected or, under `rounding = "round"`, rounded and
        counted; a char(n) column's values must be n long (Postgres pads and trims them), else
        rejected or, under `char_padding = "pad"`, padded or trimmed and counted.
        """
        zone = self.policies.naive_timezone
        base = pg_base(column.pg_type)
        if column.coercion == "identity" and base == "timestamptz" and zone != PG_SESSION_TIMEZONE:
            return build("timestamptz", {"naive_timezone": zone})
        if column.coercion in ("float", "identity") and base == "real":
            return build(
                "float4",
                {
                    "rounding": self.policies.rounding,
                    "on_round": partial(self._changed, column.source, "rounding"),
                },
            )
        if column.coercion in ("text", "identity") and base == "char":
            return build(
                "char",
                {
                    **column.options,
                    "width": (type_modifiers(column.pg_type) or [1])[0],
                    "char_padding": self.policies.char_padding,
                    "on_pad": partial(self._changed, column.source, "char_padding"),
                },
            )
        if column.coercion in ("decimal", "identity") and base == "numeric":
            scale = numeric_scale(column.pg_type)
            if scale is not None:
                return build(
                    "decimal",
                    {
                        **column.options,
                        "scale": scale,
                        "rounding": self.policies.rounding,
                        "on_round": partial(self._changed, column.source, "rounding"),
                    },
                )
        if column.coercion == "text" and column.options.get("nul") == "strip":
            strip = partial(self._changed, column.source, "nul_in_text")
            return build("text", {**column.options, "on_strip": strip})
        if column.coercion == "identity" and not self.profiled:
            return self._family_rule(column)
        return build(column.coercion, column.options)

    def _family_rule(self, column: ColumnPath) -> Coercion | None:
        """The coercion of the column's type family, for values the load's profile never saw.

        It leaves every value the profile allowed as it is (an integer in an integer column, text
        in a text column) and converts or rejects any other as the load would have, had it seen
        it: a value of another storage class is never hashed raw.
        """
        base, family = pg_base(column.pg_type), family_of(column.pg_type)
        options = dict(column.options)
        if family == "integer":
            low, high = INT_RANGES[base]
            options = {"low": low, "high": high, "pg_type": base, **options}
        name = base if family == "timestamp" else family
        return build(name, options) if name in BUILDERS else None

    def _changed(self, column: str, policy: str) -> None:
        key = (column, policy)
        self.changes[key] = self.changes.get(key, 0) + 1

    def take_changes(self) -> dict[tuple[str, str], int]:
        """Values changed under a policy since the last call, by (column, policy)."""
        changes, self.changes = self.changes, {}
        return changes

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
        *,
        profiled: bool = True,
    ) -> RowPath:
        """The path of a table as the load recorded it in the target's manifest (profiled=False:
        for a source the load's profile may no longer describe).
        """
        columns = [
            ColumnPath(c["source"], c["target"], c["pg_type"], c["coercion"], c["options"])
            for c in table["columns"]
        ]
        return cls(columns, key_columns, primary_key, table["key"], policies, profiled=profiled)

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

    def canonical_key(self, row: Row) -> str | None:
        """A coerced row's reject key (its primary key, else the whole row) in canonical form.

        None for a value its guard let through that has no canonical form (2024-02-30): Postgres
        refused that row, which its recorded key names as the source held it.
        """
        canons = self.hasher.canons
        try:
            parts = [None if row[i] is None else canons[i](row[i]) for _name, i in self.reject_key]
        except (ValueError, TypeError, OverflowError):
            return None
        return json.dumps(parts, ensure_ascii=False)

    def canonical_keys(self, recorded: Iterable[str]) -> frozenset[str]:
        """Recorded reject keys (JSON text) in `canonical_key`'s form, where they have one.

        A row rejected after the load is recorded with its key as Postgres gives it back (a
        timestamp in ISO form, a UUID in lower case); the source holds the text the app wrote.
        Both sides' canonical forms name the same row.
        """
        canons = self.hasher.canons
        names = {name for name, _i in self.reject_key}
        found = set()
        for text in recorded:
            key = json.loads(text)
            if not isinstance(key, dict) or set(key) != names:
                continue  # recorded by other columns (a stream key): matched by its JSON text
            try:
                parts = [
                    None if key[name] is None else canons[i](_recorded_value(key[name]))
                    for name, i in self.reject_key
                ]
            except (ValueError, TypeError, OverflowError):
                continue  # not a value of the column's type: no row of the source has it
            found.add(json.dumps(parts, ensure_ascii=False))
        return frozenset(found)

    # -- coercion ------------------------------------------------------------------------------

    def coerce_batch(
        self, rows: list[Row], suspect: bool = False
    ) -> tuple[list[Row], list[Row], list[RowReject]]:
        """(target rows, the source rows they came from, rejects) of one batch.

        `suspect` marks a batch the reader could not decode as UTF-8: its undecodable values
        follow the invalid_utf8 policy. A batch with no bad value costs one generated call per row.
        """
        before = dict(self.changes)
        if suspect:
            rows = [self._fix_invalid_text(r) for r in rows]
            before = dict(self.changes)
        else:
            try:
                return list(map(self.batch_transform(rows), rows)), rows, []
            except Reject:
                self.changes = before  # the rows are coerced again, one by one
        return self._coerce_slowly(rows)

    def batch_transform(self, rows: list[Row]) -> Transform:
        """The row transform for this batch: guarded
        columns whose values all pass are left alone.
        """
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
                    self._changed(self.columns[i - self.width].source, "invalid_utf8")
        return tuple(fixed)

    def _coerce_slowly(self, rows: list[Row]) -> tuple[list[Row], list[Row], list[RowReject]]:
        """Row by row, so a bad value rejects its own row only and names its column."""
        out: list[Row] = []
        origin: list[Row] = []
        rejects: list[RowReject] = []
        for row in rows:
            counted = dict(self.changes)  # a rejected row's values are not written: not counted
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
                            f"invalid UTF-8 in text: bytes {value.raw[:40].hex()} (invalid_utf8 "
                            "= 'reject')"
                        )
                    if fn is not None:
                        fn(value)
                except Reject as exc:
                    rejects.append(RowReject(row, col.source, value, exc.reason))
                    break
            self.changes = counted
        return out, origin, rejects

    # -- canonical form --------------------------------------------------------------------------

    def digest_batch(self, rows: Sequence[Row], sign: int = 1) -> Digests:
        """Per-bucket counts and digest sums of target rows (sign=-1 takes rows out)."""
        digests = Digests()
        digests.add_rows(self.hasher, rows, sign)
        return digests


def _recorded_value(value: Any) -> Any:
    """A key value as a reject record holds it (json_safe), back in a form its canon reads."""
    if isinstance(value, dict):
        if "hex" in value:
            return bytes.fromhex(value["hex"])
        raise ValueError("not a value of the column")
    return value
