"""Progress a person can read: per-table counts, rows/s and ETA, with many tables and workers."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

from cutover import commands
from cutover import config as config_mod
from cutover.load import progress
from cutover.load.pipeline import TableResult
from cutover.load.progress import ProgressReporter

TABLES = {"messages": 1_000, "users": 40, "rooms": 7, "attachments": 300, "reactions": 650}


def test_plain_lines_keep_each_tables_own_total(monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    out = io.StringIO()
    reporter = ProgressReporter(out, live=False)
    for name, total in TABLES.items():
        reporter.table_started(name, total)
    for step in (1, 2):  # interleaved, as several workers report them
        for name, total in TABLES.items():
            reporter.advanced(name, total * step // 2)
    reporter.advanced("messages", 1_200)  # past the estimate: no total, no ETA
    lines = out.getvalue().splitlines()
    assert "messages: loading 1,000 rows" in lines and "rooms: loading 7 rows" in lines
    assert any(line.startswith("messages: 500/1,000 rows (50.0%), ") for line in lines)
    assert any(line.startswith("users: 40/40 rows (100.0%), ") for line in lines)
    assert any(line.startswith("reactions: 325/650 rows (50.0%), ") for line in lines)
    assert lines[-1].startswith("messages: 1,200 rows, ") and "ETA" not in lines[-1]
    for line in lines:
        m = re.match(r"(\w+): [\d,]+/([\d,]+) rows \((\d+\.\d)%\)", line)
        if m:
            assert int(m[2].replace(",", "")) == TABLES[m[1]] and float(m[3]) <= 100.0
    assert all("rows/s" in line for line in lines if "/" in line and "loading" not in line)


def test_the_live_display_shows_a_bar_per_table_with_rate_and_eta(monkeypatch):
    monkeypatch.setattr(progress, "LIVE_INTERVAL_S", 0.0)  # draw on every update
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    reporter = ProgressReporter(console=console)
    for name, total in TABLES.items():
        reporter.table_started(name, total)
    reporter.advanced("messages", 500)
    reporter.advanced("users", 10)
    reporter.advanced("reactions", 325)
    reporter.advanced("sessions", 3)  # a table nobody announced: no total, still drawn
    shown = out.getvalue()
    assert "messages" in shown and "500/1,000 rows" in shown and "50.0%" in shown
    assert "10/40 rows" in shown and "325/650 rows" in shown and "ETA" in shown
    assert "50000" not in shown and "3 rows" in shown
    reporter.table_done(TableResult("sessions", "sessions", 3, 3, 0, 0, 1.0))
    for name, total in TABLES.items():
        reporter.table_done(TableResult(name, name, total, total, 0, 0, 2.0))
    assert not reporter.tables  # every table done: the display is closed
    assert "messages: 1,000 written, 0 rejected in 2.0s (500 rows/s)" in out.getvalue()


@pytest.fixture
def many_tables(tmp_path: Path, pg_url: str) -> config_mod.Config:
    db = tmp_path / "many.db"
    conn = sqlite3.connect(db)
    for name, rows in TABLES.items():
        conn.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany(
            f"INSERT INTO {name} VALUES (?, ?)", [(i, f"{name} {i}") for i in range(rows)]
        )
    conn.commit()
    conn.close()
    (tmp_path / "cutover.toml").write_text(
        "[settings]\nbatch_size = 50\nchunk_rows = 100\n\n"
        f'[[databases]]\nname = "many"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///{db}"\n'
        f'target = "{pg_url}"\n'
    )
    return config_mod.load(tmp_path / "cutover.toml")


def test_a_load_on_several_workers_reports_every_table_on_its_own(many_tables, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    out = io.StringIO()
    workdir = many_tables.base_dir / ".cutover"
    result = commands.run_phase2(
        many_tables, workdir, reporter=ProgressReporter(out, live=False), jobs=2
    )
    assert sum(r.written for r in result.reports[0].results) == sum(TABLES.values())
    lines = out.getvalue().splitlines()
    for name, rows in TABLES.items():
        assert f"{name}: loading {rows:,} rows" in lines
        assert f"{name}: {rows:,} written, 0 rejected in" in out.getvalue()
    for line in lines:
        m = re.match(r"(\w+): ([\d,]+)/([\d,]+) rows \(", line)
        if m:
            assert int(m[3].replace(",", "")) == TABLES[m[1]]
            assert int(m[2].replace(",", "")) <= TABLES[m[1]]
