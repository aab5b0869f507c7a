"""A corpus of real SQLite files, each made by the software that makes it in the wild.

`CASES` names every file, how to build it into a folder, and which SQLite extensions a reader
needs to see its virtual tables. Nothing here imports cutover: the oracle (`oracle.py`) and the
builders stand apart from the code they check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import apps, chat, edge, samples


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    extensions: Callable[[], list[str]] = field(default=list)
    unavailable: Callable[[], str | None] = field(default=lambda: None)


def build_django(folder: Path) -> Path:
    """Django's `migrate` (auth, admin, sessions, contenttypes, a shop app) and ORM inserts."""
    path = folder / "db.sqlite3"
    script = Path(__file__).parent / "django_site" / "build.py"
    subprocess.run([sys.executable, str(script), str(path)], check=True, capture_output=True)
    return path


TESTS = Path(__file__).resolve().parent.parent
# A file whose readers load a SQLite extension is built, checked and compared in a child Python:
# PROJ (under SpatiaLite) registers a fork handler that takes SQLite's memory lock, so once it is
# in the test process, a later fork (pg_ctl, a worker process) while another thread is inside
# SQLite deadlocks the child; seen as a CI run hanging in test_server_restart_mid_run.


def in_child(code: str, *args: str) -> str:
    """Run `code` in a child Python that can import this package; the last line it prints."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=TESTS, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"child Python failed: {done.stderr.strip()[-2000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def isolated(builder: str) -> Callable[[Path], Path]:
    """apps.<builder>, run in a child Python."""

    def build(folder: Path) -> Path:
        code = (
            "import sys; from pathlib import Path; from corpus import apps; "
            "print(getattr(apps, sys.argv[1])(Path(sys.argv[2])))"
        )
        return Path(in_child(code, builder, str(folder)))

    return build


def spatialite_missing() -> str | None:
    """apps.spatialite_missing, asked in a child Python."""
    code = "from corpus import apps; print(repr(apps.spatialite_missing()))"
    answer = in_child(code)
    return None if answer == "None" else answer


def compare(case: Case, source: Path, target_url: str) -> list[str]:
    """oracle.compare of a built file, in a child Python when its reader loads an extension."""
    extensions = case.extensions()
    if not extensions:
        from . import oracle

        return oracle.compare(source, target_url)
    code = (
        "import json, sys; from pathlib import Path; from corpus import oracle; "
        "print(json.dumps(oracle.compare(Path(sys.argv[1]), sys.argv[2], "
        "extensions=json.loads(sys.argv[3]))))"
    )
    found: list[str] = json.loads(in_child(code, str(source), target_url, json.dumps(extensions)))
    return found


def _vec() -> list[str]:
    import sqlite_vec

    return [sqlite_vec.loadable_path()]


CASES = [
    Case("django", build_django),
    Case("chromadb", apps.build_chroma),
    Case("anki", apps.build_anki),
    Case("sqlite_vec", isolated("build_vec"), extensions=_vec),
    Case("sqlite_utils", apps.build_sqlite_utils),
    Case("sqlmodel_chat", chat.build_chat),
    Case(
        "spatialite",
        isolated("build_spatialite"),
        extensions=lambda: ["mod_spatialite"],
        unavailable=spatialite_missing,
    ),
    Case("chinook", samples.build_chinook),
    Case("northwind", samples.build_northwind),
    *(Case(f"edge_{name}", partial(edge.build_edge, name)) for name in edge.EDGE_SQL),
]
