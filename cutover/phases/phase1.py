"""Phase 1: the environment — env files, compose files and scripts rewritten to Postgres URLs."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cutover.envfiles.api import env_rewrite, env_scan, refuse_unresolved
from cutover.phases.checklists import PROJECT, State, now
from cutover.phases.outcome import NEXT, PhaseContext, PhaseOutcome, record_failure
from cutover.phases.preflight import preflight_phase1
from cutover.phases.results import load_result, save_result
from cutover.urls import SOURCE_KINDS


def phase1(ctx: PhaseContext) -> PhaseOutcome:
    """Rewrite the env files, compose files and scripts (after the preview is confirmed)."""
    config, workdir, state, names, database = (
        ctx.config,
        ctx.workdir,
        ctx.state,
        ctx.names,
        ctx.database,
    )
    yes, confirm = ctx.options.yes, ctx.options.confirm
    try:
        preview = env_rewrite(config, workdir=workdir, apply=False, database=database)
        refuse_unresolved(preview.unresolved)  # before asking: nothing is written
        if preview.changed:
            preflight_phase1(config.base_dir, [f.path for f in preview.files], workdir)
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
        record_failure(state, 1, names, exc)
        raise
    in_files = len({r.path for r in scan.references})
    state.record(
        "p1.scan",
        PROJECT,
        "done",
        [
            f"{len(scan.references)} database reference(s) in {in_files} of {len(scan.files)} "
            "env file(s), compose file(s) and script(s)"
        ],
    )
    first = _first_rewrite(workdir) if not result.changed else None
    values = 0
    for d in names:
        per_file = Counter(c.path for f in result.files for c in f.changes if c.database == d)
        values += sum(per_file.values())
        evidence = [
            f"{path}: {n} key{'s' if n != 1 else ''} rewritten" for path, n in per_file.items()
        ]
        earlier = _earlier_evidence(state, d) if not evidence else []
        if earlier:
            evidence = earlier + [f"rerun {now()}: nothing left to change"]
        state.record(
            "p1.rewrite",
            d,
            "done",
            evidence or ["nothing to rewrite: its values already point at PostgreSQL"],
        )
        state.set_run(
            1,
            d,
            "done",
            f"{sum(per_file.values())} value(s) rewritten"
            if per_file or first is None
            else f"nothing left to change; rewritten at {first['at']}",
        )
    if result.backup:
        state.record(
            "p1.backup",
            PROJECT,
            "done",
            [
                f"backup {result.backup} of {len(result.files)} file(s) under "
                f"{workdir / 'backups' / 'env'}; undo with `cutover env restore`"
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
    save_result(
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
            "first_rewrite": first,
        },
    )
    summary = (
        f"rewrote {values} value(s) in {len(result.files)} file(s); backup {result.backup}"
        if result.applied and result.changed
        else "nothing to change: every configured value already points at PostgreSQL"
    )
    return PhaseOutcome(1, "done", True, summary, NEXT[1], rewrite=result, notes=notes)


def _first_rewrite(workdir: Path) -> dict[str, Any] | None:
    """The last phase 1 result that changed files (a rerun that changes nothing keeps it)."""
    data = load_result(workdir, 1)
    if data is None:
        return None
    if any(f["changes"] for f in data.get("files", [])):
        return {k: data[k] for k in ("at", "backup", "diff", "files") if k in data}
    first: dict[str, Any] | None = data.get("first_rewrite")
    return first


def _earlier_evidence(state: State, database: str) -> list[str]:
    """p1.rewrite's evidence of a real rewrite for this database, without earlier rerun lines."""
    result = state.data["items"].get("p1.rewrite", {}).get("results", {}).get(database)
    if result is None or result["status"] != "done":
        return []
    lines = [e for e in result["evidence"] if not e.startswith(("rerun ", "nothing to rewrite"))]
    return lines
