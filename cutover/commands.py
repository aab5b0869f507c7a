"""One plain function per subcommand: the Python API, and what the CLI and tests call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cutover import config as config_mod
from cutover import urls
from cutover.errors import UsageError


@dataclass
class InitResult:
    """What `cutover init` wrote."""

    path: Path
    database: config_mod.DatabaseConfig
    created: bool


def init(
    config_path: Path,
    *,
    source: str,
    target: str,
    name: str | None = None,
    env_key: str | None = None,
    replace: bool = False,
    snake_case: bool = False,
) -> InitResult:
    """Write (or extend) cutover.toml with one database."""
    src = urls.parse(source)
    tgt = urls.parse(target)
    if src.kind not in ("sqlite", "mssql"):
        raise UsageError(f"the source must be SQLite or SQL Server, not {src.kind}: {urls.redact(source)}")
    if tgt.kind != "postgres":
        raise UsageError(f"the target must be PostgreSQL, not {tgt.kind}: {urls.redact(target)}")
    db_name = name or _default_name(src)
    db = config_mod.DatabaseConfig(name=db_name, env_key=env_key or "DATABASE_URL", source=source, target=target, snake_case=snake_case)
    created = not config_path.exists()
    config_mod.add_database(config_path, db, replace=replace)
    return InitResult(config_path, db, created)


@dataclass
class ScanInitResult:
    """What `cutover init` took from a scan of the project."""

    path: Path
    added: list[config_mod.DatabaseConfig]
    skipped: list[str]
    notes: list[str]


def init_from_scan(config_path: Path, root: Path, *, replace: bool = False) -> ScanInitResult:
    """Write cutover.toml with one database per SQLite/SQL Server URL the env scan finds."""
    from cutover.envfiles.api import env_scan
    from cutover.errors import ConfigError

    found = env_scan(root)
    if not found.proposals:
        raise UsageError(
            f"no SQLite or SQL Server database URL found in env files, compose files or scripts under {root}",
            hint="pass --source URL --target URL, or `cutover env scan` to see what was found",
        )
    added, skipped = [], []
    for p in found.proposals:
        db = config_mod.DatabaseConfig(name=p.name, env_key=p.env_key, source=p.source, target=p.target, split_keys=dict(p.split_keys))
        try:
            config_mod.add_database(config_path, db, replace=replace)
            added.append(db)
        except ConfigError:
            skipped.append(p.name)
    return ScanInitResult(config_path, added, skipped, list(found.notes))


def _default_name(src: urls.DbUrl) -> str:
    if src.kind == "sqlite" and src.database:
        stem = Path(src.database).stem
    else:
        stem = src.database or "main"
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in stem).strip("_-") or "main"
    return cleaned if cleaned[0].isalpha() else f"db_{cleaned}"


# -- phase 2: schema and data ------------------------------------------------------------------

@dataclass
class LoadReport:
    """What phase 2 did to one database."""

    database: str
    target: str
    plan: "SchemaPlan"
    results: list["TableResult"]
    notes: list[str]
    revisions_dir: Path | None
    kept_edits: list[Path]
    seconds: float
    rejects_dir: Path

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.results)


@dataclass
class Phase2Result:
    """Phase 2 over every selected database."""

    reports: list[LoadReport]

    @property
    def rejected(self) -> int:
        return sum(r.rejected for r in self.reports)


def run_phase2(
    config: config_mod.Config,
    workdir: Path,
    *,
    database: str | None = None,
    yes: bool = False,
    on_error: str | None = None,
    reporter: "Reporter | None" = None,
) -> Phase2Result:
    """Schema (Alembic revision 1), data (streaming COPY), then keys and indexes (revision 2)."""
    from dataclasses import replace

    settings = config.settings if on_error is None else replace(config.settings, on_error=on_error)
    reports = []
    for db in config.database(database):
        reports.append(_phase2_one(config, db, settings, workdir, yes, reporter))
    return Phase2Result(reports)


def _phase2_one(config: config_mod.Config, db: config_mod.DatabaseConfig, settings: config_mod.Settings, workdir: Path, yes: bool, reporter: "Reporter | None") -> LoadReport:
    import time

    from cutover import migrations, pipeline
    from cutover import target as tgt
    from cutover.mapping import map_schema, tables_in_load_order
    from cutover.sources import open_source

    started = time.monotonic()
    reporter = reporter or pipeline.NullReporter()
    source = open_source(db.source, config.base_dir)
    conn = tgt.connect(db.target, autocommit=True, create=True)
    try:
        info = tgt.server_info(conn, db.target_schema)
        if not info.can_create:
            from cutover.errors import TargetError

            raise TargetError(
                f"user {info.user} cannot create tables in database {info.database}",
                database=db.name,
                hint=f"GRANT CREATE ON DATABASE {info.database} TO {info.user}; GRANT CREATE ON SCHEMA {db.target_schema} TO {info.user}",
            )
        catalog = tgt.catalog(conn, db.target_schema) if db.schema_mode == "existing" else None
        reporter.message(f"{db.name}: reading the source schema and profiling its data")
        plan = map_schema(source, db, settings, catalog)
        _refuse_missing_vector(plan, info, db.name)
        order = tables_in_load_order(plan)
        names = [t.name for t in plan.tables]
        rejects_dir = workdir / "rejects" / db.name
        revisions = None
        if plan.mode == "create":
            present = sorted(tgt.existing_tables(conn, db.target_schema) & set(names))
            if present and not yes:
                raise UsageError(
                    f"{len(present)} table(s) already exist in the target: {', '.join(present[:5])}{' …' if len(present) > 5 else ''}",
                    database=db.name,
                    hint="pass --yes to drop and replace them",
                )
            with conn.transaction():
                tgt.drop_tables(conn, db.target_schema, present)
            directory = config.base_dir / settings.alembic_dir / db.name
            revisions = migrations.write(plan, directory, version_table=settings.version_table, env_key=db.env_key, not_valid_fks=settings.orphans == "keep")
            migrations.stamp_base(revisions, db.target, db.target_schema, settings.version_table)
            reporter.message(f"{db.name}: alembic upgrade {revisions.tables_rev} (tables)")
            migrations.upgrade(revisions, db.target, revisions.tables_rev, db.target_schema, settings.version_table)
        else:
            nonempty = [n for n in names if tgt.row_count(conn, db.target_schema, n)]
            if nonempty and not yes:
                raise UsageError(f"target tables already hold rows: {', '.join(nonempty[:5])}", database=db.name, hint="pass --yes to empty them (TRUNCATE) before the load")
            with conn.transaction():
                tgt.truncate_tables(conn, db.target_schema, nonempty)
        snapshot = getattr(source, "snapshot", None)
        fingerprint = source.fingerprint()
        with (snapshot() if snapshot else _nullcontext()):
            results = pipeline.load_tables(source, conn, plan, order, settings, rejects_dir, reporter, fingerprint)
        notes: list[str] = []
        if revisions is not None:
            notes = pipeline.enforce_keys(conn, plan, settings, rejects_dir, results)
            reporter.message(f"{db.name}: alembic upgrade {revisions.keys_rev} (indexes, unique and foreign keys)")
            migrations.upgrade(revisions, db.target, revisions.keys_rev, db.target_schema, settings.version_table)
        pipeline.finish_tables(conn, plan, results)
        pipeline.save_manifest(conn, plan.manifest(source_fingerprint=fingerprint, naive_timezone=settings.naive_timezone))
        for r in results.values():
            reporter.table_done(r)
        ordered = [results[t.name] for t in plan.tables]
        return LoadReport(db.name, urls.redact(db.target), plan, ordered, notes, revisions.directory if revisions else None, revisions.kept_edits if revisions else [], time.monotonic() - started, rejects_dir)
    finally:
        conn.close()
        source.close()


def _refuse_missing_vector(plan: "SchemaPlan", info: "ServerInfo", database: str) -> None:
    from cutover import target as tgt
    from cutover.errors import TargetError
    from cutover.typemap import pg_base

    vector_cols = [f"{t.source.name}.{c.source}" for t in plan.tables for c in t.columns if pg_base(c.pg_type) in ("vector", "halfvec", "sparsevec")]
    if vector_cols and not (info.vector_available or info.vector_installed):
        raise TargetError(
            f"the target has no pgvector extension, needed for {', '.join(vector_cols[:5])}; nothing was loaded",
            database=database,
            hint=tgt.vector_install_hint(info.version_num) + "; or keep the columns as text/bytea with a type override in cutover.toml",
        )


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- phase 3: verification ---------------------------------------------------------------------

def verify(config: config_mod.Config, workdir: Path, *, database: str | None = None, table: str | None = None) -> "VerifyResult":
    """Parity of source and target: counts, digests, first differing rows, schema."""
    from cutover.verify import verify as run_verify

    return run_verify(config, workdir, database=database, table=table)


# -- the assessment, the phases and their checklists --------------------------------------------

def plan(config: config_mod.Config, workdir: Path, *, database: str | None = None) -> "Plan":
    """Assess what moves, how each column is cast and what will break; loads nothing (exit 1 on a blocker)."""
    from cutover import plan as plan_mod
    from cutover.status import record_plan

    result = plan_mod.assess(config, workdir, database=database)
    record_plan(config, workdir, result)
    return result


def check(config: config_mod.Config, workdir: Path, item: str, *, note: str | None = None, force: bool = False, undo: bool = False) -> "CheckResult":
    """Tick a checklist item that needs a person, with a note saying what was done (or --undo it)."""
    from cutover.status import check as check_item

    return check_item(config, workdir, item, note=note, force=force, undo=undo)


def status(config: config_mod.Config, workdir: Path) -> "StatusResult":
    """The three checklists with progress, what is next, what failed and why."""
    from cutover.status import status as read_status

    return read_status(config, workdir)


def report(config: config_mod.Config, workdir: Path) -> tuple[Path, Path]:
    """Write the final report again (Markdown and one HTML page) from what the runs saved."""
    from cutover import final_report
    from cutover.checklists import State
    from cutover.status import next_step

    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    return final_report.write(config, workdir, state, next_step(state))


# -- demo -----------------------------------------------------------------------------------------

@dataclass
class DemoResult:
    """What `cutover demo` built and loaded."""

    source_path: Path
    config_path: Path
    phase2: Phase2Result
    psql: str
    stop_hint: str


def demo(workdir: Path, *, reporter: "Reporter | None" = None, messages: int = 20_000) -> DemoResult:
    """Build a sample chat database, start the embedded Postgres, run phase 2 on it."""
    from cutover import demo as demo_mod
    from cutover.embedded import EmbeddedPostgres

    home = (workdir / "demo").resolve()
    home.mkdir(parents=True, exist_ok=True)
    db_path = home / "chat.db"
    demo_mod.build_chat_db(db_path, messages=messages)
    server = EmbeddedPostgres(home / "postgres")
    server.start()
    target = server.url("chat")
    cfg_path = home / "cutover.toml"
    if cfg_path.exists():
        cfg_path.unlink()
    init(cfg_path, source="sqlite:///chat.db", target=target, name="chat", env_key="RSL_DATABASE_URL")
    # the demo shows the Postgres-native schema the data allows (JSON text → jsonb, 0/1 → boolean)
    config_mod.set_setting(cfg_path, "infer_types", "apply")
    cfg = config_mod.load(cfg_path)
    result = run_phase2(cfg, home / ".cutover", yes=True, reporter=reporter)
    return DemoResult(db_path, cfg_path, result, server.psql_command("chat"), f"cutover demo --stop  (or: {server.stop_command()})")


def demo_stop(workdir: Path) -> bool:
    """Stop the demo's embedded Postgres; False when it was not running."""
    from cutover.embedded import EmbeddedPostgres

    server = EmbeddedPostgres((workdir / "demo").resolve() / "postgres")
    if not server.is_running():
        return False
    server.stop()
    return True


if TYPE_CHECKING:  # pragma: no cover
    from cutover.plan import Plan
    from cutover.status import CheckResult, StatusResult
    from cutover.mapping import SchemaPlan
    from cutover.pipeline import Reporter, TableResult
    from cutover.target import ServerInfo
    from cutover.verify import VerifyResult
from cutover.envfiles.api import env_scan, env_rewrite, env_restore, env_template  # noqa: E402,F401
from cutover.phases import run_phase  # noqa: E402,F401  (phases 1, 2, 3 and 'all', gated, ticking the checklists)
