"""Proving rewrites on a real Postgres: the example app's data in SQLite and, as cutover plans it, in Postgres."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from appcode_schema import build_sqlite, load_postgres, planned
from psycopg import sql
from test_appcode_find import APP

from cutover.appcode import (
    Rewrite,
    find_statements,
    prove,
    prove_statement,
    rewrite,
    rewrite_statement,
)
from cutover.urls import postgres_conninfo, with_database

SCHEMA = planned()


@pytest.fixture(scope="module")
def sides(
    tmp_path_factory: pytest.TempPathFactory, pg_server: str
) -> Iterator[tuple[sqlite3.Connection, psycopg.Connection[Any]]]:
    """The source in SQLite and the loaded target in one Postgres database for the module.

    Sharing is safe because a proof changes nothing: reads only read, writes are rolled back
    on both sides (test_writes_are_rolled_back_on_both_sides checks it).
    """
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_conninfo(pg_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    source = build_sqlite(tmp_path_factory.mktemp("appcode") / "chat.db")
    try:
        with psycopg.connect(postgres_conninfo(with_database(pg_server, name))) as target:
            load_postgres(target)
            target.commit()
            yield source, target
    finally:
        source.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# (original SQLite statement, literal parameters or None to sample them from the data)
SAME = [
    ("SELECT id, IFNULL(name, '(none)') AS name FROM users WHERE id = ?", [5]),
    ("SELECT name FROM users WHERE id = ?", None),
    ("SELECT COUNT(*) FROM users WHERE is_active = 1", None),
    ("SELECT id FROM users WHERE is_active = ?", [0]),
    ("SELECT id, is_active FROM users", None),
    ("SELECT SUM(is_active) AS n FROM users", None),
    ("SELECT id, json_extract(metadata, '$.plan') AS plan FROM users WHERE json_extract(metadata, '$.age') > 30", None),
    ("SELECT id FROM users WHERE json_extract(metadata, '$.plan') = ?", ["pro"]),
    ("SELECT id, json_extract(metadata, '$.age') AS age FROM users", None),
    ("SELECT json_extract(metadata, '$.tags[0]') FROM users WHERE id = 6", None),
    ("SELECT id, metadata FROM users", None),
    ("SELECT strftime('%Y-%m', created_at) AS month, COUNT(*) AS n FROM users GROUP BY month ORDER BY month", None),
    ("SELECT id, strftime('%s', created_at) FROM users", None),
    ("SELECT id, strftime('%Y-%m-%dT%H:%M:%S', created_at) FROM users", None),
    ("SELECT id, date(created_at, '+1 day') AS next_day FROM users", None),
    ("SELECT id, date(created_at, 'start of month', '+1 month', '-1 day') FROM users", None),
    ("SELECT id, created_at FROM users", None),
    ("SELECT COUNT(*) FROM messages WHERE created_at > datetime('now', '-1 day')", None),
    ("SELECT id FROM messages WHERE created_at >= date('2024-05-03')", None),
    ("SELECT id, name FROM users WHERE name LIKE ?", ["%MILE%"]),
    ("SELECT id, name FROM users WHERE name LIKE ?", ["%émile%"]),
    ("SELECT id, name FROM users WHERE name LIKE '%ÉMILE'", None),
    ("SELECT id, name FROM users WHERE name LIKE ?", ["%민%"]),
    ("SELECT id FROM users WHERE name = ? COLLATE NOCASE", ["ALICE"]),
    ("SELECT id FROM users WHERE name = ? COLLATE NOCASE", ["ÉMILE"]),
    ("SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING n > 1", None),
    ("SELECT user_id, GROUP_CONCAT(body, ' | ') AS bodies FROM messages GROUP BY user_id", None),
    ("SELECT name || ' <' || email || '>' AS label FROM users ORDER BY id LIMIT 2 OFFSET 1", None),
    ("SELECT id, name FROM users ORDER BY id LIMIT ? OFFSET ?", None),
    ("SELECT id, score / 2 AS half, score % 4 AS rest FROM users", None),
    ("SELECT 7 / 2, -7 / 2, 7 % 3, 7 / 2.0", None),
    ("SELECT AVG(score) FROM users", None),
    ("SELECT rowid, name FROM users", None),
    ("SELECT id, name FROM users ORDER BY name", None),
    ("SELECT displayName FROM UserProfiles WHERE userId = ?", [1]),
    ("SELECT EventType, COUNT(*) AS n FROM AuditLog GROUP BY EventType", None),
    ("SELECT id, name, created_at FROM users WHERE score >= 10", None),
    ("INSERT OR IGNORE INTO tags (name) VALUES (?)", ["python"]),
    ("INSERT OR IGNORE INTO tags (name) VALUES (?)", ["rust"]),
    ("INSERT OR IGNORE INTO tags (name) VALUES (?)", None),
    ("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", ["theme", "light"]),
    ("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", ["font", "mono"]),
    ("UPDATE users SET is_active = 0 WHERE id = ?", [1]),
    ("UPDATE users SET is_active = 1, name = ? WHERE json_extract(metadata, '$.plan') = 'pro'", ["vip"]),
    ("INSERT INTO messages (user_id, body, created_at) VALUES (?, ?, ?)", [1, "new", "2024-06-01 12:00:00"]),
    ("DELETE FROM messages WHERE user_id = ?", [6]),
]  # fmt: skip


@pytest.mark.parametrize(("original", "params"), SAME)
def test_rewrite_proves_same(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]], original: str, params: Any
) -> None:
    source, target = sides
    result = rewrite(original, "sqlite", SCHEMA)
    assert result.status in ("rewritten", "compatible"), result.changes
    proof = prove(source, target, original, result, params, schema=SCHEMA)
    assert proof.status == "same", (result.postgres_sql, proof)


def test_writes_are_rolled_back_on_both_sides(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]],
) -> None:
    source, target = sides
    original = "INSERT INTO messages (user_id, body, created_at) VALUES (?, ?, ?)"
    for _ in range(2):  # the identity sequence is put back: a second proof sees the same next id
        proof = prove(
            source,
            target,
            original,
            rewrite(original, "sqlite", SCHEMA),
            [1, "x", "2024-06-01"],
            schema=SCHEMA,
        )
        assert proof.status == "same", proof
    assert source.execute("SELECT COUNT(*) FROM messages").fetchone() == (5,)
    assert target.execute("SELECT COUNT(*) FROM messages").fetchone() == (5,)


# (original, deliberately wrong rewrite, params, what the first differing row shows)
DIFFERENT = [
    ("SELECT id FROM users WHERE is_active = 1", "SELECT id FROM users WHERE is_active = FALSE", None, [1], [2]),
    ("SELECT id, name FROM users WHERE name LIKE ?", "SELECT id, name FROM users WHERE name ILIKE %s", ["%émile%"], None, [3, "Émile"]),
    ("SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING n > 1",
     "SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING COUNT(*) > 0", None, None, [2, 1]),
    ("SELECT id, score / 2 AS half FROM users WHERE id = 2", "SELECT id, score / 2.0 AS half FROM users WHERE id = 2", None, [2, 3], [2, 3.5]),
    ("SELECT id, json_extract(metadata, '$.age') FROM users WHERE id = 1",
     "SELECT id, metadata ->> 'age' FROM users WHERE id = 1", None, [1, 34], [1, "34"]),
    ("SELECT name FROM users ORDER BY id", "SELECT name FROM users ORDER BY id DESC", None, ["Alice"], ["김민수"]),
    ("UPDATE users SET is_active = 0 WHERE id = ?", "UPDATE users SET is_active = FALSE WHERE id = %s + 1", [1], None, None),
]  # fmt: skip


@pytest.mark.parametrize(("original", "wrong", "params", "source_row", "target_row"), DIFFERENT)
def test_wrong_rewrite_proves_different(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]],
    original: str,
    wrong: str,
    params: Any,
    source_row: Any,
    target_row: Any,
) -> None:
    source, target = sides
    proof = prove(source, target, original, wrong, params, schema=SCHEMA)
    assert proof.status == "different", proof
    if source_row is not None:
        assert proof.source_row == source_row
    if target_row is not None:
        assert proof.target_row == target_row
    assert proof.reason


FAILED = [
    (
        "SELECT COUNT(*) FROM users WHERE is_active = 1",
        "operator does not exist: boolean = integer",
    ),
    ("SELECT IFNULL(name, 'x') FROM users", "function ifnull"),
    ("SELECT id FROM users WHERE json_extract(metadata, '$.age') > 30", "function json_extract"),
    ("SELECT TOP 1 name FROM users", "syntax error"),
    ("SELECT rowid FROM users", 'column "rowid" does not exist'),
]


@pytest.mark.parametrize(("original", "message"), FAILED)
def test_untranslated_statement_proves_failed_with_the_postgres_error(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]], original: str, message: str
) -> None:
    source, target = sides
    proof = prove(source, target, original.replace("TOP 1 name", "name"), original, schema=SCHEMA)
    assert proof.status == "failed"
    assert message in proof.reason
    assert target.execute("SELECT 1").fetchone() == (
        1,
    )  # the connection is usable after the failure


def test_manual_rewrite_proves_manual(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]],
) -> None:
    source, target = sides
    proof = prove(
        source,
        target,
        "SELECT last_insert_rowid()",
        rewrite("SELECT last_insert_rowid()", "sqlite", SCHEMA),
    )
    assert proof.status == "manual"
    assert "RETURNING" in proof.reason


def test_tsql_rewrites_prove_same_against_a_sql_server_answer(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]],
) -> None:
    """SQL Server has no server here: the runner answers with what it would return for the data."""
    source, target = sides
    answers = {
        "SELECT TOP 5 [name], ISNULL([score], 0) AS score FROM dbo.[users] ORDER BY [score] DESC":
            "SELECT name, IFNULL(score, 0) AS score FROM users ORDER BY score DESC LIMIT 5",
        "SELECT COUNT(*) FROM dbo.messages WHERE created_at < GETDATE()": "SELECT COUNT(*) FROM messages",
        "SELECT TOP 3 [name] FROM [users] ORDER BY [score] DESC": "SELECT name FROM users ORDER BY score DESC LIMIT 3",
    }  # fmt: skip

    def sql_server(text: str, params: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = source.execute(answers[text], params or ())
        return [d[0] for d in cur.description], cur.fetchall()

    for original in answers:
        proof = prove(
            sql_server,
            target,
            original,
            rewrite(original, "tsql", SCHEMA),
            dialect="tsql",
            schema=SCHEMA,
        )
        assert proof.status == "same", (original, proof)


def test_every_statement_of_the_example_app(
    sides: tuple[sqlite3.Connection, psycopg.Connection[Any]],
) -> None:
    source, target = sides
    verdicts = {}
    for statement in find_statements(APP):
        if statement.dialect != "sqlite":
            continue
        proof = prove_statement(
            source, target, statement, rewrite_statement(statement, SCHEMA), SCHEMA
        )
        verdicts[statement.line] = proof.status
        assert proof.to_dict()["status"] == proof.status
    assert {line for line, status in verdicts.items() if status != "same"} == {
        22,
        58,
    }  # PRAGMA, last_insert_rowid
    assert verdicts[22] == verdicts[58] == "manual"


def test_rewrite_given_as_text(sides: tuple[sqlite3.Connection, psycopg.Connection[Any]]) -> None:
    source, target = sides
    proof = prove(
        source, target, "SELECT COUNT(*) FROM users", Rewrite("SELECT count(*) FROM users")
    )
    assert (proof.status, proof.rows) == ("same", 1)
