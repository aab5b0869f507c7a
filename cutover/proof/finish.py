"""Leaving cleanly: after a passing verify, keep the proof as files and remove `_cutover`.

The export holds everything the proof rests on (manifest, chunk counts, bucket digests, rejected
keys with reasons, values changed under a policy, and the verify result), one JSON file per kind,
so a change request can cite it after the target no longer carries cutover's schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cutover import urls
from cutover.config import Config
from cutover.errors import ChecksFailed, UsageError
from cutover.load import state
from cutover.load import target as tgt
from cutover.proof.verify import VerifyResult, verify

PROOF_DIR = "proof"  # under the report folder: one folder per database


@dataclass
class Finished:
    """What finish did for one database."""

    database: str
    target: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    removed: bool = False  # its rows were deleted from _cutover
    dropped: bool = False  # the _cutover schema itself is gone (no other database's state left)


@dataclass
class FinishResult:
    """Finish over the selected databases, and the verify it rests on."""

    verification: VerifyResult
    databases: list[Finished]


def finish(
    config: Config,
    workdir: Path,
    report_dir: Path,
    *,
    database: str | None = None,
    confirm: Callable[[str], bool],
) -> FinishResult:
    """Verify; export each database's proof under
    report_dir; drop `_cutover` if confirm says yes.
    """
    result = verify(config, workdir, database=database)
    if not result.ok:
        raise ChecksFailed(
            "verify does not pass, so the proof is not exported and _cutover stays",
            hint="`cutover verify` names the differences; fix them (or load again), then finish",
        )
    done = []
    for db in config.database(database):
        conn = tgt.connect(db.target, autocommit=True)
        try:
            lock = state.RunLock.take(
                tgt.connect(db.target, autocommit=True, application_name="cutover finish"),
                db.name,
            )
            try:
                target = urls.redact(db.target)
                folder = report_dir / PROOF_DIR / db.name
                item = Finished(db.name, target, folder)
                item.files = _write(folder, state.export(conn, db.name), result, db.name)
                question = (
                    f"{db.name}: the proof is saved in {folder}; remove cutover's run state "
                    f"(schema {state.SCHEMA}) from {target}?"
                )
                if confirm(question):
                    item.dropped = state.remove(conn, db.name)
                    item.removed = True
                done.append(item)
            finally:
                lock.release()
        finally:
            conn.close()
    return FinishResult(result, done)


def _write(
    folder: Path, exported: dict[str, list[dict[str, object]]], result: VerifyResult, name: str
) -> list[Path]:
    if not exported.get("manifest"):
        raise UsageError(
            f"no load of {name} is recorded in the target", database=name, hint="nothing to finish"
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for kind, rows in exported.items():
        path = folder / f"{kind}.json"
        path.write_text(json.dumps(rows, indent=1, ensure_ascii=False, default=str) + "\n", "utf-8")
        files.append(path)
    path = folder / "verify.json"
    path.write_text(result.to_json() + "\n", "utf-8")
    return [*files, path]
