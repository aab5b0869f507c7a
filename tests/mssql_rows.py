"""A SQL Server catalog as its sys.* queries return it (pyodbc rows: bit → bool, tinyint → int), and a
source serving it with driver-shaped values, for tests that need no server.

The rows follow the column order documented on each query in cutover/sources/mssql_catalog.py.
The database is a small chat backend with Korean text in Korean_Wansung_CI_AS columns; its data
rows hold what pyodbc returns for the reader's SELECT (character columns cast to varbinary, so bytes
in the column's code page; datetimeoffset as the ODBC struct the output converter receives).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from cutover.schema import sqltext
from cutover.schema.model import Schema, Table, TableProfile
from cutover.sources import mssql_catalog as catalog
from cutover.sources import mssql_facts as facts
from cutover.sources.base import Batch, SourceInfo
from cutover.sources.mssql import fill_profile
from cutover.sources.mssql_sql import ROW_NUMBER, translate_default
from cutover.sources.mssql_types import datetimeoffset_to_struct, decoder, profile_class
from cutover.values.coerce import InvalidText

KST = timezone(timedelta(hours=9))
K, L, U, S = (
    "Korean_Wansung_CI_AS",
    "Latin1_General_CI_AS",
    "Latin1_General_100_CI_AS_SC_UTF8",
    "SQL_Latin1_General_CP1_CI_AS",
)

DATABASE = (
    "chat",
    "16.0.4135.4",
    "Developer Edition (64-bit)",
    K,
    949,
    "OFF",
    False,
    160,
    16777216,
)

TABLES = [
    (101, "Users", 0, None, False, "DURABLE"),
    (102, "Orders", 0, None, False, "DURABLE"),
    (103, "AuditLog", 0, None, False, "DURABLE"),
    (104, "Prices", 2, "PricesHistory", False, "DURABLE"),
    (105, "PricesHistory", 1, None, False, "DURABLE"),
    (106, "SessionCache", 0, None, True, "SCHEMA_ONLY"),
    (107, "UserAccounts", 0, None, False, "DURABLE"),
    (108, "user_accounts", 0, None, False, "DURABLE"),
]


def col(
    oid: int,
    name: str,
    type_name: str,
    max_length: int = 4,
    precision: int = 0,
    scale: int = 0,
    collation: str | None = None,
    code_page: int | None = None,
    *,
    nullable: bool = True,
    identity: tuple[int, int, int | None] | None = None,
    computed: str | None = None,
    hidden: bool = False,
    generated: int = 0,
    default: str | None = None,
) -> tuple[Any, ...]:
    """One COLUMNS_SQL row."""
    seed, inc, last = (
        (
            Decimal(identity[0]),
            Decimal(identity[1]),
            Decimal(identity[2]) if identity[2] is not None else None,
        )
        if identity
        else (None, None, None)
    )
    return (
        oid,
        name,
        type_name,
        max_length,
        precision,
        scale,
        collation,
        code_page,
        nullable,
        identity is not None,
        computed is not None,
        hidden,
        generated,
        seed,
        inc,
        last,
        computed,
        True if computed else None,
        default,
        None,
    )


COLUMNS = [
    col(101, "id", "int", 4, 10, nullable=False, identity=(1, 1, 3)),
    col(101, "email", "nvarchar", 400, collation=K, code_page=949, nullable=False),
    col(101, "name", "varchar", 50, collation=K, code_page=949),
    col(101, "is_active", "bit", 1, 1, nullable=False, default="((1))"),
    col(101, "balance", "money", 8, 19, 4, nullable=False, default="((0))"),
    col(101, "created", "datetime2", 8, 27, 7, nullable=False, default="(sysdatetime())"),
    col(102, "id", "bigint", 8, 19, nullable=False, identity=(1000, 10, 1010)),
    col(102, "user_id", "int", 4, 10, nullable=False),
    col(102, "total", "decimal", 9, 18, 2, nullable=False),
    col(
        102,
        "status",
        "varchar",
        10,
        collation=L,
        code_page=1252,
        nullable=False,
        default="('open')",
    ),
    col(102, "code", "char", 4, collation=K, code_page=949),
    col(102, "qty", "int", 4, 10, nullable=False, default="((1))"),
    col(102, "price", "smallmoney", 4, 10, 4, nullable=False),
    col(102, "amount", "money", 8, 19, 4, computed="([qty]*[price])"),
    col(102, "row_ver", "timestamp", 8, nullable=False),
    col(
        102, "placed", "datetimeoffset", 10, 34, 7, nullable=False, default="(sysdatetimeoffset())"
    ),
    col(102, "note", "nvarchar", -1, collation=K, code_page=949),
    col(103, "event_id", "uniqueidentifier", 16, nullable=False, default="(newid())"),
    col(103, "payload", "xml", -1),
    col(103, "at", "datetimeoffset", 10, 34, 7),
    col(103, "loc", "geography", -1),
    col(103, "node", "hierarchyid", 892),
    col(103, "extra", "sql_variant", 8016),
    col(103, "blob", "varbinary", -1),
    col(103, "img", "image", 16),
    col(103, "ratio", "float", 8, 53),
    col(103, "small", "real", 4, 24),
    col(103, "born", "date", 3, 10),
    col(103, "alarm", "time", 5, 16, 7),
    col(103, "legacy", "datetime", 8, 23, 3, default="(getdate())"),
    col(103, "short", "smalldatetime", 4, 16),
    col(103, "tiny", "tinyint", 1, 3),
    col(103, "small_n", "smallint", 2, 5),
    col(103, "memo", "text", 16, collation=K, code_page=949),
    col(103, "old_memo", "ntext", 16, collation=K, code_page=949),
    col(103, "fixed", "binary", 4),
    col(103, "utf8", "varchar", 20, collation=U, code_page=65001),
    col(103, "latin", "varchar", 20, collation=L, code_page=1252),
    col(103, "ncode", "nchar", 6, collation=K, code_page=949),
    col(104, "sku", "varchar", 20, collation=S, code_page=1252, nullable=False),
    col(104, "price", "decimal", 17, 38, 10, nullable=False),
    col(104, "valid_from", "datetime2", 8, 27, 7, nullable=False, hidden=True, generated=1),
    col(104, "valid_to", "datetime2", 8, 27, 7, nullable=False, hidden=True, generated=2),
    col(105, "sku", "varchar", 20, collation=S, code_page=1252, nullable=False),
    col(105, "price", "decimal", 17, 38, 10, nullable=False),
    col(105, "valid_from", "datetime2", 8, 27, 7, nullable=False),
    col(105, "valid_to", "datetime2", 8, 27, 7, nullable=False),
    col(106, "token", "nvarchar", 128, collation=K, code_page=949, nullable=False),
    col(106, "data", "varbinary", -1),
    col(107, "id", "int", 4, 10, nullable=False),
    col(108, "id", "int", 4, 10, nullable=False),
]

INDEXES = [
    (101, "PK_Users", 1, True, True, False, None, False, 1, False, False, "id"),
    (101, "UQ_Users_email", 2, True, False, True, None, False, 1, False, False, "email"),
    (102, "PK_Orders", 1, True, True, False, None, False, 1, False, False, "id"),
    (
        102,
        "IX_Orders_open",
        2,
        False,
        False,
        False,
        "([status]='open')",
        False,
        1,
        False,
        False,
        "user_id",
    ),
    (
        102,
        "IX_Orders_open",
        2,
        False,
        False,
        False,
        "([status]='open')",
        False,
        0,
        True,
        False,
        "total",
    ),  # INCLUDE (total)
    (102, "IX_Orders_placed", 2, False, False, False, None, False, 1, False, True, "placed"),
    (102, "NCCI_Orders", 6, False, False, False, None, False, 0, False, False, "total"),
    (102, "NCCI_Orders", 6, False, False, False, None, False, 0, False, False, "qty"),
    (104, "PK_Prices", 1, True, True, False, None, False, 1, False, False, "sku"),
    (106, "PK_SessionCache", 7, True, True, False, None, False, 1, False, False, "token"),
    (107, "PK_UserAccounts", 1, True, True, False, None, False, 1, False, False, "id"),
    (108, "PK_user_accounts", 1, True, True, False, None, False, 1, False, False, "id"),
]

FOREIGN_KEYS = [
    (102, "FK_Orders_Users", "dbo", "Users", "CASCADE", "NO_ACTION", False, False, "user_id", "id")
]

CHECKS = [
    (101, "CK_Users_balance_old", "([balance]<(1000000))", True, False),
    (101, "CK_Users_name", "(len([name])>(0))", False, False),
    (102, "CK_Orders_code", "([code] like '[A-Z]%')", False, False),
    (102, "CK_Orders_status", "([status]='closed' OR [status]='open')", False, False),
    (102, "CK_Orders_total", "([total]>=(0))", False, False),
]

TRIGGERS = [
    (
        102,
        "TR_Orders_audit",
        False,
        False,
        "CREATE TRIGGER TR_Orders_audit ON Orders AFTER UPDATE AS SELECT 1",
    )
]
OBJECTS = [
    ("FN", "fn_total", "CREATE FUNCTION …"),
    ("P", "usp_close_order", "CREATE PROCEDURE …"),
    ("V", "vw_open_orders", "CREATE VIEW vw_open_orders AS SELECT …"),
]
SCHEMAS = [("dbo", 8), ("sales", 2)]


def catalog_rows() -> catalog.CatalogRows:
    """The dbo schema's catalog rows."""
    return catalog.CatalogRows(
        TABLES, COLUMNS, INDEXES, FOREIGN_KEYS, CHECKS, TRIGGERS, OBJECTS, SCHEMAS
    )


