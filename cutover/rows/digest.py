"""Canonical values and order-independent digests, computed the same way on both sides.

A row's digest is a 128-bit hash of its canonical form; a bucket's digest is the plain sum of
its rows' digests (order-independent, and unlike XOR it notices a duplicated row). Buckets are
ranges of an integer primary key (so a report can say "ids 10000–19999"), or hash buckets of
the key for any other table.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from decimal import Context, Decimal
from operator import methodcaller
from typing import Any
from zoneinfo import ZoneInfo

import xxhash

from cutover.schema.rules import family_of, pg_base
from cutover.values.coerce import float32, parse_datetime_text

# recorded with a load; verify recomputes digests made any other way (/2: decimals are no longer
# rounded to the target's scale before hashing; /3: a real is no longer rounded to float32, nor a
# char(n) value padded to n, before hashing; a halfvec is hashed as the half values it holds)
DIGEST_VERSION = "xxh3-128/3"
RANGE_WIDTH = 10_000  # rows per bucket for an integer key: small enough to compare row by row
HASH_BUCKETS = 1024  # buckets for other keys: a mismatch narrows to ~1/1024 of the table
NULL = "N"  # every non-null canonical part starts with its length, so this cannot collide
# Python's default context keeps 28 digits: numeric(38,10) values (SQL Server's decimal(38,…)) need
# more
EXACT = Context(
    prec=1100
)  # Postgres numeric: up to 131072 digits before the point, but 1000 is its typmod limit

Canon = Callable[[Any], str]
_FLOAT4 = struct.Struct("<f")
_BITS = struct.Struct("<I")  # a float32's bits, to step to its neighbours
_INF_BITS = 0x7F800000
FLOAT4_DIGITS = 9  # significant digits that tell every float32 apart (FLT_DECIMAL_DIG)


def _float4_text(v: Any) -> str:
    """A real as the app reads it back: the float32 a value is a reading of, or the value itself.

    A real column gives a binary reader its float32 widened exactly (0.10000000149011612) and a
    text reader Postgres' shortest form of it (0.1): both are that float32. Any other value
    (0.123456789, which real would keep as 0.12345679) is its own double, so it never passes as
    equal to what real made of it.
    """
    x = float(v)
    try:
        f = float32(x)
    except OverflowError:  # beyond float32's range: no reading of a real gives it
        return repr(x)
    if f == x or _shortest_float32(f, _significant_digits(x) - 1) == x:
        return repr(f)
    return repr(x)


def _significant_digits(x: float) -> int:
    """How many significant digits repr(x) has (0.00024414062: 8)."""
    digits = repr(abs(x)).split("e")[0].replace(".", "").strip("0")
    return len(digits) or 1


def _shortest_float32(f: float, fewest: int = 1) -> float:
    """Float32 f in the fewest significant digits that read back as it, as Postgres prints a
    real (its Ryu output never takes a decimal halfway to a neighbour, which would read back as
    either); looking from `fewest` digits, which is exact when none fewer can (a shorter
    decimal is one of `fewest` digits too).
    """
    size = abs(f)
    if size == 0 or size == math.inf:
        return f
    bits = _BITS.unpack(_FLOAT4.pack(size))[0]
    below = _of_bits(bits - 1)
    above = size + (size - below) if bits + 1 == _INF_BITS else _of_bits(bits + 1)
    low, high = (size + below) / 2, (size + above) / 2
    for digits in range(max(1, fewest), FLOAT4_DIGITS):
        # the nearest decimal of this many digits (ties to even, as Ryu), or beside a power of
        # two, where the gap below is half the gap above, the next one up
        nearest = f"{size:.{digits - 1}e}"
        value = float(nearest)
        if low < value < high:
            return math.copysign(value, f)
        mantissa, exponent = nearest.split("e")
        value = float(f"{int(mantissa.replace('.', '')) + 1}e{int(exponent) - digits + 1}")
        if low < value < high:
            return math.copysign(value, f)
    return math.copysign(float(f"{size:.{FLOAT4_DIGITS}g}"), f)


def _of_bits(bits: int) -> float:
    f: float = _FLOAT4.unpack(_BITS.pack(bits))[0]
    return f


def _decimal_text(d: Decimal) -> str:
    if not d.is_finite():
        return str(d)
    text = format(d.normalize(EXACT), "f")
    return "0" if text in ("-0", "0") else text


def _to_decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(str(v).strip())


def _json_number(text: str) -> Decimal:
    return Decimal(text)


JSON_EXACT_INT = (
    2**53
)  # floats below this that are whole numbers are written as integers (1.0, 1e2 → 1, 100)


def _json_float(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < JSON_EXACT_INT else value


def canonical_json(v: Any) -> str:
    """JSON with sorted keys, no whitespace, and numbers normalised (1.0 and 1e0 are 1).

    Parsing and writing run in the json module's C code; numbers keep float precision, so two
    numbers differing only beyond the 17th significant digit compare equal (documented).
    """
    if isinstance(v, (bytes, bytearray)):
        v = v.decode("utf-8")
    data = json.loads(v, parse_float=_json_float) if isinstance(v, str) else v
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_vector(v: Any) -> tuple[float, ...]:
    """A vector from pgvector's text form / JSON array text, a list, or a numpy array."""
    if isinstance(v, str):
        return tuple(float(x) for x in v.strip().strip("[]").split(",") if x.strip())
    return tuple(float(x) for x in v)


