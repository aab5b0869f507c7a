"""An independent parity oracle: a SQLite file against the Postgres it was moved into.

It imports nothing from cutover. It reads the source with SQLite (sqlean, a sqlite3 build that
can load extensions such as vec0 and mod_spatialite) and the target with psycopg, and compares
per table: row count; rows as multisets, each value normalized by the type family of its target
column; NOT NULL; varchar lengths; primary, unique and foreign keys. It returns human-readable
differences, empty when the move is exact.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
import sqlean as sqlite3
from psycopg import sql

MAX_EXAMPLES = 3  # differing rows named per table; more only repeat the story
BUILTIN_COLLATIONS = {"BINARY", "NOCASE", "RTRIM"}
EPOCH_MS_ABOVE = 100_000_000_000  # an epoch number past this is in milliseconds (year 5138 in s)
EPOCH_US_ABOVE = 100_000_000_000_000  # … and past this in microseconds
FAMILIES = {
    "int": {"smallint", "integer", "bigint"},
    "numeric": {"numeric"},
    "float": {"real", "double precision"},
    "text": {"text", "character varying", "character", "citext", "name"},
    "bytes": {"bytea"},
    "json": {"json", "jsonb"},
    "timestamp": {"timestamp with time zone", "timestamp without time zone"},
    "date": {"date"},
    "time": {"time with time zone", "time without time zone"},
    "bool": {"boolean"},
    "vector": {"vector", "halfvec"},
    "uuid": {"uuid"},
}
VARCHAR_DECL = re.compile(
    r"\b(?:N?VARCHAR|CHARACTER VARYING|VARYING CHARACTER|N?CHAR(?:ACTER)?)\s*\(\s*(\d+)",
    re.IGNORECASE,
)
ROWID_MODULES = {"fts3", "fts4", "fts5", "vec0"}  # virtual tables whose rowid is app data
READ_AS = {"json": "{}::text", "vector": "{}::text", "float": "{}::float8"}
# Postgres refuses a user column named like a system column; the one rename the oracle accepts
PG_SYSTEM_COLUMNS = {"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"}
MISMATCH = "≠"  # tags a source value its target family cannot hold, so it equals nothing there


@dataclass
class SourceTable:
    name: str
    columns: list[str]
    declared: dict[str, str]
    not_null: set[str]
    primary_key: list[str]
    uniques: list[set[str]]
    foreign_keys: list[tuple[list[str], str, list[str]]]


@dataclass
class TargetTable:
    name: str
    types: dict[str, str]  # column → information_schema data_type (udt_name for user types)
    nullable: dict[str, bool]
    lengths: dict[str, int | None]
    primary_key: list[str]
    uniques: list[set[str]]
    foreign_keys: list[tuple[list[str], str, list[str]]]
    renamed: dict[str, str]  # source name → target name (system column names only)


def open_sqlite(path: Path, extensions: Sequence[str] = ()) -> sqlite3.Connection:
    """A read-only connection with the given extensions loaded and any custom collation stood in."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    if extensions:
        conn.enable_load_extension(True)
        for ext in extensions:
            conn.load_extension(ext)
    ddl = " ".join(sql or "" for (sql,) in conn.execute("SELECT sql FROM sqlite_master"))
    for name in set(re.findall(r"COLLATE\s+\"?(\w+)", ddl, re.IGNORECASE)):
        if name.upper() not in BUILTIN_COLLATIONS:
            conn.create_collation(name, lambda a, b: (a > b) - (a < b))
    return conn


def compare(
    source: Path, target_url: str, *, schema: str = "public", extensions: Sequence[str] = ()
) -> list[str]:
    """Every difference between the SQLite file and the target schema; [] when they agree."""
    src = open_sqlite(source, extensions)
    diffs: list[str] = []
    with psycopg.connect(target_url) as pg:
        pg.execute("SET TIME ZONE 'UTC'")
        for table in source_tables(src):
            tgt = target_table(pg, schema, table.name)
            if tgt is None:
                diffs.append(f"{table.name}: table missing on the target")
                continue
            diffs += compare_schema(src, table, tgt)
            diffs += compare_rows(src, pg, schema, table, tgt)
    src.close()
    return diffs


