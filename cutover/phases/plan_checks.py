"""Findings only the plan makes, on top of map_schema's:
reserved words, large BLOBs, embeddings, invalid UTF-8.

Each reads what the profiling scan already counted, or a small sample of values; none reads a table.
Severities are explained in docs/phases.md.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from cutover.config import Settings
from cutover.proof.report import human_bytes
from cutover.schema.model import ColumnProfile, Finding
from cutover.schema.naming import shorten, snake_case
from cutover.schema.target_plan import SchemaPlan, TablePlan
from cutover.schema.typemap import ColumnPlan
from cutover.sources.base import Source
from cutover.values.coerce import InvalidText

# PostgreSQL's reserved key words (pg_get_keywords() catcode R and T): as a table or column name
# they work only when quoted. cutover quotes every identifier; hand-written SQL in the app may not.
RESERVED_WORDS = frozenset(
    """
    ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC AUTHORIZATION BINARY BOTH CASE CAST CHECK
    COLLATE COLLATION COLUMN CONCURRENTLY CONSTRAINT CREATE CROSS CURRENT_CATALOG CURRENT_DATE
    CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DEFAULT DEFERRABLE DESC
    DISTINCT DO ELSE END EXCEPT FALSE FETCH FOR FOREIGN FREEZE FROM FULL GRANT GROUP HAVING ILIKE IN
    INITIALLY INNER INTERSECT INTO IS ISNULL JOIN LATERAL LEADING LEFT LIKE LIMIT LOCALTIME
    LOCALTIMESTAMP NATURAL NOT NOTNULL NULL OFFSET ON ONLY OR ORDER OUTER OVERLAPS PLACING PRIMARY
    REFERENCES RETURNING RIGHT SELECT SESSION_USER SIMILAR SOME SYMMETRIC SYSTEM_USER TABLE
    TABLESAMPLE THEN TO TRAILING TRUE UNION UNIQUE USER USING VARIADIC VERBOSE WHEN WHERE WINDOW
        WITH
    """.split()
)
LARGE_BLOB_BYTES = 1 << 20  # from 1 MiB a value makes COPY batches heavy and lives in TOAST
MAX_BYTEA_BYTES = (1 << 30) - 1  # a Postgres bytea value cannot reach 1 GiB
BATCH_MEMORY_BYTES = (
    256 << 20
)  # a batch of the largest blobs beyond this wants a smaller batch_size
EMBEDDING_SAMPLE = 50  # values sampled to recognise embeddings
MIN_EMBEDDING_DIMS = 32  # shorter float arrays are data, not embeddings
EMBEDDING_MAX_ABS = 1e3  # embedding components are small; random bytes read as floats are not
FLOAT_FORMATS = (("float32le", "<f", 4), ("float64le", "<d", 8))


def extra_findings(
    source: Source, plan: SchemaPlan, settings: Settings, *, snake: bool = False
) -> list[Finding]:
    """Name collisions, reserved words, large BLOBs, embeddings and invalid UTF-8 in one
    database's plan.
    """
    found: list[Finding] = name_collisions(plan, snake)
    for tp in plan.tables:
        found += reserved_words(tp)
        for col in tp.columns:
            profile = tp.profile.get(col.source, ColumnProfile())
            found += large_blobs(tp, col, profile, settings)
            found += embeddings(source, tp, col, profile)
            found += invalid_utf8(source, tp, col, profile, settings)
    return found


def no_tables(plan: SchemaPlan, source_label: str, listed: list[str] | None) -> list[Finding]:
    """A blocker when nothing would move: an empty (0-byte) or table-less source, or a bad list."""
    if plan.tables:
        return []
    if listed:
        message = f"none of the tables cutover.toml lists ({', '.join(listed)}) is in the source"
        fix = "correct tables = [...] for this database in cutover.toml"
    else:
        message = f"the source {source_label} holds no tables: there is nothing to move or prove"
        fix = (
            "check the source URL names the app's database file (SQLite makes an empty one "
            "for a wrong path)"
        )
    return [Finding("blocker", "no_tables", message, fix=fix)]


def name_collisions(plan: SchemaPlan, snake: bool) -> list[Finding]:
    """Names that had to change because another name
    took theirs (after snake_case or shortening).
    """
    found = []
    for kind, old, new in plan.renames:
        base = old.split(".")[-1]
        expected = shorten(snake_case(base) if snake and kind in ("table", "column") else base)
        if new.split(".")[-1] == expected:
            continue
        table, _, column = old.partition(".") if kind == "column" else (old, "", "")
        how = (
            "after snake_case"
            if snake
            else "after shortening to 63 bytes"
            if expected != base
            else ""
        )
        message = (
            f"{kind} {old} collides with another name{' ' + how if how else ''}; it is named {new}"
        )
        if kind in ("table", "column"):
            found.append(
                Finding(
                    "warning",
                    "name_collision",
                    message + " — the app must use that name",
                    table=table if kind == "column" else old,
                    column=column or None,
                    fix="rename one of the two at the source, or set the name yourself with a "
                    "rename override",
                )
            )
        else:
            found.append(
                Finding(
                    "info",
                    "name_collision",
                    message,
                    fix="name it yourself in the revision if the name matters",
                )
            )
    return found


def reserved_words(tp: TablePlan) -> list[Finding]:
    """Target names that are reserved words in Postgres."""
    found = []
    if tp.name.upper() in RESERVED_WORDS:
        found.append(
            Finding(
                "warning",
                "reserved_word",
                f"table {tp.name} is a reserved word in PostgreSQL: cutover quotes it, and SQL "
                f'the app writes by hand must too ("{tp.name}")',
                table=tp.source.name,
                fix="rename the table at the source, or quote it in hand-written SQL "
                "(SQLAlchemy and Django quote it already)",
            )
        )
    for col in tp.columns:
        if col.name.upper() in RESERVED_WORDS:
            found.append(
                Finding(
                    "warning",
                    "reserved_word",
                    f"{tp.source.name}.{col.source} is named {col.name}, a reserved word in "
                    f'PostgreSQL: hand-written SQL must quote it ("{col.name}")',
                    table=tp.source.name,
                    column=col.source,
                    fix="quote it in hand-written SQL, or rename it: "
                    f'columns."{tp.source.name}.{col.source}" = {{ rename = "{col.name}_" }}',
                )
            )
    return found


def large_blobs(
    tp: TablePlan, col: ColumnPlan, p: ColumnProfile, settings: Settings
) -> list[Finding]:
    """BLOB values from 1 MiB (a warning) or too large for bytea (a blocker)."""
    biggest = p.max_blob_length or 0
    if biggest < LARGE_BLOB_BYTES:
        return []
    where = f"{tp.source.name}.{col.source}"
    if biggest > MAX_BYTEA_BYTES:
        return [
            Finding(
                "blocker",
                "blob_too_large",
                f"{where}: a value of {human_bytes(biggest)} cannot be stored in a Postgres "
                "bytea (limit 1 GiB)",
                table=tp.source.name,
                column=col.source,
                count=p.blobs,
                fix="move such files to object storage and keep their keys in the table",
            )
        ]
    fix = "consider object storage for files this large"
    if settings.batch_size * biggest > BATCH_MEMORY_BYTES:
        fix = (
            f"batch_size = {max(1, BATCH_MEMORY_BYTES // biggest)} in [settings] keeps a batch "
            f"under {human_bytes(BATCH_MEMORY_BYTES)}; " + fix
        )
    return [
        Finding(
            "warning",
            "large_blob",
            f"{where}: {p.blobs:,} blobs, the largest {human_bytes(biggest)}; they slow COPY "
            "and weigh on every batch",
            table=tp.source.name,
            column=col.source,
            count=p.blobs,
            fix=fix,
        )
    ]


def embeddings(source: Source, tp: TablePlan, col: ColumnPlan, p: ColumnProfile) -> list[Finding]:
    """Float arrays of one length (JSON text or packed blobs): embeddings pgvector could hold."""
    if col.family == "vector":
        return []
    where = f"{tp.source.name}.{col.source}"
    if (
        col.family == "bytes"
        and p.blobs
        and not (p.texts or p.integers or p.reals)
        and p.min_blob_length == p.max_blob_length
        and p.min_blob_length
    ):
        fmt = _packed_floats(
            source.sample(tp.source, col.source, EMBEDDING_SAMPLE), p.min_blob_length
        )
        if fmt is None:
            return []
        name, size = fmt
        dims = p.min_blob_length // size
        override = (
            f'columns."{tp.source.name}.{col.source}" = {{ type = "vector({dims})", '
            f'blob_format = "{name}" }}'
        )
        return [
            Finding(
                "info",
                "embeddings",
                f"{where} looks like embeddings: {p.blobs:,} blobs of {dims} {name[:-2]} "
                f"values; carried as {col.pg_type}",
                table=tp.source.name,
                column=col.source,
                count=p.blobs,
                fix=f"to search them with pgvector: {override}",
            )
        ]
    if (
        col.family in ("text", "json")
        and p.texts
        and p.json_containers == p.texts
        and not (p.integers or p.reals or p.blobs)
    ):
        length = _json_float_arrays(source.sample(tp.source, col.source, EMBEDDING_SAMPLE))
        if length is None:
            return []
        override = f'columns."{tp.source.name}.{col.source}" = "vector({length})"'
        return [
            Finding(
                "info",
                "embeddings",
                f"{where} looks like embeddings: {p.texts:,} JSON arrays of {length} numbers; "
                f"carried as {col.pg_type}",
                table=tp.source.name,
                column=col.source,
                count=p.texts,
                fix=f"to search them with pgvector: {override}",
            )
        ]
    return []


def _packed_floats(samples: list[Any], length: int) -> tuple[str, int] | None:
    blobs = [bytes(s) for s in samples if isinstance(s, (bytes, bytearray, memoryview))]
    if not blobs:
        return None
    for name, code, size in FLOAT_FORMATS:
        if length % size or length // size < MIN_EMBEDDING_DIMS:
            continue
        count = length // size
        if all(_small_finite(struct.unpack(f"<{count}{code[1]}", b)) for b in blobs):
            return name, size
    return None


def _json_float_arrays(samples: list[Any]) -> int | None:
    lengths = set()
    for s in samples:
        if not isinstance(s, str):
            return None
        try:
            value = json.loads(s)
        except ValueError:
            return None
        if not (
            isinstance(value, list)
            and value
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
        ):
            return None
        if not any(isinstance(x, float) for x in value) or not _small_finite(value):
            return None
        lengths.add(len(value))
    if len(lengths) != 1:
        return None
    dims = lengths.pop()
    return dims if dims >= MIN_EMBEDDING_DIMS else None


def _small_finite(values: Any) -> bool:
    return all(math.isfinite(x) and abs(x) <= EMBEDDING_MAX_ABS for x in values)


def invalid_utf8(
    source: Source, tp: TablePlan, col: ColumnPlan, p: ColumnProfile, settings: Settings
) -> list[Finding]:
    """Text values whose bytes are not UTF-8, found in a sample of the column."""
    if col.family not in ("text", "json") or not p.texts:
        return []
    sample = source.sample(tp.source, col.source, settings.sample_rows)
    bad = sum(isinstance(v, InvalidText) for v in sample)
    if not bad:
        return []
    where = f"{tp.source.name}.{col.source}"
    if settings.invalid_utf8 == "replace":
        return [
            Finding(
                "info",
                "invalid_utf8",
                f"{where}: {bad:,} of {len(sample):,} sampled values are not valid UTF-8; they "
                "are written with U+FFFD for the bad bytes (invalid_utf8 = 'replace')",
                table=tp.source.name,
                column=col.source,
                count=bad,
            )
        ]
    return [
        Finding(
            "warning",
            "invalid_utf8",
            f"{where}: {bad:,} of {len(sample):,} sampled values are not valid UTF-8; their "
            "rows are rejected",
            table=tp.source.name,
            column=col.source,
            count=bad,
            fix="invalid_utf8 = 'replace' in [settings] keeps them with U+FFFD, or "
            f'columns."{tp.source.name}.{col.source}" = "bytea" keeps the exact bytes',
        )
    ]
