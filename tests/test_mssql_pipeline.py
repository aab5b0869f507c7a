"""Plan → run → verify of a SQL Server-shaped source into a real Postgres, without a SQL Server.

The source serves the catalog rows and driver-shaped values of tests/mssql_rows.py through the
reader's own decoding, keys, profile classes, identities and default translation; what this proves
is that every decoded Python value lands in its Postgres column and verifies. The SQL the real
reader sends is exercised by tests/test_mssql_integration.py where a Docker engine answers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mssql_rows import ORDER_PLACED, StaticSource, xml_supported

from cutover import commands
from cutover import config as config_mod

SOURCE_URL = (
    "mssql+pyodbc://sa:${MSSQL_PASSWORD:-x}@db:1433/chat?driver=ODBC+Driver+18+for+SQL+Server"
)


def load_static(
    tmp_path: Path, pg_url: str, pg: Any, monkeypatch: pytest.MonkeyPatch, columns: str = ""
) -> Any:
    """Phase 2 from the static SQL Server source, with extra `[databases.columns]` lines."""
    source = StaticSource()
    monkeypatch.setattr("cutover.sources.open_source", lambda url, base_dir=None: source)
    monkeypatch.setattr("cutover.proof.verify.open_source", lambda url, base_dir=None: source)
    monkeypatch.setattr("cutover.load.run.open_source", lambda url, base_dir=None: source)
    cfg = tmp_path / "cutover.toml"
    # without libxml every xml value would be refused (and rejected, with that reason): carry it as text there
    if not xml_supported(pg):
        columns += '"AuditLog.payload" = "text"\n'
    extra = f"[databases.columns]\n{columns}" if columns else ""
    cfg.write_text(
        f'[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\nsource = "{SOURCE_URL}"\ntarget = "{pg_url}"\n{extra}',
        encoding="utf-8",
    )
    config = config_mod.load(cfg)
    result = commands.run_phase2(config, tmp_path / ".cutover", yes=True)
    return config, result


@pytest.fixture
def mssql_load(tmp_path: Path, pg_url: str, pg: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    return load_static(tmp_path, pg_url, pg, monkeypatch)


def test_sql_server_char_values_are_padded_already_so_a_char_target_keeps_them_exactly(
    tmp_path: Path, pg_url: str, pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """char(n)/nchar(n) read from SQL Server are n long: a char(n) target changes none of them."""
    columns = '"AuditLog.ncode" = "char(3)"\n"Orders.code" = "char(4)"\n'
    config, result = load_static(tmp_path, pg_url, pg, monkeypatch, columns)
    assert result.rejected == 0
    assert pg.execute('SELECT ncode FROM "AuditLog" WHERE ncode IS NOT NULL').fetchall() == [
        ("가나 ",)
    ]
    assert pg.execute("SELECT count(*) FROM _cutover.changes").fetchone() == (0,)
    assert commands.verify(config, tmp_path / ".cutover").ok


def test_a_wider_char_target_would_pad_them_so_they_are_rejected_by_name(
    tmp_path: Path, pg_url: str, pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, result = load_static(
        tmp_path, pg_url, pg, monkeypatch, '"AuditLog.ncode" = "char(4)"\n'
    )
    assert result.rejected == 1
    assert pg.execute(
        "SELECT table_name, column_name, reason FROM _cutover.rejects"
    ).fetchall() == [
        (
            "AuditLog",
            "ncode",
            "'가나 ' would read back from char(4) as '가나  ' (char_padding = 'pad' allows that, "
            "varchar(4) keeps it exact)",
        )
    ]
    assert commands.verify(config, tmp_path / ".cutover").ok


def test_every_type_lands_and_verifies(mssql_load: Any, pg: Any, tmp_path: Path) -> None:
    config, result = mssql_load
    assert result.rejected == 0
    assert all(r.reconciled for r in result.reports[0].results)
    parity = commands.verify(config, tmp_path / ".cutover")
    assert parity.ok, [
        (t.table, t.note, t.differing_buckets, t.differences)
        for d in parity.databases
        for t in d.tables
        if not t.ok
    ] + [i for d in parity.databases for i in d.schema_issues]


def test_values_as_the_app_will_read_them(mssql_load: Any, pg: Any) -> None:
    users = pg.execute(
        'SELECT id, email, name, is_active, balance, created FROM "Users" ORDER BY id'
    ).fetchall()
    assert users[0] == (
        1,
        "kim@example.com",
        "김철수",
        True,
        Decimal("1000.5000"),
        datetime(2024, 1, 1, 9, 0, 0, 123456),
    )
    assert users[2][2] is None
    order = pg.execute(
        'SELECT total, status, code, amount, row_ver, placed, note FROM "Orders" WHERE id = 1000'
    ).fetchone()
    assert order == (
        Decimal("12.50"),
        "open",
        "AB12",
        Decimal("12.5000"),
        b"\x00" * 7 + b"\x01",
        ORDER_PLACED,
        "배송 메모 😀",
    )
    log = pg.execute(
        'SELECT event_id, payload::text, "at", loc, node, extra, ratio, small, born, alarm, legacy, short, tiny, small_n, memo, old_memo, utf8, latin, ncode FROM "AuditLog" ORDER BY event_id DESC'
    ).fetchone()
    assert log == (
        uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
        '<e kind="login">성공</e>',
        datetime(2024, 5, 5, 23, 59, 59, 999999, timezone(-timedelta(hours=5, minutes=30))),
        "SRID=4326;POINT (126.978 37.566)",
        "/1/3/",
        "42",
        1.7976931348623157e308,
        0.10000000149011612,
        date(2024, 2, 29),
        time(23, 59, 59, 999999),
        datetime(2024, 1, 1, 10, 0, 0, 3000),
        datetime(2079, 6, 6, 23, 59),
        255,
        -32768,
        "긴 본문",
        "옛 본문",
        "한국어 ✓",
        "café €",
        "가나 ",
    )
    assert pg.execute('SELECT price FROM "Prices"').fetchone()[0] == Decimal(
        "1234567890123456789012345678.0123456789"
    )


def test_schema_types_identities_and_defaults(mssql_load: Any, pg: Any) -> None:
    types = dict(
        pg.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    )
    assert (
        types["AuditLog.payload"] == ("xml" if xml_supported(pg) else "text")
        and types["AuditLog.at"] == "timestamp with time zone"
        and types["AuditLog.event_id"] == "uuid"
    )
    assert (
        types["Orders.total"] == "numeric"
        and types["Users.is_active"] == "boolean"
        and types["Orders.row_ver"] == "bytea"
    )
    assert (
        pg.execute("""SELECT nextval(pg_get_serial_sequence('"Users"', 'id'))""").fetchone()[0] == 4
    )
    assert (
        pg.execute("""SELECT nextval(pg_get_serial_sequence('"Orders"', 'id'))""").fetchone()[0]
        == 1011
    )
    defaults = dict(
        pg.execute(
            "SELECT table_name || '.' || column_name, column_default FROM information_schema.columns WHERE table_schema = 'public' AND column_default IS NOT NULL AND is_identity = 'NO'"
        ).fetchall()
    )
    assert (
        defaults["Users.created"] == "LOCALTIMESTAMP"
        and defaults["AuditLog.event_id"] == "gen_random_uuid()"
        and defaults["Orders.placed"] == "now()"
    )
    checks = {
        r[0]
        for r in pg.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid <> 0"
        ).fetchall()
    }
    assert checks == {"CK_Orders_status", "CK_Orders_total"}
    assert {
        r[0] for r in pg.execute("SELECT conname FROM pg_constraint WHERE contype = 'f'").fetchall()
    } == {"FK_Orders_Users"}
    # both names survive as themselves: Postgres keeps quoted identifiers apart
    assert pg.execute(
        'SELECT (SELECT count(*) FROM "UserAccounts"), (SELECT count(*) FROM "user_accounts")'
    ).fetchone() == (1, 2)