def source_tables(src: sqlite3.Connection) -> list[SourceTable]:
    """The tables the app sees: ordinary and virtual ones, not SQLite's own nor shadow tables."""
    listed = src.execute("PRAGMA table_list").fetchall()  # schema, name, type, ncol, wr, strict
    names = [n for s, n, kind, *_ in listed if s == "main" and kind == "table"]
    virtual = [n for s, n, kind, *_ in listed if s == "main" and kind == "virtual"]
    # sqlite-vec lists some of its shadow tables as ordinary ones: the naming convention tells
    names = [n for n in names if not any(n.startswith(f"{v}_") for v in virtual)]
    names += [n for n in virtual if _holds(src, n)]
    return [_source_table(src, n) for n in sorted(names) if not n.startswith("sqlite_")]


def _holds(src: sqlite3.Connection, virtual: str) -> bool:
    """Whether a virtual table holds the app's rows (an FTS index does; SpatiaLite's KNN does not)."""
    try:
        return src.execute(f"SELECT 1 FROM {_quote(virtual)} LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False  # a function-like table that answers only constrained queries


def _source_table(src: sqlite3.Connection, name: str) -> SourceTable:
    info = src.execute("SELECT * FROM pragma_table_xinfo(?)", (name,)).fetchall()
    columns = [r[1] for r in info if r[6] != 1]  # hidden == 1: a virtual table's hidden column
    ddl = src.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0] or ""
    module = re.search(r"\bUSING\s+(\w+)", ddl, re.IGNORECASE)
    if module and module.group(1).lower() in ROWID_MODULES and "rowid" not in columns:
        columns.insert(0, "rowid")  # the key the app joins on (chromadb: embeddings.id)
    pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
    uniques = []
    for _, index, unique, _, partial in src.execute("SELECT * FROM pragma_index_list(?)", (name,)):
        cols = [r[2] for r in src.execute("SELECT * FROM pragma_index_info(?)", (index,))]
        if unique and not partial and None not in cols and set(cols) != set(pk):
            uniques.append(set(cols))
    fks: dict[int, tuple[list[str], str, list[str]]] = {}
    for fk_id, _, parent, col, parent_col, *_ in src.execute(
        "SELECT * FROM pragma_foreign_key_list(?)", (name,)
    ):
        fks.setdefault(fk_id, ([], parent, []))
        fks[fk_id][0].append(col)
        fks[fk_id][2].append(parent_col)
    foreign_keys = []
    for cols, parent, parent_cols in fks.values():
        parent_info = src.execute("SELECT name, pk FROM pragma_table_info(?)", (parent,)).fetchall()
        if not parent_info:
            continue  # the app declares a key to a table it never made: nothing to carry
        if None in parent_cols:
            parent_cols = [n for n, p in sorted(parent_info, key=lambda r: r[1]) if p > 0]
        foreign_keys.append((cols, parent, parent_cols))
    return SourceTable(
        name=name,
        columns=columns,
        declared={"rowid": "INTEGER"} | {r[1]: r[2] or "" for r in info},
        not_null={r[1] for r in info if r[3]},
        primary_key=pk,
        uniques=uniques,
        foreign_keys=foreign_keys,
    )


