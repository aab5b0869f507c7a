"""Reject files: one JSON line per row that could not be carried, with key, column, value, reason.

Lines are written and synced before the transaction that accounts for them commits; a resumed
load first trims a file back to the count its committed progress records, so a crash between the
two never leaves a line twice or loses one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from cutover.values.coerce import preview


def file_safe(name: str) -> str:
    """A table name as a file name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def table_file(directory: Path, table: str) -> Path:
    """<rejects dir>/<table>.jsonl, the file a person reads (and verify excludes)."""
    return directory / f"{file_safe(table)}.jsonl"


def part_file(directory: Path, table: str, chunk: int) -> Path:
    """The file one chunk (or, for chunk -1, the post-load checks) writes while loading."""
    label = "post-load" if chunk < 0 else f"chunk{chunk:04d}"
    return directory / "parts" / f"{file_safe(table)}.{label}.jsonl"


class RejectLog:
    """Appends reject records to one file, keeping only the first `keep` lines already there."""

    def __init__(self, path: Path, keep: int = 0) -> None:
        self.path = path
        self.count = keep
        self.reasons: dict[str, int] = {}
        self._fh: IO[str] | None = None
        if path.exists():
            _truncate_lines(path, keep)

    def add(
        self,
        *,
        key: dict[str, Any],
        column: str | None,
        value: Any,
        reason: str,
        row: dict[str, Any],
        stage: str,
    ) -> None:
        """Append one reject record (the whole row is kept so nothing is lost)."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        record = {
            "key": key,
            "column": column,
            "value": preview(value),
            "reason": reason,
            "stage": stage,
            "row": row,
        }
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1
        short = reason.split(":")[0]
        self.reasons[short] = self.reasons.get(short, 0) + 1

    def sync(self) -> None:
        """Make the lines durable before the transaction that counts them commits."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _truncate_lines(path: Path, keep: int) -> None:
    with path.open("r+b") as fh:
        if keep <= 0:
            fh.truncate(0)
            return
        for _ in range(keep):
            if not fh.readline():
                return
        fh.truncate(fh.tell())


def merge(directory: Path, table: str, parts: list[Path]) -> Path:
    """Concatenate a table's part files (chunk order, post-load last) into its reject file."""
    target = table_file(directory, table)
    existing = [p for p in parts if p.exists() and p.stat().st_size]
    if not existing:
        if target.exists():
            target.unlink()
        return target
    tmp = target.with_suffix(".jsonl.tmp")
    with tmp.open("wb") as out:
        for part in existing:
            out.write(part.read_bytes())
    tmp.replace(target)
    return target


def reasons_in(path: Path) -> dict[str, int]:
    """How many rejects per (short) reason a reject file holds."""
    counts: dict[str, int] = {}
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                short = json.loads(line)["reason"].split(":")[0]
                counts[short] = counts.get(short, 0) + 1
    return counts
