"""What plan learns by reading values through the load's row path: probe rows, zones, changes.

May import: `cutover.rows`, `cutover.schema`,
`cutover.sources`, `cutover.values` and the base modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cutover.config import Settings
from cutover.rows.digest import Digests
from cutover.rows.path import Policies, RowPath
from cutover.schema.model import Finding
from cutover.schema.rules import numeric_scale, type_modifiers
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.schema.typemap import ColumnPlan
from cutover.sources.base import Source
from cutover.values.coerce import Coercion, Reject, char, decimal, float4

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


@dataclass(frozen=True)
class _Lossy:
    """A column whose values the load changes to fit it only under a policy the user chose."""

    code: str
    policy: str  # the setting that allows the change
    allowed: str  # its value that does
    what: str  # what the counted values are
    change: str  # what the load does to them under the policy
    exact: str  # the column type that keeps them exact
    counting: Callable[[Callable[[], None]], Coercion]  # the coercion under the policy, counting


def _lossy(c: ColumnPlan) -> _Lossy | None:
    """How a column's values could change to fit it (as rows/path.py coerces them), or None."""
    base = c.base_type
    scale = numeric_scale(c.pg_type) if base == "numeric" else None
    if scale is not None:
        return _Lossy(
            "decimal_scale",
            "rounding",
            "round",
            f"have more than {scale} decimal places, which {c.pg_type} does not keep",
            "rounded to fit",
            "numeric",
            lambda count: decimal(scale=scale, rounding="round", on_round=count),
        )
    if base == "real" and c.coercion in ("identity", "float"):
        return _Lossy(
            "float_precision",
            "rounding",
            "round",
            "are not float32 values, which real (float4) rounds",
            "rounded to the nearest float32",
            "double precision",
            lambda count: float4(rounding="round", on_round=count),
        )
    if base == "char" and c.coercion in ("identity", "text"):
        width = (type_modifiers(c.pg_type) or [1])[0]
        return _Lossy(
            "char_width",  # not char_padding: SQL Server's finding of padded values
            "char_padding",
            "pad",
            f"are not {width} characters long, which {c.pg_type} pads or trims with spaces",
            "padded or trimmed to fit",
            f"varchar({width})",
            lambda count: char(width, char_padding="pad", on_pad=count),
        )
    return None


def lossy_findings(source: Source, splan: SchemaPlan, settings: Settings) -> list[Finding]:
    """Count the values the load would change to fit their column, or reject: decimals beyond
    numeric(p,s)'s scale, reals float32 does not hold, text char(n) would pad or trim.
    """
    found = []
    for tp in splan.tables:
        for c in tp.columns:
            lossy = _lossy(c)
            if lossy is None:
                continue
            changed = [0]

            def count(cell: list[int] = changed) -> None:
                cell[0] += 1

            coerce = lossy.counting(count)
            for batch in source.read(tp.source, [c.source], batch_size=settings.batch_size):
                for row in batch.rows:
                    try:
                        coerce(row[-1])
                    except Reject:
                        pass  # not a value of the column at all: counted by its other findings
            if not changed[0]:
                continue
            n, where = changed[0], f"{tp.source.name}.{c.source}"
            chosen = getattr(settings, lossy.policy)
            fate = (
                f"will be {lossy.change} ({lossy.policy} = {chosen!r}), counted with the run and "
                "reported by verify"
                if chosen == lossy.allowed
                else f"will be rejected with their rows ({lossy.policy} = {chosen!r})"
            )
            found.append(
                Finding(
                    "warning",
                    lossy.code,
                    f"{where}: {n:,} values {lossy.what}; they {fate}",
                    table=tp.source.name,
                    column=c.source,
                    count=n,
                    fix=f'columns."{where}" = "{lossy.exact}" keeps them exact; '
                    f'{lossy.policy} = "{lossy.allowed}" in [settings] changes them on purpose',
                )
            )
    return found
