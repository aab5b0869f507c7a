"""What `cutover plan` says about the target: pgvector for vector columns, tables already there."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from cutover.config import DatabaseConfig
from cutover.errors import CutoverError
from cutover.load import target as tgt
from cutover.load.run import refuse_missing_vector
from cutover.phases.plan_model import DatabasePlan
from cutover.schema.model import Finding
from cutover.schema.rules import pg_base
from cutover.schema.target_plan import SchemaPlan


def target_findings(
    db: DatabaseConfig,
    splan: SchemaPlan,
    conn: psycopg.Connection[Any] | None,
    info: tgt.ServerInfo | None,
    result: DatabasePlan,
) -> None:
    """pgvector for vector columns; tables already in
    the target that phase 2 would replace or empty.
    """
    result.target.vector_needed = any(
        pg_base(c.pg_type) in ("vector", "halfvec", "sparsevec")
        for t in splan.tables
        for c in t.columns
    )
    if info is not None:
        try:
            refuse_missing_vector(splan, info, db.name)
        except CutoverError as exc:
            result.findings.append(
                Finding("blocker", "pgvector_missing", exc.message, fix=exc.hint)
            )
    if conn is None:
        return
    names = {t.name for t in splan.tables}
    present = [n for n in result.target.existing_tables if n in names]
    if splan.mode == "existing":
        present = [n for n in present if tgt.row_count(conn, db.target_schema, n)]
        if present:
            result.findings.append(
                Finding(
                    "warning",
                    "target_not_empty",
                    f"{len(present)} target table(s) already hold rows and would be emptied "
                    f"(TRUNCATE) by phase 2: {_first(present)}",
                    count=len(present),
                    fix="`cutover run --phase 2 --yes` empties them; or point the target at a "
                    "fresh database",
                )
            )
        return
    if not present:
        return
    loaded_at = _loaded_before(conn, db.name)
    if loaded_at:
        result.findings.append(
            Finding(
                "info",
                "existing_tables",
                f"{len(present)} table(s) in the target were loaded by cutover on {loaded_at}; "
                "phase 2 replaces them only with --yes",
                count=len(present),
                fix="`cutover run --phase 2 --yes` reloads them",
            )
        )
    else:
        result.findings.append(
            Finding(
                "warning",
                "existing_tables",
                f"{len(present)} table(s) already exist in the target and would be dropped and "
                f"replaced: {_first(present)}",
                count=len(present),
                fix="`cutover run --phase 2 --yes` replaces them; or point the target at an "
                "empty database",
            )
        )


def _loaded_before(conn: psycopg.Connection[Any], database: str) -> str | None:
    """When cutover's own phase 2 last loaded this database into the target (from its manifest)."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{tgt.STATE_SCHEMA}.manifest",)).fetchone()
    if not row or row[0] is None:
        return None
    found = conn.execute(
        sql.SQL(
            "SELECT to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI UTC') FROM "
            "{}.manifest WHERE database = %s"
        ).format(sql.Identifier(tgt.STATE_SCHEMA)),
        (database,),
    ).fetchone()
    return str(found[0]) if found else None


def _first(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (" …" if len(names) > n else "")
