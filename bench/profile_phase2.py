"""Where cutover's phase 2 spends its time: py-spy on `cutover run --phase 2`, bucketed.

    .venv/bin/python bench/profile_phase2.py                    # the 1,000,000-message file
    .venv/bin/python bench/profile_phase2.py --messages 100000

Same source file and server as chat_vs_pgloader.py. py-spy samples the cutover process (with
--idle, so time blocked on the server counts too, and --native, so C frames inside sqlite3 and
psycopg's C extension show which step they belong to) and writes collapsed stacks, which
speedscope.app opens as they are. This script then gives each sample to the first step it finds
walking from the stack's root toward its leaf, and the Postgres server's own CPU time is read
from /proc before and after. The report is printed as Markdown.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from chat_vs_pgloader import (
    CUTOVER_DB,
    CUTOVER_NAME,
    DEFAULT_MESSAGES,
    DEFAULT_SEED,
    DURABLE_SETTINGS,
    OUT_DIR,
    fresh_database,
    postmaster_pid,
    source_db,
    warm_cache,
)
from measure import run_measured

from cutover import commands
from cutover.embedded import EmbeddedPostgres

SAMPLE_RATE_HZ = (
    200  # py-spy's default is 100; 200 resolves per-batch steps of ~1 ms and costs <5% of one core
)


@dataclass(frozen=True)
class Step:
    """A named part of phase 2, recognised by a frame: its function (bare or Class.method) and file."""

    name: str
    function: str  # "" matches any function in `file`
    file: str = ""

    def matches(self, frame: str) -> bool:
        func, _, where = frame.partition(" (")
        named = not self.function or func == self.function or func.endswith("." + self.function)
        return named and self.file in where


# py-spy names frames "Class.method (package/file.py:line)"; native ones "symbol (library.so)".
# Phases: the outermost frame below run_phase2 that names one.
PHASES = [
    Step("start-up: imports, CLI, config", "<module>"),
    Step("reflect + profile the source (map_schema)", "map_schema", "cutover/mapping.py"),
    Step("Alembic: write revisions", "write", "cutover/migrations.py"),
    Step("Alembic: stamp", "stamp_base", "cutover/migrations.py"),
    Step("load_tables: read, coerce, COPY", "load_tables", "cutover/pipeline.py"),
    Step("enforce_keys: duplicate and orphan checks", "enforce_keys", "cutover/pipeline.py"),
    Step("Alembic upgrade (tables, then keys and indexes)", "upgrade", "cutover/migrations.py"),
    Step(
        "finish_tables: identity, sizes, count(*), ANALYZE", "finish_tables", "cutover/pipeline.py"
    ),
]
LOAD = PHASES[4].name
# Inside load_tables: the innermost frame that names a step wins, so COPY inside a transaction is COPY.
LOAD_STEPS = [
    Step("SQLite read (fetchall of a keyset page)", "read", "cutover/sources/sqlite.py"),
    Step("coercion (generated row transform + coerce.py)", "transform", "<cutover row transform>"),
    Step("coercion (generated row transform + coerce.py)", "", "cutover/coerce.py"),
    Step("COPY: format rows (Copy.write_row, C formatter)", "write_row", "psycopg/_copy"),
    Step("COPY: send buffer to the socket (LibpqWriter.write)", "write", "psycopg/_copy.py"),
    Step(
        "COPY: end of COPY, waiting for the server (LibpqWriter.finish)",
        "finish",
        "psycopg/_copy.py",
    ),
    Step(
        "commit / savepoint release, waiting for the server", "__exit__", "psycopg/transaction.py"
    ),
    Step(
        "commit / savepoint release, waiting for the server", "__enter__", "psycopg/transaction.py"
    ),
    Step("load_progress upsert", "_record_progress", "cutover/pipeline.py"),
]
# Inside map_schema: which statement of the profile scan.
PROFILE_STEPS = [
    Step(
        "SqliteSource.profile: one aggregate scan per table", "profile", "cutover/sources/sqlite.py"
    ),
    Step("SqliteSource.sample", "sample", "cutover/sources/sqlite.py"),
    Step("SqliteSource.reflect", "reflect", "cutover/sources/sqlite.py"),
]


def ensure_py_spy() -> str:
    """py-spy next to this Python, installed into the venv with pip when it is missing."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        print(f"py-spy is not installed: {sys.executable} -m pip install py-spy")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(exe)


