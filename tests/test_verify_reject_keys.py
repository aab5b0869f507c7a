"""Rows rejected after the load are recognised by verify whatever form their key takes.

A post-load reject (an orphan, a duplicate, a failed check) is recorded with its key as Postgres
gives it back (a datetime, a UUID, a numeric with its scale); verify reads the source, whose key is
what the app wrote ('2024-01-02 08:30:00', an upper-case GUID, the real 2.5). Both must name the
same row.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover.cli import cli

SOURCE = """
CREATE TABLE days (day DATETIME PRIMARY KEY, label TEXT);
CREATE TABLE readings (
    at DATETIME PRIMARY KEY,
    day DATETIME REFERENCES days (day),
    value INTEGER
);
CREATE TABLE users (id UUID PRIMARY KEY, name TEXT);
CREATE TABLE tokens (id UUID PRIMARY KEY, user_id UUID REFERENCES users (id), secret TEXT);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE lots (price NUMERIC(10, 2) PRIMARY KEY, product_id INTEGER REFERENCES products (id));
"""
ALICE = "6F1C2B9E-0D4A-4C55-9B1E-2A7F3C8D9E01"
BOB = "0B7E2D11-5C3F-4A8B-8E6D-1F2A3B4C5D6E"
ROWS = {
    "INSERT INTO days VALUES (?, ?)": [
        ("2024-01-01 00:00:00", "monday"),
        ("2024-01-02 00:00:00", "tuesday"),
    ],
    "INSERT INTO readings VALUES (?, ?, ?)": [
        ("2024-01-01 09:15:00", "2024-01-01 00:00:00", 10),
        ("2024-01-02 08:30:00", "1999-12-31 00:00:00", 20),  # orphan: no such day
        ("2024-01-02 17:45:00", "2024-01-02 00:00:00", 30),
    ],
    "INSERT INTO users VALUES (?, ?)": [(ALICE, "alice")],
    "INSERT INTO tokens VALUES (?, ?, ?)": [
        ("A0000000-0000-4000-8000-000000000001", ALICE, "kept"),
        ("A0000000-0000-4000-8000-000000000002", BOB, "orphan: no such user"),
    ],
    "INSERT INTO products VALUES (?, ?)": [(1, "tea")],
    "INSERT INTO lots VALUES (?, ?)": [(1.25, 1), (2.5, 99)],  # 2.5: orphan, read back as 2.50
}


@pytest.fixture
def loaded(make_sqlite, load, pg) -> Path:
    """A load with one orphan rejected post-load in each keyed table; returns the source file."""
    src = make_sqlite(SOURCE, rows=ROWS)
    result = load(src)
    rejected = {r.table: r.rejected for rep in result.reports for r in rep.results}
    assert rejected == {
        "days": 0,
        "readings": 1,
        "users": 0,
        "tokens": 1,
        "products": 0,
        "lots": 1,
    }
    recorded = pg.execute(
        "SELECT table_name, key, stage FROM _cutover.rejects ORDER BY table_name"
    ).fetchall()
    assert recorded == [
        ("lots", {"price": "2.50"}, "foreign key"),
        ("readings", {"at": "2024-01-02T08:30:00"}, "foreign key"),
        ("tokens", {"id": "a0000000-0000-4000-8000-000000000002"}, "foreign key"),
    ]
    return src


def verify(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args])
    return result.exit_code, result.output


def test_post_load_rejects_keyed_by_a_timestamp_uuid_or_numeric_are_not_missing(
    loaded, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, out = verify("--digests", "source")
    assert code == 0, out
    assert "missing" not in out


def test_the_same_from_a_fresh_folder_holding_only_cutover_toml(loaded, tmp_path, monkeypatch):
    fresh = tmp_path / "ci-checkout"
    fresh.mkdir()
    shutil.copy(tmp_path / "cutover.toml", fresh / "cutover.toml")
    monkeypatch.chdir(fresh)
    code, out = verify()
    assert code == 0, out
    assert "missing" not in out
    assert not (fresh / ".cutover").exists()


def test_a_source_row_added_since_the_load_is_still_missing(loaded, tmp_path, monkeypatch):
    """Excluding rejected keys by their canonical form excludes those rows and no others."""
    with sqlite3.connect(loaded) as conn:
        conn.execute("INSERT INTO readings VALUES ('2024-01-02 08:30:01', NULL, 40)")
    monkeypatch.chdir(tmp_path)
    code, out = verify()
    assert code == 1, out
    assert '"at": "2024-01-02 08:30:01"' in out
    assert "08:30:00" not in out
