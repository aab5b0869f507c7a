"""Atomic writes that keep a file's mode, and the backups `cutover env restore` rolls back to.

A backup is `<workdir>/backups/env/<id>/`: `manifest.json` (root, and per file its path, mode and
the sha256 of the bytes before and after the rewrite) and `files/<path>` with the original bytes.
Backups hold the user's env files, secrets included, so they are readable by the owner only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cutover.errors import UnknownChoiceError, UsageError

BACKUP_DIR = Path("backups") / "env"
MANIFEST = "manifest.json"
RESTORED = "restored.json"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class Written:
    """One file a rewrite changes: its path, and the bytes before and after."""

    path: Path
    rel: str
    before: bytes
    after: bytes


@dataclass(frozen=True)
class Restored:
    """What a restore did: the backup used, files put back, files already original."""

    backup: str
    restored: tuple[str, ...]
    unchanged: tuple[str, ...]
    remaining: int  # older backups not restored yet


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename; the
    file's mode is kept, a symlink's target is written.
    """
    real = path.resolve()
    mode = stat.S_IMODE(real.stat().st_mode) if real.exists() else 0o644
    tmp = real.with_name(f".{real.name}.cutover-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(workdir: Path, root: Path, files: list[Written]) -> Path:
    """Keep the original bytes of `files` under a new backup folder; returns that folder."""
    base = workdir / BACKUP_DIR
    base.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = base / stamp
    folder.mkdir(mode=PRIVATE_DIR)
    entries = []
    for item in files:
        copy = folder / "files" / item.rel
        copy.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.before)
        entries.append(
            {
                "path": item.rel,
                "mode": stat.S_IMODE(item.path.resolve().stat().st_mode),
                "before_sha256": _sha(item.before),
                "after_sha256": _sha(item.after),
            }
        )
    manifest = {"root": str(root.resolve()), "created": stamp, "files": entries}
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=2).encode())
    return folder


def backups(workdir: Path) -> list[str]:
    """Backup ids, oldest first, restored ones left out."""
    base = workdir / BACKUP_DIR
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir() if (p / MANIFEST).is_file() and not (p / RESTORED).exists()
    )


def restore(workdir: Path, backup: str | None = None, *, force: bool = False) -> Restored:
    """Put back the files of one backup (the latest by default); refuses files edited since,
    unless `force`.
    """
    available = backups(workdir)
    if backup is None:
        if not available:
            raise UsageError(
                f"no env backup to restore in {workdir / BACKUP_DIR}",
                hint="`cutover env rewrite --apply` makes one",
            )
        backup = available[-1]
    elif backup not in available:
        raise UnknownChoiceError("backup", backup, available, path=str(workdir / BACKUP_DIR))
    folder = workdir / BACKUP_DIR / backup
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    root = Path(manifest["root"])
    plan: list[tuple[Path, bytes, int]] = []
    unchanged: list[str] = []
    edited: list[str] = []
    for entry in manifest["files"]:
        target = root / entry["path"]
        original = (folder / "files" / entry["path"]).read_bytes()
        current = _sha(target.read_bytes()) if target.exists() else None
        if current == entry["before_sha256"]:
            unchanged.append(entry["path"])
        elif current != entry["after_sha256"] and not force:
            edited.append(entry["path"])
        else:
            plan.append((target, original, entry["mode"]))
    if edited:
        raise UsageError(
            f"{len(edited)} file(s) changed since backup {backup}: {', '.join(edited)}",
            hint="restore anyway with --force (those edits are lost), or copy what you need first",
            path=str(root / edited[0]),
        )
    for target, original, mode in plan:
        write_atomic(target, original)
        os.chmod(target.resolve(), mode)
    write_atomic(folder / RESTORED, json.dumps({"restored": [str(p) for p, _, _ in plan]}).encode())
    restored = tuple(sorted(p.relative_to(root).as_posix() for p, _, _ in plan))
    return Restored(backup, restored, tuple(sorted(unchanged)), len(available) - 1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
