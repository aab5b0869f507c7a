"""`cutover plan`: what moves, how each column is cast, what will break, and how long phase 2 takes.

Nothing is loaded. The source is reflected and profiled (one scan per table, as phase 2 does), a
few values are sampled, and the first rows of every table are read, coerced, digested and copied
into a temporary table in a transaction that is rolled back, to measure throughput. The env files
are only diffed. The result is plain data (`to_dict`), validated by `schemas/plan.schema.json`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg

from cutover import urls
from cutover.appcode import TargetSchema
from cutover.config import Config, DatabaseConfig
from cutover.errors import CutoverError, SchemaMismatchError
from cutover.load import schema_probe
from cutover.load import target as tgt
from cutover.load.preflight import check_target
from cutover.phases import reject_estimate
from cutover.phases.app_code import code_findings, scan_code, target_schema
from cutover.phases.checklists import now
from cutover.phases.db_objects import dialect_of, fit_objects
from cutover.phases.plan_estimate import ColumnRow, TableRow, estimate
from cutover.phases.plan_model import (
    DatabasePlan,
    EnvChange,
    EnvPlan,
    Plan,
    SourceCheck,
    TargetCheck,
)
from cutover.phases.plan_probe import lossy_findings, timezone_findings
from cutover.phases.plan_target import target_findings
from cutover.schema.mapping import map_schema
from cutover.schema.model import Finding
from cutover.schema.target_plan import TablePlan
from cutover.sources import open_source
from cutover.sources.base import Source

PLAN_FILE = "plan.json"


def schema() -> dict[str, Any]:
    """The JSON schema `to_dict` follows (shipped as cutover/schemas/plan.schema.json)."""
    from importlib import resources

    return dict(
        json.loads(
            resources.files("cutover")
            .joinpath("schemas", "plan.schema.json")
            .read_text(encoding="utf-8")
        )
    )


def assess(config: Config, workdir: Path, *, database: str | None = None) -> Plan:
    """Assess every selected database and the env files; loads nothing."""
    schemas: dict[str, TargetSchema] = {}
    dbs = [assess_database(config, db, schemas) for db in config.database(database)]
    plan = Plan(now(), str(config.path), dbs, assess_env(config, workdir, database))
    plan.code = [entry.item() for entry in scan_code(config, schemas)]
    plan.env.findings += code_findings(config)
    return plan


def save(plan: Plan, workdir: Path) -> Path:
    """Keep the plan as JSON under the workdir (the final report includes it)."""
    from cutover.envfiles.backup import write_atomic

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / PLAN_FILE
    write_atomic(path, (plan.to_json() + "\n").encode("utf-8"))
    return path


def assess_database(
    config: Config, db: DatabaseConfig, schemas: dict[str, TargetSchema] | None = None
) -> DatabasePlan:
    """Source, target, per-table and per-column plan, findings and estimate of one database.

    `schemas` collects the planned target schema under the database's name (for the app's SQL).
    """
    from cutover.phases.plan_checks import extra_findings, no_tables

    settings = config.settings
    result = DatabasePlan(
        db.name,
        db.env_key,
        db.schema_mode,
        db.target_schema,
        SourceCheck(urls.redact(db.source), _kind(db.source)),
        TargetCheck(urls.redact(db.target)),
    )
    conn, info = _probe_target(db, result)
    source = _open_source(config, db, result)
    try:
        if source is None:
            return result
        catalog = (
            tgt.catalog(conn, db.target_schema)
            if conn is not None and db.schema_mode == "existing"
            else None
        )
        started = time.monotonic()
        try:
            splan = map_schema(source, db, settings, catalog)
        except SchemaMismatchError as exc:
            result.findings.append(
                Finding(
                    "blocker",
                    "schema_mismatch",
                    exc.message,
                    table=exc.context.get("table"),
                    column=exc.context.get("column"),
                    fix=exc.hint,
                )
            )
            return result
        except CutoverError as exc:
            result.findings.append(
                Finding("blocker", "source_unreadable", urls.redact(exc.message), fix=exc.hint)
            )
            return result
        profile_seconds = time.monotonic() - started
        if schemas is not None:
            schemas[db.name] = target_schema(splan)
        fit_objects(splan, dialect_of(db.source))
        if conn is not None:
            splan.findings += schema_probe.check_defaults(conn, splan)
            splan.findings += schema_probe.check_generated(conn, splan)
        result.findings += splan.findings + extra_findings(
            source, splan, settings, snake=db.snake_case
        )
        result.findings += no_tables(splan, urls.redact(db.source), db.tables)
        target_findings(db, splan, conn, info, result)
        result.findings += timezone_findings(splan, settings)
        result.findings += lossy_findings(source, splan, settings)
        result.tables = [_table_row(tp) for tp in splan.tables]
        rejects = reject_estimate.estimate(source, splan, settings, result.findings)
        result.findings += reject_estimate.findings(rejects, splan)
        for row in result.tables:
            row.rejects = rejects.get(row.source)
        result.estimate = estimate(source, conn, splan, settings, result.tables, profile_seconds)
        return result
    finally:
        if source is not None:
            source.close()
        if conn is not None:
            conn.close()


def _kind(url: str) -> str:
    try:
        return urls.parse(url).kind
    except CutoverError:
        return "unknown"


def _open_source(config: Config, db: DatabaseConfig, result: DatabasePlan) -> Source | None:
    try:
        source = open_source(db.source, config.base_dir)
        info = source.describe()
    except CutoverError as exc:
        result.source.error = urls.redact(exc.message)
        result.findings.append(
            Finding(
                "blocker",
                "source_unreadable",
                f"the source cannot be read: {result.source.error}",
                fix=exc.hint or "check the source URL in cutover.toml",
            )
        )
        return None
    result.source.readable, result.source.kind, result.source.version = (
        True,
        info.kind,
        info.version,
    )
    result.source.size_bytes, result.source.notes = info.size_bytes, list(info.notes)
    return source


def _probe_target(
    db: DatabaseConfig, result: DatabasePlan
) -> tuple[psycopg.Connection[Any] | None, tgt.ServerInfo | None]:
    """Phase 2's preflight, as findings; a connection to look further when the database exists."""
    found = check_target(db.target, db.target_schema)
    check, info = result.target, found.info
    check.database, check.database_exists, check.error = (
        found.database,
        found.database_exists,
        found.error,
    )
    result.findings.extend(
        Finding(p.severity, p.code, p.message, fix=p.hint) for p in found.problems
    )
    if info is None:
        return None, None
    check.reachable, check.version, check.user, check.can_create = (
        True,
        info.version,
        info.user,
        info.can_create,
    )
    check.vector_available, check.vector_installed = info.vector_available, info.vector_installed
    check.vector_hint = (
        None
        if (info.vector_available or info.vector_installed)
        else tgt.vector_install_hint(info.version_num)
    )
    if not found.database_exists:
        return None, info
    conn = tgt.connect(db.target, autocommit=True)
    check.existing_tables = sorted(tgt.existing_tables(conn, db.target_schema))
    return conn, info


