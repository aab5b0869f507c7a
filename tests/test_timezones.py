"""Every connection speaks UTC; naive source date/times are read in source_timezone, on any server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mssql_rows import StaticSource
from psycopg import sql

from cutover import commands
from cutover import config as config_mod
from cutover.load import target as tgt
from cutover.urls import parse

SEOUL = "Asia/Seoul"
NINE_UTC = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def seoul_url(pg_url: str, pg: psycopg.Connection[Any]) -> str:
    """The per-test database, set to Asia/Seoul as our users' servers are."""
    name = parse(pg_url).database
    pg.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = 'Asia/Seoul'").format(sql.Identifier(name))
    )
    return pg_url


def write_config(
    tmp_path: Path, source: str, target: str, settings: str, extra: str = ""
) -> config_mod.Config:
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[settings]\n{settings}\n\n[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\n'
        f'source = "{source}"\ntarget = "{target}"\n{extra}',
        encoding="utf-8",
    )
    return config_mod.load(cfg)


def test_every_connection_cutover_opens_speaks_utc(seoul_url):
    with psycopg.connect(seoul_url) as plain:
        assert plain.execute("SHOW TimeZone").fetchone() == (SEOUL,)
    with tgt.connect(seoul_url) as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
    with tgt.connect(seoul_url + "?options=-cstatement_timeout%3D5000") as conn:
        assert conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)


def test_sqlite_text_and_epochs_into_timestamptz_on_a_seoul_server(
    make_sqlite, seoul_url, tmp_path
):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME, epoch_s INTEGER, zoned TEXT);",
        rows={
            "INSERT INTO t VALUES (?, ?, ?, ?)": [
                (1, "2024-01-01 09:00:00", 1704099600, "2024-01-01T18:00:00+09:00"),
                (2, "2024-01-01T09:00:00", 1704099600, "2024-01-01T09:00:00Z"),
            ]
        },
    )
    config = write_config(
        tmp_path,
        f"sqlite:///{src}",
        seoul_url,
        'timestamps = "timestamptz"',
        '[databases.columns]\n"t.epoch_s" = "timestamptz"\n"t.zoned" = "timestamptz"\n',
    )
    result = commands.run_phase2(config, tmp_path / ".cutover", yes=True)
    assert result.rejected == 0
    with psycopg.connect(seoul_url) as conn:
        values = conn.execute("SELECT at, epoch_s, zoned FROM t ORDER BY id").fetchall()
    assert values == [(NINE_UTC, NINE_UTC, NINE_UTC)] * 2
    assert commands.verify(config, tmp_path / ".cutover").ok


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", datetime(2024, 1, 1, 9, 0, 0, 123456, tzinfo=UTC)),
        (SEOUL, datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_sql_server_naive_datetime2_into_timestamptz_on_a_seoul_server(
    seoul_url, tmp_path, monkeypatch, zone, expected
):
    """datetime2 09:00 is 09:00 UTC with the default source_timezone, 00:00 UTC when it was Seoul time."""
    source = StaticSource()
    for where in (
        "cutover.sources.open_source",
        "cutover.proof.verify.open_source",
        "cutover.load.run.open_source",
    ):
        monkeypatch.setattr(where, lambda url, base_dir=None: source)
    config = write_config(
        tmp_path,
        "mssql+pyodbc://sa:x@db:1433/chat?driver=FreeTDS",
        seoul_url,
        f'timestamps = "timestamptz"\nsource_timezone = "{zone}"',
    )
    commands.run_phase2(config, tmp_path / ".cutover", yes=True)
    with psycopg.connect(seoul_url) as conn:
        assert conn.execute('SELECT created FROM "Users" WHERE id = 1').fetchone() == (expected,)
    parity = commands.verify(config, tmp_path / ".cutover", table="Users")
    assert parity.ok, parity.to_json()


def test_plan_states_the_source_timezone(make_sqlite, pg_url, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME);",
        rows={"INSERT INTO t VALUES (?, ?)": [(1, "2024-01-01 09:00:00")]},
    )
    config = write_config(
        tmp_path,
        f"sqlite:///{src}",
        pg_url,
        'timestamps = "timestamptz"\nsource_timezone = "Asia/Seoul"',
    )
    p = commands.plan(config, tmp_path / "w")
    (finding,) = [f for f in p.databases[0].findings if f.code == "source_timezone"]
    assert finding.severity == "info" and "t.at" in finding.message and SEOUL in finding.message


def test_an_unknown_source_timezone_is_a_config_error(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="source_timezone"):
        write_config(
            tmp_path, "sqlite:///x.db", "postgresql://h/db", 'source_timezone = "Mars/Olympus"'
        )
