"""What phases 1, 2 and 3 do, in order: gated, recorded in the checklists, and reported.

`run_phase` is also `cutover.commands.run_phase`. Phase 1 rewrites the env files (`envfiles.api.env_rewrite`), phase 2 is `commands.run_phase2`,
phase 3 is `verify` plus the leftover scan and the app's own tests. A phase runs only after the one
before it is done (for the databases asked for) unless forced; each records per database how it
ended and ticks its checklist items with evidence; every run ends by writing the state, the
checklist copies and the final report under the workdir.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover import config as config_mod
from cutover import urls
from cutover.errors import CutoverError, TargetError, UnknownChoiceError, UsageError
from cutover.phases.checklists import PROJECT, State, now
from cutover.proof.app_tests import AppTests, run_app_tests
from cutover.proof.report import reasons_text

PHASE_CHOICES = ("1", "2", "3", "all")
RESULTS_DIR = "results"  # under the workdir: what each phase found, for the report
SOURCE_KINDS = ("sqlite", "mssql")
EVIDENCE_LINES = 20  # lines of evidence kept per item (the report and results files have the rest)

Confirm = Callable[
    ["RewriteResult"], bool
]  # shown the preview of phase 1's rewrite; True writes it


@dataclass
class Proof:
    """Phase 3: parity, leftovers, app tests."""

    verify: VerifyResult
    env_leftovers: list[str]
    code_leftovers: list[str]
    app_tests: AppTests | None

    @property
    def ok(self) -> bool:
        return (
            self.verify.ok
            and not self.env_leftovers
            and (self.app_tests is None or self.app_tests.passed)
        )


@dataclass
class PhaseOutcome:
    """How one phase ended: what happened, and what to do next."""

    phase: int
    status: str  # done | failed | declined | skipped
    ok: bool
    summary: str
    next: str
    seconds: float = 0.0
    rewrite: RewriteResult | None = None
    load: Phase2Result | None = None
    proof: Proof | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """`cutover run`: the phases that ran, and where the checklists and report are."""

    outcomes: list[PhaseOutcome]
    checklists: Path
    report: Path

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def parse_phase(phase: int | str) -> tuple[int, ...]:
    """'1'…'3' or 'all' → the phases to run; anything else lists the choices."""
    text = str(phase)
    if text not in PHASE_CHOICES:
        raise UnknownChoiceError("phase", text, list(PHASE_CHOICES))
    return (1, 2, 3) if text == "all" else (int(text),)


def run_phase(
    config: config_mod.Config,
    workdir: Path,
    phase: int | str,
    *,
    database: str | None = None,
    yes: bool = False,
    force: bool = False,
    confirm: Confirm | None = None,
    on_error: str | None = None,
    allow_rejects: bool = False,
    app_tests: str | None = None,
    reporter: Reporter | None = None,
    on_outcome: Callable[[PhaseOutcome], None] | None = None,
    jobs: int | None = None,
    restart: bool = False,
) -> RunResult:
    """Run phase 1 (env), 2 (schema and data), 3 (proof) or 'all' (stopping at the first that does not end ok).

    `confirm` is shown phase 1's rewrite before it is written (unless `yes`); `on_outcome` hears of
    each phase as it ends, so a caller can show it before the next one starts (or fails).
    """
    phases = parse_phase(phase)
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    names = [d.name for d in config.database(database)]
    outcomes: list[PhaseOutcome] = []
    try:
        for n in phases:
            if (
                len(phases) > 1
                and n == 2
                and not yes
                and all(state.phase_done(2, d) for d in names)
            ):
                outcomes.append(
                    PhaseOutcome(
                        2,
                        "skipped",
                        True,
                        "phase 2 is already done; skipped (--yes drops and reloads the tables)",
                        _NEXT[2],
                    )
                )
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
                continue
            _gate(state, n, names, force)
            started = time.monotonic()
            if n == 1:
                outcome = _phase1(config, workdir, state, names, database, yes, confirm)
            elif n == 2:
                outcome = _phase2(
                    config,
                    workdir,
                    state,
                    names,
                    yes,
                    on_error,
                    allow_rejects,
                    reporter,
                    jobs,
                    restart,
                )
            else:
                outcome = _phase3(config, workdir, state, names, database, app_tests)
            outcome.seconds = time.monotonic() - started
            if n != 2:  # phase 2 records each database's own load time
                for d in names:
                    state.set_seconds(n, d, outcome.seconds)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            if not outcome.ok:
                break
    finally:
        report = finish(config, workdir, state)
    return RunResult(outcomes, workdir / "checklists", report)


def finish(config: config_mod.Config, workdir: Path, state: State) -> Path:
    """Save the state and checklist copies, and write the final report; returns the HTML page."""
    from cutover.phases import final_report
    from cutover.phases.status import next_step

    state.save()
    _md, page = final_report.write(config, workdir, state, next_step(state))
    return page


def _gate(state: State, phase: int, names: list[str], force: bool) -> None:
    if phase == 1 or force:
        return
    missing = [d for d in names if not state.phase_done(phase - 1, d)]
    if missing:
        runs = state.runs(phase - 1)
        why = (
            "; ".join(
                f"{d}: {runs[d]['status']}"
                + (f" ({runs[d]['error']})" if runs[d].get("error") else "")
                for d in missing
                if d in runs
            )
            or "not run yet"
        )
        raise UsageError(
            f"phase {phase} needs phase {phase - 1} done first for {', '.join(missing)} ({why})",
            hint=f"run `cutover run --phase {phase - 1}` first, or pass --force to run phase {phase} anyway",
        )


def _record_failure(state: State, phase: int, names: list[str], exc: BaseException) -> None:
    """A failed phase is recorded, except a refusal (usage error) after the phase was already done."""
    error = (
        exc.render()
        if isinstance(exc, CutoverError)
        else f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    )
    for d in names:
        if isinstance(exc, UsageError) and state.phase_done(phase, d):
            continue
        state.set_run(phase, d, "failed", f"phase {phase} failed", error=error)


_NEXT = {
    1: "`cutover run --phase 2` creates the schema and loads the data",
    2: '`cutover run --phase 3` proves the load: parity, leftover references, and your app\'s tests (--app-tests "CMD")',
    3: '`cutover status` shows the checklists; items that need a person are ticked with `cutover check ID --note "…"`',
}


# -- phase 1 ----------------------------------------------------------------------------------------


def _phase1(
    config: config_mod.Config,
    workdir: Path,
    state: State,
    names: list[str],
    database: str | None,
    yes: bool,
    confirm: Confirm | None,
) -> PhaseOutcome:
    from cutover.envfiles.api import env_rewrite, env_scan

    try:
        preview = env_rewrite(config, workdir=workdir, apply=False, database=database)
        if preview.changed and not yes and not (confirm is not None and confirm(preview)):
            for d in names:
                state.set_run(1, d, "declined", "the rewrite was shown but not applied")
            return PhaseOutcome(
                1,
                "declined",
                False,
                "nothing was written: the rewrite was not confirmed",
                "run `cutover run --phase 1` again and answer y, or add --yes",
                rewrite=preview,
            )
        result = (
            env_rewrite(config, workdir=workdir, apply=True, database=database)
            if preview.changed
            else preview
        )
        scan = env_scan(config.base_dir, workdir=workdir)
    except BaseException as exc:
        _record_failure(state, 1, names, exc)
        raise
    in_files = len({r.path for r in scan.references})
    state.record(
        "p1.scan",
        PROJECT,
        "done",
        [
            f"{len(scan.references)} database reference(s) in {in_files} of {len(scan.files)} env file(s), compose file(s) and script(s)"
        ],
    )
    values = 0
    for d in names:
        per_file = Counter(c.path for f in result.files for c in f.changes if c.database == d)
        values += sum(per_file.values())
        evidence = [
            f"{path}: {n} key{'s' if n != 1 else ''} rewritten" for path, n in per_file.items()
        ]
        state.record(
            "p1.rewrite",
            d,
            "done",
            evidence or ["nothing to rewrite: its values already point at PostgreSQL"],
        )
        state.set_run(1, d, "done", f"{sum(per_file.values())} value(s) rewritten")
    if result.backup:
        state.record(
            "p1.backup",
            PROJECT,
            "done",
            [
                f"backup {result.backup} of {len(result.files)} file(s) under {workdir / 'backups' / 'env'}; undo with `cutover env restore`"
            ],
        )
    elif not state.has_results("p1.backup"):
        state.record(
            "p1.backup", PROJECT, "done", ["nothing was rewritten, so nothing needed a backup"]
        )
    remaining = [
        f"{r.path}:{r.line} {r.key or '(inline)'} → {r.kind} {r.value}"
        for r in scan.references
        if r.kind in SOURCE_KINDS
    ]
    notes = list(result.notes) + [
        f"still pointing at SQLite/SQL Server (phase 3 fails while it does): {line}"
        for line in remaining
    ]
    _save_result(
        workdir,
        1,
        None,
        {
            "at": now(),
            "applied": result.applied,
            "backup": result.backup,
            "diff": result.diff,
            "files": [asdict(f) for f in result.files],
            "remaining": remaining,
            "notes": notes,
        },
    )
    summary = (
        f"rewrote {values} value(s) in {len(result.files)} file(s); backup {result.backup}"
        if result.applied and result.changed
        else "nothing to change: every configured value already points at PostgreSQL"
    )
    return PhaseOutcome(1, "done", True, summary, _NEXT[1], rewrite=result, notes=notes)


# -- phase 2 ----------------------------------------------------------------------------------------


def _phase2(
    config: config_mod.Config,
    workdir: Path,
    state: State,
    names: list[str],
    yes: bool,
    on_error: str | None,
    allow_rejects: bool,
    reporter: Reporter | None,
    jobs: int | None = None,
    restart: bool = False,
) -> PhaseOutcome:
    from cutover import commands

    reports = []
    for name in names:
        db = config.database(name)[0]
        if state.phase_done(2, name) and not yes:
            raise UsageError(
                f"phase 2 already loaded {name} ({state.runs(2)[name]['at']})",
                database=name,
                hint="pass --yes to drop the tables and load them again",
            )
        try:
            _preflight(state, db)
            result = commands.run_phase2(
                config,
                workdir,
                database=name,
                yes=yes,
                on_error=on_error,
                reporter=reporter,
                jobs=jobs,
                restart=restart,
            )
        except BaseException as exc:
            if isinstance(exc, TargetError) and "pgvector" in exc.message:
                state.record("p2.preflight", name, "failed", [exc.message])
            _record_failure(state, 2, [name], exc)
            raise
        rep = result.reports[0]
        _tick_phase2(state, config, rep)
        state.set_run(
            2,
            name,
            "done",
            f"{sum(r.written for r in rep.results):,} row(s) written, {rep.rejected:,} rejected",
            seconds=rep.seconds,
        )
        _save_result(workdir, 2, name, _load_dict(rep))
        reports.append(rep)
    from cutover.commands import Phase2Result

    load = Phase2Result(reports)
    read = sum(r.read for rep in reports for r in rep.results)
    written = sum(r.written for rep in reports for r in rep.results)
    summary = f"loaded {written:,} of {read:,} row(s) into {sum(len(rep.results) for rep in reports)} table(s); {load.rejected:,} rejected"
    if load.rejected:
        dirs = ", ".join(str(rep.rejects_dir) for rep in reports if rep.rejected)
        nxt = (
            f'review the rejected rows in {dirs} (each line: key, column, value, reason), then `cutover check p2.rejects --note "…"`; '
            + _NEXT[2]
        )
    else:
        nxt = _NEXT[2]
    return PhaseOutcome(2, "done", not load.rejected or allow_rejects, summary, nxt, load=load)


def _preflight(state: State, db: config_mod.DatabaseConfig) -> None:
    """Connect, read the server's version and privileges, and tick p2.preflight or fail it (run_phase2 raises)."""
    from cutover.load import target as tgt

    try:
        conn = tgt.connect(db.target, autocommit=True, create=True)
    except CutoverError as exc:
        state.record("p2.preflight", db.name, "failed", [exc.message])
        return
    try:
        info = tgt.server_info(conn, db.target_schema)
    finally:
        conn.close()
    if not info.can_create:
        state.record(
            "p2.preflight",
            db.name,
            "failed",
            [f"user {info.user} may not create tables in database {info.database}"],
        )
        return  # run_phase2 raises with the GRANT to run
    vector = (
        f"pgvector {info.vector_installed} installed"
        if info.vector_installed
        else f"pgvector {info.vector_available} available"
        if info.vector_available
        else "no pgvector on the server"
    )
    state.record(
        "p2.preflight",
        db.name,
        "done",
        [
            f"PostgreSQL {info.version} at {urls.redact(db.target)}; user {info.user} may create tables; {vector}"
        ],
    )


