"""Row digests of Arrow batches, equal to `RowHasher`'s of the same rows read one by one.

Load (a source batch coerced to the target's Arrow types) and verify (either side read as Arrow)
digest through this one class. Each row's canonical text (`digest.canon_for`) is built column by
column with Arrow kernels where the kind allows it (integers, double precision, text, boolean,
timestamps); any other column is canonicalised value by value with `canon_for` itself, so a
kind without a kernel is slower, never different. The row texts are hashed with xxh3-128 and
summed per bucket, as `Digests.add_rows` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from cutover.rows.digest import HASH_BUCKETS, NULL, RANGE_WIDTH, Digests, RowHasher
from cutover.schema.rules import family_of, pg_base

# kinds whose canonical text Arrow kernels write; any other column is canonicalised in Python
KERNEL_KINDS = ("integer", "float", "text", "boolean", "timestamp", "bytes")
PYTHON_KIND = "python"
# Arrow writes a double's shortest digits as repr() does, laid out alike (but for repr's '.0')
# from 1e-4 (below it repr writes 'e-05', Arrow 'e-5') up to 1e10 (from there Arrow switches to an
# exponent, repr only from 1e16); measured over 1.4M values per decade, outside it repr is called
REPR_PLAIN_LOW = 1e-4
ARROW_PLAIN_HIGH = 1e10
# each byte's two lower-case hex digits as bytes.hex() writes them, packed in one little-endian
# uint16 (a lookup of 2-byte items is 4x faster than one of byte pairs)
_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8).astype(np.uint16)
HEX_PAIRS = (_DIGITS[np.arange(256) >> 4] | (_DIGITS[np.arange(256) & 15] << 8)).astype("<u2")


def kind_of(pg_type: str) -> str:
    """The digest kind of a target column type: one of KERNEL_KINDS, or PYTHON_KIND."""
    base, family = pg_base(pg_type), family_of(pg_type)
    if family == "integer":
        return "integer"
    if base == "double precision":
        return "float"
    if base in ("text", "varchar"):
        return "text"
    if family in ("boolean", "timestamp", "bytes"):
        return family
    return PYTHON_KIND


class ArrowDigest:
    """Digests batches whose columns are a table's target columns, in order, as Arrow arrays."""

    def __init__(self, kinds: Sequence[str], hasher: RowHasher) -> None:
        if len(kinds) != len(hasher.canons):
            raise ValueError(f"{len(kinds)} kinds for {len(hasher.canons)} columns")
        self.kinds = list(kinds)
        self.hasher = hasher
        self.canons = hasher.canons  # canon_for of each column, for the kinds without a kernel

    @classmethod
    def for_types(cls, pg_types: Sequence[str], hasher: RowHasher) -> ArrowDigest:
        """The digester of a table read from Postgres as Arrow (each column's own kind)."""
        return cls([kind_of(t) for t in pg_types], hasher)

    def digest(self, batch: pa.RecordBatch) -> Digests:
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
        kind = self.kinds[i]
        if kind == "integer":
            return pc.cast(array, pa.string())
        if kind == "text":
            return array if array.type == pa.string() else pc.cast(array, pa.string())
        if kind == "boolean":
            return pc.if_else(array, "1", "0")
        if kind == "timestamp":
            # the cast writes 'YYYY-MM-DD HH:MM:SS.ffffff' (+ 'Z' with a zone), 15x faster than
            # strftime
            text = pc.utf8_replace_slice(pc.cast(array, pa.string()), 10, 11, "T")
            return pc.utf8_replace_slice(text, 26, 27, "+00:00") if array.type.tz else text
        if kind == "float":
            return _float_text(array)
        if kind == "bytes":
            hexed = _hex_text(array)
            if hexed is not None:
                return hexed
        canon = self.canons[i]
        return pa.array([None if v is None else canon(v) for v in array.to_pylist()], pa.string())

    def _buckets(self, batch: pa.RecordBatch, texts: list[pa.Array]) -> np.ndarray:
        """The bucket of each row, as RowHasher.bucket computes it."""
        hasher = self.hasher
        if hasher.ranged:
            keys = batch.column(hasher.key_positions[0]).to_numpy(zero_copy_only=False)
            return np.floor_divide(keys.astype(np.int64), RANGE_WIDTH)
        positions = hasher.key_positions or list(range(len(texts)))
        parts = [pc.fill_null(texts[i], NULL) for i in positions]
        keys = pc.binary_join_element_wise(*parts, "\x1f").cast(pa.binary()).to_pylist()
        return np.array([xxhash.xxh3_64_intdigest(k) % HASH_BUCKETS for k in keys], np.int64)


def value_bytes(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from the first value, the values' bytes) of a string or binary array with 32-bit
    offsets, both views of its buffers rather than copies.
    """
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], np.int32, count=len(array) + 1, offset=array.offset * 4)
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start:  # no value holds a byte (the buffer may be absent)
        return offsets - start, np.empty(0, np.uint8)
    return offsets - start, np.frombuffer(buffers[2], np.uint8, count=end - start, offset=start)


def _hex_text(array: pa.Array) -> pa.Array | None:
    """bytes.hex() of each value, by one table lookup over the batch's buffer (None: a batch too
    large for 32-bit offsets once doubled, which the caller hexes value by value).
    """
    if array.type != pa.binary():
        array = array.cast(pa.binary())
    offsets, data = value_bytes(array)
    if len(data) * 2 >= 2**31:
        return None
    text = pa.py_buffer(HEX_PAIRS[data])  # the uint16 array's memory, not a copy of it
    starts = pa.py_buffer((offsets * 2).astype(np.int32))
    valid = array.is_valid().buffers()[1] if array.null_count else None
    return pa.Array.from_buffers(pa.string(), len(array), [valid, starts, text], array.null_count)


def _float_text(array: pa.Array) -> pa.Array:
    """repr() of each double: Arrow's shortest text where it is laid out as repr's, else repr."""
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
