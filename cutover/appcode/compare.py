"""Values of a source row and a target row in one
canonical form per type family, so equal means equal.

The family is the Postgres result column's type. SQLite's side is read the way the load coerced
it: 1/0 is a boolean, JSON text is parsed (key order does not matter), ISO or epoch text is an
instant (naive means UTC), exact numbers compare exactly and a float on either side compares at
float precision. Anything else keeps its Python type, so text never equals a number.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

# Postgres type OIDs (pg_type.oid) → comparison family.
OID_FAMILIES = {
    16: "boolean",
    20: "number",
    21: "number",
    23: "number",
    26: "number",
    700: "number",
    701: "number",
    1700: "number",
    25: "text",
    1042: "text",
    1043: "text",
    19: "text",
    114: "json",
    3802: "json",
    1184: "timestamp",
    1114: "timestamp",
    1082: "date",
    1083: "time",
    17: "bytes",
    2950: "uuid",
}
BOOL_WORDS = {
    "true": True,
    "t": True,
    "yes": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "0": False,
}
# Epoch magnitudes, as the type map reads them: seconds until 1e11 (year 5138), then ms, then µs.
EPOCH_DIVISORS = ((1e11, 1), (1e14, 1_000), (1e17, 1_000_000))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Canon = tuple[Any, ...]


FLOAT_DIGITS = 15  # significant digits a double always keeps (DBL_DIG)


def family_of_oid(oid: int) -> str:
    """The comparison family of a Postgres result column type."""
    return OID_FAMILIES.get(oid, "other")


def canon(value: Any, family: str) -> Canon:
    """A hashable canonical form of one value read as
    its family; unreadable values keep their type.
    """
    if value is None:
        return ("null",)
    try:
        reader = _READERS.get(family)
        if reader is not None:
            return reader(value)
    except (ValueError, TypeError, ArithmeticError, json.JSONDecodeError):
        pass
    return _raw(value)


def _raw(value: Any) -> Canon:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return _number(value)
    if isinstance(value, memoryview):
        value = bytes(value)
    return ("raw", type(value).__name__, value if _hashable(value) else repr(value))


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _boolean(value: Any) -> Canon:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return ("bool", bool(value))
    if isinstance(value, str) and value.strip().lower() in BOOL_WORDS:
        return ("bool", BOOL_WORDS[value.strip().lower()])
    return _raw(value)


def _number(value: Any) -> Canon:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return _raw(value)
    if isinstance(value, int):
        return ("num", value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return ("num", float(value))
        if value == value.to_integral_value():
            return ("num", int(value))
    # A double holds 15 significant digits for sure: SQLite's float SUM/AVG of REAL values and
    # Postgres' exact numeric of the same values agree there (37.620000000000005 vs 37.62).
    as_float = float(f"{float(value):.{FLOAT_DIGITS}g}")
    return ("num", int(as_float) if as_float.is_integer() else as_float)


def _text(value: Any) -> Canon:
    return ("text", value) if isinstance(value, str) else _raw(value)


def _json(value: Any) -> Canon:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # SQLite's json_extract returns a JSON string as plain text
        value = parsed if isinstance(parsed, (dict, list)) else value
    return (
        "json",
        json.dumps(_normal_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    )


def _normal_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normal_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal_json(v) for v in value]
    if (
        isinstance(value, (float, Decimal))
        and not isinstance(value, bool)
        and float(value).is_integer()
    ):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _instant(value: Any) -> Canon:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        divisor = next((d for limit, d in EPOCH_DIVISORS if abs(value) < limit), 1_000_000)
        return ("instant", round(value * 1_000_000 / divisor))
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        return _raw(value)
    delta = moment - _EPOCH
    return ("instant", (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _date(value: Any) -> Canon:
    if isinstance(value, datetime):
        return _raw(value)
    if isinstance(value, date):
        return ("date", value.isoformat())
    if isinstance(value, str) and len(value.strip()) == 10:
        return ("date", date.fromisoformat(value.strip()).isoformat())
    return _raw(value)


def _time(value: Any) -> Canon:
    if isinstance(value, time):
        return ("time", value.isoformat())
    if isinstance(value, str):
        return ("time", time.fromisoformat(value.strip()).isoformat())
    return _raw(value)


def _bytes(value: Any) -> Canon:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ("bytes", bytes(value))
    return _raw(value)


def _uuid(value: Any) -> Canon:
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return ("uuid", str(uuid.UUID(bytes=bytes(value))))
    if isinstance(value, (str, uuid.UUID)):
        return ("uuid", str(uuid.UUID(str(value))))
    return _raw(value)


_READERS = {
    "boolean": _boolean,
    "number": _number,
    "text": _text,
    "json": _json,
    "timestamp": _instant,
    "date": _date,
    "time": _time,
    "bytes": _bytes,
    "uuid": _uuid,
}


def shown(value: Any) -> Any:
    """A value as JSON can carry it, for reports."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value, default=str))
    return str(value)
