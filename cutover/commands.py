"""One plain function per subcommand: the Python API, and what the CLI and tests call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cutover import config as config_mod
from cutover import urls
from cutover.errors import UsageError


@dataclass
class InitResult:
    """What `cutover init` wrote."""

    path: Path
    database: config_mod.DatabaseConfig
    created: bool


def init(
    config_path: Path,
    *,
    source: str,
    target: str,
    name: str | None = None,
    env_key: str | None = None,
    replace: bool = False,
) -> InitResult:
    """Write (or extend) cutover.toml with one database."""
    src = urls.parse(source)
    tgt = urls.parse(target)
    if src.kind not in ("sqlite", "mssql"):
        raise UsageError(f"the source must be SQLite or SQL Server, not {src.kind}: {urls.redact(source)}")
    if tgt.kind != "postgres":
        raise UsageError(f"the target must be PostgreSQL, not {tgt.kind}: {urls.redact(target)}")
    db_name = name or _default_name(src)
    db = config_mod.DatabaseConfig(name=db_name, env_key=env_key or "DATABASE_URL", source=source, target=target)
    created = not config_path.exists()
    config_mod.add_database(config_path, db, replace=replace)
    return InitResult(config_path, db, created)


def _default_name(src: urls.DbUrl) -> str:
    if src.kind == "sqlite" and src.database:
        stem = Path(src.database).stem
    else:
        stem = src.database or "main"
    cleaned = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in stem).strip("_-") or "main"
    return cleaned if cleaned[0].isalpha() else f"db_{cleaned}"


from cutover.envfiles.api import env_scan, env_rewrite, env_restore, env_template  # noqa: E402,F401
