"""Each phase's state from current evidence, so status and the report are never stale.

A phase recorded done stays done only while what it did still holds:

- phase 1: the env files as they are now no longer point the app's keys at SQLite/SQL Server
  (after `cutover env restore` they do again, and phase 1 is pending, `p1.rewrite` un-ticked);
- phase 2: the target's `_cutover` manifest says the load is complete (an incomplete one is an
  interrupted load to resume; none at all, a load that is gone) — unless `cutover finish` saved
  the proof and removed it. A target that cannot be reached is "not checked", never a failure;
- phase 3: the last verify is newer than the last phase 2 load (the manifest's loaded_at).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from cutover.config import Config, DatabaseConfig
from cutover.envfiles.api import ScanResult, env_scan
from cutover.errors import CutoverError
from cutover.load import state as load_state
from cutover.load import target as tgt
from cutover.phases.checklists import PROJECT, State
from cutover.phases.results import load_result
from cutover.urls import SOURCE_KINDS, redact

PROOF_FOLDER = ("report", "proof")  # under the workdir: what `cutover finish` saved per database


@dataclass
class Evidence:
    """What reconciling found: lines for the user, and whether the state changed."""

    notes: list[str] = field(default_factory=list)
    changed: bool = False


def reconcile(config: Config, workdir: Path, state: State, *, target: bool = True) -> Evidence:
    """Re-derive phases 1–3 from files, target and last verify; un-tick what is untrue."""
    found = Evidence()
    before = repr(state.data["phases"]) + repr(state.data["items"])
    _phase1(config, workdir, state, found)
    loaded: dict[str, str] = {}
    if target:
        for db in config.databases:
            at = _phase2(db, workdir, state, found)
            if at is not None:
                loaded[db.name] = at
    _phase3(config, state, loaded)
    found.changed = before != repr(state.data["phases"]) + repr(state.data["items"])
    return found


def _phase1(config: Config, workdir: Path, state: State, found: Evidence) -> None:
    done = [db for db in config.databases if state.phase_done(1, db.name)]
    if not done:
        return
    try:
        scan = env_scan(config.base_dir, workdir=workdir)
    except CutoverError as exc:
        found.notes.append(f"phase 1: not checked: {exc.message}")
        return
    rewritten = _rewritten(workdir)
    for db in done:
        back = _pointing_back(scan, rewritten.get(db.name, set()))
        if not back:
            continue
        why = (
            f"{back} points at SQLite/SQL Server again (the rewrite was undone, e.g. by "
            "`cutover env restore`)"
        )
        state.invalidate(1, db.name, why)
        state.untick("p1.rewrite", db.name, why)
        state.untick("p3.env-leftovers", PROJECT, why)
        state.invalidate(3, db.name, f"phase 1 no longer holds: {why}")


def _rewritten(workdir: Path) -> dict[str, set[tuple[str, str]]]:
    """Per database, the (file, key) values phase 1 rewrote (its first real rewrite included)."""
    data = load_result(workdir, 1) or {}
    values: dict[str, set[tuple[str, str]]] = {}
    for rewrite in (data, data.get("first_rewrite") or {}):
        for f in rewrite.get("files", []):
            for c in f["changes"]:
                if c.get("key"):
                    values.setdefault(c["database"], set()).add((c["path"], c["key"]))
    return values


def _pointing_back(scan: ScanResult, values: set[tuple[str, str]]) -> str | None:
    """The first value phase 1 rewrote that points at SQLite/SQL Server again, or None."""
    for r in scan.references:
        if r.key is not None and (r.path, r.key) in values and r.kind in SOURCE_KINDS:
            return f"{r.path}:{r.line} {r.key}"
    return None


def _phase2(db: DatabaseConfig, workdir: Path, state: State, found: Evidence) -> str | None:
    """The manifest's loaded_at (exact, ISO) of a complete load, or None when not known."""
    run = state.runs(2).get(db.name)
    if db.unset:
        found.notes.append(
            f"phase 2 ({db.name}): not checked against the target: needs {', '.join(db.unset)}"
        )
        return None
    if (workdir.joinpath(*PROOF_FOLDER) / db.name).is_dir():
        return None  # `cutover finish` saved the proof and removed _cutover on purpose
    try:
        conn = tgt.connect(db.target, autocommit=True, application_name="cutover status")
    except CutoverError as exc:
        if run is not None:
            found.notes.append(f"phase 2 ({db.name}): not checked: {redact(exc.message)}")
        return None
    try:
        manifest = load_state.manifest_status(conn, db.name)
    except psycopg.Error as exc:
        found.notes.append(f"phase 2 ({db.name}): not checked: {redact(str(exc).strip())}")
        return None
    finally:
        conn.close()
    status = None if run is None else run["status"]
    if manifest is None:
        if status == "done":
            why = (
                f"the target holds no load of {db.name} (no `_cutover` manifest): "
                "it was dropped or reset"
            )
            state.invalidate(2, db.name, why)
            state.untick("p2.data", db.name, why)
            state.invalidate(3, db.name, f"phase 2 no longer holds: {why}")
        return None
    complete, loaded_at = manifest
    if not complete:
        if status not in ("interrupted", "failed"):
            state.set_run(
                2,
                db.name,
                "interrupted",
                "a load was started and not finished (`_cutover` manifest incomplete); "
                "`cutover run --phase 2` resumes it",
                error="interrupted: the load did not finish",
            )
            state.untick("p2.data", db.name, "a later load of it has not finished")
        state.invalidate(3, db.name, "phase 2's load has not finished")
        return None
    if run is None:
        state.set_run(
            2,
            db.name,
            "done",
            f"loaded {_stamp(loaded_at)} (from the target's `_cutover` manifest)",
        )
    return loaded_at.isoformat()


def load_stamp(db: DatabaseConfig) -> str | None:
    """The target's record of when its complete load finished (exact), or None when unknown."""
    try:
        conn = tgt.connect(db.target, autocommit=True)
    except CutoverError:
        return None
    try:
        manifest = load_state.manifest_status(conn, db.name)
    except psycopg.Error:
        return None
    finally:
        conn.close()
    return manifest[1].isoformat() if manifest is not None and manifest[0] else None


def _phase3(config: Config, state: State, loaded: dict[str, str]) -> None:
    runs2 = state.runs(2)
    for db in config.databases:
        run3 = state.runs(3).get(db.name)
        if run3 is None or run3["status"] != "done":
            continue
        if db.name in loaded and run3.get("verified_load"):
            stale = run3["verified_load"] != loaded[db.name]
            load_at = _stamp(datetime.fromisoformat(loaded[db.name]))
        else:  # the target was not asked: the phase 2 run this state recorded
            load_at = _at(runs2.get(db.name)) or ""
            stale = run3["at"] < load_at
        if stale:
            why = f"its parity ({run3['at']}) is of an earlier load than phase 2's of {load_at}"
            state.invalidate(3, db.name, why)
            for item_id in ("p3.parity", "p3.schema"):
                state.untick(item_id, db.name, why)


def _at(run: dict[str, Any] | None) -> str | None:
    return None if run is None or run["status"] != "done" else str(run["at"])


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