def bucket(raw: Path) -> tuple[Counter[str], dict[str, Counter[str]], int]:
    """Samples per phase, per step inside two phases, and the total, from py-spy's collapsed stacks."""
    phases: Counter[str] = Counter()
    inside: dict[str, Counter[str]] = {LOAD: Counter(), PHASES[1].name: Counter()}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        main_run = any(f.startswith("run_phase2 (") for f in frames)
        phase = (
            _first(PHASES[1:], frames, leaf_first=False)
            if main_run
            else _first(PHASES[:1], frames, leaf_first=False)
        )
        phase = phase or "other (connect, preflight, drop tables, render)"
        phases[phase] += count
        if phase == LOAD:
            inside[LOAD][
                _first(LOAD_STEPS, frames, leaf_first=True)
                or "load loop itself (batching, reporter)"
            ] += count
        elif phase == PHASES[1].name:
            inside[phase][_first(PROFILE_STEPS, frames, leaf_first=True) or "mapping (Python)"] += (
                count
            )
    return phases, inside, total


def _first(steps: list[Step], frames: list[str], *, leaf_first: bool) -> str | None:
    for frame in reversed(frames) if leaf_first else frames:
        for step in steps:
            if step.matches(frame):
                return step.name
    return None


def table(title: str, counts: Counter[str], total: int, seconds: float) -> list[str]:
    lines = [f"| {title} | samples | share | ≈ s |", "|---|---:|---:|---:|"]
    for name, n in counts.most_common():
        lines.append(f"| {name} | {n:,} | {100 * n / total:.1f}% | {seconds * n / total:,.1f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--no-native", action="store_true", help="skip C frames (if py-spy cannot unwind them here)"
    )
    args = parser.parse_args()
    py_spy = ensure_py_spy()
    source = source_db(args.messages, args.seed)
    work = OUT_DIR / source.stem / "profile"
    work.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(OUT_DIR / "postgres", settings=DURABLE_SETTINGS)
    server.start()
    try:
        fresh_database(server, CUTOVER_DB)
        cfg = work / "cutover.toml"
        if cfg.exists():
            cfg.unlink()
        commands.init(
            cfg, source=f"sqlite:///{source}", target=server.url(CUTOVER_DB), name=CUTOVER_NAME
        )
        raw = work / "phase2.collapsed.txt"
        cutover = [
            str(Path(sys.executable).with_name("cutover")),
            "--config",
            str(cfg),
            "--workdir",
            str(work / ".cutover"),
            "run",
            "--phase",
            "2",
            "--force",
            "--yes",
        ]
        record = [
            py_spy,
            "record",
            "--idle",
            "--rate",
            str(SAMPLE_RATE_HZ),
            "--format",
            "raw",
            "-o",
            str(raw),
        ]
        if not args.no_native:
            record.append("--native")
        warm_cache(source)
        measured = run_measured(
            [*record, "--", *cutover],
            log=work / "profile.log",
            cwd=work,
            server_pid=postmaster_pid(server),
        )
    finally:
        server.stop()
    if measured.returncode != 0:
        sys.exit(f"profiled run failed (exit {measured.returncode}); see {measured.log}")
    cpu = measured.cpu
    assert cpu is not None
    phases, inside, total = bucket(raw)
    wall = measured.wall_s
    lines = [
        f"### py-spy profile of `cutover run --phase 2`, {args.messages:,} messages",
        "",
        f"- wall {wall:,.1f} s under py-spy ({SAMPLE_RATE_HZ} Hz, --idle{'' if args.no_native else ', --native'}); {total:,} samples of the main thread",
        f"- CPU seconds: cutover (+ py-spy) {cpu.tool:,.1f}; Postgres server, all its processes {cpu.server:,.1f}; other processes on this shared machine {cpu.other:,.1f}; stolen by the hypervisor {cpu.steal:,.1f}",
        f"- collapsed stacks (speedscope.app opens them): `{raw.relative_to(OUT_DIR.parent.parent)}`",
        "",
        *table("phase", phases, total, wall),
        "",
    ]
    for phase, steps in inside.items():
        seconds = wall * phases[phase] / total
        lines += [
            f"Inside {phase} ({seconds:,.1f} s):",
            "",
            *table("step", steps, sum(steps.values()) or 1, seconds),
            "",
        ]
    print("\n".join(lines))
    (work / "profile.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
