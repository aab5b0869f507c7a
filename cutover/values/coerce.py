"""Value coercions and reject reasons (the rules are documented in docs/policies.md).

A coercion is built once per column from its plan (`build`), and `compile_row` turns a table's
columns into one generated function, so identity columns cost a tuple index and nothing more.
Any value that cannot be carried raises Reject with a reason a person can act on.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import partial
from operator import is_not
from typing import Any
from zoneinfo import ZoneInfo

Coercion = Callable[[Any], Any]

UNIX_EPOCH = datetime(1970, 1, 1)
JULIAN_UNIX_EPOCH = 2440587.5  # Julian day number of 1970-01-01T00:00:00Z
PREVIEW_CHARS = 200  # how much of a rejected value a reject file keeps

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})
EXACT_CONTEXT = Context(
    prec=1100
)  # beyond numeric's 1000-digit typmod: quantize never rounds twice
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


class InvalidText:
    """Stands in for a text value whose bytes are not valid UTF-8."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"InvalidText({self.raw[:40]!r})"


class Reject(ValueError):
    """This value cannot be carried; the reason says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def preview(value: Any) -> Any:
    """A JSON-safe, shortened form of a value for reject files and messages."""
    if isinstance(value, InvalidText):
        value = value.raw
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return {"hex": raw[: PREVIEW_CHARS // 2].hex(), "bytes": len(raw)}
    if isinstance(value, str):
        return (
            value
            if len(value) <= PREVIEW_CHARS
            else value[:PREVIEW_CHARS] + f"… ({len(value):,} chars)"
        )
    if isinstance(value, (int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
        )
    return str(value)


def json_safe(value: Any) -> Any:
    """A lossless JSON form of a source value (bytes as hex) for a reject file's row."""
    if isinstance(value, InvalidText):
        return {"invalid_utf8_hex": value.raw.hex()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"hex": bytes(value).hex()}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return repr(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, InvalidText):
        return "invalid UTF-8 text"
    return {bytes: "blob", str: "text", int: "integer", float: "real"}.get(
        type(value), type(value).__name__
    )


def _text_value(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, InvalidText):
        raise Reject(f"invalid UTF-8 in {what}: bytes {value.raw[:40].hex()}")
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Reject(
                f"blob is not UTF-8 text for {what} ({exc.reason} at byte {exc.start})"
            ) from None
    raise Reject(f"{_kind(value)} where {what} was expected")


