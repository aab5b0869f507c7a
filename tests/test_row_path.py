"""One path for a row: load, verify and plan's probe coerce and digest a source row alike."""

from __future__ import annotations

from pathlib import Path

from cutover import commands
from cutover import config as config_mod
from cutover.load import state
from cutover.phases.plan_probe import probe_rows
from cutover.proof.sides import SourceSide, row_path
from cutover.proof.verify import VerifyResult
from cutover.schema.mapping import map_schema
from cutover.sources import open_source

SOURCE = """
CREATE TABLE t (
    id INTEGER PRIMARY KEY,
    s TEXT,
    price NUMERIC(10, 2),
    at DATETIME,
    meta JSON,
    raw BLOB
);
"""
INSERT = "INSERT INTO t VALUES (?, CAST(? AS TEXT), ?, ?, ?, ?)"
ROWS = [
    (1, b"ok", 1.25, "2024-01-02 10:00:00", '{"b": 1, "a": 2}', b"\x00\x01"),
    (2, b"caf\xe9", 2.5, "2024-01-02T10:00:00.123456", "[1.50, 2e1]", None),
    (3, "한글".encode(), None, "2024-01-03", None, b"\xff"),
    (4, b"\xff\xfe tail", 7, "2024-01-04 00:00:00", '{"x": null}', b""),
]
REPLACE = 'invalid_utf8 = "replace"'


def written_rejected(result: commands.Phase2Result) -> tuple[int, int]:
    (rep,) = result.reports
    (res,) = rep.results
    assert res.reconciled, res
    return res.written, res.rejected


def run_verify(tmp_path: Path) -> VerifyResult:
    return commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")


def test_a_load_replacing_invalid_utf8_passes_verify_reading_the_source(
    make_sqlite, load, pg, tmp_path
):
    """Verify applies the invalid_utf8 policy the load applied instead of skipping those rows."""
    src = make_sqlite(SOURCE, rows={INSERT: ROWS})
    result = load(src, settings=REPLACE + '\ndigests = "verify"')
    assert written_rejected(result) == (4, 0)
    assert pg.execute("SELECT s FROM t WHERE id = 2").fetchone() == ("caf\ufffd",)
    parity = run_verify(tmp_path)
    assert parity.ok, parity.to_json()
    (t,) = parity.databases[0].tables
    assert (t.digests_from, t.source_rows, t.target_rows) == ("source", 4, 4)
    assert [(c.column, c.policy, c.values) for c in t.changed] == [
        ("s", "invalid_utf8 = 'replace'", 2)
    ]


def test_a_load_rejecting_invalid_utf8_passes_verify_reading_the_source(
    make_sqlite, load, tmp_path
):
    """With the default policy the two undecodable rows are rejected, and accounted for."""
    src = make_sqlite(SOURCE, rows={INSERT: ROWS})
    result = load(src, settings='digests = "verify"')
    assert written_rejected(result) == (2, 2)
    parity = run_verify(tmp_path)
    assert parity.ok, parity.to_json()


def test_load_verify_and_plan_probe_give_the_same_digests(make_sqlite, load, pg, tmp_path):
    """The digests the load stored equal verify's re-read of the source and plan's probe."""
    src = make_sqlite(SOURCE, rows={INSERT: ROWS})
    load(src, settings=REPLACE)
    stored = state.stored_digests(pg, "app", "t")
    assert stored.rows == 4

    config = config_mod.load(tmp_path / "cutover.toml")
    (db,) = config.databases
    manifest, complete = state.read_manifest(pg, "app") or ({}, False)
    assert complete
    source = open_source(db.source, config.base_dir)
    try:
        table = source.reflect().table("t")
        (t,) = manifest["tables"]
        path = row_path(source, table, manifest, t)
        verified = SourceSide(source, table, path, frozenset()).digests()
        plan = map_schema(source, db, config.settings, None, load=True)
        _read, _out, probed = probe_rows(source, plan.tables[0], config.settings)
    finally:
        source.close()
    assert verified.buckets == stored.buckets
    assert probed.buckets == stored.buckets
