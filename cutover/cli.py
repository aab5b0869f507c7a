"""The command line: parse options, call one function in commands.py, render the result."""

from __future__ import annotations

import functools
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from cutover import __version__, commands, render
from cutover import config as config_mod
from cutover.envfiles.api import RewriteResult, refuse_unresolved
from cutover.errors import EXIT_CHECKS_FAILED, EXIT_RUNTIME, CutoverError, Terminated
from cutover.load.progress import ProgressReporter
from cutover.phases.run import PHASE_CHOICES, PhaseOutcome
from cutover.proof import report
from cutover.urls import redact


@dataclass
class Globals:
    """Options every command shares."""

    config_path: Path
    workdir: Path

    def load(self, *, lenient: bool = False) -> config_mod.Config:
        return config_mod.load(self.config_path, lenient=lenient)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=config_mod.DEFAULT_CONFIG,
    show_default=True,
    help="The cutover.toml to use.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Where runs keep state, rejects and reports.  [default: {config_mod.DEFAULT_WORKDIR} "
    "beside the config]",
)
@click.version_option(__version__, prog_name="cutover")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, workdir: Path | None) -> None:
    """Cut an application over from SQLite or SQL Server to PostgreSQL, and prove it."""
    if workdir is None:  # beside cutover.toml, wherever the command runs from
        workdir = config_path.parent / config_mod.DEFAULT_WORKDIR
    ctx.obj = Globals(config_path=config_path, workdir=workdir)


pass_globals = click.make_pass_decorator(Globals)


@cli.command()
@click.option(
    "--source",
    help="Source database URL (sqlite:///app.db, mssql+pyodbc://…); omit both URLs to take them "
    "from a scan.",
)
@click.option("--target", help="Target PostgreSQL URL (postgresql://user@host:5432/db).")
@click.option(
    "--scan",
    "scan_root",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Without --source/--target: the project folder whose env files, compose files and "
    "scripts are scanned.",
)
@click.option("--name", help="Name of this database in cutover.toml (default: from the source).")
@click.option(
    "--env-key", help="The env key the application reads this database from (default DATABASE_URL)."
)
@click.option(
    "--snake-case",
    is_flag=True,
    help="Name tables and columns in snake_case instead of keeping their case.",
)
@click.option("--yes", is_flag=True, help="Replace an existing entry of the same name.")
@pass_globals
@render.handle_errors
def init(
    g: Globals,
    source: str | None,
    target: str | None,
    scan_root: Path,
    name: str | None,
    env_key: str | None,
    snake_case: bool,
    yes: bool,
) -> None:
    """Write cutover.toml: one database from --source/--target,
    or every one a scan of the project finds.
    """
    if source is None and target is None:
        render.init_scanned(commands.init_from_scan(g.config_path, scan_root, replace=yes))
        return
    if source is None or target is None:
        raise click.UsageError(
            "give both --source and --target, or neither to take them from a scan"
        )
    result = commands.init(
        g.config_path,
        source=source,
        target=target,
        name=name,
        env_key=env_key,
        replace=yes,
        snake_case=snake_case,
    )
    render.init(result)


