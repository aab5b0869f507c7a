"""Lossy means loud: decimals beyond their declared scale are rejected, or rounded on request and reported."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.rows.digest import RowHasher

SOURCE = "CREATE TABLE t (id INTEGER PRIMARY KEY, price NUMERIC(10, 2));"
ROWS = [(1, 3.14159), (2, 19.999), (3, 1.5), (4, 2), (5, "4.10"), (6, None)]


def only(result: commands.Phase2Result):
    (rep,) = result.reports
    (res,) = rep.results
    assert res.reconciled, res
    return res


def plan_finding(tmp_path: Path):
    p = commands.plan(config_mod.load(tmp_path / "cutover.toml"), tmp_path / "w")
    return [f for f in p.databases[0].findings if f.code == "decimal_scale"]


def test_the_digest_of_a_decimal_never_rounds_to_the_columns_scale():
    hasher = RowHasher(["numeric(10,2)"], [])
    assert hasher.digests([(Decimal("3.14159"),)]) != hasher.digests([(Decimal("3.14"),)])
    assert hasher.digests([(Decimal("20"),)]) == hasher.digests([(Decimal("20.00"),)])
    assert hasher.digests([(1.5,)]) == hasher.digests([(Decimal("1.50"),)])


def test_decimals_beyond_the_scale_are_rejected_by_default_and_plan_counts_them(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(SOURCE, rows={"INSERT INTO t VALUES (?, ?)": ROWS})
    res = only(load(src))
    assert (res.written, res.rejected) == (4, 2)
    assert res.reasons and all("decimal places" in reason for reason in res.reasons)
    assert pg.execute("SELECT id, price FROM t ORDER BY id").fetchall() == [
        (3, Decimal("1.50")),
        (4, Decimal("2.00")),
        (5, Decimal("4.10")),
        (6, None),
    ]
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert parity.ok, parity.to_json()
    (finding,) = plan_finding(tmp_path)
    assert (finding.column, finding.count, finding.severity) == ("price", 2, "warning")
    assert "rejected" in finding.message and 'columns."t.price" = "numeric"' in (finding.fix or "")


def test_rounding_on_request_is_counted_recorded_and_reported_by_verify(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(SOURCE, rows={"INSERT INTO t VALUES (?, ?)": ROWS})
    res = only(load(src, settings='rounding = "round"'))
    assert (res.written, res.rejected) == (6, 0)
    assert pg.execute("SELECT price FROM t WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        (Decimal("3.14"),),
        (Decimal("20.00"),),
    ]
    assert pg.execute('SELECT column_name, policy, "values" FROM _cutover.changes').fetchall() == [
        ("price", "rounding", 2)
    ]
    (finding,) = plan_finding(tmp_path)
    assert finding.count == 2 and "will be rounded" in finding.message

    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "cutover.toml"), "verify"])
    assert result.exit_code == 0, result.output
    assert "equal under rounding = 'round': 2 value(s) of price changed on purpose" in result.output


def test_a_rounded_target_without_the_policy_is_a_difference(make_sqlite, load, pg, tmp_path):
    """The load kept 3.14159 exact in numeric; someone rounds it on the target: verify names it."""
    src = make_sqlite(SOURCE, rows={"INSERT INTO t VALUES (?, ?)": ROWS})
    only(load(src, extra='[databases.columns]\n"t.price" = "numeric"\n'))
    assert pg.execute("SELECT price FROM t WHERE id = 1").fetchone() == (Decimal("3.14159"),)
    pg.execute("UPDATE t SET price = round(price, 2)")
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert not parity.ok
    (t,) = parity.databases[0].tables
    changed = {d.key["id"]: (d.source, d.target) for d in t.differences}
    assert changed == {1: ("'3.14159'", "'3.14'"), 2: ("'19.999'", "'20'")}
