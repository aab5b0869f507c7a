"""Check before changing anything: read-only workdir or revisions, full disk; OSError is a line."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cutover.cli import cli
from cutover.demo import build_chat_db

ENV = "RSL_DATABASE_URL=sqlite:///chat.db\n"


@pytest.fixture
def app(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chat app on SQLite with a .env, configured to cut over into the test database."""
    home = tmp_path / "chat-app"
    home.mkdir()
    build_chat_db(home / "chat.db", messages=50)
    (home / ".env").write_text(ENV)
    (home / "cutover.toml").write_text(
        '[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\n'
        f'source = "sqlite:///chat.db"\ntarget = "{pg_url}"\n'
    )
    monkeypatch.chdir(home)
    return home


@pytest.fixture
def mount() -> Iterator[Callable[..., Path]]:
    """A real read-only (or tiny) file system at a folder: chmod for a user, tmpfs for root."""
    mounted: list[Path] = []

    def make(folder: Path, *, read_only: bool = True, size: str = "4m") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            if not read_only:
                pytest.skip("a small file system needs root (mount -t tmpfs)")
            folder.chmod(0o555)
            return folder
        options = f"{'ro,' if read_only else ''}size={size}"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", str(folder)], check=False)


def public_tables(pg) -> int:
    row = pg.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema IN ('public', '_cutover')"
    ).fetchone()
    return int(row[0])


def test_a_read_only_workdir_is_one_line_before_anything_changes(app, mount):
    workdir = mount(app / ".cutover")
    result = CliRunner().invoke(cli, ["run", "--phase", "1", "--yes"])
    assert result.exit_code == 3, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("error: cannot write in the workdir: ") and str(workdir) in first
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 2
    assert (app / ".env").read_text() == ENV  # nothing was rewritten


def test_a_read_only_revisions_folder_stops_phase_2_before_the_target_changes(app, mount, pg):
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    mount(app / "alembic")
    result = runner.invoke(cli, ["run", "--phase", "2"])
    assert result.exit_code == 3, result.output
    assert "error: cannot write in the revisions folder: " in result.output
    assert str(app / "alembic" / "chat") in result.output and "Traceback" not in result.output
    assert public_tables(pg) == 0  # no table, no _cutover: nothing changed on the target
    status = runner.invoke(cli, ["status"]).output
    assert "Phase 2 — schema and data: FAILED" in status and "the revisions folder" in status


def test_too_little_disk_for_rejects_stops_phase_2_before_the_target_changes(app, mount, pg):
    mount(app / ".cutover", read_only=False, size="4m")
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    result = runner.invoke(cli, ["run", "--phase", "2"])
    assert result.exit_code == 3, result.output
    assert "MiB free for reject files and results" in result.output
    assert public_tables(pg) == 0


def test_a_workdir_that_is_a_file_is_one_line(app):
    (app / "not-a-folder").write_text("")
    result = CliRunner().invoke(cli, ["--workdir", "not-a-folder", "run", "--phase", "1"])
    assert result.exit_code == 3, result.output
    assert result.output.startswith("error: cannot create the workdir: File exists: not-a-folder")
    assert "Traceback" not in result.output


def test_an_env_file_that_cannot_be_written_is_refused_before_the_rewrite(app, mount):
    deploy = mount(app / "deploy", read_only=False)
    (deploy / ".env").write_text(ENV)
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(deploy)], check=True)
    else:
        (deploy / ".env").chmod(0o444)
    result = CliRunner().invoke(cli, ["run", "--phase", "1", "--yes"])
    assert result.exit_code == 3, result.output
    assert "deploy/.env" in result.output and "Traceback" not in result.output
    assert (app / ".env").read_text() == ENV  # the writable one was not rewritten either
    assert not (app / ".cutover" / "backups" / "env").exists() or not any(
        (app / ".cutover" / "backups" / "env").iterdir()
    )