def reflection() -> catalog.Reflection:
    """The reflected dbo schema."""
    return catalog.reflect_rows("dbo", catalog_rows(), facts.DatabaseFacts.from_row(DATABASE))


def _k(text: str) -> bytes:
    return text.encode("cp949")


def _w(text: str) -> bytes:
    return text.encode("utf-16-le")


ORDER_PLACED = datetime(2024, 3, 1, 9, 30, 0, 123456, KST)

# values as pyodbc returns them for the reader's SELECT, one tuple per row in column order
DATA: dict[str, list[tuple[Any, ...]]] = {
    "Users": [
        (
            1,
            _w("kim@example.com"),
            _k("김철수"),
            True,
            Decimal("1000.5000"),
            datetime(2024, 1, 1, 9, 0, 0, 123456),
        ),
        (
            2,
            _w("LEE@example.com"),
            _k("이영희"),
            False,
            Decimal("0.0000"),
            datetime(2024, 1, 2, 9, 0),
        ),
        (3, _w("park@example.com"), None, True, Decimal("-5.2500"), datetime(2024, 1, 3, 9, 0)),
    ],
    "Orders": [
        (
            1000,
            1,
            Decimal("12.50"),
            b"open",
            _k("AB12"),
            2,
            Decimal("6.2500"),
            Decimal("12.5000"),
            b"\x00" * 7 + b"\x01",
            datetimeoffset_to_struct(ORDER_PLACED),
            _w("배송 메모 😀"),
        ),
        (
            1010,
            2,
            Decimal("9999999999999999.99"),
            b"closed",
            None,
            1,
            Decimal("214748.3647"),
            Decimal("214748.3647"),
            b"\x00" * 7 + b"\x02",
            datetimeoffset_to_struct(ORDER_PLACED.replace(tzinfo=UTC)),
            None,
        ),
    ],
    "AuditLog": [
        (
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            _w('<e kind="login">성공</e>'),
            datetimeoffset_to_struct(
                datetime(2024, 5, 5, 23, 59, 59, 999999, timezone(-timedelta(hours=5, minutes=30)))
            ),
            _w("SRID=4326;POINT (126.978 37.566)"),
            _w("/1/3/"),
            _w("42"),
            b"\x00\xff",
            b"\x89PNG",
            1.7976931348623157e308,
            0.10000000149011612,
            date(2024, 2, 29),
            time(23, 59, 59, 999999),
            datetime(2024, 1, 1, 10, 0, 0, 3000),
            datetime(2079, 6, 6, 23, 59),
            255,
            -32768,
            _k("긴 본문"),
            _w("옛 본문"),
            b"\x00\x01\x02\x03",
            "한국어 ✓".encode(),
            "café €".encode("cp1252"),
            _w("가나 "),
        ),
        ("00000000-0000-0000-0000-000000000000",) + (None,) * 21,
    ],
    "Prices": [
        (
            b"SKU-1",
            Decimal("1234567890123456789012345678.0123456789"),
            datetime(2024, 1, 1),
            datetime(9999, 12, 31, 23, 59, 59, 999999),
        )
    ],
    "PricesHistory": [
        (b"SKU-1", Decimal("1.0000000000"), datetime(2023, 1, 1), datetime(2024, 1, 1))
    ],
    "SessionCache": [(_w("tok-1"), b"\x01")],
    "UserAccounts": [(1,)],
    "user_accounts": [(1,), (2,)],
}


