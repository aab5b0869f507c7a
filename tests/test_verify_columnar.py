"""Verify's columnar reading (proof/columnar.py) gives the row path's digests, value for value.

The target read as Arrow through the ADBC PostgreSQL driver is compared with the same rows read
by psycopg and digested by `RowHasher`, over every type the Arrow reader takes and the values
where two printers disagree. The source read as Arrow is compared with the Python row path, on a
SQLite table whose first batch holds values ADBC would convert without a word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import set_json_loads

from cutover import commands
from cutover import config as config_mod
from cutover.load import state
from cutover.proof import columnar, sides
from cutover.rows import native
from cutover.rows.digest import Digests, RowHasher
from cutover.sources import open_source
from cutover.urls import postgres_conninfo

# (column, type, values): NULLs, and the values where Arrow's and Python's printers part
COLUMNS = [
    ("i2", "smallint", [-32768, 0, 32767]),
    ("i4", "integer", [-(2**31), 7, 2**31 - 1]),
    ("f8", "double precision", [0.1, -0.0, 1e-5, 1e16, 123456789012.5, 1e300, 5e-324]),
    ("f8s", "double precision", ["NaN", "Infinity", "-Infinity", 3.0, 2.5e-4]),
    ("f4", "real", [0.1, 1.5, -3.4e38, 1e-40]),
    ("num", "numeric", ["12.50", "NaN", "-0.000", "123456789012345678901234567890.123456789"]),
    ("num2", "numeric(10,2)", ["0.10", "-99999999.99", "5"]),
    ("t", "text", ["", "메시지 'quoted'\ttab\nline", "\\x00 not a NUL", "a" * 3000]),
    ("vc", "varchar(20)", ["v", " trailing  ", "ß"]),
    ("ch", "char(4)", ["ab", "abcd", ""]),
    ("b", "bytea", [b"", b"\x00\xff\x10", bytes(range(256))]),
    ("flag", "boolean", [True, False]),
    ("ts", "timestamp", ["2024-01-02 03:04:05.123", "0001-01-01 00:00:00", "9999-12-31 23:59:59"]),
    ("tz", "timestamptz", ["2024-01-02 03:04:05+09", "1970-01-01 00:00:00.000001+00"]),
    ("d", "date", ["2024-02-29", "0001-01-01"]),
    ("tm", "time", ["00:00:00", "23:59:59.999999", "12:30:00.5"]),
    ("u", "uuid", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
    ("j", "json", ['{"b": 1, "a": [1.0, 2e2]}', "[]", '"text"']),
    ("jb", "jsonb", ['{"b": 1, "a": {"z": null, "y": 1.50}}', "3", '{"한": "글"}']),
    ("v", "vector(3)", ["[1,2.5,-0.125]", "[0,0,0]"]),
]
ROWS = 120


def value(values: list[Any], i: int) -> Any:
    """Each value in turn, with a NULL every fifth row."""
    return None if i % 5 == 4 else values[i % len(values)]


@pytest.fixture
def typed_table(pg: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """Table `typed` (integer key) and `typed_text` (text key) holding every column above."""
    pg.execute("CREATE EXTENSION IF NOT EXISTS vector")
    names = ", ".join(f"{c} {t}" for c, t, _ in COLUMNS)
    pg.execute(f"CREATE TABLE typed (id bigint PRIMARY KEY, {names})")
    pg.execute(f"CREATE TABLE typed_text (k text PRIMARY KEY, {names})")
    marks = ", ".join(["%s"] * (len(COLUMNS) + 1))
    rows = [[value(v, i) for _, _, v in COLUMNS] for i in range(ROWS)]
    with pg.cursor() as cur:
        cur.executemany(
            f"INSERT INTO typed VALUES ({marks})", [[i, *r] for i, r in enumerate(rows)]
        )
        cur.executemany(
            f"INSERT INTO typed_text VALUES ({marks})", [[f"k{i}", *r] for i, r in enumerate(rows)]
        )
    return [("id", "bigint"), *[(c, t) for c, t, _ in COLUMNS]]


def manifest_table(name: str, columns: list[tuple[str, str]]) -> dict[str, Any]:
    """The part of a manifest's table entry the target side reads."""
    return {
        "source": name,
        "target": name,
        "key": [columns[0][0]],
        "columns": [
            {"source": c, "target": c, "pg_type": t, "coercion": "identity", "options": {}}
            for c, t in columns
        ],
    }


