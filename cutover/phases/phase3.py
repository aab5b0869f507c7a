"""Phase 3: the proof — parity, schema, leftover references, and the app's tests on Postgres."""

from __future__ import annotations

import json
from dataclasses import asdict

from cutover.envfiles.api import env_scan
from cutover.phases.app_code import (
    CodeProof,
    excuse_code_rejects,
    planned_schemas,
    proof_line,
    prove_app_code,
)
from cutover.phases.checklists import PROJECT, now
from cutover.phases.db_objects import attach_views, excuse_rejects, prove_views, with_views
from cutover.phases.evidence import load_stamp
from cutover.phases.outcome import (
    EVIDENCE_LINES,
    NEXT,
    PhaseContext,
    PhaseOutcome,
    Proof,
    record_failure,
)
from cutover.phases.results import save_result
from cutover.proof.app_tests import run_app_tests
from cutover.proof.verify import table_summary, verify
from cutover.urls import SOURCE_KINDS


def phase3(ctx: PhaseContext) -> PhaseOutcome:
    """Parity, schema, leftover references and the app's own tests on Postgres."""
    config, workdir, state, names = ctx.config, ctx.workdir, ctx.state, ctx.names
    database, app_tests = ctx.database, ctx.options.app_tests
    try:
        verified = verify(config, workdir, database=database)
        scan = env_scan(config.base_dir, workdir=workdir)
        code = prove_app_code(config, planned_schemas(config, database))
        views = prove_views(config, with_views(config, database))
    except BaseException as exc:
        record_failure(state, 3, names, exc)
        raise
    rejected = {d.database: [t.table for t in d.tables if t.rejected] for d in verified.databases}
    excuse_rejects(views, rejected)
    attach_views(verified, views)
    excuse_code_rejects(code, rejected)
    for dbp in verified.databases:
        lines = [
            f"{t.table}: rows {t.expected_rows:,} = {t.target_rows:,}" if t.ok else table_summary(t)
            for t in dbp.tables
        ]
        mine = [v for v in views if v.database == dbp.database]
        lines += [v.line() for v in mine]
        state.record(
            "p3.parity",
            dbp.database,
            "done"
            if all(t.ok for t in dbp.tables)
            and all(v.proof.status in ("same", "manual") for v in mine)
            else "failed",
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
                f"; {len(dbp.accepted)} difference(s) recorded on purpose by the load, each "
                "with its reason"
                if dbp.accepted
                else ""
            )
            state.record(
                "p3.schema",
                dbp.database,
                "done",
                [
                    f"{len(dbp.tables)} table(s): column types, NOT NULL, keys, checks and "
                    f"indexes match{kept}"
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
    _record_code(ctx, code)
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
    proof = Proof(verified, env_left, code_left, tests, code, views)
    problems = _problems(proof)
    for d in names:
        state.set_run(
            3,
            d,
            "done" if proof.ok else "failed",
            "parity, schema, env files and app tests proven" if proof.ok else "; ".join(problems),
            error="; ".join(problems) or None,
        )
        # the load this parity is of: a later reload makes it stale
        state.annotate_run(3, d, verified_load=load_stamp(config.database(d)[0]))
    state.record(
        "p3.report",
        PROJECT,
        "done",
        [
            f"{workdir / 'report' / 'report.md'}",
            f"{workdir / 'report' / 'report.html'} (one self-contained page)",
        ],
    )
    save_result(
        workdir,
        3,
        None,
        {
            "at": now(),
            "databases": {d["database"]: d for d in json.loads(verified.to_json())["databases"]},
            "env_leftovers": env_left,
            "code_leftovers": code_left,
            "app_tests": asdict(tests) if tests is not None else None,
            "code": [c.to_dict() for c in code],
            "views": [v.to_dict() for v in views],
        },
    )
    rows = sum(t.target_rows for d in verified.databases for t in d.tables)
    if proof.ok:
        summary = (
            f"parity holds for {sum(len(d.tables) for d in verified.databases)} table(s) "
            f"({rows:,} rows); no env file points at SQLite/SQL Server"
            + ("; the app's tests pass on PostgreSQL" if tests else "")
        )
        nxt = (
            NEXT[3]
            if tests
            else 'add `--app-tests "CMD"` to run your app\'s tests against PostgreSQL; ' + NEXT[3]
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


def _record_code(ctx: PhaseContext, code: list[CodeProof]) -> None:
    """p3.code: done when every statement is the same on Postgres; open while some are manual."""
    counts = {
        s: sum(c.proof.status == s for c in code) for s in ("same", "different", "failed", "manual")
    }
    head = [
        f"{len(code)} statement(s): {counts['same']} same, {counts['different']} different, "
        f"{counts['failed']} failed, {counts['manual']} manual"
    ]
    broken = [
        proof_line(c.entry, c.proof) for c in code if c.proof.status in ("different", "failed")
    ]
    manual = [proof_line(c.entry, c.proof) for c in code if c.proof.status == "manual"]
    status = "failed" if broken else "open" if manual else "done"
    if not code:
        head = [f"no SQL statement found in the Python files under {ctx.config.base_dir}"]
    ctx.state.record("p3.code", PROJECT, status, (head + broken + manual)[:EVIDENCE_LINES])


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
            f"{len(proof.env_leftovers)} SQLite/SQL Server reference(s) left in env files, "
            "compose files or scripts"
        )
    broken_views = [v.name for v in proof.views if v.proof.status in ("different", "failed")]
    if broken_views:
        problems.append(f"view(s) differ on PostgreSQL: {', '.join(broken_views)}")
    if proof.code_broken:
        problems.append(
            f"{len(proof.code_broken)} SQL statement(s) of the app return something else on "
            "PostgreSQL, or fail there (`cutover status`, p3.code)"
        )
    if proof.app_tests is not None and not proof.app_tests.passed:
        problems.append("the app's tests failed on PostgreSQL")
    return problems
