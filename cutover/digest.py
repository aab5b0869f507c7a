"""Canonical values and order-independent digests, computed the same way on both sides.

A row's digest is a 128-bit hash of its canonical form; a bucket's digest is the plain sum of
its rows' digests (order-independent, and unlike XOR it notices a duplicated row). Buckets are
ranges of an integer primary key (so a report can say "ids 10000–19999"), or hash buckets of
the key for any other table.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from cutover.coerce import parse_datetime_text
from cutover.typemap import family_of, pg_base

RANGE_WIDTH = 10_000  # rows per bucket for an integer key: small enough to compare row by row
HASH_BUCKETS = 1024  # buckets for other keys: a mismatch narrows to ~1/1024 of the table
NULL = "N"  # every non-null canonical part starts with its length, so this cannot collide
# Python's default context keeps 28 digits: numeric(38,10) values (SQL Server's decimal(38,…)) need more
EXACT = Context(prec=1100)  # Postgres numeric: up to 131072 digits before the point, but 1000 is its typmod limit

Canon = Callable[[Any], str]


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


def canonical_json(v: Any) -> str:
    """JSON with sorted keys, no whitespace, and numbers as exact normalized decimals."""
    if isinstance(v, (bytes, bytearray)):
        v = v.decode("utf-8")
    data = json.loads(v, parse_float=Decimal, parse_int=Decimal) if isinstance(v, str) else v
    return _dump(data)


def _dump(x: Any) -> str:
    if isinstance(x, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _dump(x[k]) for k in sorted(x)) + "}"
    if isinstance(x, list):
        return "[" + ",".join(_dump(i) for i in x) + "]"
    if x is None or isinstance(x, (bool, str)):
        return json.dumps(x, ensure_ascii=False)
    return _decimal_text(_to_decimal(x))


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
        return lambda v: struct.pack("<f", float(v)).hex()
    if family == "float":
        return lambda v: repr(float(v))
    if family == "decimal":
        scale = _scale(pg_type)
        if scale is None:
            return lambda v: _decimal_text(_to_decimal(v))
        quantum = Decimal(1).scaleb(-scale)
        return lambda v: _decimal_text(_to_decimal(v).quantize(quantum, rounding=ROUND_HALF_UP, context=EXACT))
    if base == "char":
        width = _scale(pg_type, position=0) or 1
        return lambda v: str(v).ljust(width)
    if family == "text":
        return lambda v: v if type(v) is str else str(v)
    if family == "bytes":
        return lambda v: bytes(v).hex()
    if base == "timestamptz":
        zone = ZoneInfo(naive_timezone)

        def tz(v: Any) -> str:
            dt = parse_datetime_text(v) if isinstance(v, str) else v
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=zone)
            return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")

        return tz
    if base == "timestamp":

        def naive(v: Any) -> str:
            dt = parse_datetime_text(v) if isinstance(v, str) else v
            if dt.tzinfo is not None:
                dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
            return dt.isoformat(timespec="microseconds")

        return naive
    if family == "date":
        return lambda v: (parse_datetime_text(v).date() if isinstance(v, str) else v.date() if isinstance(v, datetime) else v).isoformat()
    if family == "time":
        return lambda v: (time.fromisoformat(v.strip()) if isinstance(v, str) else v).isoformat(timespec="microseconds")
    if family == "uuid":
        return lambda v: str(v if isinstance(v, uuid.UUID) else uuid.UUID(bytes=v) if isinstance(v, bytes) and len(v) == 16 else uuid.UUID(str(v).strip()))
    if family == "json":
        return canonical_json
    if family == "vector":
        return lambda v: struct.pack(f"<{len(parse_vector(v))}f", *parse_vector(v)).hex()
    return str


def _scale(pg_type: str, position: int = 1) -> int | None:
    inside = pg_type[pg_type.find("(") + 1 : pg_type.find(")")] if "(" in pg_type else ""
    parts = [p.strip() for p in inside.split(",") if p.strip()]
    if position == 1 and len(parts) == 1:
        return 0
    return int(parts[position]) if len(parts) > position else None


class RowHasher:
    """Canonicalizes and hashes rows of one table; knows which bucket a row belongs to."""

    def __init__(self, pg_types: Sequence[str], key_positions: Sequence[int], naive_timezone: str = "UTC") -> None:
        self.canons = [canon_for(t, naive_timezone) for t in pg_types]
        self.key_positions = list(key_positions)
        key_types = [family_of(pg_types[i]) for i in key_positions]
        self.ranged = len(key_positions) == 1 and key_types == ["integer"]

    def parts(self, row: Sequence[Any]) -> list[str]:
        """The canonical text of each value (NULL as its own marker)."""
        return [NULL if v is None else c(v) for c, v in zip(self.canons, row)]

    def digest(self, row: Sequence[Any]) -> int:
        """128-bit digest of a row's canonical form."""
        text = "".join(p if p is NULL else f"{len(p)}:{p}" for p in self.parts(row))
        return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")

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
        return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") % HASH_BUCKETS

    def describe_bucket(self, bucket: int) -> str:
        """How a person reads a bucket number."""
        if self.ranged:
            return f"keys {bucket * RANGE_WIDTH:,}–{(bucket + 1) * RANGE_WIDTH - 1:,}"
        return f"hash bucket {bucket}"


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

    def add_rows(self, hasher: RowHasher, rows: Sequence[Sequence[Any]], sign: int = 1) -> None:
        for row in rows:
            self.add(hasher.bucket(row), hasher.digest(row), sign)

    @property
    def rows(self) -> int:
        return sum(c for c, _ in self.buckets.values())

    def differing(self, other: "Digests") -> list[int]:
        """Buckets whose count or digest differ between the two sides."""
        keys = set(self.buckets) | set(other.buckets)
        empty = [0, 0]
        return sorted(b for b in keys if self.buckets.get(b, empty) != other.buckets.get(b, empty))


