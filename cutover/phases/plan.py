"""`cutover plan`: what moves, how each column is cast, what will break, and how long phase 2 takes.

Nothing is loaded. The source is reflected and profiled (one scan per table, as phase 2 does), a
few values are sampled, and the first rows of every table are read, coerced, digested and copied
into a temporary table in a transaction that is rolled back, to measure throughput. The env files
are only diffed. The result is plain data (`to_dict`), validated by `schemas/plan.schema.json`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cutover import urls
from cutover.appcode import CodeItem, TargetSchema
from cutover.config import Config, DatabaseConfig
from cutover.errors import CutoverError, SchemaMismatchError
from cutover.load import schema_probe
from cutover.load import target as tgt
from cutover.load.preflight import check_target
from cutover.phases.app_code import code_findings, scan_code, target_schema
from cutover.phases.checklists import now
from cutover.phases.db_objects import dialect_of, fit_objects
from cutover.phases.plan_estimate import ColumnRow, Estimate, TableRow, estimate
from cutover.phases.plan_probe import scale_findings, timezone_findings
from cutover.schema.mapping import SchemaPlan, TablePlan, map_schema
from cutover.schema.model import SEVERITIES, Finding
from cutover.sources import open_source
from cutover.sources.base import Source

PLAN_FILE = "plan.json"
PLAN_FORMAT_VERSION = 1  # of plan --format json (schemas/plan.schema.json); bumped when a field is removed or changes meaning


@dataclass
class SourceCheck:
    """The source database: kind, version, size, and whether it could be read."""

    url: str
    kind: str
    readable: bool = False
    version: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class TargetCheck:
    """The target server: reachable, version, privileges, pgvector, tables already there."""

    url: str
    reachable: bool = False
    error: str | None = None
    version: str | None = None
    database: str | None = None
    database_exists: bool = True
    user: str | None = None
    can_create: bool | None = None
    vector_available: str | None = None
    vector_installed: str | None = None
    vector_needed: bool = False
    vector_hint: str | None = None
    existing_tables: list[str] = field(default_factory=list)


@dataclass
class DatabasePlan:
    """Everything the plan found for one database."""

    name: str
    env_key: str
    mode: str
    target_schema: str
    source: SourceCheck
    target: TargetCheck
    tables: list[TableRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    estimate: Estimate | None = None


@dataclass
class EnvChange:
    """One env value phase 1 would rewrite (both sides redacted)."""

    path: str
    kind: str
    line: int
    key: str | None
    database: str
    before: str
    after: str


@dataclass
class EnvPlan:
    """The env files, compose files and scripts, and the rewrite each would get."""

    root: str
    files: int = 0
    changes: list[EnvChange] = field(default_factory=list)
    code_leftovers: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The assessment of a whole cutover."""

    generated_at: str
    config: str
    databases: list[DatabasePlan]
    env: EnvPlan
    code: list[CodeItem] = field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return [f for db in self.databases for f in db.findings] + self.env.findings

    @property
    def counts(self) -> dict[str, int]:
        found = self.all_findings()
        return {s: sum(f.severity == s for f in found) for s in SEVERITIES}

    @property
    def ok(self) -> bool:
        """No blocker."""
        return self.counts["blocker"] == 0

    @property
    def next_step(self) -> str:
        if not self.ok:
            return "fix the blockers above, then run `cutover plan` again"
        return "`cutover run --phase 1` rewrites the env files to PostgreSQL (it shows the diff and asks first)"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (schemas/plan.schema.json)."""
        data = {"version": PLAN_FORMAT_VERSION, **asdict(self)}
        for db, raw in zip(self.databases, data["databases"]):
            if db.estimate is not None:
                raw["estimate"]["total_seconds"] = round(db.estimate.total_seconds, 3)
        data.update(ok=self.ok, summary=self.counts, next=self.next_step)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


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
        result.findings += splan.findings + extra_findings(
            source, splan, settings, snake=db.snake_case
        )
        result.findings += no_tables(splan, urls.redact(db.source), db.tables)
        _target_findings(db, splan, conn, info, result)
        result.findings += timezone_findings(splan, settings)
        result.findings += scale_findings(source, splan, settings)
        result.tables = [_table_row(tp) for tp in splan.tables]
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


def _target_findings(
    db: DatabaseConfig,
    splan: SchemaPlan,
    conn: psycopg.Connection[Any] | None,
    info: tgt.ServerInfo | None,
    result: DatabasePlan,
) -> None:
    """pgvector for vector columns; tables already in the target that phase 2 would replace or empty."""
    from cutover.load.run import refuse_missing_vector
    from cutover.schema.typemap import pg_base

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
                    f"{len(present)} target table(s) already hold rows and would be emptied (TRUNCATE) by phase 2: {_first(present)}",
                    count=len(present),
                    fix="`cutover run --phase 2 --yes` empties them; or point the target at a fresh database",
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
                f"{len(present)} table(s) in the target were loaded by cutover on {loaded_at}; phase 2 replaces them only with --yes",
                count=len(present),
                fix="`cutover run --phase 2 --yes` reloads them",
            )
        )
    else:
        result.findings.append(
            Finding(
                "warning",
                "existing_tables",
                f"{len(present)} table(s) already exist in the target and would be dropped and replaced: {_first(present)}",
                count=len(present),
                fix="`cutover run --phase 2 --yes` replaces them; or point the target at an empty database",
            )
        )


def _loaded_before(conn: psycopg.Connection[Any], database: str) -> str | None:
    """When cutover's own phase 2 last loaded this database into the target (from its manifest)."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{tgt.STATE_SCHEMA}.manifest",)).fetchone()
    if not row or row[0] is None:
        return None
    found = conn.execute(
        sql.SQL(
            "SELECT to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI UTC') FROM {}.manifest WHERE database = %s"
        ).format(sql.Identifier(tgt.STATE_SCHEMA)),
        (database,),
    ).fetchone()
    return str(found[0]) if found else None


def _first(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (" …" if len(names) > n else "")


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
    """What phase 1 would rewrite, what it leaves pointing at SQLite/SQL Server, and code leftovers."""
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
                        f"{ref.path}:{ref.line} {ref.key or '(inline)'} points at {ref.kind} ({ref.value}) and no database in cutover.toml covers it; phase 3 fails while it remains",
                        fix="add it: cutover init --name NAME --env-key KEY --source URL --target URL (or edit the file by hand)",
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
                f"{len(result.code_leftovers)} SQLite/SQL Server reference(s) in code and docs; phase 3 lists them for review",
                count=len(result.code_leftovers),
                fix="`cutover env scan` lists them",
            )
        )
    return result
