"""T-SQL the reader builds: quoting, keyset pages, the single pass, profiling, defaults and checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cutover.errors import SourceError
from cutover.sources.base import BATCH_BYTES
from cutover.sources.mssql import fill_profile, paged
from cutover.sources.mssql_sql import (
    keyset_params,
    keyset_queries,
    portable_expression,
    profile_expressions,
    quote,
    single_pass_query,
    translate_default,
)
from cutover.sources.mssql_types import ColumnType, key_part


def test_quote_doubles_closing_brackets():
    assert quote("Order Details") == "[Order Details]"
    assert quote("a]b") == "[a]]b]"
    assert quote("x]; DROP TABLE t; --") == "[x]]; DROP TABLE t; --]"


def _parts(*types: ColumnType, code_page: int | None = 949, placeholder: str = "?") -> list[Any]:
    parts = [key_part(ct, quote(f"k{i}"), placeholder, code_page) for i, ct in enumerate(types)]
    assert all(p is not None for p in parts)
    return parts


def test_keyset_pages_never_use_offset():
    parts = _parts(ColumnType("int", 4, 10), ColumnType("nvarchar", 100))
    q = keyset_queries(
        "[dbo].[T]", [p.select for p in parts] + ["[v]"], ["[k0]", "[k1]"], parts, "?"
    )
    assert (
        q.first
        == "SELECT TOP (?) [k0], CAST([k1] AS varbinary(max)), [v] FROM [dbo].[T] ORDER BY [k0], [k1]"
    )
    assert "OFFSET" not in q.following
    assert q.following == (
        "SELECT TOP (?) [k0], CAST([k1] AS varbinary(max)), [v] FROM [dbo].[T] "
        "WHERE [k0] >= CAST(? AS int) AND (([k0] > CAST(? AS int)) OR ([k0] = CAST(? AS int) AND [k1] > CAST(CAST(? AS varbinary(max)) AS nvarchar(max)))) "
        "ORDER BY [k0], [k1]"
    )
    assert keyset_params(parts, (7, "가")) == [7, 7, 7, "가".encode("utf-16-le")]


def test_single_column_key_has_one_parameter():
    parts = _parts(ColumnType("bigint", 8, 19), placeholder="%s")
    q = keyset_queries("[dbo].[T]", ["[k0]"], ["[k0]"], parts, "%s")
    assert q.following.endswith("WHERE ([k0] > CAST(%s AS bigint)) ORDER BY [k0]")
    assert keyset_params(parts, (10,)) == [10]


@pytest.mark.parametrize(
    "ct, select, param_sql, value, param",
    [
        (
            ColumnType("datetime", 8, 23, 3),
            "CONVERT(varchar(40), [k0], 126)",
            "CAST(? AS datetime)",
            "2024-01-01T10:00:00.003",
            "2024-01-01T10:00:00.003",
        ),
        (
            ColumnType("datetime2", 8, 27, 7),
            "CONVERT(varchar(40), [k0], 126)",
            "CAST(? AS datetime2(7))",
            "2024-01-01T10:00:00.1234567",
            "2024-01-01T10:00:00.1234567",
        ),
        (
            ColumnType("datetimeoffset", 10, 34, 7),
            "CONVERT(varchar(40), [k0], 127)",
            "CAST(? AS datetimeoffset(7))",
            "2024-01-01T01:00:00.1234567Z",
            "2024-01-01T01:00:00.1234567Z",
        ),
        (
            ColumnType("uniqueidentifier", 16),
            "[k0]",
            "CAST(? AS uniqueidentifier)",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "6f9619ff-8b86-d011-b42d-00c04fc964ff",
        ),
        (
            ColumnType("varchar", 20, collation="Korean_Wansung_CI_AS", code_page=949),
            "CAST([k0] AS varbinary(max))",
            "CAST(CAST(? AS varbinary(max)) AS varchar(max))",
            "한글",
            "한글".encode("cp949"),
        ),
        (
            ColumnType("decimal", 9, 18, 2),
            "[k0]",
            "CAST(? AS decimal(18,2))",
            Decimal("1.50"),
            Decimal("1.50"),
        ),
        (ColumnType("binary", 16), "[k0]", "CAST(? AS varbinary(max))", b"\x01", b"\x01"),
        (
            ColumnType("hierarchyid", 892),
            "CAST([k0] AS varbinary(892))",
            "CAST(CAST(? AS varbinary(892)) AS hierarchyid)",
            b"\x58",
            b"\x58",
        ),
    ],
    ids=[
        "datetime",
        "datetime2",
        "datetimeoffset",
        "uniqueidentifier",
        "varchar-cp949",
        "decimal",
        "binary",
        "hierarchyid",
    ],
)
def test_key_parameters_compare_exactly(ct, select, param_sql, value, param):
    """Temporal keys travel as ISO text with all their digits (a datetime2 parameter is off by up to 1/300 s against datetime)."""
    (part,) = _parts(ct)
    decoded = part.decode(value) if part.decode else value
    assert part.select == select and part.param_sql == param_sql and part.to_param(decoded) == param


def test_text_key_in_another_code_page_than_the_database_cannot_page():
    assert (
        key_part(
            ColumnType("varchar", 20, collation="SQL_Latin1_General_CP1_CI_AS", code_page=1252),
            "[k]",
            "?",
            949,
        )
        is None
    )
    assert (
        key_part(
            ColumnType(
                "varchar", 20, collation="Latin1_General_100_CI_AS_SC_UTF8", code_page=65001
            ),
            "[k]",
            "?",
            65001,
        )
        is not None
    )
    assert key_part(ColumnType("xml", -1), "[k]", "?", 949) is None


class KeysetModel:
    """What SQL Server answers to the keyset queries, over a sorted list of single-column keys."""

    def __init__(self, keys: list[int]) -> None:
        self.keys = sorted(keys)
        self.calls: list[list[Any]] = []

    def fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.calls.append(params)
        top, *rest = params
        after = rest[-1] if rest else None
        rows = [(k, f"v{k}") for k in self.keys if after is None or k > after]
        return rows[:top]


def test_paging_reads_every_row_once_in_bounded_pages():
    model = KeysetModel(list(range(1, 24)))
    parts = _parts(ColumnType("int", 4, 10))
    pages = list(paged(model.fetch, "first", "following", parts, 5, None, "T"))
    assert [len(p) for p in pages] == [4, 5, 5, 5, 4]  # a probe page of PROBE_ROWS first
    assert [r[0] for p in pages for r in p] == list(range(1, 24))
    assert model.calls[0] == [4] and model.calls[1] == [5, 4]


def test_paging_resumes_after_a_key_and_stops_on_a_short_page():
    model = KeysetModel(list(range(1, 11)))
    pages = list(
        paged(model.fetch, "first", "following", _parts(ColumnType("int", 4, 10)), 5, (5,), "T")
    )
    assert [r[0] for p in pages for r in p] == [6, 7, 8, 9, 10]
    assert model.calls == [[4, 5], [5, 9]]  # a probe page, then a short one ends the read


class WideModel(KeysetModel):
    """Keys whose rows each hold a 1 MB varbinary(max) value, as pyodbc returns it (bytes)."""

    def fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return [(k, b"\x00" * ROW_BYTES) for k, _ in super().fetch(sql, params)]


ROW_BYTES = 1024 * 1024


def test_paging_keeps_pages_within_the_byte_budget():
    model = WideModel(list(range(1, 101)))
    parts = _parts(ColumnType("int", 4, 10))
    pages = list(paged(model.fetch, "first", "following", parts, 5_000, None, "T"))
    assert [r[0] for p in pages for r in p] == list(range(1, 101))
    assert max(sum(len(r[1]) for r in p) for p in pages) <= BATCH_BYTES
    assert max(call[0] for call in model.calls) <= BATCH_BYTES // ROW_BYTES


def test_paging_that_does_not_advance_stops_with_an_error():
    def stuck(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return [(1, "a"), (1, "b")]

    with pytest.raises(SourceError, match="did not advance"):
        list(paged(stuck, "first", "following", _parts(ColumnType("int", 4, 10)), 2, None, "T"))


def test_single_pass_numbers_rows_in_a_stable_order():
    sql = single_pass_query(
        "[dbo].[Heap]", ["[a]", "CAST([b] AS varbinary(max))"], ["[a]", "[b]"], "?"
    )
    assert sql == (
        "SELECT q.[_cutover_row], [c0], [c1] FROM (SELECT ROW_NUMBER() OVER (ORDER BY [a], [b]) AS [_cutover_row], "
        "[a] AS [c0], CAST([b] AS varbinary(max)) AS [c1] FROM [dbo].[Heap]) q WHERE q.[_cutover_row] > ? ORDER BY q.[_cutover_row]"
    )
    assert "ORDER BY (SELECT NULL)" in single_pass_query("[dbo].[Heap]", ["[x]"], [], "?")


def test_profile_expressions_and_their_row():
    ct = ColumnType("nvarchar", 200, collation="Korean_Wansung_CI_AS")
    exprs = dict(
        profile_expressions(
            ct, "[c]", {"text_length", "nul", "json", "dates", "uuid"}, json_functions=True
        )
    )
    assert exprs["nulls"] == "COUNT_BIG(CASE WHEN [c] IS NULL THEN 1 END)"
    assert exprs["max_text_length"] == "MAX(DATALENGTH([c]) / 2)"
    assert "NCHAR(0)" in exprs["nul_chars"] and "Latin1_General_BIN2" in exprs["nul_chars"]
    assert "ISJSON([c]) = 1" in exprs["json_containers"]
    assert set(exprs) == {
        "nulls",
        "max_text_length",
        "nul_chars",
        "json_containers",
        "json_invalid",
        "iso_dates",
        "date_only",
        "tz_offsets",
        "uuid_like",
    }
    old = dict(profile_expressions(ct, "[c]", {"json"}, json_functions=False))
    assert (
        "ISJSON" not in old["json_invalid"]
    )  # before SQL Server 2016 every value is validated in Python
    ints = dict(
        profile_expressions(
            ColumnType("int", 4, 10), "[n]", {"int_range", "bools", "num_range"}, True
        )
    )
    assert (
        ints["min_int"] == "MIN([n])"
        and ints["zero_one"] == "COUNT_BIG(CASE WHEN [n] IN (0, 1) THEN 1 END)"
    )
    assert set(
        dict(
            profile_expressions(
                ColumnType("datetime2", 8, 27, 7), "[d]", {"dates", "num_range"}, True
            )
        )
    ) == {"nulls"}
    profile = fill_profile(
        10,
        [("c", "nulls"), ("c", "max_text_length"), ("n", "nulls"), ("n", "min_num")],
        (2, 40, 0, 3),
        {"c": "texts", "n": "integers"},
        set(),
    )
    assert profile.columns["c"].texts == 8 and profile.columns["c"].max_text_length == 40
    assert profile.columns["n"].integers == 10 and profile.columns["n"].min_num == 3.0


@pytest.mark.parametrize(
    "definition, pg_type, expected",
    [
        ("(getdate())", "timestamp", "LOCALTIMESTAMP"),
        ("(getdate())", "timestamptz", "now()"),
        ("(sysdatetime())", "timestamp", "LOCALTIMESTAMP"),
        ("(getutcdate())", "timestamp", "timezone('utc', now())"),
        ("(sysutcdatetime())", "timestamptz", "now()"),
        ("(sysdatetimeoffset())", "timestamptz", "now()"),
        ("(getdate())", "date", "CURRENT_DATE"),
        ("(newid())", "uuid", "gen_random_uuid()"),
        ("(newsequentialid())", "uuid", "gen_random_uuid()"),
        ("((0))", "integer", "0"),
        ("((-1))", "integer", "-1"),
        ("((1))", "boolean", "true"),
        ("(CONVERT([bit],(0)))", "boolean", "false"),
        ("((0.00))", "numeric(10,2)", "0.00"),
        ("(N'미정')", "varchar(20)", "'미정'"),
        ("('')", "text", "''"),
        ("('1900-01-01')", "timestamp", "'1900-01-01'::timestamp"),
        ("(CONVERT([datetime2](7),getdate()))", "timestamp", "LOCALTIMESTAMP"),
        ("(0x00FF)", "bytea", "'\\x00FF'::bytea"),
        ("(NULL)", "text", None),
    ],
)
def test_defaults(definition, pg_type, expected):
    translated = translate_default(definition, pg_type)
    assert translated.sql == expected and (translated.reason is None)


@pytest.mark.parametrize(
    "definition, pg_type",
    [
        ("(suser_sname())", "text"),
        ("(newid())", "varchar(36)"),
        ("(getdate())", "text"),
        ("(NEXT VALUE FOR [dbo].[seq])", "bigint"),
    ],
)
def test_defaults_without_equivalent_are_reported(definition, pg_type):
    translated = translate_default(definition, pg_type)
    assert translated.sql is None and translated.reason


@pytest.mark.parametrize(
    "definition, expected",
    [
        ("([price]>=(0))", "[price] >= 0"),
        ("([flag]=(1))", "[flag] = 1"),
        ("([a]>(-1) AND [b]<=(10.5))", "[a] > - 1 AND [b] <= 10.5"),
        ("([status]=N'열림' OR [status]='closed')", "[status] = '열림' OR [status] = 'closed'"),
        ("(isnull([x],(0))>(0))", "COALESCE([x], 0) > 0"),
        ("([code] like 'A%')", "[code] like 'A%'"),
        ("([code] like '[A-Z]%')", None),
        ("(([first]+' ')+[last]<>'')", None),
        ("([a]!<(0))", None),
    ],
)
def test_portable_expressions(definition, expected):
    assert portable_expression(definition) == expected


def test_until_cuts_the_keyset_pages_at_the_chunk_bound() -> None:
    from cutover.sources.base import Batch
    from cutover.sources.mssql import MssqlSource

    src = object.__new__(MssqlSource)  # no server: only the page-cutting logic is under test
    pages = [Batch([(1, "a"), (2, "b")], 1), Batch([(3, "c"), (4, "d")], 1), Batch([(5, "e")], 1)]
    src._read = lambda table, columns, batch_size, after=None: iter(pages)  # type: ignore[method-assign]
    got = [r for b in src.read(None, ["v"], batch_size=2, until=(4,)) for r in b.rows]  # type: ignore[arg-type]
    assert got == [(1, "a"), (2, "b"), (3, "c")]
