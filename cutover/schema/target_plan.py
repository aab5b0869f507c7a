"""The target plan: what each table, column, key and index of the source becomes in Postgres.

`SchemaPlan` is what the mapping produces and everything after it reads: the Alembic revisions,
the load, the proof and the plan report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cutover.errors import UnknownChoiceError
from cutover.schema.model import ColumnProfile, Finding, Table, Trigger, View
from cutover.schema.typemap import ColumnPlan


@dataclass
class ForeignKeyPlan:
    """A foreign key between target tables."""

    name: str
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str | None = None
    on_update: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass
class IndexPlan:
    """A secondary index as Postgres will have it;
    `elements` are SQL (quoted columns or expressions).
    """

    name: str
    source_name: str
    elements: list[str]
    columns: list[str]
    unique: bool = False
    where: str | None = None
    descending: list[bool] = field(default_factory=list)
    using: str | None = None
    ops: str | None = None
    options: dict[str, int] = field(default_factory=dict)

    @property
    def simple(self) -> bool:
        """Plain ascending columns, no expressions: renderable as op.create_index(columns)."""
        return len(self.columns) == len(self.elements) and not any(self.descending)


@dataclass
class UniquePlan:
    """A UNIQUE constraint on target columns."""

    name: str
    columns: list[str]


@dataclass
class CheckPlan:
    """A CHECK constraint translated to Postgres SQL (identifiers quoted)."""

    name: str
    expression: str
    source_expression: str


@dataclass
class TablePlan:
    """How one table moves."""

    source: Table
    name: str
    columns: list[ColumnPlan]
    primary_key: list[str] = field(default_factory=list)
    pk_name: str | None = None
    uniques: list[UniquePlan] = field(default_factory=list)
    indexes: list[IndexPlan] = field(default_factory=list)
    foreign_keys: list[ForeignKeyPlan] = field(default_factory=list)
    checks: list[CheckPlan] = field(default_factory=list)
    rows: int = 0
    sequence_floor: int | None = None
    profile: dict[str, ColumnProfile] = field(default_factory=dict)
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    renames: list[tuple[str, str, str]] = field(default_factory=list)

    def column(self, source_name: str) -> ColumnPlan:
        """The plan of the source column called `source_name`."""
        for col in self.columns:
            if col.source == source_name:
                return col
        raise KeyError(source_name)

    @property
    def identity_column(self) -> ColumnPlan | None:
        return next((c for c in self.columns if c.identity), None)


def nocase_columns(t: TablePlan) -> set[str]:
    """The source columns SQLite compares ignoring case (COLLATE NOCASE)."""
    return {c.name for c in t.source.columns if (c.collation or "").upper() == "NOCASE"}


def storage_classes(profile: ColumnProfile | None) -> list[str] | None:
    """The SQLite storage classes a column's profile found (None: not profiled), for the
    manifest: verify trusts them while the source is as the load found it.
    """
    if profile is None:
        return None
    counts = {
        "integer": profile.integers,
        "real": profile.reals,
        "text": profile.texts,
        "blob": profile.blobs,
    }
    return [name for name, n in counts.items() if n]


@dataclass
class SchemaPlan:
    """The whole target schema of one database."""

    database: str
    target_schema: str
    mode: str
    tables: list[TablePlan]
    findings: list[Finding] = field(default_factory=list)
    renames: list[tuple[str, str, str]] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)

    def manifest(
        self, *, source_fingerprint: str, naive_timezone: str, digest: str | None
    ) -> dict[str, Any]:
        """What verify needs to know of this load: names, types, coercions, keys, omissions."""
        omitted = (
            "index_untranslated",
            "check_untranslated",
            "fk_dangling",
            "fk_not_unique",
            "fk_type_mismatch",
            "view",
            "trigger",
            "view_untranslated",
            "trigger_untranslated",
            "virtual_table",
        )
        return {
            "database": self.database,
            "target_schema": self.target_schema,
            "mode": self.mode,
            "source_fingerprint": source_fingerprint,
            "naive_timezone": naive_timezone,
            "digest": digest,  # None: the load stored no row digests (digests = "verify")
            "tables": [
                {
                    "source": t.source.name,
                    "target": t.name,
                    "key": t.primary_key,
                    "columns": [
                        {
                            "source": c.source,
                            "target": c.name,
                            "pg_type": c.pg_type,
                            "nullable": c.nullable,
                            "coercion": c.coercion,
                            "options": c.options,
                            "reason": c.reason,
                            "storage": storage_classes(t.profile.get(c.source)),
                            "nocase": c.source in nocase_columns(t),
                        }
                        for c in t.columns
                    ],
                    # what the app's SQL is rewritten against (phase 3 reads them, not a new plan)
                    "unique_keys": [list(k) for k in t.unique_keys],
                    "rowid_alias": t.source.rowid_alias,
                    "uniques": [u.name for u in t.uniques],
                    "checks": [{"name": c.name, "source": c.source_expression} for c in t.checks],
                    "indexes": [{"name": i.name, "source": i.source_name} for i in t.indexes],
                    "foreign_keys": [
                        {
                            "name": f.name,
                            "columns": f.columns,
                            "source_columns": [
                                next(c.source for c in t.columns if c.name == n) for n in f.columns
                            ],
                            "ref_table": f.ref_table,
                        }
                        for f in t.foreign_keys
                    ],
                }
                for t in self.tables
            ],
            "omissions": [
                {"code": f.code, "table": f.table, "subject": f.subject, "reason": f.message}
                for f in self.findings
                if f.code in omitted
            ],
        }

    def table(self, source_name: str) -> TablePlan:
        """The plan of the source table called `source_name`."""
        for t in self.tables:
            if t.source.name == source_name:
                return t
        raise UnknownChoiceError("table", source_name, [t.source.name for t in self.tables])


@dataclass
class CatalogColumn:
    """A column of an existing target table."""

    name: str
    pg_type: str
    nullable: bool
    has_default: bool
    identity: bool


Catalog = dict[str, dict[str, CatalogColumn]]