def _tick_phase2(state: State, config: config_mod.Config, rep: LoadReport) -> None:
    name = rep.database
    if rep.revisions_dir is not None:
        versions = sorted(p.name for p in (rep.revisions_dir / "versions").glob("*.py"))
        state.record(
            "p2.schema",
            name,
            "done",
            [
                f"{_rel(rep.revisions_dir, config.base_dir)}/versions/: {', '.join(versions)} — tables first, keys and indexes after the load"
            ]
            + [f"kept your edited revision {p.name}" for p in rep.kept_edits],
        )
    else:
        state.record(
            "p2.schema",
            name,
            "done",
            [
                'existing schema (schema_mode = "existing"): loaded into the tables the application\'s migrations made'
            ],
        )
    lines = [
        f"{r.table}: rows {r.read:,} = {r.written:,}"
        + (f" + {r.rejected:,} rejected" if r.rejected else "")
        for r in rep.results
    ]
    state.record(
        "p2.data",
        name,
        "done" if all(r.reconciled for r in rep.results) else "failed",
        lines[:EVIDENCE_LINES],
    )
    if rep.rejected:
        per_table = [
            f"{r.table}: {r.rejected:,} ({reasons_text(r.reasons)})"
            for r in rep.results
            if r.rejected
        ]
        state.record(
            "p2.rejects",
            name,
            "open",
            [f"{rep.rejected:,} row(s) rejected, in {rep.rejects_dir}/"]
            + per_table[:EVIDENCE_LINES],
        )
    else:
        state.record("p2.rejects", name, "done", ["no row rejected"])
    plan = rep.plan
    counts = [
        (sum(len(t.uniques) for t in plan.tables), "unique key(s)"),
        (sum(len(t.indexes) for t in plan.tables), "index(es)"),
        (sum(len(t.foreign_keys) for t in plan.tables), "foreign key(s)"),
        (sum(len(t.checks) for t in plan.tables), "check(s)"),
        (sum(t.identity_column is not None for t in plan.tables), "identity sequence(s) continued"),
    ]
    summary = (
        ", ".join(f"{n} {what}" for n, what in counts) + f"; {len(rep.results)} table(s) analyzed"
    )
    state.record("p2.keys", name, "done", [summary] + rep.notes[:EVIDENCE_LINES])


