"""Rolled-back probes of translated SQL on the target, before any revision is written.

A default or a generated expression translated from the source can still be one Postgres refuses
(`'0000-01-01'::timestamp`, `'abc'::integer`): one such value would fail the first revision and
lose the whole database. Each is tried in a savepoint of a transaction that is rolled back; one
that fails is left out of the plan with a finding naming the table, the column and Postgres' words.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from cutover.schema.generated import plain_column_finding
from cutover.schema.model import Finding
from cutover.schema.target_plan import SchemaPlan


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


GENERATED_PROBE_TABLE = (
    "_cutover_generated_probe"  # the temporary table each expression is tried on
)


def check_generated(conn: psycopg.Connection[Any], plan: SchemaPlan) -> list[Finding]:
    """Carry as plain columns the generated expressions the target refuses; say which and why."""
    findings: list[Finding] = []
    if plan.mode != "create":
        return findings
    with conn.transaction(force_rollback=True):
        for tp in plan.tables:
            # vectors are left out: the probe must not depend on pgvector being installed yet
            inputs = [c for c in tp.columns if c.generated is None and c.family != "vector"]
            for n, col in enumerate([c for c in tp.columns if c.generated is not None]):
                # generated: translated by sqltext (quoted identifiers, a short list of functions)
                create = "CREATE TEMP TABLE {} ({}, {} {} GENERATED ALWAYS AS ({}) STORED)"
                query = sql.SQL(create).format(
                    sql.Identifier(f"{GENERATED_PROBE_TABLE}_{n}"),  # one each: all are kept
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type))
                        for c in inputs
                    ),
                    sql.Identifier(col.name),
                    sql.SQL(col.pg_type),
                    sql.SQL(col.generated or ""),
                )
                why = _refused(conn, query)
                if why is None:
                    continue
                expression = tp.source.column(col.source).generated_expression or ""
                findings.append(
                    plain_column_finding(
                        tp.source.name, col, expression, f"Postgres refuses it ({why})"
                    )
                )
                col.generated = None
    return findings
