"""Preflight of the files a phase writes: checked before its first change, one line per failure.

The target's side (server, privileges, pgvector) is `load.preflight.check_target`; this module
checks the local side: the workdir (state, checklists, results, reject files, backups), the
Alembic revisions folder, the env files phase 1 rewrites, and the disk space a load needs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cutover.config import Config, DatabaseConfig
from cutover.errors import FileError, file_error
from cutover.load.run import revisions_folder, revisions_owner
from cutover.schema.owner import check_owner

# Room a phase 2 needs in the workdir for reject files, results and the report: a load that runs
# out of space writes its rejects mid-way (after rows were committed), so it must not start below.
MIN_FREE_BYTES = 64 * 1024 * 1024


def preflight_workdir(workdir: Path) -> None:
    """The workdir exists (it is created) and this user may write in it."""
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise file_error(exc, "cannot create the workdir") from None
    writable(workdir, "the workdir")


def writable(folder: Path, what: str) -> None:
    """A FileError naming `folder` unless a file can be created in it (or its nearest parent)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".cutover-probe-", dir=probe)
    except OSError as exc:
        exc.filename, exc.filename2 = (
            str(folder.absolute()),
            None,
        )  # the folder, not the probe's name
        raise file_error(exc, f"cannot write in {what}") from None
    os.close(fd)
    os.unlink(name)


def preflight_phase1(root: Path, paths: list[str], workdir: Path) -> None:
    """Every env file phase 1 would rewrite (and its folder) and the backup folder are writable."""
    writable(workdir / "backups", "the backup folder")
    for rel in paths:
        path = (root / rel).resolve()
        if not os.access(path, os.W_OK):
            raise FileError(
                f"cannot rewrite {path}: it is not writable",
                hint="make it writable for this user (chmod/chown); nothing was changed",
            )
        writable(path.parent, f"the folder of {rel}")


def preflight_phase2(config: Config, db: DatabaseConfig, workdir: Path) -> None:
    """The revisions folder is this config's and writable, so are the rejects; the disk has room."""
    writable(workdir / "rejects" / db.name, "the rejects folder")
    if db.schema_mode == "create":
        folder = revisions_folder(config, db)
        check_owner(folder, revisions_owner(config, db))
        writable(folder, "the revisions folder")
    free = shutil.disk_usage(workdir).free
    if free < MIN_FREE_BYTES:
        raise FileError(
            f"only {free // (1024 * 1024)} MiB free for reject files and results: {workdir}",
            hint=f"free at least {MIN_FREE_BYTES // (1024 * 1024)} MiB there, "
            "or pass --workdir DIR on a disk with room",
        )
