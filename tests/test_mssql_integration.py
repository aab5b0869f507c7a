"""Against a real SQL Server 2022 (testcontainers), wherever a Docker engine answers; skipped, with the reason, elsewhere.

Covers what only a server can: the catalog queries, the T-SQL the reader sends, each type as the
driver really returns it, a Korean_Wansung_CI_AS varchar holding Korean text, identity
continuation, and plan → run → verify end to end. Runs with pymssql always, and with pyodbc too
when unixODBC and an ODBC driver (FreeTDS or ODBC Driver 18) are installed.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mssql_rows import xml_supported

from cutover import commands
from cutover import config as config_mod
from cutover.sources.mssql import MssqlSource

pytestmark = pytest.mark.mssql

IMAGE = "mcr.microsoft.com/mssql/server:2022-latest"
PASSWORD = "Cutover-Test-2022!"  # throwaway container's sa password
DOCKER_INFO_TIMEOUT_S = 20  # a daemon that does not answer in this long is not there
KST = timezone(timedelta(hours=9))

SCHEMA = [
    """CREATE TABLE dbo.types (
        id int IDENTITY(1,1) PRIMARY KEY, b bit, ti tinyint, si smallint, i int, bi bigint, d decimal(38,10), n numeric(5,2),
        m money, sm smallmoney, f float, r real, dt date, tm time(7), dtm datetime, dt2 datetime2(7), sdt smalldatetime,
        dto datetimeoffset(7), u uniqueidentifier, c char(6), vc varchar(50), t text, nc nchar(4), nvc nvarchar(50), nt ntext,
        bn binary(4), vb varbinary(max), img image, x xml, sv sql_variant, h hierarchyid, g geography, rv rowversion)""",
    """INSERT INTO dbo.types (b, ti, si, i, bi, d, n, m, sm, f, r, dt, tm, dtm, dt2, sdt, dto, u, c, vc, t, nc, nvc, nt, bn, vb, img, x, sv, h, g)
       VALUES (1, 255, -32768, 2147483647, 9223372036854775807, 1234567890123456789012345678.0123456789, -123.45,
               922337203685477.5807, -214748.3648, 1.5e300, 0.5, '2024-02-29', '23:59:59.1234567', '2024-01-01T10:00:00.003',
               '2024-01-01T10:00:00.1234567', '2024-01-01T10:00:00', '2024-03-01T09:30:00.1234567+09:00',
               '6F9619FF-8B86-D011-B42D-00C04FC964FF', N'가나', N'안녕하세요', N'본문', N'가', N'이모지 😀', N'옛 글',
               0x00010203, 0xFF, 0x89504E47, N'<a x="1">한</a>', CAST(42 AS int), hierarchyid::Parse('/1/3/'),
               geography::STGeomFromText('POINT(126.978 37.566)', 4326))""",
    "INSERT INTO dbo.types (b) VALUES (NULL)",
    """CREATE TABLE dbo.messages (
        id bigint IDENTITY(100,1) CONSTRAINT PK_messages PRIMARY KEY,
        body varchar(200) COLLATE Korean_Wansung_CI_AS NOT NULL,
        lang char(2) COLLATE Korean_Wansung_CI_AS NOT NULL CONSTRAINT CK_messages_lang CHECK (lang IN ('ko', 'en')),
        created datetime2 NOT NULL CONSTRAINT DF_messages_created DEFAULT sysdatetime())""",
    "INSERT INTO dbo.messages (body, lang) VALUES (N'안녕하세요, 세계', 'ko'), (N'한국어 텍스트 ✓', 'ko'), ('plain', 'en')",
    "DELETE FROM dbo.messages WHERE body = 'plain'",  # the identity's last value (102) is above max(id) (101)
    "CREATE TABLE dbo.heap (note nvarchar(20) COLLATE Korean_Wansung_CI_AS, n int)",
    "INSERT INTO dbo.heap VALUES (N'하나', 1), (N'둘', 2), (N'둘', 2)",
]


def docker_unavailable() -> str | None:
    """Why no Docker engine answers here, or None when one does."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        done = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=DOCKER_INFO_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return f"`docker info` did not answer within {DOCKER_INFO_TIMEOUT_S} s"
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"`docker info` exited {done.returncode}"
    return None


def pyodbc_driver() -> str | None:
    """An installed ODBC driver for SQL Server, when pyodbc can load libodbc."""
    try:
        import pyodbc
    except ImportError:
        return None
    return next(
        (
            d
            for d in ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server", "FreeTDS")
            if d in pyodbc.drivers()
        ),
        None,
    )


@pytest.fixture(scope="module")
def mssql_server() -> Iterator[tuple[str, int]]:
    reason = docker_unavailable()
    if reason:
        pytest.skip(f"no Docker engine: {reason}")
    from testcontainers.community.mssql import SqlServerContainer

    with SqlServerContainer(IMAGE, password=PASSWORD) as container:
        host, port = container.get_container_host_ip(), int(container.get_exposed_port(1433))
        import pymssql

        with pymssql.connect(
            server=host, port=port, user="sa", password=PASSWORD, autocommit=True
        ) as conn:
            cur = conn.cursor()
            cur.execute("CREATE DATABASE chat COLLATE Korean_Wansung_CI_AS")
            cur.execute("ALTER DATABASE chat SET ALLOW_SNAPSHOT_ISOLATION ON")
        with pymssql.connect(
            server=host, port=port, user="sa", password=PASSWORD, database="chat", autocommit=True
        ) as conn:
            cur = conn.cursor()
            for statement in SCHEMA:
                cur.execute(statement)
        yield host, port


