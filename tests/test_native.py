"""The columnar engine: which tables take it, digests equal to the row path's, fallbacks, verify.

Every test here runs on both engines (conftest.BOTH_ENGINES); on "auto" a spy on NativeChunk
counts the batches the columnar path wrote, so a test cannot pass by falling back unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover import commands
from cutover import config as config_mod
from cutover.errors import ReaderStopped
from cutover.load.native import NativeChunk
from cutover.rows import native

SOURCE = """
CREATE TABLE m (
    id INTEGER PRIMARY KEY,
    conv INTEGER NOT NULL,
    role VARCHAR(16) NOT NULL,
    body TEXT,
    tokens SMALLINT,
    at DATETIME NOT NULL,
    seen TIMESTAMP,
    flag BOOLEAN,
    score DOUBLE,
    data BLOB
);
CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, n INTEGER);
"""
ROWS = 2_000
BATCH_ROWS = 300  # several Arrow batches per table, so a fallback batch sits between native ones


def message(i: int) -> tuple[Any, ...]:
    """A clean row of m: every kind the columnar path carries, NULLs in each nullable column."""
    return (
        i,
        i // 10,
        "user" if i % 2 else "assistant",
        None if i % 7 == 0 else f"메시지 {i} — text with 'quotes', tabs\tand\nnewlines",
        None if i % 5 == 0 else i % 300,
        f"2024-0{1 + i % 9}-1{i % 10} 0{i % 10}:3{i % 10}:00" + (f".{i:06d}" if i % 3 else ""),
        None if i % 4 == 0 else f"2025-01-02T03:04:0{i % 10}",
        None if i % 6 == 0 else i % 2,
        None if i % 8 == 0 else (i / 7, -0.0, i * 1e-7, i * 1.5e12, 1e300 / i)[i % 5],
        None if i % 9 == 0 else bytes([i % 256, 0, 255]),
    )


@pytest.fixture
def native_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows of each batch the columnar path wrote (in this process), in small batches."""
    written: list[int] = []
    write = NativeChunk.write

    def spy(self: NativeChunk, conn: Any, chunk: Any, batch: Any) -> bool:
        done = write(self, conn, chunk, batch)
        if done:
            written.append(batch.num_rows)
        return done

    monkeypatch.setattr(NativeChunk, "write", spy)
    monkeypatch.setattr(native, "MAX_BATCH_ROWS", BATCH_ROWS)
    monkeypatch.setattr(native, "BATCH_BYTES", 1)
    monkeypatch.setattr(native, "MIN_BATCH_ROWS", BATCH_ROWS)
    return written


def run_verify(tmp_path: Path, **kwargs: Any) -> Any:
    return commands.verify(
        config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover", **kwargs
    )


def table_of(result: Any, name: str) -> Any:
    return next(t for t in result.databases[0].tables if t.table == name)


@pytest.fixture
def chat(make_sqlite: Any) -> Path:
    src: Path = make_sqlite(
        SOURCE,
        rows={
            "INSERT INTO m VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": [
                message(i) for i in range(1, ROWS + 1)
            ],
            "INSERT INTO kv VALUES (?, ?, ?)": [(f"k{i}", f"v{i}", i) for i in range(500)],
        },
    )
    return src


def test_clean_load_goes_native_and_verifies(chat, load, pg, tmp_path, engine, native_batches):
    result = load(chat)
    assert sum(r.read for r in result.reports[0].results) == ROWS + 500
    assert result.rejected == 0
    if engine == "auto":
        assert sum(native_batches) == ROWS + 500
        assert len(native_batches) > ROWS // BATCH_ROWS
    else:
        assert native_batches == []
    manifest = pg.execute("SELECT manifest FROM _cutover.manifest").fetchone()[0]
    assert manifest["engine"] == ("arrow" if engine == "auto" else "python")
    # the load's digests (columnar on auto) equal the row path's digests of the target rows …
    stored = run_verify(tmp_path, digests="load")
    assert stored.ok, stored.to_json()
    # … and of the source read again
    again = run_verify(tmp_path)
    assert again.ok, again.to_json()
    assert pg.execute("SELECT count(*) FROM m WHERE flag").fetchone()[0] == sum(
        1 for i in range(1, ROWS + 1) if i % 6 and i % 2
    )


def test_verify_names_a_changed_value_after_a_native_load(chat, load, pg, tmp_path, engine):
    load(chat)
    pg.execute("UPDATE m SET body = 'changed' WHERE id = 1234")
    pg.execute("UPDATE kv SET n = -1 WHERE k = 'k77'")
    for digests in ("auto", "load"):
        result = run_verify(tmp_path, digests=digests)
        assert not result.ok
        assert "1234" in str(table_of(result, "m").differences)
        assert "k77" in str(table_of(result, "kv").differences)


