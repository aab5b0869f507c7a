"""Finding the example app's SQL and what else ties it to SQLite / SQL Server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cutover.appcode import find_statements, scan_engine_options
from cutover.appcode.find import sql_dialect
from cutover.errors import UsageError

APP = Path(__file__).parent / "examples" / "app_sql"

# (path, line where the SQL literal starts, dialect, call, start of the SQL)
EXPECTED = [
    ("app/db.py", 22, "sqlite", "sqlite3.execute", "PRAGMA foreign_keys"),
    ("app/legacy_mssql.py", 5, "tsql", "pyodbc.execute", "SELECT TOP 5 [name]"),
    ("app/legacy_mssql.py", 14, "tsql", "pyodbc.execute", "SELECT COUNT(*) FROM dbo.messages"),
    ("app/queries.py", 3, "sqlite", "sqlite3.execute", "SELECT id, IFNULL"),
    (
        "app/queries.py",
        5,
        "sqlite",
        "sqlite3.execute",
        "SELECT COUNT(*) FROM users WHERE is_active",
    ),
    ("app/queries.py", 8, "sqlite", "sqlite3.execute", "SELECT id, json_extract"),
    ("app/queries.py", 12, "sqlite", "sqlite3.execute", "\nSELECT strftime"),
    ("app/queries.py", 19, "sqlite", "sqlite3.execute", "SELECT user_id, COUNT(*) AS n"),
    ("app/repo.py", 32, "sqlite", "sqlite3.execute", "SELECT id, name FROM users WHERE name LIKE"),
    ("app/repo.py", 37, "sqlite", "sqlite3.execute", "SELECT id FROM users WHERE name = ? COLLATE"),
    ("app/repo.py", 42, "sqlite", "sqlite3.execute", "INSERT OR IGNORE"),
    ("app/repo.py", 46, "sqlite", "sqlite3.execute", "INSERT OR REPLACE"),
    ("app/repo.py", 50, "sqlite", "sqlite3.execute", "UPDATE users SET is_active"),
    ("app/repo.py", 55, "sqlite", "sqlite3.execute", "INSERT INTO messages"),
    ("app/repo.py", 58, "sqlite", "sqlite3.execute", "SELECT last_insert_rowid"),
    ("app/repo.py", 62, "sqlite", "sqlite3.executemany", "INSERT OR IGNORE"),
    ("app/repo.py", 66, "sqlite", "sqlite3.execute", "SELECT user_id, GROUP_CONCAT"),
    ("app/repo.py", 72, "sqlite", "sqlite3.execute", "\n        SELECT name ||"),
    ("app/repo.py", 82, "sqlite", "sqlite3.execute", "SELECT id, score / 2"),
    ("app/repo.py", 86, "sqlite", "sqlite3.execute", "SELECT rowid"),
    ("app/repo.py", 90, "sqlite", "sqlite3.execute", "SELECT id, date(created_at"),
    (
        "app/repo.py",
        95,
        "sqlite",
        "sqlite3.execute",
        "SELECT COUNT(*) FROM messages WHERE created_at > datetime",
    ),
    ("app/repo.py", 101, "sqlite", "sqlalchemy.text", "SELECT displayName"),
    (
        "app/repo.py",
        107,
        "sqlite",
        "sqlalchemy.text",
        "SELECT id, name FROM users WHERE email = :email",
    ),
    ("app/repo.py", 114, "sqlite", "sqlalchemy.exec_driver_sql", "SELECT EventType"),
    ("app/repo.py", 119, "sqlite", "pandas.read_sql", "SELECT id, name, created_at"),
    ("app/repo.py", 124, "tsql", "sqlalchemy.text", "SELECT TOP 3"),
    (
        "app/repo.py",
        129,
        "sqlite",
        "sqlalchemy.text",
        "SELECT id, name FROM users ORDER BY created_at",
    ),
    ("app/reports.py", 9, "sqlite", "sqlalchemy.text", "INSERT INTO AuditLog (id, EventType)"),
    ("app/reports.py", 16, "sqlite", "sqlalchemy.text", "SELECT key FROM settings WHERE value"),
    ("app/reports.py", 21, "sqlite", "sqlalchemy.text", "SELECT p.*, u.email"),
]


@pytest.fixture(scope="module")
def found() -> list:
    return find_statements(APP)


def test_finds_every_statement_and_nothing_else(found: list) -> None:
    assert [(s.path, s.line) for s in found] == [(e[0], e[1]) for e in EXPECTED]


@pytest.mark.parametrize(("path", "line", "dialect", "call", "start"), EXPECTED)
def test_statement_place_dialect_and_call(
    found: list, path: str, line: int, dialect: str, call: str, start: str
) -> None:
    statement = next(s for s in found if (s.path, s.line) == (path, line))
    assert (statement.dialect, statement.call) == (dialect, call)
    assert statement.sql.startswith(start)
    text = (APP / path).read_text(encoding="utf-8").splitlines()[line - 1]
    assert '"' in text or "'" in text  # the line holds the opening quote of the literal


def test_literal_parameters_are_kept(found: list) -> None:
    newest = next(s for s in found if s.line == 129)
    assert newest.params == {"n": 2}
    assert newest.paramstyle == "named"
    assert next(s for s in found if s.line == 62).many


def test_statements_serialize_to_json(found: list) -> None:
    data = json.loads(json.dumps([s.to_dict() for s in found]))
    assert data[0] == {"path": "app/db.py", "line": 22, "dialect": "sqlite", "sql": "PRAGMA foreign_keys=ON",
                       "call": "sqlite3.execute", "params": None}  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT TOP 5 name FROM users", "tsql"),
        ("SELECT [name] FROM users", "tsql"),
        ("SELECT ISNULL(a, 0) FROM t", "tsql"),
        ("SELECT * FROM dbo.users", "tsql"),
        ("SELECT GETDATE()", "tsql"),
        ("SELECT * FROM t WHERE id = @id", "tsql"),
        ("SELECT IFNULL(a, 0) FROM t WHERE b = '[x]' AND c = 'TOP'", "sqlite"),
        ("SELECT a FROM t WHERE x IS NULL", "sqlite"),
    ],
)
def test_dialect_from_the_statement(sql: str, dialect: str) -> None:
    assert sql_dialect(sql, "sqlite") == dialect


def test_sql_in_a_function_local_and_a_rebound_name(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import sqlite3\n"
        "def f(conn, flag):\n"
        "    q = 'SELECT 1 FROM a'\n"
        "    conn.execute(q)\n"
        "    r = 'SELECT 1 FROM b'\n"
        "    if flag:\n"
        "        r = 'SELECT 1 FROM c'\n"
        "    conn.execute(r)\n"
        "    conn.execute(f'SELECT {flag}')\n",
        encoding="utf-8",
    )
    assert [(s.line, s.sql) for s in find_statements(tmp_path)] == [(3, "SELECT 1 FROM a")]


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        find_statements(tmp_path / "nope")


ENGINE_FINDINGS = [
    ("app/db.py", 8, "sqlite_url", "sqlite:///./chat.db"),
    ("app/db.py", 10, "pool_setting", "without pool_pre_ping"),
    ("app/db.py", 12, "dialect_option", "check_same_thread"),
    ("app/db.py", 13, "pool_setting", "pool_size=5; the DB standards say 20 from DB_POOL_SIZE"),
    ("app/db.py", 15, "pool_setting", "pool_recycle defaults to 1800 (DB_POOL_RECYCLE)"),
    ("app/db.py", 28, "dialect_option", "check_same_thread"),
    ("app/legacy_mssql.py", 11, "dialect_option", "fast_executemany is a pyodbc option"),
    ("app/models.py", 4, "dialect_type", "JSON from sqlalchemy.dialects.sqlite"),
    ("tests/conftest.py", 7, "dialect_option", "check_same_thread"),
    ("tests/conftest.py", 7, "sqlite_fixture", "sqlite:///:memory:"),
]


def test_engine_options_pool_types_and_fixtures() -> None:
    findings = scan_engine_options(APP)
    assert [(f.path, f.line, f.code) for f in findings] == [e[:3] for e in ENGINE_FINDINGS]
    for finding, (_, _, _, text) in zip(findings, ENGINE_FINDINGS):
        assert text in finding.message
        assert finding.fix
    assert findings[0].as_finding().subject == "app/db.py:8"


def test_pool_settings_that_follow_the_standards_pass(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(
        "import os\nfrom sqlalchemy import create_engine\n"
        "engine = create_engine(os.environ['DATABASE_URL'],\n"
        "    pool_size=int(os.getenv('DB_POOL_SIZE', '20')),\n"
        "    max_overflow=int(os.getenv('DB_MAX_OVERFLOW', '10')),\n"
        "    pool_recycle=int(os.getenv('DB_POOL_RECYCLE', '3600')),\n"
        "    pool_pre_ping=True)\n",
        encoding="utf-8",
    )
    assert scan_engine_options(tmp_path) == []
