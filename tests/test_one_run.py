"""One run at a time per target database; one consistent snapshot of a live SQLite source."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cutover import commands
from cutover import config as config_mod
from cutover.errors import UsageError
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.pipeline import NullReporter

SOURCE = "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT NOT NULL);"
ROWS = [(i, f"row {i}") for i in range(1, 201)]


def test_a_second_phase2_on_the_same_database_is_refused_and_touches_nothing(
    make_sqlite, load, pg, pg_url
):
    src = make_sqlite(SOURCE, rows={"INSERT INTO t VALUES (?, ?)": ROWS})
    load(src)
    first = state.RunLock.take(tgt.connect(pg_url, autocommit=True), "app")  # a run in progress
    try:
        with pytest.raises(UsageError, match=r"another `cutover run --phase 2` is loading") as exc:
            load(src, restart=True)
        assert "server pid" in exc.value.message
        assert pg.execute("SELECT count(*) FROM t").fetchone() == (200,)
    finally:
        first.release()
    load(src, restart=True)  # released: the next run goes ahead
    assert pg.execute("SELECT count(*) FROM t").fetchone() == (200,)


class WriteDuringLoad(NullReporter):
    """The application keeps writing: a row is committed as each table starts loading."""

    def __init__(self, writer: sqlite3.Connection) -> None:
        self.writer, self.messages = writer, []
        self.next_id = 1000

    def table_started(self, table: str, total: int) -> None:
        self.writer.execute("INSERT INTO t VALUES (?, 'written during the load')", (self.next_id,))
        self.writer.commit()
        self.next_id += 1

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_a_live_wal_source_is_loaded_from_one_snapshot_and_verify_names_later_rows(
    make_sqlite, pg, pg_url, tmp_path: Path
):
    src = make_sqlite(
        "PRAGMA journal_mode = wal;" + SOURCE, rows={"INSERT INTO t VALUES (?, ?)": ROWS}
    )
    writer = sqlite3.connect(src)  # the app: open, in WAL mode, never checkpointing
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("INSERT INTO t VALUES (201, 'row 201')")
    writer.commit()
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///{src}"\ntarget = "{pg_url}"\n',
        encoding="utf-8",
    )
    config = config_mod.load(cfg)
    reporter = WriteDuringLoad(writer)
    try:
        commands.run_phase2(config, tmp_path / ".cutover", yes=True, reporter=reporter)
        assert any("consistent snapshot" in m and "backup API" in m for m in reporter.messages)
        assert pg.execute("SELECT count(*), max(id) FROM t").fetchone() == (201, 201)
        assert not list((tmp_path / ".cutover" / "snapshots").glob("*.db"))  # the copy is gone
        parity = commands.verify(config, tmp_path / ".cutover")
        (t,) = parity.databases[0].tables
        assert not parity.ok and [(d.kind, d.key) for d in t.differences] == [
            ("missing", {"id": 1000})
        ]
    finally:
        writer.close()
