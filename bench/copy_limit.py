"""The `psql \\copy` limit per table of the chat database, beside cutover's own seconds per table (issue 7).

    .venv/bin/python bench/chat_vs_pgloader.py --tools cutover      # leaves bench_cutover loaded
    .venv/bin/python bench/copy_limit.py                            # then this, on the same server

For each table cutover loaded into `bench_cutover`, writes the SQLite rows as CSV in the target's
column order (blobs as \\x hex, as COPY reads bytea), creates an empty table of the same
definition (`LIKE … INCLUDING DEFAULTS`), and times `psql \\copy` from the CSV plus ADD PRIMARY KEY,
one table at a time after a CHECKPOINT, with the CSV in the page cache. cutover's seconds per
table are its own record (first chunk's start to last chunk's last commit, `_cutover.chunks`),
measured while the other tables loaded beside it on the same two cores; the limit has the server
to itself. Appends a section to RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from chat_vs_pgloader import (
    CUTOVER_DB,
    CUTOVER_NAME,
    DEFAULT_MESSAGES,
    DEFAULT_SEED,
    DURABLE_SETTINGS,
    OUT_DIR,
    TABLES,
    machine,
    publish,
    server_facts,
    source_db,
    warm_cache,
)
from measure import run_measured
from psycopg import sql

from cutover.embedded import EmbeddedPostgres, bin_dir
from cutover.load import state
from cutover.sources.sqlite_catalog import quote_ident

CSV_BATCH = 10_000  # rows fetched from SQLite per CSV write


def export_csv(source: Path, table: str, columns: list[str], out: Path) -> int:
    """The table's rows as CSV in `columns` order; bytes as \\x hex, None as an empty unquoted field."""
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    cur = conn.execute(
        f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM {quote_ident(table)} ORDER BY rowid"
    )
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        while batch := cur.fetchmany(CSV_BATCH):
            writer.writerows(
                [
                    ("\\x" + v.hex()) if isinstance(v, bytes) else ("" if v is None else v)
                    for v in row
                ]
                for row in batch
            )
            rows += len(batch)
    conn.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    source = source_db(args.messages, args.seed)
    work = OUT_DIR / source.stem / "copy_limit"
    work.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    if not server.is_running():
        server.start()
    url = server.url(CUTOVER_DB)
    version, settings = server_facts(server.url())
    results = []
    with psycopg.connect(url, autocommit=True) as conn:
        seconds = state.table_seconds(conn, CUTOVER_NAME)
        for table in TABLES:
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
            ]
            csv_path = work / f"{table}.csv"
            rows = export_csv(source, table, columns, csv_path)
            copy = f"{table}_copy"
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(copy)))
            conn.execute(
                sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                    sql.Identifier(copy), sql.Identifier(table)
                )
            )
            conn.execute("CHECKPOINT")
            warm_cache(csv_path)
            script = work / f"{table}.sql"
            script.write_text(
                f"\\copy public.{copy} ({', '.join(columns)}) FROM '{csv_path}' WITH (FORMAT csv)\nALTER TABLE public.{copy} ADD PRIMARY KEY (id);\n"
            )
            started = time.monotonic()
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
                log=work / f"{table}.log",
            )
            wall = time.monotonic() - started
            loaded = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(copy))
            ).fetchone()[0]  # type: ignore[index]
            results.append(
                (
                    table,
                    rows,
                    loaded,
                    m.returncode,
                    wall,
                    seconds.get(table),
                    csv_path.stat().st_size,
                )
            )
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(copy)))
            csv_path.unlink()
            print(f"{table}: \\copy {wall:.2f}s, cutover {seconds.get(table, 0):.2f}s")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — issue 7: the `psql \\copy` limit per table, {args.messages:,} messages (seed {args.seed})",
        "",
        f"- machine: {machine()}",
        f"- server: {version}; settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        "- cutover s: its own seconds per table in the last `bench_cutover` load (first chunk's start to last commit; tables load side by side on 2 processes)",
        "- \\copy s: `psql \\copy` of the same rows from CSV into an empty table of cutover's definition, then ADD PRIMARY KEY, one table at a time, alone on the server",
        "",
        "| table | rows | CSV MB | exit | rows loaded | \\copy s | cutover s | cutover / \\copy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for table, rows, loaded, rc, wall, ours, size in results:
        ratio = f"{ours / wall:.2f}" if ours and wall else "—"
        lines.append(
            f"| {table} | {rows:,} | {size / 1e6:,.1f} | {rc} | {loaded:,} | {wall:.2f} | {ours if ours is None else f'{ours:.2f}'} | {ratio} |"
        )
    total_copy = sum(r[4] for r in results)
    lines += ["", f"Sum of the \\copy limits: {total_copy:.1f} s (one table after another)."]
    publish("\n".join(lines) + "\n", append=not args.no_append)


if __name__ == "__main__":
    main()
