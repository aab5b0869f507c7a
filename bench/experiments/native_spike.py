"""Issue 17 spike: native (Arrow, binary COPY) read/write/digest candidates for one chat table.

    .venv/bin/python bench/chat_vs_pgloader.py --tools cutover --keep-server --no-append  # once
    .venv/bin/pip install -e '.[native]'
    .venv/bin/python bench/experiments/native_spike.py --repeat 3          # messages
    .venv/bin/python bench/experiments/native_spike.py --table attachments # the blob table

Needs the bench server with `bench_cutover` loaded by cutover (its table definitions are the
reference; starts the server when it is stopped). Every candidate runs as its own subprocess under
GNU time (measure.run_measured: wall time and peak RSS), the candidates alternating round by
round, after a CHECKPOINT and with the SQLite file in the page cache; each writer loads a fresh
scratch table (`LIKE <table> INCLUDING DEFAULTS`, or with jsonb/timestamptz for the `*_rich`
candidates) in one COPY and one commit, then its rows are compared with cutover's table in SQL
(EXCEPT ALL, both directions). The child reports its own seconds (imports and connecting left
out) as one JSON line. Prints a Markdown table of medians and writes it under bench/out/.
Changes nothing in cutover/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

URL_ENV = "CUTOVER_SPIKE_URL"  # the target URL goes to children by environment, never on argv
SCRATCH = "native_scratch"
SQLITE_BATCH_ROWS = 5_000  # cutover's batch_size, for the tuple paths
# ADBC SQLite rows per record batch (~5 MB of messages); a blob table needs far fewer (--batch-rows)
ARROW_BATCH_ROWS = int(os.environ.get("CUTOVER_SPIKE_BATCH_ROWS", "16384"))
COPY_BUFFER = 1 << 20  # psycopg copy.write chunks for the binary writers
RANGE_WIDTH = 10_000  # ids per digest bucket, as cutover.digest
HASH_SEEDS = (0x5EED1, 0x5EED2)  # two 64-bit polars row hashes = a 128-bit digest

# What each table's columns become on the target. "cutover" is what phase 2 created (LIKE the
# table); "rich" is the same table with the JSON column as jsonb and timestamps as timestamptz.
INT32 = {"messages": ["tokens"], "attachments": ["size_bytes"]}
TIMESTAMPS = {"messages": ["created_at"], "attachments": []}
JSON_COLUMNS = {"messages": ["metadata"], "attachments": []}


# -- children: one candidate each ---------------------------------------------------------------


def sqlite_tuples(db: str, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    cols = ", ".join(f'"{c}"' for c in columns)
    cur = conn.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')
    while batch := cur.fetchmany(SQLITE_BATCH_ROWS):
        yield batch
    conn.close()


def adbc_batches(db: str, table: str, columns: list[str]) -> Iterator[Any]:
    """ADBC SQLite through adbc_driver_manager's low-level API: its dbapi module imports polars
    when installed (+59 MB RSS per process), this does not."""
    import adbc_driver_manager as adbc
    import adbc_driver_sqlite
    import pyarrow as pa

    database = adbc_driver_sqlite.connect(f"file:{db}?mode=ro")
    conn = adbc.AdbcConnection(database)
    stmt = adbc.AdbcStatement(conn)
    stmt.set_options(
        **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(ARROW_BATCH_ROWS)}
    )
    cols = ", ".join(f'"{c}"' for c in columns)
    stmt.set_sql_query(f'SELECT {cols} FROM "{table}" ORDER BY rowid')
    handle, _ = stmt.execute_query()
    yield from pa.RecordBatchReader._import_from_c(handle.address)
    stmt.close()
    conn.close()
    database.close()


def connectorx_batches(db: str, table: str, columns: list[str]) -> Iterator[Any]:
    import connectorx as cx

    cols = ", ".join(f'"{c}"' for c in columns)
    reader = cx.read_sql(
        f"sqlite://{db}",
        f'SELECT {cols} FROM "{table}" ORDER BY rowid',
        return_type="arrow_stream",
        batch_size=ARROW_BATCH_ROWS,
    )
    yield from reader


def coerce(batch: Any, table: str, rich: bool) -> Any:
    """Per-column pyarrow.compute kernels: ISO text → timestamp, int64 → int32, JSON → json type.

    A kernel that fails (bad timestamp, out-of-range int) raises for the whole batch: the native
    path would hand that batch to the Python path, which rejects row by row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays, fields = [], []
    for field, array in zip(batch.schema, batch.columns):
        if field.name in INT32[table]:
            array = pc.cast(array, pa.int32())  # safe cast: overflow raises
        elif field.name in TIMESTAMPS[table]:
            array = pc.cast(array, pa.timestamp("us"))  # ISO 8601, space or T, fractions
            if rich:
                array = pc.cast(array, pa.timestamp("us", tz="UTC"))  # naive source time is UTC
        elif field.name in JSON_COLUMNS[table] and rich:
            array = pa.ExtensionArray.from_storage(pa.json_(), array)  # ADBC writes it as jsonb
        arrays.append(array)
        fields.append(pa.field(field.name, array.type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def pgpq_encoder_for(schema: Any, table: str, rich: bool) -> Any:
    """pgpq's encoder; a JSON column going to jsonb is written in jsonb's binary form."""
    import pgpq
    from pgpq import encoders
    from pgpq import schema as pg_schema

    chosen = {f.name: pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(f) for f in schema}
    if rich:
        for name in JSON_COLUMNS[table]:
            chosen[name] = encoders.StringEncoderBuilder.new_with_output(
                schema.field(name), pg_schema.Jsonb()
            )
    return pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(schema, chosen)


def copy_statement(columns: list[str], binary: bool) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(SCRATCH),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )


def pg_connect() -> psycopg.Connection[Any]:
    conn = psycopg.connect(os.environ[URL_ENV])
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def write_text(batches: Iterator[list[tuple[Any, ...]]], columns: list[str]) -> int:
    """Today's path: tuples → psycopg Copy.write_row (text COPY); Postgres parses the text."""
    rows = 0
    with (
        pg_connect() as conn,
        conn.cursor() as cur,
        cur.copy(copy_statement(columns, binary=False)) as copy,
    ):
        for batch in batches:
            for row in batch:
                copy.write_row(row)
            rows += len(batch)
    return rows


def write_pgpq(batches: Iterator[Any], columns: list[str], table: str, rich: bool) -> int:
    """Arrow → pgpq binary COPY bytes → psycopg copy.write (no Python per value)."""
    rows, encoder = 0, None
    with (
        pg_connect() as conn,
        conn.cursor() as cur,
        cur.copy(copy_statement(columns, binary=True)) as copy,
    ):
        for batch in batches:
            if encoder is None:
                encoder = pgpq_encoder_for(batch.schema, table, rich)
                copy.write(encoder.write_header())
            copy.write(encoder.write_batch(batch))
            rows += batch.num_rows
        if encoder is not None:
            copy.write(encoder.finish())
    return rows


def write_adbc(batches: Iterator[Any], table: str, rich: bool) -> int:
    """Arrow → adbc-driver-postgresql adbc_ingest(mode="append"): binary COPY done in C."""
    import adbc_driver_postgresql.dbapi as adbc_pg
    import pyarrow as pa

    first = next(batches)
    reader = pa.RecordBatchReader.from_batches(first.schema, _chain(first, batches))
    with adbc_pg.connect(os.environ[URL_ENV]) as conn, conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        rows = cur.adbc_ingest(SCRATCH, reader, mode="append")
        conn.commit()
    return int(rows)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def timed(gen: Iterator[Any], clock: list[float]) -> Iterator[Any]:
    """Yield from gen, adding the seconds spent inside it to clock[0]."""
    while True:
        started = time.perf_counter()
        try:
            item = next(gen)
        except StopIteration:
            clock[0] += time.perf_counter() - started
            return
        clock[0] += time.perf_counter() - started
        yield item


def polars_digests(batch: Any, table: str) -> tuple[Any, Any, Any]:
    """Per-row 128-bit digests (two 64-bit polars row hashes) over a canonical frame, and buckets.

    Canonical frame: integers as Int64, timestamps as Datetime(us) naive UTC, text as String,
    bytes as Binary; the same from the SQLite batch (after coerce) and from the target read back.
    """
    import polars as pl

    df = pl.from_arrow(batch)
    assert isinstance(df, pl.DataFrame)
    casts = []
    for name, dtype in df.schema.items():
        if dtype.is_integer():
            casts.append(pl.col(name).cast(pl.Int64))
        elif isinstance(dtype, pl.Datetime):
            casts.append(pl.col(name).dt.replace_time_zone(None).dt.cast_time_unit("us"))
        else:
            casts.append(pl.col(name))
    df = df.select(casts)
    h1 = df.hash_rows(seed=HASH_SEEDS[0]).to_numpy()
    h2 = df.hash_rows(seed=HASH_SEEDS[1]).to_numpy()
    return h1, h2, (df.get_column(df.columns[0]).to_numpy() // RANGE_WIDTH)


class BucketSums:
    """Per-bucket (rows, sum of h1, sum of h2) mod 2**64: order-independent, like cutover.digest."""

    def __init__(self) -> None:
        self.sums: dict[int, list[int]] = {}

    def add(self, h1: Any, h2: Any, buckets: Any) -> None:
        import numpy as np

        order = np.argsort(buckets, kind="stable")
        b, h1, h2 = buckets[order], h1[order], h2[order]
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        counts = np.diff(np.r_[starts, len(b)])
        s1, s2 = np.add.reduceat(h1, starts), np.add.reduceat(h2, starts)  # uint64 wraps
        for k, n, x, y in zip(b[starts].tolist(), counts.tolist(), s1.tolist(), s2.tolist()):
            e = self.sums.setdefault(int(k), [0, 0, 0])
            e[0] += n
            e[1] = (e[1] + x) % 2**64
            e[2] = (e[2] + y) % 2**64

    def total(self) -> str:
        n = sum(e[0] for e in self.sums.values())
        a = sum(e[1] for e in self.sums.values()) % 2**64
        b = sum(e[2] for e in self.sums.values()) % 2**64
        return f"{n}:{a:016x}{b:016x}"


def child(candidate: str, db: str, table: str, columns: list[str], pg_types: list[str]) -> None:
    """Run one candidate and print {"rows", "seconds", ...} as one JSON line."""
    rich = candidate.endswith("_rich")
    out: dict[str, Any] = {}
    read_clock = [0.0]
    started = time.perf_counter()
    if candidate == "read_sqlite3":
        rows = sum(len(b) for b in sqlite_tuples(db, table, columns))
    elif candidate == "read_adbc":
        rows = sum(b.num_rows for b in adbc_batches(db, table, columns))
    elif candidate == "read_connectorx":
        rows = sum(b.num_rows for b in connectorx_batches(db, table, columns))
    elif candidate == "read_adbc_coerce":
        rows = sum(coerce(b, table, False).num_rows for b in adbc_batches(db, table, columns))
    elif candidate in ("e2e_text", "e2e_text_rich"):
        rows = write_text(timed(sqlite_tuples(db, table, columns), read_clock), columns)
    elif candidate in ("e2e_pgpq", "e2e_pgpq_rich"):
        batches = (
            coerce(b, table, rich) for b in timed(adbc_batches(db, table, columns), read_clock)
        )
        rows = write_pgpq(batches, columns, table, rich)
    elif candidate in ("e2e_adbc", "e2e_adbc_rich"):
        batches = (
            coerce(b, table, rich) for b in timed(adbc_batches(db, table, columns), read_clock)
        )
        rows = write_adbc(batches, table, rich)
    elif candidate.startswith("write_"):  # everything read first: times the writer alone
        if candidate == "write_text":
            tuples = list(sqlite_tuples(db, table, columns))
            started = time.perf_counter()
            rows = write_text(iter(tuples), columns)
        else:
            coerced = [coerce(b, table, False) for b in adbc_batches(db, table, columns)]
            started = time.perf_counter()
            if candidate == "write_pgpq":
                rows = write_pgpq(iter(coerced), columns, table, False)
            else:
                rows = write_adbc(iter(coerced), table, False)
    elif candidate == "digest_python":
        from cutover.digest import Digests, RowHasher

        hasher, digests, hash_s, rows = RowHasher(pg_types, [0]), Digests(), 0.0, 0
        for batch in sqlite_tuples(db, table, columns):
            t0 = time.perf_counter()
            digests.add_rows(hasher, batch)
            hash_s += time.perf_counter() - t0
            rows += len(batch)
        out["hash_s"] = hash_s
    elif candidate in ("digest_polars", "digest_polars_target"):
        sums, hash_s, rows = BucketSums(), 0.0, 0
        source = adbc_batches(db, table, columns) if candidate == "digest_polars" else None
        if source is None:
            source = target_batches(table, columns)
        for batch in source:
            t0 = time.perf_counter()
            if candidate == "digest_polars":
                batch = coerce(batch, table, False)
            sums.add(*polars_digests(batch, table))
            hash_s += time.perf_counter() - t0
            rows += batch.num_rows
        out["hash_s"], out["digest"] = hash_s, sums.total()
    elif candidate == "digest_duckdb":
        import duckdb
        import numpy as np

        con, total, hash_s, rows = duckdb.connect(), 0, 0.0, 0
        cols = ", ".join(f'"{c}"' for c in columns)
        for b in adbc_batches(db, table, columns):
            t0 = time.perf_counter()
            arrow_batch = coerce(b, table, False)  # noqa: F841 (read by duckdb's replacement scan)
            h = con.sql(f"SELECT hash({cols}) AS h FROM arrow_batch").fetchnumpy()["h"]
            total = (total + int(np.add.reduce(h.astype(np.uint64)))) % 2**64
            hash_s += time.perf_counter() - t0
            rows += b.num_rows
        out["hash_s"] = hash_s
    elif candidate == "digest_xxh_rows":
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import xxhash

        total, hash_s, rows = 0, 0.0, 0
        for b in adbc_batches(db, table, columns):
            t0 = time.perf_counter()
            parts = [pc.cast(a, pa.string()) if a.type != pa.binary() else a for a in b.columns]
            parts = [pc.binary_join_element_wise("v", p, "") for p in parts]
            text = pc.binary_join_element_wise(
                *parts, "\x00", null_handling="replace", null_replacement="n"
            )
            h = np.fromiter(
                map(xxhash.xxh3_64_intdigest, pc.cast(text, pa.binary()).to_pylist()), np.uint64
            )
            total = (total + int(np.add.reduce(h))) % 2**64
            hash_s += time.perf_counter() - t0
            rows += b.num_rows
        out["hash_s"] = hash_s
    else:
        raise SystemExit(f"unknown candidate {candidate!r}; known: {', '.join(CANDIDATES)}")
    out.update(rows=rows, seconds=time.perf_counter() - started, read_s=read_clock[0])
    print("RESULT " + json.dumps(out), flush=True)


def target_batches(table: str, columns: list[str]) -> Iterator[Any]:
    """The loaded table read back as Arrow through ADBC (what verify would do on the target side)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(os.environ[URL_ENV]) as conn, conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY 1")
            .format(sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table))
            .as_string(None)
        )
        yield from cur.fetch_record_batch()


# -- the parent: alternate candidates, check, report ---------------------------------------------

CANDIDATES = {
    "psql_copy": "psql \\copy from CSV (the limit; CSV written beforehand)",
    "read_sqlite3": "read: sqlite3 tuples, fetchmany(5,000)",
    "read_adbc": "read: adbc-driver-sqlite Arrow batches",
    "read_connectorx": "read: connectorx arrow_stream",
    "read_adbc_coerce": "read: ADBC + pyarrow.compute coercions",
    "write_text": "write only: tuples → psycopg text COPY (write_row)",
    "write_adbc": "write only: Arrow → adbc_ingest (binary COPY)",
    "write_pgpq": "write only: Arrow → pgpq → psycopg binary COPY",
    "e2e_text": "end to end: sqlite3 → psycopg text COPY (today's data path, no digests)",
    "e2e_adbc": "end to end: ADBC SQLite → coerce → adbc_ingest",
    "e2e_pgpq": "end to end: ADBC SQLite → coerce → pgpq → psycopg binary COPY",
    "e2e_text_rich": "end to end, jsonb/timestamptz target: text COPY",
    "e2e_adbc_rich": "end to end, jsonb/timestamptz target: adbc_ingest (pa.json_)",
    "e2e_pgpq_rich": "end to end, jsonb/timestamptz target: pgpq (Jsonb encoder)",
    "digest_python": "digest: cutover.digest RowHasher over tuples (today)",
    "digest_polars": "digest: polars hash_rows ×2 over coerced Arrow batches",
    "digest_polars_target": "digest: the same over the target read back through ADBC",
    "digest_duckdb": "digest: duckdb hash(all columns) over Arrow batches (64-bit)",
    "digest_xxh_rows": "digest: pyarrow row text join → xxh3-64 per row",
}
WRITERS = {c for c in CANDIDATES if c.startswith(("e2e_", "write_")) or c == "psql_copy"}


def reference_columns(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    ).fetchall()


def fresh_scratch(conn: psycopg.Connection[Any], table: str, rich: bool) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
            sql.Identifier(SCRATCH), sql.Identifier(table)
        )
    )
    if rich:
        for name in JSON_COLUMNS[table]:
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE jsonb USING {}::jsonb").format(
                    sql.Identifier(SCRATCH), sql.Identifier(name), sql.Identifier(name)
                )
            )
        for name in TIMESTAMPS[table]:
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE timestamptz").format(
                    sql.Identifier(SCRATCH), sql.Identifier(name)
                )
            )
    conn.execute("CHECKPOINT")


def differing_rows(conn: psycopg.Connection[Any], table: str, columns: list[str]) -> int:
    """Rows in one table and not the other (EXCEPT ALL both ways), compared as cutover's types."""
    conn.execute("SET TimeZone = 'UTC'")
    as_ref: list[sql.Composable] = []
    for c in columns:
        if c in JSON_COLUMNS[table]:
            as_ref.append(sql.SQL("{}::jsonb").format(sql.Identifier(c)))
        elif c in TIMESTAMPS[table]:
            as_ref.append(sql.SQL("{}::timestamp").format(sql.Identifier(c)))
        else:
            as_ref.append(sql.Identifier(c))
    cols = sql.SQL(", ").join(as_ref)
    query = sql.SQL(
        "SELECT (SELECT count(*) FROM (SELECT {c} FROM {a} EXCEPT ALL SELECT {c} FROM {b}) x)"
        " + (SELECT count(*) FROM (SELECT {c} FROM {b} EXCEPT ALL SELECT {c} FROM {a}) y)"
    ).format(c=cols, a=sql.Identifier(SCRATCH), b=sql.Identifier(table))
    return int(conn.execute(query).fetchone()[0])  # type: ignore[index]


def sample(conn: psycopg.Connection[Any], table: str) -> str:
    """The loaded row with id 2 (JSON metadata, Korean text), shortened."""
    conn.execute("SET TimeZone = 'UTC'")
    row = conn.execute(
        sql.SQL("SELECT * FROM {} WHERE id = 2").format(sql.Identifier(SCRATCH))
    ).fetchone()
    assert row is not None
    return repr(tuple(v[:24] + "…" if isinstance(v, str) and len(v) > 80 else v for v in row))


def run_candidate(
    candidate: str,
    args: argparse.Namespace,
    url: str,
    columns: list[str],
    pg_types: list[str],
    work: Path,
) -> tuple[float, float, int, dict[str, Any]]:
    """(wall s as the child measured its own work, peak RSS MB, exit code, the child's report)."""
    from chat_vs_pgloader import OUT_DIR
    from measure import run_measured

    from cutover.embedded import bin_dir

    log = work / f"{candidate}.log"
    server_pid = int((OUT_DIR / "postgres" / "pgdata" / "postmaster.pid").read_text().split()[0])
    if candidate == "psql_copy":
        csv_path = work / f"{args.table}.csv"
        script = work / "copy.sql"
        script.write_text(
            f"\\copy public.{SCRATCH} ({', '.join(columns)}) FROM '{csv_path}' WITH (FORMAT csv)\n"
        )
        m = run_measured(
            [
                str(bin_dir() / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-d",
                url,
                "-f",
                str(script),
            ],
            log=log,
            server_pid=server_pid,
        )
        return m.wall_s, m.peak_rss_mb, m.returncode, {"cpu": m.cpu}
    cmd = [
        sys.executable,
        __file__,
        "--child",
        candidate,
        "--table",
        args.table,
        "--source",
        str(args.source),
    ]
    cmd += ["--columns", json.dumps(columns), "--pg-types", json.dumps(pg_types)]
    os.environ[URL_ENV] = url
    m = run_measured(cmd, log=log, server_pid=server_pid)
    report = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("RESULT "):
            report = json.loads(line.removeprefix("RESULT "))
    seconds = float(report.get("seconds", m.wall_s))
    return seconds, m.peak_rss_mb, m.returncode, report | {"process_wall_s": m.wall_s, "cpu": m.cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default="messages", choices=sorted(INT32))
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=ARROW_BATCH_ROWS, help="Arrow batch rows")
    parser.add_argument("--candidates", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--columns", help=argparse.SUPPRESS)
    parser.add_argument("--pg-types", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(
            args.child,
            str(args.source),
            args.table,
            json.loads(args.columns),
            json.loads(args.pg_types),
        )
        return

    from chat_vs_pgloader import CUTOVER_DB, DURABLE_SETTINGS, OUT_DIR, source_db, warm_cache
    from copy_limit import export_csv

    from cutover.embedded import EmbeddedPostgres

    args.source = source_db(args.messages, args.seed)
    os.environ["CUTOVER_SPIKE_BATCH_ROWS"] = str(args.batch_rows)  # read by the children
    work = OUT_DIR / args.source.stem / "native_spike"
    work.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    if not server.is_running():
        server.start()
    url = server.url(CUTOVER_DB)
    chosen = [c for c in args.candidates.split(",") if c] or list(CANDIDATES)
    if args.table != "messages":
        chosen = [c for c in chosen if "rich" not in c]
    unknown = [c for c in chosen if c not in CANDIDATES]
    if unknown:
        raise SystemExit(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    with psycopg.connect(url, autocommit=True) as conn:
        ref = reference_columns(conn, args.table)
        columns, pg_types = [c for c, _ in ref], [t for _, t in ref]
        if "psql_copy" in chosen:
            export_csv(args.source, args.table, columns, work / f"{args.table}.csv")
        results: dict[str, list[tuple[float, float, int, dict[str, Any]]]] = {c: [] for c in chosen}
        checks: dict[str, str] = {}
        for round_ in range(args.repeat):
            for candidate in chosen:
                if candidate in WRITERS:
                    fresh_scratch(conn, args.table, candidate.endswith("_rich"))
                warm_cache(args.source)
                result = run_candidate(candidate, args, url, columns, pg_types, work)
                results[candidate].append(result)
                seconds, rss, rc, report = result
                note = ""
                if candidate in WRITERS and rc == 0:
                    loaded = conn.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCRATCH))
                    ).fetchone()[0]  # type: ignore[index]
                    note = f"loaded {loaded:,}"
                    report.setdefault("rows", loaded)
                    if round_ == 0:
                        diff = differing_rows(conn, args.table, columns)
                        checks[candidate] = (
                            f"{loaded:,} rows, {diff} differing; id 2: {sample(conn, args.table)}"
                        )
                        note += f", {diff} rows differ from cutover's table"
                if "digest" in report:
                    checks[candidate] = f"digest {report['digest']}"
                print(
                    f"[{round_ + 1}/{args.repeat}] {candidate}: exit {rc}, {seconds:.2f}s, {rss:.0f} MB {note}",
                    flush=True,
                )
        if any(c in WRITERS for c in chosen):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
    report_lines = render(results, args, checks)
    print("\n".join(report_lines))
    (work / f"results-{args.table}.md").write_text("\n".join(report_lines) + "\n", encoding="utf-8")


def render(
    results: dict[str, list[Any]], args: argparse.Namespace, checks: dict[str, str]
) -> list[str]:
    lines = [
        (
            f"| candidate ({args.table}) | median s | runs s | rows/s | peak RSS MB (max) "
            "| CPU s: process / server / others (medians) | notes |"
        ),
        "|---|---:|---|---:|---:|---|---|",
    ]
    for candidate, runs in results.items():
        secs = [r[0] for r in runs]
        med = statistics.median(secs)
        rows = max((r[3].get("rows", 0) for r in runs), default=0)
        extra = []
        hash_s = [r[3]["hash_s"] for r in runs if "hash_s" in r[3]]
        if hash_s:
            extra.append(f"hashing alone {statistics.median(hash_s):.2f} s")
        read_s = [r[3]["read_s"] for r in runs if r[3].get("read_s")]
        if read_s:
            extra.append(f"of which reading {statistics.median(read_s):.2f} s")
        if any(r[2] for r in runs):
            extra.append(f"exit codes {[r[2] for r in runs]}")
        rate = f"{rows / med:,.0f}" if rows and med else "—"
        cpus = [r[3]["cpu"] for r in runs if r[3].get("cpu") is not None]
        cpu = " / ".join(
            f"{statistics.median(getattr(c, part) for c in cpus):.1f}"
            for part in ("tool", "server", "other")
        )
        lines.append(
            f"| {CANDIDATES[candidate]} | {med:.2f} | {', '.join(f'{s:.2f}' for s in secs)} | {rate} | "
            f"{max(r[1] for r in runs):.0f} | {cpu} | {'; '.join(extra)} |"
        )
    lines += ["", "Checks (first round):"] + [f"- {c}: {v}" for c, v in checks.items()]
    return lines


if __name__ == "__main__":
    main()
