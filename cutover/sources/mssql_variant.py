"""sql_variant read by each value's base type, without loss.

A `CAST(v AS nvarchar(4000))` renders a variant holding a datetime as `Jan  1 2024 10:00AM` (no
seconds) and a float in 6 digits. The reader instead asks `SQL_VARIANT_PROPERTY(v, 'BaseType')`
and converts each base type with a style that keeps everything: ISO 8601 with every fractional
digit for dates and times (126), float and real with all their digits (style 3, SQL Server 2016+),
money with 4 decimals (2), binary as 0x hex (1), character data through its own type. The result
comes as `basetype|text` in UTF-16 bytes, like every other character value the reader selects.

The value carried is that text (the column stays `text`, reported as `lossy_type`): exact for
every base type; floats are rewritten as Python's shortest text that reads back the same number.
"""

from __future__ import annotations

import struct
from typing import Any

from cutover.values.coerce import InvalidText

SEPARATOR = "|"  # between the base type and the value's text (no type name holds it)

# base type → the T-SQL rendering of the variant `{q}` as that type, losing nothing
_RENDER = {
    "datetime": "CONVERT(nvarchar(40), CAST({q} AS datetime), 126)",
    "smalldatetime": "CONVERT(nvarchar(40), CAST({q} AS smalldatetime), 126)",
    "datetime2": "CONVERT(nvarchar(40), CAST({q} AS datetime2(7)), 126)",
    "datetimeoffset": "CONVERT(nvarchar(40), CAST({q} AS datetimeoffset(7)), 126)",
    "date": "CONVERT(nvarchar(10), CAST({q} AS date), 23)",
    "time": "CAST(CAST({q} AS time(7)) AS nvarchar(16))",
    "float": "CONVERT(nvarchar(40), CAST({q} AS float), 3)",
    "real": "CONVERT(nvarchar(40), CAST({q} AS real), 3)",
    "money": "CONVERT(nvarchar(40), CAST({q} AS money), 2)",
    "smallmoney": "CONVERT(nvarchar(40), CAST({q} AS smallmoney), 2)",
    "binary": "CONVERT(nvarchar(max), CAST({q} AS varbinary(8000)), 1)",
    "varbinary": "CONVERT(nvarchar(max), CAST({q} AS varbinary(8000)), 1)",
    "char": "CAST(CAST({q} AS varchar(8000)) AS nvarchar(max))",
    "varchar": "CAST(CAST({q} AS varchar(8000)) AS nvarchar(max))",
}
# ints, bit, decimal and numeric (every digit of the scale), nchar, nvarchar, uniqueidentifier
_OTHERWISE = "CAST({q} AS nvarchar(4000))"
REAL_DIGITS = range(6, 10)  # a float32 reads back exactly from at most 9 significant digits


def select(quoted: str) -> str:
    """The reader's SELECT expression for a sql_variant column: `basetype|text` as UTF-16 bytes."""
    base = f"CAST(SQL_VARIANT_PROPERTY({quoted}, 'BaseType') AS nvarchar(128))"
    whens = " ".join(
        f"WHEN N'{name}' THEN {render.format(q=quoted)}" for name, render in _RENDER.items()
    )
    case = f"CASE {base} {whens} ELSE {_OTHERWISE.format(q=quoted)} END"
    return f"CAST({base} + N'{SEPARATOR}' + {case} AS varbinary(max))"


def _shortest_real(text: str) -> str:
    """A float32's shortest decimal text that reads back as the same float32."""
    value = struct.unpack("<f", struct.pack("<f", float(text)))[0]
    for digits in REAL_DIGITS:
        candidate = f"{value:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(candidate)))[0] == value:
            return repr(float(candidate))
    return repr(value)


def value_text(base: str, text: str) -> str:
    """The carried text of a variant value of this base type."""
    if base == "float":
        return repr(float(text))
    if base == "real":
        return _shortest_real(text)
    return text


def decode(text: Any) -> Any:
    """`basetype|text` (already decoded from UTF-16) → the value's exact text; NULL and bad bytes
    as they are.
    """
    if text is None or isinstance(text, InvalidText):
        return text
    base, sep, rest = str(text).partition(SEPARATOR)
    if not sep:
        return text  # not from select(): a value read some other way
    return value_text(base, rest)