def test_bad_values_take_the_row_path_with_their_reasons(
    make_sqlite, load, pg, tmp_path, engine, native_batches
):
    rows = [message(i) for i in range(1, ROWS + 1)]
    rows[100] = (*rows[100][:3], "NUL \x00 inside", *rows[100][4:])
    rows[700] = (*rows[700][:2], "r" * 17, *rows[700][3:])
    rows[1900] = (*rows[1900][:5], "2024-02-30 10:00:00", *rows[1900][6:])
    src = make_sqlite(SOURCE, rows={"INSERT INTO m VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": rows})
    (res, _kv) = load(src).reports[0].results
    assert (res.read, res.written, res.rejected) == (ROWS, ROWS - 3, 3)
    reasons = set(res.reasons)
    assert {
        "text contains NUL (\\x00), which Postgres text cannot store",
        "value of 17 characters is longer than the column's 16",
    } < reasons, reasons
    # an impossible date in plain ISO form: Postgres refuses it, or the coercer when another
    # value sent the same batch through it (the row path's reason depends on its batch, either way)
    (late,) = reasons - {
        "text contains NUL (\\x00), which Postgres text cannot store",
        "value of 17 characters is longer than the column's 16",
    }
    assert late.startswith(("Postgres refused the row", "unparseable timestamp '2024-02-30")), late
    if engine == "auto":  # the three batches holding a bad value went through the row path
        assert ROWS - 3 * BATCH_ROWS <= sum(native_batches) < ROWS
    result = run_verify(tmp_path, digests="load")
    assert result.ok, result.to_json()


def test_mixed_storage_classes_keep_the_table_on_the_row_path(
    make_sqlite, load, pg, engine, native_batches
):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT);",
        rows={"INSERT INTO t VALUES (?, ?, ?)": [(1, 1, "a"), (2, "two", "b"), (3, 3, 4.5)]},
    )
    (res,) = load(src).reports[0].results
    assert (res.read, res.rejected) == (3, 0)
    assert native_batches == []  # n holds integers and text, s text and a real
    assert pg.execute("SELECT n::text, s FROM t ORDER BY id").fetchall() == [
        ("1", "a"),
        ("two", "b"),
        ("3", "4.5"),
    ]


def test_eligibility_names_what_keeps_a_table_on_the_row_path(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, price NUMERIC(10,2), s TEXT);"
        "CREATE TABLE u (a INTEGER, b TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;",
        rows={"INSERT INTO t VALUES (?, ?, ?)": [(1, 1.25, "x")]},
    )
    load(src)
    from cutover.load.native import native_table
    from cutover.load.pipeline import row_path
    from cutover.schema.mapping import map_schema
    from cutover.sources import open_source

    cfg = config_mod.load(tmp_path / "cutover.toml")
    source = open_source(cfg.databases[0].source, cfg.base_dir)
    plan = map_schema(source, cfg.databases[0], cfg.settings, None, load=True)
    reasons = {}
    for tp in plan.tables:
        keys = source.key_columns(tp.source)
        reasons[tp.name] = native_table(
            source, tp, keys, row_path(tp, keys, cfg.settings), cfg.settings
        )[1]
    assert "price" in reasons["t"]
    assert reasons["u"] == "its stream key is not one integer"


def test_a_reader_that_stops_mid_chunk_hands_the_rest_to_the_row_path(
    chat, load, pg, tmp_path, engine, native_batches, monkeypatch
):
    read = native.NativeTable.read

    def stops_after_two(self: native.NativeTable, *args: Any) -> Any:
        for n, batch in enumerate(read(self, *args)):
            if n == 2:
                raise ReaderStopped(
                    "[SQLite] Type mismatch in column 4: expected INT64 but got STRING"
                )
            yield batch

    monkeypatch.setattr(native.NativeTable, "read", stops_after_two)
    result = load(chat)
    (m, kv) = result.reports[0].results
    assert (m.read, m.written, m.rejected) == (ROWS, ROWS, 0)
    if engine == "auto":
        assert sum(native_batches) == 2 * BATCH_ROWS - 1 + 500  # m's first two batches, all of kv
    assert pg.execute("SELECT count(*), count(DISTINCT id) FROM m").fetchone() == (ROWS, ROWS)
    assert run_verify(tmp_path).ok


def test_a_batch_postgres_refuses_is_loaded_by_the_row_path_once(
    chat, load, pg, tmp_path, engine, native_batches, monkeypatch
):
    encode = native.NativeTable.encode
    seen: list[int] = []

    def third_is_garbled(self: native.NativeTable, batch: Any) -> list[bytes]:
        parts = encode(self, batch)
        seen.append(batch.num_rows)
        if len(seen) == 3:  # a row that claims more fields than the table has: Postgres refuses
            parts[1] = b"\x00\x7f" + parts[1][2:]
        return parts

    monkeypatch.setattr(native.NativeTable, "encode", third_is_garbled)
    (m, _kv) = load(chat).reports[0].results
    assert (m.read, m.written, m.rejected) == (ROWS, ROWS, 0)
    if engine == "auto":
        assert sum(native_batches) == ROWS + 500 - seen[2]
    assert pg.execute("SELECT count(*), count(DISTINCT id) FROM m").fetchone() == (ROWS, ROWS)
    assert run_verify(tmp_path, digests="load").ok
