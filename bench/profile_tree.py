"""Where the CPU of a whole `cutover run --phase 2` goes, worker processes and threads included (issue 7).

    .venv/bin/python bench/chat_vs_pgloader.py --tools cutover            # leaves a config and a loaded target
    .venv/bin/python bench/profile_tree.py bench/out/chat-1000000-s7/cutover

Runs `cutover run --phase 2 --force --yes` in the given folder (its cutover.toml) under
`py-spy record --subprocesses` (pip install py-spy; not a dependency of cutover) and gives each
sample to the first part of the pipeline its stack names, from the leaf up. py-spy counts a
thread waiting for the GIL as busy, so its CPU-seconds run higher than the kernel's (the bench
sections' CPU columns); read the shares. Prints a Markdown table; the raw stacks stay in
<folder>/phase2.pyspy.txt (speedscope.app opens them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = (
    250  # samples per second: resolves per-batch steps of a few ms at a few percent of one core
)
# (part, substrings of a frame that place a sample in it); the first part whose frame is nearest the leaf wins
PARTS = [
    (
        "columnar: row digests (canonical text by kernels, xxh3)",
        ("NativeTable.digest_batch", "NativeTable._canonical", "NativeTable._buckets"),
    ),
    ("columnar: kernels (casts and checks)", ("NativeTable.coerce_batch", "NativeTable._coerce")),
    ("columnar: ADBC SQLite reader", ("NativeTable.read", "NativeChunk.batches")),
    ("columnar: pgpq encoding, binary COPY", ("NativeTable.encode", "NativeChunk.write")),
    (
        "row digests (canonical text, encode, xxh3)",
        ("RowHasher.digests", "Digests.add_rows", "canon_for", "<cutover row digest>", " text ("),
    ),
    ("COPY formatting and sending (psycopg)", ("write_row", "copy_to", "CopyWriter", "Copy.")),
    ("reading SQLite rows", ("SqliteSource.read", "_read_lenient")),
    ("profiling the source", ("Scan._run", "profile_table", "map_schema", "row_bytes")),
    ("per-batch guards (ISO timestamps, NUL check)", ("passes_guard", "batch_transform")),
    ("value coercions", ("compile_row", "coerce")),
    ("Alembic and SQLAlchemy", ("alembic", "sqlalchemy")),
    (
        "imports and start-up",
        ("<module>", "_call_with_frames_removed", "exec_module", "_compile_bytecode"),
    ),
]
OTHER = "other (progress, pool, state, waits)"


def shares(raw: Path) -> tuple[float, Counter[str]]:
    """Total sampled CPU-seconds and the samples of each part."""
    total = 0
    parts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for frame in reversed(stack.split(";")):
            part = next((name for name, keys in PARTS if any(k in frame for k in keys)), None)
            if part is not None:
                parts[part] += n
                break
        else:
            parts[OTHER] += n
    return total / RATE_HZ, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder with the cutover.toml to run")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    exe = Path(sys.executable).with_name("cutover")
    folder = args.folder.resolve()
    raw = folder / "phase2.pyspy.txt"
    subprocess.run(
        [
            spy,
            "record",
            "-r",
            str(RATE_HZ),
            "-f",
            "raw",
            "-o",
            str(raw),
            "--subprocesses",
            "--",
            str(exe),
            "run",
            "--phase",
            "2",
            "--force",
            "--yes",
        ],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds, parts = shares(raw)
    total = sum(parts.values())
    print(f"{seconds:.1f} CPU-s sampled (py-spy, {RATE_HZ} Hz, all processes)\n")
    print("| part | share |\n|---|---:|")
    for name, n in parts.most_common():
        print(f"| {name} | {n / total * 100:.0f} % |")


if __name__ == "__main__":
    main()
