"""The final report: plan, per-phase results, parity, rejects, checklists and timings — to attach to
a change request.

Built only from what the runs saved under the workdir (plan.json, results/phaseN.json, state.json),
so it can be written again at any time (`cutover report`); rendered as Markdown and as one
self-contained HTML page in `<workdir>/report/`. Every value in those files is already redacted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cutover import urls
from cutover.config import Config
from cutover.envfiles.backup import write_atomic
from cutover.phases.checklists import PHASE_TITLES, State, item_lines, next_step, now
from cutover.phases.document import Document, to_html, to_markdown
from cutover.phases.plan import PLAN_FILE
from cutover.phases.plan_render import code_section, plan_document
from cutover.phases.results import load_result
from cutover.proof.report import human_bytes, reasons_text

REPORT_DIR = "report"
MAX_REJECT_REASONS = 5  # reasons listed per table; the reject file has every row


def finish(config: Config, workdir: Path, state: State) -> Path:
    """Save the state and checklist copies, and write the final report; returns the HTML page."""
    state.save()
    _md, page = write(config, workdir, state)
    return page


def write(config: Config, workdir: Path, state: State) -> tuple[Path, Path]:
    """Write report.md and report.html under <workdir>/report/; returns both paths."""
    doc = build(config, workdir, state, next_step(state))
    folder = workdir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "report.md", folder / "report.html"
    write_atomic(md, to_markdown(doc).encode("utf-8"))
    write_atomic(page, to_html(doc).encode("utf-8"))
    return md, page


def build(config: Config, workdir: Path, state: State, next_text: str) -> Document:
    """The report as a Document."""
    doc = Document(f"Cutover report — {config.base_dir.name}")
    doc.para(f"Written {now()} from `{config.path}` and `{workdir}`. Passwords are shown as ***.")
    _summary(doc, state, next_text)
    doc.heading(1, "Databases")
    doc.table(
        ["database", "env key", "source", "target"],
        [
            [d.name, d.env_key, urls.redact(d.source), urls.redact(d.target)]
            for d in config.databases
        ],
    )
    doc.heading(1, "Plan")
    plan_path = workdir / PLAN_FILE
    if plan_path.exists():
        doc.extend(
            plan_document(json.loads(plan_path.read_text(encoding="utf-8")), next_step=False),
            shift=1,
        )
    else:
        doc.para("`cutover plan` has not been run.")
    for n, render in ((1, _phase1), (2, _phase2), (3, _phase3)):
        doc.heading(1, f"Phase {n} — {PHASE_TITLES[n]}")
        data = load_result(workdir, n)
        if data is None:
            doc.para("Not run yet.")
        else:
            render(doc, data)
    _checklists(doc, state)
    _timings(doc, state, plan_path)
    return doc


def _summary(doc: Document, state: State, next_text: str) -> None:
    doc.heading(1, "Summary")
    rows = []
    for n, title in PHASE_TITLES.items():
        runs = state.runs(n)
        views = state.views(n)
        done = sum(v.status == "done" for v in views)
        last = max((r["at"] for r in runs.values()), default="")
        seconds = sum(r.get("seconds") or 0 for r in runs.values())
        result = "; ".join(
            f"{d}: {r['error'] or r['summary']}" if len(runs) > 1 else (r["error"] or r["summary"])
            for d, r in runs.items()
        )
        rows.append(
            [
                f"{n} — {title}",
                state.phase_status(n),
                last,
                f"{seconds:.1f}" if seconds else "",
                f"{done}/{len(views)}",
                result,
            ]
        )
    doc.table(["phase", "status", "last run", "seconds", "checklist", "result"], rows, right=(3,))
    doc.para(f"Next: {next_text}")


def _phase1(doc: Document, data: dict[str, Any]) -> None:
    first = data.get("first_rewrite")
    if first and not any(f["changes"] for f in data["files"]):
        doc.para(
            f"The last run ({data['at']}) found nothing left to change; the rewrite below is "
            "the one it keeps."
        )
        data = {**data, **first}
    changes = [
        [f["path"], str(c["line"]), c["key"] or "(inline)", c["database"], c["before"], c["after"]]
        for f in data["files"]
        for c in f["changes"]
    ]
    doc.para(
        f"{len(changes)} value(s) rewritten in {len(data['files'])} file(s) at {data['at']}"
        + (
            f"; backup {data['backup']} (`cutover env restore` undoes it)."
            if data["backup"]
            else "."
        )
    )
    if changes:
        doc.table(["file", "line", "key", "database", "before", "after"], changes, right=(1,))
    if data["diff"]:
        doc.code(data["diff"])
    doc.bullets(data["notes"])


def _phase2(doc: Document, data: dict[str, Any]) -> None:
    for name, rep in data["databases"].items():
        doc.heading(2, f"{name} → {rep['target']}")
        tables = rep["tables"]
        rows = [
            [
                t["table"] if t["table"] == t["target"] else f"{t['table']} → {t['target']}",
                f"{t['read']:,}",
                f"{t['written']:,}",
                f"{t['rejected']:,}",
                human_bytes(t["bytes"]),
                f"{t['seconds']:.2f}",
            ]
            for t in tables
        ]
        rows.append(
            [
                "total",
                f"{sum(t['read'] for t in tables):,}",
                f"{sum(t['written'] for t in tables):,}",
                f"{rep['rejected']:,}",
                human_bytes(sum(t["bytes"] for t in tables)),
                f"{rep['seconds']:.2f}",
            ]
        )
        doc.para(
            f"Loaded at {rep['at']}; read = written + rejected for every table."
            + (f" Schema as code: `{rep['revisions_dir']}`." if rep["revisions_dir"] else "")
        )
        doc.table(
            ["table", "read", "written", "rejected", "bytes", "seconds"],
            rows,
            right=(1, 2, 3, 4, 5),
        )
        doc.heading(3, "Rejects")
        rejected = [t for t in tables if t["rejected"]]
        if rejected:
            doc.table(
                ["table", "rejected", "reasons", "reject file"],
                [
                    [
                        t["table"],
                        f"{t['rejected']:,}",
                        reasons_text(t["reasons"], MAX_REJECT_REASONS),
                        t["rejects_path"] or "",
                    ]
                    for t in rejected
                ],
                right=(1,),
            )
        else:
            doc.para("No row was rejected.")
        doc.bullets(rep["notes"])


def _phase3(doc: Document, data: dict[str, Any]) -> None:
    doc.para(f"Verified at {data['at']}.")
    for name, db in data["databases"].items():
        doc.heading(
            2, f"Parity: {name} → {db['target']} — {'OK' if db['ok'] else 'DIFFERENCES FOUND'}"
        )
        if db["stale_source"]:
            doc.para("The source changed after the load; it was read again to compare.")
        doc.table(
            ["table", "source", "rejected", "expected", "target", "digests", "seconds", "status"],
            [
                [
                    t["table"],
                    f"{t['source_rows']:,}",
                    f"{t['rejected']:,}",
                    f"{t['expected_rows']:,}",
                    f"{t['target_rows']:,}",
                    t["digests_from"],
                    f"{t['seconds']:.2f}",
                    "ok" if t["ok"] else "MISMATCH",
                ]
                for t in db["tables"]
            ],
            right=(1, 2, 3, 4, 6),
        )
        doc.bullets(
            [f"schema: {i['table']}: {i['subject']}: {i['problem']}" for i in db["schema_issues"]]
        )
        for t in db["tables"]:
            if t["differences"]:
                doc.code(
                    "\n".join(
                        f"{d['kind']} {json.dumps(d['key'], ensure_ascii=False, default=str)}"
                        + (
                            f" column {d['column']}: source {d['source']} ≠ target {d['target']}"
                            if d["kind"] == "changed"
                            else ""
                        )
                        for d in t["differences"]
                    )
                )
        if db["accepted"]:
            doc.heading(3, "Differences the load recorded on purpose")
            doc.bullets([a["reason"] for a in db["accepted"]])
    doc.heading(2, "Leftover references")
    doc.para(
        "Env files, compose files and scripts: "
        + (
            "none point at SQLite or SQL Server."
            if not data["env_leftovers"]
            else f"{len(data['env_leftovers'])} still do (phase 3 fails):"
        )
    )
    doc.bullets(data["env_leftovers"])
    doc.para(
        "Code and docs (warnings): "
        + ("none." if not data["code_leftovers"] else f"{len(data['code_leftovers'])}:")
    )
    doc.bullets(data["code_leftovers"])
    if data.get("code") is not None:
        _code_proofs(doc, data["code"])
    doc.heading(2, "The application's tests")
    tests = data["app_tests"]
    if tests is None:
        doc.para(
            'Not run (`cutover run --phase 3 --app-tests "CMD"` runs them with the env keys '
            "pointing at PostgreSQL)."
        )
    else:
        verdict = (
            "passed"
            if tests["returncode"] == 0
            else (
                "timed out"
                if tests["returncode"] is None
                else f"failed (exit {tests['returncode']})"
            )
        )
        doc.para(
            f"`{tests['command']}` {verdict} in {tests['seconds']:.1f}s; full log: "
            f"`{tests['log']}`."
        )
        if tests["tail"]:
            doc.code("\n".join(tests["tail"]))


def _code_proofs(doc: Document, code: list[dict[str, Any]]) -> None:
    """Each statement's rewrite and what running both sides on the loaded data showed."""
    proofs = {f"{c['path']}:{c['line']}": c["proof"] for c in code}
    code_section(doc, code, proofs, level=2)
    for c in code:
        proof = c["proof"]
        if proof["status"] == "different" and proof.get("source_row") is not None:
            doc.para(
                f"{c['path']}:{c['line']} first differing row — source: {proof['source_row']}, "
                f"PostgreSQL: {proof['target_row']}"
            )