@cli.command()
@click.option(
    "--phase",
    "phase",
    type=click.Choice(list(PHASE_CHOICES)),
    required=True,
    help="1 = env files, 2 = schema and data, 3 = verification; all = 1, 2, 3 in turn.",
)
@click.option("--db", "database", help="Only this database from cutover.toml.")
@click.option(
    "--yes",
    is_flag=True,
    help="Do not ask: write the env rewrite (phase 1); drop and replace target tables that "
    "already exist (phase 2).",
)
@click.option(
    "--force", is_flag=True, help="Run the phase even though the one before it is not done."
)
@click.option(
    "--on-error",
    type=click.Choice(["reject", "abort"]),
    help="reject: bad rows go to reject files (default); abort: stop at the first bad value.",
)
@click.option("--allow-rejects", is_flag=True, help="Exit 0 even when rows were rejected.")
@click.option(
    "--app-tests",
    "app_tests",
    metavar="CMD",
    help='Phase 3: run the app\'s own test command (e.g. "pytest -q") with its env keys '
    "pointing at PostgreSQL.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help="Phase 2: worker processes loading chunks at once (default: one per core).",
)
@click.option(
    "--restart",
    is_flag=True,
    help="Phase 2: discard an interrupted load and start over (default: resume it).",
)
@pass_globals
@render.handle_errors
def run(
    g: Globals,
    phase: str,
    database: str | None,
    yes: bool,
    force: bool,
    on_error: str | None,
    allow_rejects: bool,
    app_tests: str | None,
    jobs: int | None,
    restart: bool,
) -> None:
    """Run a phase: 1 rewrites the env files, 2 creates
    the schema and loads the data, 3 proves it.
    """
    shown: list[bool] = []

    def confirm(preview: RewriteResult) -> bool:
        click.echo(preview.diff, nl=False)
        shown.append(True)
        values = sum(len(f.changes) for f in preview.files)
        try:
            return click.confirm(
                f"write {values} value(s) in {len(preview.files)} file(s)? (a backup is kept)",
                default=False,
            )
        except click.Abort:
            return False

    def show(outcome: PhaseOutcome) -> None:
        render.outcome(outcome, diff_shown=bool(shown))

    progress = ProgressReporter()
    try:
        result = commands.run_phase(
            g.load(),
            g.workdir,
            phase,
            database=database,
            yes=yes,
            force=force,
            confirm=confirm,
            on_error=on_error,
            allow_rejects=allow_rejects,
            app_tests=app_tests,
            reporter=progress,
            on_outcome=show,
            jobs=jobs,
            restart=restart,
        )
    finally:
        progress.close()
    click.echo(f"\nchecklists: {result.checklists}/  ·  report: {result.report}")
    if result.outcomes:
        click.echo(f"next: {result.outcomes[-1].next}")
    if not result.ok:
        sys.exit(EXIT_CHECKS_FAILED)


@cli.command("verify")
@click.option("--db", "database", help="Only this database from cutover.toml.")
@click.option("--table", help="Only this table (source or target name).")
@click.option(
    "--digests",
    type=click.Choice(["auto", "source", "load"]),
    default="auto",
    show_default=True,
    help="auto: read the source again when reachable, else use the load's recorded digests; "
    "source: require the source; load: the load's digests (faster, proves the target against "
    "the load).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    help="Also write the result as JSON to this file.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path),
    help="Also write JUnit XML (one test per table) to this file.",
)
@pass_globals
@render.handle_errors
def verify_cmd(
    g: Globals,
    database: str | None,
    table: str | None,
    digests: str,
    json_path: Path | None,
    junit_path: Path | None,
) -> None:
    """Prove the target equals the source: counts, row
    digests, schema (exit 1 on any difference).
    """
    result = commands.verify(g.load(), g.workdir, database=database, table=table, digests=digests)
    click.echo(report.parity(result))
    if json_path:
        json_path.write_text(result.to_json(), encoding="utf-8")
    if junit_path:
        junit_path.write_text(result.to_junit(), encoding="utf-8")
    if not result.ok:
        sys.exit(EXIT_CHECKS_FAILED)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="text for a terminal, markdown for a pull request or wiki, json for CI "
    "(cutover/schemas/plan.schema.json).",
)
@click.option("--db", "database", help="Only this database from cutover.toml.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write the plan to this file instead of printing it.",
)
@pass_globals
@render.handle_errors
def plan(g: Globals, fmt: str, database: str | None, output: Path | None) -> None:
    """Assess the cutover, loading nothing: tables, columns, findings, env rewrite, time (exit 1
    on a blocker).
    """
    result = commands.plan(g.load(), g.workdir, database=database)
    text = render.plan(result, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    render.plan_summary(result, output, g.workdir)
    if not result.ok:
        sys.exit(EXIT_CHECKS_FAILED)


@cli.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the status as JSON (for CI; state.json in the workdir holds the same).",
)
@pass_globals
@render.handle_errors
def status(g: Globals, as_json: bool) -> None:
    """Show the three phase checklists with their
    progress, what failed and why, and what to do next.
    """
    result = commands.status(g.load(lenient=True), g.workdir)
    if as_json:
        click.echo(result.to_json())
    else:
        render.status(result)


