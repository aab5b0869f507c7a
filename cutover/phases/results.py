"""What each phase found, saved under the workdir
(results/phaseN.json) for status and the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cutover.envfiles.backup import write_atomic

RESULTS_DIR = "results"  # under the workdir: what each phase found, for the report


def save_result(workdir: Path, phase: int, database: str | None, data: dict[str, Any]) -> None:
    """results/phaseN.json: phase 2 keeps one entry per database; phases 1 and 3 the last run."""
    path = workdir / RESULTS_DIR / f"phase{phase}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if database is not None:
        existing = load_result(workdir, phase) or {"databases": {}}
        existing["databases"][database] = data
        data = existing
    write_atomic(
        path, (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    )


def load_result(workdir: Path, phase: int) -> dict[str, Any] | None:
    """The saved results of a phase, or None."""
    path = workdir / RESULTS_DIR / f"phase{phase}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
