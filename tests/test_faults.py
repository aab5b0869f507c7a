"""Crash safety: a load killed, cut off or restarted at any point resumes without duplicates or gaps."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cutover import commands
from cutover import config as config_mod
from cutover.embedded import FAST_SETTINGS, EmbeddedPostgres
from cutover.errors import UsageError
from cutover.load.pipeline import NullReporter
from cutover.urls import postgres_conninfo

ROWS = 60_000
SETTINGS = "batch_size = 1000\nchunk_rows = 12500\n"


def big_source(path: Path, rows: int = ROWS) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), kind TEXT, payload JSON, at DATETIME);"
        "CREATE INDEX events_user ON events (user_id);"
    )
    conn.executemany(
        "INSERT INTO users VALUES (?, ?)", ((i, f"user {i} 사용자") for i in range(1, 1001))
    )
    conn.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        (
            (
                i,
                1 + i % 1000,
                "click" if i % 3 else "view",
                '{"n": %d, "tags": ["a", "b"]}' % i,
                f"2024-01-01 00:00:{i % 60:02d}.{i % 1000000:06d}",
            )
            for i in range(1, rows + 1)
        ),
    )
    conn.commit()
    conn.close()
    return path


def write_config(tmp_path: Path, source: Path, target: str, settings: str = SETTINGS) -> Path:
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[settings]\n{settings}\n[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///{source}"\ntarget = "{target}"\n'
    )
    return cfg


def committed_rows(url: str) -> int:
    try:
        with psycopg.connect(postgres_conninfo(url)) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(rows_read), 0) FROM _cutover.chunks WHERE chunk >= 0"
            ).fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def assert_complete_and_exact(cfg: Path, workdir: Path, url: str) -> None:
    result = commands.verify(config_mod.load(cfg), workdir)
    assert result.ok, result.to_json()
    with psycopg.connect(postgres_conninfo(url)) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (
            ROWS,
            ROWS,
        )


def resume_to_an_exact_copy(cfg: Path, workdir: Path, url: str, *, said: bool) -> None:
    """Run phase 2 again after a stop: it ends with every row once (`said`: and says it resumed)."""
    resumed = subprocess.run(
        cli(cfg, workdir, "run", "--phase", "2", "--force", "--jobs", "2"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    if said:
        assert "resum" in resumed.stdout + resumed.stderr
    assert_complete_and_exact(cfg, workdir, url)


def cli(cfg: Path, workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cutover", "--config", str(cfg), "--workdir", str(workdir), *args]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_at_a_random_point_then_resume(tmp_path, pg_url, seed):
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    workdir = tmp_path / "w"
    stop_at = random.Random(seed).randint(ROWS // 10, ROWS * 8 // 10)
    proc = subprocess.Popen(
        cli(cfg, workdir, "run", "--phase", "2", "--force", "--jobs", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while committed_rows(pg_url) < stop_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-flight
    proc.wait()
    resume_to_an_exact_copy(cfg, workdir, pg_url, said=committed_rows(pg_url) < ROWS + 1000)


@pytest.mark.parametrize("jobs", [["--jobs", "2"], []], ids=["processes", "default"])
def test_sigterm_stops_the_load_as_ctrl_c_does_and_it_resumes(tmp_path, pg_url, jobs):
    """SIGTERM to cutover alone (as a supervisor or `docker stop` sends it): exit 143, no worker
    process or chunk thread left running, the phase recorded as terminated, and the next run
    resumes to an exact copy. Without --jobs the columnar engine loads chunks on two threads."""
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    workdir = tmp_path / "w"
    proc = subprocess.Popen(
        cli(cfg, workdir, "run", "--phase", "2", "--force", *jobs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while (
        committed_rows(pg_url) < ROWS // 5 and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert proc.poll() is None, "the load ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)  # the parent only, not its process group
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated: `cutover status` says where it stopped" in err
    assert "Traceback" not in err
    # no process of its session is left loading (a killed worker takes a moment to be reaped)
    for _ in range(50):
        left = subprocess.run(
            ["ps", "-o", "pid=,args=", "-s", str(proc.pid)], capture_output=True, text=True
        )
        if not left.stdout.strip():
            break
        time.sleep(0.1)
    assert left.stdout.strip() == "", left.stdout
    status = subprocess.run(cli(cfg, workdir, "status"), capture_output=True, text=True)
    assert "terminated (SIGTERM)" in status.stdout + status.stderr, status.stdout
    resume_to_an_exact_copy(cfg, workdir, pg_url, said=True)


def test_connection_killed_mid_copy_is_retried(tmp_path, pg_url):
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    killed: list[int] = []

    def assassin() -> None:
        with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                rows = conn.execute(
                    # a COPY running, or its batch's transaction not yet committed: either way the
                    # chunk must resume from its last committed batch (a busy machine finishes a
                    # COPY between two polls, so waiting for 'active' alone can miss every one)
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'cutover load' "
                    "AND query LIKE 'COPY%%' AND state IN ('active', 'idle in transaction')"
                ).fetchall()
                for (pid,) in rows[:1]:
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.01)

    thread = threading.Thread(target=assassin)
    thread.start()
    commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=1)
    thread.join()
    assert killed, "the load finished before a COPY could be interrupted"
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)


def test_server_restart_mid_run(tmp_path):
    datadir = Path(tempfile.mkdtemp(prefix="cutover-test-restart-"))
    server = EmbeddedPostgres(datadir, settings=dict(FAST_SETTINGS))
    try:
        url = server.start().rsplit("/", 1)[0] + "/app"
        source = big_source(tmp_path / "src.db")
        cfg = write_config(tmp_path, source, url)
        restarted: list[bool] = []

        def restarter() -> None:
            deadline = time.monotonic() + 60
            while committed_rows(url) < ROWS // 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.stop(mode="immediate")  # as if the server crashed
            server.start()
            restarted.append(True)

        thread = threading.Thread(target=restarter)
        thread.start()
        commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=2)
        thread.join()
        assert restarted
        assert_complete_and_exact(cfg, tmp_path / "w", url)
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(datadir, ignore_errors=True)


def test_parallel_chunks_load_everything_once(tmp_path, pg_url):
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    result = commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=2)
    events = next(r for r in result.reports[0].results if r.table == "events")
    assert (events.read, events.written, events.rejected) == (ROWS, ROWS, 0)
    with psycopg.connect(postgres_conninfo(pg_url)) as conn:
        assert conn.execute(
            "SELECT count(*) FROM _cutover.chunks WHERE table_name = 'events' AND chunk >= 0"
        ).fetchone() == (5,)
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)


def test_chunks_on_threads_load_everything_once(tmp_path, pg_url, engine, monkeypatch):
    """Without --jobs the columnar engine runs a table's chunks on two threads of one process."""
    from cutover.load import scheduler

    calls: list[int] = []
    on_threads = scheduler._on_threads

    def spy(jobs: list[Any], threads: int, *args: Any) -> None:
        calls.append(threads)
        on_threads(jobs, threads, *args)

    monkeypatch.setattr(scheduler, "_on_threads", spy)
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    result = commands.run_phase2(config_mod.load(cfg), tmp_path / "w")
    events = next(r for r in result.reports[0].results if r.table == "events")
    assert (events.read, events.written, events.rejected) == (ROWS, ROWS, 0)
    assert calls == ([2] if engine == "auto" else [])
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)


