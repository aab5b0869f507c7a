"""A corpus of real SQLite files, each made by the software that makes it in the wild.

`CASES` names every file, how to build it into a folder, and which SQLite extensions a reader
needs to see its virtual tables. Nothing here imports cutover: the oracle (`oracle.py`) and the
builders stand apart from the code they check.
"""

from __future__ import annotations

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


def _vec() -> list[str]:
    import sqlite_vec

    return [sqlite_vec.loadable_path()]


CASES = [
    Case("django", build_django),
    Case("chromadb", apps.build_chroma),
    Case("anki", apps.build_anki),
    Case("sqlite_vec", apps.build_vec, extensions=_vec),
    Case("sqlite_utils", apps.build_sqlite_utils),
    Case("sqlmodel_chat", chat.build_chat),
    Case(
        "spatialite",
        apps.build_spatialite,
        extensions=lambda: ["mod_spatialite"],
        unavailable=apps.spatialite_missing,
    ),
    Case("chinook", samples.build_chinook),
    Case("northwind", samples.build_northwind),
    *(Case(f"edge_{name}", partial(edge.build_edge, name)) for name in edge.EDGE_SQL),
]