def psycopg_digests(url: str, t: dict[str, Any], hasher: RowHasher, *bounds: Any) -> Digests:
    """The target's digests as verify computed them before it read Arrow: psycopg rows."""
    with psycopg.connect(postgres_conninfo(url)) as conn:
        set_json_loads(sides.json_text, conn)
        return sides.target_digests(conn, None, "public", t, hasher, *bounds)


@pytest.mark.parametrize("key", ["id", "k"])
def test_target_read_as_arrow_digests_as_psycopg_rows(pg_url, typed_table, key):
    columns = [(key, "bigint" if key == "id" else "text"), *typed_table[1:]]
    t = manifest_table("typed" if key == "id" else "typed_text", columns)
    hasher = RowHasher([c for _, c in columns], [0])
    assert hasher.ranged == (key == "id")
    arrow = columnar.target_digests(pg_url, "public", t, hasher, None, None)
    assert arrow is not None, "every type here is one the Arrow reader takes"
    expected = psycopg_digests(pg_url, t, hasher)
    assert expected.rows == arrow.rows == ROWS
    assert arrow.differing(expected) == []
    # a value that differs in one column only changes the digest of its bucket
    with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
        conn.execute(f"UPDATE {t['target']} SET f8 = 0.30000000000000004 WHERE f8 = 0.1")
    changed = columnar.target_digests(pg_url, "public", t, hasher, None, None)
    assert changed is not None and changed.differing(expected) != []
    assert changed.differing(psycopg_digests(pg_url, t, hasher)) == []


def test_target_key_range_and_types_the_arrow_reader_leaves_to_psycopg(pg_url, typed_table, pg):
    t = manifest_table("typed", typed_table)
    hasher = RowHasher([c for _, c in typed_table], [0])
    part = columnar.target_digests(pg_url, "public", t, hasher, (9,), (50,))
    assert part is not None and part.rows == 40
    assert part.differing(psycopg_digests(pg_url, t, hasher, (9,), (50,))) == []
    pg.execute("CREATE TABLE spans (id bigint PRIMARY KEY, span interval)")
    pg.execute("INSERT INTO spans VALUES (1, '1 day')")
    other = manifest_table("spans", [("id", "bigint"), ("span", "interval")])
    assert columnar.target_digests(pg_url, "public", other, hasher, None, None) is None
    missing = manifest_table("not_there", typed_table)
    assert columnar.target_digests(pg_url, "public", missing, hasher, None, None) is None


# -- the source ------------------------------------------------------------------------------

SOURCE = """
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    title VARCHAR(40) NOT NULL,
    body,
    data BLOB,
    n INTEGER,
    score DOUBLE,
    at DATETIME
);
"""
NOTES = 1_000
BATCH = 100


def note(i: int) -> tuple[Any, ...]:
    """A clean row of notes; NULLs in each nullable column."""
    return (
        i,
        f"note {i}",
        None if i % 7 == 0 else f"본문 {i}",
        None if i % 9 == 0 else bytes([i % 256, 0]),
        None if i % 5 == 0 else i * 3,
        None if i % 8 == 0 else i / 7,
        f"2024-03-0{1 + i % 9} 10:00:0{i % 10}",
    )


# values changed after the load, of another storage class than the load profiled (the columns
# without a declared type or of BLOB affinity keep what they are given): ADBC converts the first
# three without a word, the kernels refuse the fourth, and the reader stops at the last; each
# sends its batch, or the rest of the table, to the Python row path
ODD = {
    3: ("UPDATE notes SET body = 5 WHERE id = ?", "an integer in a text column"),
    5: ("UPDATE notes SET body = 1.5 WHERE id = ?", "a real in a text column"),
    250: ("UPDATE notes SET data = 'text' WHERE id = ?", "text in a blob column"),
    610: ("UPDATE notes SET at = '2024-03-01T10:00:00+09:00' WHERE id = ?", "an offset"),
    880: ("UPDATE notes SET n = 2.5 WHERE id = ?", "a real in an integer column"),
}