class StaticSource:
    """The reader's behaviour over the rows above: decoding, keys, profile classes, identities, defaults."""

    kind = "mssql"

    def __init__(self, data: dict[str, list[tuple[Any, ...]]] | None = None) -> None:
        self._reflection = reflection()
        self.data = DATA if data is None else data

    def describe(self) -> SourceInfo:
        return SourceInfo("mssql", "SQL Server 16.0 (rows)", None)

    def reflect(self) -> Schema:
        return self._reflection.schema

    def count(self, table: Table) -> int:
        return len(self.data[table.name])

    def key_columns(self, table: Table) -> list[str]:
        return list(self._reflection.tables[table.name].key) or [ROW_NUMBER]

    def _decoded(self, table: Table) -> list[dict[str, Any]]:
        types = self._reflection.tables[table.name].types
        names = [c.name for c in table.columns]
        out = []
        for raw in self.data[table.name]:
            row = {}
            for name, value in zip(names, raw):
                fn = decoder(types[name])
                row[name] = value if fn is None else fn(value)
            out.append(row)
        return out

    def key_range(self, table: Table) -> tuple[Any, Any] | None:
        return None  # one chunk per table: these tables are small

    def read(
        self,
        table: Table,
        columns: list[str],
        *,
        batch_size: int,
        after: tuple[Any, ...] | None = None,
        until: tuple[Any, ...] | None = None,
    ) -> Iterator[Batch]:
        key = self._reflection.tables[table.name].key
        rows = self._decoded(table)
        if key:
            keyed = sorted(((tuple(r[k] for k in key), r) for r in rows), key=lambda kr: kr[0])
        else:
            keyed = [((i,), r) for i, r in enumerate(rows, start=1)]
        out = [
            (*k, *(r[c] for c in columns))
            for k, r in keyed
            if (after is None or k > after) and (until is None or k < until)
        ]
        for i in range(0, len(out), batch_size):
            chunk = out[i : i + batch_size]
            yield Batch(
                chunk, len(key) or 1, any(isinstance(v, InvalidText) for r in chunk for v in r)
            )

    def profile(self, table: Table, wanted: dict[str, set[str]]) -> TableProfile:
        types = self._reflection.tables[table.name].types
        rows = self._decoded(table)
        slots = [(c, "nulls") for c in wanted]
        values = tuple(sum(1 for r in rows if r[c] is None) for c in wanted)
        profile = fill_profile(
            len(rows),
            slots,
            values,
            {c: profile_class(types[c]) for c in wanted},
            {c for c in wanted if types[c].name == "bit"},
        )
        for c, stats in wanted.items():
            if "nul" in stats:  # what the reader's CHARINDEX(CHAR(0), …) count says
                profile.columns[c].nul_chars = sum(
                    1 for r in rows if isinstance(r[c], str) and "\x00" in r[c]
                )
        return profile

    def sample(self, table: Table, column: str, limit: int) -> list[Any]:
        return [r[column] for r in self._decoded(table) if r[column] is not None][:limit]

    def sequence_values(self) -> dict[str, int]:
        return self._reflection.sequence_floors()

    def translate_default(self, default: str, pg_type: str) -> sqltext.DefaultTranslation:
        return translate_default(default, pg_type)

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(sorted(self.data.items())).encode()).hexdigest()[:16]

    def close(self) -> None:
        pass


def xml_supported(pg: Any) -> bool:
    """Whether a Postgres was built with libxml (packaged servers are; the embedded test server is not)."""
    try:
        pg.execute("SELECT '<a/>'::xml")
        return True
    except Exception:
        return False
