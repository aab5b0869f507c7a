"""Verify from a fresh checkout: a folder holding only cutover.toml, everything else in `_cutover`."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover.cli import cli

SOURCE = """
CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parent (id),
    n INTEGER,
    body TEXT
);
"""
PARENTS = [(i, f"parent {i}") for i in range(1, 6)]
CHILDREN = [
    (1, 1, 10, "a"),
    (2, 2, 20, "b"),
    (3, 99, 30, "orphan: rejected at the foreign-key stage"),
    (4, 3, "forty", "text in an INTEGER column: rejected while coercing"),
    (5, 4, 50, "e"),
]


@pytest.fixture
def checkout(make_sqlite, load, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(source, fresh folder holding a copy of cutover.toml only), after a load with two rejects."""
    src = make_sqlite(
        SOURCE,
        rows={
            "INSERT INTO parent VALUES (?, ?)": PARENTS,
            "INSERT INTO child VALUES (?, ?, ?, ?)": CHILDREN,
        },
    )
    assert load(src, extra='[databases.columns]\n"child.n" = "bigint"\n').rejected == 2
    fresh = tmp_path / "ci-checkout"
    fresh.mkdir()
    shutil.copy(tmp_path / "cutover.toml", fresh / "cutover.toml")
    monkeypatch.chdir(fresh)
    return src, fresh


def verify_here() -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify"])
    return result.exit_code, result.output


def test_an_untouched_copy_verifies_from_a_fresh_checkout(checkout, pg):
    recorded = pg.execute(
        "SELECT key, column_name, stage FROM _cutover.rejects ORDER BY key->>'id'"
    ).fetchall()
    assert recorded == [({"id": 3}, "parent_id", "foreign key"), ({"id": 4}, "n", "coerce")]
    code, out = verify_here()
    assert code == 0, out
    assert not (checkout[1] / ".cutover").exists()


def test_a_changed_target_value_is_named_from_a_fresh_checkout(checkout, pg):
    pg.execute("UPDATE child SET body = 'edited' WHERE id = 5")
    code, out = verify_here()
    assert code == 1
    assert 'changed {"id": 5} column body' in out and "'edited'" in out
    assert "missing" not in out


def test_a_grown_source_names_the_new_rows_not_the_rejected_ones(checkout):
    src, _fresh = checkout
    with sqlite3.connect(src) as conn:
        conn.execute("INSERT INTO child VALUES (6, 5, 60, 'new since the load')")
    code, out = verify_here()
    assert code == 1
    assert 'missing {"id": 6}' in out
    assert '{"id": 3}' not in out and '{"id": 4}' not in out
