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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import adbc_driver_manager as adbc
import adbc_driver_sqlite
import numpy as np
import pgpq
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from cutover.errors import ReaderStopped
from cutover.rows.digest import HASH_BUCKETS, NULL, RANGE_WIDTH, Digests, canon_for
from cutover.rows.path import RowPath
from cutover.schema.mapping import TablePlan
from cutover.schema.model import ColumnProfile
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
# Arrow writes a double's shortest digits as repr() does, laid out alike (but for repr's '.0')
# from 1e-4 (below it repr writes 'e-05', Arrow 'e-5') up to 1e10 (from there Arrow switches to an
# exponent, repr only from 1e16); measured over 1.4M values per decade, outside it repr is called
REPR_PLAIN_LOW = 1e-4
ARROW_PLAIN_HIGH = 1e10
ROWID_PROFILE = ColumnProfile(integers=1)
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


def eligible(tp: TablePlan, key_columns: Sequence[str], path: RowPath) -> list[NativeColumn] | str:
    """The table's native columns, or the reason it takes the Python path."""
    if len(key_columns) != 1:
        return "its stream key is not one integer"
    if not tp.columns:
        return "it has no columns"
    own = [c.collation for c in tp.source.columns]
    own += [e.collation for i in tp.source.indexes for e in i.columns]
    custom = sorted({c for c in own if c and c.upper() not in BUILTIN_COLLATIONS})
    if custom:
        return (
            f"it uses the collation {', '.join(custom)}, which only the Python reader stands in for"
        )
    columns: list[NativeColumn] = []
    for c in tp.columns:
        profile = tp.profile.get(c.source)
        if profile is None and c.source == tp.source.rowid_alias:
            profile = ROWID_PROFILE  # the key itself: SQLite keeps a rowid alias an integer
        found = _column(
            c.source, c.pg_type, c.coercion, c.options, profile, path.policies.naive_timezone
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


class NativeTable:
    """Reads, coerces, encodes and digests one table's batches with Arrow kernels."""

    def __init__(self, columns: list[NativeColumn], path: RowPath) -> None:
        self.columns = columns
        self.path = path
        self.schema = pa.schema(
            [pa.field(c.target, n.arrow) for c, n in zip(path.columns, columns)]
        )
        self.canons = [canon_for(c.pg_type, path.policies.naive_timezone) for c in path.columns]

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

    def sentinel(self) -> list[str]:
        """The typed first row's SQL values: the key, then each column."""
        return ["0", *(SENTINELS[c.kind] for c in self.columns)]

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
            if pc.any(pc.match_substring(array, "\x00")).as_py():
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
        texts = [self._canonical(i, a) for i, a in enumerate(batch.columns)]
        pieces: list[Any] = []
        for text in texts:  # each value 'v' + its text, or 'n' for NULL, joined by NUL
            if pieces:
                pieces.append("\x00")
            if text.null_count:
                pieces.append(pc.fill_null(pc.binary_join_element_wise("v", text, ""), "n"))
            else:
                pieces += ["v", text]
        rows = pc.binary_join_element_wise(*pieces, "").cast(pa.binary())
        hashes = list(map(xxhash.xxh3_128_intdigest, rows.to_pylist()))
        buckets = self._buckets(batch, texts)
        if not bool(np.all(buckets[1:] >= buckets[:-1])):  # hash buckets: group them first
            order = np.argsort(buckets, kind="stable")
            buckets = buckets[order]
            hashes = [hashes[i] for i in order.tolist()]
        digests = Digests()
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]]).tolist()
        for start, end in zip(starts, [*starts[1:], len(hashes)]):
            digests.add_sum(int(buckets[start]), end - start, sum(hashes[start:end]))
        return digests

    def _canonical(self, i: int, array: pa.Array) -> pa.Array:
        """A column's canonical text (digest.canon_for), NULL where the value is NULL."""
        kind = self.columns[i].kind
        if kind == "integer":
            return pc.cast(array, pa.string())
        if kind == "text":
            return array
        if kind == "boolean":
            return pc.if_else(array, "1", "0")
        if kind == "timestamp":
            # the cast writes 'YYYY-MM-DD HH:MM:SS.ffffff' (+ 'Z' with a zone), 15x faster than
            # strftime
            text = pc.utf8_replace_slice(pc.cast(array, pa.string()), 10, 11, "T")
            return pc.utf8_replace_slice(text, 26, 27, "+00:00") if array.type.tz else text
        if kind == "float":
            return self._float_text(array)
        canon = self.canons[i]
        return pa.array([None if v is None else canon(v) for v in array.to_pylist()], pa.string())

    def _float_text(self, array: pa.Array) -> pa.Array:
        """repr() of each double: Arrow's shortest text
        where it is laid out as repr's, else repr.
        """
        text = pc.cast(array, pa.string())
        # '3' where repr says '3.0' (three substring scans cost a twentieth of one regex)
        marked = [pc.match_substring(text, mark) for mark in (".", "e", "n")]
        bare = pc.invert(pc.or_(pc.or_(marked[0], marked[1]), marked[2]))
        text = pc.if_else(bare, pc.binary_join_element_wise(text, ".0", ""), text)
        size = pc.abs(array)
        alike = pc.or_(
            pc.equal(array, 0.0),
            pc.and_(pc.greater_equal(size, REPR_PLAIN_LOW), pc.less(size, ARROW_PLAIN_HIGH)),
        )
        other = pc.invert(pc.fill_null(alike, True))
        if not pc.any(other).as_py():
            return text
        odd = array.filter(other).to_pylist()
        return pc.replace_with_mask(text, other, pa.array([repr(v) for v in odd], pa.string()))

    def _buckets(self, batch: pa.RecordBatch, texts: list[pa.Array]) -> np.ndarray:
        """The bucket of each row, as RowHasher.bucket computes it."""
        hasher = self.path.hasher
        if hasher.ranged:
            keys = batch.column(hasher.key_positions[0]).to_numpy(zero_copy_only=False)
            return np.floor_divide(keys.astype(np.int64), RANGE_WIDTH)
        positions = hasher.key_positions or list(range(len(texts)))
        parts = [pc.fill_null(texts[i], NULL) for i in positions]
        keys = pc.binary_join_element_wise(*parts, "\x1f").cast(pa.binary()).to_pylist()
        return np.array([xxhash.xxh3_64_intdigest(k) % HASH_BUCKETS for k in keys], np.int64)
