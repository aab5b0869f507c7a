"""One plain function per subcommand: the Python API, and what the CLI and tests call."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cutover import config as config_mod
from cutover import demo as demo_mod
from cutover import urls
from cutover.embedded import EmbeddedPostgres
from cutover.envfiles.api import env_restore, env_rewrite, env_scan, env_template
from cutover.errors import ConfigError, UsageError
from cutover.load import run as load_run
from cutover.load.pipeline import Reporter
from cutover.load.run import LoadReport, Phase2Result
from cutover.phases import evidence, final_report
from cutover.phases import plan as plan_mod
from cutover.phases import status as status_mod
from cutover.phases.checklists import State
from cutover.phases.code_diff import CodeDiff
from cutover.phases.code_diff import code_diff as _code_diff
from cutover.phases.db_objects import (
    attach_views,
    excuse_rejects,
    objects_hook,
    prove_views,
    with_views,
)
from cutover.phases.plan import Plan
from cutover.phases.run import run_phase
from cutover.phases.status import CheckResult, StatusResult
from cutover.proof import finish as finish_mod
from cutover.proof import verify as verify_mod
from cutover.proof.finish import FinishResult
from cutover.proof.verify import VerifyResult

__all__ = [  # the Python API: one function per subcommand, and what they return
    "init",
    "init_from_scan",
    "plan",
    "code_diff",
    "run_phase",
    "run_phase2",
    "verify",
    "finish",
    "check",
    "status",
    "report",
    "demo",
    "demo_stop",
    "env_scan",
    "env_rewrite",
    "env_restore",
    "env_template",
    "InitResult",
    "ScanInitResult",
    "LoadReport",
    "Phase2Result",
    "FinishResult",
    "DemoResult",
]


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
    if src.kind not in urls.SOURCE_KINDS:
        raise UsageError(
            f"the source must be SQLite or SQL Server, not {src.kind}: {urls.redact(source)}"
        )
    if tgt.kind != "postgres":
        raise UsageError(f"the target must be PostgreSQL, not {tgt.kind}: {urls.redact(target)}")
    db_name = name or _default_name(src)
    db = config_mod.DatabaseConfig(
        name=db_name,
        env_key=env_key or "DATABASE_URL",
        source=source,
        target=target,
        snake_case=snake_case,
    )
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
    found = env_scan(root)
    if not found.proposals:
        raise UsageError(
            "no SQLite or SQL Server database URL found in env files, compose files or scripts "
            f"under {root}",
            hint="pass --source URL --target URL, or `cutover env scan` to see what was found",
        )
    added, skipped = [], []
    for p in found.proposals:
        db = config_mod.DatabaseConfig(
            name=p.name,
            env_key=p.env_key,
            source=p.source,
            target=p.target,
            split_keys=dict(p.split_keys),
        )
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
    cleaned = (
        "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in stem).strip("_-") or "main"
    )
    return cleaned if cleaned[0].isalpha() else f"db_{cleaned}"


# -- phase 2: schema and data ------------------------------------------------------------------


def run_phase2(
    config: config_mod.Config,
    workdir: Path,
    *,
    database: str | None = None,
    yes: bool = False,
    on_error: str | None = None,
    reporter: Reporter | None = None,
    jobs: int | None = None,
    restart: bool = False,
) -> Phase2Result:
    """Schema (revision 1), data (resumable chunks over
    `jobs` workers), keys (revision 2), views (3).
    """
    return load_run.run_phase2(
        config,
        workdir,
        database=database,
        yes=yes,
        on_error=on_error,
        reporter=reporter,
        jobs=jobs,
        restart=restart,
        objects=objects_hook(config),
    )


def code_diff(
    config: config_mod.Config, workdir: Path, *, apply: bool = False, database: str | None = None
) -> CodeDiff:
    """The app's SQL replaced by its rewrites proven on the loaded data: a patch, or applied."""
    return _code_diff(config, workdir, apply=apply, database=database)


# -- phase 3: verification ---------------------------------------------------------------------


