"""Plain-text renderings of results: the end-of-run table and findings."""

from __future__ import annotations

from typing import Sequence

from cutover.pipeline import TableResult
from cutover.schema import Finding


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """A fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

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
    rows = [[r.table if r.table == r.target else f"{r.table} → {r.target}", f"{r.read:,}", f"{r.written:,}", f"{r.rejected:,}", human_bytes(r.bytes), f"{r.seconds:.2f}"] for r in results]
    total = TableResult("total", "total", sum(r.read for r in results), sum(r.written for r in results), sum(r.rejected for r in results), sum(r.bytes for r in results), sum(r.seconds for r in results))
    rows.append(["total", f"{total.read:,}", f"{total.written:,}", f"{total.rejected:,}", human_bytes(total.bytes), f"{total.seconds:.2f}"])
    return table(["table", "read", "written", "rejected", "bytes", "seconds"], rows, right=(1, 2, 3, 4, 5))


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
