"""SQL Server source: catalog reflection, a profiling scan, and keyset-paged streaming.

Reads one schema of one database (``dbo`` unless the URL says ``schema=…``) through SQLAlchemy's
mssql dialect with pyodbc or pymssql (mssql_connect.py). The catalog rows become the neutral
model in mssql_catalog.py; values are decoded by mssql_types.py. Every query is built from
bracket-quoted identifiers with values as parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from cutover.errors import SourceError
from cutover.schema import sqltext
from cutover.schema.model import ColumnProfile, Schema, Table, TableProfile
from cutover.sources import mssql_catalog as catalog
from cutover.sources import mssql_facts as facts
from cutover.sources.base import PROBE_ROWS, Batch, SourceInfo, rows_within_budget
from cutover.sources.mssql_connect import (
    ConnectSpec,
    connect_spec,
    connection_hint,
    create_engine,
    installed_odbc_drivers,
    pymssql_installed,
)
from cutover.sources.mssql_sql import (
    ROW_NUMBER,
    keyset_params,
    keyset_queries,
    orderable,
    profile_expressions,
    qualified,
    quote,
    single_pass_query,
    translate_default,
)
from cutover.sources.mssql_types import (
    SQL_SS_TIMESTAMPOFFSET,
    KeyPart,
    datetimeoffset_from_struct,
    decoder,
    key_part,
    profile_class,
    select_expression,
)
from cutover.values.coerce import compile_row

# placeholder token in built SQL; becomes '?' (pyodbc) or '%s' (pymssql) when executed
PARAM = "\x1fP\x1f"
JSON_FUNCTIONS_MAJOR = 13  # ISJSON arrived in SQL Server 2016 (13.x)

Fetch = Callable[[str, list[Any]], list[tuple[Any, ...]]]


class MssqlSource:
    """One schema of a SQL Server database, read-only."""

    kind = "mssql"

    def __init__(self, url: str) -> None:
        self.spec: ConnectSpec = connect_spec(
            url, odbc_drivers=installed_odbc_drivers(), pymssql_available=pymssql_installed()
        )
        self.schema_name = self.spec.schema
        self.engine = create_engine(self.spec)
        self.dbapi = self.engine.dialect.dbapi
        try:
            self.raw = self.engine.raw_connection()
        except Exception as exc:  # SQLAlchemy wraps the driver's error; its text names the cause
            from cutover.urls import redact

            message = redact(
                str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                if str(exc).strip()
                else repr(exc)
            )
            raise SourceError(
                f"cannot connect to SQL Server at {redact(url)}: {message}",
                hint=connection_hint(str(exc)),
            ) from exc
        self.conn = self.raw.driver_connection
        if self.spec.dbapi == "pyodbc":
            # datetimeoffset arrives as the driver's struct bytes; without this pyodbc refuses the
            # column
            self.conn.add_output_converter(SQL_SS_TIMESTAMPOFFSET, datetimeoffset_from_struct)
        self.db = facts.DatabaseFacts.from_row(self._rows(catalog.DATABASE_SQL)[0])
        self._reflection: catalog.Reflection | None = None

    # -- plumbing --------------------------------------------------------------------------------

    def _sql(self, text: str, has_params: bool) -> str:
        if self.spec.dbapi == "pymssql" and has_params:
            text = text.replace("%", "%%")
        return text.replace(PARAM, self.spec.placeholder)

    def _cursor(self, text: str, params: list[Any] | None = None) -> Any:
        cur = self.conn.cursor()
        try:
            if params:
                cur.execute(self._sql(text, True), tuple(params))
            else:
                cur.execute(self._sql(text, False))
        except self.dbapi.Error as exc:
            cur.close()
            from cutover.urls import redact

            raise SourceError(
                f"SQL Server refused a query: {redact(str(exc))}",
                hint="the account needs SELECT on the tables and VIEW DEFINITION on the schema",
            ) from exc
        return cur

    def _rows(self, text: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        cur = self._cursor(text, params)
        try:
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def _table_sql(self, table: Table) -> str:
        return qualified(self.schema_name, table.name)

    def _info(self, table: Table) -> facts.TableInfo:
        return self._reflect().tables[table.name]

    # -- catalog ---------------------------------------------------------------------------------

    def describe(self) -> SourceInfo:
        """Server version and edition, database size, collation, snapshot isolation, driver."""
        db = self.db
        notes = [
            f"database {db.name}, schema {self.schema_name}",
            f"collation {db.collation}",
            f"snapshot isolation {db.snapshot_isolation}",
            f"driver {self.spec.dbapi}",
        ]
        return SourceInfo(
            "mssql",
            f"SQL Server {db.version} {db.edition}".strip(),
            db.size_bytes,
            notes + list(self.spec.notes),
        )

    def _reflect(self) -> catalog.Reflection:
        if self._reflection is None:
            p = [self.schema_name]
            fmt = {"p": PARAM}
            rows = catalog.CatalogRows(
                tables=self._rows(catalog.TABLES_SQL.format(**fmt), p),
                columns=self._rows(catalog.COLUMNS_SQL.format(**fmt), p),
                indexes=self._rows(catalog.INDEXES_SQL.format(**fmt), p),
                foreign_keys=self._rows(catalog.FOREIGN_KEYS_SQL.format(**fmt), p),
                checks=self._rows(catalog.CHECKS_SQL.format(**fmt), p),
                triggers=self._rows(catalog.TRIGGERS_SQL.format(**fmt), p),
                objects=self._rows(catalog.OBJECTS_SQL.format(**fmt), p),
                schemas=self._rows(catalog.SCHEMAS_SQL),
            )
            self._reflection = catalog.reflect_rows(self.schema_name, rows, self.db)
        return self._reflection

    def reflect(self) -> Schema:
        """Tables, columns, keys, indexes, views, triggers and findings of the schema."""
        return self._reflect().schema

    def translate_default(self, default: str, pg_type: str) -> sqltext.DefaultTranslation:
        """A T-SQL column default → a Postgres default of `pg_type` (mapping asks the source)."""
        return translate_default(default, pg_type)

    def sequence_values(self) -> dict[str, int]:
        """Per table, the identity's last value (or seed − increment when unused): Postgres
        continues after it.
        """
        return self._reflect().sequence_floors()

    # -- data ------------------------------------------------------------------------------------

    def count(self, table: Table) -> int:
        """Exact row count."""
        return int(self._rows(f"SELECT COUNT_BIG(*) FROM {self._table_sql(table)}")[0][0])

    def key_columns(self, table: Table) -> list[str]:
        """The primary key (or a unique NOT NULL key); for
        other tables, the row's number in one ordered pass.
        """
        return list(self._info(table).key) or [ROW_NUMBER]

    def key_range(self, table: Table) -> tuple[Any, Any] | None:
        """(min, max) of a single integer key, for splitting the table into chunks; else None."""
        info = self._info(table)
        if len(info.key) != 1 or info.types[info.key[0]].name not in (
            "tinyint",
            "smallint",
            "int",
            "bigint",
        ):
            return None
        low, high = self._rows(
            f"SELECT MIN({quote(info.key[0])}), MAX({quote(info.key[0])}) FROM "
            f"{self._table_sql(table)}"
        )[0]
        return (int(low), int(high)) if low is not None and high is not None else None

    def read(
        self,
        table: Table,
        columns: list[str],
        *,
        batch_size: int,
        after: tuple[Any, ...] | None = None,
        until: tuple[Any, ...] | None = None,
    ) -> Iterator[Batch]:
        """Rows in key order, batch_size at a time, each
        (*key, *columns); keys > after and < until.
        """
        if until is None:
            yield from self._read(table, columns, batch_size=batch_size, after=after)
            return
        bound = tuple(until)
        for batch in self._read(table, columns, batch_size=batch_size, after=after):
            # pages come in key order: cut the one that crosses the bound and stop (at most one page
            # over-read)
            width = batch.key_width
            keep = [r for r in batch.rows if tuple(r[:width]) < bound]
            if keep:
                yield Batch(keep, width, batch.suspect)
            if len(keep) < len(batch.rows):
                return

    def _read(
        self,
        table: Table,
        columns: list[str],
        *,
        batch_size: int,
        after: tuple[Any, ...] | None = None,
    ) -> Iterator[Batch]:
        info = self._info(table)
        flag: list[bool] = []
        value_selects = [select_expression(info.types[c], quote(c)) for c in columns]
        value_decoders = [decoder(info.types[c], flag) for c in columns]
        if not info.key:
            yield from self._single_pass(
                table, info, value_selects, value_decoders, flag, batch_size, after
            )
            return
        parts = [
            key_part(info.types[k], quote(k), PARAM, self.db.code_page, flag) for k in info.key
        ]
        key_parts: list[KeyPart] = [
            p for p in parts if p is not None
        ]  # choose_key only picks keys whose parts exist
        queries = keyset_queries(
            self._table_sql(table),
            [p.select for p in key_parts] + value_selects,
            [quote(k) for k in info.key],
            key_parts,
            PARAM,
        )
        transform = compile_row(0, [p.decode for p in key_parts] + value_decoders)

        def fetch(text: str, params: list[Any]) -> list[tuple[Any, ...]]:
            return [transform(r) for r in self._rows(text, params)]

        for rows in paged(
            fetch, queries.first, queries.following, key_parts, batch_size, after, table.name
        ):
            suspect = bool(flag)
            flag.clear()
            yield Batch(rows, len(key_parts), suspect)

    def _single_pass(
        self,
        table: Table,
        info: facts.TableInfo,
        selects: list[str],
        decoders: list[Any],
        flag: list[bool],
        batch_size: int,
        after: tuple[Any, ...] | None,
    ) -> Iterator[Batch]:
        order = [quote(c.name) for c in table.columns if orderable(info.types[c.name])]
        text = single_pass_query(self._table_sql(table), selects, order, PARAM)
        transform = compile_row(0, [None] + decoders)
        cur = self._cursor(text, [int(after[0]) if after else 0])
        limit = min(batch_size, PROBE_ROWS)  # bounded in bytes, as `paged` is
        try:
            while True:
                raw = cur.fetchmany(limit)
                if not raw:
                    return
                rows = [transform(tuple(r)) for r in raw]
                suspect = bool(flag)
                flag.clear()
                yield Batch(rows, 1, suspect)
                limit = rows_within_budget(rows, batch_size)
        finally:
            cur.close()

    def sample(self, table: Table, column: str, limit: int) -> list[Any]:
        """Up to `limit` non-null values of a column."""
        ct = self._info(table).types[column]
        decode = decoder(ct) or (lambda v: v)
        rows = self._rows(
            f"SELECT TOP ({PARAM}) {select_expression(ct, quote(column))} FROM "
            f"{self._table_sql(table)} WHERE {quote(column)} IS NOT NULL",
            [limit],
        )
        return [decode(r[0]) for r in rows]

    def profile(self, table: Table, wanted: dict[str, set[str]]) -> TableProfile:
        """One scan of the table computing, per column, the statistics `wanted` names."""
        info = self._info(table)
        exprs = ["COUNT_BIG(*)"]
        slots: list[tuple[str, str]] = []
        json_ok = self.db.major_version >= JSON_FUNCTIONS_MAJOR
        for col, stats in wanted.items():
            for field_name, expr in profile_expressions(
                info.types[col], quote(col), stats, json_ok
            ):
                exprs.append(expr)
                slots.append((col, field_name))
        row = self._rows(f"SELECT {', '.join(exprs)} FROM {self._table_sql(table)}")[0]
        return fill_profile(
            int(row[0]),
            slots,
            row[1:],
            {c: profile_class(info.types[c]) for c in wanted},
            {c for c in wanted if info.types[c].name == "bit"},
        )

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One SNAPSHOT transaction for the whole load when the database allows it (see the
        no_snapshot finding).
        """
        usable = self.db.snapshot_isolation.upper() == "ON" and not any(
            i.memory_optimized for i in self._reflect().tables.values()
        )
        if not usable:
            yield
            return
        self._rows_nothing("SET TRANSACTION ISOLATION LEVEL SNAPSHOT; BEGIN TRANSACTION")
        try:
            yield
        finally:
            self._rows_nothing(
                "IF @@TRANCOUNT > 0 COMMIT; SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
            )

    def _rows_nothing(self, text: str) -> None:
        self._cursor(text).close()

    def fingerprint(self) -> str:
        """Changes when the schema's data changes: row counts, modify dates and write counters
        (or checksums).
        """
        p = [self.schema_name]
        parts = [repr(self._rows(FINGERPRINT_TABLES_SQL.format(p=PARAM), p))]
        try:
            parts.append(repr(self._rows(FINGERPRINT_WRITES_SQL.format(p=PARAM), p)))
        except SourceError:  # no VIEW DATABASE STATE: checksum every table instead (a full read)
            for table in self.reflect().tables:
                parts.append(
                    repr(
                        self._rows(
                            f"SELECT CHECKSUM_AGG(BINARY_CHECKSUM(*)) FROM {self._table_sql(table)}"
                        )
                    )
                )
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def close(self) -> None:
        """Close the connection."""
        try:
            self.raw.close()
        finally:
            self.engine.dispose()


