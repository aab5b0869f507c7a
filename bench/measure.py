"""Run one command as a timed subprocess: wall time, peak RSS, and an RSS timeline.

Peak RSS comes from GNU time (`/usr/bin/time -v`, "Maximum resident set size"): the kernel's
high-water mark of the measured process, so no spike between two samples is missed. pgloader is a
single SBCL process (its workers are threads) and cutover a single Python process, so that one
number is the tool's memory. A sampler also reads VmRSS of the whole process tree from /proc,
which gives the timeline (does memory climb while the big table loads?) and a cross-check.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")
SAMPLE_INTERVAL_S = 0.25  # fine enough to see a table's growth, cheap enough not to steal a core
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in these (USER_HZ, 100 on Linux)
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_EXIT = re.compile(r"Exit status: (\d+)")
_USER = re.compile(r"User time \(seconds\): ([\d.]+)")
_SYSTEM = re.compile(r"System time \(seconds\): ([\d.]+)")


@dataclass
class Measured:
    """What one timed run of a command gave."""

    command: list[str]
    returncode: int
    wall_s: float
    peak_rss_kb: int
    tree_peak_rss_kb: int
    samples: list[tuple[float, int, int]] = field(
        default_factory=list
    )  # (seconds since start, tree RSS kB, log bytes so far)
    log: Path | None = None
    cpu: CpuUse | None = None

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024

    def rss_at(self, fraction: float) -> int:
        """Tree RSS (kB) of the sample nearest to `fraction` of the run."""
        if not self.samples:
            return 0
        target = fraction * self.wall_s
        return min(self.samples, key=lambda s: abs(s[0] - target))[1]

    def peak_while(self, marker: re.Pattern[str]) -> dict[str, int]:
        """Peak tree RSS (kB) from each output line matching `marker` to the next one that matches.

        The label is the marker's first group; a sample belongs to the last line that had been
        written when it was taken, so this tells e.g. which table was loading at the peak.
        """
        if self.log is None:
            return {}
        starts: list[tuple[int, str]] = []
        offset, label = 0, ""
        for raw in self.log.read_bytes().splitlines(keepends=True):
            match = marker.search(raw.decode("utf-8", errors="replace"))
            label = match.group(1) if match else label  # other lines (progress) stay in the phase
            starts.append((offset, label))
            offset += len(raw)
        peaks: dict[str, int] = {}
        for _, kb, written in self.samples:
            label = next((lab for start, lab in reversed(starts) if start < written), "")
            if label:
                peaks[label] = max(peaks.get(label, 0), kb)
        return peaks


@dataclass
class CpuUse:
    """Where the machine's CPU went during one run (seconds): this machine is shared, so say so."""

    tool: float  # the measured command (user + system, from GNU time)
    server: float  # the Postgres server's processes, backends that ended included
    other: float  # everything else that ran meanwhile: other sessions' work on this machine
    steal: float  # time the hypervisor gave our virtual CPUs to someone else

    def render(self) -> str:
        return f"{self.tool:,.1f} / {self.server:,.1f} / {self.other:,.1f} / {self.steal:,.1f}"


def _system_ticks() -> tuple[int, int]:
    """(busy, steal) ticks of all CPUs since boot, from /proc/stat's first line."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    return user + nice + system + irq + softirq, steal


def postgres_cpu_s(postmaster_pid: int) -> float:
    """CPU seconds of a Postgres server: the postmaster, its live children, and its reaped children."""
    total = 0
    for pid in [postmaster_pid, *_children().get(postmaster_pid, [])]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a backend that ended between the listing and the read
            continue
        utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
        total += utime + stime + (cutime + cstime if pid == postmaster_pid else 0)
    return total / CLOCK_TICKS


def ensure_gnu_time() -> None:
    """GNU time is Debian's `time` package; install it when it is missing (root only)."""
    if GNU_TIME.exists():
        return
    print("GNU time is missing: apt-get install -y time")
    subprocess.run(["apt-get", "install", "-y", "time"], check=True)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (…) may hold spaces
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kb(root: int) -> int:
    """Summed VmRSS of a process and all its descendants, less GNU time itself."""
    tree = _children()
    total, stack = 0, list(tree.get(root, []))
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(tree.get(pid, []))
    return total


def run_measured(
    command: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    server_pid: int | None = None,
) -> Measured:
    """Run `command` under GNU time with its output in `log`; returns wall time, memory and CPU use."""
    ensure_gnu_time()
    time_file = log.with_suffix(".time")
    full = [str(GNU_TIME), "-v", "-o", str(time_file), *command]
    samples: list[tuple[float, int, int]] = []
    busy_before, steal_before = _system_ticks()
    server_before = postgres_cpu_s(server_pid) if server_pid else 0.0
    with log.open("w") as out:
        started = time.monotonic()
        # No stdin: SBCL answers a fatal error (heap exhausted) with its LDB debugger, which would
        # otherwise wait on a terminal forever; with stdin closed it reads EOF and exits.
        proc = subprocess.Popen(
            full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(SAMPLE_INTERVAL_S):
                samples.append(
                    (
                        time.monotonic() - started,
                        tree_rss_kb(proc.pid),
                        os.fstat(out.fileno()).st_size,
                    )
                )

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = proc.wait()
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
    busy_after, steal_after = _system_ticks()
    server_cpu = postgres_cpu_s(server_pid) - server_before if server_pid else 0.0
    report = time_file.read_text() if time_file.exists() else ""
    peak = _MAXRSS.search(report)
    status = _EXIT.search(report)
    tool_cpu = sum(float(m.group(1)) for m in (_USER.search(report), _SYSTEM.search(report)) if m)
    busy = (busy_after - busy_before) / CLOCK_TICKS
    cpu = CpuUse(
        tool_cpu,
        server_cpu,
        max(0.0, busy - tool_cpu - server_cpu),
        (steal_after - steal_before) / CLOCK_TICKS,
    )
    return Measured(
        command=command,
        returncode=int(status.group(1)) if status else returncode,
        wall_s=wall,
        peak_rss_kb=int(peak.group(1)) if peak else 0,
        tree_peak_rss_kb=max((kb for _, kb, _ in samples), default=0),
        samples=samples,
        log=log,
        cpu=cpu,
    )
