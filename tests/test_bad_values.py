"""Nothing lost silently: every bad value is coerced by a documented rule or rejected with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod
from cutover.errors import BadValueError
from cutover.proof.results import PolicyChange


def rejects(tmp_path: Path, table: str) -> list[dict]:
    path = tmp_path / ".cutover" / "rejects" / "app" / f"{table}.jsonl"
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if path.exists()
        else []
    )


def policy_changes(tmp_path: Path, table: str = "t") -> list[PolicyChange]:
    """What verify, reading the source again, reports as changed on purpose (and that it passes)."""
    result = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert result.ok, result.to_json()
    return next(t for t in result.databases[0].tables if t.table == table).changed


def only_result(result, table="t"):
    (rep,) = result.reports
    res = next(r for r in rep.results if r.table == table)
    assert res.reconciled, res
    return res


CASES = [
    pytest.param("j JSON", ['{"a": 1}', '{"a": 2,}'], "j", "invalid JSON", id="invalid-json"),
    pytest.param("s TEXT", ["fine", "nul \x00 inside"], "s", "NUL", id="nul-in-text"),
    # text in an INTEGER column is carried as text unless the declared type is enforced
    pytest.param(
        "n INTEGER",
        [1, "many"],
        "n",
        "not an integer",
        'columns."t.n" = "integer"',
        id="text-in-integer",
    ),
    pytest.param(
        "n INTEGER",
        [1, 1e20],
        "n",
        "out of range",
        'columns."t.n" = "bigint"',
        id="integer-overflow",
    ),
    pytest.param(
        "d DATETIME",
        ["2024-01-01 10:00:00", "yesterday"],
        "d",
        "unparseable timestamp",
        id="unparseable-date",
    ),
    pytest.param("d DATE", ["2024-01-01", "2024-02-30"], "d", "out of range", id="impossible-date"),
    pytest.param("b BOOLEAN", [1, "maybe"], "b", "not a boolean", id="not-a-boolean"),
    pytest.param("v VARCHAR(5)", ["short", "far too long"], "v", "longer than", id="over-length"),
    pytest.param(
        "u UUID", ["6f1c1f7e-6a5b-4d5e-9c1e-2f3a4b5c6d7e", "not-a-uuid"], "u", "uuid", id="bad-uuid"
    ),
]


@pytest.mark.parametrize(
    "column_sql, values, column, reason, extra",
    [p if len(p.values) == 5 else pytest.param(*p.values, "", id=p.id) for p in CASES],
)
def test_bad_value_is_rejected_with_key_column_value_and_reason(
    make_sqlite, load, pg, tmp_path, column_sql, values, column, reason, extra
):
    src = make_sqlite(
        f"CREATE TABLE t (id INTEGER PRIMARY KEY, {column_sql});",
        rows={f"INSERT INTO t (id, {column}) VALUES (?, ?)": list(enumerate(values, start=1))},
    )
    res = only_result(load(src, extra))
    assert (res.read, res.written, res.rejected) == (2, 1, 1)
    (record,) = rejects(tmp_path, "t")
    assert record["key"] == {"id": 2}
    assert record["column"] == column
    assert reason in record["reason"]
    assert record["row"]["id"] == 2 and column in record["row"]
    assert rows(pg, "SELECT id FROM t") == [(1,)]


def test_invalid_utf8_rejected_by_default_and_replaced_on_request(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, raw BLOB);",
        rows={
            "INSERT INTO t VALUES (?, CAST(? AS TEXT), CAST(? AS TEXT))": [
                (1, b"ok", b"ok"),
                (2, b"caf\xe9", b"ok"),
                (3, b"ok", b"\xff\x00\xfe"),
            ]
        },
    )
    res = only_result(load(src))
    assert (res.written, res.rejected) == (2, 1)
    (record,) = rejects(tmp_path, "t")
    assert (
        record["key"] == {"id": 2}
        and record["column"] == "s"
        and "invalid UTF-8" in record["reason"]
    )
    assert record["row"]["s"] == {"invalid_utf8_hex": "636166e9"}
    assert rows(pg, "SELECT raw FROM t WHERE id = 3") == [
        (b"\xff\x00\xfe",)
    ]  # bytea keeps the exact bytes

    res = only_result(load(src, settings='invalid_utf8 = "replace"'))
    assert (res.written, res.rejected) == (3, 0)
    assert rows(pg, "SELECT s FROM t WHERE id = 2") == [("caf\ufffd",)]
    # the replacement was the user's choice: verify passes and says what it changed
    assert policy_changes(tmp_path) == [PolicyChange("s", "invalid_utf8 = 'replace'", 1)]


def test_nul_stripped_when_the_policy_says_so(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, "a\x00b")]},
    )
    res = only_result(load(src, settings='nul_in_text = "strip"'))
    assert res.rejected == 0
    assert rows(pg, "SELECT s FROM t") == [("ab",)]
    assert policy_changes(tmp_path) == [PolicyChange("s", "nul_in_text = 'strip'", 1)]


def test_boolean_words_follow_the_documented_rule(make_sqlite, load, pg):
    words = ["true", "yes", "t", "Y", "on", "1", "false", "no", "F", "off", "0"]
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, b BOOLEAN);",
        rows={"INSERT INTO t VALUES (?, ?)": list(enumerate(words, 1)) + [(20, 1), (21, 0)]},
    )
    res = only_result(load(src))
    assert res.rejected == 0
    got = [r[0] for r in rows(pg, "SELECT b FROM t ORDER BY id")]
    assert got == [True] * 6 + [False] * 5 + [True, False]


def test_integral_reals_and_integer_text_are_converted(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, 3.0), (2, 4)]},
    )
    res = only_result(load(src))
    assert res.rejected == 0 and rows(pg, "SELECT n FROM t ORDER BY id") == [(3,), (4,)]


def test_override_narrower_integer_rejects_what_does_not_fit(make_sqlite, load, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, 5), (2, 3_000_000_000)]},
    )
    res = only_result(load(src, extra='[databases.columns]\n"t.n" = "integer"'))
    assert res.rejected == 1
    (record,) = rejects(tmp_path, "t")
    assert "out of range for integer" in record["reason"]


def test_postgres_refusal_is_bisected_down_to_the_bad_row(make_sqlite, load, pg, tmp_path):
    values = (
        [(i, 1.25) for i in range(1, 301)] + [(301, 12345.67)] + [(i, 2.5) for i in range(302, 600)]
    )
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, price NUMERIC(5, 2));",
        rows={"INSERT INTO t VALUES (?, ?)": values},
    )
    res = only_result(load(src, settings="batch_size = 1000"))
    assert (res.read, res.written, res.rejected) == (599, 598, 1)
    (record,) = rejects(tmp_path, "t")
    assert record["key"] == {"id": 301} and record["column"] == "price"
    assert "numeric field overflow" in record["reason"] and record["stage"] == "copy"
    assert rows(pg, "SELECT count(*), sum(price) FROM t") == [
        (598, pytest.approx(300 * 1.25 + 298 * 2.5))
    ]


def test_duplicates_under_a_unique_key_are_rejected_keeping_the_first(
    make_sqlite, load, pg, tmp_path
):
    # distinct text in SQLite, the same instant once it is a timestamp
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME UNIQUE);",
        rows={
            "INSERT INTO t VALUES (?, ?)": [
                (1, "2024-01-01 00:00:00"),
                (2, "2024-01-01T00:00:00"),
                (3, "2024-01-02 00:00:00"),
            ]
        },
    )
    res = only_result(load(src))
    assert (res.written, res.rejected) == (2, 1)
    (record,) = rejects(tmp_path, "t")
    assert record["key"] == {"id": 2} and "duplicate under unique" in record["reason"]
    assert rows(pg, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]
    assert rows(
        pg, "SELECT conname FROM pg_constraint WHERE contype = 'u' AND conrelid = 't'::regclass"
    ) == [("t_at_key",)]


def test_orphans_are_rejected_down_the_chain(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        """
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
        CREATE TABLE grandchild (id INTEGER PRIMARY KEY, child_id INTEGER NOT NULL REFERENCES child (id));
        INSERT INTO parent VALUES (1);
        INSERT INTO child VALUES (10, 1), (11, 99), (12, NULL);
        INSERT INTO grandchild VALUES (100, 10), (101, 11);
        """
    )
    result = load(src)
    by = {r.table: r for r in result.reports[0].results}
    assert all(r.reconciled for r in by.values())
    assert (by["child"].rejected, by["grandchild"].rejected) == (1, 1)
    assert rejects(tmp_path, "child")[0]["key"] == {"id": 11}
    assert "orphaned foreign key" in rejects(tmp_path, "grandchild")[0]["reason"]
    assert rows(pg, "SELECT id FROM child ORDER BY id") == [(10,), (12,)]
    assert len(rows(pg, "SELECT 1 FROM pg_constraint WHERE contype = 'f' AND convalidated")) == 2


def test_orphans_kept_with_unvalidated_foreign_keys_when_asked(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id)); INSERT INTO c VALUES (1, 42);"
    )
    res = only_result(load(src, settings='orphans = "keep"'), "c")
    assert res.rejected == 0
    assert rows(pg, "SELECT convalidated FROM pg_constraint WHERE contype = 'f'") == [(False,)]


def test_abort_stops_at_the_first_bad_value_naming_table_column_and_key(make_sqlite, load):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, 1), (7, "seven")]},
    )
    with pytest.raises(BadValueError) as info:
        load(src, 'columns."t.n" = "integer"', on_error="abort")
    err = info.value
    assert (err.table, err.column) == ("t", "n") and '"id": 7' in err.key
    assert "t" in str(err) and "n" in str(err)


def test_reject_values_are_shortened_but_rows_kept_whole(make_sqlite, load, tmp_path):
    big = "x" * 5000 + "\x00"
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, big)]},
    )
    load(src)
    (record,) = rejects(tmp_path, "t")
    assert len(record["value"]) < 300 and "5,001 chars" in record["value"]
    assert record["row"]["s"] == big


def test_a_time_of_day_is_never_dropped_into_a_date_column(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, visited_on DATE);",
        rows={
            "INSERT INTO t VALUES (?, ?)": [
                (1, "2024-05-01"),
                (2, "2024-05-01 08:15:00"),
                (3, "2024-05-03T23:59:59+09:00"),
                (4, "2024-05-04 00:00:00"),
            ]
        },
    )
    res = only_result(load(src))
    assert (res.written, res.rejected) == (2, 2)
    assert sorted(r["key"]["id"] for r in rejects(tmp_path, "t")) == [2, 3]
    assert all("time of day" in r["reason"] for r in rejects(tmp_path, "t"))
    assert rows(pg, "SELECT id, visited_on::text FROM t ORDER BY id") == [
        (1, "2024-05-01"),
        (4, "2024-05-04"),
    ]


def test_free_text_starting_with_a_date_is_not_refined(make_sqlite, load, pg):
    values = [(i, f"2024-01-{1 + i % 28:02d}") for i in range(1, 300)] + [
        (300, "2024-03-14 회의록: 배포 일정 논의"),
        (301, "2024-01-07 10:00"),
    ]
    src = make_sqlite(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, note TEXT, due TEXT);",
        rows={
            "INSERT INTO tasks (id, note) VALUES (?, ?)": values,
            "UPDATE tasks SET due = note WHERE ?": [(1,)],
        },
    )
    result = load(src, settings='infer_types = "apply"')
    res = only_result(result, "tasks")
    assert res.rejected == 0
    types = dict(
        rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tasks'",
        )
    )
    assert types["note"] == "text"
    assert rows(pg, "SELECT note FROM tasks WHERE id IN (300, 301) ORDER BY id") == [
        ("2024-03-14 회의록: 배포 일정 논의",),
        ("2024-01-07 10:00",),
    ]


def test_date_text_batches_are_coerced_only_where_a_value_needs_it(make_sqlite, load, pg, tmp_path):
    """Plain ISO batches go to Postgres untouched; a batch with an offset, a leap second or a
    non-ASCII digit is coerced, so no offset is dropped and no value is read differently."""
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME);",
        rows={
            "INSERT INTO t VALUES (?, ?)": [
                (1, "2024-05-01 08:15:00.123456"),
                (2, "2024-05-02T09:00"),
                (3, "2024-05-03T23:59:59+09:00"),
                (4, "2024-05-04 10:00:00"),
                (5, "2024-05-05 23:59:60"),
                (6, "٢٠٢٤-05-06 10:00:00"),
            ]
        },
    )
    res = only_result(load(src, settings="batch_size = 2"))
    assert (res.written, res.rejected) == (4, 2)
    assert sorted(r["key"]["id"] for r in rejects(tmp_path, "t")) == [5, 6]
    assert rows(pg, "SELECT id, at::text FROM t ORDER BY id") == [
        (1, "2024-05-01 08:15:00.123456"),
        (2, "2024-05-02 09:00:00"),
        (3, "2024-05-03 14:59:59"),
        (4, "2024-05-04 10:00:00"),
    ]
