"""What plan learns by reading values through the load's row path: probe rows, zones, scales.

May import: `cutover.rows`, `cutover.schema`,
`cutover.sources`, `cutover.values` and the base modules.
"""

from __future__ import annotations

from typing import Any

from cutover.config import Settings
from cutover.rows.digest import Digests
from cutover.rows.path import Policies, RowPath
from cutover.schema.model import Finding
from cutover.schema.rules import numeric_scale
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.sources.base import Source
from cutover.values.coerce import Reject, decimal

ESTIMATE_ROWS = (
    2000  # rows per table read, coerced and copied to measure throughput: one small batch
)


def probe_rows(
    source: Source, tp: TablePlan, settings: Settings
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Digests]:
    """The probe's first rows of a table: read, coerced and digested as the load does it."""
    batch, suspect = _first_rows(source, tp)
    path = RowPath.for_plan(tp, source.key_columns(tp.source), Policies.from_settings(settings))
    out, _origin, _rejects = path.coerce_batch(batch, suspect)
    try:
        return batch, out, path.digest_batch(out)
    except ValueError:
        # a value its guard passed untouched that Postgres refuses (2024-02-30): the load's COPY
        # rejects that row and never digests it, so the probe leaves it out as well
        out = [row for row in out if _digestible(path, row)]
        return batch, out, path.digest_batch(out)


def _digestible(path: RowPath, row: tuple[Any, ...]) -> bool:
    try:
        path.digest_batch([row])
    except ValueError:
        return False
    return True


def _first_rows(source: Source, tp: TablePlan) -> tuple[list[tuple[Any, ...]], bool]:
    """Up to ESTIMATE_ROWS rows from the start of the table, and whether any failed to decode."""
    rows: list[tuple[Any, ...]] = []
    suspect = False
    for batch in source.read(tp.source, [c.source for c in tp.columns], batch_size=ESTIMATE_ROWS):
        rows.extend(batch.rows)
        suspect = suspect or batch.suspect
        if len(rows) >= ESTIMATE_ROWS:
            break
    return rows[:ESTIMATE_ROWS], suspect


def timezone_findings(splan: SchemaPlan, settings: Settings) -> list[Finding]:
    """Say in which zone naive date/times are read, when any column goes to timestamptz."""
    zoned = [
        f"{tp.source.name}.{c.source}"
        for tp in splan.tables
        for c in tp.columns
        if c.base_type == "timestamptz"
    ]
    if not zoned:
        return []
    return [
        Finding(
            "info",
            "source_timezone",
            f"naive date/times going into timestamptz ({', '.join(zoned[:5])}"
            f"{' …' if len(zoned) > 5 else ''}) are read as {settings.source_timezone} "
            "(source_timezone); every connection cutover opens uses TimeZone=UTC",
            count=len(zoned),
            fix='source_timezone = "Asia/Seoul" in [settings] if the app wrote local times',
        )
    ]


def scale_findings(source: Source, splan: SchemaPlan, settings: Settings) -> list[Finding]:
    """Count the decimals the load would round (or reject): more places than numeric(p,s) keeps."""
    found = []
    for tp in splan.tables:
        for c in tp.columns:
            scale = numeric_scale(c.pg_type) if c.base_type == "numeric" else None
            if scale is None:
                continue
            rounded = [0]

            def count(cell: list[int] = rounded) -> None:
                cell[0] += 1

            coerce = decimal(scale=scale, rounding="round", on_round=count)
            for batch in source.read(tp.source, [c.source], batch_size=settings.batch_size):
                for row in batch.rows:
                    try:
                        coerce(row[-1])
                    except Reject:
                        pass  # not a number at all: counted by the column's other findings
            if not rounded[0]:
                continue
            n, where = rounded[0], f"{tp.source.name}.{c.source}"
            fate = (
                "will be rounded to fit (rounding = 'round'), counted with the run and reported "
                "by verify"
                if settings.rounding == "round"
                else "will be rejected with their rows (rounding = 'reject')"
            )
            found.append(
                Finding(
                    "warning",
                    "decimal_scale",
                    f"{where}: {n:,} values have more than {scale} decimal places, which "
                    f"{c.pg_type} does not keep; they {fate}",
                    table=tp.source.name,
                    column=c.source,
                    count=n,
                    fix=f'columns."{where}" = "numeric" keeps them exact; rounding = "round" in '
                    "[settings] rounds them on purpose",
                )
            )
    return found
