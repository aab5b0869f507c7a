"""Lossy means loud: decimals beyond their declared scale are rejected, or rounded on request and reported."""

from __future__ import annotations

import math
import random
import struct
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.rows.digest import RowHasher, canon_for
from cutover.values.coerce import Reject, float4

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


# -- reals: float32 holds fewer values than the double SQLite stored --------------------------

REALS = "CREATE TABLE m (id INTEGER PRIMARY KEY, w FLOAT4);"  # FLOAT4 → real
REAL_ROWS = [(1, 0.5), (2, 0.1), (3, 0.123456789), (4, 3), (5, None), (6, 1e39)]


def recorded_rejects(pg):
    """(id, column, reason) of each rejected row, as the load recorded it in the target."""
    return pg.execute(
        "SELECT (key->>'id')::int, column_name, reason FROM _cutover.rejects ORDER BY 1"
    ).fetchall()


def findings(tmp_path: Path, code: str):
    p = commands.plan(config_mod.load(tmp_path / "cutover.toml"), tmp_path / "w")
    return [f for f in p.databases[0].findings if f.code == code]


def foreseen_rejects(tmp_path: Path) -> int:
    """The rows plan says the load will reject (its estimate, read on the source)."""
    p = commands.plan(config_mod.load(tmp_path / "cutover.toml"), tmp_path / "w")
    return sum(t.rejects.rows for t in p.databases[0].tables if t.rejects)


def test_a_real_digest_is_the_float32_the_app_reads_never_the_value_rounded_to_it():
    hasher = RowHasher(["real"], [])
    # Postgres' text form of float32(0.1) is 0.1, its binary form 0.10000000149011612: one float32
    assert hasher.digests([(0.1,)]) == hasher.digests([(0.10000000149011612,)])
    # 0.123456789 reads back from real as 0.12345679: another value, never equal to it
    assert hasher.digests([(0.123456789,)]) != hasher.digests([(0.12345679,)])
    assert hasher.digests([(1e39,)]) != hasher.digests([(float("inf"),)])


@pytest.mark.parametrize(
    "value, kept",
    [(0.5, 0.5), (3, 3), ("2.25", 2.25), (Decimal("1.5"), Decimal("1.5")), (None, None)],
)
def test_a_value_float32_holds_goes_to_a_real_as_it_is(value, kept):
    assert float4()(value) == kept


@pytest.mark.parametrize("value", [0.1, 2**24 + 1, Decimal("0.1"), "1e39", 1e39])
def test_a_value_float32_does_not_hold_is_rejected_naming_it(value):
    with pytest.raises(Reject) as caught:
        float4()(value)
    assert str(float(value) if isinstance(value, str) else value) in caught.value.reason


def test_both_readings_of_a_real_have_one_canonical_form(pg):
    """Postgres gives a text reader the shortest decimal of a float32 and a binary reader the
    float32 itself: verify reads text, a load digests what it sends; both name one value."""
    values = [0.1, 1 / 3, 0.123456789, 16777217.0, 3.4e38, 1.17549435e-38, 1e-45, -2.5, 1e10]
    rng = random.Random(14)  # and float32 values of every magnitude, from random bit patterns
    patterns = (struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0] for _ in range(4000))
    values += [v for v in patterns if math.isfinite(v)]
    values += [2.0**k for k in range(-149, 128)] + [-(2.0**k) for k in range(-149, 128, 7)]
    pg.execute("CREATE TABLE r (i int, v real)")
    with pg.cursor() as cur:
        cur.executemany("INSERT INTO r VALUES (%s, %s)", list(enumerate(values)))
    text = pg.execute("SELECT v FROM r ORDER BY i").fetchall()
    binary = pg.cursor(binary=True).execute("SELECT v FROM r ORDER BY i").fetchall()
    assert text != binary  # 0.1 and 0.10000000149011612: two Python floats for one float32
    canon = canon_for("real")
    assert [canon(v) for (v,) in text] == [canon(v) for (v,) in binary]
    rounded = float4(rounding="round")
    assert [canon(rounded(v)) for v in values] == [canon(v) for (v,) in binary]


def test_reals_float32_cannot_hold_are_rejected_by_default_and_plan_counts_them(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(REALS, rows={"INSERT INTO m VALUES (?, ?)": REAL_ROWS})
    res = only(load(src))
    assert (res.written, res.rejected) == (3, 3)
    assert recorded_rejects(pg) == [
        (
            2,
            "w",
            "0.1 is not a float32: real (float4) would keep 0.10000000149011612 (rounding = "
            "'round' allows that, double precision keeps it exact)",
        ),
        (
            3,
            "w",
            "0.123456789 is not a float32: real (float4) would keep 0.12345679104328156 "
            "(rounding = 'round' allows that, double precision keeps it exact)",
        ),
        (6, "w", "1e+39 is beyond the range of real (float4, ±3.4e38); double precision holds it"),
    ]
    assert pg.execute("SELECT id, w FROM m ORDER BY id").fetchall() == [
        (1, 0.5),
        (4, 3.0),
        (5, None),
    ]
    assert pg.execute("SELECT count(*) FROM _cutover.changes").fetchone() == (0,)
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert parity.ok, parity.to_json()
    (finding,) = findings(tmp_path, "float_precision")
    assert (finding.column, finding.count, finding.severity) == ("w", 2, "warning")
    assert "rejected" in finding.message
    assert 'columns."m.w" = "double precision"' in (finding.fix or "")
    assert foreseen_rejects(tmp_path) == 3


def test_reals_rounded_to_float32_on_request_are_counted_and_reported_by_verify(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(REALS, rows={"INSERT INTO m VALUES (?, ?)": REAL_ROWS})
    res = only(load(src, settings='rounding = "round"'))
    assert (res.written, res.rejected) == (5, 1)  # 1e39: no float32 is near it
    assert pg.execute("SELECT w::float8 FROM m WHERE id IN (2, 3) ORDER BY id").fetchall() == [
        (0.10000000149011612,),
        (0.12345679104328156,),
    ]
    assert pg.execute('SELECT column_name, policy, "values" FROM _cutover.changes').fetchall() == [
        ("w", "rounding", 2)
    ]
    (finding,) = findings(tmp_path, "float_precision")
    assert finding.count == 2 and "will be rounded to the nearest float32" in finding.message
    assert foreseen_rejects(tmp_path) == 1

    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "cutover.toml"), "verify"])
    assert result.exit_code == 0, result.output
    assert "equal under rounding = 'round': 2 value(s) of w changed on purpose" in result.output
    # the load's own digests (of the rounded values) match the target as read back
    cfg = config_mod.load(tmp_path / "cutover.toml")
    assert commands.verify(cfg, tmp_path / ".cutover", digests="load").ok


