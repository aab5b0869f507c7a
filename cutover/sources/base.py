"""The protocol every source reader follows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cutover.schema.model import Schema, Table, TableProfile

BATCH_BYTES = (
    4 * 1024 * 1024
    # a batch is bounded in bytes too: wide or blob rows come fewer at a time (COPY text doubles
    # blobs
    # in hex)
)
PROBE_ROWS = (
    4  # the first batch of a read: 4 rows, so even 1 MB rows make a probe within BATCH_BYTES
)
WIDTH_SAMPLE = 50  # rows of each batch measured to size the next one


def rows_within_budget(rows: Sequence[Sequence[Any]], batch_size: int) -> int:
    """How many rows like these fit in BATCH_BYTES (at most batch_size, at least one)."""
    sample = rows[:WIDTH_SAMPLE]
    size = sum(len(v) for r in sample for v in r if isinstance(v, (str, bytes))) / len(
        sample
    ) + 16 * len(sample[0])
    return max(1, min(batch_size, int(BATCH_BYTES // max(size, 1))))


@dataclass
class Batch:
    """A bounded run of rows in key order; each row is (*key, *values)."""

    rows: list[tuple[Any, ...]]
    key_width: int
    suspect: bool = False

    @property
    def last_key(self) -> tuple[Any, ...]:
        return tuple(self.rows[-1][: self.key_width])


@dataclass
class SourceInfo:
    """What kind of source, which version, how big."""

    kind: str
    version: str
    size_bytes: int | None = None
    notes: list[str] = field(default_factory=list)


class Source(Protocol):
    """A readable source database.

    Optional, looked up with getattr: `snapshot()` (a context manager: one consistent read for the
    load), `sequence_values()` (identity high-water marks per table) and
    `translate_default(default, pg_type)` (its own dialect's column defaults → Postgres).
    """

    kind: str

    def describe(self) -> SourceInfo: ...

    def reflect(self) -> Schema: ...

    def count(self, table: Table) -> int: ...

    def profile(self, table: Table, wanted: dict[str, set[str]]) -> TableProfile: ...

    def sample(self, table: Table, column: str, limit: int) -> list[Any]: ...

    def key_columns(self, table: Table) -> list[str]: ...

    def read(
        self,
        table: Table,
        columns: list[str],
        *,
        batch_size: int,
        after: tuple[Any, ...] | None = None,
        until: tuple[Any, ...] | None = None,
    ) -> Iterator[Batch]: ...

    def key_range(self, table: Table) -> tuple[Any, Any] | None: ...

    def fingerprint(self) -> str: ...

    def close(self) -> None: ...
