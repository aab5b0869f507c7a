"""Rewriting the example app's statements for the planned schema: expected SQL, or manual with the reason."""

from __future__ import annotations

import json

import pytest
from appcode_schema import planned
from test_appcode_find import APP

from cutover.appcode import code_item, find_statements, rewrite, rewrite_statement
from cutover.errors import UnknownChoiceError

SCHEMA = planned()

# (sql, dialect, paramstyle, expected Postgres SQL)
REWRITTEN = [
    ("SELECT id, IFNULL(name, '(none)') AS name FROM users WHERE id = ?", "sqlite", "format",
     "SELECT id, COALESCE(name, '(none)') AS name FROM users WHERE id = %s"),
    ("SELECT COUNT(*) FROM users WHERE is_active = 1", "sqlite", "format",
     "SELECT COUNT(*) FROM users WHERE is_active = TRUE"),
    ("SELECT COUNT(*) FROM users WHERE is_active IS 0", "sqlite", "format",
     "SELECT COUNT(*) FROM users WHERE is_active IS FALSE"),
    ("SELECT id FROM users WHERE is_active = ?", "sqlite", "format",
     "SELECT id FROM users WHERE is_active = CAST(CAST(%s AS INT) AS BOOLEAN)"),
    ("SELECT SUM(is_active) FROM users", "sqlite", "format", "SELECT SUM(CAST(is_active AS INT)) FROM users"),
    ("UPDATE users SET is_active = 0 WHERE id = ?", "sqlite", "format",
     "UPDATE users SET is_active = FALSE WHERE id = %s"),
    ("INSERT INTO users (name, is_active) VALUES ('x', 1)", "sqlite", "format",
     "INSERT INTO users (name, is_active) VALUES ('x', TRUE)"),
    ("SELECT id, json_extract(metadata, '$.plan') AS plan FROM users WHERE json_extract(metadata, '$.age') > 30",
     "sqlite", "format",
     "SELECT id, metadata -> 'plan' AS plan FROM users WHERE CAST(metadata ->> 'age' AS DECIMAL) > 30"),
    ("SELECT id FROM users WHERE json_extract(metadata, '$.plan') = ?", "sqlite", "format",
     "SELECT id FROM users WHERE metadata ->> 'plan' = %s"),
    ("SELECT json_extract(metadata, '$.tags[0]') FROM users", "sqlite", "format",
     "SELECT metadata -> 'tags' -> 0 FROM users"),
    ("SELECT strftime('%Y-%m', created_at) AS month, COUNT(*) AS n FROM users GROUP BY month ORDER BY month",
     "sqlite", "format",
     "SELECT TO_CHAR(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, COUNT(*) AS n FROM users "
     "GROUP BY month ORDER BY month NULLS FIRST"),
    ("SELECT strftime('%Y-%m-%dT%H:%M', created_at) FROM users", "sqlite", "format",
     """SELECT TO_CHAR(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') FROM users"""),
    ("SELECT id, strftime('%s', created_at) FROM users", "sqlite", "format",
     "SELECT id, CAST(CAST(FLOOR(EXTRACT(EPOCH FROM created_at)) AS BIGINT) AS TEXT) FROM users"),
    ("SELECT id, date(created_at, '+1 day') AS next_day FROM users", "sqlite", "format",
     "SELECT id, CAST((created_at + INTERVAL '1 day') AT TIME ZONE 'UTC' AS DATE) AS next_day FROM users"),
    ("SELECT date(created_at, 'start of month', '+1 month', '-1 day') FROM users", "sqlite", "format",
     "SELECT CAST((DATE_TRUNC('MONTH', created_at) + INTERVAL '1 month' - INTERVAL '1 day') AT TIME ZONE 'UTC' AS DATE) FROM users"),
    ("SELECT COUNT(*) FROM messages WHERE created_at > datetime('now', '-1 day')", "sqlite", "format",
     "SELECT COUNT(*) FROM messages WHERE created_at > DATE_TRUNC('SECOND', NOW() - INTERVAL '1 day')"),
    ("SELECT id, name FROM users WHERE name LIKE ?", "sqlite", "format",
     """SELECT id, name FROM users WHERE name COLLATE "C" ILIKE %s ESCAPE ''"""),
    ("SELECT id FROM users WHERE name LIKE '%mile%'", "sqlite", "format",
     """SELECT id FROM users WHERE name COLLATE "C" ILIKE '%mile%'"""),
    ("SELECT id FROM users WHERE name LIKE '%민%' AND score > ?", "sqlite", "format",
     "SELECT id FROM users WHERE name LIKE '%%민%%' AND score > %s"),
    ("SELECT id FROM users WHERE name = ? COLLATE NOCASE", "sqlite", "format",
     """SELECT id FROM users WHERE LOWER(name COLLATE "C") = LOWER(%s COLLATE "C")"""),
    ("SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING n > 1", "sqlite", "format",
     "SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING COUNT(*) > 1"),
    ("INSERT OR IGNORE INTO tags (name) VALUES (?)", "sqlite", "format",
     "INSERT INTO tags (name) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", "sqlite", "format",
     "INSERT INTO settings (key, value) VALUES (%s, %s) ON CONFLICT(key) DO UPDATE SET value = EXCLUDED.value"),
    ("SELECT user_id, GROUP_CONCAT(body, ' | ') AS bodies FROM messages GROUP BY user_id", "sqlite", "format",
     "SELECT user_id, STRING_AGG(body, ' | ') AS bodies FROM messages GROUP BY user_id"),
    ("SELECT GROUP_CONCAT(id) FROM users", "sqlite", "format", "SELECT STRING_AGG(CAST(id AS TEXT), ',') FROM users"),
    ("SELECT rowid, name FROM users", "sqlite", "format", "SELECT id, name FROM users"),
    ("SELECT id, name FROM users ORDER BY id LIMIT ? OFFSET ?", "sqlite", "format",
     "SELECT id, name FROM users ORDER BY id LIMIT %s OFFSET %s"),
    ("SELECT id FROM users WHERE score / ? > 1", "sqlite", "format",
     "SELECT id FROM users WHERE score / NULLIF(%s, 0) > 1"),
    ("SELECT displayName FROM UserProfiles WHERE userId = :user_id", "sqlite", "named",
     'SELECT "displayName" FROM "UserProfiles" WHERE "userId" = :user_id'),
    ("SELECT displayName FROM UserProfiles WHERE userId = :user_id", "sqlite", "format",
     'SELECT "displayName" FROM "UserProfiles" WHERE "userId" = %(user_id)s'),
    ("SELECT EventType, COUNT(*) AS n FROM AuditLog a GROUP BY a.EventType", "sqlite", "format",
     'SELECT event_type AS "EventType", COUNT(*) AS n FROM audit_log AS a GROUP BY a.event_type'),
    ("SELECT id AS userId FROM users", "sqlite", "format", 'SELECT id AS "userId" FROM users'),
    ("SELECT TOP 5 [name], ISNULL([score], 0) AS score FROM dbo.[users] ORDER BY [score] DESC", "tsql", "format",
     "SELECT name, COALESCE(score, 0) AS score FROM users ORDER BY score DESC NULLS LAST LIMIT 5"),
    ("SELECT COUNT(*) FROM dbo.messages WHERE created_at < GETDATE()", "tsql", "format",
     "SELECT COUNT(*) FROM messages WHERE created_at < CURRENT_TIMESTAMP"),
    ("SELECT [name] FROM [users] WHERE [name] LIKE ?", "tsql", "format",
     "SELECT name FROM users WHERE name ILIKE %s"),
]  # fmt: skip

