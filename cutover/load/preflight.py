"""Preflight: what phase 2 needs of the target, checked before anything changes.

One check serves the load (which refuses on a blocker), phase 2's checklist (which ticks or fails
`p2.preflight` with it) and `cutover plan` (which lists the problems as findings). A database that
does not exist yet is checked through the server's `postgres` database, where phase 2 creates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from cutover import urls
from cutover.errors import CutoverError, TargetError
from cutover.load import target as tgt
from cutover.load.target import ServerInfo

MISSING_DATABASE_SQL = """
    SELECT current_setting('server_version'), current_setting('server_version_num')::int,
           current_user, (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname =
               current_user),
           (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')
"""


@dataclass
class Problem:
    """Something the target lacks: a blocker stops phase 2, info only informs."""

    severity: str  # blocker | info
    code: str  # target_unreachable | no_create_privilege | database_missing
    message: str
    hint: str | None = None


@dataclass
class TargetCheck:
    """The target as preflight found it."""

    database: str
    info: ServerInfo | None = None  # None: unreachable
    database_exists: bool = True
    error: str | None = None  # why it is unreachable (redacted)
    problems: list[Problem] = field(default_factory=list)

    @property
    def blockers(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "blocker"]

    def evidence(self, url: str) -> str:
        """One line for the checklist: server, user, privileges, pgvector."""
        info = self.info
        if info is None:
            return self.error or "unreachable"
        vector = (
            f"pgvector {info.vector_installed} installed"
            if info.vector_installed
            else f"pgvector {info.vector_available} available"
            if info.vector_available
            else "no pgvector on the server"
        )
        created = "" if self.database_exists else f" (database {self.database} is created)"
        return (
            f"PostgreSQL {info.version} at {urls.redact(url)}{created}; user {info.user} may "
            f"create tables; {vector}"
        )

    def refuse(self, database: str) -> None:
        """Raise the first blocker as a TargetError (phase 2 changes nothing then)."""
        for p in self.blockers:
            raise TargetError(p.message, database=database, hint=p.hint)


def check_target(url: str, schema: str) -> TargetCheck:
    """Connect (or reach the server's 'postgres'
    database) and read version, privileges, pgvector.
    """
    name = urls.parse(url).database or ""
    try:
        conn = tgt.connect(url, autocommit=True)
    except CutoverError as exc:
        if "does not exist" in exc.message:
            return _check_missing_database(url, name)
        error = " ".join(urls.redact(exc.message).split())
        return TargetCheck(
            name, error=error, problems=[Problem("blocker", "target_unreachable", error, exc.hint)]
        )
    try:
        info = tgt.server_info(conn, schema)
    finally:
        conn.close()
    check = TargetCheck(info.database, info)
    if not info.can_create:
        check.problems.append(
            Problem(
                "blocker",
                "no_create_privilege",
                f"user {info.user} may not create tables in database {info.database} "
                f"(schema {schema})",
                f"GRANT CREATE ON DATABASE {info.database} TO {info.user}; "
                f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {info.user}",
            )
        )
    return check


def _check_missing_database(url: str, name: str) -> TargetCheck:
    admin = urls.with_database(urls.postgres_conninfo(url), "postgres")
    try:
        with psycopg.connect(
            admin,
            autocommit=True,
            connect_timeout=tgt.CONNECT_TIMEOUT_S,
            options=tgt.session_options(admin),
        ) as conn:
            row = conn.execute(MISSING_DATABASE_SQL).fetchone()
    except psycopg.Error as exc:
        text = str(exc).strip()
        error = urls.redact(text.splitlines()[0] if text else type(exc).__name__)
        message = (
            f"database {name} does not exist and the server's 'postgres' database cannot be "
            f"reached to create it: {error}"
        )
        return TargetCheck(
            name,
            database_exists=False,
            error=error,
            problems=[
                Problem("blocker", "target_unreachable", message, f"create it: createdb {name}")
            ],
        )
    assert row is not None
    version, version_num, user, can_create_db, vector = row
    info = ServerInfo(version, version_num, name, user, bool(can_create_db), vector, None)
    check = TargetCheck(name, info, database_exists=False)
    if can_create_db:
        check.problems.append(
            Problem(
                "info",
                "database_missing",
                f"database {name} does not exist yet; phase 2 creates it",
            )
        )
    else:
        check.problems.append(
            Problem(
                "blocker",
                "no_create_privilege",
                f"database {name} does not exist and user {user} may not create databases",
                f"createdb {name} (as a user who may), or ALTER ROLE {user} CREATEDB",
            )
        )
    return check
