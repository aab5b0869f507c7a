"""Phase 2 per database: schema (revision 1), data
(resumable chunks), keys (revision 2), proof data.

A load records its manifest as incomplete before any row moves and complete only at the very
end; a run that finds an incomplete one resumes it, provided neither the source nor the plan
changed, chunk by chunk from the last committed batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cutover import urls
from cutover.config import Config, DatabaseConfig, Settings
from cutover.errors import SourceError, TargetError, UsageError
from cutover.load import keys_build, pipeline, scheduler, schema_probe, state
from cutover.load import target as tgt
from cutover.load.native import engine_in_use, load_jobs, load_threads
from cutover.load.pipeline import NullReporter, Reporter, TableResult
from cutover.load.preflight import check_target
from cutover.load.snapshot import consistent_source
from cutover.load.target import ServerInfo
from cutover.rows.digest import DIGEST_VERSION
from cutover.rows.path import Policies
from cutover.schema import migrations
from cutover.schema.mapping import map_schema
from cutover.schema.model import Finding
from cutover.schema.owner import Owner
from cutover.schema.rules import pg_base
from cutover.schema.target_plan import SchemaPlan
from cutover.sources import open_source

VIEW_SQL_SHOWN = 2000  # characters of a refused view's or trigger's SQL in its finding
# Views and triggers as DDL for revision 3, from a layer that can translate SQL (phases).
ObjectsHook = Callable[[SchemaPlan], migrations.Objects]

RUN_LOCK_APPLICATION = (
    "cutover run lock"  # how the connection holding the phase's lock shows in pg_stat_activity
)
# a chunk that finished can be undone by a crash of a server that commits asynchronously; load again
LOAD_ROUNDS = 3


@dataclass
class LoadReport:
    """What phase 2 did to one database."""

    database: str
    target: str  # redacted
    plan: SchemaPlan
    results: list[TableResult]
    notes: list[str]
    revisions_dir: Path | None
    kept_edits: list[Path]
    seconds: float
    rejects_dir: Path
    resumed: bool = False

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
    config: Config,
    workdir: Path,
    *,
    database: str | None = None,
    yes: bool = False,
    on_error: str | None = None,
    reporter: Reporter | None = None,
    jobs: int | None = None,
    restart: bool = False,
    objects: ObjectsHook | None = None,
) -> Phase2Result:
    """Schema (Alembic revision 1), data (resumable chunks
    over `jobs` workers), then keys (revision 2).

    `objects` turns the planned schema into views and triggers (revision 3, after the keys); it
    may replace the plan's view and trigger findings with its own before the manifest is made.
    """
    settings = config.settings if on_error is None else replace(config.settings, on_error=on_error)
    return Phase2Result(
        [
            run(
                config,
                db,
                settings,
                workdir,
                yes=yes,
                restart=restart,
                jobs=jobs,
                reporter=reporter or NullReporter(),
                objects=objects,
            )
            for db in config.database(database)
        ]
    )


def run(
    config: Config,
    db: DatabaseConfig,
    settings: Settings,
    workdir: Path,
    *,
    yes: bool,
    restart: bool,
    jobs: int | None,
    reporter: Reporter,
    objects: ObjectsHook | None = None,
) -> LoadReport:
    """Load one database, or resume its interrupted load."""
    started = time.monotonic()
    source = open_source(db.source, config.base_dir)  # a missing source file is the first error
    conn = lock = snap = None
    try:
        check_target(db.target, db.target_schema).refuse(db.name)  # nothing changes on a blocker
        conn = tgt.connect(db.target, autocommit=True, create=True)
        lock = state.RunLock.take(
            tgt.connect(db.target, autocommit=True, application_name=RUN_LOCK_APPLICATION),
            db.name,
        )
        snap = consistent_source(db.source, config.base_dir, workdir, db.name)
        if snap.note is not None:
            reporter.message(snap.note)
            source.close()
            source = open_source(snap.url, config.base_dir)
    except BaseException:
        source.close()
        if snap is not None:
            snap.remove()
        if lock is not None:
            lock.release()
        if conn is not None:
            conn.close()
        raise
    workers = scheduler.Workers.early(source.describe().size_bytes, load_jobs(settings, jobs))
    try:
        info = tgt.server_info(conn, db.target_schema)
        catalog = tgt.catalog(conn, db.target_schema) if db.schema_mode == "existing" else None
        reporter.message(f"{db.name}: reading the source schema and profiling its data")
        plan = map_schema(source, db, settings, catalog, load=True)
        extra = objects(plan) if objects is not None and plan.mode == "create" else None
        refuse_empty(plan, db)
        refuse_missing_vector(plan, info, db.name)
        plan.findings += schema_probe.check_defaults(conn, plan)
        plan.findings += schema_probe.check_generated(conn, plan)
        fingerprint = source.fingerprint()
        manifest = plan.manifest(
            source_fingerprint=fingerprint,
            naive_timezone=settings.naive_timezone,
            digest=DIGEST_VERSION if settings.digests == "load" else None,
        )
        manifest["policies"] = Policies.from_settings(settings).to_manifest()
        manifest["engine"] = engine_in_use(settings)
        state.ensure(conn)
        previous = state.read_manifest(conn, db.name)
        recorded = state.load_chunks(conn, db.name)
        conn.rollback()
        resume = previous is not None and not previous[1] and bool(recorded) and not restart
        revisions = None
        if plan.mode == "create":
            folder = revisions_folder(config, db)
            revisions = migrations.write(
                plan,
                folder,
                version_table=settings.version_table,
                env_key=db.env_key,
                not_valid_fks=settings.orphans == "keep",
                owner=revisions_owner(config, db),
            )
        if resume:
            assert previous is not None
            _check_resumable(previous[0], manifest, db.name)
            done = sum(c.rows_read for c in recorded)
            reporter.message(
                f"{db.name}: resuming the interrupted load ({done:,} rows already committed)"
            )
        else:
            ours = (
                {t["target"] for t in previous[0]["tables"]}
                if previous is not None and not previous[1]
                else set()
            )
            _start_fresh(conn, db, plan, manifest, revisions, settings, yes, ours, reporter)
            chunks = scheduler.plan_chunks(
                source, plan.tables, settings.chunk_rows, scheduler.table_bytes(source, plan.tables)
            )
            with conn.transaction():
                state.create_chunks(conn, db.name, chunks)
        rejects_dir = workdir / "rejects" / db.name
        ctx = scheduler.LoadContext(
            snap.url, config.base_dir, db.target, plan, settings, rejects_dir
        )
        snapshot = getattr(source, "snapshot", None)
        with snapshot() if snapshot is not None else nullcontext():
            for _round in range(LOAD_ROUNDS):
                scheduler.load(
                    ctx,
                    source,
                    conn,
                    reporter,
                    load_jobs(settings, jobs),
                    workers,
                    threads=load_threads(settings, jobs),
                )
                # the server may have restarted during the load (the chunks retried through it):
                # start afresh
                conn.close()
                conn = tgt.connect(db.target, autocommit=True)
                unfinished = [
                    c for c in state.load_chunks(conn, db.name) if not c.done and c.chunk >= 0
                ]
                conn.rollback()
                if not unfinished:
                    break
                reporter.message(
                    f"{db.name}: {len(unfinished)} chunk(s) lost their last commits in a server "
                    "crash; loading them again"
                )
            else:
                raise TargetError(
                    f"{len(unfinished)} chunk(s) are still unfinished after {LOAD_ROUNDS} rounds",
                    database=db.name,
                    hint="`cutover run --phase 2` resumes them",
                )
        if source.fingerprint() != fingerprint:
            raise SourceError(
                f"the source {urls.redact(db.source)} changed during the load, so the copy may "
                "mix two states of it",
                database=db.name,
                hint="stop the application's writers and run `cutover run --phase 2 --restart`",
            )
        notes: list[str] = []
        if revisions is not None:
            notes = pipeline.enforce_keys(conn, plan, settings, rejects_dir)
            reporter.message(
                f"{db.name}: alembic upgrade {revisions.keys_rev} (indexes, unique, check and "
                "foreign keys)"
            )
            for ddl, seconds in keys_build.upgrade_keys_parallel(
                revisions,
                db.target,
                db.target_schema,
                settings.version_table,
                scheduler.default_jobs() if jobs is None else jobs,
            ):
                if " USING hnsw " in ddl or " USING ivfflat " in ddl:
                    notes.append(f"vector index built in {seconds:.1f}s: {ddl}")
            if extra is not None:
                notes += _keep_creatable(conn, plan, extra)
            views_rev = migrations.write_views(revisions, plan.database, extra) if extra else None
            if views_rev is not None:
                reporter.message(f"{db.name}: alembic upgrade {views_rev} (views and triggers)")
                migrations.upgrade(
                    revisions, db.target, views_rev, db.target_schema, settings.version_table
                )
        results = pipeline.finish_tables(conn, plan, rejects_dir)
        state.save_manifest(conn, manifest, complete=True)
        for r in results.values():
            reporter.table_done(r)
        return LoadReport(
            db.name,
            urls.redact(db.target),
            plan,
            [results[t.name] for t in plan.tables],
            notes,
            revisions.directory if revisions else None,
            revisions.kept_edits if revisions else [],
            time.monotonic() - started,
            rejects_dir,
            resume,
        )
    finally:
        workers.close(wait=False)
        conn.close()
        source.close()
        snap.remove()
        lock.release()


def revisions_folder(config: Config, db: DatabaseConfig) -> Path:
    """Where a database's Alembic revisions live: <alembic_dir>/<database>/ beside cutover.toml."""
    return config.base_dir / config.settings.alembic_dir / db.name