def target_table(pg: psycopg.Connection[Any], schema: str, name: str) -> TargetTable | None:
    """The target's catalog for one table, or None when it is not there."""
    cols = pg.execute(
        "SELECT column_name, CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END,"
        " is_nullable = 'YES', character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    if not cols:
        return None
    names = {c for c, *_ in cols}
    renamed = {f"{s}_2": s for s in PG_SYSTEM_COLUMNS if f"{s}_2" in names and s not in names}
    cols = [(renamed.get(c, c), *rest) for c, *rest in cols]
    keyed = pg.execute(
        "SELECT c.contype, ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o)"
        "   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o)::text[],"
        " f.relname::text, ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, o)"
        "   JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)::text[]"
        " FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " JOIN pg_namespace s ON s.oid = t.relnamespace LEFT JOIN pg_class f ON f.oid = c.confrelid"
        " WHERE s.nspname = %s AND t.relname = %s AND c.contype IN ('p', 'u', 'f')",
        (schema, name),
    ).fetchall()
    unique_indexes = pg.execute(
        "SELECT ARRAY(SELECT a.attname FROM unnest(i.indkey) k(n)"
        "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n)::text[]"
        " FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        " JOIN pg_namespace s ON s.oid = t.relnamespace"
        " WHERE s.nspname = %s AND t.relname = %s AND i.indisunique",
        (schema, name),
    ).fetchall()
    return TargetTable(
        name=name,
        types={c: t for c, t, _, _ in cols},
        nullable={c: n for c, _, n, _ in cols},
        lengths={c: n for c, _, _, n in cols},
        primary_key=next((k for t, k, _, _ in keyed if t == "p"), []),
        uniques=[set(k) for t, k, _, _ in keyed if t == "u"] + [set(k) for (k,) in unique_indexes],
        foreign_keys=[(k, p, pk) for t, k, p, pk in keyed if t == "f"],
        renamed={s: t for t, s in renamed.items()},
    )


def compare_schema(src: sqlite3.Connection, table: SourceTable, tgt: TargetTable) -> list[str]:
    """Columns, NOT NULL, varchar lengths and keys the source promised, missing on the target."""
    diffs = []
    for col in table.columns:
        if col not in tgt.types:
            diffs.append(f"{table.name}.{col}: column missing on the target")
            continue
        if col in table.not_null and tgt.nullable[col]:
            diffs.append(f"{table.name}.{col}: NOT NULL dropped")
        declared = VARCHAR_DECL.search(table.declared[col])
        if declared:
            n, m = int(declared.group(1)), tgt.lengths[col]
            longest = src.execute(
                f"SELECT max(length({_quote(col)})) FROM {_quote(table.name)}"
            ).fetchone()[0]
            if m != n and (longest or 0) <= n:
                diffs.append(
                    f"{table.name}.{col}: declared length {n}, target {tgt.types[col]}({m})"
                )
    if table.primary_key and table.primary_key != tgt.primary_key:
        diffs.append(f"{table.name}: primary key {table.primary_key}, target {tgt.primary_key}")
    for unique in table.uniques:
        if unique not in tgt.uniques:
            diffs.append(f"{table.name}: unique key {sorted(unique)} missing on the target")
    for fk in table.foreign_keys:
        if fk not in tgt.foreign_keys:
            cols, parent, parent_cols = fk
            diffs.append(f"{table.name}: foreign key {cols} → {parent}{parent_cols} missing")
    return diffs


def compare_rows(
    src: sqlite3.Connection,
    pg: psycopg.Connection[Any],
    schema: str,
    t: SourceTable,
    tgt: TargetTable,
) -> list[str]:
    """Row count, then the rows as multisets of values normalized by their target type family."""
    cols = [c for c in t.columns if c in tgt.types]
    families = [family(tgt.types[c]) for c in cols]
    select = ", ".join(_quote(c) for c in cols) or "1"
    source = Counter(
        tuple(from_source(v, f) for v, f in zip(row, families))
        for row in src.execute(f"SELECT {select} FROM {_quote(t.name)}")
    )
    # JSON and vectors are read as text (a JSON null stays apart from SQL NULL, no adapter needed),
    # floats as float8 (a real shows its float4 rounding instead of its shortest text)
    as_text = [sql.SQL(READ_AS.get(f, "{}")) for f in families]
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(
            e.format(sql.Identifier(tgt.renamed.get(c, c))) for e, c in zip(as_text, cols)
        ),
        sql.Identifier(schema, t.name),
    )
    target = Counter(
        tuple(from_target(v, f) for v, f in zip(row, families)) for row in pg.execute(query)
    )
    diffs = []
    n_src, n_tgt = sum(source.values()), sum(target.values())
    if n_src != n_tgt:
        diffs.append(f"{t.name}: {n_src} rows in the source, {n_tgt} on the target")
    missing, extra = source - target, target - source
    key_at = [cols.index(k) for k in t.primary_key if k in cols] or list(range(len(cols)))
    extra_by_key = {tuple(r[i] for i in key_at): r for r in extra}
    for row in list(missing.elements())[:MAX_EXAMPLES]:
        key = {cols[i]: row[i] for i in key_at}
        other = extra_by_key.get(tuple(row[i] for i in key_at))
        if other is None:
            diffs.append(f"{t.name}: row {key} missing on the target")
            continue
        changed = [
            f"{c}: source {a!r} ≠ target {b!r}" for c, a, b in zip(cols, row, other) if a != b
        ]
        diffs.append(f"{t.name}: row {key} changed: " + "; ".join(changed))
    if not missing and extra:
        diffs.append(f"{t.name}: {sum(extra.values())} rows on the target not in the source")
    return diffs


