"""Issue 13 item 3: the type the app reads back outranks the declared type, losslessly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod

SORT_ROWS = 923


def verify_ok(tmp_path: Path) -> bool:
    """Parity of the load the `load` fixture just ran."""
    return commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover").ok


def column_type(pg, table: str, column: str) -> str:
    (found,) = rows(
        pg,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s",
        table,
        column,
    )
    return found[0]


CASES = [
    pytest.param("INTEGER", ["b", "a", "c"], "text", ["b", "a", "c"], 3, id="text-in-integer"),
    pytest.param("INTEGER", [1, "x", 3], "text", ["1", "x", "3"], 1, id="some-text-in-integer"),
    pytest.param("BLOB", [7, 2**40, -3], "bigint", [7, 2**40, -3], 3, id="integers-in-blob"),
    pytest.param(
        "INTEGER",
        [1, 2.5, 2**62],
        "numeric",
        [Decimal(1), Decimal("2.5"), Decimal(2**62)],
        1,
        id="reals-in-integer",
    ),
    pytest.param("REAL", [1.5, "n/a"], "text", ["1.5", "n/a"], 1, id="text-in-real"),
    pytest.param("NUMERIC(10,2)", [1.25, "TBD"], "text", ["1.25", "TBD"], 1, id="text-in-numeric"),
]


@pytest.mark.parametrize("declared, values, pg_type, expected, foreign", CASES)
def test_values_contradicting_the_declared_type_are_carried_as_stored(
    make_sqlite, load, pg, tmp_path, declared, values, pg_type, expected, foreign
):
    src = make_sqlite(
        f"CREATE TABLE t (id INTEGER PRIMARY KEY, v {declared});",
        rows={"INSERT INTO t VALUES (?, ?)": list(enumerate(values, start=1))},
    )
    report = load(src).reports[0]
    (res,) = report.results
    assert (res.read, res.written, res.rejected) == (len(values), len(values), 0)
    assert column_type(pg, "t", "v") == pg_type
    assert [v for (v,) in rows(pg, "SELECT v FROM t ORDER BY id")] == expected
    (finding,) = [f for f in report.plan.findings if f.code == "dynamic_typing"]
    assert (finding.table, finding.column, finding.count) == ("t", "v", foreign)
    assert 'columns."t.v" = "' in (finding.fix or "")
    assert verify_ok(tmp_path)


def test_a_sort_field_of_text_in_an_integer_column_loses_no_row(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE cards (id INTEGER PRIMARY KEY, sfld INTEGER NOT NULL, note TEXT);",
        rows={
            "INSERT INTO cards VALUES (?, ?, ?)": [
                (i, f"front {i:04d}", "x") for i in range(1, SORT_ROWS + 1)
            ]
        },
    )
    report = load(src).reports[0]
    (res,) = report.results
    assert (res.written, res.rejected) == (SORT_ROWS, 0)
    (finding,) = [f for f in report.plan.findings if f.code == "dynamic_typing"]
    assert finding.count == SORT_ROWS and "sfld" in finding.message
    assert rows(pg, "SELECT sfld FROM cards WHERE id = 5") == [("front 0005",)]


def test_the_override_enforces_the_declared_type_and_rejects_what_does_not_fit(
    make_sqlite, load, pg
):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, 1), (2, "two"), (3, 3)]},
    )
    report = load(src, 'columns."t.v" = "integer"').reports[0]
    (res,) = report.results
    assert (res.written, res.rejected) == (2, 1)
    assert column_type(pg, "t", "v") == "integer"
    assert not [f for f in report.plan.findings if f.code == "dynamic_typing" and f.count == 0]
