"""What the command line shows: phase outcomes, loads, proofs, status, scans (with click)."""

from __future__ import annotations

import collections
import functools
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click
import psycopg

from cutover.commands import DemoResult, InitResult, ScanInitResult
from cutover.envfiles.api import RestoreResult, ScanResult
from cutover.errors import (
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    EXIT_TERMINATED,
    CutoverError,
    Terminated,
    file_error,
)
from cutover.load.run import Phase2Result
from cutover.phases.checklists import PHASE_TITLES, item_lines
from cutover.phases.code_diff import CodeDiff
from cutover.phases.document import to_markdown, to_text
from cutover.phases.plan import Plan
from cutover.phases.plan_render import plan_document
from cutover.phases.run import PhaseOutcome, Proof
from cutover.phases.status import StatusResult
from cutover.proof import report
from cutover.urls import redact


def outcome(outcome: PhaseOutcome, *, diff_shown: bool) -> None:
    """How a phase ended: its diff, load, proof and notes, then one line."""
    title = f"phase {outcome.phase} — {PHASE_TITLES[outcome.phase]}"
    if outcome.rewrite is not None and outcome.status == "done" and not diff_shown:
        click.echo(outcome.rewrite.diff, nl=False)
    if outcome.load is not None:
        phase2(outcome.load)
        if outcome.load.rejected and not outcome.ok:
            click.echo(
                f"{outcome.load.rejected:,} rows were rejected (see the reject files above); "
                "pass --allow-rejects to accept that",
                err=True,
            )
    if outcome.proof is not None:
        proof(outcome.proof)
    notes(outcome.notes)
    click.echo(f"\n{title}: {outcome.status.upper()} — {outcome.summary}")


def proof(proof: Proof) -> None:
    """Phase 3: parity, leftovers, app tests."""
    click.echo(report.parity(proof.verify))
    if proof.env_leftovers:
        click.echo(
            "env files, compose files and scripts still pointing at SQLite/SQL Server "
            f"({len(proof.env_leftovers)}):"
        )
        click.echo("\n".join(f"  {line}" for line in proof.env_leftovers))
    else:
        click.echo("env files, compose files and scripts: no SQLite/SQL Server reference left")
    if proof.code_leftovers:
        click.echo(
            f"code and docs still mention SQLite/SQL Server ({len(proof.code_leftovers)}, "
            "warnings; tick p3.code-leftovers once reviewed)"
        )
    tests = proof.app_tests
    if tests is not None:
        click.echo("\n".join(f"  | {line}" for line in tests.tail[-10:]))
        verdict = (
            "passed"
            if tests.passed
            else ("timed out" if tests.returncode is None else f"FAILED (exit {tests.returncode})")
        )
        click.echo(
            f"app tests `{tests.command}`: {verdict} in {tests.seconds:.1f}s (log: {tests.log})"
        )


def phase2(result: Phase2Result) -> None:
    """Phase 2 per database: the table of counts, findings, rejects, revisions."""
    for rep in result.reports:
        resumed = ", resumed an interrupted load" if rep.resumed else ""
        click.echo(f"\n{rep.database} → {rep.target}  ({rep.seconds:.1f}s{resumed})")
        click.echo(report.load_table(rep.results))
        if rep.plan.findings:
            click.echo("\nfindings:")
            click.echo(report.findings(rep.plan.findings))
        for note in rep.notes:
            click.echo(f"  {note}")
        if rep.rejected:
            click.echo(f"\nrejected rows, with key, column, value and reason: {rep.rejects_dir}/")
            for r in rep.results:
                if r.rejected:
                    reasons = ", ".join(
                        f"{n} × {why}"
                        for why, n in sorted(r.reasons.items(), key=lambda kv: -kv[1])
                    )
                    click.echo(f"  {r.table}: {r.rejected:,} ({reasons})")
        if rep.revisions_dir is not None:
            click.echo(f"\nschema as code: {rep.revisions_dir}/versions/ (commit it with the app)")
        for kept in rep.kept_edits:
            click.echo(f"  kept your edited revision {kept.name}")