def integer(low: int, high: int, pg_type: str = "bigint", **_: Any) -> Coercion:
    """Integers in range; integral reals and integer text converted; anything else rejected."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is int:
            n = v
        elif type(v) is float:
            if not v.is_integer():
                raise Reject(f"real {v!r} is not an integer")
            n = int(v)
        elif isinstance(v, str) and _INT_TEXT.match(v):
            n = int(v)
        else:
            raise Reject(f"{_kind(v)} {preview(v)!r} is not an integer")
        if not low <= n <= high:
            raise Reject(f"integer {n} out of range for {pg_type}")
        return n

    return coerce


def float_(**_: Any) -> Coercion:
    """Numbers as they are; numeric text parsed; anything else rejected."""

    def coerce(v: Any) -> Any:
        if v is None or type(v) in (int, float):
            return v
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                pass
        raise Reject(f"{_kind(v)} {preview(v)!r} is not a number")

    return coerce


_FLOAT4 = struct.Struct("<f")


def float32(x: float) -> float:
    """The float32 nearest x, as a real (float4) column keeps it (OverflowError beyond range)."""
    f: float = _FLOAT4.unpack(_FLOAT4.pack(x))[0]
    return f


def float4(
    rounding: str = "reject", on_round: Callable[[], None] | None = None, **_: Any
) -> Coercion:
    """Numbers for a real (float4) column: a value float32 holds exactly passes as it is.

    Any other (0.1, 1/3, 16777217) is rejected, or rounded to the nearest float32 as Postgres
    would when `rounding = "round"`, and counted by `on_round`; beyond float32's range, rejected.
    """
    number = float_()

    def coerce(v: Any) -> Any:
        x = v if type(v) is Decimal else number(v)  # SQL Server's decimals, compared exactly
        if x is None:
            return None
        try:
            f = float32(float(x))
        except OverflowError:
            raise Reject(
                f"{x} is beyond the range of real (float4, ±3.4e38); double precision holds it"
            ) from None
        if f == x or f != f:  # exact, or NaN (which real holds)
            return x
        if rounding != "round":
            raise Reject(
                f"{x} is not a float32: real (float4) would keep {f!r} (rounding = 'round' "
                "allows that, double precision keeps it exact)"
            )
        if on_round is not None:
            on_round()
        return f

    return coerce


def _exact_decimal(v: Any) -> Any:
    if v is None or type(v) is int or type(v) is Decimal:
        return v
    if type(v) is float:
        return Decimal(repr(v))
    if isinstance(v, str):
        try:
            d = Decimal(v.strip())
        except InvalidOperation:
            raise Reject(f"text {preview(v)!r} is not a decimal number") from None
        if not d.is_finite():
            raise Reject(f"text {v!r} is not a finite decimal")
        return d
    raise Reject(f"{_kind(v)} is not a decimal number")


def decimal(
    scale: int | None = None,
    rounding: str = "reject",
    on_round: Callable[[], None] | None = None,
    **_: Any,
) -> Coercion:
    """Exact decimals: reals through their shortest repr (never binary float digits), text parsed.

    With the target's `scale`, a value with more decimals than it keeps is rejected, or rounded
    half away from zero (as Postgres would) when `rounding = "round"`, and counted by `on_round`.
    """
    if scale is None:
        return _exact_decimal
    quantum = Decimal(1).scaleb(-scale)

    def coerce(v: Any) -> Any:
        d = _exact_decimal(v)
        if d is None or type(d) is int or not d.is_finite() or d.as_tuple().exponent >= -scale:
            return d
        rounded = d.quantize(quantum, rounding=ROUND_HALF_UP, context=EXACT_CONTEXT)
        if rounded == d:  # only trailing zeros beyond the scale
            return rounded
        if rounding != "round":
            raise Reject(
                f"{d} has more than {scale} decimal places; the column would keep {rounded} "
                "(rounding = 'round' allows that, a numeric type without scale keeps it exact)"
            )
        if on_round is not None:
            on_round()
        return rounded

    return coerce


def boolean(**_: Any) -> Coercion:
    """0/1 and the words true/false/t/f/yes/no/y/n/on/off (any case, trimmed)."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is int or (type(v) is float and v.is_integer()):
            if v in (0, 1):
                return bool(v)
        elif isinstance(v, str):
            word = v.strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
        raise Reject(
            f"{_kind(v)} {preview(v)!r} is not a boolean (0/1, true/false, yes/no, on/off)"
        )

    return coerce


def text(
    max_length: int | None = None,
    nul: str = "reject",
    on_strip: Callable[[], None] | None = None,
    **_: Any,
) -> Coercion:
    """Text: blobs decoded as UTF-8, numbers in their text form, NUL per policy (each value
    stripped under `nul = "strip"` counted through on_strip), length enforced.
    """

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        if type(v) is not str:
            v = str(v) if type(v) in (int, float) else _text_value(v, "text")
        if "\x00" in v:
            if nul != "strip":
                raise Reject("text contains NUL (\\x00), which Postgres text cannot store")
            v = v.replace("\x00", "")
            if on_strip is not None:
                on_strip()
        if max_length is not None and len(v) > max_length:
            raise Reject(f"value of {len(v):,} characters is longer than the column's {max_length}")
        return v

    return coerce


