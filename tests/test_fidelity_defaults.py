"""Issue 13 item 2: a default Postgres refuses is left out with a finding, never an abort."""

from __future__ import annotations

import pytest
from conftest import rows

from cutover.schema.sqltext import translate_default


@pytest.mark.parametrize(
    ("default", "pg_type", "expected"),
    [
        ('"0"', "integer", "'0'::integer"),
        ('"hello"', "text", "'hello'"),
        ('"it""s"', "text", "'it\"s'"),
    ],
)
def test_a_double_quoted_default_is_the_string_sqlite_reads(default, pg_type, expected):
    assert translate_default(default, pg_type).sql == expected


def column_defaults(pg, table):
    return dict(
        rows(
            pg,
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s",
            table,
        )
    )


def test_defaults_postgres_refuses_are_left_out_and_the_rest_load(make_sqlite, load, pg):
    src = make_sqlite(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            happened_at DATETIME NOT NULL DEFAULT '0000-01-01T00:00:00.000Z',
            sort INTEGER NOT NULL DEFAULT "0",
            rank INTEGER DEFAULT 'abc',
            label TEXT DEFAULT "none",
            created DATETIME DEFAULT CURRENT_TIMESTAMP
        );
        INSERT INTO events (happened_at, sort, rank) VALUES ('2024-01-02 03:04:05', 7, 1);
        INSERT INTO events (happened_at, rank) VALUES ('2024-01-03 00:00:00', 2);
        """
    )
    result = load(src)
    report = result.reports[0]
    assert [(r.read, r.written, r.rejected) for r in report.results] == [(2, 2, 0)]
    refused = {
        f.column: f.message for f in report.plan.findings if f.code == "default_untranslated"
    }
    assert set(refused) == {"happened_at", "rank"}
    assert (
        "events.happened_at" in refused["happened_at"] and "out of range" in refused["happened_at"]
    )
    defaults = column_defaults(pg, "events")
    assert defaults["happened_at"] is None and defaults["rank"] is None
    assert defaults["sort"] == "0" and defaults["label"] == "'none'::text"
    assert "now()" in defaults["created"]
    pg.execute("INSERT INTO events (id, happened_at) VALUES (10, now())")
    assert rows(pg, "SELECT sort, label FROM events WHERE id = 10") == [(0, "none")]


def test_plan_reports_the_refused_default(make_sqlite, tmp_path, pg_url):
    from cutover import commands
    from cutover import config as config_mod

    src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY, d DATE DEFAULT '2024-02-30');")
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\n'
        f'source = "sqlite:///{src}"\ntarget = "{pg_url}"\n',
        encoding="utf-8",
    )
    plan = commands.plan(config_mod.load(cfg), tmp_path / ".cutover")
    (db,) = plan.databases
    (finding,) = [f for f in db.findings if f.code == "default_untranslated"]
    assert (finding.table, finding.column, finding.severity) == ("t", "d", "warning")
