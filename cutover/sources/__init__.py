"""Source readers: each turns its catalog into the neutral schema model and streams rows.

`base.py` is the protocol every reader follows (reflect, profile, sample, read in bounded batches);
`sqlite.py` and `mssql.py` (with its catalog, types, SQL and connection modules) implement it.
May import `cutover.schema`'s model and SQL text helpers, `cutover.values` and the base modules.
"""

from __future__ import annotations

from pathlib import Path

from cutover import urls
from cutover.errors import UnknownChoiceError
from cutover.sources.base import Source


def open_source(url: str, base_dir: Path | None = None) -> Source:
    """Open the source a URL names (sqlite:///… or mssql+…://…)."""
    parsed = urls.parse(url)
    if parsed.kind == "sqlite":
        from cutover.sources.sqlite import SqliteSource

        return SqliteSource(urls.sqlite_path(url, base_dir))
    if parsed.kind == "mssql":
        from cutover.sources.mssql import MssqlSource

        return MssqlSource(url)
    raise UnknownChoiceError("source kind", parsed.kind, list(urls.SOURCE_KINDS))
