"""Which rows of a SQLite table hold a date or timestamp that is not plainly valid ISO-8601 text.

Plan's reject estimate (phases/reject_estimate.py) must find every value the load's date coercions
refuse without running them on every row: running Python's parser over a million timestamps costs
seconds. SQLite answers "is this plainly valid" in the scan: ISO shape, a real calendar day (a day
number turned back into a date rewrites `2024-02-30` as `2024-03-01`), a real time of day, at most
microseconds and a `Z` or ±HH:MM offset. Only the rows where some value is not plainly valid come
back, for the coercion itself to judge; so the filter may send too many rows, never too few.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from cutover.errors import SourceError
from cutover.schema.model import Table
from cutover.sources.sqlite import SqliteSource
from cutover.sources.sqlite_catalog import quote_ident

# rows fetched at a time from the filtered scan (few rows come back: the suspects only)
SUSPECT_FETCH = 1_000
_DAY = (
    "typeof({q}) = 'text' AND substr({q}, 1, 10) GLOB '[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]'"
    " AND substr({q}, 1, 4) <> '0000' AND substr({q}, 6, 2) BETWEEN '01' AND '12'"
    # days 1-28 exist in every month; only the others need SQLite's (slower) date arithmetic
    " AND (CASE WHEN substr({q}, 9, 2) BETWEEN '01' AND '28' THEN 1"
    " ELSE date(julianday(substr({q}, 1, 10))) IS substr({q}, 1, 10) END)"
)
_REST = "substr({q}, 20)"
_DIGITS = "substr({q}, 21)"
_TAIL = f"ltrim({_DIGITS}, '0123456789')"
_ZONE = "({t} IN ('', 'Z', 'z') OR {t} GLOB '[+-][01][0-9]:[0-5][0-9]')"
_TIME = (
    "substr({q}, 11, 1) IN (' ', 'T') AND length({q}) >= 19"
    " AND (substr({q}, 12, 8) GLOB '[01][0-9]:[0-5][0-9]:[0-5][0-9]'"
    " OR substr({q}, 12, 8) GLOB '2[0-3]:[0-5][0-9]:[0-5][0-9]')"
    f" AND (CASE WHEN substr({{q}}, 20, 1) = '.'"
    f" THEN length({_DIGITS}) - length({_TAIL}) BETWEEN 1 AND 6 AND {_ZONE.format(t=_TAIL)}"
    f" ELSE {_ZONE.format(t=_REST)} END)"
)
PLAIN = {
    # a date column takes a bare date only (a time of day would be dropped: the coercion refuses it)
    "date": f"({{q}} IS NULL OR ({_DAY} AND length({{q}}) = 10))",
    "timestamp": f"({{q}} IS NULL OR ({_DAY} AND (length({{q}}) = 10 OR ({_TIME}))))",
}


def suspects(
    source: SqliteSource, table: Table, columns: dict[str, str]
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of (*key, *columns) for rows where some column (→ "date"/"timestamp") is not plain.

    Raises SourceError when the table's text cannot be read strictly (invalid UTF-8): the caller
    then reads the columns in full through the source's lenient reader.
    """
    keys = source.key_sql(table)
    where = " OR ".join(
        f"NOT {PLAIN[kind].format(q=quote_ident(c))}" for c, kind in columns.items()
    )
    query = (
        f"SELECT {', '.join(keys + [quote_ident(c) for c in columns])}"
        f" FROM {quote_ident(table.name)} WHERE {where}"
    )
    cur = source.conn.execute(query)
    try:
        while rows := cur.fetchmany(SUSPECT_FETCH):
            yield rows
    except sqlite3.OperationalError as exc:
        raise SourceError(f"reading {table.name} strictly failed: {exc}", table=table.name) from exc
    finally:
        cur.close()
