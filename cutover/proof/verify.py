"""Parity: prove the Postgres copy equals the source,
table by table, and name the first differences.

By default verify reads the source again through the load's row path (cutover.rows.path), sums
per-bucket digests of what the load should have written, streams the target once, and compares:
the proof is of the target against what the source holds now. When the source is gone
(decommissioned), the digests the load recorded in `_cutover` stand in for it, and the result says
so. A differing bucket is narrowed row by row to keys, columns and values.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from cutover import urls
from cutover.config import Config, DatabaseConfig
from cutover.errors import CutoverError, UnknownChoiceError, UsageError
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.rejects import table_file
from cutover.proof import columnar
from cutover.proof.results import (
    Accepted,
    DatabaseParity,
    Difference,
    PolicyChange,
    TableParity,
    VerifyResult,
    table_details,
    table_summary,
)
from cutover.proof.schema_parity import SchemaIssue, schema_parity
from cutover.proof.sides import (
    SIDES,
    SourceSide,
    Workers,
    json_text,
    key_text,
    parallel_jobs,
    row_path,
    target_digests,
    target_rows,
)
from cutover.rows.digest import DIGEST_VERSION, NULL, RANGE_WIDTH, Digests
from cutover.rows.path import Policies, RowPath
from cutover.sources import open_source
from cutover.sources.base import Source
from cutover.values.coerce import json_safe

__all__ = [  # the results are defined in cutover.proof.results; verify is where callers find them
    "Accepted",
    "DatabaseParity",
    "Difference",
    "PolicyChange",
    "SchemaIssue",
    "TableParity",
    "VerifyResult",
    "table_details",
    "table_summary",
    "verify",
]

PARALLEL_MIN_ROWS = (
    200_000  # a table this large is digested by worker processes, both sides at once
)
MAX_DIFFERENCES = 10  # differing rows reported per table
MAX_NARROWED_BUCKETS = 20  # differing buckets examined row by row per table
PREVIEW = 80  # characters of a value shown in a difference


# -- the work ------------------------------------------------------------------------------------


VERIFY_MODES = (
    "auto",
    "source",
    "load",
)  # auto: the source when reachable, else the load's digests


def verify(
    config: Config,
    workdir: Path,
    *,
    database: str | None = None,
    table: str | None = None,
    digests: str = "auto",
) -> VerifyResult:
    """Compare source and target of every selected database; see VerifyResult.ok.

    By default the source is read again and compared by content; the digests the load recorded
    serve when it is not reachable (decommissioned), or on request (`digests="load"`).
    """
    if digests not in VERIFY_MODES:
        raise UnknownChoiceError("verify digests", digests, list(VERIFY_MODES))
    return VerifyResult(
        [_verify_db(config, db, workdir, table, digests) for db in config.database(database)]
    )


def _open_reachable(config: Config, db: DatabaseConfig, mode: str) -> tuple[Source | None, str]:
    """The source, or None with the reason when it is gone and the mode allows that."""
    try:
        return open_source(db.source, config.base_dir), ""
    except CutoverError as exc:
        if mode == "source":
            raise
        return None, urls.redact(exc.message)


def _verify_db(
    config: Config, db: DatabaseConfig, workdir: Path, only_table: str | None, mode: str
) -> DatabaseParity:
    source, unreachable = _open_reachable(config, db, mode)
    conn = tgt.connect(db.target)
    try:
        set_json_loads(json_text, conn)
        manifest = _manifest(conn, db)
        stale = source is not None and source.fingerprint() != manifest["source_fingerprint"]
        result = DatabaseParity(db.name, urls.redact(db.target), stale)
        if source is None:
            result.compared_with = (
                f"the digests the load recorded (the source is not reachable: {unreachable})"
            )
        elif mode == "load" and not stale:
            result.compared_with = "the digests the load recorded (--digests load)"
        tables = manifest["tables"]
        if only_table is not None:
            tables = [t for t in tables if only_table in (t["source"], t["target"])]
            if not tables:
                raise UnknownChoiceError(
                    "table", only_table, [t["source"] for t in manifest["tables"]], database=db.name
                )
        result.accepted = [
            Accepted(o["table"], o["subject"], o["reason"]) for o in manifest["omissions"]
        ]
        result.schema_issues = schema_parity(conn, source, db, manifest, tables)
        rejects_dir = workdir / "rejects" / db.name
        workers = Workers()
        try:
            for t in tables:
                result.tables.append(
                    _table_parity(
                        conn,
                        source,
                        manifest,
                        t,
                        stale,
                        rejects_dir,
                        read_source=mode != "load",
                        parallel=(workers, db, config.base_dir),
                    )
                )
        finally:
            workers.close()
        return result
    finally:
        conn.close()
        if source is not None:
            source.close()


def _manifest(conn: psycopg.Connection[Any], db: DatabaseConfig) -> dict[str, Any]:
    found = state.read_manifest(conn, db.name)
    if found is None:
        raise UsageError(
            f"no load of {db.name} is recorded in the target",
            database=db.name,
            hint="run `cutover run --phase 2` first; verify compares what it loaded",
        )
    manifest, complete = found
    if not complete:
        raise UsageError(
            f"the load of {db.name} did not finish",
            database=db.name,
            hint="run `cutover run --phase 2` to resume it, then verify",
        )
    return manifest


def _recorded_counts(conn: psycopg.Connection[Any], database: str, table: str) -> tuple[int, int]:
    """(rows read, rows rejected) as the load recorded them."""
    chunks = state.load_chunks(conn, database, table)
    conn.rollback()
    return sum(c.rows_read for c in chunks if c.chunk >= 0), sum(c.rows_rejected for c in chunks)


def _excluded_keys(
    conn: psycopg.Connection[Any], database: str, t: dict[str, Any], rejects_dir: Path
) -> set[str]:
    """The keys of the rows the load rejected, as the target recorded them with the load.

    A target loaded before cutover recorded them there falls back to the workdir's reject file.
    """
    recorded = state.rejected_keys(conn, database, t["target"])
    if recorded is not None:
        return {key_text(r.key) for r in recorded}
    path = table_file(rejects_dir, t["source"])
    if not path.exists():
        return set()
    keys = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            keys.add(key_text(json.loads(line)["key"]))
    return keys


def _table_parity(
    conn: psycopg.Connection[Any],
    source: Source | None,
    manifest: dict[str, Any],
    t: dict[str, Any],
    stale: bool,
    rejects_dir: Path,
    *,
    read_source: bool,
    parallel: tuple[Workers, DatabaseConfig, Path] | None = None,
) -> TableParity:
    started = time.monotonic()
    database, schema = manifest["database"], manifest["target_schema"]
    read, rejected = _recorded_counts(conn, database, t["target"])
    res = TableParity(t["source"], t["target"], source_rows=read, rejected=rejected)
    schema_table = None
    if source is not None:
        schema_table = source.reflect().table(t["source"])
        res.source_rows = source.count(schema_table)
        path = row_path(source, schema_table, manifest, t)
    else:
        path = RowPath.for_manifest(t, [], [], Policies.from_manifest(manifest))
    hasher = path.hasher
    res.changed = [
        PolicyChange(column, path.policies.describe(policy), n)
        for (column, policy), n in sorted(state.changed_values(conn, database, t["target"]).items())
    ]
    stored = None
    trusted = manifest.get("digest") == DIGEST_VERSION
    if trusted and not stale and (source is None or not read_source):
        stored = state.stored_digests(conn, database, t["target"])
        conn.rollback()
    excluded = frozenset(_excluded_keys(conn, database, t, rejects_dir))
    side = None if source is None else SourceSide(source, schema_table, path, excluded)
    if stored is None and source is None:
        res.note = (
            "the source is not reachable and the load stored no digests this version of "
            "cutover can use"
        )
        res.differing_buckets = ["(not comparable)"]
        res.seconds = time.monotonic() - started
        return res
    if stored is None:
        res.digests_from = "source"
        if stale:
            res.note = "the source changed since the load; its rows were read again"
        elif not read_source and manifest.get("digest") is None:
            res.note = 'the load stored no row digests (digests = "verify"); the source was read'
        elif not read_source:
            res.note = (
                "the load's digests were made by another cutover version; the source was read again"
            )
    actual = None
    reading: Future[Digests] | None = None
    if (
        stored is None
        and parallel is not None
        and res.source_rows >= PARALLEL_MIN_ROWS
        and not (side and columnar.source_readable(side.source, side.table, path, excluded))
    ):
        # both sides at once, over the load's key ranges, one worker process per core
        assert side is not None
        workers, db, base_dir = parallel
        keyed = hasher.ranged and path.key_columns == list(side.table.primary_key)
        jobs = parallel_jobs(conn, db, base_dir, manifest, t, keyed, excluded, SIDES)
        stored, actual, problem = workers.digests(jobs)
        if problem is not None:
            actual = None  # read again below, where the problem is reported
    elif stored is None and side is not None and side.source.kind == "sqlite":
        # the source in a thread while the target is read here: ADBC, Arrow's kernels and SQLite
        # work outside the GIL, so the two sides overlap as worker processes would, without them
        # (a SQLite connection opened for any thread; a DB-API driver's is not shared)
        thread = ThreadPoolExecutor(1, thread_name_prefix="cutover-verify-source")
        # a source unchanged since the load holds the storage classes its profile found
        recorded = None if stale else columnar.recorded_storage(t)
        reading = thread.submit(side.digests, None, None, recorded)
        thread.shutdown(wait=False)  # the thread ends with its one task
    elif stored is None:
        assert side is not None
        stored = side.digests()
    try:
        if actual is None:
            url = parallel[1].target if parallel is not None else None
            actual = target_digests(conn, url, schema, t, hasher)
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        res.note = f"target table {t['target']} does not exist"
        res.differing_buckets = ["(whole table)"]
        res.seconds = time.monotonic() - started
        return res
    except psycopg.errors.UndefinedColumn as exc:
        conn.rollback()
        res.note = f"cannot read the target: {exc.diag.message_primary}"
        res.differing_buckets = ["(whole table)"]
        res.target_rows = tgt.row_count(conn, schema, t["target"])
        conn.rollback()
        res.seconds = time.monotonic() - started
        return res
    finally:
        if reading is not None:  # the source is read to the end before anything else uses it
            stored = reading.result()
    assert stored is not None
    if stale:
        res.rejected = res.source_rows - stored.rows
    res.target_rows = actual.rows
    differing = stored.differing(actual)
    res.differing_buckets = [hasher.describe_bucket(b) for b in differing]
    if differing and source is None:
        res.note = "the source is not reachable, so the differing rows cannot be named"
    elif differing:
        assert source is not None and schema_table is not None
        assert side is not None
        res.differences = _narrow(conn, side, manifest, t, differing[:MAX_NARROWED_BUCKETS])
    res.seconds = time.monotonic() - started
    return res


def _narrow(
    conn: psycopg.Connection[Any],
    side: SourceSide,
    manifest: dict[str, Any],
    t: dict[str, Any],
    buckets: list[int],
) -> list[Difference]:
    """Compare the rows of the differing buckets one by one."""
    hasher = side.path.hasher
    wanted = set(buckets)
    names = [c["target"] for c in t["columns"]]
    sources_by_key: dict[tuple[str, ...], list[list[str]]] = {}
    readable: dict[tuple[str, ...], dict[str, Any]] = {}
    for row, key in side.rows():
        if hasher.bucket(row) in wanted:
            k = hasher.key(row)
            sources_by_key.setdefault(k, []).append(hasher.parts(row))
            readable[k] = key
    where = None
    if hasher.ranged:
        col = sql.Identifier(names[hasher.key_positions[0]])
        where = sql.SQL(" OR ").join(
            sql.SQL("({} >= {} AND {} < {})").format(
                col, sql.Literal(b * RANGE_WIDTH), col, sql.Literal((b + 1) * RANGE_WIDTH)
            )
            for b in buckets
        )
    targets_by_key: dict[tuple[str, ...], list[list[str]]] = {}
    for row in target_rows(conn, manifest["target_schema"], t, where):
        if hasher.bucket(row) in wanted:
            k = hasher.key(row)
            targets_by_key.setdefault(k, []).append(hasher.parts(row))
            readable.setdefault(
                k,
                {names[i]: json_safe(row[i]) for i in hasher.key_positions} or {"row": "(no key)"},
            )
    diffs: list[Difference] = []
    for k in sorted(set(sources_by_key) | set(targets_by_key)):
        src, dst = sources_by_key.get(k, []), targets_by_key.get(k, [])
        key = readable.get(k, {})
        if not hasher.key_positions:
            key = {"row": _show("|".join(k))}
        if len(src) == len(dst) == 1:
            if src[0] != dst[0]:
                i = next(i for i, (a, b) in enumerate(zip(src[0], dst[0])) if a != b)
                shown = _show_pair(src[0][i], dst[0][i])
                diffs.append(Difference("changed", key, t["columns"][i]["source"], *shown))
        elif not dst:
            diffs.append(
                Difference(
                    "missing", key, None, f"{len(src)} row(s) in the source are not in the target"
                )
            )
        elif not src:
            diffs.append(
                Difference(
                    "extra",
                    key,
                    None,
                    None,
                    f"{len(dst)} row(s) in the target are not in the source",
                )
            )
        elif len(src) != len(dst):
            diffs.append(
                Difference(
                    "duplicated",
                    key,
                    None,
                    f"{len(src)} in the source",
                    f"{len(dst)} in the target",
                )
            )
        elif sorted(src) != sorted(dst):
            diffs.append(Difference("changed", key, None, "rows with this key differ", None))
        if len(diffs) >= MAX_DIFFERENCES:
            break
    return diffs


def _show_pair(a: str, b: str) -> tuple[str, str]:
    """Both values, cut to a window around their first differing character."""
    if a is NULL or b is NULL or (len(repr(a)) <= PREVIEW and len(repr(b)) <= PREVIEW):
        return _show(a), _show(b)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, first - PREVIEW // 2)

    def cut(s: Any) -> str:
        return (
            ("…" if start else "")
            + _show(s[start : start + PREVIEW - 10])
            + ("…" if start + PREVIEW - 10 < len(s) else "")
            + f" (differs at character {first + 1:,} of {len(s):,})"
        )

    return cut(a), cut(b)


def _show(canonical: str) -> str:
    text = "NULL" if canonical is NULL else repr(canonical)
    text = urls.redact(text)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"
