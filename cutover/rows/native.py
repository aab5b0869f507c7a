"""The columnar row path: a table's key range read as
Arrow batches, coerced and digested by kernels.

It sits behind the same idea as `RowPath` (coerce a batch, digest a batch) for the tables where
that can be done without Python touching each value: a SQLite table streamed by one integer key
whose columns each hold one storage class (the profile counts them) and map to a type the
kernels carry exactly (integers, double precision, text, varchar(n), bytea, boolean from 0/1,
timestamp/timestamptz from naive ISO text). A batch with any value the kernels would not carry
as `RowPath` does (NUL in text, overlong varchar, invalid UTF-8, a timestamp in another form, an
integer out of range) is not coerced here: `coerce_batch` answers None and the caller sends that
key range through the Python path, so rejects and their reasons come from one place.

Digests are the row path's own (`DIGEST_VERSION`): each row's canonical text is built column by
column with Arrow kernels (Python only for float repr and bytea hex) and hashed with xxh3-128, so
verify, which knows nothing of this module, compares them with what it computes itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import numpy as np
import pgpq
import pyarrow as pa
import pyarrow.compute as pc

from cutover.errors import ReaderStopped
from cutover.rows.arrow_digest import ArrowDigest, value_bytes
from cutover.rows.digest import Digests
from cutover.rows.path import RowPath
from cutover.schema.mapping import TablePlan
from cutover.schema.model import ColumnProfile, Table
from cutover.schema.typemap import INT_RANGES, family_of, pg_base
from cutover.sources.sqlite import BUILTIN_COLLATIONS
from cutover.values.coerce import GUARDS

ENGINE_NAME = "arrow"  # recorded in the manifest beside the tables that took this path
BATCH_BYTES = (
    4 * 2**20
)  # spike: ~4 MB batches keep a blob table's batch small and a narrow table's fast
MAX_BATCH_ROWS = (
    65_536  # beyond this a narrow table's batch gains nothing and its transaction grows
)
MIN_BATCH_ROWS = 16  # a table of 10 MB rows still moves a few rows per transaction
ARROW_INT = {"smallint": pa.int16(), "integer": pa.int32(), "bigint": pa.int64()}
# the naive ISO form the Python path's guard lets through untouched (coerce.GUARDS["iso_naive"]),
# years from 1000 on: strftime writes earlier years without the leading zeros isoformat keeps
ISO_NAIVE = r"^[1-9]\d{3}-\d\d-\d\d(?:[ T](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?$"
# the sentinel row makes ADBC type each column by its storage class even when a batch's values are
# all NULL
SENTINELS = {
    "integer": "0",
    "boolean": "0",
    "float": "0.0",
    "text": "''",
    "timestamp": "''",
    "bytes": "x''",
}
ROWID_PROFILE = ColumnProfile(integers=1)
# kinds whose column ADBC turns into its own type without a word when a value of another storage
# class arrives in the first batch (an integer in a text column becomes '5'), and the class each
# reads; the other kinds show such a value in the batch's Arrow type
QUIET_STORAGE = {"text": "text", "timestamp": "text", "bytes": "blob"}
READ_TYPES = {
    "integer": pa.types.is_integer,
    "boolean": pa.types.is_integer,
    "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "text": pa.types.is_string,
    "timestamp": pa.types.is_string,
    "bytes": pa.types.is_binary,
}
# pyarrow's default pool (mimalloc) keeps freed batches mapped: reading messages and attachments
# of the 1M chat bench peaked at 198 MB RSS with it, 158 MB with the system allocator
pa.set_memory_pool(pa.system_memory_pool())
_VARCHAR = re.compile(r"\((\d+)\)")
assert GUARDS["iso_naive"]("2024-01-02 03:04:05.123456")  # the pattern above mirrors this guard


@dataclass(frozen=True)
class NativeColumn:
    """What the kernels need of one column: its kind, Arrow type and checks."""

    source: str
    kind: str
    arrow: pa.DataType
    max_length: int | None = None
    low: int | None = None
    high: int | None = None


def _pure(p: ColumnProfile, *allowed: str) -> bool:
    """True when the column holds no storage class but `allowed` (NULLs aside)."""
    counts = {"integers": p.integers, "reals": p.reals, "texts": p.texts, "blobs": p.blobs}
    return all(n == 0 for name, n in counts.items() if name not in allowed)


def _column(
    source: str,
    pg_type: str,
    coercion: str,
    options: dict[str, Any],
    p: ColumnProfile | None,
    zone: str,
) -> NativeColumn | str:
    """The column's native form, or why it has none."""
    base, family = pg_base(pg_type), family_of(pg_type)
    why = f"{source}: {pg_type} from {coercion}"
    if base == "double precision" and coercion in ("identity", "float") and p is None:
        # not profiled (nothing about a float decides its type): each batch's Arrow type is
        # checked instead, and ADBC stops at a value of another class (the row path goes on)
        return NativeColumn(source, "float", pa.float64())
    if p is None:
        return f"{source} was not profiled"
    if family == "integer" and coercion in ("identity", "integer") and _pure(p, "integers"):
        low, high = INT_RANGES[base]
        low = max(low, options.get("low", low))
        high = min(high, options.get("high", high))
        return NativeColumn(source, "integer", ARROW_INT[base], low=low, high=high)
    if base == "double precision" and coercion in ("identity", "float"):
        if _pure(p, "reals") or _pure(p, "integers"):
            return NativeColumn(source, "float", pa.float64())
    if family == "text" and base != "char" and coercion in ("identity", "text"):
        if _pure(p, "texts") and options.get("nul", "reject") == "reject":
            m = _VARCHAR.search(pg_type) if base == "varchar" else None
            limit = options.get("max_length") or (int(m.group(1)) if m else None)
            return NativeColumn(source, "text", pa.string(), max_length=limit)
    if family == "bytes" and coercion in ("identity", "bytes") and _pure(p, "blobs"):
        return NativeColumn(source, "bytes", pa.binary())
    if family == "boolean" and coercion in ("identity", "boolean") and _pure(p, "integers"):
        return NativeColumn(source, "boolean", pa.bool_())
    if (
        base in ("timestamp", "timestamptz")
        and coercion in ("timestamp", "timestamptz")
        and options.get("epoch") is None
        and _pure(p, "texts")
        and (base == "timestamp" or zone == "UTC")
    ):
        tz = "UTC" if base == "timestamptz" else None
        return NativeColumn(source, "timestamp", pa.timestamp("us", tz=tz))
    return why