def verify(
    config: config_mod.Config,
    workdir: Path,
    *,
    database: str | None = None,
    table: str | None = None,
    digests: str = "auto",
) -> VerifyResult:
    """Parity of source and target: counts, digests, first differing rows, schema, views.

    digests: "auto" reads the source again when reachable, else uses the load's digests;
    "source" requires the source; "load" compares with the load's digests. Views are compared
    whenever the source is read (their rows are not digested by the load).
    """
    result = verify_mod.verify(config, workdir, database=database, table=table, digests=digests)
    if table is None and digests != "load":
        views = prove_views(config, with_views(config, database))
        rejected = {d.database: [t.table for t in d.tables if t.rejected] for d in result.databases}
        excuse_rejects(views, rejected)
        attach_views(result, views)
    return result


# -- the assessment, the phases and their checklists --------------------------------------------


def plan(config: config_mod.Config, workdir: Path, *, database: str | None = None) -> Plan:
    """Assess what moves, how each column is cast and what
    will break; loads nothing (exit 1 on a blocker).
    """
    result = plan_mod.assess(config, workdir, database=database)
    status_mod.record_plan(config, workdir, result)
    return result


def check(
    config: config_mod.Config,
    workdir: Path,
    item: str,
    *,
    note: str | None = None,
    force: bool = False,
    undo: bool = False,
) -> CheckResult:
    """Tick a checklist item that needs a person, with
    a note saying what was done (or --undo it).
    """
    return status_mod.check(config, workdir, item, note=note, force=force, undo=undo)


def status(config: config_mod.Config, workdir: Path) -> StatusResult:
    """The three checklists with progress, what is next, what failed and why."""
    return status_mod.status(config, workdir)


def report(config: config_mod.Config, workdir: Path) -> tuple[Path, Path]:
    """Write the final report again (Markdown and one HTML page) from what the runs saved and
    current evidence.
    """
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    if evidence.reconcile(config, workdir, state).changed:
        state.save()
    return final_report.write(config, workdir, state)


def finish(
    config: config_mod.Config,
    workdir: Path,
    *,
    database: str | None = None,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
) -> FinishResult:
    """After a passing verify: export the proof to the report folder, then remove `_cutover`.

    The schema is removed when `yes` is true or `confirm(question)` answers yes; otherwise the
    proof is exported and `_cutover` stays.
    """

    def ask(question: str) -> bool:
        return yes or (confirm is not None and confirm(question))

    return finish_mod.finish(
        config, workdir, workdir / final_report.REPORT_DIR, database=database, confirm=ask
    )


# -- demo -----------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What `cutover demo` built and loaded."""

    source_path: Path
    config_path: Path
    phase2: Phase2Result
    psql: str
    stop_hint: str


def demo(workdir: Path, *, reporter: Reporter | None = None, messages: int = 20_000) -> DemoResult:
    """Build a sample chat database, start the embedded Postgres, run phase 2 on it."""
    home = (workdir / "demo").resolve()
    home.mkdir(parents=True, exist_ok=True)
    db_path = home / "chat.db"
    demo_mod.build_chat_db(db_path, messages=messages, embedding_every=10)
    server = EmbeddedPostgres(home / "postgres")
    server.start()
    target = server.url("chat")
    cfg_path = home / "cutover.toml"
    if cfg_path.exists():
        cfg_path.unlink()
    init(
        cfg_path, source="sqlite:///chat.db", target=target, name="chat", env_key="RSL_DATABASE_URL"
    )
    # the demo shows the Postgres-native schema the data allows (JSON text → jsonb, 0/1 → boolean)
    config_mod.set_setting(cfg_path, "infer_types", "apply")
    cfg = config_mod.load(cfg_path)
    result = run_phase2(cfg, home / ".cutover", yes=True, reporter=reporter)
    return DemoResult(
        db_path,
        cfg_path,
        result,
        server.psql_command("chat"),
        _demo_stop_command(workdir),
    )


def _demo_stop_command(workdir: Path) -> str:
    """The command that stops the demo; the console script may not be on PATH outside the
    virtualenv, this interpreter always is where it is."""
    folder = (
        "" if workdir == config_mod.DEFAULT_WORKDIR else f" --workdir {shlex.quote(str(workdir))}"
    )
    return f"{shlex.quote(sys.executable)} -m cutover{folder} demo --stop  (or: make demo-stop)"


def demo_stop(workdir: Path) -> bool:
    """Stop the demo's embedded Postgres; False when it was not running."""
    server = EmbeddedPostgres((workdir / "demo").resolve() / "postgres")
    if not server.is_running():
        return False
    server.stop()
    return True