def _load_dict(rep: LoadReport) -> dict[str, Any]:
    return {
        "at": now(),
        "target": rep.target,
        "seconds": round(rep.seconds, 3),
        "tables": [
            {**asdict(r), "rejects_path": str(r.rejects_path) if r.rejected else None}
            for r in rep.results
        ],
        "rejected": rep.rejected,
        "rejects_dir": str(rep.rejects_dir),
        "notes": rep.notes,
        "revisions_dir": str(rep.revisions_dir) if rep.revisions_dir else None,
        "findings": [asdict(f) for f in rep.plan.findings],
    }


# -- phase 3 ----------------------------------------------------------------------------------------


def _phase3(
    config: config_mod.Config,
    workdir: Path,
    state: State,
    names: list[str],
    database: str | None,
    app_tests: str | None,
) -> PhaseOutcome:
    from cutover import commands
    from cutover.envfiles.api import env_scan
    from cutover.proof.verify import table_summary

    try:
        verified = commands.verify(config, workdir, database=database)
        scan = env_scan(config.base_dir, workdir=workdir)
    except BaseException as exc:
        _record_failure(state, 3, names, exc)
        raise
    for dbp in verified.databases:
        lines = [
            f"{t.table}: rows {t.expected_rows:,} = {t.target_rows:,}" if t.ok else table_summary(t)
            for t in dbp.tables
        ]
        state.record(
            "p3.parity",
            dbp.database,
            "done" if all(t.ok for t in dbp.tables) else "failed",
            lines[:EVIDENCE_LINES],
        )
        if dbp.schema_issues:
            state.record(
                "p3.schema",
                dbp.database,
                "failed",
                [f"{i.table}: {i.subject}: {i.problem}" for i in dbp.schema_issues][
                    :EVIDENCE_LINES
                ],
            )
        else:
            kept = (
                f"; {len(dbp.accepted)} difference(s) recorded on purpose by the load, each with its reason"
                if dbp.accepted
                else ""
            )
            state.record(
                "p3.schema",
                dbp.database,
                "done",
                [
                    f"{len(dbp.tables)} table(s): column types, NOT NULL, keys, checks and indexes match{kept}"
                ],
            )
    env_paths = {f.path for f in scan.files}
    env_left = [
        f"{r.path}:{r.line} {r.key or '(inline)'} → {r.kind} {r.value}"
        for r in scan.references
        if r.kind in SOURCE_KINDS
    ]
    env_left += [
        f"{r.path}:{r.line} {r.label}: {r.text}" for r in scan.leftovers if r.path in env_paths
    ]
    code_left = [
        f"{r.path}:{r.line} {r.label}: {r.text}" for r in scan.leftovers if r.path not in env_paths
    ]
    if env_left:
        state.record("p3.env-leftovers", PROJECT, "failed", env_left[:EVIDENCE_LINES])
    else:
        state.record(
            "p3.env-leftovers",
            PROJECT,
            "done",
            [f"none in {len(scan.files)} env file(s), compose file(s) and script(s)"],
        )
    if code_left:
        state.record(
            "p3.code-leftovers",
            PROJECT,
            "open",
            [f"{len(code_left)} reference(s) to review or remove:"] + code_left[:EVIDENCE_LINES],
        )
    else:
        state.record("p3.code-leftovers", PROJECT, "done", ["none in code and docs"])
    tests = run_app_tests(config, workdir, app_tests) if app_tests else None
    if tests is not None:
        how = (
            f"passed in {tests.seconds:.1f}s"
            if tests.passed
            else ("timed out" if tests.returncode is None else f"exited {tests.returncode}")
            + f" after {tests.seconds:.1f}s; log {tests.log}"
        )
        state.record(
            "p3.app-tests",
            PROJECT,
            "done" if tests.passed else "failed",
            [f"`{tests.command}` {how}"] + ([] if tests.passed else tests.tail[-5:]),
        )
    proof = Proof(verified, env_left, code_left, tests)
    problems = _problems(proof)
    for d in names:
        state.set_run(
            3,
            d,
            "done" if proof.ok else "failed",
            "parity, schema, env files and app tests proven" if proof.ok else "; ".join(problems),
            error="; ".join(problems) or None,
        )
    state.record(
        "p3.report",
        PROJECT,
        "done",
        [
            f"{workdir / 'report' / 'report.md'}",
            f"{workdir / 'report' / 'report.html'} (one self-contained page)",
        ],
    )
    _save_result(
        workdir,
        3,
        None,
        {
            "at": now(),
            "databases": {d["database"]: d for d in json.loads(verified.to_json())["databases"]},
            "env_leftovers": env_left,
            "code_leftovers": code_left,
            "app_tests": asdict(tests) if tests is not None else None,
        },
    )
    rows = sum(t.target_rows for d in verified.databases for t in d.tables)
    if proof.ok:
        summary = (
            f"parity holds for {sum(len(d.tables) for d in verified.databases)} table(s) ({rows:,} rows); no env file points at SQLite/SQL Server"
            + ("; the app's tests pass on PostgreSQL" if tests else "")
        )
        nxt = (
            _NEXT[3]
            if tests
            else 'add `--app-tests "CMD"` to run your app\'s tests against PostgreSQL; ' + _NEXT[3]
        )
    else:
        summary = "phase 3 found problems: " + "; ".join(problems)
        nxt = "fix them (details above and in `cutover status`), then `cutover run --phase 3` again"
    return PhaseOutcome(
        3,
        "done" if proof.ok else "failed",
        proof.ok,
        summary,
        nxt,
        proof=proof,
        notes=[f"in code and docs (a warning): {line}" for line in code_left],
    )