def _table_reason(table: Table, key_columns: Sequence[str], columns: int) -> str | None:
    """Why a table cannot take the columnar path whatever its columns hold (None: it can)."""
    if len(key_columns) != 1 or not table.has_rowid:
        return "its stream key is not one integer"
    if not columns:
        return "it has no columns"
    own = [c.collation for c in table.columns]
    own += [e.collation for i in table.indexes for e in i.columns]
    custom = sorted({c for c in own if c and c.upper() not in BUILTIN_COLLATIONS})
    if custom:
        return (
            f"it uses the collation {', '.join(custom)}, which only the Python reader stands in for"
        )
    return None


def eligible(tp: TablePlan, key_columns: Sequence[str], path: RowPath) -> list[NativeColumn] | str:
    """The table's native columns, or the reason it takes the Python path."""

    def profile_of(name: str) -> ColumnProfile | None:
        if name == tp.source.rowid_alias and name not in tp.profile:
            return ROWID_PROFILE  # the key itself: SQLite keeps a rowid alias an integer
        return tp.profile.get(name)

    return _columns(tp.source, key_columns, path, profile_of)


def unprofiled(table: Table, key_columns: Sequence[str], path: RowPath) -> list[NativeColumn] | str:
    """The table's native columns from its recorded row path alone, or why it has none.

    For a reader with no profile to trust (verify): it reads with `NativeTable.checked()`, which
    sends any batch holding a value of another storage class to the Python path.
    """
    return _columns(table, key_columns, path, lambda _name: ColumnProfile())


def _columns(
    table: Table,
    key_columns: Sequence[str],
    path: RowPath,
    profile_of: Callable[[str], ColumnProfile | None],
) -> list[NativeColumn] | str:
    """Each column of the row path in its native form, or the first reason one has none."""
    reason = _table_reason(table, key_columns, len(path.columns))
    if reason is not None:
        return reason
    columns: list[NativeColumn] = []
    for c in path.columns:
        found = _column(
            c.source,
            c.pg_type,
            c.coercion,
            c.options,
            profile_of(c.source),
            path.policies.naive_timezone,
        )
        if isinstance(found, str):
            return found
        columns.append(found)
    return columns


