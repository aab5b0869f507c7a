"""Verify's columnar reading: each side of a table as Arrow batches, digested by `ArrowDigest`.

The digests equal the row path's, so whatever this module cannot read is read by `proof.sides`'
Python path and the sums still add up:

- the source, a SQLite table streamed by an integer key, goes through the load's columnar row
  path (`rows.native`). Verify has no profile to trust, so every batch's storage classes are
  checked as it is read (`NativeTable.checked`); a batch the kernels would not carry exactly, and
  the rest of a range whose reader stops, are digested by the Python row path by key range;
- the target is read with the ADBC PostgreSQL driver (binary COPY into Arrow) when every column
  is of a type in ARROW_BASES.

Either function answers None when its side cannot be read this way at all; the caller then reads
it through the Python path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg import sql
from psycopg.conninfo import make_conninfo

from cutover import urls
from cutover.errors import ReaderStopped
from cutover.load import target as tgt
from cutover.load.native import native_module
from cutover.rows.digest import Digests, RowHasher
from cutover.rows.path import RowPath
from cutover.schema.rules import INT_RANGES, pg_base
from cutover.sources.base import Source

Bound = tuple[Any, ...] | None
# the Python row path's digests of a source key range (after, until), both bounds exclusive
RangeDigests = Callable[[Bound, Bound], Digests]

# target column types the ADBC driver reads into values canon_for takes as psycopg's (tested
# type by type against the psycopg path); a table with any other type is read by psycopg
ARROW_BASES = frozenset(INT_RANGES) | {
    "double precision",
    "real",
    "numeric",
    "text",
    "varchar",
    "char",
    "bytea",
    "boolean",
    "timestamp",
    "timestamptz",
    "date",
    "time",
    "uuid",
    "json",
    "jsonb",
    "vector",
    "halfvec",
}
READ_AS_TEXT = frozenset({"vector", "halfvec"})  # the driver knows no pgvector type: their text
APPLICATION_NAME = "cutover verify"
BATCH_HINT_OPTION = "adbc.postgresql.batch_size_hint_bytes"
BATCH_HINT_BYTES = 4 * 2**20


def recorded_storage(t: dict[str, Any]) -> dict[str, list[str]]:
    """Each column's storage classes as the load's profile found them (manifests since this
    version record them)."""
    return {c["source"]: c["storage"] for c in t["columns"] if c.get("storage") is not None}


def range_where(t: dict[str, Any], after: Bound, until: Bound) -> sql.Composable | None:
    """The target's rows of one load key range (both bounds exclusive), or None: all rows."""
    if after is None and until is None:
        return None
    col = sql.Identifier(t["key"][0])
    bounds = [sql.SQL("{} > {}").format(col, sql.Literal(after[0]))] if after else []
    if until is not None:
        bounds.append(sql.SQL("{} < {}").format(col, sql.Literal(until[0])))
    return sql.SQL(" AND ").join(bounds)


def excluded_integers(excluded: frozenset[str] | set[str], key: str) -> set[int] | None:
    """The rejected rows' stream keys as integers; None when one is recorded in another form."""
    found = set()
    for text in excluded:
        value = json.loads(text)
        if not isinstance(value, dict) or len(value) != 1 or type(value.get(key)) is not int:
            return None
        found.add(value[key])
    return found


def _native_columns(source: Source, schema_table: Any, path: RowPath) -> list[Any] | None:
    """The table's columns as the columnar row path reads them, or None: it cannot."""
    native = native_module()
    if native is None or not hasattr(source, "range_query"):
        return None
    columns = native.unprofiled(schema_table, path.key_columns, path)
    return None if isinstance(columns, str) else list(columns)


def source_readable(
    source: Source, schema_table: Any, path: RowPath, excluded: frozenset[str] | set[str]
) -> bool:
    """True when source_digests reads this table as Arrow (but for batches it sends back)."""
    key = path.key_columns[0] if path.key_columns else None
    return (
        _native_columns(source, schema_table, path) is not None
        and key is not None
        and excluded_integers(excluded, key) is not None
    )


