"""What the SQL Server reader knows of a database and its tables beyond the neutral model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cutover.sources.mssql_types import ColumnType

Row = tuple[Any, ...]


@dataclass(frozen=True)
class DatabaseFacts:
    """The database-wide facts the reader needs (DATABASE_SQL)."""

    name: str
    version: str
    edition: str = ""
    collation: str = ""
    code_page: int | None = None
    snapshot_isolation: str = "OFF"
    read_committed_snapshot: bool = False
    compatibility_level: int = 160
    size_bytes: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> DatabaseFacts:
        return cls(
            row[0],
            row[1],
            row[2] or "",
            row[3] or "",
            row[4],
            row[5] or "OFF",
            bool(row[6]),
            int(row[7] or 0),
            int(row[8]) if row[8] is not None else None,
        )

    @property
    def major_version(self) -> int:
        return int(self.version.split(".")[0]) if self.version and self.version[0].isdigit() else 0


@dataclass
class TableInfo:
    """What the reader knows of a table beyond the neutral model."""

    object_id: int
    schema: str
    name: str
    types: dict[str, ColumnType]
    memory_optimized: bool = False
    key: list[str] = field(default_factory=list)
    identity: tuple[str, int, int, int | None] | None = None  # column, seed, increment, last value