def canon_for(pg_type: str, naive_timezone: str = "UTC") -> Canon:
    """The canonicalizer for values of a Postgres column type (source-coerced or target-read)."""
    base = pg_base(pg_type)
    family = family_of(pg_type)
    if family == "integer":
        return lambda v: str(int(v))
    if family == "boolean":
        return lambda v: "1" if v in (True, 1) else "0"
    if base == "real":
        return _float4_text
    if family == "float":
        return lambda v: repr(float(v))
    if family == "decimal":
        # never rounded to the column's scale: a value the column would change must not pass as
        # equal
        return lambda v: _decimal_text(_to_decimal(v))
    if family == "text":
        # char(n) too, as it reads back (padded): the row path pads a value explicitly, never this
        return lambda v: v if type(v) is str else str(v)
    if family == "bytes":
        return lambda v: bytes(v).hex()
    if base == "timestamptz":
        zone = ZoneInfo(naive_timezone)

        def tz(v: Any) -> str:
            dt = parse_datetime_text(v) if isinstance(v, str) else v
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=zone)
            return dt.astimezone(UTC).isoformat(timespec="microseconds")

        return tz
    if base == "timestamp":

        def naive(v: Any) -> str:
            if (
                type(v) is str
                and len(v) in (19, 26)
                and v[10] in " T"
                and v[4] == "-"
                and v[13] == ":"
                and (len(v) == 19 or v[19] == ".")
            ):
                # the two forms SQLite apps write, already canonical but for the separator and
                # micros
                return f"{v[:10]}T{v[11:]}" if len(v) == 26 else f"{v[:10]}T{v[11:]}.000000"
            dt = parse_datetime_text(v) if isinstance(v, str) else v
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
            return dt.isoformat(timespec="microseconds")

        return naive
    if family == "date":
        return lambda v: (
            parse_datetime_text(v).date()
            if isinstance(v, str)
            else v.date()
            if isinstance(v, datetime)
            else v
        ).isoformat()
    if family == "time":
        return lambda v: (time.fromisoformat(v.strip()) if isinstance(v, str) else v).isoformat(
            timespec="microseconds"
        )
    if family == "uuid":
        return lambda v: str(
            v
            if isinstance(v, uuid.UUID)
            else uuid.UUID(bytes=v)
            if isinstance(v, bytes) and len(v) == 16
            else uuid.UUID(str(v).strip())
        )
    if family == "json":
        return canonical_json
    if base == "halfvec":
        return _halfvec_text
    if family == "vector":
        return lambda v: struct.pack(f"<{len(parse_vector(v))}f", *parse_vector(v)).hex()
    return str


def _halfvec_text(v: Any) -> str:
    """The half-precision values pgvector stores for a halfvec: it reads each number as a float32
    and rounds that to half (rounding the double to half directly differs for 1 value in 5 near
    a halfway point; this matched Postgres on 40,000 of 40,000).
    """
    import numpy as np  # only a halfvec column pays numpy's import here

    return np.asarray(parse_vector(v), np.float32).astype("<f2").tobytes().hex()


