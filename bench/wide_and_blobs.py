"""Issue 7's extra shapes: a wide table and a blob table, cutover against pgloader and the `psql \\copy` limit.

    .venv/bin/python bench/wide_and_blobs.py --shape wide                  # 50 columns × 500,000 rows
    .venv/bin/python bench/wide_and_blobs.py --shape blobs                 # 100,000 blobs of 10–200 KB (about 10.5 GB)
    .venv/bin/python bench/wide_and_blobs.py --shape blobs --rows 10000    # a smaller blob run

Builds bench/out/<shape>-<rows>-s<seed>.db once (and a CSV of the same rows for psql), then, into
one embedded PostgreSQL 18 with normal durability: pgloader (prefetch rows 10,000 / batch rows
5,000), `cutover run --phase 2 --force --yes`, and `psql \\copy` from the CSV into an empty table
of the same definition as cutover's (`CREATE TABLE … (LIKE … INCLUDING DEFAULTS)`, primary key
added after the copy, as the tools do), each timed as a subprocess. Appends a section to RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from chat_vs_pgloader import (
    DURABLE_SETTINGS,
    OUT_DIR,
    ensure_pgloader,
    fresh_database,
    machine,
    postmaster_pid,
    publish,
    server_facts,
    warm_cache,
)
from measure import Measured, run_measured

from cutover import __version__ as cutover_version
from cutover import commands
from cutover.embedded import EmbeddedPostgres, bin_dir

PGLOADER_LOAD = """LOAD DATABASE
     FROM sqlite://{source}
     INTO postgresql://postgres@127.0.0.1:{port}/{database}
WITH include drop, create tables, create indexes, reset sequences, foreign keys,
     prefetch rows = {prefetch}, batch rows = {batch};
