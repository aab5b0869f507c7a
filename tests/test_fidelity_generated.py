"""Issue 13 item 5: SQLite generated columns stay generated in Postgres where the expression
translates; otherwise a plain column holding the computed values, with a finding."""

from __future__ import annotations

from conftest import rows

from cutover import commands
from cutover import config as config_mod

ITEMS = """
CREATE TABLE items (id INTEGER PRIMARY KEY, price REAL NOT NULL, qty INTEGER NOT NULL,
    name TEXT,
    total REAL GENERATED ALWAYS AS (price * qty) STORED,
    label TEXT GENERATED ALWAYS AS ('item-' || id) VIRTUAL,
    shout TEXT AS (upper(name)),
    first TEXT AS (hex(name)),
    refused TEXT AS (lower(qty)) STORED);
INSERT INTO items (id, price, qty, name) VALUES (1, 2.5, 4, 'pen'), (2, 10, 1, NULL),
    (3, 0.25, 3, 'ink');
"""


def generated(pg, table):
    return dict(
        rows(
            pg,
            "SELECT column_name, generation_expression FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'ALWAYS'",
            table,
        )
    )


def test_generated_columns_are_computed_by_postgres(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(ITEMS)
    report = load(src).reports[0]
    assert [(r.read, r.written, r.rejected) for r in report.results] == [(3, 3, 0)]
    computed = generated(pg, "items")
    assert set(computed) == {"total", "label", "shout"}
    assert "price" in computed["total"] and "qty" in computed["total"]
    assert rows(pg, "SELECT id, total, label, shout, first FROM items ORDER BY id") == [
        (1, 10.0, "item-1", "PEN", "70656E"),
        (2, 10.0, "item-2", None, ""),
        (3, 0.75, "item-3", "INK", "696E6B"),
    ]
    # they follow their inputs now
    pg.execute("UPDATE items SET qty = 5, name = 'ink' WHERE id = 1")
    assert rows(pg, "SELECT total, shout FROM items WHERE id = 1") == [(12.5, "INK")]
    pg.execute("UPDATE items SET qty = 4, name = 'pen' WHERE id = 1")
    plain = {f.column: f for f in report.plan.findings if f.code == "generated_untranslated"}
    assert set(plain) == {"first", "refused"}
    assert "does not translate" in plain["first"].message
    assert "Postgres refuses it" in plain["refused"].message
    cfg = config_mod.load(tmp_path / "cutover.toml")
    result = commands.verify(cfg, tmp_path / ".cutover")
    assert result.ok, result


def test_verify_sees_a_generated_value_that_differs(make_sqlite, load, pg, tmp_path):
    # SQLite stored 'item-1' when id was 1; a target whose expression differs must not pass
    src = make_sqlite(ITEMS)
    load(src)
    pg.execute("ALTER TABLE items ALTER COLUMN label DROP EXPRESSION")
    pg.execute("UPDATE items SET label = 'other' WHERE id = 2")
    cfg = config_mod.load(tmp_path / "cutover.toml")
    assert not commands.verify(cfg, tmp_path / ".cutover").ok