def test_a_real_kept_exact_in_double_precision_then_rounded_on_the_target_is_a_difference(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(REALS, rows={"INSERT INTO m VALUES (?, ?)": REAL_ROWS})
    res = only(load(src, extra='[databases.columns]\n"m.w" = "double precision"\n'))
    assert (res.written, res.rejected) == (6, 0)
    pg.execute("UPDATE m SET w = w::real WHERE id = 3")
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert not parity.ok
    (t,) = parity.databases[0].tables
    assert {d.key["id"] for d in t.differences} == {3}


# -- char(n): Postgres pads and trims to n --------------------------------------------------------

CHARS = "CREATE TABLE c (id INTEGER PRIMARY KEY, code CHAR(5));"
CHAR_ROWS = [
    (1, "abcde"),
    (2, "ab"),  # SQLite never pads: char(5) would read back 'ab   '
    (3, "ab   "),  # already padded, as SQL Server's char(5) gives it: exact
    (4, "xyz    "),  # char(5) would drop the two spaces beyond 5
    (5, None),
    (6, "abcdef"),  # too long whatever the policy
]
AS_CHAR = '[databases.columns]\n"c.code" = "char(5)"\n'


def test_the_digest_of_a_char_value_is_never_padded():
    hasher = RowHasher(["char(5)"], [])
    assert hasher.digests([("ab",)]) != hasher.digests([("ab   ",)])
    assert hasher.digests([("ab   ",)]) == hasher.digests([("ab   ",)])


def test_values_char_n_would_pad_or_trim_are_rejected_by_default_and_plan_counts_them(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(CHARS, rows={"INSERT INTO c VALUES (?, ?)": CHAR_ROWS})
    res = only(load(src, extra=AS_CHAR))
    assert (res.written, res.rejected) == (3, 3)
    assert recorded_rejects(pg) == [
        (
            2,
            "code",
            "'ab' would read back from char(5) as 'ab   ' (char_padding = 'pad' allows that, "
            "varchar(5) keeps it exact)",
        ),
        (
            4,
            "code",
            "'xyz    ' would read back from char(5) as 'xyz  ' (char_padding = 'pad' allows "
            "that, varchar(5) keeps it exact)",
        ),
        (6, "code", "value of 6 characters is longer than the column's 5"),
    ]
    assert pg.execute("SELECT id, code FROM c ORDER BY id").fetchall() == [
        (1, "abcde"),
        (3, "ab   "),
        (5, None),
    ]
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert parity.ok, parity.to_json()
    (finding,) = findings(tmp_path, "char_width")
    assert (finding.column, finding.count) == ("code", 2)
    assert "rejected" in finding.message and '"varchar(5)"' in (finding.fix or "")
    assert foreseen_rejects(tmp_path) == 3


def test_padding_on_request_is_counted_recorded_and_reported_by_verify(
    make_sqlite, load, pg, tmp_path
):
    src = make_sqlite(CHARS, rows={"INSERT INTO c VALUES (?, ?)": CHAR_ROWS})
    res = only(load(src, extra=AS_CHAR, settings='char_padding = "pad"'))
    assert (res.written, res.rejected) == (5, 1)
    assert pg.execute("SELECT code FROM c WHERE id IN (2, 4) ORDER BY id").fetchall() == [
        ("ab   ",),
        ("xyz  ",),
    ]
    assert pg.execute('SELECT column_name, policy, "values" FROM _cutover.changes').fetchall() == [
        ("code", "char_padding", 2)
    ]
    (finding,) = findings(tmp_path, "char_width")
    assert finding.count == 2 and "will be padded or trimmed to fit" in finding.message
    assert foreseen_rejects(tmp_path) == 1

    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "cutover.toml"), "verify"])
    assert result.exit_code == 0, result.output
    assert "equal under char_padding = 'pad': 2 value(s) of code changed on purpose" in (
        result.output
    )
    cfg = config_mod.load(tmp_path / "cutover.toml")
    assert commands.verify(cfg, tmp_path / ".cutover", digests="load").ok


def test_trailing_spaces_trimmed_on_the_target_are_a_difference(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(CHARS, rows={"INSERT INTO c VALUES (?, ?)": CHAR_ROWS[:3]})
    assert only(load(src)).rejected == 0  # CHAR(5) → varchar(5): 'ab   ' kept as it is
    pg.execute("UPDATE c SET code = rtrim(code) WHERE id = 3")
    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert not parity.ok
    (t,) = parity.databases[0].tables
    assert {d.key["id"]: (d.source, d.target) for d in t.differences} == {3: ("'ab   '", "'ab'")}