def revisions_owner(config: Config, db: DatabaseConfig) -> Owner:
    """The owner record this config writes into its database's revisions folder."""
    return Owner.of(config.path, revisions_folder(config, db), db.name, urls.redact(db.source))


def _plan_of(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k != "source_fingerprint"}


def _check_resumable(old: dict[str, Any], new: dict[str, Any], database: str) -> None:
    if old["source_fingerprint"] != new["source_fingerprint"]:
        raise UsageError(
            "the source changed since the interrupted load, so resuming it would mix two states "
            "of the data",
            database=database,
            hint="`cutover run --phase 2 --restart` starts the load over",
        )
    if _plan_of(old) != _plan_of(new):
        raise UsageError(
            "cutover.toml or the source schema changed since the interrupted load, so the rows "
            "already loaded do not fit the new plan",
            database=database,
            hint="undo the change to resume, or `cutover run --phase 2 --restart` to start over",
        )


def _start_fresh(
    conn: Any,
    db: DatabaseConfig,
    plan: SchemaPlan,
    manifest: dict[str, Any],
    revisions: migrations.Revisions | None,
    settings: Settings,
    yes: bool,
    ours: set[str],
    reporter: Reporter,
) -> None:
    names = [t.name for t in plan.tables]
    if plan.mode == "create":
        present = sorted(tgt.existing_tables(conn, db.target_schema) & set(names))
        foreign = [
            t for t in present if t not in ours
        ]  # tables an interrupted load of ours did not create
        if foreign and not yes:
            raise UsageError(
                f"{len(foreign)} table(s) already exist in the target: "
                f"{', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''}",
                database=db.name,
                hint="pass --yes to drop and replace them",
            )
        state.forget(conn, db.name)
        state.save_manifest(conn, manifest, complete=False)
        with conn.transaction():
            tgt.drop_tables(conn, db.target_schema, present)
        assert revisions is not None
        tgt.create_schema(
            conn, db.target_schema
        )  # Alembic keeps its version table there, before revision 1 runs
        migrations.stamp_base(revisions, db.target, db.target_schema, settings.version_table)
        reporter.message(f"{db.name}: alembic upgrade {revisions.tables_rev} (tables)")
        migrations.upgrade(
            revisions, db.target, revisions.tables_rev, db.target_schema, settings.version_table
        )
        return
    nonempty = [n for n in names if tgt.row_count(conn, db.target_schema, n)]
    conn.rollback()
    if nonempty and not yes and not set(nonempty) <= ours:
        raise UsageError(
            f"target tables already hold rows: {', '.join(nonempty[:5])}",
            database=db.name,
            hint="pass --yes to empty them (TRUNCATE) before the load",
        )
    state.forget(conn, db.name)
    state.save_manifest(conn, manifest, complete=False)
    with conn.transaction():
        tgt.truncate_tables(conn, db.target_schema, nonempty)


