"""The plan as a Document, built from its plain-data
form (so a saved plan.json renders the same).
"""

from __future__ import annotations

from typing import Any

from cutover.phases.document import Document
from cutover.proof.report import human_bytes

SEVERITY_ORDER = {"blocker": 0, "warning": 1, "info": 2}
CODE_STATUSES = ("compatible", "rewritten", "manual")
MAX_LEFTOVERS_SHOWN = 20  # code leftovers listed in the plan; `cutover env scan` lists them all


def plan_document(
    data: dict[str, Any], *, title: str = "cutover plan", next_step: bool = True
) -> Document:
    """Summary, then per database its source, target, findings, tables and columns; the env
    files; what is next.
    """
    doc = Document(title)
    counts = data["summary"]
    doc.para(
        f"`{data['config']}` · {data['generated_at']} · {len(data['databases'])} database(s) · "
        f"{counts['blocker']} blocker(s), {counts['warning']} warning(s), {counts['info']} "
        "note(s)"
    )
    doc.para(
        "No blockers."
        if data["ok"]
        else f"BLOCKED: {counts['blocker']} blocker(s) must be fixed first (exit code 1)."
    )
    for db in data["databases"]:
        _database(doc, db)
    _env(doc, data["env"])
    code_section(doc, data.get("code", []))
    if next_step:
        doc.heading(1, "Next")
        doc.para(data["next"])
    return doc


def findings_table(doc: Document, findings: list[dict[str, Any]]) -> None:
    """severity | code | where | count | what | fix, most severe first."""
    rows = []
    for f in sorted(findings, key=lambda f: SEVERITY_ORDER[f["severity"]]):
        where = ".".join(p for p in (f.get("table"), f.get("column")) if p) or "—"
        count = f"{f['count']:,}" if f.get("count") is not None else ""
        rows.append([f["severity"], f["code"], where, count, f["message"], f.get("fix") or ""])
    if rows:
        doc.table(
            ["severity", "code", "where", "count", "finding", "fix"],
            rows,
            right=(3,),
            record_keys=4,
        )
    else:
        doc.para("No findings.")


def _database(doc: Document, db: dict[str, Any]) -> None:
    doc.heading(1, f"Database {db['name']} ({db['env_key']})")
    src, tgt = db["source"], db["target"]
    source = f"{src['kind']} {src['version'] or ''}".strip() + f" · `{src['url']}`"
    if src["size_bytes"] is not None:
        source += f" · {human_bytes(src['size_bytes'])}"
    if src["error"]:
        source += f" · UNREADABLE: {src['error']}"
    rows = [
        ["source", source + "".join(f" · {n}" for n in src["notes"])],
        ["target", _target_line(tgt)],
        ["privileges", _privileges(tgt)],
        ["pgvector", _vector_line(tgt)],
    ]
    rows.append(
        [
            "existing tables",
            ", ".join(tgt["existing_tables"][:10])
            + (" …" if len(tgt["existing_tables"]) > 10 else "")
            or "none",
        ]
    )
    rows.append(["schema", f"{db['mode']} (schema {db['target_schema']})"])
    total_rows = sum(t["rows"] for t in db["tables"])
    rows.append(["tables", f"{len(db['tables'])} table(s), {total_rows:,} row(s)"])
    est = db["estimate"]
    if est is not None:
        rows.append(
            [
                "phase 2 estimate",
                f"≈ {_duration(est['total_seconds'])} (profiling "
                f"{_duration(est['profile_seconds'])} + load {_duration(est['load_seconds'])}; "
                f"measured on {est['sampled_rows']:,} row(s): {est['measured']}; keys and "
                "indexes come on top)",
            ]
        )
    doc.table(["", db["name"]], rows)
    doc.heading(2, "Findings")
    findings_table(doc, db["findings"])
    if not db["tables"]:
        return
    doc.heading(2, "Tables")
    doc.table(
        ["table", "target", "rows", "sampled", "rows/s", "estimate"],
        [
            [
                t["source"],
                t["target"],
                f"{t['rows']:,}",
                f"{t['sampled_rows']:,}",
                f"{t['rows_per_second']:,.0f}" if t["rows_per_second"] else "",
                _duration(t["estimate_seconds"]) if t["estimate_seconds"] is not None else "",
            ]
            for t in db["tables"]
        ],
        right=(2, 3, 4, 5),
    )
    _rejects(doc, db["tables"])
    doc.heading(2, "Columns")
    for t in db["tables"]:
        doc.heading(
            3, t["source"] if t["source"] == t["target"] else f"{t['source']} → {t['target']}"
        )
        doc.table(
            ["column", "source type", "target type", "null", "coercion", "why"],
            [
                [
                    c["source"] if c["source"] == c["target"] else f"{c['source']} → {c['target']}",
                    c["declared"] or "(none)",
                    c["pg_type"],
                    "yes" if c["nullable"] else "no",
                    c["coercion"],
                    f"{c['reason']}: {c['why']}",
                ]
                for c in t["columns"]
            ],
        )


