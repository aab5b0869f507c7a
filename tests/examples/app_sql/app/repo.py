"""Repositories: raw sqlite3 on the hot paths, SQLAlchemy text() elsewhere."""

import sqlite3

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import engine
from app.queries import ACTIVE_USERS, CHATTY_USERS, OLDER_USERS_PLAN, SIGNUPS_BY_MONTH, USER_BY_ID


def get_user(conn: sqlite3.Connection, user_id: int):
    return conn.execute(USER_BY_ID, (user_id,)).fetchone()


def count_active(conn: sqlite3.Connection) -> int:
    return conn.execute(ACTIVE_USERS).fetchone()[0]


def dashboards(conn: sqlite3.Connection):
    cur = conn.cursor()
    cur.execute(OLDER_USERS_PLAN)
    plans = cur.fetchall()
    cur.execute(SIGNUPS_BY_MONTH)
    months = cur.fetchall()
    cur.execute(CHATTY_USERS)
    return plans, months, cur.fetchall()


def search_users(conn: sqlite3.Connection, q: str):
    return conn.execute("SELECT id, name FROM users WHERE name LIKE ?", (f"%{q}%",)).fetchall()


def find_by_name(conn: sqlite3.Connection, name: str):
    return conn.execute(
        "SELECT id FROM users WHERE name = ? COLLATE NOCASE", (name,)
    ).fetchall()


def add_tag(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (name,))


def put_setting(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))


def deactivate(conn: sqlite3.Connection, user_id: int) -> None:
    conn.execute("UPDATE users SET is_active = 0 WHERE id = ?", (user_id,))


def add_message(conn: sqlite3.Connection, user_id: int, body: str) -> int:
    conn.execute(
        "INSERT INTO messages (user_id, body, created_at) VALUES (?, ?, ?)",
        (user_id, body, "2024-06-01 12:00:00"),
    )
    return conn.execute("SELECT last_insert_rowid()").fetchone()[0]


def bulk_tags(conn: sqlite3.Connection, names: list[str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO tags (name) VALUES (?)", [(n,) for n in names])


def transcripts(conn: sqlite3.Connection):
    sql = "SELECT user_id, GROUP_CONCAT(body, ' | ') AS bodies FROM messages GROUP BY user_id"
    return conn.execute(sql).fetchall()


def labels(conn: sqlite3.Connection):
    return conn.execute(
        """
        SELECT name || ' <' || email || '>' AS label
        FROM users
        ORDER BY id
        LIMIT 2 OFFSET 1
        """
    ).fetchall()


def halves(conn: sqlite3.Connection):
    return conn.execute("SELECT id, score / 2 AS half FROM users").fetchall()


def by_rowid(conn: sqlite3.Connection):
    return conn.execute("SELECT rowid, name FROM users").fetchall()


def next_days(conn: sqlite3.Connection):
    return conn.execute("SELECT id, date(created_at, '+1 day') AS next_day FROM users").fetchall()


def recent_messages(conn: sqlite3.Connection) -> int:
    return conn.execute(
        "SELECT COUNT(*) FROM messages WHERE created_at > datetime('now', '-1 day')"
    ).fetchone()[0]


def profile(session: Session, user_id: int):
    return session.execute(
        text('SELECT displayName FROM UserProfiles WHERE userId = :user_id'),
        {"user_id": user_id},
    ).all()


def active_by_email(session: Session, email: str):
    query = text("SELECT id, name FROM users WHERE email = :email AND is_active = 1")
    return session.execute(query, {"email": email}).all()


def audit_counts():
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT EventType, COUNT(*) AS n FROM AuditLog GROUP BY EventType"
        ).all()


def report_frame():
    return pd.read_sql("SELECT id, name, created_at FROM users WHERE score >= 10", engine)


def top_scorers(session: Session):
    # left over from the SQL Server era; SQLAlchemy still sends it
    return session.execute(text("SELECT TOP 3 [name] FROM [users] ORDER BY [score] DESC")).all()


def newest(session: Session):
    return session.execute(
        text("SELECT id, name FROM users ORDER BY created_at DESC LIMIT :n"), {"n": 2}
    ).all()
