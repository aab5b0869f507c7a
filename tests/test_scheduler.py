"""How the load is cut into chunks and ordered: by rows and by estimated bytes, heaviest first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cutover.config import DatabaseConfig, Settings
from cutover.load import scheduler
from cutover.load.state import Chunk
from cutover.schema.mapping import map_schema
from cutover.schema.target_plan import TablePlan
from cutover.sources.sqlite import SqliteSource

BLOB = 20_000  # bytes per blob in the test table


@pytest.fixture
def source(tmp_path: Path) -> SqliteSource:
    path = tmp_path / "src.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL);"
        "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT);"
        "CREATE TABLE pairs (a INTEGER, b INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;"
        "CREATE TABLE empty (id INTEGER PRIMARY KEY, x TEXT);"
    )
    conn.executemany(
        "INSERT INTO files VALUES (?, ?, ?)",
        ((i, f"f{i:04d}.bin", bytes([i % 256]) * BLOB) for i in range(1, 401)),
    )
    conn.executemany("INSERT INTO tags VALUES (?, ?)", ((i, "abcdefghij") for i in range(1, 2001)))
    conn.executemany("INSERT INTO pairs VALUES (?, ?)", ((i, i + 1) for i in range(100)))
    conn.commit()
    conn.close()
    return SqliteSource(path)


def plans(source: SqliteSource) -> dict[str, TablePlan]:
    db = DatabaseConfig(
        name="app",
        env_key="DATABASE_URL",
        source="sqlite:///x.db",
        target="postgresql://localhost/app",
    )
    return {t.source.name: t for t in map_schema(source, db, Settings(), None).tables}


def test_row_bytes_measures_blobs_and_text(source: SqliteSource) -> None:
    tables = {t.name: t for t in source.reflect().tables}
    files = source.row_bytes(tables["files"])
    assert (
        files is not None and BLOB <= files <= BLOB + 20
    )  # the blob, the 3-4 digit id, the 12-character name
    tags = source.row_bytes(tables["tags"])
    assert tags is not None and 11 <= tags <= 14
    pairs = source.row_bytes(tables["pairs"])  # no rowid: sampled from the start of the key
    assert pairs is not None and 2 <= pairs <= 5
    assert source.row_bytes(tables["empty"]) is None


def test_table_bytes_is_rows_times_row_size(source: SqliteSource) -> None:
    tps = list(plans(source).values())
    sizes = scheduler.table_bytes(source, tps)
    assert 400 * BLOB <= sizes["files"] <= 400 * (BLOB + 20)
    assert sizes["empty"] == 0


def test_chunks_by_bytes_as_well_as_rows(source: SqliteSource) -> None:
    tp = plans(source)
    files, tags, pairs = tp["files"], tp["tags"], tp["pairs"]
    # rows alone: 400 rows < chunk_rows keeps one chunk; 3.5 chunks' worth of bytes makes four
    assert len(scheduler.plan_chunks(source, [files], 1_000)) == 1
    by_bytes = scheduler.plan_chunks(
        source, [files], 1_000, {"files": int(3.5 * scheduler.CHUNK_BYTES)}
    )
    assert [c.chunk for c in by_bytes] == [0, 1, 2, 3]
    assert by_bytes[0].after is None and by_bytes[-1].until is None
    # consecutive ranges meet exactly: each chunk starts after the key the previous one stops before
    for prev, nxt in zip(by_bytes, by_bytes[1:]):
        assert (
            prev.until is not None and nxt.after is not None and nxt.after[0] == prev.until[0] - 1
        )
    # rows still split a narrow table; a table without one integer key stays whole however big
    assert len(scheduler.plan_chunks(source, [tags], 500)) == 4
    assert (
        len(scheduler.plan_chunks(source, [pairs], 10, {"pairs": 10 * scheduler.CHUNK_BYTES})) == 1
    )


def test_heaviest_chunks_go_first() -> None:
    chunks = [
        Chunk("big_rows", 0, None, None),
        Chunk("big_rows", 1, None, None),
        Chunk("blobs", 0, None, None),
        Chunk("small", 0, None, None),
    ]
    weight = {"big_rows": 300, "blobs": 200, "small": 5}  # big_rows' chunks weigh 150 each
    order = scheduler.largest_first(chunks, chunks, weight)
    assert [(c.table, c.chunk) for c in order] == [
        ("blobs", 0),
        ("big_rows", 0),
        ("big_rows", 1),
        ("small", 0),
    ]
    # on resume only the pending chunks are ordered, but a table's weight is still shared by all its chunks
    order = scheduler.largest_first([chunks[1], chunks[3]], chunks, weight)
    assert [(c.table, c.chunk) for c in order] == [("big_rows", 1), ("small", 0)]


def test_workers_start_early_only_for_a_big_source_and_more_than_one_job() -> None:
    for size, jobs in (
        (scheduler.EARLY_START_BYTES - 1, 2),
        (scheduler.EARLY_START_BYTES, 1),
        (None, 2),
    ):
        with scheduler.Workers.early(size, jobs) as workers:
            assert workers.pool is None
    with scheduler.Workers.early(scheduler.EARLY_START_BYTES, 2) as workers:
        assert workers.pool is not None and workers.size == 1  # the parent loads chunks as well
        assert workers.get(5) is workers.pool  # a started pool is reused, not replaced
        assert workers.pool.submit(scheduler.default_jobs).result(timeout=60) >= 1
    assert workers.pool is None
