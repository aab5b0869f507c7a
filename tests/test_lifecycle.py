"""Status and report from current evidence: env restore, reloads, reruns, Ctrl-C, no password."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.demo import build_chat_db
from cutover.load.pipeline import TableResult
from cutover.urls import postgres_conninfo

PASSWORD = "Life-cycle-s3cret-5"


@pytest.fixture
def app(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chat app on SQLite with a .env, configured to cut over into the test database."""
    home = tmp_path / "chat-app"
    home.mkdir()
    build_chat_db(home / "chat.db", messages=200)
    (home / ".env").write_text("RSL_DATABASE_URL=sqlite:///chat.db\nLOG_LEVEL=info\n")
    monkeypatch.chdir(home)
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    target = pg_url.replace("postgresql://postgres@", "postgresql://postgres:${POSTGRES_PASSWORD}@")
    (home / "cutover.toml").write_text(
        '[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\n'
        f'source = "sqlite:///chat.db"\ntarget = "{target}"\n'
    )
    return home


def cfg(app: Path) -> config_mod.Config:
    return config_mod.load(app / "cutover.toml")


def status_text() -> str:
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 0, result.output
    return result.output


def test_env_restore_makes_phase_1_pending_and_unticks_p1_rewrite(app):
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    assert "Phase 1 — environment: DONE" in status_text()
    result = runner.invoke(cli, ["env", "restore"])
    assert result.exit_code == 0, result.output
    assert (app / ".env").read_text() == "RSL_DATABASE_URL=sqlite:///chat.db\nLOG_LEVEL=info\n"
    status = status_text()
    assert "Phase 1 — environment: PENDING" in status
    assert "[ ] p1.rewrite" in status and "un-ticked" in status
    assert ".env:1 RSL_DATABASE_URL points at SQLite/SQL Server again" in status
    assert "next: `cutover run --phase 1`: environment — .env:1 RSL_DATABASE_URL" in status
    saved = json.loads((app / ".cutover" / "state.json").read_text())
    assert saved["phases"]["1"]["status"] == "pending"
    assert saved["items"]["p1.rewrite"]["status"] == "stale"
    assert "- [ ] `p1.rewrite`" in (app / ".cutover" / "checklists" / "phase1.md").read_text()
    assert runner.invoke(cli, ["run", "--phase", "2"]).exit_code == 2  # the gate sees it too
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    assert "Phase 1 — environment: DONE" in status_text()


def test_a_rerun_of_phase_1_keeps_the_first_diff_in_the_report(app):
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    result = runner.invoke(cli, ["run", "--phase", "1", "--yes"])
    assert result.exit_code == 0 and "nothing to change" in result.output
    report = (app / ".cutover" / "report" / "report.md").read_text()
    assert "found nothing left to change; the rewrite below is the one it keeps" in report
    assert "1 value(s) rewritten in 1 file(s)" in report and "0 value(s) rewritten" not in report
    assert "-RSL_DATABASE_URL=sqlite:///chat.db" in report
    status = status_text()
    assert ".env: 1 key rewritten" in status and "nothing left to change" in status
    # a third run keeps the same diff, not a copy of a copy
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    data = json.loads((app / ".cutover" / "results" / "phase1.json").read_text())
    assert data["files"] == [] and data["first_rewrite"]["files"][0]["path"] == ".env"


def test_a_phase_2_reload_makes_the_earlier_parity_stale(app):
    config, workdir = cfg(app), app / ".cutover"
    assert commands.run_phase(config, workdir, "all", yes=True, allow_rejects=True).ok
    assert "verification and documentation: DONE" in status_text()
    assert commands.run_phase(config, workdir, 2, yes=True, allow_rejects=True).ok
    status = status_text()
    assert "Phase 2 — schema and data: DONE" in status
    assert "Phase 3 — verification and documentation: PENDING" in status
    assert "[ ] p3.parity" in status and "is of an earlier load than phase 2's" in status
    assert "next: `cutover run --phase 3`" in status
    assert commands.run_phase(config, workdir, 3).ok
    assert "verification and documentation: DONE" in status_text()


def test_status_needs_no_password_and_says_what_does(app, monkeypatch):
    config, workdir = cfg(app), app / ".cutover"
    assert commands.run_phase(config, workdir, "all", yes=True, allow_rejects=True).ok
    monkeypatch.delenv("POSTGRES_PASSWORD")
    status = status_text()
    assert "Phase 2 — schema and data: DONE" in status
    assert "not checked:" in status and "needs POSTGRES_PASSWORD" in status
    assert PASSWORD not in status
    result = CliRunner().invoke(cli, ["report"])
    assert result.exit_code == 0, result.output


def test_a_load_gone_from_the_target_is_not_done(app, pg_url):
    config, workdir = cfg(app), app / ".cutover"
    assert commands.run_phase(config, workdir, 1, yes=True).ok
    assert commands.run_phase(config, workdir, 2, allow_rejects=True).ok
    with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA _cutover CASCADE")
    status = status_text()
    assert "Phase 2 — schema and data: PENDING" in status
    assert "no `_cutover` manifest" in status


class InterruptAfter:
    """A reporter that presses Ctrl-C when the second table starts."""

    def __init__(self) -> None:
        self.started = 0

    def table_started(self, table: str, total: int) -> None:
        self.started += 1
        if self.started == 2:
            raise KeyboardInterrupt

    def advanced(self, table: str, rows: int) -> None:
        pass

    def table_done(self, result: TableResult) -> None:
        pass

    def message(self, text: str) -> None:
        pass


def test_ctrl_c_in_phase_2_says_interrupted_and_how_to_resume(app):
    config, workdir = cfg(app), app / ".cutover"
    assert commands.run_phase(config, workdir, 1, yes=True).ok
    with pytest.raises(KeyboardInterrupt):
        commands.run_phase(config, workdir, 2, reporter=InterruptAfter(), jobs=1)
    status = status_text()
    assert "Phase 2 — schema and data: INTERRUPTED" in status
    assert "KeyboardInterrupt" not in status and "next: `cutover plan`" not in status
    assert "next: phase 2 was interrupted; `cutover run --phase 2` resumes" in status
    result = CliRunner().invoke(cli, ["run", "--phase", "2", "--allow-rejects"])
    assert result.exit_code == 0, result.output
    assert "resuming the interrupted load" in result.output or "DONE" in result.output
    assert "Phase 2 — schema and data: DONE" in status_text()


def test_a_load_killed_without_a_word_is_interrupted_in_status(app, pg_url):
    config, workdir = cfg(app), app / ".cutover"
    assert commands.run_phase(config, workdir, "all", yes=True, allow_rejects=True).ok
    # what `kill -9` during a reload leaves: the state file says done, the target says unfinished
    with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
        conn.execute("UPDATE _cutover.manifest SET complete = false")
    status = status_text()
    assert "Phase 2 — schema and data: INTERRUPTED" in status
    assert "Phase 3 — verification and documentation: PENDING" in status
    assert "next: phase 2 was interrupted; `cutover run --phase 2` resumes" in status


def test_a_ctrl_c_on_the_command_line_is_one_line(app, monkeypatch):
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "status", interrupted)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 130
    assert result.output.strip().startswith("interrupted: `cutover status` says where it stopped")
