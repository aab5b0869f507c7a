"""Parity: a clean load verifies; each kind of drift on the target is caught and named."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.rows.digest import RowHasher

SOURCE = """
CREATE TABLE t (
    id INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    price NUMERIC(10, 2),
    at DATETIME,
    s TEXT NOT NULL,
    note TEXT,
    b BLOB,
    meta JSON,
    doc TEXT,
    emb TEXT
);
CREATE INDEX t_n ON t (n);
CREATE TABLE log (at TEXT, msg TEXT);
"""
ROWS = [
    (
        i,
        i * 10,
        i + 0.25,
        f"2024-01-0{1 + i % 9} 10:00:00.{i:06d}",
        f"text {i} 한글",
        None if i % 2 else "",
        bytes([i, 255 - i]),
        '{ "b": 1,  "a": [1.50, 2e1] }',
        '{"z": 1, "y": [true, null]}',
        f"[{i}.5, 2, 3]",
    )
    for i in range(1, 40)
]
OVERRIDES = '[databases.columns]\n"t.doc" = "json"\n"t.emb" = "vector(3)"\n'


@pytest.fixture
def loaded(make_sqlite, load, tmp_path):
    src = make_sqlite(
        SOURCE,
        rows={
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": ROWS,
            "INSERT INTO log VALUES (?, ?)": [("2024-01-01", "start"), ("2024-01-02", "stop")],
        },
    )
    result = load(src, extra=OVERRIDES)
    assert result.rejected == 0
    return src


def run_verify(tmp_path: Path, **kwargs):
    return commands.verify(
        config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover", **kwargs
    )


def table_of(result, name):
    return next(t for t in result.databases[0].tables if t.table == name)


def test_clean_load_verifies_by_reading_the_source_again(loaded, tmp_path):
    result = run_verify(tmp_path)
    assert result.ok, result.to_json()
    t = table_of(result, "t")
    assert (t.source_rows, t.target_rows, t.digests_from) == (39, 39, "source")
    assert result.databases[0].compared_with == "the source, read now"


def test_clean_load_verifies_from_the_loads_digests_on_request(loaded, tmp_path):
    result = run_verify(tmp_path, digests="load")
    assert result.ok, result.to_json()
    t = table_of(result, "t")
    assert (t.source_rows, t.target_rows, t.digests_from) == (39, 39, "load")


def test_a_decommissioned_source_is_verified_from_the_loads_digests(loaded, pg, tmp_path):
    loaded.rename(loaded.with_suffix(".gone"))
    result = run_verify(tmp_path)
    assert result.ok, result.to_json()
    assert "the digests the load recorded (the source is not reachable" in (
        result.databases[0].compared_with
    )
    t = table_of(result, "t")
    assert (t.source_rows, t.target_rows, t.digests_from) == (39, 39, "load")
    pg.execute("UPDATE t SET s = 'edited' WHERE id = 7")
    result = run_verify(tmp_path)
    t = table_of(result, "t")
    assert not result.ok and t.differing_buckets == ["keys 0–9,999"]
    assert "cannot be named" in (t.note or "")
    runner = CliRunner()
    out = runner.invoke(cli, ["--config", str(tmp_path / "cutover.toml"), "verify"]).output
    assert "compared with the digests the load recorded" in out
    code = runner.invoke(
        cli, ["--config", str(tmp_path / "cutover.toml"), "verify", "--digests", "source"]
    ).exit_code
    assert code != 0
    assert result.databases[0].schema_issues == []


DRIFTS = [
    pytest.param("DELETE FROM t WHERE id = 5", "missing", None, {"id": 5}, id="row-deleted"),
    pytest.param(
        "INSERT INTO t SELECT 1000, n, price, at, s, note, b, meta, doc, emb FROM t WHERE id = 1",
        "extra",
        None,
        {"id": 1000},
        id="row-copied-under-new-key",
    ),
    pytest.param(
        "UPDATE t SET n = n + 1 WHERE id = 3", "changed", "n", {"id": 3}, id="integer-plus-one"
    ),
    pytest.param(
        "UPDATE t SET price = price + 0.01 WHERE id = 3",
        "changed",
        "price",
        {"id": 3},
        id="decimal-plus-one-cent",
    ),
    pytest.param(
        "UPDATE t SET at = at + interval '1 microsecond' WHERE id = 4",
        "changed",
        "at",
        {"id": 4},
        id="timestamp-plus-1us",
    ),
    pytest.param(
        "UPDATE t SET s = s || ' ' WHERE id = 6", "changed", "s", {"id": 6}, id="trailing-space"
    ),
    pytest.param(
        "UPDATE t SET note = '' WHERE id = 7", "changed", "note", {"id": 7}, id="null-became-empty"
    ),
    pytest.param(
        "UPDATE t SET note = NULL WHERE id = 8",
        "changed",
        "note",
        {"id": 8},
        id="empty-became-null",
    ),
    pytest.param(
        "UPDATE t SET b = set_byte(b, 0, get_byte(b, 0) # 1) WHERE id = 9",
        "changed",
        "b",
        {"id": 9},
        id="bytea-bit-flipped",
    ),
    pytest.param(
        """UPDATE t SET meta = jsonb_set(meta, '{b}', '2') WHERE id = 10""",
        "changed",
        "meta",
        {"id": 10},
        id="json-value-changed",
    ),
    pytest.param(
        "UPDATE t SET emb = '[11.5, 2, 3.0001]' WHERE id = 11",
        "changed",
        "emb",
        {"id": 11},
        id="vector-element-changed",
    ),
]


@pytest.mark.parametrize("statement, kind, column, key", DRIFTS)
def test_drift_is_caught_and_named(loaded, pg, tmp_path, statement, kind, column, key):
    pg.execute(statement)
    result = run_verify(tmp_path)
    assert not result.ok
    t = table_of(result, "t")
    assert not t.ok and table_of(result, "log").ok
    (diff,) = t.differences
    assert (diff.kind, diff.column, diff.key) == (kind, column, key)
    if kind == "changed":
        assert diff.source != diff.target


def test_duplicated_row_in_a_table_without_key(loaded, pg, tmp_path):
    pg.execute("INSERT INTO log SELECT * FROM log WHERE msg = 'start'")
    t = table_of(run_verify(tmp_path), "log")
    assert not t.ok and t.target_rows == 3
    (diff,) = t.differences
    assert diff.kind == "duplicated" and "start" in diff.key["row"]


def test_json_key_order_and_whitespace_still_verify(loaded, pg, tmp_path):
    pg.execute("""UPDATE t SET doc = '{ "y" : [true,null],   "z":1.0 }' WHERE id = 12""")
    pg.execute("""UPDATE t SET meta = '{"a": [1.5, 20], "b": 1}' WHERE id = 12""")
    assert run_verify(tmp_path).ok


@pytest.mark.parametrize(
    "statement, subject, problem",
    [
        ("ALTER TABLE t DROP COLUMN note", "column note", "missing"),
        ("ALTER TABLE t ALTER COLUMN s DROP NOT NULL", "column s", "NOT NULL was dropped"),
        ("DROP INDEX t_n", "index t_n", "missing"),
        ("ALTER TABLE t ALTER COLUMN n TYPE bigint", "column n", "type is bigint"),
    ],
)
def test_schema_drift_is_a_failure(loaded, pg, tmp_path, statement, subject, problem):
    pg.execute(statement)
    result = run_verify(tmp_path)
    assert not result.ok
    issues = [(i.subject, i.problem) for i in result.databases[0].schema_issues]
    assert any(s == subject and problem in p for s, p in issues), issues


def test_rejected_rows_are_accounted_not_missing(make_sqlite, load, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 1), (2, 'two'), (3, 3);"
    )
    load(src, 'columns."t.n" = "integer"')  # the declared type enforced: 'two' is rejected
    result = run_verify(tmp_path)
    t = table_of(result, "t")
    assert result.ok and (t.source_rows, t.rejected, t.target_rows) == (3, 1, 2)


def test_changed_source_is_detected_and_read_again(loaded, tmp_path):
    conn = sqlite3.connect(loaded)
    conn.execute("INSERT INTO t (id, n, s) VALUES (500, 1, 'late arrival')")
    conn.commit()
    conn.close()
    result = run_verify(tmp_path)
    assert result.databases[0].stale_source and not result.ok
    t = table_of(result, "t")
    assert t.digests_from == "source"
    assert [(d.kind, d.key) for d in t.differences] == [("missing", {"id": 500})]


def test_digests_of_another_version_are_recomputed_not_trusted(loaded, pg, tmp_path):
    pg.execute(
        "UPDATE _cutover.manifest SET manifest = jsonb_set(manifest, '{digest}', '\"blake2b-128/0\"')"
    )
    pg.commit()
    result = run_verify(tmp_path, digests="load")
    assert result.ok, result.to_json()
    t = table_of(result, "t")
    assert t.digests_from == "source" and "another cutover version" in t.note


def test_cli_exit_codes_json_and_junit(loaded, pg, tmp_path):
    runner = CliRunner()
    base = [
        "--config",
        str(tmp_path / "cutover.toml"),
        "--workdir",
        str(tmp_path / ".cutover"),
        "verify",
    ]
    ok = runner.invoke(
        cli, [*base, "--json", str(tmp_path / "p.json"), "--junit", str(tmp_path / "p.xml")]
    )
    assert ok.exit_code == 0, ok.output
    assert "parity: every table matches" in ok.output
    assert json.loads((tmp_path / "p.json").read_text())["ok"] is True
    assert 'failures="0"' in (tmp_path / "p.xml").read_text()
    pg.execute("UPDATE t SET n = n + 1 WHERE id = 2")
    bad = runner.invoke(cli, [*base, "--junit", str(tmp_path / "p.xml"), "--table", "t"])
    assert bad.exit_code == 1
    assert 'changed {"id": 2} column n: source ' in bad.output
    assert "<failure" in (tmp_path / "p.xml").read_text()
    unknown = runner.invoke(cli, [*base, "--table", "nope"])
    assert unknown.exit_code == 2 and "expected one of" in unknown.output


def test_verify_before_any_load_says_what_to_do(make_sqlite, pg_url, tmp_path):
    src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    commands.init(tmp_path / "cutover.toml", source=f"sqlite:///{src}", target=pg_url)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "cutover.toml"), "verify"])
    assert result.exit_code == 2 and "run --phase 2" in result.output


def test_pytest_plugin_gives_one_test_per_table(loaded, pg, tmp_path, pytester):
    args = [
        "--cutover-parity",
        "--cutover-config",
        str(tmp_path / "cutover.toml"),
        "--cutover-workdir",
        str(tmp_path / ".cutover"),
        "-p",
        "no:cacheprovider",
    ]
    ok = pytester.runpytest(*args)
    ok.assert_outcomes(passed=3)
    pg.execute("UPDATE t SET s = 'changed' WHERE id = 4")
    bad = pytester.runpytest(*args)
    bad.assert_outcomes(passed=2, failed=1)
    bad.stdout.fnmatch_lines(["*app::t*", '*changed {"id": 4} column s*'])


@pytest.mark.parametrize(
    "pg_type, source_value, target_value",
    [
        (
            "double precision",
            3,
            3.0,
        ),  # SQLite hands an integer to a REAL-less column; Postgres returns a float
        ("double precision", Decimal("0.1"), 0.1),
        ("bigint", True, 1),
        ("text", 17, "17"),
        # float4: Postgres' text form of float32(0.1) and its binary one are one float32 (a source
        # 0.1 never gets here: the row path rejects or, under a policy, rounds and counts it)
        ("real", 0.1, 0.10000000149011612),
    ],
)
def test_a_digest_does_not_depend_on_the_python_type_a_side_reads(
    pg_type, source_value, target_value
):
    hasher = RowHasher(["bigint", pg_type], [0])
    assert hasher.digests([(1, source_value)]) == hasher.digests([(1, target_value)])
    assert hasher.digests([(1, source_value)]) != hasher.digests([(1, None)])


@pytest.mark.parametrize("statement, kind, column, key", [DRIFTS[0], DRIFTS[2], DRIFTS[5]])
def test_a_load_without_digests_is_verified_from_the_source(
    make_sqlite, load, pg, tmp_path, statement, kind, column, key
):
    """digests = "verify": the load stores none (faster), and verify reads the source instead; drift is still named."""
    src = make_sqlite(
        SOURCE,
        rows={
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": ROWS,
            "INSERT INTO log VALUES (?, ?)": [("2024-01-01", "start")],
        },
    )
    assert load(src, extra=OVERRIDES, settings='digests = "verify"').rejected == 0
    assert pg.execute("SELECT count(*) FROM _cutover.digests").fetchone() == (0,)
    clean = run_verify(tmp_path)
    assert clean.ok, clean.to_json()
    t = table_of(clean, "t")
    assert (t.digests_from, t.source_rows, t.target_rows) == ("source", 39, 39)
    t = table_of(run_verify(tmp_path, digests="load"), "t")
    assert t.digests_from == "source"
    assert t.note is not None and 'digests = "verify"' in t.note
    pg.execute(statement)
    (diff,) = table_of(run_verify(tmp_path), "t").differences
    assert (diff.kind, diff.column, diff.key) == (kind, column, key)


def test_verify_reads_wide_rows_in_batches_bounded_in_bytes(make_sqlite, load, pg, tmp_path):
    """Blob rows come a few at a time on both sides, so verify's memory does not grow with row width."""
    from cutover.proof.sides import target_batches
    from cutover.sources.base import BATCH_BYTES

    src = make_sqlite(
        "CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
        rows={"INSERT INTO files VALUES (?, ?)": [(i, bytes([i]) * 500_000) for i in range(1, 41)]},
    )
    assert load(src).rejected == 0
    t = {"target": "files", "columns": [{"target": "id"}, {"target": "data"}]}
    batches = list(target_batches(pg, "public", t))
    assert sum(len(b) for b in batches) == 40 and len(batches) > 1
    assert max(sum(len(r[1]) for r in b) for b in batches) <= BATCH_BYTES
    result = run_verify(tmp_path)
    assert result.ok, result.to_json()


def test_a_large_table_is_digested_by_worker_processes_with_the_same_answer(
    make_sqlite, load, pg, tmp_path, monkeypatch
):
    """Both sides over the load's key ranges in worker processes: equal when equal, drift still named."""
    from cutover.proof import verify as verify_mod

    src = make_sqlite(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL);",
        rows={
            "INSERT INTO m VALUES (?, ?, ?)": [(i, f"message {i}", i / 7) for i in range(1, 3001)]
        },
    )
    assert load(src, settings="batch_size = 500\nchunk_rows = 1000").rejected == 0
    assert pg.execute("SELECT count(*) FROM _cutover.chunks WHERE chunk >= 0").fetchone()[0] > 1
    monkeypatch.setattr(verify_mod, "PARALLEL_MIN_ROWS", 1)
    result = run_verify(tmp_path)
    assert result.ok, result.to_json()
    pg.execute("UPDATE m SET body = 'edited' WHERE id = 2500")
    (t,) = run_verify(tmp_path).databases[0].tables
    assert [(d.kind, d.key, d.column) for d in t.differences] == [("changed", {"id": 2500}, "body")]