def _checklists(doc: Document, state: State) -> None:
    doc.heading(1, "Checklists")
    for n, title in PHASE_TITLES.items():
        views = state.views(n)
        doc.heading(
            2, f"Phase {n} — {title}: {sum(v.status == 'done' for v in views)}/{len(views)} done"
        )
        items = []
        for v in views:
            mark = "[x]" if v.status == "done" else "[!]" if v.status == "failed" else "[ ]"
            detail = item_lines(v)
            items.append(
                f"{mark} `{v.item.id}` {v.item.text}"
                + (" — " + " · ".join(detail) if detail else "")
            )
        doc.bullets(items)


def _timings(doc: Document, state: State, plan_path: Path) -> None:
    doc.heading(1, "Timings")
    rows = []
    estimates: dict[str, float] = {}
    if plan_path.exists():
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        estimates = {
            d["name"]: d["estimate"]["total_seconds"] for d in plan["databases"] if d["estimate"]
        }
    for n, title in PHASE_TITLES.items():
        for name, run in state.runs(n).items():
            estimate = f"{estimates[name]:.1f}" if n == 2 and name in estimates else ""
            rows.append(
                [
                    f"phase {n} — {title}",
                    name,
                    run["status"],
                    run["at"],
                    f"{run['seconds']:.1f}" if run.get("seconds") is not None else "",
                    estimate,
                ]
            )
    doc.table(
        ["phase", "database", "status", "at", "seconds", "planned seconds"], rows, right=(4, 5)
    )
