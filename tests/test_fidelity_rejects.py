"""Issue 13 item 10: one private reject file per table, never shared, holding the source values."""

from __future__ import annotations

import json
import stat

import pytest

from cutover.load.rejects import file_safe

TABLES = ["order_items", "order items", "Order_Items", "users", "Users", "USERS", "사용자"]
LONG = "x" * 300
# SQLite names are case-insensitive: these differ by the characters a file name cannot keep
NAMES = ["order items", "order_items", "Order-Items", "order.items"]


@pytest.mark.parametrize("names", [TABLES, [LONG, LONG + "y"]])
def test_reject_file_names_never_collide_even_ignoring_case(names):
    stems = [file_safe(n) for n in names]
    assert len({s.lower() for s in stems}) == len(names)
    assert all(len(f"{s}.chunk0001.jsonl".encode()) <= 255 and "/" not in s for s in stems)
    assert file_safe("order_items") == "order_items"


def test_each_table_keeps_its_own_rejects_with_source_values_and_mode_0600(
    make_sqlite, load, tmp_path
):
    script = ["CREATE TABLE parents (id INTEGER PRIMARY KEY);", "INSERT INTO parents VALUES (1);"]
    for name in NAMES:
        script.append(
            f'CREATE TABLE "{name}" (id INTEGER PRIMARY KEY, parent_id INTEGER '
            f"REFERENCES parents (id), meta JSON, at DATETIME, bad_date DATE);"
        )
        # row 1 is fine; rows 2 and 3 are orphans; row 4 has an impossible date
        script.append(
            f"""INSERT INTO "{name}" VALUES
            (1, 1, '{{"tags": ["a"], "pinned": false}}', '2024-01-01 10:00:00', '2024-01-01'),
            (2, 99, '{{"tags": ["b", "{name}"], "pinned": true}}', '2024-01-02 10:00:00', NULL),
            (3, 98, '[1, 2.5, null]', '2024-01-03 10:00:00', NULL),
            (4, 1, NULL, NULL, '2024-02-30');"""
        )
    src = make_sqlite("\n".join(script))
    report = load(src).reports[0]
    by = {r.table: r for r in report.results}
    paths = set()
    for name in NAMES:
        res = by[name]
        assert (res.read, res.written, res.rejected) == (4, 1, 3), name
        assert res.rejects_path is not None and res.rejects_path not in paths
        paths.add(res.rejects_path)
        assert stat.S_IMODE(res.rejects_path.stat().st_mode) == 0o600
        records = [json.loads(line) for line in res.rejects_path.read_text().splitlines()]
        by_key = {r["key"]["id"]: r for r in records}
        assert sorted(by_key) == [2, 3, 4]
        orphan = by_key[2]
        assert orphan["stage"] == "foreign key" and orphan["column"] == "parent_id"
        assert json.loads(orphan["row"]["meta"]) == {"tags": ["b", name], "pinned": True}
        assert orphan["row"]["at"].startswith("2024-01-02")
        assert json.loads(by_key[3]["row"]["meta"]) == [1, 2.5, None]
        assert by_key[4]["row"]["bad_date"] == "2024-02-30" and by_key[4]["column"] == "bad_date"
    assert len({p.name.lower() for p in paths}) == 4
