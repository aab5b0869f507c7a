"""SQL Server column types: how each is declared to the type map, selected, decoded and compared.

Everything here is a pure function of a column's catalog facts (`ColumnType`) or of the Python
values the drivers return, so it is tested without a server:

- pyodbc (5.x) returns bool for bit, int, decimal.Decimal (also for money), float, datetime.date /
  time / datetime, str for uniqueidentifier (uuid.UUID with ``pyodbc.native_uuid = True``), and
  raises "ODBC SQL type -155 is not yet supported" for datetimeoffset unless an output converter is
  registered: the converter receives the driver's raw 20-byte SQL_SS_TIMESTAMPOFFSET_STRUCT.
- pymssql (2.2+) returns uuid.UUID for uniqueidentifier and aware datetimes for datetimeoffset.
- FreeTDS below TDS 7.3 returns date, time, datetime2 and datetimeoffset as text.

Character data (char, varchar, text, nchar, nvarchar, ntext, xml) is never decoded by a driver:
it is selected as varbinary and decoded here with the code page of the column's collation
(Korean_Wansung → cp949, Latin1_General → cp1252, ``*_UTF8`` → UTF-8, n-types → UTF-16LE). So the
result does not depend on FreeTDS's client charset, the ODBC driver's locale, or pyodbc's
setdecoding, and bytes that the code page cannot decode are caught instead of turned into '?'.
"""

from __future__ import annotations

import codecs
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from cutover.errors import SourceError
from cutover.sources import mssql_variant
from cutover.values.coerce import InvalidText

Decoder = Callable[[Any], Any]

SQL_SS_TIMESTAMPOFFSET = -155  # SQL Server's ODBC type for datetimeoffset (msodbcsql.h, sqlncli.h)
SQL_GUID = -11  # ODBC's uniqueidentifier type: a converter on it receives the 16 raw GUID bytes
_TIMESTAMPOFFSET_STRUCT = struct.Struct(
    "<6hI2h"
)  # year, month, day, hour, minute, second, fraction(ns), tz hour, tz minute

INTEGERS = frozenset({"tinyint", "smallint", "int", "bigint"})
DECIMALS = frozenset({"decimal", "numeric", "money", "smallmoney"})
FLOATS = frozenset({"float", "real"})
CHARS = frozenset({"char", "varchar", "text"})
NCHARS = frozenset({"nchar", "nvarchar", "ntext"})
BINARIES = frozenset({"binary", "varbinary", "image", "timestamp"})  # timestamp = rowversion
TEMPORALS = frozenset({"date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset"})
SPATIAL = frozenset({"geography", "geometry"})
AS_TEXT = (
    frozenset({"sql_variant", "hierarchyid"}) | SPATIAL
)  # carried as their text form, reported
UNORDERABLE = (
    frozenset({"text", "ntext", "image", "xml", "udt"}) | SPATIAL
)  # SQL Server cannot ORDER BY these
UDT = "udt"  # a user-defined CLR type: carried as its serialized bytes, reported