def status(result: StatusResult) -> None:
    """The checklists with their items, failures, what was not checked, and what is next."""
    plan_info = result.plan
    if plan_info is None:
        click.echo("plan: not run yet (`cutover plan`)")
    else:
        c = plan_info["summary"]
        click.echo(
            f"plan: {plan_info['at']}: {c['blocker']} blocker(s), "
            f"{c['warning']} warning(s), {c['info']} note(s)"
        )
    for p in result.phases:
        click.echo(
            f"\nPhase {p.phase} — {p.title}: {p.status.upper()} · "
            f"{p.done}/{len(p.items)} items done"
        )
        width = max(len(v.item.id) for v in p.items)
        for v in p.items:
            mark = {"done": "[x]", "failed": "[!]"}.get(v.status, "[ ]")
            who = "" if v.item.auto or v.status == "done" else "  (needs a person)"
            click.echo(f"  {mark} {v.item.id:<{width}}  {v.item.text}{who}")
            lines = item_lines(v)
            for line in lines[:4]:
                click.echo(f"      {line}")
            if len(lines) > 4:
                click.echo(
                    f"      … {len(lines) - 4} more in {result.checklists}/phase{p.phase}.md"
                )
    if result.failures:
        click.echo("\nfailed:")
        for failure in result.failures:
            click.echo(f"  {failure}")
    if result.notes:
        click.echo("\nnot checked:")
        for note in result.notes:
            click.echo(f"  {note}")
    click.echo(
        f"\nchecklists: {result.checklists}/  ·  state: {result.state_file}  ·  "
        f"report: {result.report}"
    )
    click.echo(f"next: {result.next}")


def env_scan(result: ScanResult, *, as_json: bool = False) -> None:
    """References, leftovers and proposals found by `cutover env scan` (or all of it as JSON)."""
    if as_json:
        click.echo(json.dumps(asdict(result), default=str, indent=2, ensure_ascii=False))
        return
    kinds = collections.Counter(f.kind for f in result.files)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no env files"
    click.echo(f"scanned {result.root}: {summary}")
    click.echo(f"database references ({len(result.references)}):")
    for ref in result.references:
        where = f"{ref.path}:{ref.line}"
        context = f"  [{ref.context}]" if ref.context else ""
        click.echo(
            f"  {where:<34} {ref.key or '(inline)':<30} {ref.kind:<8} {ref.role:<8} "
            f"{ref.value}{context}"
        )
    if result.leftovers:
        click.echo(
            f"references phase 1 does not edit ({len(result.leftovers)}; "
            "phase 3 checks they are gone):"
        )
        for item in result.leftovers:
            click.echo(f"  {f'{item.path}:{item.line}':<34} {item.label:<30} {item.text}")
    if result.proposals:
        click.echo(f"proposed cutover.toml entries ({len(result.proposals)}; edit each target):")
        for proposal in result.proposals:
            click.echo(proposal.toml().rstrip())
    notes(result.notes)


def notes(lines: list[str]) -> None:
    """Notes on stderr, redacted."""
    for note in lines:
        click.echo(redact(f"note: {note}"), err=True)


def init_scanned(scanned: ScanInitResult) -> None:
    """`cutover init` from a scan: the databases added (targets are suggestions) and kept."""
    for db in scanned.added:
        click.echo(f"added database {db.name!r} ({db.env_key}): {redact(db.source)}")
        click.echo(f"  target  {redact(db.target)}   <- check this: a suggestion")
    for skipped in scanned.skipped:
        click.echo(f"kept the existing entry {skipped!r} (--yes replaces it)")
    for note in scanned.notes:
        click.echo(f"note: {redact(note)}", err=True)
    click.echo(
        f"wrote {scanned.path}; check the targets, "
        "then `cutover plan` to see what moves and what will break"
    )