@pytest.fixture
def loaded_notes(make_sqlite, load, monkeypatch) -> Path:
    src: Path = make_sqlite(
        SOURCE,
        rows={
            "INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)": [note(i) for i in range(1, NOTES + 1)]
        },
    )
    result = load(src)
    assert result.rejected == 0
    import sqlite3

    with sqlite3.connect(src) as conn:  # after the load: verify has only the source to go by
        for i, (statement, _why) in ODD.items():
            conn.execute(statement, (i,))
    monkeypatch.setattr(native, "batch_rows", lambda row_bytes: BATCH)
    return src


def source_side(tmp_path: Path) -> tuple[Any, Any, Any, dict[str, Any], Any]:
    cfg = config_mod.load(tmp_path / "cutover.toml")
    db = cfg.databases[0]
    with psycopg.connect(postgres_conninfo(db.target)) as conn:
        found = state.read_manifest(conn, db.name)
    assert found is not None
    manifest = found[0]
    t = next(t for t in manifest["tables"] if t["source"] == "notes")
    source = open_source(db.source, cfg.base_dir)
    st = source.reflect().table("notes")
    return source, st, sides.row_path(source, st, manifest, t), t, cfg


def test_source_read_as_arrow_digests_as_the_row_path(loaded_notes, tmp_path):
    source, st, path, _t, _cfg = source_side(tmp_path)
    try:
        assert columnar.source_readable(source, st, path, set())
        ranges: list[tuple[Any, Any]] = []

        def python(after: Any, until: Any) -> Digests:
            ranges.append((after, until))
            return side.python_digests(after, until)

        side = sides.SourceSide(source, st, path, frozenset())
        arrow = columnar.source_digests(source, st, path, set(), None, None, python)
        expected = side.python_digests()
        # 2.5 in the integer column is a row the load would reject: neither side counts it
        assert arrow is not None and arrow.rows == expected.rows == NOTES - 1
        assert arrow.differing(expected) == []
        # the batches holding an odd value, and only those, went through the Python path (the
        # first batch is one row short: the reader's typed first row is not the table's)
        assert ranges == [((0,), (100,)), ((199,), (300,)), ((599,), (700,)), ((799,), None)]
    finally:
        source.close()


def test_rejected_rows_are_left_out_of_the_arrow_read(loaded_notes, tmp_path):
    source, st, path, _t, _cfg = source_side(tmp_path)
    try:
        excluded = frozenset({sides.key_text({"id": 17}), sides.key_text({"id": 640})})
        side = sides.SourceSide(source, st, path, excluded)
        arrow = columnar.source_digests(source, st, path, excluded, None, None, side.python_digests)
        expected = side.python_digests()
        assert side.digests().differing(expected) == []
        assert arrow is not None and arrow.rows == expected.rows == NOTES - 3
        assert arrow.differing(expected) == []
        # a rejected key recorded in another form: the whole table takes the Python path
        assert not columnar.source_readable(source, st, path, {sides.key_text({"title": "x"})})
    finally:
        source.close()


def test_verify_reads_both_sides_as_arrow_and_names_what_differs(loaded_notes, tmp_path, pg):
    cfg = config_mod.load(tmp_path / "cutover.toml")
    result = commands.verify(cfg, tmp_path / ".cutover")
    notes = next(t for t in result.databases[0].tables if t.table == "notes")
    # the source changed after the load: exactly the odd rows differ, each named
    changed = sorted(d.key["id"] for d in notes.differences)
    assert changed == sorted(ODD), notes.differences
    # put the source back as loaded: verify passes, reading the same way
    import sqlite3

    source = cfg.databases[0].source.removeprefix("sqlite:///")
    with sqlite3.connect(source) as conn:
        for i in ODD:
            conn.execute(
                "UPDATE notes SET body = ?, data = ?, n = ?, score = ?, at = ? WHERE id = ?",
                (*note(i)[2:], i),
            )
    again = commands.verify(cfg, tmp_path / ".cutover")
    assert again.ok, again.to_json()