# row counts and modify dates of the schema's tables
FINGERPRINT_TABLES_SQL = """
SELECT t.name, SUM(p.rows), CONVERT(varchar(30), t.modify_date, 126)
FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
JOIN sys.partitions AS p ON p.object_id = t.object_id AND p.index_id IN (0, 1)
WHERE s.name = {p} AND t.is_ms_shipped = 0
GROUP BY t.name, t.modify_date ORDER BY t.name
"""

# inserts, updates and deletes since the table's metadata was cached (needs VIEW DATABASE STATE)
FINGERPRINT_WRITES_SQL = """
SELECT t.name, SUM(os.leaf_insert_count + os.leaf_update_count + os.leaf_delete_count +
    os.leaf_ghost_count)
FROM sys.dm_db_index_operational_stats(DB_ID(), NULL, NULL, NULL) AS os
JOIN sys.tables AS t ON t.object_id = os.object_id JOIN sys.schemas AS s ON s.schema_id =
    t.schema_id
WHERE s.name = {p} AND os.index_id IN (0, 1)
GROUP BY t.name ORDER BY t.name
"""


def paged(
    fetch: Fetch,
    first: str,
    following: str,
    parts: list[KeyPart],
    batch_size: int,
    after: tuple[Any, ...] | None,
    table: str,
) -> Iterator[list[tuple[Any, ...]]]:
    """Keyset pagination: a page, then the page after
    its last key, until a short page; never OFFSET.

    Pages are bounded in bytes as the SQLite reader's are: a first page of PROBE_ROWS measures the
    rows, and each next page holds as many rows like the last ones as fit in BATCH_BYTES (at most
    batch_size), so 5,000 varbinary(max) rows never arrive at once.
    """
    width = len(parts)
    last = after
    limit = min(batch_size, PROBE_ROWS)
    while True:
        rows = (
            fetch(first, [limit])
            if last is None
            else fetch(following, [limit, *keyset_params(parts, last)])
        )
        if not rows:
            return
        yield rows
        if len(rows) < limit:
            return
        limit = rows_within_budget(rows, batch_size)
        new_last = tuple(rows[-1][:width])
        if new_last == last:
            raise SourceError(
                f"paging {table} by its key did not advance past {new_last!r}",
                table=table,
                hint="report this: the key's values do not compare as SQL Server returned them",
            )
        last = new_last


def fill_profile(
    rows: int,
    slots: list[tuple[str, str]],
    values: tuple[Any, ...],
    classes: dict[str, str | None],
    bits: set[str],
) -> TableProfile:
    """A TableProfile from the profile query's row: storage classes from each column's type,
    stats as computed.
    """
    result = TableProfile(rows=rows)
    for column in classes:
        result.columns[column] = ColumnProfile()
    for (column, field_name), value in zip(slots, values):
        setattr(
            result.columns[column],
            field_name,
            value if field_name.startswith(("min_", "max_")) else int(value or 0),
        )
    for column, cls in classes.items():
        prof = result.columns[column]
        non_null = rows - prof.nulls
        if cls is not None:
            setattr(prof, cls, non_null)
        if column in bits:
            prof.zero_one = non_null
        for name in ("min_num", "max_num"):
            value = getattr(prof, name)
            if value is not None:
                setattr(prof, name, float(value))
    return result
