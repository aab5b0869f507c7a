"""`cutover run`: phases 1, 2 and 3 in order, gated, recorded in the checklists, and reported.

Phase 1 rewrites the env files (`phases.phase1`), phase 2 loads schema and data
(`phases.phase2` over `load.run`), phase 3 proves it (`phases.phase3` over `proof.verify`). A
phase runs only after the one before it is done (for the databases asked for) unless forced;
each records per database how it ended and ticks its checklist items with evidence; every run
ends by writing the state, the checklist copies and the final report under the workdir.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cutover import config as config_mod
from cutover.errors import UnknownChoiceError, UsageError
from cutover.load.pipeline import Reporter
from cutover.phases import final_report
from cutover.phases.checklists import State
from cutover.phases.evidence import reconcile
from cutover.phases.outcome import (
    NEXT,
    Confirm,
    PhaseContext,
    PhaseOutcome,
    Proof,
    RunOptions,
)
from cutover.phases.phase1 import phase1
from cutover.phases.phase2 import phase2
from cutover.phases.phase3 import phase3
from cutover.phases.preflight import preflight_workdir

PHASE_CHOICES = ("1", "2", "3", "all")
PHASES = {1: phase1, 2: phase2, 3: phase3}

__all__ = ["PHASE_CHOICES", "PhaseOutcome", "Proof", "RunOptions", "RunResult", "run_phase"]


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
    """Run phase 1 (env), 2 (schema and data), 3 (proof) or 'all' (stopping at the first that does
    not end ok).

    `confirm` is shown phase 1's rewrite before it is written (unless `yes`); `on_outcome` hears of
    each phase as it ends, so a caller can show it before the next one starts (or fails).
    """
    phases = parse_phase(phase)
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    names = [d.name for d in config.database(database)]
    options = RunOptions(
        yes=yes,
        force=force,
        confirm=confirm,
        on_error=on_error,
        allow_rejects=allow_rejects,
        app_tests=app_tests,
        reporter=reporter,
        on_outcome=on_outcome,
        jobs=jobs,
        restart=restart,
    )
    ctx = PhaseContext(config, workdir, state, names, database, options)
    preflight_workdir(workdir)  # before anything changes: the run records into it
    reconcile(config, workdir, state, target=max(phases) >= 2)  # gates see what is true now
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
                        NEXT[2],
                    )
                )
                if on_outcome is not None:
                    on_outcome(outcomes[-1])
                continue
            _gate(state, n, names, force)
            started = time.monotonic()
            outcome = PHASES[n](ctx)
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
        report = final_report.finish(config, workdir, state)
    return RunResult(outcomes, workdir / "checklists", report)


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
            hint=f"run `cutover run --phase {phase - 1}` first, or pass --force to run phase "
            f"{phase} anyway",
        )
