"""SQLite reflection and streaming: the catalog as the rest of cutover sees it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cutover.errors import SourceError
from cutover.sources.sqlite import PROBE_ROWS, SqliteSource

CATALOG = """
CREATE TABLE "User Accounts" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(200) NOT NULL UNIQUE,
    "Display Name" TEXT COLLATE NOCASE,
    "order" INT DEFAULT 0,
    created DATETIME DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE kv (k TEXT, n INTEGER, v BLOB, PRIMARY KEY (k, n)) WITHOUT ROWID;
CREATE TABLE posts (
    id INTEGER PRIMARY KEY,
    uid INTEGER REFERENCES "User Accounts" (id) ON DELETE CASCADE ON UPDATE SET NULL,
    body TEXT NOT NULL,
    deleted BOOLEAN DEFAULT 0
);
CREATE TABLE tags (post_id INT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (post_id, tag), FOREIGN KEY (post_id) REFERENCES posts);
CREATE INDEX posts_live ON posts (uid) WHERE deleted = 0;
CREATE INDEX posts_lower ON posts (lower(body), uid DESC);
CREATE UNIQUE INDEX posts_uid_body ON posts (uid, body);
CREATE VIEW live_posts AS SELECT * FROM posts WHERE deleted = 0;
CREATE TRIGGER posts_touch AFTER INSERT ON posts BEGIN SELECT 1; END;
"""


@pytest.fixture
def catalog_db(make_sqlite) -> Path:
    return make_sqlite(CATALOG)


def test_tables_columns_and_keys(catalog_db):
    schema = SqliteSource(catalog_db).reflect()
    assert [t.name for t in schema.tables] == ["User Accounts", "kv", "posts", "tags"]
    users = schema.table("User Accounts")
    assert users.primary_key == ["id"] and users.rowid_alias == "id"
    assert users.column("id").autoincrement is True
    assert (
        users.column("email").declared_type == "VARCHAR(200)"
        and users.column("email").nullable is False
    )
    assert users.column("Display Name").collation == "NOCASE"
    assert users.column("order").default == "0"
    assert users.column("created").default == "CURRENT_TIMESTAMP"
    assert [u.columns for u in users.uniques] == [["email"]]
    kv = schema.table("kv")
    assert kv.has_rowid is False and kv.primary_key == ["k", "n"] and kv.rowid_alias is None
    assert schema.table("tags").primary_key == ["post_id", "tag"]


def test_indexes_partial_expression_and_unique(catalog_db):
    posts = SqliteSource(catalog_db).reflect().table("posts")
    by_name = {i.name: i for i in posts.indexes}
    assert by_name["posts_live"].where == "deleted = 0"
    lower = by_name["posts_lower"]
    assert (
        lower.columns[0].expression == "lower(body)"
        and lower.columns[1].name == "uid"
        and lower.columns[1].descending
    )
    assert by_name["posts_uid_body"].unique and by_name["posts_uid_body"].column_names == [
        "uid",
        "body",
    ]


def test_foreign_keys_with_actions_and_implicit_parent_key(catalog_db):
    schema = SqliteSource(catalog_db).reflect()
    (fk,) = schema.table("posts").foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete, fk.on_update) == (
        ["uid"],
        "User Accounts",
        ["id"],
        "CASCADE",
        "SET NULL",
    )
    (implicit,) = schema.table("tags").foreign_keys
    assert implicit.ref_columns == ["id"]


def test_views_and_triggers_are_reported(catalog_db):
    schema = SqliteSource(catalog_db).reflect()
    assert [v.name for v in schema.views] == ["live_posts"]
    assert [t.name for t in schema.triggers] == ["posts_touch"]
    assert {f.code for f in schema.findings} >= {"view", "trigger"}


def test_stream_in_bounded_batches_in_key_order(make_sqlite):
    path = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
        rows={"INSERT INTO t VALUES (?, ?)": [(i, f"v{i}") for i in range(2500, 0, -1)]},
    )
    src = SqliteSource(path)
    table = src.reflect().table("t")
    batches = list(src.read(table, ["id", "v"], batch_size=1000))
    assert [len(b.rows) for b in batches] == [
        PROBE_ROWS,
        1000,
        1000,
        500 - PROBE_ROWS,
    ]  # a small first batch measures the row width
    keys = [r[0] for b in batches for r in b.rows]
    assert keys == sorted(keys) == list(range(1, 2501))
    resumed = list(src.read(table, ["v"], batch_size=1000, after=(2400,)))
    assert [r[1] for b in resumed for r in b.rows] == [f"v{i}" for i in range(2401, 2501)]


def test_without_rowid_streams_by_composite_key(make_sqlite):
    path = make_sqlite(
        "CREATE TABLE kv (k TEXT, n INTEGER, v TEXT, PRIMARY KEY (k, n)) WITHOUT ROWID;",
        rows={
            "INSERT INTO kv VALUES (?, ?, ?)": [(k, n, f"{k}{n}") for k in "cab" for n in (2, 1)]
        },
    )
    src = SqliteSource(path)
    batches = list(src.read(src.reflect().table("kv"), ["v"], batch_size=4))
    assert [r[2] for b in batches for r in b.rows] == ["a1", "a2", "b1", "b2", "c1", "c2"]


def test_opened_read_only(make_sqlite):
    path = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    before = path.stat().st_mtime_ns
    src = SqliteSource(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        src.conn.execute("INSERT INTO t VALUES (1)")
    src.close()
    assert path.stat().st_mtime_ns == before


def test_custom_collation_gets_a_stand_in(make_sqlite, tmp_path):
    path = tmp_path / "coll.db"
    conn = sqlite3.connect(path)
    conn.create_collation(
        "KOREAN_CI", lambda a, b: (a.lower() > b.lower()) - (a.lower() < b.lower())
    )
    conn.executescript(
        "CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT COLLATE KOREAN_CI); CREATE INDEX names_name ON names (name); INSERT INTO names (name) VALUES ('가'), ('B'), ('a');"
    )
    conn.commit()
    conn.close()
    src = SqliteSource(path)
    schema = src.reflect()
    assert src.stand_in_collations == {"KOREAN_CI"}
    assert any(f.code == "collation" and "KOREAN_CI" in f.message for f in schema.findings)
    table = schema.table("names")
    assert table.column("name").collation == "KOREAN_CI"
    assert sorted(r[1] for b in src.read(table, ["name"], batch_size=10) for r in b.rows) == [
        "B",
        "a",
        "가",
    ]


def test_reads_uncheckpointed_wal(tmp_path):
    path = tmp_path / "wal.db"
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    writer.executemany("INSERT INTO t (v) VALUES (?)", [("x",)] * 100)
    writer.commit()
    assert (tmp_path / "wal.db-wal").stat().st_size > 0
    src = SqliteSource(path)  # while the writer still holds the WAL un-checkpointed
    assert src.count(src.reflect().table("t")) == 100
    assert "journal_mode=wal" in src.describe().notes
    src.close()
    writer.close()


def test_invalid_utf8_batch_is_marked_not_fatal(make_sqlite):
    path = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
        rows={
            "INSERT INTO t VALUES (?, CAST(? AS TEXT))": [
                (1, b"ok"),
                (2, b"bad \xff\xfe"),
                (3, b"fine"),
            ]
        },
    )
    src = SqliteSource(path)
    (batch,) = list(src.read(src.reflect().table("t"), ["v"], batch_size=10))
    assert batch.suspect
    values = [r[1] for r in batch.rows]
    assert values[0] == "ok" and values[2] == "fine"
    assert type(values[1]).__name__ == "InvalidText" and values[1].raw == b"bad \xff\xfe"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        SqliteSource(tmp_path / "nope.db")


def test_virtual_tables_fts_carried_unknown_modules_reported(make_sqlite):
    path = make_sqlite(
        "CREATE VIRTUAL TABLE docs USING fts5(body); CREATE TABLE t (id INTEGER PRIMARY KEY);"
        "PRAGMA writable_schema = ON;"
        "INSERT INTO sqlite_schema VALUES ('table', 'vecs', 'vecs', 0,"
        " 'CREATE VIRTUAL TABLE vecs USING vec0(embedding float[4])');"
    )
    schema = SqliteSource(path).reflect()
    assert [t.name for t in schema.tables] == ["docs", "t"]  # FTS carried (issue 13 item 4)
    assert schema.tables[0].module == "fts5" and schema.tables[0].primary_key == ["rowid"]
    (finding,) = [f for f in schema.findings if f.code == "virtual_table"]
    assert "vecs" in finding.message and "vec0" in finding.message


def test_profile_counts_storage_classes(make_sqlite):
    path = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, j TEXT);",
        rows={
            "INSERT INTO t (n, j) VALUES (?, ?)": [
                (1, '{"a": 1}'),
                ("x", "[1, 2]"),
                (None, "not json"),
                (2**40, None),
            ]
        },
    )
    src = SqliteSource(path)
    prof = src.profile(
        src.reflect().table("t"),
        {"n": {"int_range"}, "j": {"json", "json_invalid", "text_length", "nul"}},
    )
    assert prof.rows == 4
    n, j = prof.columns["n"], prof.columns["j"]
    assert (n.integers, n.texts, n.nulls, n.max_int) == (2, 1, 1, 2**40)
    # "are all values JSON?" stops at the first that is not: 0 here, not 2 (see ColumnProfile)
    assert (j.texts, j.json_containers, j.json_invalid, j.max_text_length) == (3, 0, 1, 8)


def test_profile_refinements_and_one_class_columns(make_sqlite):
    """Pass 1 settles one-class columns; refinement probes say "all" or 0; mixed columns are counted exactly."""
    path = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, flag INTEGER, big INTEGER, r REAL, mixed INTEGER, j TEXT, d TEXT, u TEXT, v TEXT, b BLOB, nul TEXT);",
        rows={
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": [
                (
                    1,
                    0,
                    -(2**40),
                    1.5,
                    1,
                    '{"a": 1}',
                    "2024-01-02",
                    "0c8b7e3a-8f1e-4d6b-9a7e-2f3c4d5e6f70",
                    "[1, 2, 3]",
                    b"\x00\x01",
                    "a\x00b",
                ),
                (
                    2,
                    1,
                    2**40,
                    2.0,
                    2.5,
                    "[1]",
                    "2024-01-03 10:00:00+09:00",
                    "0C8B7E3A8F1E4D6B9A7E2F3C4D5E6F71",
                    "[4, 5]",
                    b"\x02",
                    "ok",
                ),
                (3, None, 7, None, "x", None, None, None, None, None, None),
            ]
        },
    )
    src = SqliteSource(path)
    stats = {
        "flag": {"int_range", "flag"},
        "big": {"int_range", "num_range", "flag"},
        "r": {"num_range"},
        "mixed": {"int_range", "num_range"},
        "j": {"json", "json_invalid", "nul"},
        "d": {"dates"},
        "u": {"uuid"},
        "v": {"vector"},
        "b": {"blob_length"},
        "nul": {"nul", "text_length"},
    }
    p = src.profile(src.reflect().table("t"), stats).columns
    assert (
        p["flag"].integers,
        p["flag"].nulls,
        p["flag"].zero_one,
        p["flag"].min_int,
        p["flag"].max_int,
    ) == (2, 1, 2, 0, 1)
    assert (p["big"].integers, p["big"].zero_one, p["big"].min_int, p["big"].max_num) == (
        3,
        0,
        -(2**40),
        2**40,
    )
    assert (p["r"].reals, p["r"].integers, p["r"].min_num, p["r"].max_num) == (2, 0, 1.5, 2.0)
    m = p["mixed"]
    assert (m.integers, m.reals, m.texts, m.min_int, m.max_int, m.integral_reals, m.max_num) == (
        1,
        1,
        1,
        1,
        1,
        0,
        2.5,
    )
    assert (p["j"].texts, p["j"].json_containers, p["j"].json_invalid, p["j"].nulls) == (2, 2, 0, 1)
    assert (p["d"].iso_dates, p["d"].date_only, p["d"].tz_offsets) == (2, 1, 1)
    assert p["u"].uuid_like == 2
    assert (p["v"].json_arrays, p["v"].min_array_len, p["v"].max_array_len) == (2, 2, 3)
    assert (p["b"].blobs, p["b"].min_blob_length, p["b"].max_blob_length) == (2, 1, 2)
    assert (p["nul"].nul_chars, p["nul"].max_text_length) == (
        1,
        2,
    )  # SQLite length() stops at a NUL


def test_batches_are_bounded_in_bytes_too(make_sqlite):
    from cutover.sources.base import BATCH_BYTES

    path = make_sqlite(
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);",
        rows={"INSERT INTO blobs VALUES (?, ?)": [(i, bytes(1_000_000)) for i in range(1, 121)]},
    )
    src = SqliteSource(path)
    batches = list(src.read(src.reflect().table("blobs"), ["data"], batch_size=5000))
    assert sum(len(b.rows) for b in batches) == 120
    assert max(sum(len(r[1]) for r in b.rows) for b in batches) <= BATCH_BYTES


def test_profile_split_over_key_ranges_equals_one_scan(make_sqlite, monkeypatch):
    """Each range sees other storage classes, NULLs, bad JSON or dates; merged, they say what one scan says."""
    import cutover.sources.sqlite as sqlite_mod

    n = 900

    def row(i: int) -> tuple[object, ...]:
        third = (i - 1) * 3 // n  # 0, 1, 2: the three key ranges the split makes
        return (
            i,
            [None, i % 2, i % 2][third],  # flag: NULL in the first range only
            [i, 2**40 + i, -i][
                third
            ],  # big: the least value in the last range, the greatest in the middle
            [i * 1.5, i, "x"][third] if i % 7 else None,  # mixed: reals, then integers, then text
            ['{"a": %d}' % i, "[1, 2]", "not json" if i == n - 1 else "{}"][
                third
            ],  # j: one bad value, in the last range
            ["2024-01-02", "2024-01-03 10:00:00+09:00", "2024-02-29T10:00:00Z"][
                third
            ],  # d: dates, then offsets
            "[1, 2, 3]" if third != 1 else "[4, 5]",  # v: array lengths differ by range
            bytes(i % 50 + (100 if third == 2 else 1)),  # b: the longest blobs in the last range
            "a\x00b" if i == 400 else "ok" * (third + 1),  # nul: one NUL, in the middle range
            ["yes", 1, "false"][third],  # bools: words and numbers
        )

    path = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, flag INTEGER, big INTEGER, mixed INTEGER, j TEXT, d TEXT, v TEXT, b BLOB, nul TEXT, ok BOOLEAN);",
        rows={
            "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)": [row(i) for i in range(1, n + 1)]
        },
    )
    stats = {
        "flag": {"int_range", "flag"},
        "big": {"int_range", "num_range", "flag"},
        "mixed": {"int_range", "num_range", "text_length"},
        "j": {"json", "json_invalid", "nul"},
        "d": {"dates", "offsets", "num_range"},
        "v": {"vector", "json", "uuid"},
        "b": {"blob_length"},
        "nul": {"nul", "text_length", "json", "dates"},
        "ok": {"bools"},
    }
    src = SqliteSource(path)
    table = src.reflect().table("t")
    monkeypatch.setattr(sqlite_mod, "PROFILE_SPLIT_ROWS", 10**9)
    whole = src.profile(table, stats)
    monkeypatch.setattr(sqlite_mod, "PROFILE_SPLIT_ROWS", 10)
    monkeypatch.setattr(sqlite_mod.os, "cpu_count", lambda: 3)
    split = src.profile(table, stats)
    assert split == whole
    p = split.columns  # and the merged answers are the right ones, not just equal
    assert (p["big"].min_int, p["big"].max_int) == (-n, 2**40 + 2 * n // 3)
    assert (p["mixed"].integers, p["mixed"].reals, p["mixed"].texts) == (
        386,
        129,
        257,
    )  # INTEGER affinity stores 3.0 as 3
    assert (p["j"].json_invalid, p["nul"].nul_chars, p["flag"].nulls) == (1, 1, n // 3)
    assert (p["v"].json_arrays, p["v"].min_array_len, p["v"].max_array_len) == (n, 2, 3)
    assert (p["b"].min_blob_length, p["b"].max_blob_length) == (1, 149)
    assert (p["d"].iso_dates, p["d"].date_only, p["d"].tz_offsets) == (n, n // 3, 2 * n // 3)
