"""Experiment behind RESULTS.md's profile-scan numbers: cheaper forms of SqliteSource.profile.

    .venv/bin/python bench/experiments/profile_scan.py bench/out/chat-1000000-s7.db
    .venv/bin/python bench/experiments/profile_scan.py bench/out/chat-1000000-s7.db --per-stat

Times, on the messages table: the profile scan as cutover runs it; with the time-zone GLOBs
anchored (a value is only tested for an offset once it looks like an ISO date, and only its tail
is tested); without statistics for the rowid alias (SQLite guarantees it is an integer); and that
scan split over rowid ranges in 1 or 2 threads and in 1 or 2 processes. With --per-stat, each
statistic of each column as its own scan instead (what each one costs). Changes nothing in
cutover/: it swaps the SQL builder in for this process only.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cutover.sources.sqlite as sqlite_source
from cutover.config import Settings
from cutover.schema.model import Table
from cutover.schema.typemap import wanted_stats

TABLE = "messages"
ISO_DATE = "GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*'"
_current_sql = sqlite_source._profile_sql


def anchored_sql(stat: str, q: str) -> list[tuple[str, str]]:
    """As cutover's, but the tz-offset test runs only on ISO-looking values and only on their tail."""
    if stat != "dates":
        return _current_sql(stat, q)
    t = f"typeof({q})"
    tail = f"(substr({q}, -6) GLOB '[+-][0-9][0-9]:[0-9][0-9]' OR substr({q}, -5) GLOB '[+-][0-9][0-9][0-9][0-9]' OR substr({q}, -1) IN ('Z', 'z'))"
    return [
        ("iso_dates", f"sum({t} = 'text' AND {q} {ISO_DATE})"),
        ("tz_offsets", f"sum({t} = 'text' AND {q} {ISO_DATE} AND {tail})"),
    ]


def _timed(label: str, fn: Any) -> Any:
    started = time.perf_counter()
    result = fn()
    print(f"{time.perf_counter() - started:7.1f}s  {label}", flush=True)
    return result


def _range_scan(args: tuple[str, str, int, int]) -> tuple[Any, ...]:
    db, select, low, high = args
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    try:
        return tuple(
            conn.execute(
                f"SELECT {select} FROM {TABLE} WHERE rowid > ? AND rowid <= ?", (low, high)
            ).fetchone()
        )
    finally:
        conn.close()


def split_scan(
    db: str, select: str, top: int, parts: int, pool: Callable[[int], Executor]
) -> list[tuple[Any, ...]]:
    """The same aggregates over `parts` rowid ranges at once (sums, mins and maxes merge exactly)."""
    step = -(-top // parts)
    ranges = [(db, select, i * step, min(top, (i + 1) * step)) for i in range(parts)]
    with pool(parts) as executor:
        return list(executor.map(_range_scan, ranges))


PER_STAT_SHOWN_S = 0.3  # statistics cheaper than this are left out of the --per-stat list


def per_stat(source: sqlite_source.SqliteSource, table: Table, wanted: dict[str, set[str]]) -> None:
    """Each statistic of each column as a scan of its own, costliest first."""
    costs = []
    for col, stats in wanted.items():
        for stat in sorted(stats | {"classes"}):
            exprs = ", ".join(e for _, e in _current_sql(stat, sqlite_source.quote_ident(col)))
            started = time.perf_counter()
            source.conn.execute(f"SELECT {exprs} FROM {TABLE}").fetchone()
            costs.append((time.perf_counter() - started, f"{col} {stat}"))
    for seconds, label in sorted(costs, reverse=True):
        if seconds >= PER_STAT_SHOWN_S:
            print(f"{seconds:7.2f}s  {label}")
    print(f"{sum(c for c, _ in costs):7.1f}s  all {len(costs)} statistics, one scan each")


def main() -> None:
    db = str(Path(sys.argv[1]).resolve())
    source = sqlite_source.SqliteSource(Path(db))
    table: Table = next(t for t in source.reflect().tables if t.name == TABLE)
    wanted = {c.name: wanted_stats(c, Settings(), None) for c in table.columns}
    if "--per-stat" in sys.argv[2:]:
        per_stat(source, table, wanted)
        return
    current = _timed("profile scan as cutover runs it", lambda: source.profile(table, wanted))
    sqlite_source._profile_sql = anchored_sql
    anchored = _timed("+ tz-offset GLOBs anchored", lambda: source.profile(table, wanted))
    print(f"         same profile as cutover's: {anchored == current}")
    no_alias = {k: v for k, v in wanted.items() if k != table.rowid_alias}
    _timed(
        f"+ no statistics for the rowid alias {table.rowid_alias!r}",
        lambda: source.profile(table, no_alias),
    )
    exprs = ["count(*)"] + [
        e
        for col, stats in no_alias.items()
        for stat in sorted(stats | {"classes"})
        for _, e in anchored_sql(stat, sqlite_source.quote_ident(col))
    ]
    select = ", ".join(exprs)
    top = int(source.conn.execute(f"SELECT max(rowid) FROM {TABLE}").fetchone()[0])
    pools: list[tuple[str, Callable[[int], Executor]]] = [
        ("threads", ThreadPoolExecutor),
        ("processes", ProcessPoolExecutor),
    ]
    for kind, pool in pools:
        for parts in (1, 2):
            _timed(
                f"  split over {parts} rowid range(s) in {parts} {kind}",
                lambda parts=parts, pool=pool: split_scan(db, select, top, parts, pool),
            )
    _timed(
        "a bare scan reading every column once (the floor)",
        lambda: source.conn.execute(
            f"SELECT sum(length(content)) + sum(length(metadata)) + sum(tokens) FROM {TABLE}"
        ).fetchone(),
    )


if __name__ == "__main__":
    main()
