"""`cutover finish`: after a passing verify, the proof is kept as files and `_cutover` removed (asked first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover.cli import cli

SOURCE = "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT);"
ROWS = [(1, 10, "a"), (2, "not a number", "b"), (3, 30, "c")]
KINDS = ["changes", "chunks", "digests", "manifest", "rejects", "verify"]


@pytest.fixture
def loaded(make_sqlite, load, tmp_path) -> Path:
    src = make_sqlite(SOURCE, rows={"INSERT INTO t VALUES (?, ?, ?)": ROWS})
    assert load(src, extra='[databases.columns]\n"t.n" = "bigint"\n').rejected == 1
    return tmp_path / "cutover.toml"


def cutover_schema(pg) -> bool:
    return bool(pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = '_cutover'").fetchone())


def test_finish_saves_the_proof_and_removes_cutover_when_confirmed(loaded, pg, tmp_path):
    result = CliRunner().invoke(cli, ["--config", str(loaded), "finish"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "remove cutover's run state (schema _cutover)" in result.output
    assert "_cutover removed" in result.output
    folder = tmp_path / ".cutover" / "report" / "proof" / "app"
    assert sorted(p.stem for p in folder.iterdir()) == KINDS
    (rejected,) = json.loads((folder / "rejects.json").read_text())
    assert rejected["key"] == {"id": 2} and rejected["column_name"] == "n"
    (chunk,) = json.loads((folder / "chunks.json").read_text())
    assert (chunk["rows_read"], chunk["rows_written"], chunk["rows_rejected"]) == (3, 2, 1)
    assert json.loads((folder / "verify.json").read_text())["ok"] is True
    assert not cutover_schema(pg)
    assert pg.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_finish_keeps_cutover_when_declined(loaded, pg, tmp_path):
    result = CliRunner().invoke(cli, ["--config", str(loaded), "finish"], input="n\n")
    assert result.exit_code == 0, result.output
    assert "_cutover kept" in result.output
    assert (tmp_path / ".cutover" / "report" / "proof" / "app" / "manifest.json").exists()
    assert cutover_schema(pg)


def test_finish_refuses_when_verify_fails(loaded, pg, tmp_path):
    pg.execute("UPDATE t SET s = 'edited' WHERE id = 3")
    result = CliRunner().invoke(cli, ["--config", str(loaded), "finish", "--yes"])
    assert result.exit_code == 1
    assert "verify does not pass" in result.output
    assert cutover_schema(pg)
    assert not (tmp_path / ".cutover" / "report" / "proof").exists()
