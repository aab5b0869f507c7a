"""Issue 13 items 6 and 7: legal schemas never crash; an empty source is a blocker."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod
from cutover.errors import CutoverError
from cutover.sources.sqlite import SqliteSource

ROWS = 500  # over the date sample (200), so the sample strides over the rowid alias


def test_a_keyword_rowid_alias_is_quoted_in_every_query(make_sqlite, load, pg):
    src = make_sqlite(
        'CREATE TABLE "group" ("order" INTEGER PRIMARY KEY, "select" TEXT, at TEXT);',
        rows={
            'INSERT INTO "group" VALUES (?, ?, ?)': [
                (i, f"s{i}", f"2024-01-{i % 28 + 1:02d} 10:00:00") for i in range(1, ROWS + 1)
            ]
        },
    )
    (res,) = load(src).reports[0].results
    assert (res.read, res.written, res.rejected) == (ROWS, ROWS, 0)
    assert rows(pg, 'SELECT max("order") FROM "group"') == [(ROWS,)]


@pytest.mark.parametrize(
    ("ddl", "has_rowid", "autoincrement"),
    [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT DEFAULT 'without rowid')", True, False),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT DEFAULT 'AUTOINCREMENT')", True, False),
        ('CREATE TABLE t (id INTEGER PRIMARY KEY, "WITHOUT ROWID" TEXT)', True, False),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT)", True, True),
        ("CREATE TABLE t (id TEXT PRIMARY KEY, note TEXT) WITHOUT ROWID", False, False),
        ("CREATE TABLE t (id TEXT PRIMARY KEY, note TEXT)\n  without\n  rowid", False, False),
    ],
)
def test_without_rowid_and_autoincrement_come_from_the_catalog_not_the_text(
    make_sqlite, ddl, has_rowid, autoincrement
):
    (table,) = SqliteSource(make_sqlite(ddl)).reflect().tables
    assert table.has_rowid is has_rowid
    assert table.column("id").autoincrement is autoincrement


def test_a_default_saying_without_rowid_loads(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT DEFAULT 'without rowid');"
        "INSERT INTO t (note) VALUES ('a'), (NULL);"
        "INSERT INTO t DEFAULT VALUES;"
    )
    (res,) = load(src).reports[0].results
    assert (res.read, res.written) == (3, 3)
    assert rows(pg, "SELECT note FROM t ORDER BY id") == [("a",), (None,), ("without rowid",)]


def plan_of(tmp_path: Path, source: Path, pg_url: str):
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\n'
        f'source = "sqlite:///{source}"\ntarget = "{pg_url}"\n',
        encoding="utf-8",
    )
    config = config_mod.load(cfg)
    return config, commands.plan(config, tmp_path / ".cutover")


@pytest.mark.parametrize("kind", ["zero-bytes", "no-tables", "only-a-view"])
def test_an_empty_or_table_less_source_is_a_blocker_in_plan_and_phase_2(
    tmp_path, pg_url, make_sqlite, kind
):
    if kind == "zero-bytes":
        source = tmp_path / "empty.db"
        source.write_bytes(b"")
    elif kind == "no-tables":
        source = make_sqlite("PRAGMA user_version = 3;")
    else:
        source = make_sqlite("CREATE VIEW v AS SELECT 1 AS one;")
    config, plan = plan_of(tmp_path, source, pg_url)
    (db,) = plan.databases
    (blocker,) = [f for f in db.findings if f.code == "no_tables"]
    assert blocker.severity == "blocker" and str(source.name) in blocker.message
    with pytest.raises(CutoverError) as info:
        commands.run_phase2(config, tmp_path / ".cutover", yes=True)
    assert "no tables" in str(info.value) and "\n" not in str(info.value)
