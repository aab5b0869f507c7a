"""Plain-text renderings of results: the end-of-run table and findings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cutover.load.pipeline import TableResult
from cutover.schema.model import Finding

if TYPE_CHECKING:  # pragma: no cover
    from cutover.proof.verify import VerifyResult


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> str:
    """A fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), sep, *(fmt(r) for r in cells[1:])])


def human_bytes(n: int) -> str:
    """1536 → '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def load_table(results: Sequence[TableResult]) -> str:
    """table | read | written | rejected | bytes | seconds, with a total line."""
    rows = [
        [
            r.table if r.table == r.target else f"{r.table} → {r.target}",
            f"{r.read:,}",
            f"{r.written:,}",
            f"{r.rejected:,}",
            human_bytes(r.bytes),
            f"{r.seconds:.2f}",
        ]
        for r in results
    ]
    total = TableResult(
        "total",
        "total",
        sum(r.read for r in results),
        sum(r.written for r in results),
        sum(r.rejected for r in results),
        sum(r.bytes for r in results),
        sum(r.seconds for r in results),
    )
    rows.append(
        [
            "total",
            f"{total.read:,}",
            f"{total.written:,}",
            f"{total.rejected:,}",
            human_bytes(total.bytes),
            f"{total.seconds:.2f}",
        ]
    )
    return table(
        ["table", "read", "written", "rejected", "bytes", "seconds"], rows, right=(1, 2, 3, 4, 5)
    )


def reasons_text(reasons: dict[str, int], most: int | None = None) -> str:
    """'4 × invalid JSON, 1 × orphaned foreign key …', most frequent first."""
    ranked = sorted(reasons.items(), key=lambda kv: -kv[1])[:most]
    return ", ".join(f"{n} × {why}" for why, n in ranked)


def findings(items: Sequence[Finding]) -> str:
    """One line per finding, most severe first."""
    order = {"blocker": 0, "warning": 1, "info": 2}
    lines = []
    for f in sorted(items, key=lambda f: order[f.severity]):
        line = f"  [{f.severity}] {f.message}"
        if f.fix:
            line += f"\n            fix: {f.fix}"
        lines.append(line)
    return "\n".join(lines)


def parity(result: VerifyResult) -> str:
    """Per database: a table of counts and status, then schema issues and differing rows."""
    from cutover.proof.verify import table_details

    out = []
    for db in result.databases:
        out.append(f"{db.database} → {db.target}: {'OK' if db.ok else 'DIFFERENCES FOUND'}")
        out.append(f"  compared with {db.compared_with}")
        if db.stale_source:
            out.append("  note: the source changed since the load; it was read again to compare")
        rows = [
            [
                t.table,
                f"{t.source_rows:,}",
                f"{t.rejected:,}",
                f"{t.target_rows:,}",
                t.digests_from,
                f"{t.seconds:.2f}",
                "ok" if t.ok else "MISMATCH",
            ]
            for t in db.tables
        ]
        out.append(
            table(
                ["table", "source", "rejected", "target", "digests", "seconds", "status"],
                rows,
                right=(1, 2, 3, 5),
            )
        )
        for issue in db.schema_issues:
            out.append(f"  schema: {issue.table}: {issue.subject}: {issue.problem}")
        for t in db.tables:
            if not t.ok:
                out.append(table_details(t))
            for c in t.changed:
                out.append(
                    f"  {t.table}: equal under {c.policy}: {c.values:,} value(s) of {c.column} "
                    "changed on purpose"
                )
        for v in db.views:
            shown = f"rows {v.rows:,} = {v.rows:,}" if v.status == "same" else v.reason
            out.append(f"  view {v.view}: {v.status} — {shown}")
            if v.source_row is not None or v.target_row is not None:
                out.append(f"    source: {v.source_row}\n    target: {v.target_row}")
        if db.accepted:
            out.append(f"  {len(db.accepted)} difference(s) recorded on purpose by the load:")
            out.extend(f"    {a.reason}" for a in db.accepted)
    verdict = "parity: every table matches" if result.ok else "parity: FAILED"
    return "\n".join(out + [verdict])