@cli.command()
@click.argument("item")
@click.option(
    "--note", help="What was done (required to tick an item; kept in the checklist and the report)."
)
@click.option(
    "--force", is_flag=True, help="Tick an item even though its last automatic check failed."
)
@click.option("--undo", is_flag=True, help="Take a tick back.")
@pass_globals
@render.handle_errors
def check(g: Globals, item: str, note: str | None, force: bool, undo: bool) -> None:
    """Tick checklist ITEM (an id such as p1.secrets, see `cutover status`) with a note saying
    what was done.
    """
    from cutover.phases.checklists import item_lines

    if not undo and not (note and note.strip()):
        raise click.UsageError(f'say what was done: cutover check {item} --note "…"')
    result = commands.check(g.load(), g.workdir, item, note=note, force=force, undo=undo)
    v = result.view
    click.echo(f"{'[x]' if v.status == 'done' else '[ ]'} {v.item.id}  {v.item.text}")
    for line in item_lines(v)[:1]:
        click.echo(f"      {line}")
    click.echo(
        f"phase {result.phase.phase} — {result.phase.title}: "
        f"{result.phase.done}/{len(result.phase.items)} items done"
    )
    click.echo(f"next: {result.next}")


@cli.command()
@click.option("--db", "database", help="Only this database from cutover.toml.")
@click.option("--yes", is_flag=True, help="Remove _cutover without asking.")
@pass_globals
@render.handle_errors
def finish(g: Globals, database: str | None, yes: bool) -> None:
    """After a passing verify: save the proof in the
    report folder, then remove _cutover (asks first).
    """
    result = commands.finish(
        g.load(), g.workdir, database=database, yes=yes, confirm=lambda q: click.confirm(q)
    )
    click.echo(report.parity(result.verification))
    for db in result.databases:
        click.echo(f"{db.database}: proof saved in {db.folder} ({len(db.files)} files)")
        if not db.removed:
            click.echo(f"{db.database}: _cutover kept in {db.target}")
        elif db.dropped:
            click.echo(f"{db.database}: _cutover removed from {db.target}")
        else:
            click.echo(
                f"{db.database}: its run state removed; _cutover stays for the other databases "
                f"in {db.target}"
            )


@cli.command("report")
@pass_globals
@render.handle_errors
def report_cmd(g: Globals) -> None:
    """Write the final report again (Markdown and one
    self-contained HTML page) from the runs so far.
    """
    md, page = commands.report(g.load(lenient=True), g.workdir)
    click.echo(f"wrote {md}")
    click.echo(f"wrote {page} (one self-contained page, to attach to the change request)")


@cli.command()
@click.option("--stop", is_flag=True, help="Stop the demo's embedded Postgres and exit.")
@click.option(
    "--messages",
    type=click.IntRange(min=100),
    default=20_000,
    show_default=True,
    help="Size of the sample chat database.",
)
@pass_globals
@render.handle_errors
def demo(g: Globals, stop: bool, messages: int) -> None:
    """Move a sample chat database into an embedded PostgreSQL 18 with pgvector."""
    if stop:
        stopped = commands.demo_stop(g.workdir)
        click.echo("demo Postgres stopped" if stopped else "demo Postgres was not running")
        return
    click.echo(
        f"building a sample chat database ({messages:,} messages, Korean and English, a few "
        "broken rows) …"
    )
    progress = ProgressReporter()
    try:
        result = commands.demo(g.workdir, reporter=progress, messages=messages)
    finally:
        progress.close()
    render.demo(result)


# --- phase 1: the environment (`cutover env …`) ---------------------------------------------------


@cli.group()
def env() -> None:
    """Phase 1: point .env files, compose files and scripts at Postgres."""


@env.command("scan")
@click.argument("path", required=False, type=click.Path(path_type=Path), default=Path("."))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (values redacted).")
@pass_globals
@render.handle_errors
def env_scan_cmd(g: Globals, path: Path, as_json: bool) -> None:
    """List database references in env files, compose files
    and scripts under PATH, and leftovers in code.
    """
    render.env_scan(commands.env_scan(path, workdir=g.workdir), as_json=as_json)