def char(
    width: int,
    char_padding: str = "reject",
    on_pad: Callable[[], None] | None = None,
    nul: str = "reject",
    **_: Any,
) -> Coercion:
    """Text for a char(n) column, which reads back every value exactly n characters long.

    Postgres pads a shorter value with spaces and drops spaces beyond n: such a value is
    rejected, or, with `char_padding = "pad"`, padded or trimmed to n here and counted by
    `on_pad`. A value n long (as SQL Server's char(n) gives them, already padded) passes as it is.
    """
    as_text = text(nul=nul)

    def coerce(v: Any) -> Any:
        s = as_text(v)
        if s is None or len(s) == width:
            return s
        if s[width:].strip(" "):
            raise Reject(f"value of {len(s):,} characters is longer than the column's {width}")
        fitted = s[:width].ljust(width)
        if char_padding != "pad":
            raise Reject(
                f"{preview(s)!r} would read back from char({width}) as {preview(fitted)!r} "
                f"(char_padding = 'pad' allows that, varchar({width}) keeps it exact)"
            )
        if on_pad is not None:
            on_pad()
        return fitted

    return coerce


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_(**_: Any) -> Coercion:
    """JSON text validated as Postgres jsonb accepts it (no NaN, no \\u0000); numbers kept."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        if type(v) in (int, float):
            if type(v) is float and (v != v or v in (float("inf"), float("-inf"))):
                raise Reject(f"{v!r} is not valid JSON")
            return json.dumps(v)
        s = _text_value(v, "JSON")
        if "\x00" in s or "\\u0000" in s:
            raise Reject("JSON contains NUL (\\u0000), which Postgres jsonb cannot store")
        try:
            json.loads(s, parse_constant=_no_constants)
        except ValueError as exc:
            raise Reject(f"invalid JSON: {exc}") from None
        return s

    return coerce


def bytes_(**_: Any) -> Coercion:
    """Blobs as they are; text stored in a BLOB column kept as its UTF-8 bytes."""

    def coerce(v: Any) -> Any:
        if v is None or type(v) is bytes:
            return v
        if isinstance(v, str):
            return v.encode("utf-8")
        if isinstance(v, InvalidText):
            return v.raw
        if type(v) in (int, float):
            return str(v).encode("ascii")
        raise Reject(f"{_kind(v)} is not binary")

    return coerce


def uuid_(**_: Any) -> Coercion:
    """UUID text (any of Python's accepted spellings) or 16-byte blobs."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        try:
            if isinstance(v, bytes):
                if len(v) == 16:
                    return uuid.UUID(bytes=v)
                return uuid.UUID(v.decode("ascii"))
            if isinstance(v, str):
                return uuid.UUID(v.strip())
        except (ValueError, UnicodeDecodeError):
            pass
        raise Reject(f"{_kind(v)} {preview(v)!r} is not a UUID")

    return coerce


def parse_datetime_text(s: str) -> datetime:
    """ISO-8601 as SQLite apps write it: 'YYYY-MM-DD[
    T]HH:MM[:SS[.f…]][Z|±HH:MM]', or a bare date.
    """
    s = s.strip()
    if len(s) < 10 or s[4] != "-" or s[7] != "-":
        raise ValueError(f"not an ISO-8601 date: {s!r}")
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    m = re.search(r"\.(\d{7,})", s)
    if m:  # nanoseconds: Python keeps microseconds; more digits would be silently cut, so refuse
        digits = m.group(1)
        if digits[6:].strip("0"):
            raise ValueError(f"sub-microsecond precision in {s!r} cannot be kept")
        s = s[: m.start(1)] + digits[:6] + s[m.end(1) :]
    return datetime.fromisoformat(s)


# Text Postgres reads exactly as the date/time coercions would: the loader passes a batch through
# untouched when every value matches its column's guard, and coerces it otherwise (typemap sets the
# guard). ASCII digits only; hours, minutes and seconds in range (Postgres would roll 24:00 or a
# leap second over to the next day); at most microseconds; offsets as Python reads them too.
_GUARD_DATE = r"\d{4}-\d\d-\d\d"
_GUARD_TIME = r"(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
GUARDS: dict[str, Callable[[str], Any]] = {
    "iso_date": re.compile(_GUARD_DATE, re.ASCII).fullmatch,
    "iso_naive": re.compile(rf"{_GUARD_DATE}(?:[ T]{_GUARD_TIME})?", re.ASCII).fullmatch,
    "iso_offset": re.compile(
        rf"{_GUARD_DATE}[ T]{_GUARD_TIME}(?:[Zz]|[+-](?:[01]\d|2[0-3]):?[0-5]\d)", re.ASCII
    ).fullmatch,
}


def passes_guard(guard: str, values: Iterable[Any]) -> bool:
    """True when every non-NULL value is text of the guard's form (so it needs no coercion).

    "plain_text": text without NUL, checked by joining the batch's values in C (join refuses
    anything but str) and looking for a NUL in the result: no Python call per value.
    """
    try:
        if guard == "plain_text":
            return "\x00" not in "\x01".join(filter(None, values))
        return all(map(GUARDS[guard], filter(_IS_VALUE, values)))
    except TypeError:  # not text: a number, bytes, an undecodable value
        return False


_IS_VALUE = partial(is_not, None)  # "not NULL", without a Python call per value


def _from_epoch(v: float | int, unit: str) -> datetime:
    if unit == "seconds":
        return UNIX_EPOCH + timedelta(seconds=v)
    if unit == "milliseconds":
        return UNIX_EPOCH + timedelta(milliseconds=v)
    if unit == "microseconds":
        return UNIX_EPOCH + timedelta(microseconds=v)
    if unit == "julian":
        return UNIX_EPOCH + timedelta(days=v - JULIAN_UNIX_EPOCH)
    raise ValueError(f"unknown epoch unit {unit}")


def _datetime_of(v: Any, epoch: str | None) -> datetime:
    if isinstance(v, datetime):  # a driver's value (SQL Server datetime2, datetimeoffset)
        return v
    if type(v) in (int, float):
        if epoch is None:
            raise Reject(f"number {v!r} in a date/time column (no epoch unit detected)")
        try:
            return _from_epoch(v, epoch).replace(tzinfo=UTC)
        except (OverflowError, ValueError):
            raise Reject(f"number {v!r} is out of range as epoch {epoch}") from None
    s = _text_value(v, "a timestamp")
    try:
        return parse_datetime_text(s)
    except ValueError as exc:
        raise Reject(f"unparseable timestamp {preview(s)!r}: {exc}") from None


def timestamp(naive_timezone: str = "UTC", epoch: str | None = None, **_: Any) -> Coercion:
    """timestamp (no zone): values with an offset
    converted to UTC, epochs converted, others parsed.
    """

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        dt = _datetime_of(v, epoch)
        if dt.tzinfo is not None:
            dt = dt.astimezone(UTC).replace(tzinfo=None)
        return dt

    return coerce


def timestamptz(naive_timezone: str = "UTC", epoch: str | None = None, **_: Any) -> Coercion:
    """timestamptz: naive values read in naive_timezone (UTC by default), offsets kept."""
    zone = ZoneInfo(naive_timezone)

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        dt = _datetime_of(v, epoch)
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=zone)

    return coerce