class RowHasher:
    """Canonicalizes and hashes rows of one table; knows which bucket a row belongs to.

    The digest is computed by one function generated per table (like
    coerce.compile_row): text, integer and double precision columns cost an inline
    check, others one call. Parts are joined by NUL, which no canonical form
    contains, each tagged v (value) or n (NULL), so no two rows share a text.
    """

    def __init__(
        self, pg_types: Sequence[str], key_positions: Sequence[int], naive_timezone: str = "UTC"
    ) -> None:
        self.canons = [canon_for(t, naive_timezone) for t in pg_types]
        self.key_positions = list(key_positions)
        key_types = [family_of(pg_types[i]) for i in key_positions]
        self.ranged = len(key_positions) == 1 and key_types == ["integer"]
        self._text = _compile_text([(pg_base(t), family_of(t)) for t in pg_types], self.canons)

    def parts(self, row: Sequence[Any]) -> list[str]:
        """The canonical text of each value (NULL as its own marker)."""
        return [NULL if v is None else c(v) for c, v in zip(self.canons, row)]

    def digest(self, row: Sequence[Any]) -> int:
        """128-bit digest of a row's canonical form."""
        return _hash128(self._text(row).encode("utf-8", "surrogatepass"))

    def digests(self, rows: Sequence[Sequence[Any]]) -> list[int]:
        """digest() of each row; the per-row loop runs in C but for the canonical text."""
        return list(map(_hash128, map(_utf8, map(self._text, rows))))

    def buckets(self, rows: Sequence[Sequence[Any]]) -> list[int]:
        """bucket() of each row."""
        if self.ranged:
            k = self.key_positions[0]
            return [int(row[k]) // RANGE_WIDTH for row in rows]
        return list(map(self.bucket, rows))

    def key(self, row: Sequence[Any]) -> tuple[str, ...]:
        """The canonical key (the whole row when the table has no key)."""
        if not self.key_positions:
            return tuple(self.parts(row))
        return tuple(NULL if row[i] is None else self.canons[i](row[i]) for i in self.key_positions)

    def bucket(self, row: Sequence[Any]) -> int:
        """The bucket a row's digest is summed into."""
        if self.ranged:
            return int(row[self.key_positions[0]]) // RANGE_WIDTH
        key = "\x1f".join(self.key(row))
        return int(xxhash.xxh3_64_intdigest(key.encode("utf-8", "surrogatepass")) % HASH_BUCKETS)

    def describe_bucket(self, bucket: int) -> str:
        """How a person reads a bucket number."""
        if self.ranged:
            return f"keys {bucket * RANGE_WIDTH:,}–{(bucket + 1) * RANGE_WIDTH - 1:,}"
        return f"hash bucket {bucket}"


# xxh3-128: not cryptographic, which a digest comparing two copies of the same data does not need,
# and about 5x faster than blake2b on short rows (the load hashes every row it writes)
_hash128 = xxhash.xxh3_128_intdigest
_utf8 = methodcaller("encode", "utf-8", "surrogatepass")


def _compile_text(
    types: list[tuple[str, str]], canons: list[Canon]
) -> Callable[[Sequence[Any]], str]:
    env: dict[str, Any] = {}
    parts = []
    for i, ((base, family), canon) in enumerate(zip(types, canons)):
        env[f"c{i}"] = canon
        v = f"v{i}"
        if family == "text":
            value = f"({v} if type({v}) is str else c{i}({v}))"
        elif family == "integer":
            value = f"(str({v}) if type({v}) is int else c{i}({v}))"
        elif family == "float" and base != "real":
            # what canon_for gives a float, without the call
            value = f"(repr({v}) if type({v}) is float else c{i}({v}))"
        else:
            value = f"c{i}({v})"
        parts.append(f"('n' if ({v} := row[{i}]) is None else 'v' + {value})")
    source = "def text(row):\n    return '\\x00'.join((" + ", ".join(parts) + ",))\n"
    exec(
        compile(source, "<cutover row digest>", "exec"), env
    )  # generated from column positions only
    text: Callable[[Sequence[Any]], str] = env["text"]
    return text


class Digests:
    """Per-bucket (row count, digest sum) of one table."""

    def __init__(self) -> None:
        self.buckets: dict[int, list[int]] = {}

    def add(self, bucket: int, digest: int, sign: int = 1) -> None:
        entry = self.buckets.get(bucket)
        if entry is None:
            self.buckets[bucket] = [sign, sign * digest]
        else:
            entry[0] += sign
            entry[1] += sign * digest

    def add_sum(self, bucket: int, rows: int, total: int) -> None:
        """Add `rows` rows whose digests sum to `total` (negative rows and total take rows out)."""
        entry = self.buckets.setdefault(bucket, [0, 0])
        entry[0] += rows
        entry[1] += total

    def merge(self, buckets: dict[int, list[int]]) -> None:
        """Add another range's or batch's per-bucket (rows, digest sum)."""
        for bucket, (rows, total) in buckets.items():
            self.add_sum(bucket, rows, total)

    def add_rows(self, hasher: RowHasher, rows: Sequence[Sequence[Any]], sign: int = 1) -> None:
        """Add (or with sign=-1 take out) rows; consecutive rows of one bucket are summed first."""
        buckets = hasher.buckets(rows)
        digests = hasher.digests(rows)
        start = 0
        for end in range(1, len(buckets) + 1):
            if end == len(buckets) or buckets[end] != buckets[start]:
                entry = self.buckets.setdefault(buckets[start], [0, 0])
                entry[0] += sign * (end - start)
                entry[1] += sign * sum(digests[start:end])
                start = end

    @property
    def rows(self) -> int:
        return sum(c for c, _ in self.buckets.values())

    def differing(self, other: Digests) -> list[int]:
        """Buckets whose count or digest differ between the two sides."""
        keys = set(self.buckets) | set(other.buckets)
        empty = [0, 0]
        return sorted(b for b in keys if self.buckets.get(b, empty) != other.buckets.get(b, empty))