"""
WIDE_COLUMNS = 50  # id + 49: a third integers, a third reals, a third short texts
WORDS = ["alpha", "beta", "gamma", "delta", "서울", "부산", "epsilon", "zeta", "데이터", "eta"]


def _wide_columns() -> list[tuple[str, str]]:
    cols = [("id", "INTEGER PRIMARY KEY")]
    for i in range(1, WIDE_COLUMNS):
        cols.append((f"c{i:02d}", ("INTEGER", "REAL", "TEXT")[i % 3]))
    return cols


def build(shape: str, rows: int, seed: int) -> tuple[Path, Path]:
    """The SQLite file and a CSV of the same rows (bytea as \\x hex), both cached."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    db = OUT_DIR / f"{shape}-{rows}-s{seed}.db"
    csv_path = db.with_suffix(".csv")
    if db.exists() and csv_path.exists():
        print(f"using cached {db.name} ({db.stat().st_size / 1e6:,.1f} MB) and {csv_path.name}")
        return db, csv_path
    started = time.monotonic()
    rng = random.Random(seed)
    partial = db.with_name(db.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    with csv_path.open("w", newline="") as fh:
        out = csv.writer(fh)
        if shape == "wide":
            cols = _wide_columns()
            conn.execute(f"CREATE TABLE wide ({', '.join(f'{n} {t}' for n, t in cols)})")
            insert = f"INSERT INTO wide VALUES ({', '.join('?' * len(cols))})"

            def row(i: int) -> tuple[object, ...]:
                vals: list[object] = [i]
                for k in range(1, WIDE_COLUMNS):
                    kind = k % 3
                    vals.append(
                        rng.randrange(1_000_000)
                        if kind == 0
                        else round(rng.random() * 1000, 3)
                        if kind == 1
                        else f"{rng.choice(WORDS)}-{rng.randrange(10_000)}"
                    )
                return tuple(vals)
        else:
            conn.execute(
                "CREATE TABLE blobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL)"
            )
            insert = "INSERT INTO blobs VALUES (?, ?, ?)"
            pool = rng.randbytes(
                256 * 1024
            )  # slices of one random buffer: incompressible, cheap to make

            def row(i: int) -> tuple[object, ...]:
                size = rng.randint(10 * 1024, 200 * 1024)
                start = rng.randrange(0, len(pool) - size)
                return (i, f"file-{i}.bin", pool[start : start + size])

        batch: list[tuple[object, ...]] = []
        for i in range(1, rows + 1):
            r = row(i)
            batch.append(r)
            out.writerow([("\\x" + v.hex()) if isinstance(v, bytes) else v for v in r])
            if len(batch) >= 5_000:
                conn.executemany(insert, batch)
                batch = []
        if batch:
            conn.executemany(insert, batch)
    conn.commit()
    conn.close()
    partial.rename(db)
    print(
        f"built {db.name} ({db.stat().st_size / 1e6:,.1f} MB) and its CSV ({csv_path.stat().st_size / 1e6:,.1f} MB) in {time.monotonic() - started:.0f}s"
    )
    return db, csv_path


def count(server: EmbeddedPostgres, database: str, table: str) -> int:
    with psycopg.connect(server.url(database), autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=("wide", "blobs"), required=True)
    parser.add_argument("--rows", type=int, help="default 500,000 (wide) or 100,000 (blobs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--prefetch-rows", type=int, default=10_000, help="pgloader WITH prefetch rows"
    )
    parser.add_argument(
        "--batch-rows",
        type=int,
        default=5_000,
        help="pgloader WITH batch rows (10,000 / 5,000 exhausts its heap on 10k blobs)",
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.shape == "wide" else 100_000)
    table = "wide" if args.shape == "wide" else "blobs"
    pgloader_version = ensure_pgloader()
    source, csv_path = build(args.shape, rows, args.seed)
    work = OUT_DIR / source.stem
    work.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    if server.is_running():
        server.stop()
    server.start()
    results: list[tuple[str, Measured, int, float]] = []
    try:
        version, settings = server_facts(server.url())
        # pgloader
        db = f"bench_{args.shape}_pgloader"
        fresh_database(server, db)
        load = work / f"{args.shape}.load"
        load.write_text(
            PGLOADER_LOAD.format(
                source=source,
                port=server.port,
                database=db,
                prefetch=args.prefetch_rows,
                batch=args.batch_rows,
            )
        )
        warm_cache(source)
        la = float(open("/proc/loadavg").read().split()[0])
        print("pgloader …")
        m = run_measured(
            ["pgloader", "--root-dir", str(work / "pgloader-logs"), str(load)],
            log=work / "pgloader.log",
            server_pid=postmaster_pid(server),
        )
        results.append(("pgloader", m, count(server, db, table), la))
        print(f"  {m.wall_s:,.1f}s exit {m.returncode}")
        # cutover
        db = f"bench_{args.shape}_cutover"
        fresh_database(server, db)
        cfg = work / "cutover.toml"
        cfg.unlink(missing_ok=True)
        commands.init(cfg, source=f"sqlite:///{source}", target=server.url(db), name=args.shape)
        warm_cache(source)
        la = float(open("/proc/loadavg").read().split()[0])
        print("cutover …")
        exe = Path(sys.executable).with_name("cutover")
        m = run_measured(
            [
                str(exe),
                "--config",
                str(cfg),
                "--workdir",
                str(work / ".cutover"),
                "run",
                "--phase",
                "2",
                "--force",
                "--yes",
            ],
            log=work / "cutover.log",
            cwd=work,
            server_pid=postmaster_pid(server),
        )
        results.append(("cutover", m, count(server, db, table), la))
        print(f"  {m.wall_s:,.1f}s exit {m.returncode}")
        # psql \copy into an empty table of cutover's definition, in the same database
        with psycopg.connect(server.url(db), autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS public.{table}_copy")
            conn.execute(
                f"CREATE TABLE public.{table}_copy (LIKE public.{table} INCLUDING DEFAULTS)"
            )
            conn.execute("CHECKPOINT")
        warm_cache(csv_path)
        la = float(open("/proc/loadavg").read().split()[0])
        print("psql \\copy …")
        script = work / "copy.sql"
        script.write_text(
            f"\\copy public.{table}_copy FROM '{csv_path}' WITH (FORMAT csv)\nALTER TABLE public.{table}_copy ADD PRIMARY KEY (id);\n"
        )
        m = run_measured(
            [
                str(bin_dir() / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-q",
                "-d",
                server.url(db),
                "-f",
                str(script),
            ],
            log=work / "psql.log",
            server_pid=postmaster_pid(server),
        )
        results.append(
            ("psql \\copy (CSV) + ADD PRIMARY KEY", m, count(server, db, f"{table}_copy"), la)
        )
        print(f"  {m.wall_s:,.1f}s exit {m.returncode}")
    finally:
        server.stop()
    size = source.stat().st_size
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    shape = (
        f"{WIDE_COLUMNS} columns × {rows:,} rows"
        if args.shape == "wide"
        else f"{rows:,} blobs of 10–200 KB"
    )
    lines = [
        f"## {now} — issue 7: {shape}, one run per tool",
        "",
        f"- machine: {machine()}",
        f"- server: {version}; settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        f"- source: `{source.name}`, {size / 1e6:,.1f} MB; CSV for psql `{csv_path.name}`, {csv_path.stat().st_size / 1e6:,.1f} MB; cutover {cutover_version} `run --phase 2 --force --yes` (defaults); pgloader {pgloader_version} prefetch rows {args.prefetch_rows:,} / batch rows {args.batch_rows:,}",
        "",
        "| tool | exit | load avg (1 min) before | wall s | rows/s | MB/s (SQLite file) | rows loaded | peak RSS MB (GNU time) | peak RSS MB (tree, sampled) | CPU s: tool / server / others / steal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for tool, m, n, la in results:
        lines.append(
            f"| {tool} | {m.returncode} | {la:.2f} | {m.wall_s:,.1f} | {rows / m.wall_s:,.0f} | {size / 1e6 / m.wall_s:,.1f} | {n:,} | {m.peak_rss_mb:,.0f} | {m.tree_peak_rss_kb / 1024:,.0f} | {m.cpu.render() if m.cpu else '—'} |"
        )
    section = "\n".join(lines) + "\n"
    publish(section, append=not args.no_append)


if __name__ == "__main__":
    main()
