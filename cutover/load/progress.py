"""Progress on a terminal (one live line per table: rows, rows/s, ETA) or plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from cutover.load.pipeline import TableResult

PLAIN_INTERVAL_S = 10.0  # how often a non-terminal gets a progress line for a long table
LIVE_INTERVAL_S = 0.2  # redraw rate on a terminal


class ProgressReporter:
    """Renders pipeline progress to a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._start = 0.0
        self._total = 0
        self._last = 0.0

    def table_started(self, table: str, total: int) -> None:
        self._start = self._last = time.monotonic()
        self._total = total
        if not self.live:
            self._write(f"{table}: loading {total:,} row{'' if total == 1 else 's'}\n")

    def advanced(self, table: str, rows: int) -> None:
        now = time.monotonic()
        interval = LIVE_INTERVAL_S if self.live else PLAIN_INTERVAL_S
        if now - self._last < interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = rows / elapsed
        eta = (self._total - rows) / rate if rate > 0 and self._total > rows else 0.0
        pct = f"{100 * rows / self._total:5.1f}%" if self._total else ""
        line = f"{table}: {rows:,}/{self._total:,} {pct} {rate:,.0f} rows/s ETA {eta:,.0f}s"
        self._write(f"\r\x1b[K{line}" if self.live else line + "\n")

    def table_done(self, result: TableResult) -> None:
        rate = result.read / result.seconds if result.seconds else 0
        line = f"{result.table}: {result.written:,} written, {result.rejected:,} rejected in {result.seconds:.1f}s ({rate:,.0f} rows/s)"
        self._write(f"\r\x1b[K{line}\n" if self.live else line + "\n")

    def message(self, text: str) -> None:
        self._write(("\r\x1b[K" if self.live else "") + text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