# Code pages of collation families, for when COLLATIONPROPERTY is not available (and for tests).
_COLLATION_CODE_PAGES = (
    ("Korean", 949),
    ("Japanese", 932),
    ("Chinese_PRC", 936),
    ("Chinese_Simplified", 936),
    ("Chinese_Taiwan", 950),
    ("Chinese_Traditional", 950),
    ("Chinese_Hong_Kong", 950),
    ("Cyrillic", 1251),
    ("Ukrainian", 1251),
    ("Macedonian", 1251),
    ("Greek", 1253),
    ("Turkish", 1254),
    ("Azeri_Latin", 1254),
    ("Hebrew", 1255),
    ("Arabic", 1256),
    ("Urdu", 1256),
    ("Estonian", 1257),
    ("Latvian", 1257),
    ("Lithuanian", 1257),
    ("Vietnamese", 1258),
    ("Thai", 874),
    ("Polish", 1250),
    ("Czech", 1250),
    ("Hungarian", 1250),
    ("Croatian", 1250),
    ("Romanian", 1250),
    ("Slovak", 1250),
    ("Slovenian", 1250),
    ("Albanian", 1250),
    ("Bosnian_Latin", 1250),
    ("Serbian_Latin", 1250),
)
_SQL_COLLATION_CP = re.compile(r"^SQL_[A-Za-z0-9]+_(?:General|Pref)?_?CP(\d+)_", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnType:
    """A column's type as sys.columns / sys.types describe it (max_length in bytes, -1 for max)."""

    name: str
    max_length: int = 0
    precision: int = 0
    scale: int = 0
    collation: str | None = None
    code_page: int | None = None

    @property
    def is_max(self) -> bool:
        return self.max_length == -1

    @property
    def length(self) -> int | None:
        """The n of char(n)/nchar(n)/binary(n): characters for n-types, bytes otherwise."""
        if (
            self.is_max
            or self.name not in CHARS | NCHARS | {"binary", "varbinary"}
            or self.name in ("text", "ntext")
        ):
            return None
        return self.max_length // 2 if self.name in NCHARS else self.max_length

    @property
    def sql(self) -> str:
        """The type as T-SQL spells it (for CAST)."""
        n = self.name
        if n in ("decimal", "numeric"):
            return f"{n}({self.precision},{self.scale})"
        if n in ("time", "datetime2", "datetimeoffset"):
            return f"{n}({self.scale})"
        if n in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            return f"{n}({'max' if self.is_max else self.length})"
        if n == "timestamp":
            return "binary(8)"
        return n


def declared_type(ct: ColumnType) -> str:
    """The declared type handed to the type map's rule table (cutover/typemap.py RULES)."""
    if ct.name == "timestamp":
        return "ROWVERSION"
    if ct.name == UDT:
        return "VARBINARY"
    if ct.is_max and ct.name in ("varchar", "nvarchar", "varbinary"):
        return ct.name.upper()  # (max): unbounded, which the rule table spells without a length
    return ct.sql.upper()


def profile_class(ct: ColumnType) -> str | None:
    """Which ColumnProfile storage-class counter a column's non-null values go to.

    Exact numbers (bit, integers, decimal, money) count as `integers` so the type map keeps the
    identity coercion (the values already are Python ints/bools/Decimals); temporal and uuid values
    count nowhere, which is how the type map knows they need no parsing.
    """
    n = ct.name
    if n in INTEGERS or n in DECIMALS or n == "bit":
        return "integers"
    if n in FLOATS:
        return "reals"
    if n in CHARS or n in NCHARS or n == "xml" or n in AS_TEXT:
        return "texts"
    if n in BINARIES or n == UDT:
        return "blobs"
    return None


# -- code pages ------------------------------------------------------------------------------------


def codec_for(collation: str | None, code_page: int | None = None) -> str:
    """The Python codec of a varchar column's bytes:
    from the collation's code page (or its name).
    """
    if collation and re.search(r"_UTF8$", collation, re.IGNORECASE):
        return "utf-8"
    if not code_page and collation:
        code_page = _code_page_of_name(collation)
    if code_page == 65001:
        return "utf-8"
    if not code_page:
        raise SourceError(
            f"cannot tell the code page of collation {collation!r}",
            hint="report it; meanwhile override the column to bytea in cutover.toml",
        )
    name = f"cp{code_page}"
    try:
        codecs.lookup(name)
    except LookupError:
        raise SourceError(
            f"collation {collation} uses code page {code_page}, which Python has no codec for",
            hint="override the column to bytea in cutover.toml",
        ) from None
    return name


def _code_page_of_name(collation: str) -> int | None:
    m = _SQL_COLLATION_CP.match(collation)
    if m:
        return (
            1252 if m.group(1) == "1" else int(m.group(1))
        )  # SQL_Latin1_General_CP1_… is code page 1252
    for prefix, cp in _COLLATION_CODE_PAGES:
        if collation.lower().startswith(prefix.lower()):
            return cp
    if collation.lower().startswith(
        (
            "latin1_general",
            "sql_latin1_general",
            "modern_spanish",
            "traditional_spanish",
            "french",
            "german",
            "danish",
            "finnish",
            "icelandic",
            "norwegian",
            "swedish",
            "dutch",
            "italian",
            "portuguese",
            "english",
        )
    ):
        return 1252
    return None


def _best_fit_c1(exc: UnicodeError) -> tuple[str, int]:
    """Windows maps the five bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) to U+0081…;
    so does SQL Server.
    """
    if isinstance(exc, UnicodeDecodeError) and exc.end - exc.start == 1:
        return chr(exc.object[exc.start]), exc.end
    raise exc


codecs.register_error("cutover_c1", _best_fit_c1)
_SINGLE_BYTE_WINDOWS = re.compile(r"^cp12(5\d)$")


class CodePageBytes(bytes):
    """The original bytes of an undecodable varchar value, remembering their code page.

    The pipeline treats InvalidText by policy: rejected (the reject file keeps these bytes as hex)
    or, with invalid_utf8 = "replace", decoded with replacement characters; `decode` uses the
    column's code page whatever it is asked for, so replacement never garbles the valid characters.
    """

    codec: str = "utf-8"

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:  # noqa: ARG002
        # the code page wins over the encoding asked for
        return bytes(self).decode(self.codec, errors)


def undecodable(raw: bytes, codec: str) -> InvalidText:
    """An InvalidText holding `raw` as CodePageBytes of `codec`."""
    held = CodePageBytes(raw)
    held.codec = codec
    return InvalidText(held)


def text_decoder(codec: str, flag: list[bool] | None = None) -> Decoder:
    """bytes (a varbinary-cast character column) → str, or
    InvalidText when the code page cannot decode them.

    `flag` gets an entry for every undecodable value, so the reader can mark its batch suspect.
    """
    errors = "cutover_c1" if _SINGLE_BYTE_WINDOWS.match(codec) else "strict"

    def decode(v: Any) -> Any:
        if v is None or type(v) is str:
            return v
        try:
            return bytes(v).decode(codec, errors)
        except UnicodeDecodeError:
            if flag is not None:
                flag.append(True)
            return undecodable(bytes(v), codec)

    return decode


# -- non-text values ------------------------------------------------------------------------------


def datetimeoffset_from_struct(raw: bytes | None) -> datetime | None:
    """pyodbc output converter for SQL type -155: SQL_SS_TIMESTAMPOFFSET_STRUCT → aware datetime.

    The struct holds the local date and time at the offset, a fraction in nanoseconds (Python and
    Postgres keep microseconds: the 100-ns digit of datetimeoffset(7) is dropped, as pyodbc does
    for datetime2) and the offset as signed hours and minutes (both negative west of UTC).
    """
    if raw is None:
        return None
    year, month, day, hour, minute, second, fraction, tz_hour, tz_minute = (
        _TIMESTAMPOFFSET_STRUCT.unpack(raw)
    )
    zone = timezone(timedelta(hours=tz_hour, minutes=tz_minute))
    return datetime(year, month, day, hour, minute, second, fraction // 1000, tzinfo=zone)


def datetimeoffset_to_struct(value: datetime) -> bytes:
    """The driver's bytes for an aware datetime (the inverse, for tests and documentation)."""
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = -1 if minutes < 0 else 1
    hours, mins = divmod(abs(minutes), 60)
    return _TIMESTAMPOFFSET_STRUCT.pack(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond * 1000,
        sign * hours,
        sign * mins,
    )


def guid(v: Any) -> uuid.UUID | None:
    """uniqueidentifier → uuid.UUID: pyodbc's str, a native UUID, or the 16 raw bytes of SQL_C_GUID.

    The raw form is Microsoft's GUID struct (Data1, Data2, Data3 little-endian, Data4 as is), so it
    is read with bytes_le; the text forms already are in the canonical order.
    """
    if v is None or isinstance(v, uuid.UUID):
        return v
    if isinstance(v, (bytes, bytearray)):
        if len(v) == 16:
            return uuid.UUID(bytes_le=bytes(v))
        v = bytes(v).decode("ascii")
    return uuid.UUID(str(v).strip())


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _iso(text: str) -> str:
    """SQL Server's text form of a date/time (FreeTDS below TDS 7.3) → what fromisoformat reads.

    The 7th fractional digit (100 ns) is dropped, as pyodbc does for the native types.
    """
    text = _FRACTION.sub(r"\1", text.strip())
    return re.sub(r"\s*([+-]\d\d:\d\d)$", r"\1", text)


def _as_datetime(v: Any) -> Any:
    if isinstance(v, str):
        return datetime.fromisoformat(_iso(v))
    return v


def _as_date(v: Any) -> Any:
    return date.fromisoformat(v.strip()[:10]) if isinstance(v, str) else v


def _as_time(v: Any) -> Any:
    return time.fromisoformat(_iso(v)) if isinstance(v, str) else v


def _as_datetimeoffset(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return datetimeoffset_from_struct(bytes(v))
    return _as_datetime(v)


def _as_decimal(v: Any) -> Any:
    if v is None or type(v) is Decimal or type(v) is int:
        return v
    return Decimal(repr(v)) if type(v) is float else Decimal(str(v).strip())


def _as_bool(v: Any) -> Any:
    return bool(v) if type(v) is int else v


def decoder(ct: ColumnType, flag: list[bool] | None = None) -> Decoder | None:
    """The function turning what a driver returns for this column into the value cutover carries;
    None: as is.
    """
    n = ct.name
    if n in CHARS:
        return text_decoder(codec_for(ct.collation, ct.code_page), flag)
    if n == "sql_variant":
        text = text_decoder("utf-16-le", flag)
        return lambda v: mssql_variant.decode(text(v))
    if n in NCHARS or n == "xml" or n in AS_TEXT:
        return text_decoder("utf-16-le", flag)
    if n == "uniqueidentifier":
        return guid
    if n == "datetimeoffset":
        return _as_datetimeoffset
    if n in ("datetime", "datetime2", "smalldatetime"):
        return _as_datetime
    if n == "date":
        return _as_date
    if n == "time":
        return _as_time
    if n in DECIMALS:
        return _as_decimal
    if n == "bit":
        return _as_bool
    return None


def select_expression(ct: ColumnType, quoted: str) -> str:
    """What the reader selects for a column: character
    data as its bytes, CLR types as their text.
    """
    n = ct.name
    if n in CHARS or n in NCHARS:
        return f"CAST({quoted} AS varbinary(max))"
    if n == "xml":
        return f"CAST(CAST({quoted} AS nvarchar(max)) AS varbinary(max))"
    if n == "sql_variant":
        return mssql_variant.select(quoted)
    if n == "hierarchyid":
        return f"CAST({quoted}.ToString() AS varbinary(max))"
    if n == UDT:
        return f"CAST({quoted} AS varbinary(max))"
    if n in SPATIAL:
        # EWKT: PostGIS reads it as is (SRID kept; Z and M kept by AsTextZM)
        return (
            f"CAST(N'SRID=' + CAST({quoted}.STSrid AS nvarchar(11)) + N';' + "
            f"{quoted}.AsTextZM() AS varbinary(max))"
        )
    return quoted


# -- keys -----------------------------------------------------------------------------------------

# style 126/127: ISO 8601, which CAST reads back the same under any language or DATEFORMAT setting
_KEY_TEXT_STYLE = {
    "datetime": 126,
    "smalldatetime": 126,
    "datetime2": 126,
    "date": 23,
    "datetimeoffset": 127,
}


@dataclass(frozen=True)
class KeyPart:
    """How one key column is selected into the key
    prefix, and compared against the last key seen.
    """

    select: str
    decode: Decoder | None
    param_sql: str
    to_param: Callable[[Any], Any]


def key_part(
    ct: ColumnType,
    quoted: str,
    placeholder: str,
    database_code_page: int | None,
    flag: list[bool] | None = None,
) -> KeyPart | None:
    """The key prefix element for a keyset on this column; None when it cannot be a keyset key.

    Every parameter is cast to the column's exact type (a datetime compared with a datetime2
    parameter is off by up to 1/300 s since SQL Server 2016, which would repeat or skip rows).
    Temporal keys travel as ISO text with every digit the server has; character keys as their
    stored bytes, so nothing depends on how a driver encodes str parameters.
    """
    n = ct.name
    cast = f"CAST({placeholder} AS {ct.sql})"
    if n in INTEGERS or n in DECIMALS or n in FLOATS or n == "bit":
        return KeyPart(quoted, decoder(ct), cast, lambda v: v)
    if n in ("binary", "varbinary", "timestamp"):
        return KeyPart(quoted, None, f"CAST({placeholder} AS varbinary(max))", bytes)
    if n == "uniqueidentifier":
        return KeyPart(quoted, guid, cast, str)
    if n in _KEY_TEXT_STYLE:
        return KeyPart(
            f"CONVERT(varchar(40), {quoted}, {_KEY_TEXT_STYLE[n]})", None, cast, lambda v: v
        )
    if n == "time":
        return KeyPart(f"CAST({quoted} AS varchar(20))", None, cast, lambda v: v)
    if n in ("char", "varchar"):
        codec = codec_for(ct.collation, ct.code_page)
        page = 65001 if codec == "utf-8" else ct.code_page or _code_page_of_name(ct.collation or "")
        if database_code_page is None or page != database_code_page:
            # bytes → varchar takes the database's code page: exact only when it is the column's
            return None
        return KeyPart(
            select_expression(ct, quoted),
            text_decoder(codec, flag),
            f"CAST(CAST({placeholder} AS varbinary(max)) AS varchar(max))",
            _encoder(codec),
        )
    if n in ("nchar", "nvarchar"):
        return KeyPart(
            select_expression(ct, quoted),
            text_decoder("utf-16-le", flag),
            f"CAST(CAST({placeholder} AS varbinary(max)) AS nvarchar(max))",
            _encoder("utf-16-le"),
        )
    if n == "hierarchyid":
        return KeyPart(
            f"CAST({quoted} AS varbinary(892))",
            None,
            f"CAST(CAST({placeholder} AS varbinary(892)) AS hierarchyid)",
            bytes,
        )
    return None


def _encoder(codec: str) -> Callable[[Any], bytes]:
    errors = "cutover_c1_encode" if _SINGLE_BYTE_WINDOWS.match(codec) else "strict"

    def encode(v: Any) -> bytes:
        if isinstance(v, InvalidText):
            return bytes(v.raw)
        return str(v).encode(codec, errors)

    return encode


def _best_fit_c1_encode(exc: UnicodeError) -> tuple[bytes, int]:
    """The inverse of cutover_c1: U+0081 … back to the byte it came from."""
    if (
        isinstance(exc, UnicodeEncodeError)
        and exc.end - exc.start == 1
        and ord(exc.object[exc.start]) < 0x100
    ):
        return bytes([ord(exc.object[exc.start])]), exc.end
    raise exc


codecs.register_error("cutover_c1_encode", _best_fit_c1_encode)