def _problems(proof: Proof) -> list[str]:
    problems = []
    for d in proof.verify.databases:
        bad = [t.table for t in d.tables if not t.ok]
        if bad:
            problems.append(f"{d.database}: parity differs in {', '.join(bad)}")
        if d.schema_issues:
            problems.append(f"{d.database}: {len(d.schema_issues)} schema difference(s)")
    if proof.env_leftovers:
        problems.append(
            f"{len(proof.env_leftovers)} SQLite/SQL Server reference(s) left in env files, compose files or scripts"
        )
    if proof.app_tests is not None and not proof.app_tests.passed:
        problems.append("the app's tests failed on PostgreSQL")
    return problems


# -- results ------------------------------------------------------------------------


def _save_result(workdir: Path, phase: int, database: str | None, data: dict[str, Any]) -> None:
    """results/phaseN.json: phase 2 keeps one entry per database; phases 1 and 3 the last run."""
    from cutover.envfiles.backup import write_atomic

    path = workdir / RESULTS_DIR / f"phase{phase}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if database is not None:
        existing = load_result(workdir, phase) or {"databases": {}}
        existing["databases"][database] = data
        data = existing
    write_atomic(
        path, (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    )


def load_result(workdir: Path, phase: int) -> dict[str, Any] | None:
    """The saved results of a phase, or None."""
    path = workdir / RESULTS_DIR / f"phase{phase}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


if TYPE_CHECKING:  # pragma: no cover - imported lazily above
    from cutover.commands import LoadReport, Phase2Result
    from cutover.envfiles.api import RewriteResult
    from cutover.load.pipeline import Reporter
    from cutover.proof.verify import VerifyResult


def _rel(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
