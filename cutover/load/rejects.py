"""Reject files: one JSON line per row that could not be carried, with key, column, value, reason.

Lines are written and synced before the transaction that accounts for them commits; a resumed
load first trims a file back to the count its committed progress records, so a crash between the
two never leaves a line twice or loses one.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

from cutover.schema.naming import short_hash
from cutover.values.coerce import json_safe, preview

FILE_MODE = 0o600  # rejected rows are the app's data: readable by their owner only, like backups
_PLAIN = re.compile(r"[a-z0-9_]{1,100}")  # names that are file names as they are, on any filesystem
_STEM_CHARS = 100  # room for the hash, the chunk label and ".jsonl" within a 255-byte file name


def file_safe(name: str) -> str:
    """A table name as a file name no other table's can equal, even on a case-insensitive disk.

    A lower-case ASCII name is kept (`order_items`); any other gets its ASCII letters, digits and
    `_` lower-cased, then `.` and 8 hex of its hash (`order_items.1b2c3d4e` for `order items`,
    `users.5e6f7a8b` for `Users`). A kept name has no `.`, so the two kinds never meet.
    """
    if _PLAIN.fullmatch(name):
        return name
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in name)
    return f"{safe[:_STEM_CHARS].lower()}.{short_hash(name)}"


def table_file(directory: Path, table: str) -> Path:
    """<rejects dir>/<table>.jsonl, the file a person reads (and verify excludes)."""
    return directory / f"{file_safe(table)}.jsonl"


def part_file(directory: Path, table: str, chunk: int) -> Path:
    """The file one chunk (or, for chunk -1, the post-load checks) writes while loading."""
    label = "post-load" if chunk < 0 else f"chunk{chunk:04d}"
    return directory / "parts" / f"{file_safe(table)}.{label}.jsonl"


def loaded_value(value: Any) -> Any:
    """A value read back from the target, in the form the source held it, for a reject file.

    Rows rejected after the load (unique and foreign keys, checks) come back from Postgres: JSON
    as parsed objects, timestamps as datetimes. The file keeps what the source stored: JSON as
    its text, date and time values in ISO form, decimals and UUIDs as text.
    """
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    return json_safe(value)


def _open_private(path: Path, mode: str) -> IO[Any]:
    """Open for writing with FILE_MODE (a file that exists is narrowed to it too)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


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
            self._fh = _open_private(self.path, "a")
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
    with _open_private(tmp, "wb") as out:
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
