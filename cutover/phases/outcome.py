"""What every phase shares: the run's context and options, how a phase ended, what comes next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cutover.config import Config
from cutover.envfiles.api import RewriteResult
from cutover.errors import CutoverError, Terminated, UsageError, file_error
from cutover.load.pipeline import Reporter
from cutover.load.run import Phase2Result
from cutover.phases.app_code import BLOCKING, CodeProof
from cutover.phases.checklists import State
from cutover.phases.db_objects import ViewProof
from cutover.proof.app_tests import AppTests
from cutover.proof.verify import VerifyResult

EVIDENCE_LINES = 20  # lines of evidence kept per item (the report and results files have the rest)

Confirm = Callable[[RewriteResult], bool]  # shown the preview of phase 1's rewrite; True writes it


@dataclass(frozen=True)
class RunOptions:
    """How `cutover run` was asked to behave (the CLI's flags)."""

    yes: bool = False
    force: bool = False
    confirm: Confirm | None = None
    on_error: str | None = None
    allow_rejects: bool = False
    app_tests: str | None = None
    reporter: Reporter | None = None
    on_outcome: Callable[[PhaseOutcome], None] | None = None
    jobs: int | None = None
    restart: bool = False


@dataclass
class PhaseContext:
    """One run of the phases: what it works on, where it records, and how it was asked to run."""

    config: Config
    workdir: Path
    state: State
    names: list[str]  # the databases this run covers
    database: str | None  # as asked (None: every database)
    options: RunOptions


@dataclass
class Proof:
    """Phase 3: parity, leftovers, app tests, the app's SQL on Postgres."""

    verify: VerifyResult
    env_leftovers: list[str]
    code_leftovers: list[str]
    app_tests: AppTests | None
    code: list[CodeProof] = field(default_factory=list)
    views: list[ViewProof] = field(default_factory=list)

    @property
    def code_broken(self) -> list[CodeProof]:
        """Statements whose rewrite returns something else on Postgres, or fails there."""
        return [c for c in self.code if c.proof.status in BLOCKING]

    @property
    def ok(self) -> bool:
        return (
            self.verify.ok
            and not self.env_leftovers
            and not self.code_broken
            and all(v.proof.status in ("same", "manual") for v in self.views)
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


def record_failure(state: State, phase: int, names: list[str], exc: BaseException) -> None:
    """A failed (or interrupted) phase is recorded, except a refusal after it was already done."""
    if isinstance(exc, KeyboardInterrupt):
        resume = "resumes where it stopped" if phase == 2 else "runs it again"
        how = Terminated.how if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
        for d in names:
            state.set_run(
                phase,
                d,
                "interrupted",
                f"phase {phase} {how}; `cutover run --phase {phase}` {resume}",
                error=how,
            )
        return
    error = (
        exc.render()
        if isinstance(exc, CutoverError)
        else file_error(exc).render()
        if isinstance(exc, OSError)
        else f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    )
    for d in names:
        if isinstance(exc, UsageError) and state.phase_done(phase, d):
            continue
        state.set_run(phase, d, "failed", f"phase {phase} failed", error=error)


NEXT = {
    1: "`cutover run --phase 2` creates the schema and loads the data",
    2: "`cutover run --phase 3` proves the load: parity, leftover references, and your app's "
    'tests (--app-tests "CMD")',
    3: "`cutover status` shows the checklists; items that need a person are ticked with "
    '`cutover check ID --note "…"`',
}
