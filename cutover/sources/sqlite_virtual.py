"""SQLite virtual tables cutover carries: full-text (FTS3/4/5) and R-tree tables, and their shadows.

Their rows move like any table's (read through the module, by rowid); what they were for moves as
an index plan makes (`cutover/schema/search.py`). The shadow tables that store a module's own
structures are skipped by name as well as by `PRAGMA table_list`, so a sqlite3 that lacks the
module does not carry them as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cutover.schema import sqltext

FTS_MODULES = frozenset({"fts3", "fts4", "fts5"})
RTREE_MODULES = frozenset({"rtree", "rtree_i32"})
CARRIED_MODULES = FTS_MODULES | RTREE_MODULES
SHADOW_SUFFIXES = {
    "fts5": ("_data", "_idx", "_content", "_docsize", "_config"),
    "fts4": ("_content", "_segments", "_segdir", "_docsize", "_stat"),
    "fts3": ("_content", "_segments", "_segdir", "_docsize", "_stat"),
    "rtree": ("_node", "_parent", "_rowid"),
    "rtree_i32": ("_node", "_parent", "_rowid"),
}
FTS_KEY = "rowid"  # an FTS table's rows are addressed (and joined to their content) by rowid


@dataclass
class VirtualModule:
    """What `CREATE VIRTUAL TABLE … USING module(args)` declares."""

    module: str
    columns: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def contentless(self) -> bool:
        """An FTS table that keeps no text of its own (content=''): nothing to read back."""
        return self.module in FTS_MODULES and self.options.get("content", None) == ""


def parse_virtual(sql: str) -> VirtualModule | None:
    """The module, column names and key=value options of a CREATE VIRTUAL TABLE statement."""
    tokens = sqltext.tokenize(sql)
    at = next((i for i, t in enumerate(tokens) if t.upper == "USING"), None)
    if at is None or at + 1 >= len(tokens):
        return None
    found = VirtualModule(tokens[at + 1].text.lower())
    start = at + 2
    if start >= len(tokens) or tokens[start].text != "(":
        return found
    try:
        body = tokens[start + 1 : sqltext.matching_paren(tokens, start)]
    except ValueError:
        return found
    for part in sqltext.split_top_level(body):
        if not part:
            continue
        if len(part) >= 3 and part[1].text == "=":
            found.options[part[0].text.lower()] = _unquote(sqltext.join(part[2:]))
        elif part[0].ident and part[0].upper not in ("UNINDEXED",):
            found.columns.append(part[0].ident)
    return found


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1].replace(text[0] * 2, text[0])
    return text


def shadow_tables(virtuals: dict[str, VirtualModule]) -> set[str]:
    """The names of the shadow tables the virtual tables' modules keep."""
    return {
        name + suffix
        for name, vm in virtuals.items()
        for suffix in SHADOW_SUFFIXES.get(vm.module, ())
    }
