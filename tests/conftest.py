"""Shared fixtures: a real PostgreSQL for the session, a fresh database per test, SQLite builders."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo
import pytest
from psycopg import sql

from cutover import commands
from cutover import config as config_mod
from cutover.embedded import FAST_SETTINGS, EmbeddedPostgres
from cutover.urls import postgres_conninfo, with_database

pytest_plugins = ["pytester"]  # the cutover pytest plugin is tested with pytest's own harness

# These modules run on both load engines: the columnar (Arrow) one, default where a table allows
# it, and the Python row path (CUTOVER_ENGINE reaches the subprocesses the fault tests start too).
BOTH_ENGINES = {
    "test_faults",
    "test_load",
    "test_bad_values",
    "test_verify",
    "test_corpus",
    "test_native",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the modules in BOTH_ENGINES once per engine."""
    if metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_ENGINES:
        metafunc.fixturenames.append("engine")
        metafunc.parametrize("engine", ["auto", "python"], indirect=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The load engine of this test (set through CUTOVER_ENGINE)."""
    value: str = getattr(request, "param", "auto")
    monkeypatch.setenv("CUTOVER_ENGINE", value)
    return value


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A server URL: CUTOVER_TEST_PG_URL when set, else an embedded PostgreSQL 18 with pgvector."""
    external = os.environ.get("CUTOVER_TEST_PG_URL")
    if external:
        yield external
        return
    # Not under pytest's basetemp: another pytest run on the machine may rotate that away.
    datadir = Path(tempfile.mkdtemp(prefix="cutover-test-pg-"))
    server = EmbeddedPostgres(datadir, settings=dict(FAST_SETTINGS))
    url = server.start()
    try:
        yield url
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = postgres_conninfo(pg_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(pg_server, name)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_url_without_pgvector(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database on the test server that sees no pgvector, as a server without it would.

    PostgreSQL 18's extension_control_path, set for this database alone to an empty folder, hides
    every extension not yet created: the real server answers "extension is not available".
    """
    empty = Path(tempfile.mkdtemp(prefix="cutover-no-extensions-"))
    (empty / "extension").mkdir()
    for folder in (empty, empty / "extension"):
        folder.chmod(0o755)  # the server may run as another user than the tests
    name = psycopg.conninfo.conninfo_to_dict(postgres_conninfo(pg_url))["dbname"]
    with psycopg.connect(postgres_conninfo(pg_server_of(pg_url)), autocommit=True) as conn:
        if conn.info.server_version < 180000:  # no extension_control_path before 18
            if conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone():
                pytest.fail("a server older than 18 with pgvector cannot hide it from one database")
            return pg_url  # the server itself has no pgvector
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET extension_control_path = {}").format(
                sql.Identifier(str(name)), sql.Literal(str(empty))
            )
        )
    return pg_url


def pg_server_of(url: str) -> str:
    """The same server's 'postgres' database."""
    return with_database(url, "postgres")


@pytest.fixture
def pg(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the per-test database."""
    with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_sqlite(tmp_path: Path) -> Callable[..., Path]:
    """Build a SQLite file from a SQL script (and optional parameterised inserts)."""

    def build(
        script: str, name: str = "source.db", rows: dict[str, list[tuple[Any, ...]]] | None = None
    ) -> Path:
        path = tmp_path / name
        conn = sqlite3.connect(path)
        conn.executescript(script)
        for insert, values in (rows or {}).items():
            conn.executemany(insert, values)
        conn.commit()
        conn.close()
        return path

    return build


@pytest.fixture
def load(tmp_path: Path, pg_url: str) -> Callable[..., commands.Phase2Result]:
    """Run phase 2 from a SQLite file into the per-test database, with extra cutover.toml text."""

    def run(
        source: Path, extra: str = "", settings: str = "", **kwargs: Any
    ) -> commands.Phase2Result:
        cfg = tmp_path / "cutover.toml"
        text = f'[settings]\n{settings}\n\n[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///{source}"\ntarget = "{pg_url}"\n{extra}\n'
        cfg.write_text(text, encoding="utf-8")
        kwargs.setdefault("yes", True)
        return commands.run_phase2(config_mod.load(cfg), tmp_path / ".cutover", **kwargs)

    return run


def rows(conn: psycopg.Connection[Any], query: str, *params: Any) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    return conn.execute(query, params).fetchall()