def family(pg_type: str) -> str:
    """The type family that decides how values of a target column are compared."""
    return next((f for f, types in FAMILIES.items() if pg_type in types), "other")


def from_target(value: Any, fam: str) -> Any:
    """A target value in its family's canonical form."""
    if value is None:
        return None
    if fam == "json":
        return _json_key(json.loads(value))
    if fam == "timestamp":
        return _instant(value)
    if fam == "vector":
        return tuple(_f32(float(x)) for x in str(value).strip("[]").split(",") if x)
    if fam == "bool":
        return int(value)
    if fam in ("date", "time", "uuid", "other"):
        return value.isoformat() if isinstance(value, (date, time)) else str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def from_source(value: Any, fam: str) -> Any:
    """A source value in the canonical form of the target family, or tagged as one it cannot hold."""
    if value is None:
        return None
    try:
        canonical = _from_source(value, fam)
    except (ValueError, TypeError, InvalidOperation, struct.error):
        canonical = None
    return (MISMATCH, value) if canonical is None else canonical


def _from_source(v: Any, fam: str) -> Any:
    kind = type(v)
    if fam == "int":
        return v if kind is int else int(v) if kind is float and v.is_integer() else None
    if fam == "numeric":
        return Decimal(repr(v) if kind is float else v) if kind in (int, float, str) else None
    if fam == "float":
        return float(v) if kind is float or (kind is int and float(v) == v) else None
    if fam == "text":
        return v if kind is str else str(v) if kind is int else repr(v) if kind is float else None
    if fam == "bytes":
        return v if kind is bytes else None
    if fam == "json":
        return _json_key(json.loads(v) if kind is str else v) if kind is not bytes else None
    if fam == "timestamp":
        return _instant(v) if kind in (str, int, float) else None
    if fam == "bool":
        return v if kind is int and v in (0, 1) else None
    if fam == "vector":
        if kind is bytes:
            return tuple(_f32(x) for x in struct.unpack(f"<{len(v) // 4}f", v))
        return tuple(_f32(float(x)) for x in json.loads(v)) if kind is str else None
    if fam == "date":
        return date.fromisoformat(v).isoformat() if kind is str else None
    if fam == "time":
        return time.fromisoformat(v).isoformat() if kind is str else None
    if fam == "uuid":
        return (
            str(uuid.UUID(bytes=v) if kind is bytes else uuid.UUID(v))
            if kind in (str, bytes)
            else None
        )
    return str(v)


def _instant(v: datetime | str | float) -> str:
    """An instant as ISO text in UTC: naive values are UTC, numbers are epoch s, ms or µs."""
    if isinstance(v, (int, float)):
        scale = 1e6 if abs(v) > EPOCH_US_ABOVE else 1e3 if abs(v) > EPOCH_MS_ABOVE else 1
        v = datetime.fromtimestamp(v / scale, UTC)
    elif isinstance(v, str):
        v = datetime.fromisoformat(v.strip())
    if v.tzinfo is None:
        v = v.replace(tzinfo=UTC)
    return v.astimezone(UTC).isoformat(timespec="microseconds")


def _json_key(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def first(diffs: Iterable[str]) -> str:
    """The first difference, for a test's failure message."""
    return next(iter(diffs), "")
