"""Every SQL Server type, from the Python value a driver really returns to the Postgres column it lands in.

Value shapes, per driver (no server needed to know them):

- pyodbc 5.x with Microsoft ODBC Driver 18 or FreeTDS 1.3+ at TDS 7.4 (pyodbc's getdata.cpp and
  its wiki's Data Types table): bit → bool; tinyint…bigint → int; decimal/numeric/money/smallmoney →
  decimal.Decimal (read as text, exact); float/real → float (real widened to double); date → date;
  time → time (SQL_SS_TIME2, nanoseconds cut to microseconds); datetime/datetime2/smalldatetime →
  naive datetime; datetimeoffset → the 20-byte SQL_SS_TIMESTAMPOFFSET_STRUCT handed to the output
  converter for type -155; uniqueidentifier → str like '6F9619FF-8B86-D011-B42D-00C04FC964FF'
  (uuid.UUID with pyodbc.native_uuid = True, the 16 GUID-struct bytes to a SQL_GUID converter);
  binary/varbinary/image/rowversion → bytes. Character columns are selected as varbinary, so
  pyodbc hands over their stored bytes.
- pymssql 2.2+ (its _mssql.pyx): uniqueidentifier → uuid.UUID (from bytes_le); datetimeoffset →
  aware datetime.
- FreeTDS below TDS 7.3 (TDS_Version = 7.2): date, time, datetime2 and datetimeoffset → str.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from cutover.config import Settings
from cutover.rows.digest import canon_for
from cutover.schema.model import Column, Table
from cutover.schema.typemap import plan_column, wanted_stats
from cutover.sources.mssql import fill_profile
from cutover.sources.mssql_types import (
    CodePageBytes,
    ColumnType,
    codec_for,
    datetimeoffset_from_struct,
    datetimeoffset_to_struct,
    declared_type,
    decoder,
    guid,
    profile_class,
)
from cutover.values.coerce import InvalidText, build

KST = timezone(timedelta(hours=9))
GUID_TEXT = "6F9619FF-8B86-D011-B42D-00C04FC964FF"  # how SQL Server (and pyodbc's str) spells it
GUID = uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
GUID_STRUCT = bytes.fromhex(
    "FF19966F868B11D0B42D00C04FC964FF"
)  # Data1..3 little-endian, Data4 as is
KOREAN = "Korean_Wansung_CI_AS"
LATIN = "Latin1_General_CI_AS"
UTF8 = "Latin1_General_100_CI_AS_SC_UTF8"

# (SQL Server type, the driver's value, the value cutover carries, Postgres type)
CASES: list[tuple[ColumnType, Any, Any, str]] = [
    (ColumnType("bit"), True, True, "boolean"),
    (ColumnType("bit"), False, False, "boolean"),
    (ColumnType("tinyint", 1, 3), 255, 255, "smallint"),
    (ColumnType("smallint", 2, 5), -32768, -32768, "smallint"),
    (ColumnType("int", 4, 10), 2147483647, 2147483647, "integer"),
    (ColumnType("bigint", 8, 19), 9223372036854775807, 9223372036854775807, "bigint"),
    (
        ColumnType("decimal", 17, 38, 10),
        Decimal("1234567890123456789012345678.0123456789"),
        Decimal("1234567890123456789012345678.0123456789"),
        "numeric(38,10)",
    ),
    (ColumnType("numeric", 5, 5, 2), Decimal("-123.45"), Decimal("-123.45"), "numeric(5,2)"),
    (
        ColumnType("money", 8, 19, 4),
        Decimal("922337203685477.5807"),
        Decimal("922337203685477.5807"),
        "numeric",
    ),
    (
        ColumnType("smallmoney", 4, 10, 4),
        Decimal("-214748.3648"),
        Decimal("-214748.3648"),
        "numeric",
    ),
    (
        ColumnType("float", 8, 53),
        1.7976931348623157e308,
        1.7976931348623157e308,
        "double precision",
    ),
    (
        ColumnType("real", 4, 24),
        0.10000000149011612,
        0.10000000149011612,
        "double precision",
    ),  # float32 0.1, widened by the driver
    (ColumnType("date", 3, 10), date(2024, 2, 29), date(2024, 2, 29), "date"),
    (ColumnType("time", 5, 16, 7), time(23, 59, 59, 999999), time(23, 59, 59, 999999), "time"),
    (
        ColumnType("datetime", 8, 23, 3),
        datetime(2024, 1, 1, 10, 0, 0, 3000),
        datetime(2024, 1, 1, 10, 0, 0, 3000),
        "timestamp",
    ),
    (
        ColumnType("datetime2", 8, 27, 7),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        "timestamp",
    ),
    (
        ColumnType("smalldatetime", 4, 16),
        datetime(2079, 6, 6, 23, 59),
        datetime(2079, 6, 6, 23, 59),
        "timestamp",
    ),
    (
        ColumnType("datetimeoffset", 10, 34, 7),
        datetimeoffset_to_struct(datetime(2024, 3, 1, 9, 30, 0, 123456, KST)),
        datetime(2024, 3, 1, 9, 30, 0, 123456, KST),
        "timestamptz",
    ),
    (ColumnType("uniqueidentifier", 16), GUID_TEXT, GUID, "uuid"),
    (
        ColumnType("char", 10, collation=KOREAN, code_page=949),
        "가나다라".encode("cp949") + b"  ",
        "가나다라  ",
        "varchar(10)",
    ),
    (
        ColumnType("varchar", 50, collation=KOREAN, code_page=949),
        "안녕하세요, 세계".encode("cp949"),
        "안녕하세요, 세계",
        "varchar(50)",
    ),
    (
        ColumnType("varchar", -1, collation=LATIN, code_page=1252),
        "café – 10 €".encode("cp1252"),
        "café – 10 €",
        "text",
    ),
    (
        ColumnType("varchar", 20, collation=UTF8, code_page=65001),
        "한국어 ✓".encode(),
        "한국어 ✓",
        "varchar(20)",
    ),
    (
        ColumnType("text", 16, collation=KOREAN, code_page=949),
        "본문".encode("cp949"),
        "본문",
        "text",
    ),
    (
        ColumnType("nchar", 20, collation=KOREAN),
        "가나".ljust(10).encode("utf-16-le"),
        "가나".ljust(10),
        "varchar(10)",
    ),
    (
        ColumnType("nvarchar", 100, collation=KOREAN),
        "이모지 😀".encode("utf-16-le"),
        "이모지 😀",
        "varchar(50)",
    ),
    (ColumnType("nvarchar", -1, collation=KOREAN), "긴 글".encode("utf-16-le"), "긴 글", "text"),
    (ColumnType("ntext", 16, collation=KOREAN), "옛 글".encode("utf-16-le"), "옛 글", "text"),
    (ColumnType("binary", 4), b"\x00\x01\x02\x03", b"\x00\x01\x02\x03", "bytea"),
    (ColumnType("varbinary", -1), b"\xff" * 3, b"\xff" * 3, "bytea"),
    (ColumnType("image", 16), b"\x89PNG", b"\x89PNG", "bytea"),
    (
        ColumnType("timestamp", 8),
        b"\x00\x00\x00\x00\x00\x00\x07\xd1",
        b"\x00\x00\x00\x00\x00\x00\x07\xd1",
        "bytea",
    ),
    (ColumnType("xml", -1), '<a x="1">한</a>'.encode("utf-16-le"), '<a x="1">한</a>', "xml"),
    # what the reader's SELECT returns for a variant holding an int (mssql_variant.select)
    (ColumnType("sql_variant", 8016), "int|42".encode("utf-16-le"), "42", "text"),
    (ColumnType("hierarchyid", 892), "/1/3/".encode("utf-16-le"), "/1/3/", "text"),
    (
        ColumnType("geography", -1),
        "SRID=4326;POINT (126.978 37.566)".encode("utf-16-le"),
        "SRID=4326;POINT (126.978 37.566)",
        "text",
    ),
]


def _decode(ct: ColumnType, raw: Any) -> Any:
    fn = decoder(ct)
    return raw if fn is None else fn(raw)


@pytest.mark.parametrize(
    "ct, raw, carried, pg_type", CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)]
)
def test_driver_value_is_decoded_mapped_and_carried_as_is(
    ct: ColumnType, raw: Any, carried: Any, pg_type: str
) -> None:
    value = _decode(ct, raw)
    assert value == carried and type(value) is type(carried)
    settings = Settings()
    column = Column("c", declared_type(ct), collation=ct.collation)
    table = Table(
        "t", [Column("id", "INT", nullable=False), column], primary_key=["id"], has_rowid=False
    )
    stats = wanted_stats(column, settings, None)
    profile = fill_profile(
        3, [("c", "nulls")], (0,), {"c": profile_class(ct)}, {"c"} if ct.name == "bit" else set()
    ).columns["c"]
    if "nul" in stats:
        profile.nul_chars = 0  # what the profile's NUL count says of these clean values
    plan, _findings = plan_column(table, column, profile, settings, None, "c")
    assert plan.pg_type == pg_type, (declared_type(ct), stats)
    # the decoded value needs no coercion: it goes to COPY as it is
    assert build(plan.coercion, plan.options) is None, plan.coercion
    assert canon_for(plan.pg_type)(value)  # and verify can canonicalize it


def test_every_type_of_the_issue_has_a_case() -> None:
    covered = {c[0].name for c in CASES}
    issue = {
        "bit",
        "tinyint",
        "smallint",
        "int",
        "bigint",
        "decimal",
        "numeric",
        "money",
        "smallmoney",
        "float",
        "real",
        "date",
        "time",
        "datetime",
        "datetime2",
        "smalldatetime",
        "datetimeoffset",
        "uniqueidentifier",
        "char",
        "varchar",
        "text",
        "nchar",
        "nvarchar",
        "ntext",
        "binary",
        "varbinary",
        "image",
        "xml",
        "sql_variant",
        "hierarchyid",
        "geography",
        "timestamp",
    }
    assert issue <= covered


def test_datetimeoffset_struct_from_the_odbc_driver() -> None:
    # SQL_SS_TIMESTAMPOFFSET_STRUCT for 2024-03-01 09:30:00.1234567 -05:30: the minutes carry the sign too
    raw = bytes.fromhex(
        "e8070300010009001e000000" + (123456700).to_bytes(4, "little").hex() + "fbffe2ff"
    )
    value = datetimeoffset_from_struct(raw)
    assert value == datetime(
        2024, 3, 1, 9, 30, 0, 123456, timezone(-timedelta(hours=5, minutes=30))
    )
    assert value is not None and value.utcoffset() == -timedelta(hours=5, minutes=30)
    assert datetimeoffset_from_struct(None) is None
    assert (
        datetimeoffset_to_struct(value) == raw[:12] + (123456000).to_bytes(4, "little") + raw[16:]
    )


def test_datetimeoffset_from_pymssql_is_already_aware() -> None:
    aware = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert _decode(ColumnType("datetimeoffset", 10, 34, 7), aware) is aware


@pytest.mark.parametrize(
    "raw",
    [GUID_TEXT, GUID_TEXT.lower(), GUID, GUID_STRUCT, "{" + GUID_TEXT + "}"],
    ids=["pyodbc-str", "lower", "native_uuid/pymssql", "SQL_C_GUID-bytes", "braced"],
)
def test_uniqueidentifier_in_every_driver_shape_is_the_same_uuid(raw: Any) -> None:
    assert guid(raw) == GUID


def test_guid_bytes_are_not_big_endian() -> None:
    # the trap: uuid.UUID(bytes=…) on SQL Server's struct bytes swaps the first three groups
    assert uuid.UUID(bytes=GUID_STRUCT) != GUID and guid(GUID_STRUCT) == GUID


@pytest.mark.parametrize(
    "ct, text, expected",
    [
        (ColumnType("date", 3, 10), "2024-02-29", date(2024, 2, 29)),
        (ColumnType("time", 5, 16, 7), "23:59:59.1234567", time(23, 59, 59, 123456)),
        (
            ColumnType("datetime2", 8, 27, 7),
            "2024-01-01 10:00:00.1234567",
            datetime(2024, 1, 1, 10, 0, 0, 123456),
        ),
        (
            ColumnType("datetimeoffset", 10, 34, 7),
            "2024-01-01 10:00:00.1234567 +09:00",
            datetime(2024, 1, 1, 10, 0, 0, 123456, KST),
        ),
    ],
    ids=["date", "time", "datetime2", "datetimeoffset"],
)
def test_freetds_below_tds_7_3_returns_text(ct: ColumnType, text: str, expected: Any) -> None:
    assert _decode(ct, text) == expected


@pytest.mark.parametrize(
    "collation, page, codec",
    [
        ("Korean_Wansung_CI_AS", 949, "cp949"),
        ("Korean_Wansung_CI_AS", None, "cp949"),
        ("Korean_90_CI_AS", None, "cp949"),
        ("Latin1_General_CI_AS", None, "cp1252"),
        ("SQL_Latin1_General_CP1_CI_AS", None, "cp1252"),
        ("SQL_Latin1_General_CP437_BIN", None, "cp437"),
        ("Latin1_General_100_CI_AS_SC_UTF8", 65001, "utf-8"),
        ("Korean_100_CI_AS_SC_UTF8", None, "utf-8"),
        ("Japanese_CI_AS", None, "cp932"),
        ("Chinese_PRC_CI_AS", None, "cp936"),
        ("Cyrillic_General_CI_AS", None, "cp1251"),
    ],
)
def test_code_page_of_a_collation(collation: str, page: int | None, codec: str) -> None:
    assert codec_for(collation, page) == codec


def test_undecodable_varchar_bytes_are_kept_and_flag_the_batch() -> None:
    flag: list[bool] = []
    fn = decoder(ColumnType("varchar", 10, collation=KOREAN, code_page=949), flag)
    assert fn is not None
    bad = "한".encode("cp949") + b"\xff\xff"
    value = fn(bad)
    assert isinstance(value, InvalidText) and bytes(value.raw) == bad and flag == [True]
    # invalid_utf8 = "replace" decodes with replacement characters, in the column's code page
    assert (
        isinstance(value.raw, CodePageBytes)
        and value.raw.decode("utf-8", errors="replace") == "한\ufffd\ufffd"
    )


def test_cp1252_bytes_windows_maps_to_c1_controls() -> None:
    fn = decoder(ColumnType("varchar", 10, collation=LATIN, code_page=1252))
    assert fn is not None and fn(b"\x81\x8d\x8f\x90\x9d") == "\x81\x8d\x8f\x90\x9d"


def test_unpaired_surrogate_in_nvarchar_is_invalid_text() -> None:
    fn = decoder(ColumnType("nvarchar", 20))
    assert fn is not None and isinstance(fn(b"\x00\xd8a\x00"), InvalidText)


def test_nul_in_nvarchar_is_kept_for_the_text_policy() -> None:
    fn = decoder(ColumnType("nvarchar", 20))
    assert fn is not None and fn("a\x00b".encode("utf-16-le")) == "a\x00b"


def test_declared_types_for_the_rule_table() -> None:
    assert declared_type(ColumnType("nvarchar", -1)) == "NVARCHAR"
    assert declared_type(ColumnType("nvarchar", 200)) == "NVARCHAR(100)"
    assert declared_type(ColumnType("varbinary", -1)) == "VARBINARY"
    assert declared_type(ColumnType("datetime2", 8, 27, 3)) == "DATETIME2(3)"
    assert declared_type(ColumnType("timestamp", 8)) == "ROWVERSION"
    assert declared_type(ColumnType("decimal", 9, 18, 2)) == "DECIMAL(18,2)"
    assert (
        ColumnType("nvarchar", 200).sql == "nvarchar(100)"
        and ColumnType("varchar", -1).sql == "varchar(max)"
    )


def test_pyodbc_api_the_reader_relies_on() -> None:
    """pyodbc's constants and converter API (skipped where libodbc is not installed)."""
    try:
        import pyodbc
    except ImportError as exc:
        pytest.skip(
            f"pyodbc cannot load libodbc ({exc}); apt-get install unixodbc to run this check"
        )
    assert pyodbc.SQL_GUID == -11 and pyodbc.native_uuid is False
    assert hasattr(pyodbc.Connection, "add_output_converter")


def test_decimal_38_keeps_every_digit_in_verify() -> None:
    # Python's default 28-digit context would round both to the same text and hide a difference
    a, b = (
        Decimal("1234567890123456789012345678.0123456789"),
        Decimal("1234567890123456789012345678.0123456788"),
    )
    for pg_type in ("numeric(38,10)", "numeric"):
        assert canon_for(pg_type)(a) != canon_for(pg_type)(b)