def test_a_failing_chunk_on_a_thread_stops_the_other_and_is_raised(
    tmp_path, pg_url, engine, monkeypatch
):
    """The first failure ends the load as it does when chunks run one after another."""
    if engine != "auto":
        pytest.skip("chunks run on threads under the columnar engine only")
    from cutover.load import scheduler

    run_chunk = scheduler.run_chunk

    def failing(job: Any, *args: Any, **kwargs: Any) -> int:
        if job.chunk == 2:
            raise RuntimeError("chunk 2 broke")
        return run_chunk(job, *args, **kwargs)

    monkeypatch.setattr(scheduler, "run_chunk", failing)
    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    with pytest.raises(RuntimeError, match="chunk 2 broke"):
        commands.run_phase2(config_mod.load(cfg), tmp_path / "w")
    assert 0 < committed_rows(pg_url) < ROWS + 1000
    monkeypatch.setattr(scheduler, "run_chunk", run_chunk)
    result = commands.run_phase2(config_mod.load(cfg), tmp_path / "w")
    assert result.reports[0].resumed
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)


def test_changed_source_refuses_to_resume(tmp_path, pg_url):
    source = big_source(tmp_path / "src.db", rows=ROWS)
    cfg = write_config(tmp_path, source, pg_url)
    proc = subprocess.Popen(
        cli(cfg, tmp_path / "w", "run", "--phase", "2", "--force", "--jobs", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while committed_rows(pg_url) < 10_000 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(source)
    conn.execute("UPDATE events SET kind = 'changed' WHERE id = 1")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="source changed since the interrupted load"):
        commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=1)
    result = commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=1, restart=True)
    assert not result.reports[0].resumed
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)


def test_chunk_undone_after_its_worker_returned_is_loaded_again(tmp_path, pg_url, monkeypatch):
    """A server that commits asynchronously can lose a finished chunk's last commits in a crash; phase 2 notices and loads it again."""
    from cutover.load import scheduler

    source = big_source(tmp_path / "src.db")
    cfg = write_config(tmp_path, source, pg_url)
    real_load = scheduler.load
    calls: list[int] = []

    def load_then_lose_a_done_mark(*args, **kwargs):
        real_load(*args, **kwargs)
        calls.append(1)
        if (
            len(calls) == 1
        ):  # as if the crash took the chunk's final commit: its rows are in, its done mark is not
            with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
                conn.execute(
                    "UPDATE _cutover.chunks SET done = false WHERE table_name = 'events' AND chunk = 2"
                )

    monkeypatch.setattr(scheduler, "load", load_then_lose_a_done_mark)
    messages: list[str] = []

    class Collect(NullReporter):
        def message(self, text: str) -> None:
            messages.append(text)

    commands.run_phase2(config_mod.load(cfg), tmp_path / "w", jobs=2, reporter=Collect())
    assert len(calls) == 2
    assert any("1 chunk(s) lost their last commits" in m for m in messages), messages
    assert_complete_and_exact(cfg, tmp_path / "w", pg_url)
