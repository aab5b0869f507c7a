"""Source readers: each turns its catalog into the neutral schema model and streams rows."""

from __future__ import annotations

from pathlib import Path

from cutover import urls
from cutover.errors import UnknownChoiceError, UsageError
from cutover.sources.base import Source


def open_source(url: str, base_dir: Path | None = None) -> Source:
    """Open the source a URL names (sqlite:///… or mssql+…://…)."""
    parsed = urls.parse(url)
    if parsed.kind == "sqlite":
        from cutover.sources.sqlite import SqliteSource

        return SqliteSource(urls.sqlite_path(url, base_dir))
    if parsed.kind == "mssql":
        raise UsageError(
            f"SQL Server sources are not supported by this version of cutover: {urls.redact(url)}",
            hint="SQLite sources work today; the SQL Server reader is being built",
        )
    raise UnknownChoiceError("source kind", parsed.kind, ["sqlite", "mssql"])
