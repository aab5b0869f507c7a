"""What a carried SQLite virtual table was for, as Postgres indexes and a finding.

An FTS table becomes a plain table whose text columns get a GIN index: `pg_trgm` trigrams for
FTS5's trigram tokenizer (substring search), `to_tsvector` otherwise (word search; porter →
'english', any other tokenizer → 'simple', which like unicode61 knows no language). An R-tree's
rows move; its spatial index has no counterpart without PostGIS, which the finding says.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from cutover.schema.model import Finding, Table
from cutover.schema.naming import shorten

TRIGRAM_OPS = "gin_trgm_ops"  # pg_trgm's GIN operator class: LIKE/ILIKE '%q%' and similarity
FTS_NAMES = {"fts3": "FTS3", "fts4": "FTS4", "fts5": "FTS5"}


@dataclass(frozen=True)
class SearchIndex:
    """One GIN index: on a column with an operator class, or on a tsvector expression."""

    name: str
    element: str
    column: str | None
    ops: str | None


def _tokenizer(table: Table) -> list[str]:
    return (table.module_options.get("tokenize") or "").replace("'", " ").replace('"', " ").split()


def search_indexes(
    table: Table, target: str, columns: dict[str, tuple[str, str]]
) -> tuple[list[SearchIndex], list[Finding]]:
    """Indexes and the finding for a carried virtual table; columns: source → (target, family)."""
    if table.module is None:
        return [], []
    if table.module.startswith("rtree"):
        return (
            [],
            [
                Finding(
                    "info",
                    "rtree_carried",
                    f"R-tree table {table.name} is carried as a plain table ({len(columns) - 1} "
                    "coordinates per row); its spatial index is not: Postgres has no R-tree module",
                    table=table.name,
                    fix="index the boxes with GiST (a box column, or PostGIS geometry) and rewrite "
                    "the app's range queries on it",
                )
            ],
        )
    texts = [(s, t) for s, (t, family) in columns.items() if family == "text"]
    words = _tokenizer(table)
    trigram = bool(words) and words[0].lower() == "trigram"
    config = "english" if words and words[0].lower() == "porter" else "simple"
    found: list[SearchIndex] = []
    for _source, col in texts:
        quoted = sql.Identifier(col).as_string()
        if trigram:
            name = shorten(f"{target}_{col}_trgm_idx")
            found.append(SearchIndex(name, quoted, col, TRIGRAM_OPS))
        else:
            name = shorten(f"{target}_{col}_fts_idx")
            found.append(
                SearchIndex(name, f"(to_tsvector('{config}'::regconfig, {quoted}))", None, None)
            )
    kind = FTS_NAMES.get(table.module, table.module)
    if trigram:
        how = (
            "a pg_trgm GIN index per column: MATCH 'q' becomes col ILIKE '%q%' (or col % 'q' "
            "for similarity)"
        )
    else:
        how = (
            f"a GIN index on to_tsvector('{config}', col) per column: MATCH 'q' becomes "
            f"to_tsvector('{config}', col) @@ websearch_to_tsquery('{config}', 'q')"
        )
    finding = Finding(
        "info",
        "fts_carried",
        f"full-text table {table.name} ({kind}) is carried as a table keyed by rowid with {how}; "
        "FTS query syntax (NEAR, prefix*, column filters) differs, and bm25()/rank, highlight() "
        "and snippet() become ts_rank and ts_headline",
        table=table.name,
        fix="rewrite the app's MATCH queries; the rowid column keeps joins to the content table",
    )
    return found, [finding]
