"""`cutover status` and `cutover check`: the three checklists with progress, what is next, what
failed and why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cutover import config as config_mod
from cutover.errors import file_error
from cutover.phases import evidence, final_report
from cutover.phases import plan as plan_mod
from cutover.phases.checklists import (
    COPIES_DIR,
    PHASE_TITLES,
    STATE_FILE,
    ItemView,
    State,
    next_step,
    now,
)
from cutover.phases.plan import Plan


@dataclass
class PhaseView:
    """One phase: how its runs ended, and its checklist."""

    phase: int
    title: str
    status: str
    runs: dict[str, dict[str, Any]]
    items: list[ItemView]

    @property
    def done(self) -> int:
        return sum(v.status == "done" for v in self.items)


@dataclass
class StatusResult:
    """Where the cutover stands."""

    phases: list[PhaseView]
    plan: dict[str, Any] | None
    next: str
    failures: list[str]
    state_file: Path
    checklists: Path
    report: Path
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    def to_json(self) -> str:
        """For CI: the same as state.json, plus what is next and what failed."""
        data = {
            "next": self.next,
            "failures": self.failures,
            "notes": self.notes,
            "plan": self.plan,
            "phases": [
                {
                    "phase": p.phase,
                    "title": p.title,
                    "status": p.status,
                    "done": p.done,
                    "total": len(p.items),
                    "runs": p.runs,
                    "items": [{**asdict(v), "item": asdict(v.item)} for v in p.items],
                }
                for p in self.phases
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False)


@dataclass
class CheckResult:
    """What `cutover check` ticked."""

    view: ItemView
    phase: PhaseView
    next: str


def status(config: config_mod.Config, workdir: Path) -> StatusResult:
    """The checklists with progress from current evidence, the next step, every failure and why.

    What became untrue since the last run (env files restored, a reload, a stale verify) is
    un-ticked and saved when the workdir is writable; a target without its password in the
    environment is listed as not checked.
    """
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    found = evidence.reconcile(config, workdir, state)
    notes = list(found.notes)
    if found.changed and (workdir / STATE_FILE).exists():
        try:
            state.save()
        except OSError as exc:
            notes.append(f"not saved: {file_error(exc).message}")
    phases = [_phase_view(state, n) for n in PHASE_TITLES]
    failures = []
    for p in phases:
        for db, run in p.runs.items():
            if run["status"] in ("failed", "interrupted"):
                said = run["summary"] if run["status"] == "interrupted" else None
                failures.append(
                    f"phase {p.phase} ({db}), {run['at']}: {run['status']}: "
                    f"{said or run['error'] or run['summary']}"
                )
        for v in p.items:
            if v.status == "failed":
                failures.append(f"{v.item.id}: " + "; ".join(v.evidence[:3]))
    return StatusResult(
        phases,
        state.data.get("plan"),
        next_step(state),
        failures,
        workdir / STATE_FILE,
        workdir / COPIES_DIR,
        workdir / "report" / "report.html",
        notes,
    )


def check(
    config: config_mod.Config,
    workdir: Path,
    item_id: str,
    *,
    note: str | None = None,
    force: bool = False,
    undo: bool = False,
) -> CheckResult:
    """Tick a checklist item by hand with a note (or take the tick back)."""
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    view = state.uncheck(item_id) if undo else state.check(item_id, note or "", force=force)
    final_report.finish(config, workdir, state)
    return CheckResult(view, _phase_view(state, view.item.phase), next_step(state))


def record_plan(config: config_mod.Config, workdir: Path, plan: Plan) -> Path:
    """Save the plan under the workdir and note its verdict in the state; returns plan.json."""
    path = plan_mod.save(plan, workdir)
    state = State.load(workdir)
    state.set_databases([d.name for d in config.databases])
    state.data["plan"] = {"at": now(), "ok": plan.ok, "summary": plan.counts, "file": str(path)}
    final_report.finish(config, workdir, state)
    return path


def _phase_view(state: State, n: int) -> PhaseView:
    return PhaseView(n, PHASE_TITLES[n], state.phase_status(n), state.runs(n), state.views(n))
