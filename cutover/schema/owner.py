"""Which config's database a revisions folder belongs to, so another config cannot overwrite it.

`<alembic_dir>/<database>/cutover-owner.json` names the config (relative to the folder, so a
fresh checkout agrees) and the database; a second config with the same database name is refused
rather than allowed to replace the first one's revisions.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from cutover.errors import UsageError

OWNER_FILE = "cutover-owner.json"  # which config's database a revisions folder belongs to


@dataclass(frozen=True)
class Owner:
    """The config (relative to the folder: a fresh checkout agrees) and database a folder is for."""

    config: str
    database: str
    source: str  # redacted: shown when another config is refused

    @classmethod
    def of(cls, config_path: Path, directory: Path, database: str, source: str) -> Owner:
        """The owner record for `database` of the config at `config_path`."""
        rel = os.path.relpath(config_path.resolve(), directory.resolve())
        return cls(Path(rel).as_posix(), database, source)


def check_owner(directory: Path, owner: Owner) -> None:
    """Refuse a revisions folder that another config's database already owns."""
    path = directory / OWNER_FILE
    if not path.exists():
        return
    try:
        other = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return  # unreadable: not ours to judge; the write below replaces it
    if other.get("config") in (None, owner.config):
        return
    config = (directory / other["config"]).resolve()
    raise UsageError(
        f"{directory} holds the revisions of database {other.get('database')!r} of {config} "
        f"(source {other.get('source')}); writing this config's database {owner.database!r} "
        "there would overwrite them",
        path=str(directory),
        hint=f'give this config its own folder: alembic_dir = "alembic-{owner.database}-2" '
        "under [settings] (or another database name)",
    )


def record_owner(directory: Path, owner: Owner) -> None:
    """Write the folder's owner record (the folder exists)."""
    (directory / OWNER_FILE).write_text(
        json.dumps(asdict(owner), indent=2) + "\n", encoding="utf-8"
    )
