"""Issue 13 item 11: sql_variant is read by each value's base type, without loss.

The values are what pyodbc returns for the reader's SELECT (mssql_variant.select): varbinary,
so bytes of UTF-16 text `basetype|value` as SQL Server renders each base type in its exact style.
"""

from __future__ import annotations

import pytest

from cutover.rows.digest import canon_for
from cutover.sources.mssql_types import ColumnType, decoder, select_expression

VARIANT = ColumnType("sql_variant", 8016)


def driver(text: str) -> bytes:
    """What pyodbc returns for CAST(… AS varbinary(max)) of nvarchar text."""
    return text.encode("utf-16-le")


@pytest.mark.parametrize(
    ("shown", "carried"),
    [
        # CAST(… AS nvarchar(4000)) gave 'Mar  1 2024  9:30AM': seconds and fraction lost
        ("datetime|2024-03-01T09:30:15.123", "2024-03-01T09:30:15.123"),
        ("datetime2|2024-03-01T09:30:15.1234567", "2024-03-01T09:30:15.1234567"),
        ("smalldatetime|2024-03-01T09:30:00", "2024-03-01T09:30:00"),
        ("datetimeoffset|2024-03-01T09:30:15.1234567+09:00", "2024-03-01T09:30:15.1234567+09:00"),
        ("date|2024-02-29", "2024-02-29"),
        ("time|23:59:59.9999999", "23:59:59.9999999"),
        # … and '0.1' for 0.1000000000000000055511151231257827 (6 digits): style 3 keeps all 17
        ("float|1.0000000000000001E-001", "0.1"),
        ("float|3.1415926535897931E+000", "3.141592653589793"),
        ("real|1.23456791E+000", "1.2345679"),
        ("money|12.3456", "12.3456"),
        ("decimal|12345678901234567890.1234567890", "12345678901234567890.1234567890"),
        ("int|-7", "-7"),
        ("bit|1", "1"),
        ("nvarchar|한글 text", "한글 text"),
        ("varchar|plain", "plain"),
        ("varbinary|0x00FF10", "0x00FF10"),
        (
            "uniqueidentifier|6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
        ),
        ("nvarchar|a|b", "a|b"),  # the first separator only
    ],
)
def test_variant_values_keep_every_digit(shown, carried):
    value = decoder(VARIANT)(driver(shown))
    assert value == carried
    assert canon_for("text")(value)


def test_floats_read_back_the_same_number():
    decode = decoder(VARIANT)
    for x in (0.1, 1 / 3, 2.0**-1074, 1.7976931348623157e308, -0.0):
        assert float(decode(driver(f"float|{x:.16E}"))) == x


def test_null_stays_null_and_bad_bytes_stay_flagged():
    flag: list[bool] = []
    decode = decoder(VARIANT, flag)
    assert decode(None) is None
    assert type(decode(b"\x00\xd8")).__name__ == "InvalidText" and flag  # a lone surrogate


def test_the_select_asks_for_the_base_type():
    sql = select_expression(VARIANT, "[v]")
    assert "SQL_VARIANT_PROPERTY([v], 'BaseType')" in sql
    assert "CONVERT(nvarchar(40), CAST([v] AS datetime2(7)), 126)" in sql
    assert "CONVERT(nvarchar(40), CAST([v] AS float), 3)" in sql
    assert sql.startswith("CAST(") and sql.endswith(" AS varbinary(max))")
