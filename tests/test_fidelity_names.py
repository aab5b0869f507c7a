"""Issue 13 item 1: every name cutover derives from user input fits its container."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod
from cutover.schema.migrations import VERSION_NUM_CHARS, revision_ids

LONG_NAMES = [
    "Chinook_Sqlite_AutoIncrementPKs",
    "laravel_file_upload_database",
    "채팅_기록_데이터베이스_아주_긴_이름",
    "A" + "b" * 70,
]


def load_named(tmp_path: Path, pg_url: str, source: Path, name: str) -> commands.Phase2Result:
    """Phase 2 of one database called `name`."""
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "{name}"\nenv_key = "DATABASE_URL"\n'
        f'source = "sqlite:///{source}"\ntarget = "{pg_url}"\n',
        encoding="utf-8",
    )
    return commands.run_phase2(config_mod.load(cfg), tmp_path / ".cutover", yes=True)


@pytest.mark.parametrize("name", LONG_NAMES + ["chat", "Chat-DB", "채팅", "대화"])
def test_revision_ids_fit_alembic_version_num_and_are_stable(name):
    ids = revision_ids(name)
    assert all(len(i) <= VERSION_NUM_CHARS and i.isascii() for i in ids)
    assert ids == revision_ids(name) and ids[0] != ids[1]


def test_revision_ids_keep_short_names_readable_and_tell_non_ascii_names_apart():
    assert revision_ids("chat") == ("chat_0001_tables", "chat_0002_keys")
    assert revision_ids("채팅") != revision_ids("대화")


@pytest.mark.parametrize("name", LONG_NAMES)
def test_a_long_or_non_ascii_database_name_loads_every_table(
    make_sqlite, tmp_path, pg_url, pg, name
):
    long_table = "Customer Relationship Management Interaction History Archive 2024 Q1 — 고객"
    src = make_sqlite(
        f"""
        CREATE TABLE "{long_table}" (id INTEGER PRIMARY KEY, "Mixed Case Name" TEXT UNIQUE);
        CREATE INDEX "{long_table} by mixed case name and a very long suffix"
            ON "{long_table}" ("Mixed Case Name");
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
        INSERT INTO users (email) VALUES ('a@x'), ('b@x');
        INSERT INTO "{long_table}" ("Mixed Case Name") VALUES ('x'), ('y');
        """
    )
    result = load_named(tmp_path, pg_url, src, name)
    report = result.reports[0]
    assert {r.table: (r.read, r.written) for r in report.results} == {
        long_table: (2, 2),
        "users": (2, 2),
    }
    (version,) = rows(pg, "SELECT version_num FROM public.alembic_version")
    assert version[0] == revision_ids(name)[1]
    names = [n for (n,) in rows(pg, "SELECT indexname FROM pg_indexes WHERE schemaname='public'")]
    assert names and all(len(n.encode()) <= 63 for n in names)
    # a second run finds its own revisions again
    again = load_named(tmp_path, pg_url, src, name)
    assert [r.written for r in again.reports[0].results] == [2, 2]


def test_a_column_named_like_a_postgres_system_column_is_renamed(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE VIRTUAL TABLE idx_geom USING rtree(pkid, xmin, xmax, ymin, ymax);"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, ctid TEXT, CMIN INTEGER);"
        "INSERT INTO idx_geom VALUES (1, 0, 1, 0, 1); INSERT INTO t VALUES (1, 'a', 2);"
    )
    report = load(src).reports[0]
    assert [(r.read, r.written) for r in report.results] == [(1, 1), (1, 1)]
    assert rows(pg, "SELECT xmin_2, xmax_2, ymin FROM idx_geom") == [(0.0, 1.0, 0.0)]
    assert rows(pg, 'SELECT ctid_2, "CMIN" FROM t') == [("a", 2)]
    assert ("column", "t.ctid", "t.ctid_2") in report.plan.renames
