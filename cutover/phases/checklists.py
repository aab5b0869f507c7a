"""Phase checklists: the templates beside this file, the project's ticked copies, the JSON state.

The templates (`phase1.md`, `phase2.md`, `phase3.md` in the repository's top-level `checklists/`,
installed as the package `cutover.checklists` — the only copy) are Markdown
with one stable id per item: `- [ ] \\`p2.data\\` text *(auto)*`. Items marked *(auto)* are ticked
by `cutover run`, with a timestamp and evidence; the others need a person (`cutover check ID`).

What happened lives in `<workdir>/state.json` (the state CI reads); `<workdir>/checklists/phaseN.md`
are rendered from the template and that state after every change, so they are never edited by
hand. An automatic item is recorded per database (or once for the whole project) and is done when
every configured database has it done.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cutover.errors import UnknownChoiceError, UsageError
from cutover.urls import redact

PHASES = (1, 2, 3)
PHASE_TITLES = {1: "environment", 2: "schema and data", 3: "verification and documentation"}
STATE_FILE = "state.json"
TEMPLATES = "cutover.checklists"  # the package built from the top-level checklists/ folder
COPIES_DIR = "checklists"
PROJECT = "*"  # the scope of a result about the whole project rather than one database
STATE_VERSION = 1

_ITEM = re.compile(
    r"^- \[[ xX]\] `(?P<id>p[1-3]\.[a-z0-9-]+)` (?P<text>.+?)(?P<auto> \*\(auto\)\*)?\s*$"
)


@dataclass(frozen=True)
class Item:
    """One checklist item of a template."""

    id: str
    phase: int
    text: str
    auto: bool
    section: str


@dataclass
class ItemView:
    """An item with its current status: done, open, stale (un-ticked) or failed, and why."""

    item: Item
    status: str
    at: str | None = None
    by: str | None = None
    evidence: list[str] = field(default_factory=list)
    note: str | None = None


def now() -> str:
    """The current time as the checklists write it (UTC, to the second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_text(phase: int) -> str:
    """The Markdown template of a phase, as shipped in the package."""
    return resources.files(TEMPLATES).joinpath(f"phase{phase}.md").read_text(encoding="utf-8")


def items(phase: int | None = None) -> list[Item]:
    """Every item of the templates (of one phase), in template order."""
    found: list[Item] = []
    for p in PHASES if phase is None else (phase,):
        section = ""
        for line in template_text(p).splitlines():
            if line.startswith("## "):
                section = line[3:].strip()
            m = _ITEM.match(line)
            if m:
                found.append(Item(m["id"], p, m["text"], bool(m["auto"]), section))
    return found


def item(item_id: str) -> Item:
    """The item with this id; an unknown id lists the valid ones."""
    for it in items():
        if it.id == item_id:
            return it
    raise UnknownChoiceError("checklist item", item_id, [i.id for i in items()])


class State:
    """`<workdir>/state.json`: phase runs per database, and every item's results and checks."""

    def __init__(self, workdir: Path, data: dict[str, Any]) -> None:
        self.workdir = workdir
        self.data = data

    @classmethod
    def load(cls, workdir: Path) -> State:
        """The saved state, or a fresh one."""
        path = workdir / STATE_FILE
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise UsageError(
                    f"{path} is not valid JSON: {exc}",
                    path=str(path),
                    hint="it is cutover's own state; delete it to start the checklists over",
                ) from exc
        else:
            data = {}
        data.setdefault("version", STATE_VERSION)
        data.setdefault("databases", [])
        data.setdefault("plan", None)
        data.setdefault("phases", {})
        data.setdefault("items", {})
        return cls(workdir, data)

    @property
    def databases(self) -> list[str]:
        return list(self.data["databases"])

    def set_databases(self, names: list[str]) -> None:
        """The databases of cutover.toml: an item is done when each of them has it done."""
        self.data["databases"] = list(names)

    # -- phases ----------------------------------------------------------------------------------

    def runs(self, phase: int) -> dict[str, dict[str, Any]]:
        """The last run of a phase, per database."""
        return dict(self.data["phases"].get(str(phase), {}).get("runs", {}))

    def set_run(
        self,
        phase: int,
        database: str,
        status: str,
        summary: str,
        *,
        error: str | None = None,
        seconds: float | None = None,
    ) -> None:
        """Record how a phase ended for one database (done, failed, declined)."""
        entry = self.data["phases"].setdefault(str(phase), {"runs": {}})
        entry["runs"][database] = {
            "status": status,
            "at": now(),
            "summary": redact(summary),
            "error": redact(error) if error else None,
            "seconds": None if seconds is None else round(seconds, 3),
        }

    def annotate_run(self, phase: int, database: str, **facts: Any) -> None:
        """Add facts to the last run of a phase for a database (e.g. which load it verified)."""
        run = self.data["phases"].get(str(phase), {}).get("runs", {}).get(database)
        if run is not None:
            run.update(facts)

    def set_seconds(self, phase: int, database: str, seconds: float) -> None:
        """How long the phase's last run took for a database."""
        run = self.data["phases"].get(str(phase), {}).get("runs", {}).get(database)
        if run is not None:
            run["seconds"] = round(seconds, 3)

    def phase_status(self, phase: int) -> str:
        """done (every database), failed or interrupted (any), partial, declined, or pending."""
        runs = self.runs(phase)
        statuses = [runs[d]["status"] for d in self.databases if d in runs]
        for bad in ("failed", "interrupted"):
            if bad in statuses:
                return bad
        if (
            self.databases
            and len(statuses) == len(self.databases)
            and all(s == "done" for s in statuses)
        ):
            return "done"
        if any(s == "done" for s in statuses):
            return "partial"
        return "declined" if "declined" in statuses else "pending"

    def invalidate(self, phase: int, database: str, why: str) -> None:
        """A done phase whose evidence no longer holds is pending again, saying why."""
        run = self.data["phases"].get(str(phase), {}).get("runs", {}).get(database)
        if run is None or run["status"] != "done":
            return
        run.update(status="pending", summary=redact(why), was=run["summary"], since=now())

    def phase_done(self, phase: int, database: str) -> bool:
        """Whether `phase` last ended done for `database`."""
        return self.runs(phase).get(database, {}).get("status") == "done"

    # -- items -----------------------------------------------------------------------------------

    def record(self, item_id: str, scope: str, status: str, evidence: list[str]) -> None:
        """An automatic result for one database (or
        PROJECT): done, open (needs a person) or failed.
        """
        it = item(item_id)
        entry = self.data["items"].setdefault(it.id, {})
        entry.setdefault("results", {})[scope] = {
            "status": status,
            "at": now(),
            "evidence": [redact(e) for e in evidence],
        }
        entry.pop("checked", None)  # a new automatic result supersedes an earlier manual tick

    def untick(self, item_id: str, scope: str, why: str) -> None:
        """Take back an automatic tick whose evidence became untrue (stale), saying why."""
        entry = self.data["items"].get(item_id, {})
        result = entry.get("results", {}).get(scope)
        if result is None or result["status"] != "done":
            return
        entry["results"][scope] = {"status": "stale", "at": now(), "evidence": [redact(why)]}
        entry.pop("checked", None)

    def has_results(self, item_id: str) -> bool:
        """Whether a run ever recorded this item."""
        return bool(self.data["items"].get(item_id, {}).get("results"))

    def check(self, item_id: str, note: str, *, force: bool = False) -> ItemView:
        """A person ticks an item, with a note saying what was done."""
        it = item(item_id)
        if not note.strip():
            raise UsageError(
                "a check needs a note saying what was done",
                hint=f'cutover check {it.id} --note "…"',
            )
        current = self.view(it)
        if current.status == "done" and current.by == "cutover":
            raise UsageError(
                f"{it.id} is already done: ticked by `cutover run --phase {it.phase}` at "
                f"{current.at}",
                hint="`cutover status` lists the items that still need a person",
            )
        if current.status == "failed" and not force:
            raise UsageError(
                f"{it.id} failed its last automatic check: "
                f"{'; '.join(current.evidence[:3]) or 'see cutover status'}",
                hint=f"fix it and run `cutover run --phase {it.phase}` again, or pass --force "
                "to accept it with your note",
            )
        entry = self.data["items"].setdefault(it.id, {})
        entry["checked"] = {"at": now(), "note": redact(note.strip()), "over": current.status}
        return self.view(it)

    def uncheck(self, item_id: str) -> ItemView:
        """Take a person's tick back."""
        it = item(item_id)
        self.data["items"].get(it.id, {}).pop("checked", None)
        return self.view(it)

    def view(self, it: Item) -> ItemView:
        """The item's status from its results and checks."""
        entry = self.data["items"].get(it.id, {})
        checked = entry.get("checked")
        results: dict[str, dict[str, Any]] = entry.get("results", {})
        evidence = self._evidence(results)
        if checked:
            over = f" (over a {checked['over']} check)" if checked.get("over") == "failed" else ""
            return ItemView(it, "done", checked["at"], "person", evidence, checked["note"] + over)
        if not results:
            return ItemView(it, "open")
        needed = [PROJECT] if PROJECT in results else (self.databases or list(results))
        statuses = [results[s]["status"] if s in results else "open" for s in needed]
        at = max(r["at"] for r in results.values())
        status = (
            "failed"
            if "failed" in statuses
            else "stale"
            if "stale" in statuses
            else "done"
            if all(s == "done" for s in statuses)
            else "open"
        )
        return ItemView(it, status, at, "cutover", evidence)

    def _evidence(self, results: dict[str, dict[str, Any]]) -> list[str]:
        many = len(self.databases) > 1
        lines = []
        for scope, result in results.items():
            prefix = f"{scope}: " if many and scope != PROJECT else ""
            lines += [prefix + e for e in result["evidence"]]
        return lines

    def views(self, phase: int | None = None) -> list[ItemView]:
        """Every item (of one phase) with its status."""
        return [self.view(it) for it in items(phase)]

    # -- files -----------------------------------------------------------------------------------

    def save(self) -> Path:
        """Write state.json (with each item's and phase's derived status, for CI) and the
        Markdown copies.
        """
        from cutover.envfiles.backup import write_atomic

        self.data["updated_at"] = now()
        for p in PHASES:
            self.data["phases"].setdefault(str(p), {"runs": {}})["status"] = self.phase_status(p)
        for v in self.views():
            entry = self.data["items"].setdefault(v.item.id, {})
            entry.update(
                phase=v.item.phase,
                text=v.item.text,
                auto=v.item.auto,
                status=v.status,
                at=v.at,
                by=v.by,
                evidence=v.evidence,
                note=v.note,
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / STATE_FILE
        write_atomic(
            path, (json.dumps(self.data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        )
        copies = self.workdir / COPIES_DIR
        copies.mkdir(exist_ok=True)
        for p in PHASES:
            write_atomic(copies / f"phase{p}.md", self.render(p).encode("utf-8"))
        return path

    def render(self, phase: int) -> str:
        """The phase's template with every item ticked or not, and its evidence below it."""
        by_id = {v.item.id: v for v in self.views(phase)}
        out: list[str] = []
        for line in template_text(phase).splitlines():
            m = _ITEM.match(line)
            if not m:
                out.append(line)
                if line.startswith("# "):
                    out += [
                        "",
                        "<!-- Written by cutover from its template and state.json; edits here "
                        'are overwritten. Tick an item: cutover check ID --note "…" -->',
                    ]
                continue
            v = by_id[m["id"]]
            out.append(("- [x] " if v.status == "done" else "- [ ] ") + line[6:])
            out += [f"  - {text}" for text in item_lines(v)]
        return "\n".join(out) + "\n"


def item_lines(v: ItemView) -> list[str]:
    """What is said under an item: who ticked it when,
    or why it is open or failed, then the evidence.
    """
    if v.status == "done" and v.by == "person":
        head = [f"✓ {v.at} checked by a person: {v.note}"]
    elif v.status == "done":
        head = [f"✓ {v.at} by `cutover run --phase {v.item.phase}`"]
    elif v.status == "failed":
        head = [f"✗ FAILED {v.at} (`cutover run --phase {v.item.phase}`)"]
    elif v.status == "stale":
        head = [f"un-ticked {v.at}: no longer true — `cutover run --phase {v.item.phase}` again"]
    elif v.at:
        head = [f'open {v.at}: needs a person — `cutover check {v.item.id} --note "…"`']
    else:
        return []
    return head + v.evidence


def next_step(state: State) -> str:
    """What the user should do now, from the plan, the phases and the checklists."""
    plan = state.data.get("plan")
    statuses = {n: state.phase_status(n) for n in PHASE_TITLES}
    for n, st in statuses.items():
        if st == "interrupted":
            return f"phase {n} was interrupted; `cutover run --phase {n}` " + (
                "resumes the load where it stopped" if n == 2 else "runs it again"
            )
        if st == "failed":
            return (
                f"fix what failed in phase {n} (the reason is listed under failed), then "
                f"`cutover run --phase {n}` again"
            )
    if statuses[1] == "pending" and not state.runs(1):
        if plan is None:
            return "`cutover plan` assesses what moves, how each column is cast and what will break"
        if not plan["ok"]:
            return (
                "fix the plan's blockers (`cutover plan` lists them), then run `cutover plan` again"
            )
    for n, st in statuses.items():
        if st != "done":
            why = [r["summary"] for r in state.runs(n).values() if r["status"] == "pending"]
            return (
                f"`cutover run --phase {n}`: {PHASE_TITLES[n]}"
                + (" (answer y to write the files, or add --yes)" if st == "declined" else "")
                + (f" — {why[0]}" if why else "")
            )
    waiting = [v for v in state.views() if v.status != "done"]
    if waiting:
        first = waiting[0]
        return (
            f"{len(waiting)} checklist item(s) still open; next: {first.item.id} — "
            f'{first.item.text} → `cutover check {first.item.id} --note "…"`'
        )
    return "every phase and checklist item is done: attach report/report.html to the change request"