def date_(epoch: str | None = None, **_: Any) -> Coercion:
    """Dates: 'YYYY-MM-DD', or a timestamp at midnight; a time of day is rejected, not dropped."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        dt = _datetime_of(v, epoch)
        if dt.timetz().replace(tzinfo=None) != time(0):
            raise Reject(f"{preview(v)!r} has a time of day; a date column would drop it")
        return dt.date()

    return coerce


def time_(**_: Any) -> Coercion:
    """Times of day 'HH:MM[:SS[.f]]'."""

    def coerce(v: Any) -> Any:
        if v is None:
            return None
        s = _text_value(v, "a time")
        try:
            return time.fromisoformat(s.strip())
        except ValueError:
            raise Reject(f"unparseable time {preview(s)!r}") from None

    return coerce


BUILDERS: dict[str, Callable[..., Coercion]] = {
    "integer": integer,
    "float": float_,
    "float4": float4,
    "decimal": decimal,
    "boolean": boolean,
    "text": text,
    "char": char,
    "json": json_,
    "bytes": bytes_,
    "uuid": uuid_,
    "timestamp": timestamp,
    "timestamptz": timestamptz,
    "date": date_,
    "time": time_,
}


def register(name: str, builder: Callable[..., Coercion]) -> None:
    """Add a coercion family (e.g. vectors) to the table `build` looks in."""
    BUILDERS[name] = builder


def build(name: str, options: dict[str, Any]) -> Coercion | None:
    """The coercion called `name` with its options; None for identity."""
    if name == "identity":
        return None
    try:
        builder = BUILDERS[name]
    except KeyError:
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError("coercion", name, ["identity", *BUILDERS]) from None
    return builder(**options)


def compile_row(
    offset: int, coercions: list[Coercion | None]
) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """One function per table: drops the key prefix and applies each column's coercion."""
    if all(c is None for c in coercions):
        return lambda row: row[offset:]
    env: dict[str, Any] = {}
    parts = []
    for i, fn in enumerate(coercions):
        if fn is None:
            parts.append(f"row[{offset + i}]")
        else:
            env[f"c{i}"] = fn
            parts.append(f"c{i}(row[{offset + i}])")
    source = f"def transform(row):\n    return ({', '.join(parts)},)\n"
    exec(compile(source, "<cutover row transform>", "exec"), env)  # generated from indexes only
    transform: Callable[[tuple[Any, ...]], tuple[Any, ...]] = env["transform"]
    return transform