def test_the_loads_storage_classes_spare_the_check_only_while_the_source_is_unchanged(
    make_sqlite, load, tmp_path
):
    src = make_sqlite(
        SOURCE,
        rows={"INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)": [note(i) for i in range(1, 51)]},
    )
    load(src)
    source, st, path, t, _cfg = source_side(tmp_path)
    try:
        recorded = columnar.recorded_storage(t)
        assert recorded["title"] == ["text"] and recorded["data"] == ["blob"]
        assert recorded["n"] == ["integer"] and recorded["at"] == ["text"]
        columns = native.unprofiled(st, path.key_columns, path)
        assert not isinstance(columns, str)
        table = native.NativeTable(columns, path)
        checked = {"title": "text", "body": "text", "data": "blob", "at": "text"}
        assert table.storage() == checked
        assert table.storage(recorded) == {}
        # a class the profile found beside the column's own is checked whatever the load saw
        assert table.storage({**recorded, "body": ["integer", "text"]}) == {"body": "text"}
    finally:
        source.close()
    # verify passes only the recorded classes while the source's fingerprint is the load's
    import sqlite3

    with sqlite3.connect(src) as conn:
        conn.execute("UPDATE notes SET body = 7 WHERE id = 3")
    cfg = config_mod.load(tmp_path / "cutover.toml")
    result = commands.verify(cfg, tmp_path / ".cutover")
    notes = next(t for t in result.databases[0].tables if t.table == "notes")
    assert [d.key["id"] for d in notes.differences] == [3]
    assert [d.source for d in notes.differences] == ["'7'"]


NAMES = """
CREATE TABLE "메시지 기록 ""Archive"" Of_The_Customer_Support_Conversations_2024" (
    "ID" INTEGER PRIMARY KEY,
    "본문 Text With Spaces" TEXT NOT NULL,
    "Created At (UTC)" DATETIME,
    "첨부" BLOB,
    "a_column_name_that_is_exactly_sixty_three_characters_long_xxxxx" INTEGER
);
"""


def test_long_mixed_case_and_korean_names_are_read_as_arrow_on_both_sides(
    make_sqlite, load, tmp_path, monkeypatch
):
    table = '메시지 기록 "Archive" Of_The_Customer_Support_Conversations_2024'
    quoted = '"' + table.replace('"', '""') + '"'
    src = make_sqlite(
        NAMES,
        rows={
            f"INSERT INTO {quoted} VALUES (?, ?, ?, ?, ?)": [
                (i, f"안녕 {i}", f"2024-05-0{1 + i % 9} 12:00:00", bytes([i % 256]), i * 7)
                for i in range(1, 401)
            ]
        },
    )
    result = load(src)
    assert result.rejected == 0
    read_as_arrow: list[str] = []
    source_digests = columnar.source_digests

    def spy(*args: Any, **kwargs: Any) -> Any:
        found = source_digests(*args, **kwargs)
        read_as_arrow.append("source" if found is not None else "python")
        return found

    monkeypatch.setattr(columnar, "source_digests", spy)
    cfg = config_mod.load(tmp_path / "cutover.toml")
    parity = commands.verify(cfg, tmp_path / ".cutover")
    assert parity.ok, parity.to_json()
    assert read_as_arrow == ["source"]
    with psycopg.connect(postgres_conninfo(cfg.databases[0].target), autocommit=True) as conn:
        found = state.read_manifest(conn, "app")
        assert found is not None
        (t,) = found[0]["tables"]
        names = {c["source"]: c["target"] for c in t["columns"]}
        conn.execute(
            sql.SQL("UPDATE {} SET {} = 'x' WHERE {} = 9").format(
                sql.Identifier(t["target"]),
                sql.Identifier(names["본문 Text With Spaces"]),
                sql.Identifier(names["ID"]),
            )
        )
    changed = commands.verify(cfg, tmp_path / ".cutover")
    (table_parity,) = changed.databases[0].tables
    assert [d.column for d in table_parity.differences] == ["본문 Text With Spaces"]
    assert list(table_parity.differences[0].key.values()) == [9]


@pytest.mark.parametrize(
    "values",
    [
        [b"", None, b"\x00\xff", bytes(range(256)), None, b"abc"],
        [None, None],
        [b"", b""],
        [],
    ],
)
def test_arrow_hex_and_nul_scan_agree_with_python_on_slices(values):
    import pyarrow as pa

    from cutover.rows.arrow_digest import _hex_text

    binary = pa.array(values, pa.binary())
    text = pa.array([None if v is None else v.decode("latin-1") for v in values], pa.string())
    for start in range(len(values) + 1):
        part = binary.slice(start)
        hexed = _hex_text(part)
        assert hexed is not None
        assert hexed.to_pylist() == [None if v is None else v.hex() for v in part.to_pylist()]
        strings = text.slice(start)
        expected = any(v is not None and "\x00" in v for v in strings.to_pylist())
        assert native._has_nul(strings) == expected