@pytest.fixture(params=["pymssql", "pyodbc"])
def source_url(request: pytest.FixtureRequest, mssql_server: tuple[str, int]) -> str:
    host, port = mssql_server
    if request.param == "pymssql":
        return f"mssql+pymssql://sa:{PASSWORD}@{host}:{port}/chat"
    driver = pyodbc_driver()
    if driver is None:
        pytest.skip(
            "pyodbc cannot load libodbc or no ODBC driver for SQL Server is installed (apt-get install unixodbc tdsodbc)"
        )
    return f"mssql+pyodbc://sa:{PASSWORD}@{host}:{port}/chat?driver={driver.replace(' ', '+')}&TrustServerCertificate=yes"


def read_all(source: MssqlSource, name: str, batch_size: int = 2) -> list[tuple[Any, ...]]:
    table = source.reflect().table(name)
    return [
        row
        for batch in source.read(table, [c.name for c in table.columns], batch_size=batch_size)
        for row in batch.rows
    ]


def test_each_type_as_the_driver_returns_it(source_url: str) -> None:
    source = MssqlSource(source_url)
    try:
        rows = read_all(source, "types")
        (_key, *values), (_key2, *nulls) = rows
        names = [c.name for c in source.reflect().table("types").columns]
        got = dict(zip(names, values))
        assert all(v is None for n, v in zip(names, nulls) if n not in ("id", "rv"))
    finally:
        source.close()
    assert (
        got["b"] is True
        and got["ti"] == 255
        and got["si"] == -32768
        and got["i"] == 2147483647
        and got["bi"] == 9223372036854775807
    )
    assert got["d"] == Decimal("1234567890123456789012345678.0123456789") and got["n"] == Decimal(
        "-123.45"
    )
    assert got["m"] == Decimal("922337203685477.5807") and got["sm"] == Decimal("-214748.3648")
    assert got["f"] == 1.5e300 and got["r"] == 0.5
    assert got["dt"] == date(2024, 2, 29) and got["tm"] == time(23, 59, 59, 123456)
    assert (
        got["dtm"] == datetime(2024, 1, 1, 10, 0, 0, 3000)
        and got["dt2"] == datetime(2024, 1, 1, 10, 0, 0, 123456)
        and got["sdt"] == datetime(2024, 1, 1, 10, 0)
    )
    assert got["dto"] == datetime(2024, 3, 1, 9, 30, 0, 123456, KST)
    assert got["u"] == uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
    assert (
        got["c"] == "가나  " and got["vc"] == "안녕하세요" and got["t"] == "본문"
    )  # char(6) in cp949: 4 bytes of text, 2 of padding
    assert got["nc"] == "가   " and got["nvc"] == "이모지 😀" and got["nt"] == "옛 글"
    assert (
        got["bn"] == b"\x00\x01\x02\x03"
        and got["vb"] == b"\xff"
        and got["img"] == b"\x89PNG"
        and len(got["rv"]) == 8
    )
    assert got["x"] == '<a x="1">한</a>' and got["sv"] == "42" and got["h"] == "/1/3/"
    assert got["g"].startswith("SRID=4326;POINT (126.978 37.566")


def test_korean_wansung_varchar_and_keyless_table(source_url: str) -> None:
    source = MssqlSource(source_url)
    try:
        assert [r[1] for r in read_all(source, "messages", batch_size=1)] == [
            "안녕하세요, 세계",
            "한국어 텍스트 ✓",
        ]
        assert source.key_columns(source.reflect().table("heap")) == ["_cutover_row"]
        assert sorted(r[1:] for r in read_all(source, "heap")) == [
            ("둘", 2),
            ("둘", 2),
            ("하나", 1),
        ]
        assert source.sequence_values()["messages"] == 102
        codes = {f.code for f in source.reflect().findings}
        assert {"case_insensitive", "single_pass", "lossy_type", "rowversion"} <= codes
    finally:
        source.close()


def test_plan_run_verify(source_url: str, pg_url: str, pg: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "cutover.toml"
    extra = "" if xml_supported(pg) else '[databases.columns]\n"types.x" = "text"\n'
    cfg.write_text(
        f'[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\nsource = "{source_url}"\ntarget = "{pg_url}"\n{extra}',
        encoding="utf-8",
    )
    config = config_mod.load(cfg)
    result = commands.run_phase2(config, tmp_path / ".cutover", yes=True)
    assert result.rejected == 0
    parity = commands.verify(config, tmp_path / ".cutover")
    assert parity.ok, [
        (t.table, t.note, t.differences) for d in parity.databases for t in d.tables if not t.ok
    ]
    assert pg.execute("SELECT body FROM messages ORDER BY id").fetchall() == [
        ("안녕하세요, 세계",),
        ("한국어 텍스트 ✓",),
    ]
    # SQL Server's next identity would be 103: the Postgres identity continues there, not at max(id) + 1
    assert (
        pg.execute("SELECT nextval(pg_get_serial_sequence('messages', 'id'))").fetchone()[0] == 103
    )
    assert (
        pg.execute(
            "SELECT column_default FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'created'"
        ).fetchone()[0]
        == "LOCALTIMESTAMP"
    )