COMPATIBLE = [
    ("SELECT id, score / 2 AS half FROM users", "sqlite"),
    ("SELECT 7 / 2, -7 / 2, 7 % 3", "sqlite"),
    (
        "SELECT name || ' <' || email || '>' AS label FROM users ORDER BY id LIMIT 2 OFFSET 1",
        "sqlite",
    ),
    ("SELECT id, name, created_at FROM users WHERE score >= 10", "sqlite"),
    ("select id from users where email = :email", "sqlite"),
]

# (sql, reason fragment)
MANUAL = [
    ("SELECT last_insert_rowid()", "INSERT … RETURNING id"),
    ("PRAGMA foreign_keys=ON", "PRAGMA is SQLite-only"),
    ("SELECT rowid FROM settings", "no INTEGER PRIMARY KEY"),
    ("INSERT OR REPLACE INTO tags (id, name) VALUES (?, ?)", "unique (name)"),
    ("INSERT OR REPLACE INTO settings (value) VALUES (?)", "without the key"),
    ("INSERT OR ROLLBACK INTO tags (name) VALUES (?)", "INSERT OR ROLLBACK"),
    ("SELECT date(created_at, '+1 month') FROM users", "clamps"),
    ("SELECT date(created_at, 'localtime') FROM users", "'localtime'"),
    ("SELECT strftime('%w', created_at) FROM users", "%w"),
    ("SELECT julianday(created_at) FROM users", "julianday"),
    ("SELECT id FROM users WHERE name GLOB 'A*'", "GLOB"),
    ("SELECT amount / 2 FROM prices", "NUMERIC column"),
    ("SELECT COUNT(*) FROM users WHERE is_active = 2", "not 0/1"),
    ("SELECT json_extract(metadata, ?) FROM users", "not a literal"),
    (
        "SELECT user_id AS body, COUNT(*) FROM messages GROUP BY user_id HAVING body > 1",
        "both a select alias",
    ),
    ("SELECT printf('%d', id) FROM users", "format()"),
    ("SELECT name FROM users WHERE name = 'a' COLLATE RTRIM", "COLLATE RTRIM"),
    ("SELECT FROM WHERE", "cannot parse"),
]


