"""pytest plugin: `pytest --cutover-parity` turns each migrated table into a test.

An app's CI runs its suite against Postgres with this flag and gets one test per table (and one
per database for the schema), failing with the same mismatch report `cutover verify` prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cutover import config as config_mod
from cutover.errors import CutoverError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cutover", "cutover parity")
    group.addoption(
        "--cutover-parity",
        action="store_true",
        default=False,
        help="add one parity test per table migrated by cutover",
    )
    group.addoption(
        "--cutover-config",
        default=str(config_mod.DEFAULT_CONFIG),
        help="the cutover.toml to verify (default ./cutover.toml)",
    )
    group.addoption(
        "--cutover-workdir",
        default=None,
        help="cutover's workdir (default .cutover/ beside the config); verify needs none of it",
    )


class ParityFailure(Exception):
    """A table or schema that does not match; the message is the report."""


class _Verification:
    """Runs verify once per session, on first use, and keeps the result."""

    def __init__(self, config_path: Path, workdir: Path) -> None:
        self.config_path, self.workdir = config_path, workdir
        self._result: Any = None

    def result(self) -> Any:
        if self._result is None:
            from cutover.proof.verify import verify

            self._result = verify(config_mod.load(self.config_path), self.workdir)
        return self._result


class ParityItem(pytest.Item):
    """One table's parity (or, with table=None, one database's schema parity)."""

    def __init__(
        self, *, verification: _Verification, database: str, table: str | None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.verification, self.database, self.table = verification, database, table

    def runtest(self) -> None:
        from cutover.proof.verify import table_details

        try:
            result = self.verification.result()
        except CutoverError as exc:
            raise ParityFailure(exc.render()) from exc
        db = next(d for d in result.databases if d.database == self.database)
        if self.table is None:
            if db.schema_issues:
                raise ParityFailure(
                    "\n".join(f"{i.table}: {i.subject}: {i.problem}" for i in db.schema_issues)
                )
            return
        parity = next(t for t in db.tables if t.table == self.table)
        if not parity.ok:
            raise ParityFailure(table_details(parity))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ParityFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"cutover parity {self.name}"


def _tables(config: config_mod.Config) -> list[tuple[str, list[str]]]:
    """(database, source tables) from each database's load manifest in its target."""
    from cutover.load import state
    from cutover.load import target as tgt

    found = []
    for db in config.databases:
        with tgt.connect(db.target) as conn:
            recorded = state.read_manifest(conn, db.name)
        found.append((db.name, [t["source"] for t in recorded[0]["tables"]] if recorded else []))
    return found


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("cutover_parity"):
        return
    config_path = Path(config.getoption("cutover_config"))
    workdir = config.getoption("cutover_workdir")
    verification = _Verification(
        config_path,
        Path(workdir) if workdir else config_path.parent / config_mod.DEFAULT_WORKDIR,
    )
    try:
        databases = _tables(config_mod.load(config_path))
    except CutoverError as exc:
        raise pytest.UsageError(f"--cutover-parity: {exc.render()}") from exc
    for database, tables in databases:
        items.append(
            ParityItem.from_parent(
                session,
                name=f"{database}::schema",
                verification=verification,
                database=database,
                table=None,
            )
        )
        for table in tables:
            items.append(
                ParityItem.from_parent(
                    session,
                    name=f"{database}::{table}",
                    verification=verification,
                    database=database,
                    table=table,
                )
            )
