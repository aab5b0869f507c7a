"""The values the app-code analysis passes around:
statements, rewrites, the planned schema, findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cutover.errors import UsageError
from cutover.schema.model import Finding
from cutover.schema.rules import pg_base

Dialect = Literal["sqlite", "tsql"]
Status = Literal["compatible", "rewritten", "manual"]
DIALECTS: tuple[str, ...] = ("sqlite", "tsql")


@dataclass(frozen=True)
class Statement:
    """One SQL string the app runs: where it is, its
    dialect, the call, literal parameters if any.
    """

    path: str
    line: int
    dialect: str
    sql: str
    call: str
    params: Any = None

    @property
    def paramstyle(self) -> str:
        """'named' when SQLAlchemy binds it (`:name` stays), else 'format' (psycopg's %s)."""
        return "named" if self.call in NAMED_CALLS else "format"

    @property
    def many(self) -> bool:
        """True when the call runs the statement once per parameter set (executemany)."""
        return self.call.endswith(".executemany")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return asdict(self)


# SQLAlchemy compiles text() and binds :name itself; a driver call speaks the driver's paramstyle.
NAMED_CALLS = frozenset({"sqlalchemy.text"})


@dataclass
class Rewrite:
    """A statement fitted to Postgres: the SQL (None
    when manual), what changed and why, the status.
    """

    postgres_sql: str | None
    changes: list[str] = field(default_factory=list)
    status: str = "compatible"

    def __post_init__(self) -> None:
        if self.status not in ("compatible", "rewritten", "manual"):
            raise UsageError(
                f"rewrite status {self.status!r} is not compatible, rewritten or manual"
            )


@dataclass(frozen=True)
class CodeItem:
    """The `code` item of `cutover plan --format json`: a statement and its rewrite."""

    path: str
    line: int
    dialect: str
    sql: str
    postgres_sql: str | None
    changes: list[str]
    status: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return asdict(self)


@dataclass(frozen=True)
class TargetColumn:
    """A source column's planned target: its name and Postgres type (and SQLite NOCASE)."""

    name: str
    pg_type: str
    nocase: bool = False

    @property
    def base(self) -> str:
        """The type without modifiers, lower case: 'varchar(20)' → 'varchar'."""
        return pg_base(self.pg_type)

    @property
    def family(self) -> str:
        """boolean, json, timestamp, date, integer, decimal, float, text, bytes or other."""
        return type_family(self.base)


def type_family(base: str) -> str:
    """The comparison family of a Postgres type name."""
    return _FAMILIES.get(base, "text" if base in _TEXTS else "other")


_FAMILIES = {
    "boolean": "boolean",
    "bool": "boolean",
    "jsonb": "json",
    "json": "json",
    "timestamptz": "timestamp",
    "timestamp with time zone": "timestamp",
    "timestamp": "timestamp",
    "timestamp without time zone": "timestamp",
    "date": "date",
    "smallint": "integer",
    "integer": "integer",
    "int": "integer",
    "bigint": "integer",
    "numeric": "decimal",
    "decimal": "decimal",
    "real": "float",
    "double precision": "float",
    "bytea": "bytes",
    "uuid": "uuid",
}
_TEXTS = frozenset({"text", "varchar", "character varying", "char", "character", "citext", "xml"})


@dataclass
class TargetTable:
    """A source table's planned target: name, columns by source name, keys (source column names)."""

    name: str
    columns: dict[str, TargetColumn]
    primary_key: tuple[str, ...] = ()
    uniques: tuple[tuple[str, ...], ...] = ()
    rowid: str | None = None
    schema: str | None = None

    def column(self, source_name: str) -> TargetColumn | None:
        """The planned column for a source column name (SQLite and T-SQL names ignore case)."""
        found = self.columns.get(source_name)
        if found is not None:
            return found
        folded = source_name.casefold()
        for name, col in self.columns.items():
            if name.casefold() == folded:
                return col
        return None

    def source_name(self, source_name: str) -> str | None:
        """The source column's exact spelling, matched ignoring case."""
        folded = source_name.casefold()
        return next((n for n in self.columns if n.casefold() == folded), None)


@dataclass
class TargetSchema:
    """The planned target of every source table, looked up by source table name."""

    tables: dict[str, TargetTable] = field(default_factory=dict)

    def table(self, source_name: str) -> TargetTable | None:
        """The planned table for a source table name, ignoring case."""
        found = self.tables.get(source_name)
        if found is not None:
            return found
        folded = source_name.casefold()
        return next((t for n, t in self.tables.items() if n.casefold() == folded), None)

    @classmethod
    def from_mapping(
        cls,
        mapping: Mapping[str, tuple[str, Mapping[str, tuple[str, str]]]],
        *,
        keys: Mapping[str, Sequence[str]] | None = None,
        uniques: Mapping[str, Sequence[Sequence[str]]] | None = None,
        rowids: Mapping[str, str] | None = None,
        nocase: Mapping[str, Sequence[str]] | None = None,
    ) -> TargetSchema:
        """From `{source_table: (target_table, {source_column: (target_column, pg_type)})}`."""
        tables: dict[str, TargetTable] = {}
        for source, (target, columns) in mapping.items():
            folded = {c.casefold() for c in (nocase or {}).get(source, ())}
            cols = {
                s: TargetColumn(t, pg_type, s.casefold() in folded)
                for s, (t, pg_type) in columns.items()
            }
            tables[source] = TargetTable(
                target,
                cols,
                tuple((keys or {}).get(source, ())),
                tuple(tuple(u) for u in (uniques or {}).get(source, ())),
                (rowids or {}).get(source),
            )
        return cls(tables)


@dataclass(frozen=True)
class CodeFinding:
    """Something in the app's code or tests that ties it to its old database, with the fix."""

    path: str
    line: int
    code: str
    severity: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        return asdict(self)

    def as_finding(self) -> Finding:
        """The plan's Finding, with `path:line` as its subject."""
        return Finding(
            self.severity, self.code, self.message, fix=self.fix, subject=f"{self.path}:{self.line}"
        )