@pytest.mark.parametrize(("sql", "dialect", "style", "expected"), REWRITTEN)
def test_rewritten(sql: str, dialect: str, style: str, expected: str) -> None:
    result = rewrite(sql, dialect, SCHEMA, paramstyle=style)
    assert (result.status, result.postgres_sql) == ("rewritten", expected)
    assert result.changes


@pytest.mark.parametrize(("sql", "dialect"), COMPATIBLE)
def test_compatible_statements_come_back_untouched(sql: str, dialect: str) -> None:
    result = rewrite(sql, dialect, SCHEMA, paramstyle="named")
    assert (result.status, result.postgres_sql, result.changes) == ("compatible", sql, [])


@pytest.mark.parametrize(("sql", "reason"), MANUAL)
def test_manual_with_the_reason(sql: str, reason: str) -> None:
    result = rewrite(sql, "sqlite", SCHEMA)
    assert result.status == "manual"
    assert result.postgres_sql is None
    assert reason in result.changes[0]


def test_without_a_schema_type_rules_that_need_it_are_manual() -> None:
    assert rewrite("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)").status == "manual"
    assert rewrite("SELECT strftime('%Y', created_at) FROM users").status == "manual"
    assert (
        rewrite("SELECT IFNULL(a, 0) FROM t WHERE b = ?").postgres_sql
        == "SELECT COALESCE(a, 0) FROM t WHERE b = %s"
    )


def test_unknown_dialect_lists_the_choices() -> None:
    with pytest.raises(UnknownChoiceError, match="sqlite, tsql"):
        rewrite("SELECT 1", "mysql")


def test_code_items_of_the_example_app_are_json() -> None:
    items = [code_item(s, rewrite_statement(s, SCHEMA)).to_dict() for s in find_statements(APP)]
    data = json.loads(json.dumps(items))
    assert set(data[0]) == {"path", "line", "dialect", "sql", "postgres_sql", "changes", "status"}
    by_line = {(i["path"], i["line"]): i for i in data}
    assert by_line[("app/repo.py", 58)]["status"] == "manual"
    assert (
        by_line[("app/repo.py", 101)]["postgres_sql"]
        == 'SELECT "displayName" FROM "UserProfiles" WHERE "userId" = :user_id'
    )
    assert (
        by_line[("app/repo.py", 114)]["postgres_sql"]
        == 'SELECT event_type AS "EventType", COUNT(*) AS n FROM audit_log GROUP BY event_type'
    )
    assert {i["status"] for i in data} == {"compatible", "rewritten", "manual"}
