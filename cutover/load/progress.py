"""Progress of a load, per table: a live rich display on a terminal, plain lines otherwise.

Every table keeps its own count, total, start and rate, so tables loaded at once by several
workers never share a total. On a terminal each table gets a live bar (rows, rows/s, ETA) drawn
with rich; in a log (stdout or stderr not a terminal) each table gets a line when it starts, one
every PLAIN_INTERVAL_S while it loads, and one when it is done.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from cutover.load.pipeline import TableResult

PLAIN_INTERVAL_S = 10.0  # how often a log gets a progress line for a long table
LIVE_INTERVAL_S = 0.2  # redraw rate on a terminal (5 a second reads smoothly, costs nothing)


@dataclass
class _Table:
    """One table's progress: its own total, count and clock."""

    total: int
    rows: int = 0
    base: int = 0  # rows already committed when it was first seen (a resumed load)
    started: float | None = None  # when its first new rows arrived
    printed: float = 0.0
    task: TaskID | None = None

    def rate(self, now: float) -> float:
        """Rows per second since its first new rows arrived."""
        if self.started is None or now <= self.started:
            return 0.0
        return (self.rows - self.base) / (now - self.started)

    def line(self, name: str, now: float) -> str:
        """`name: 250,000/500,000 rows (50.0%), 12,345 rows/s, ETA 20s` (no total past it)."""
        rate = self.rate(now)
        if self.total and self.rows <= self.total:
            eta = f", ETA {(self.total - self.rows) / rate:,.0f}s" if rate > 0 else ""
            done = f"{self.rows:,}/{self.total:,} rows ({100 * self.rows / self.total:.1f}%)"
        else:
            eta, done = "", f"{self.rows:,} rows"
        return f"{name}: {done}, {rate:,.0f} rows/s{eta}"


class RowCount(ProgressColumn):
    """`500/1,000 rows` (just `500 rows` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        done = f"{task.completed:,.0f}"
        return Text(f"{done}/{task.total:,.0f} rows" if task.total else f"{done} rows")


class RowsPerSecond(ProgressColumn):
    """rows/s from rich's own speed estimate."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


class ProgressReporter:
    """Renders pipeline progress per table to a stream (stderr by default) or a rich Console."""

    def __init__(
        self, stream: TextIO | None = None, live: bool | None = None, console: Console | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.live = (console is not None or self.stream.isatty()) if live is None else live
        self.console = console or Console(file=self.stream, stderr=stream is None)
        self.tables: dict[str, _Table] = {}
        self._progress: Progress | None = None
        self._drawn = 0.0

    def table_started(self, table: str, total: int) -> None:
        """A table joins the load (all of them may start before any rows move)."""
        if table in self.tables:
            return
        entry = self.tables[table] = _Table(total)
        if self.live:
            entry.task = self._display().add_task(table, total=total or None)
        else:
            self._write(f"{table}: loading {total:,} row{'' if total == 1 else 's'}")

    def advanced(self, table: str, rows: int) -> None:
        """`rows` of `table` are committed so far (a running count, not an increment)."""
        entry = self.tables.get(table)
        if entry is None:
            self.table_started(table, 0)
            entry = self.tables[table]
        now = time.monotonic()
        if entry.started is None:
            entry.started, entry.base = now, rows
        entry.rows = rows
        if self.live:
            assert entry.task is not None
            progress = self._display()
            progress.update(entry.task, completed=rows, total=max(entry.total, rows) or None)
            if now - self._drawn >= LIVE_INTERVAL_S:
                self._drawn = now
                progress.refresh()
        elif now - entry.printed >= PLAIN_INTERVAL_S:
            entry.printed = now
            self._write(entry.line(table, now))

    def table_done(self, result: TableResult) -> None:
        """A table finished: its counts, time and rate on one line."""
        rate = result.read / result.seconds if result.seconds else 0
        line = (
            f"{result.table}: {result.written:,} written, {result.rejected:,} rejected "
            f"in {result.seconds:.1f}s ({rate:,.0f} rows/s)"
        )
        entry = self.tables.pop(result.table, None)
        if self._progress is not None and entry is not None and entry.task is not None:
            self._progress.update(
                entry.task, completed=result.read, total=result.read, visible=False
            )
        self.message(line)
        if self._progress is not None and not self.tables:
            self.close()

    def message(self, text: str) -> None:
        """A line above the live display (or in the log)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
            self._progress.refresh()
        else:
            self._write(text)

    def close(self) -> None:
        """Stop the live display (leaving the terminal as it was)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _display(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                RowCount(),
                TextColumn("{task.percentage:>5.1f}%"),
                RowsPerSecond(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                auto_refresh=False,  # redrawn as rows arrive: no thread outlives a failed load
                transient=True,
                redirect_stdout=False,  # the rest of the program's output is not ours to reroute
                redirect_stderr=False,
            )
            self._progress.start()
        return self._progress

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