def source_digests(
    source: Source,
    schema_table: Any,
    path: RowPath,
    excluded: frozenset[str] | set[str],
    after: Bound,
    until: Bound,
    python: RangeDigests,
    recorded: Mapping[str, Sequence[str]] | None = None,
) -> Digests | None:
    """The source's digests over (after, until) as the load would write it, minus the rejected
    rows; None when the table cannot be read as Arrow at all.

    `recorded`: each column's storage classes as the load's profile found them, given only when
    the source is unchanged since the load; such a column's classes are not checked again.
    """
    native = native_module()
    columns = _native_columns(source, schema_table, path)
    skip = excluded_integers(excluded, path.key_columns[0]) if path.key_columns else None
    if native is None or columns is None or skip is None:
        return None
    sqlite: Any = source  # the SQLite reader: range_query, row_bytes and uri
    # pyarrow costs 0.3 s to import: only a verify that reads a table pays it
    import pyarrow as pa
    import pyarrow.compute as pc

    table = native.NativeTable(columns, path)
    names = [c.source for c in path.columns]
    query = sqlite.range_query(
        schema_table, names, after, until, table.sentinel(checked=True), table.storage(recorded)
    )
    skipped = pa.array(sorted(skip), pa.int64())
    digests, last = Digests(), after
    try:
        rows = native.batch_rows(sqlite.row_bytes(schema_table))
        for batch in table.read(sqlite.uri, query, rows):
            keys = batch.column(0)
            low, high = (v.as_py() for v in pc.min_max(keys).values())
            if skip:
                batch = batch.filter(pc.invert(pc.is_in(keys, value_set=skipped)))
            checked = table.checked(batch)
            coerced = None if checked is None else table.coerce_batch(checked)
            if coerced is None:
                digests.merge(python((low - 1,), (high + 1,)).buckets)
            elif coerced.num_rows:
                digests.merge(table.digest_batch(coerced).buckets)
            last = (high,)
    except ReaderStopped:
        digests.merge(python(last, until).buckets)
    return digests


def target_digests(
    url: str, schema: str, t: dict[str, Any], hasher: RowHasher, after: Bound, until: Bound
) -> Digests | None:
    """The target's digests over (after, until); None when the table cannot be read as Arrow
    (a column type outside ARROW_BASES, no driver, or any error: psycopg then reads and reports).
    """
    types = [c["pg_type"] for c in t["columns"]]
    if not all(pg_base(pg_type) in ARROW_BASES for pg_type in types):
        return None
    try:  # as in source_digests: imported by a verify that reads a table, not by every command
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc_pg
        import pyarrow as pa

        from cutover.rows.arrow_digest import ArrowDigest
    except ImportError:
        return None
    columns = sql.SQL(", ").join(
        sql.SQL("{}::text" if pg_base(pg_type) in READ_AS_TEXT else "{}").format(
            sql.Identifier(c["target"])
        )
        for c, pg_type in zip(t["columns"], types)
    )
    query = sql.SQL("SELECT {} FROM {}").format(columns, tgt.qualified(schema, t["target"]))
    where = range_where(t, after, until)
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    conninfo = urls.postgres_conninfo(url)
    conninfo = make_conninfo(
        conninfo,
        options=tgt.session_options(conninfo),
        application_name=APPLICATION_NAME,
        connect_timeout=tgt.CONNECT_TIMEOUT_S,
    )
    digester = ArrowDigest.for_types(types, hasher)
    digests = Digests()
    try:
        with adbc_pg.connect(conninfo) as conn, conn.cursor() as cur:
            # the driver's default (16 MB of COPY data per batch) held 100 MB more at 1M rows
            cur.adbc_statement.set_options(**{BATCH_HINT_OPTION: str(BATCH_HINT_BYTES)})
            cur.execute(query.as_string())
            for batch in cur.fetch_record_batch():
                if batch.num_rows:
                    digests.merge(digester.digest(batch).buckets)
    except (adbc_driver_manager.Error, pa.ArrowException):
        return None  # psycopg reads the table again and raises (or reports) what it meets
    return digests