@env.command("rewrite")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Write the changes (atomically, with a backup); default: show the diff only.",
)
@click.option("--yes", is_flag=True, help="With --apply: do not ask before writing.")
@click.option(
    "--literal-passwords",
    is_flag=True,
    help="Write the target password itself into local .env files (never into committed files).",
)
@click.option("--db", "database", metavar="NAME", help="Only this database of cutover.toml.")
@click.option("--check", is_flag=True, help="Exit 1 when anything would change (for CI).")
@click.option(
    "--from-env",
    "from_env",
    metavar="NAME",
    multiple=True,
    help="NAME is exported where the app runs: values reading ${NAME} need not find it in files.",
)
@pass_globals
@render.handle_errors
def env_rewrite_cmd(
    g: Globals,
    path: Path | None,
    apply_: bool,
    yes: bool,
    literal_passwords: bool,
    database: str | None,
    check: bool,
    from_env: tuple[str, ...],
) -> None:
    """Rewrite the configured databases' env values to
    Postgres URLs (a redacted diff unless --apply).
    """
    rewrite = functools.partial(
        commands.env_rewrite,
        g.load(),
        root=path,
        workdir=g.workdir,
        literal_passwords=literal_passwords,
        database=database,
        from_env=from_env,
    )
    result = rewrite(apply=apply_ and yes)
    if apply_:
        refuse_unresolved(result.unresolved)  # before asking: nothing is written
    click.echo(result.diff, nl=False)
    render.notes(result.notes)
    if not result.changed:
        click.echo("nothing to change: every configured value already points at Postgres")
        return
    values = sum(len(f.changes) for f in result.files)
    if apply_ and not yes:
        click.confirm(f"write {values} value(s) in {len(result.files)} file(s)?", abort=True)
        result = rewrite(apply=True)
    if result.applied:
        click.echo(
            f"rewrote {values} value(s) in {len(result.files)} file(s); backup {result.backup} "
            "(undo: cutover env restore)"
        )
    else:
        click.echo(
            f"{values} value(s) in {len(result.files)} file(s) would change; run with --apply "
            "to write them"
        )
        if check:
            sys.exit(EXIT_CHECKS_FAILED)


@env.command("restore")
@click.option(
    "--backup",
    "backup_id",
    metavar="ID",
    help="The backup to restore (default: the latest not yet restored).",
)
@click.option(
    "--force", is_flag=True, help="Restore files even if they were edited after the rewrite."
)
@pass_globals
@render.handle_errors
def env_restore_cmd(g: Globals, backup_id: str | None, force: bool) -> None:
    """Put back the env files, compose files and scripts a rewrite changed."""
    render.env_restore(commands.env_restore(g.workdir, backup_id=backup_id, force=force))


@env.command("template")
@click.argument("environment", metavar="ENV")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Write to this file instead of printing.",
)
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
@pass_globals
@render.handle_errors
def env_template_cmd(g: Globals, environment: str, output: Path | None, force: bool) -> None:
    """Render the .env template for ENV (dev, stg, prod) with this project's databases."""
    result = commands.env_template(g.load(), environment, output=output, force=force)
    if result.written is None:
        click.echo(result.text, nl=False)
    else:
        click.echo(f"wrote {result.written} ({result.env}: {', '.join(result.databases)})")


@cli.group()
def code() -> None:
    """The app's SQL on Postgres: the proven rewrites as a patch."""


@code.command("diff")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Write the files (with a backup); default: print the diff.",
)
@click.option("--db", "database", metavar="NAME", help="Only the statements of this database.")
@pass_globals
@render.handle_errors
def code_diff_cmd(g: Globals, apply_: bool, database: str | None) -> None:
    """A unified diff (for `git apply`) putting each proven rewrite in place of its SQL."""
    render.code_diff(
        commands.code_diff(g.load(), g.workdir, apply=apply_, database=database), shown=not apply_
    )


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main() -> None:
    """Console-script entry point."""
    # SIGTERM stops a run as Ctrl-C does (recorded, resumable), not mid-transaction without a word
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli(prog_name="cutover")
    except CutoverError as exc:  # errors raised outside a command body
        click.echo(redact(f"error: {exc.render()}"), err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_RUNTIME))
