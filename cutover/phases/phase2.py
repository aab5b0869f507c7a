"""Phase 2 as the checklists see it: preflight, schema,
data, rejects and keys ticked with evidence.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from cutover import config as config_mod
from cutover.errors import TargetError, UsageError
from cutover.load.preflight import check_target
from cutover.load.run import LoadReport, Phase2Result, run_phase2
from cutover.phases.checklists import State, now
from cutover.phases.db_objects import objects_hook
from cutover.phases.outcome import EVIDENCE_LINES, NEXT, PhaseContext, PhaseOutcome, record_failure
from cutover.phases.preflight import preflight_phase2
from cutover.phases.results import relative, save_result
from cutover.proof.report import reasons_text


def phase2(ctx: PhaseContext) -> PhaseOutcome:
    """Schema, data and keys for each database, each ticked in the checklist with its evidence."""
    config, workdir, state, names, opts = ctx.config, ctx.workdir, ctx.state, ctx.names, ctx.options
    reports = []
    for name in names:
        db = config.database(name)[0]
        if state.phase_done(2, name) and not opts.yes:
            raise UsageError(
                f"phase 2 already loaded {name} ({state.runs(2)[name]['at']})",
                database=name,
                hint="pass --yes to drop the tables and load them again",
            )
        try:
            preflight_phase2(config, db, workdir)
            _preflight(state, db)
            result = run_phase2(
                config,
                workdir,
                database=name,
                yes=opts.yes,
                on_error=opts.on_error,
                reporter=opts.reporter,
                jobs=opts.jobs,
                restart=opts.restart,
                objects=objects_hook(config),
            )
        except BaseException as exc:
            if isinstance(exc, TargetError) and "pgvector" in exc.message:
                state.record("p2.preflight", name, "failed", [exc.message])
            record_failure(state, 2, [name], exc)
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
        save_result(workdir, 2, name, _load_dict(rep))
        reports.append(rep)
    load = Phase2Result(reports)
    read = sum(r.read for rep in reports for r in rep.results)
    written = sum(r.written for rep in reports for r in rep.results)
    summary = (
        f"loaded {written:,} of {read:,} row(s) into "
        f"{sum(len(rep.results) for rep in reports)} table(s); {load.rejected:,} rejected"
    )
    if load.rejected:
        dirs = ", ".join(str(rep.rejects_dir) for rep in reports if rep.rejected)
        nxt = (
            f"review the rejected rows in {dirs} (each line: key, column, value, reason), then "
            '`cutover check p2.rejects --note "…"`; ' + NEXT[2]
        )
    else:
        nxt = NEXT[2]
    return PhaseOutcome(2, "done", not load.rejected or opts.allow_rejects, summary, nxt, load=load)


def _preflight(state: State, db: config_mod.DatabaseConfig) -> None:
    """Tick p2.preflight with the server, user and pgvector found, or fail it (the load refuses)."""
    check = check_target(db.target, db.target_schema)
    if check.blockers:  # the load raises it, after a missing source, which it names first
        state.record("p2.preflight", db.name, "failed", [p.message for p in check.blockers])
    else:
        state.record("p2.preflight", db.name, "done", [check.evidence(db.target)])


def _tick_phase2(state: State, config: config_mod.Config, rep: LoadReport) -> None:
    name = rep.database
    if rep.revisions_dir is not None:
        versions = sorted(p.name for p in (rep.revisions_dir / "versions").glob("*.py"))
        state.record(
            "p2.schema",
            name,
            "done",
            [
                f"{relative(rep.revisions_dir, config.base_dir)}/versions/: "
                f"{', '.join(versions)} — tables first, keys and indexes after the load"
            ]
            + [f"kept your edited revision {p.name}" for p in rep.kept_edits],
        )
    else:
        state.record(
            "p2.schema",
            name,
            "done",
            [
                'existing schema (schema_mode = "existing"): loaded into the tables the '
                "application's migrations made"
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