def init(result: InitResult) -> None:
    """`cutover init --source --target`: the entry written."""
    verb = "created" if result.created else "updated"
    click.echo(
        f"{verb} {result.path}: database {result.database.name!r} ({result.database.env_key})"
    )
    click.echo(f"  source  {redact(result.database.source)}")
    click.echo(f"  target  {redact(result.database.target)}")
    click.echo(
        "next: `cutover plan` assesses what moves, how each column is cast "
        "and what will break (nothing is loaded)"
    )


def plan(result: Plan, fmt: str) -> str:
    """The plan as text, Markdown or JSON."""
    if fmt == "json":
        return result.to_json() + "\n"
    doc = plan_document(result.to_dict())
    return to_markdown(doc) if fmt == "markdown" else to_text(doc)


def demo(result: DemoResult) -> None:
    """`cutover demo`: the load, then where to look."""
    phase2(result.phase2)
    click.echo(
        "\nThe broken rows above were rejected on purpose: "
        "each reject file line names the key, column, value and reason."
    )
    click.echo(f"source:  {result.source_path}")
    click.echo(f"config:  {result.config_path}")
    click.echo(f"look at the result:  {result.psql}")
    click.echo(f"stop the server:     {result.stop_hint}")


def env_restore(result: RestoreResult) -> None:
    """`cutover env restore`: the files put back, and the backups left."""
    click.echo(f"restored {len(result.restored)} file(s) from backup {result.backup}")
    for rel in result.restored:
        click.echo(f"  {rel}")
    for rel in result.unchanged:
        click.echo(f"  {rel} (already as before)")
    if result.remaining:
        click.echo(
            f"{result.remaining} older backup(s) remain; "
            "run `cutover env restore` again to go further back"
        )


def code_diff(result: CodeDiff, *, shown: bool) -> None:
    """`cutover code diff`: the patch (unless applied), what was left alone, and the count."""
    if shown:
        click.echo(result.diff, nl=False)
    for line in result.left:
        click.echo(f"left alone: {line}", err=True)
    done = f"{len(result.replaced)} statement(s) in {len(result.files)} file(s)"
    if result.applied:
        click.echo(f"replaced {done}; backup {result.backup} (undo: cutover env restore)", err=True)
    elif result.diff:
        click.echo(f"{done} would change; `git apply` the diff, or run with --apply", err=True)
    else:
        click.echo("nothing to replace: no proven rewrite differs from the app's SQL", err=True)


def plan_summary(result: Plan, output: Path | None, workdir: Path) -> None:
    """The plan's counts and next step, on stderr (stdout may be the plan itself)."""
    counts = result.counts
    where = f"wrote {output}; " if output is not None else ""
    click.echo(
        f"\nplan: {counts['blocker']} blocker(s), {counts['warning']} warning(s), "
        f"{counts['info']} note(s); {where}saved in {workdir}/plan.json",
        err=True,
    )
    click.echo(f"next: {result.next_step}", err=True)


# -- errors ----------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a CutoverError into a clean message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CutoverError as exc:
            click.echo(redact(f"error: {exc.render()}"), err=True)
            sys.exit(exc.exit_code)
        except (psycopg.Error, sqlite3.Error) as exc:
            # a database refused something cutover did not anticipate: say what, never a traceback
            where = "Postgres" if isinstance(exc, psycopg.Error) else "SQLite"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(
                redact(
                    f"error: {where}: {first}\n  hint: rerun with CUTOVER_DEBUG=1 for the "
                    "details, and report it if cutover should have caught this"
                ),
                err=True,
            )
            if os.environ.get("CUTOVER_DEBUG"):
                raise
            sys.exit(EXIT_RUNTIME)
        except OSError as exc:
            # a file or folder cutover needs: one line naming the path, never a traceback
            click.echo(redact(f"error: {file_error(exc).render()}"), err=True)
            if os.environ.get("CUTOVER_DEBUG"):
                raise
            sys.exit(EXIT_RUNTIME)
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            said = "terminated" if terminated else "interrupted"
            click.echo(
                f"{said}: `cutover status` says where it stopped and what resumes it", err=True
            )
            sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]