def batch_rows(row_bytes: float | None) -> int:
    """Rows per Arrow batch for rows of about `row_bytes` bytes."""
    if not row_bytes:
        return MAX_BATCH_ROWS // 4
    return int(min(MAX_BATCH_ROWS, max(MIN_BATCH_ROWS, BATCH_BYTES // row_bytes)))


def _has_nul(array: pa.Array) -> bool:
    """True when any value of a string array holds NUL: one scan of the batch's character data
    (numpy's count_nonzero, 10x Arrow's substring search over long text).
    """
    if array.type != pa.string():
        return bool(pc.any(pc.match_substring(array, "\x00")).as_py())
    _offsets, data = value_bytes(array)
    return int(np.count_nonzero(data)) != len(data)


class NativeTable:
    """Reads, coerces, encodes and digests one table's batches with Arrow kernels."""

    def __init__(self, columns: list[NativeColumn], path: RowPath) -> None:
        self.columns = columns
        self.path = path
        self.schema = pa.schema(
            [pa.field(c.target, n.arrow) for c, n in zip(path.columns, columns)]
        )
        self.digester = ArrowDigest([n.kind for n in columns], path.hasher)

    # -- reading -------------------------------------------------------------------------------

    def read(self, database: str, query: str, rows: int) -> Iterator[pa.RecordBatch]:
        """Batches of (key, *columns) from a SQLite query whose first row is the typed sentinel.

        Any failure of the reader (a value of another storage class than the first batch's, a
        collation only the Python reader stands in for) is raised as ReaderStopped.
        """
        try:
            db = adbc_driver_sqlite.connect(database)
            conn = adbc.AdbcConnection(db)
            stmt = adbc.AdbcStatement(conn)
        except adbc.Error as exc:
            raise ReaderStopped(str(exc)) from exc
        try:
            stmt.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(rows)})
            stmt.set_sql_query(query)
            handle, _ = stmt.execute_query()
            reader = pa.RecordBatchReader._import_from_c(handle.address)
            first = True
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                if first:
                    batch, first = batch.slice(1), False
                if batch.num_rows:
                    yield batch
        except (adbc.Error, OSError, pa.ArrowException) as exc:
            raise ReaderStopped(str(exc)) from exc
        finally:
            stmt.close()
            conn.close()
            db.close()

    def sentinel(self, checked: bool = False) -> list[str]:
        """The typed first row's SQL values: the key, each column (and the storage count)."""
        return ["0", *(SENTINELS[c.kind] for c in self.columns), *(["0"] if checked else [])]

    def storage(self, recorded: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
        """The storage class of each column whose other classes ADBC converts without a word,
        but for those whose `recorded` classes (the load's profile, of a source unchanged since)
        hold no other.
        """
        recorded = recorded or {}
        return {
            c.source: QUIET_STORAGE[c.kind]
            for c in self.columns
            if c.kind in QUIET_STORAGE
            and not set(recorded.get(c.source, ["?"])) <= {QUIET_STORAGE[c.kind]}
        }

    def checked(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """A batch read with `storage()`'s count as its last column, without it; None when any
        value was of another storage class than its column's kind reads (the Python path then).
        """
        flags = batch.column(batch.num_columns - 1)
        if flags.null_count or (pc.max(flags).as_py() or 0) > 0:
            return None
        for column, array in zip(self.columns, batch.columns[1:]):
            if not READ_TYPES[column.kind](array.type) and array.null_count < len(array):
                return None
        return batch.select(list(range(batch.num_columns - 1)))

    # -- coercion ------------------------------------------------------------------------------

    def coerce_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """The batch in the target's exact Arrow types,
        or None when a value needs the Python path.
        """
        arrays = []
        try:
            for column, array in zip(self.columns, batch.columns[1:]):
                out = self._coerce(column, array)
                if out is None:
                    return None
                arrays.append(out)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None  # a kernel refused a value: the Python path says which and why
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _coerce(self, column: NativeColumn, array: pa.Array) -> pa.Array | None:
        if array.null_count == len(array):
            return pa.nulls(len(array), column.arrow)
        if column.kind == "integer":
            low, high = pc.min_max(array).values()
            if low.as_py() < column.low or high.as_py() > column.high:
                return None
            return pc.cast(array, column.arrow)
        if column.kind == "float":
            numeric = pa.types.is_floating(array.type) or pa.types.is_integer(array.type)
            return pc.cast(array, column.arrow) if numeric else None
        if column.kind == "bytes":
            return array.cast(pa.binary())
        if column.kind == "boolean":
            low, high = pc.min_max(array).values()
            return None if low.as_py() < 0 or high.as_py() > 1 else pc.cast(array, pa.bool_())
        if not pa.types.is_string(array.type):
            return None
        array.validate(full=True)  # invalid UTF-8 raises ArrowInvalid: the Python path decides
        if column.kind == "text":
            if _has_nul(array):
                return None
            if column.max_length is not None:
                if (pc.max(pc.utf8_length(array)).as_py() or 0) > column.max_length:
                    return None
            return array
        if not pc.all(pc.match_substring_regex(array, ISO_NAIVE)).as_py():
            return None  # offsets, other spellings: parsed (or rejected) by the Python path
        return pc.cast(pc.cast(array, pa.timestamp("us")), column.arrow)

    # -- writing and digests -------------------------------------------------------------------

    def encode(self, batch: pa.RecordBatch) -> list[bytes]:
        """One binary COPY stream (header, rows, trailer) for a coerced batch or its copied part."""
        encoder = pgpq.ArrowToPostgresBinaryEncoder(batch.schema)
        return [encoder.write_header(), encoder.write_batch(batch), encoder.finish()]

    def digest_batch(self, batch: pa.RecordBatch) -> Digests:
        """Per-bucket counts and digest sums, equal to RowPath.digest_batch of the same rows."""
        return self.digester.digest(batch)
