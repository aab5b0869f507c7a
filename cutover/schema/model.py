"""The neutral schema model: the only thing the rest of cutover sees of a source's catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("blocker", "warning", "info")


@dataclass
class Column:
    """A source column as its catalog declares it."""

    name: str
    declared_type: str
    nullable: bool = True
    default: str | None = None
    autoincrement: bool = False
    collation: str | None = None
    generated: str | None = None
    hidden: bool = False
    generated_expression: str | None = None  # SQLite's GENERATED ALWAYS AS (…), as written


@dataclass(frozen=True)
class IndexColumn:
    """One element of an index: a column, or an expression the source wrote."""

    name: str | None
    expression: str | None = None
    descending: bool = False
    collation: str | None = None


@dataclass
class Index:
    """A secondary index (unique or not, maybe partial or on expressions)."""

    name: str
    columns: list[IndexColumn]
    unique: bool = False
    where: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns if c.name is not None]

    @property
    def has_expressions(self) -> bool:
        return any(c.expression is not None for c in self.columns)


@dataclass
class UniqueConstraint:
    """A UNIQUE constraint declared with the table."""

    name: str | None
    columns: list[str]


@dataclass
class ForeignKey:
    """A foreign key with its referential actions."""

    name: str | None
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    on_delete: str | None = None
    on_update: str | None = None
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass
class CheckConstraint:
    """A CHECK constraint's source text."""

    name: str | None
    expression: str


@dataclass
class Table:
    """A source table and everything declared on it."""

    name: str
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    uniques: list[UniqueConstraint] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[CheckConstraint] = field(default_factory=list)
    schema: str | None = None
    has_rowid: bool = True
    rowid_alias: str | None = None
    pk_name: str | None = None
    virtual: bool = False
    sql: str | None = None
    module: str | None = None  # a carried virtual table's module (fts5, rtree …)
    module_options: dict[str, str] = field(default_factory=dict)  # its key=value args (tokenize)

    def column(self, name: str) -> Column:
        """The column called `name` (exact)."""
        for col in self.columns:
            if col.name == name:
                return col
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError("column", name, [c.name for c in self.columns], table=self.name)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass
class View:
    """A view: reported, not carried."""

    name: str
    sql: str | None = None


@dataclass
class Trigger:
    """A trigger: reported, not carried."""

    name: str
    table: str
    sql: str | None = None


@dataclass
class Finding:
    """Something the user should know: severity, what, how many, and how to fix it."""

    severity: str
    code: str
    message: str
    table: str | None = None
    column: str | None = None
    count: int | None = None
    fix: str | None = None
    subject: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")


@dataclass
class Schema:
    """Everything reflected from one source database."""

    tables: list[Table]
    views: list[View] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def table(self, name: str) -> Table:
        """The table called `name`; an unknown name lists the valid ones."""
        for table in self.tables:
            if table.name == name:
                return table
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError("table", name, [t.name for t in self.tables])


@dataclass
class ColumnProfile:
    """What a full scan of one column found: storage classes, ranges, lengths, suspicious content.

    The class counts, ranges, lengths, `nul_chars`, `json_invalid`, `bool_words` and (for a declared
    boolean) `zero_one` are exact. The refinement counts (`json_containers`, `iso_dates`,
    `date_only`, `tz_offsets`, `uuid_like`, `json_arrays`, and `zero_one` for other integers) answer
    "do all values qualify?": a source may stop at the first value that does not and leave 0, so
    compare them with `texts` (or `integers`), never read them as "how many".
    """

    nulls: int = 0
    integers: int = 0
    reals: int = 0
    texts: int = 0
    blobs: int = 0
    min_int: int | None = None
    max_int: int | None = None
    max_text_length: int | None = None
    json_containers: int = 0
    json_invalid: int = 0
    iso_dates: int = 0
    zero_one: int = 0
    bool_words: int = 0
    nul_chars: int | None = (
        None  # None: not measured, because the load checks each batch (typemap.wanted_stats)
    )
    integral_reals: int = 0
    tz_offsets: int = 0
    date_only: int = 0
    uuid_like: int = 0
    json_arrays: int = 0
    min_array_len: int | None = None
    max_array_len: int | None = None
    min_num: float | None = None
    max_num: float | None = None
    min_blob_length: int | None = None
    max_blob_length: int | None = None
    # text dated in year 0 ('0000-01-01…', 1 BC: SpatiaLite's default), which no Python datetime
    # holds
    year_zero: int = 0

    @property
    def non_null(self) -> int:
        return self.integers + self.reals + self.texts + self.blobs


@dataclass
class TableProfile:
    """Row count and per-column profiles of one table."""

    rows: int
    columns: dict[str, ColumnProfile] = field(default_factory=dict)