def _table_row(tp: TablePlan) -> TableRow:
    columns = [
        ColumnRow(
            c.source,
            tp.source.column(c.source).declared_type,
            c.name,
            c.pg_type,
            c.nullable,
            c.coercion,
            c.reason,
            c.why,
        )
        for c in tp.columns
    ]
    return TableRow(tp.source.name, tp.name, tp.rows, list(tp.primary_key), columns)


# -- the env files ---------------------------------------------------------------------------------


def assess_env(config: Config, workdir: Path, database: str | None) -> EnvPlan:
    """What phase 1 would rewrite, what it leaves
    pointing at SQLite/SQL Server, and code leftovers.
    """
    from cutover.envfiles.api import env_rewrite, env_scan

    result = EnvPlan(str(config.base_dir))
    try:
        rewrite = env_rewrite(config, workdir=workdir, apply=False, database=database)
        scan = env_scan(config.base_dir, workdir=workdir)
    except CutoverError as exc:
        result.findings.append(
            Finding(
                "warning",
                "env_unreadable",
                f"the env files could not be read: {urls.redact(exc.message)}",
                fix=exc.hint,
            )
        )
        return result
    result.files = len(scan.files)
    result.notes = [urls.redact(n) for n in rewrite.notes]
    result.changes = [
        EnvChange(c.path, f.kind, c.line, c.key, c.database, c.before, c.after)
        for f in rewrite.files
        for c in f.changes
    ]
    env_paths = {f.path for f in scan.files}
    changed = {(c.path, c.line) for c in result.changes}
    if database is None:
        for ref in scan.references:
            if ref.kind in urls.SOURCE_KINDS and (ref.path, ref.line) not in changed:
                result.findings.append(
                    Finding(
                        "warning",
                        "env_unconfigured",
                        f"{ref.path}:{ref.line} {ref.key or '(inline)'} points at {ref.kind} "
                        f"({ref.value}) and no database in cutover.toml covers it; phase 3 "
                        "fails while it remains",
                        fix="add it: cutover init --name NAME --env-key KEY --source URL "
                        "--target URL (or edit the file by hand)",
                    )
                )
    for left in scan.leftovers:
        line = f"{left.path}:{left.line} {left.label}: {left.text}"
        if left.path in env_paths:
            result.findings.append(
                Finding(
                    "warning",
                    "env_leftover",
                    f"{line} — phase 1 does not edit this, and phase 3 fails while it remains",
                    fix="edit it by hand (a tool or variable for SQLite/SQL Server)",
                )
            )
        else:
            result.code_leftovers.append(line)
    if result.code_leftovers:
        result.findings.append(
            Finding(
                "info",
                "code_leftovers",
                f"{len(result.code_leftovers)} SQLite/SQL Server reference(s) in code and docs; "
                "phase 3 lists them for review",
                count=len(result.code_leftovers),
                fix="`cutover env scan` lists them",
            )
        )
    return result
