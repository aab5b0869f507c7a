"""Issue 13 item 9: plan foresees the rows phase 2 rejects, per table and why, cascade included."""

from __future__ import annotations

import json

import jsonschema
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.phases.plan import schema

# users → conversations → messages → embeddings: user 7 has an impossible birthday, 5
# conversations belong to a user that does not exist, one invoice is due on 2024-02-30.
CHAT = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, born DATE);
CREATE TABLE conversations (id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id), title TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id), body TEXT);
CREATE TABLE embeddings (id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id), dims INTEGER);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), due DATE);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO users SELECT i, 'u' || i || '@x', '1990-01-' || printf('%02d', i % 28 + 1) FROM n;
UPDATE users SET born = '1990-02-30' WHERE id = 7;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO conversations SELECT i, (i - 1) / 3 + 1, 'c' || i FROM n;
UPDATE conversations SET user_id = 999 WHERE id IN (50, 51, 52, 53, 54);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 900)
INSERT INTO messages SELECT i, (i - 1) / 3 + 1, 'm' || i FROM n;
INSERT INTO embeddings SELECT id, id, 768 FROM messages;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
INSERT INTO invoices SELECT i, i % 100 + 1, '2024-03-01' FROM n;
UPDATE invoices SET due = '2024-02-30' WHERE id = 200;
"""
PRAGMA_OFF = "PRAGMA foreign_keys = OFF;"
TOLERANCE = 0.05  # the bar: plan within 5 % of what the load rejects


def write_config(tmp_path, src, pg_url):
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\n'
        f'source = "sqlite:///{src}"\ntarget = "{pg_url}"\n',
        encoding="utf-8",
    )
    return config_mod.load(cfg)


def test_plan_foresees_what_the_load_rejects_cascade_included(make_sqlite, tmp_path, pg_url):
    src = make_sqlite(PRAGMA_OFF + CHAT)
    cfg = write_config(tmp_path, src, pg_url)
    plan = commands.plan(cfg, tmp_path / ".cutover")
    (db,) = plan.databases
    foreseen = {t.source: (t.rejects.rows if t.rejects else 0) for t in db.tables}
    # user 7; its 3 conversations + 5 orphans; their 8 × 3 messages; one embedding each; 1 invoice
    # for a bad date and 4 of user 7's invoices in cascade
    assert foreseen == {
        "users": 1,
        "conversations": 8,
        "messages": 24,
        "embeddings": 24,
        "invoices": 5,
    }
    messages = next(t for t in db.tables if t.source == "messages")
    assert messages.rejects is not None and messages.rejects.cascade == 24
    conversations = next(t for t in db.tables if t.source == "conversations")
    assert conversations.rejects is not None
    kinds = {r.kind: r.count for r in conversations.rejects.reasons}
    assert kinds == {"orphan": 5, "cascade": 3}
    blockers = {f.table for f in db.findings if f.code == "rejects_over_threshold"}
    assert blockers == {"conversations", "messages", "embeddings", "invoices"}  # users: 1 % exactly
    (user,) = [f for f in db.findings if f.code == "rejects_expected"]
    assert user.table == "users" and "born" in user.message and "1990-02-30" in user.message
    jsonschema.validate(plan.to_dict(), schema())

    loaded = commands.run_phase2(cfg, tmp_path / ".cutover", yes=True)
    rejected = {r.table: r.rejected for r in loaded.reports[0].results}
    for table, n in rejected.items():
        assert abs(foreseen.get(table, 0) - n) <= TOLERANCE * max(n, 1), (table, n, foreseen)


def test_a_table_under_the_threshold_gets_a_warning_not_a_blocker(make_sqlite, tmp_path, pg_url):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, due DATE);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
        " INSERT INTO t SELECT i, '2024-01-01' FROM n;"
        "UPDATE t SET due = '2024-02-30' WHERE id = 3;"
    )
    plan = commands.plan(write_config(tmp_path, src, pg_url), tmp_path / ".cutover")
    (finding,) = [f for f in plan.databases[0].findings if f.code.startswith("rejects_")]
    assert (finding.code, finding.severity, finding.count) == ("rejects_expected", "warning", 1)
    assert "t.due" not in finding.message and "due" in finding.message


def test_plan_text_and_json_show_the_rejects(make_sqlite, tmp_path, pg_url, monkeypatch):
    src = make_sqlite(PRAGMA_OFF + CHAT)
    write_config(tmp_path, src, pg_url)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["plan"])
    assert result.exit_code == 1, result.output
    assert "Rows phase 2 will reject" in result.output
    assert "rejects_over_threshold" in result.output
    result = runner.invoke(cli, ["plan", "--format", "json"])
    data = json.loads(result.stdout)
    tables = {t["source"]: t["rejects"] for t in data["databases"][0]["tables"]}
    assert tables["embeddings"]["rows"] == 24 and tables["embeddings"]["cascade"] == 24


def test_plan_foresees_the_corpus_ledgers_rejects(tmp_path, pg_url):
    from corpus import CASES

    (case,) = [c for c in CASES if c.name == "edge_orphans_dates"]
    src = case.build(tmp_path)
    cfg = write_config(tmp_path, src, pg_url)
    (db,) = commands.plan(cfg, tmp_path / ".cutover").databases
    foreseen = {t.source: t.rejects.rows for t in db.tables if t.rejects}
    loaded = commands.run_phase2(cfg, tmp_path / ".cutover", yes=True)
    rejected = {r.table: r.rejected for r in loaded.reports[0].results if r.rejected}
    assert foreseen == rejected == {"invoices": 6}


TRICKY = [
    "2024-02-29",
    "2023-02-29",
    "2024-02-30",
    "2024-04-31",
    "2024-13-01",
    "2024-00-10",
    "2024-01-00",
    "0000-01-01",
    "2024-01-01 10:00:00",
    "2024-01-01T10:00:00.123456Z",
    "2024-01-01T10:00:00.1234567",
    "2024-01-01T10:00:00.1234560",
    "2024-01-01 24:00:00",
    "2024-01-01 23:59:60",
    "2024-01-01 10:00",
    "2024-01-01T10:00:00+09:00",
    "2024-01-01T10:00:00+0900",
    "2024-01-01T10:00:00+25:00",
    " 2024-01-01",
    "yesterday",
    "2024-1-1",
    "2024-01-01T10:00:00Zjunk",
]


def test_the_date_filter_never_misses_a_value_the_coercion_refuses(make_sqlite):
    from cutover.sources import sqlite_dates
    from cutover.sources.sqlite import SqliteSource
    from cutover.values.coerce import Reject, build

    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, d DATE, ts TIMESTAMP);",
        rows={"INSERT INTO t (d, ts) VALUES (?, ?)": [(v, v) for v in TRICKY] + [(5, 1.5)]},
    )
    source = SqliteSource(src)
    (table,) = source.reflect().tables
    flagged = {
        (kind, row[0])
        for kind, col in (("date", "d"), ("timestamp", "ts"))
        for rows in sqlite_dates.suspects(source, table, {col: kind})
        for row in rows
    }
    for kind in ("date", "timestamp"):
        refuse = build(kind, {})
        for rowid, value in enumerate([*TRICKY, 5 if kind == "date" else 1.5], start=1):
            try:
                refuse(value)
            except Reject:
                assert (kind, rowid) in flagged, (kind, value)
    # and plainly valid values are not sent back for parsing
    assert ("timestamp", 1) not in flagged and ("date", 1) not in flagged
    assert ("timestamp", 10) not in flagged  # 2024-01-01T10:00:00.123456Z
