"""Rolled-back probes of translated SQL on the target, before any revision is written.

A default (or generated expression) translated from the source can still be one Postgres refuses
(`'0000-01-01'::timestamp`, `'abc'::integer`): one such value would fail the first revision and
lose the whole database. Each is tried in a savepoint of a transaction that is rolled back; one
that fails is left out of the plan with a finding naming the table, the column and Postgres' words.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from cutover.schema.mapping import SchemaPlan
from cutover.schema.model import Finding


def _refused(conn: psycopg.Connection[Any], query: sql.Composed) -> str | None:
    """Postgres' one-line message when it refuses `query`, else None (nothing is kept)."""
    try:
        with conn.transaction():  # a savepoint inside the probe's transaction
            conn.execute(query)
    except psycopg.OperationalError:
        raise  # a lost connection is not a verdict on the SQL
    except psycopg.DatabaseError as exc:
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    return None


def check_defaults(conn: psycopg.Connection[Any], plan: SchemaPlan) -> list[Finding]:
    """Drop every translated default the target refuses for its column type; say which and why."""
    findings: list[Finding] = []
    if plan.mode != "create":
        return findings
    with conn.transaction(force_rollback=True):
        for tp in plan.tables:
            for col in tp.columns:
                if col.default is None:
                    continue
                # default: translated by sqltext (literals and a short list of functions)
                query = sql.SQL("SELECT CAST(({}) AS {})").format(
                    sql.SQL(col.default), sql.SQL(col.pg_type)
                )
                why = _refused(conn, query)
                if why is None:
                    continue
                findings.append(
                    Finding(
                        "warning",
                        "default_untranslated",
                        f"{tp.source.name}.{col.source}: default {col.default} is not a valid "
                        f"{col.pg_type} in Postgres ({why}); the column gets no default",
                        table=tp.source.name,
                        column=col.source,
                        fix="add a default Postgres accepts in the first revision if the app "
                        "relies on it",
                        subject=f"default:{col.source}",
                    )
                )
                col.default = None
    return findings