def _rejects(doc: Document, tables: list[dict[str, Any]]) -> None:
    """Per table, the rows phase 2 will reject and why (reject_estimate), cascade included."""
    losing = [t for t in tables if t.get("rejects")]
    if not losing:
        return
    doc.heading(2, "Rows phase 2 will reject")
    doc.table(
        ["table", "rows", "rejected", "share", "cascade", "why"],
        [
            [
                t["source"],
                f"{t['rows']:,}",
                f"{t['rejects']['rows']:,}",
                f"{t['rejects']['rows'] / t['rows']:.1%}" if t["rows"] else "",
                f"{t['rejects']['cascade']:,}",
                "; ".join(
                    f"{r['count']:,} {r['kind']}"
                    + (f" {r['column']}" if r["column"] else "")
                    + (f": {r['detail']}" if r["detail"] else "")
                    for r in t["rejects"]["reasons"]
                ),
            ]
            for t in losing
        ],
        right=(1, 2, 3, 4),
    )


def _target_line(tgt: dict[str, Any]) -> str:
    if not tgt["reachable"]:
        return f"`{tgt['url']}` · UNREACHABLE: {tgt['error']}"
    line = f"PostgreSQL {tgt['version']} · `{tgt['url']}`"
    if not tgt["database_exists"]:
        line += f" · database {tgt['database']} does not exist yet"
    return line


def _privileges(tgt: dict[str, Any]) -> str:
    if tgt["can_create"] is None:
        return "unknown (target not reached)"
    verb = "may create" if tgt["can_create"] else "may NOT create"
    return (
        f"user {tgt['user']} {verb} tables"
        if tgt["database_exists"]
        else f"user {tgt['user']} {verb} the database"
    )


def _vector_line(tgt: dict[str, Any]) -> str:
    if tgt["vector_installed"]:
        state = f"{tgt['vector_installed']} installed"
    elif tgt["vector_available"]:
        state = (
            f"{tgt['vector_available']} available (phase 2 runs CREATE EXTENSION when a "
            "column needs it)"
        )
    elif tgt["reachable"]:
        state = f"not available: {tgt['vector_hint']}"
    else:
        state = "unknown (target not reached)"
    return state + (
        " · needed by vector columns" if tgt["vector_needed"] else " · no vector column planned"
    )


def _env(doc: Document, env: dict[str, Any]) -> None:
    doc.heading(1, "Env files, compose files and scripts")
    files = len({c["path"] for c in env["changes"]})
    doc.para(
        f"{env['files']} file(s) read under `{env['root']}`; phase 1 would rewrite "
        f"{len(env['changes'])} value(s) in {files} file(s) (passwords shown as ***)."
    )
    if env["changes"]:
        doc.table(
            ["file", "line", "key", "database", "now", "after phase 1"],
            [
                [
                    c["path"],
                    str(c["line"]),
                    c["key"] or "(inline)",
                    c["database"],
                    c["before"],
                    c["after"],
                ]
                for c in env["changes"]
            ],
            right=(1,),
        )
    doc.bullets([f"note: {n}" for n in env["notes"]])
    if env["findings"]:
        doc.heading(2, "Findings")
        findings_table(doc, env["findings"])
    if env["code_leftovers"]:
        doc.heading(2, "References in code and docs (phase 3 lists them as warnings)")
        shown = env["code_leftovers"][:MAX_LEFTOVERS_SHOWN]
        more = len(env["code_leftovers"]) - len(shown)
        doc.bullets(shown + ([f"… and {more} more (`cutover env scan`)"] if more > 0 else []))


def code_section(
    doc: Document,
    items: list[dict[str, Any]],
    proofs: dict[str, dict[str, Any]] | None = None,
    level: int = 1,
) -> None:
    """The app's SQL by file: line, dialect, status
    (and the proof, once phase 3 ran), the rewrite.
    """
    doc.heading(level, "The app's SQL")
    if not items:
        doc.para("No SQL statement found in the app's Python files.")
        return
    counts = {s: sum(i["status"] == s for i in items) for s in CODE_STATUSES}
    doc.para(
        f"{len(items)} statement(s): {counts['compatible']} run as they are, "
        f"{counts['rewritten']} rewritten, {counts['manual']} need a person (`cutover code "
        "diff` writes the rewrites as a patch)."
    )
    by_file: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_file.setdefault(item["path"], []).append(item)
    for path, found in sorted(by_file.items()):
        doc.heading(level + 1, path)
        rows = []
        for i in found:
            proof = (proofs or {}).get(f"{i['path']}:{i['line']}")
            status = i["status"] + (f" · {proof['status']}" if proof else "")
            why = "; ".join(i["changes"]) + (
                f" — {proof['reason']}" if proof and proof.get("reason") else ""
            )
            rows.append(
                [
                    str(i["line"]),
                    i["dialect"],
                    status,
                    _flat(i["sql"]),
                    _flat(i["postgres_sql"] or "—"),
                    why,
                ]
            )
        doc.table(
            ["line", "dialect", "status", "sql", "postgres", "why"], rows, right=(0,), record_keys=3
        )


def _duration(seconds: float) -> str:
    """3.2 s, 4 min 10 s, 2 h 5 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def _flat(sql: str) -> str:
    """A statement on one line, for a table cell."""
    return " ".join(sql.split())
