"""Alternate two versions of `cutover verify` on one loaded target: wall time and peak RSS.

    git worktree add --detach /tmp/old <commit>
    .venv/bin/python bench/verify_ab.py --old /tmp/old --rounds 3

Both run from this virtualenv; the other version is put first on PYTHONPATH, so it imports its own
cutover. The config is the 1M chat bench's, left by `chat_vs_pgloader.py --tools cutover
--keep-server` (its server must be running).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "bench" / "out" / "chat-1000000-s7" / "cutover" / "cutover.toml"


def run(root: Path, config: Path) -> tuple[float, int, bool]:
    """(wall seconds, peak RSS MB, every table matched) of one `cutover verify`."""
    env = dict(os.environ, PYTHONPATH=str(root))
    command = ["/usr/bin/time", "-f", "%M", sys.executable, "-c"]
    command += ["from cutover.cli import main; main()", "--config", str(config), "verify"]
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=config.parent)
    wall = time.monotonic() - started
    rss_kb = int(done.stderr.strip().splitlines()[-1])
    return wall, rss_kb // 1024, done.returncode == 0 and "every table matches" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="checkout of the other version")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    versions = {f"old ({args.old})": args.old, "new (this checkout)": ROOT}
    walls: dict[str, list[float]] = {name: [] for name in versions}
    for i in range(1, args.rounds + 1):
        for name, root in versions.items():
            wall, rss, ok = run(root, args.config)
            walls[name].append(wall)
            print(f"{name}: run {i} {wall:.2f} s, peak RSS {rss} MB, matched {ok}", flush=True)
    for name, values in walls.items():
        print(f"{name}: median {statistics.median(values):.2f} s, best {min(values):.2f} s")


if __name__ == "__main__":
    main()