def refuse_missing_vector(plan: SchemaPlan, info: ServerInfo, database: str) -> None:
    """Phase 2 moves no data when a vector column meets a server without pgvector."""
    vector_cols = [
        f"{t.source.name}.{c.source}"
        for t in plan.tables
        for c in t.columns
        if pg_base(c.pg_type) in ("vector", "halfvec", "sparsevec")
    ]
    if vector_cols and not (info.vector_available or info.vector_installed):
        raise TargetError(
            f"the target has no pgvector extension, needed for {', '.join(vector_cols[:5])}; "
            "nothing was loaded",
            database=database,
            hint=tgt.vector_install_hint(info.version_num)
            + "; or keep the columns as text/bytea with a type override in cutover.toml",
        )


def _keep_creatable(
    conn: psycopg.Connection[Any], plan: SchemaPlan, objects: migrations.Objects
) -> list[str]:
    """Try each view and trigger on the loaded target (rolled back); those Postgres refuses leave
    revision 3 and become `view_untranslated` / `trigger_untranslated` findings with the error."""
    refused: list[str] = []
    kept: list[migrations.ObjectSQL] = []
    with conn.transaction(force_rollback=True):
        conn.execute(
            sql.SQL("SET LOCAL search_path TO {}, public").format(
                sql.Identifier(plan.target_schema)
            )
        )
        for item in objects.items:
            try:
                with conn.transaction():
                    for statement in item.creates:
                        conn.execute(statement.encode())
            except psycopg.Error as exc:
                error = (exc.diag.message_primary or str(exc)).strip()
                refused.append(f"{item.kind} {item.name} is not created: PostgreSQL says {error}")
                plan.findings.append(
                    Finding(
                        "warning",
                        f"{item.kind}_untranslated",
                        f"{item.kind} {item.name} is not created: PostgreSQL refused its "
                        f"translation ({error}). Its SQL: "
                        + " ".join(item.source_sql.split())[:VIEW_SQL_SHOWN],
                        table=item.name,
                        fix="write it for Postgres in a revision after <db>_0003_views",
                        subject=f"{item.kind}:{item.name}",
                    )
                )
                continue
            kept.append(item)
    objects.items = kept
    return refused


def refuse_empty(plan: SchemaPlan, db: DatabaseConfig) -> None:
    """A source with no tables to move (0 bytes, only
    views, a wrong path) is an error, not a pass.
    """
    if plan.tables:
        return
    raise SourceError(
        f"the source {urls.redact(db.source)} holds no tables to move"
        + (f" (tables = {db.tables} in cutover.toml)" if db.tables else ""),
        database=db.name,
        hint="check the source URL names the app's database file; `cutover plan` shows what it "
        "found",
    )
