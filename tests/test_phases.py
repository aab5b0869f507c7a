"""init → plan → run 1 → run 2 → run 3 → status, as a new user meets it; gating, reruns, failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.demo import build_chat_db
from cutover.phases.plan import schema

PASSWORD = "Walk-s3cret-77"  # in the target URL through ${POSTGRES_PASSWORD}; must never be printed or written

APP_TEST = """\
import os, sys
import psycopg

url = os.environ["RSL_DATABASE_URL"]
print("testing against", url)
with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
    n = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
print("messages:", n)
sys.exit(0 if n == 301 else 1)
"""


@pytest.fixture
def project(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo chat app: its SQLite file, a .env, a compose file, a start script, code that imports sqlite3."""
    home = tmp_path / "chat-app"
    home.mkdir()
    build_chat_db(home / "chat.db", messages=300)
    (home / ".env").write_text("RSL_DATABASE_URL=sqlite:///chat.db\nLOG_LEVEL=info\n")
    (home / "docker-compose.yml").write_text(
        "services:\n  api:\n    image: chat-api\n    environment:\n      RSL_DATABASE_URL: sqlite:///chat.db\n"
    )
    (home / "start.sh").write_text(
        "#!/bin/sh\nexport RSL_DATABASE_URL=sqlite:///chat.db\nexec uvicorn app:app\n"
    )
    (home / "app.py").write_text("import sqlite3\n")
    (home / "test_app.py").write_text(APP_TEST)
    monkeypatch.chdir(home)
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    return home


def target(pg_url: str) -> str:
    return pg_url.replace("postgresql://postgres@", "postgresql://postgres:${POSTGRES_PASSWORD}@")


def init(pg_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "init",
            "--source",
            "sqlite:///chat.db",
            "--target",
            target(pg_url),
            "--name",
            "chat",
            "--env-key",
            "RSL_DATABASE_URL",
        ],
    )
    assert result.exit_code == 0, result.output
    # start.sh and compose read ${POSTGRES_PASSWORD} from the shell that runs them
    config_mod.set_setting(Path("cutover.toml"), "from_environment", ["POSTGRES_PASSWORD"])


def test_a_new_user_walks_the_demo_project_from_init_to_status(project, pg_url):
    runner = CliRunner()
    outputs = []

    def step(*args: str, input: str | None = None, code: int = 0) -> str:
        result = runner.invoke(cli, list(args), input=input)
        outputs.append(result.output)
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result.output

    out = step(
        "init",
        "--source",
        "sqlite:///chat.db",
        "--target",
        target(pg_url),
        "--name",
        "chat",
        "--env-key",
        "RSL_DATABASE_URL",
    )
    assert (
        "created cutover.toml: database 'chat' (RSL_DATABASE_URL)" in out
        and "next: `cutover plan`" in out
    )

    out = step("plan")
    assert (
        "Database chat (RSL_DATABASE_URL)" in out
        and "No blockers." in out
        and "phase 2 estimate" in out
    )
    assert "next: `cutover run --phase 1`" in out

    # start.sh and compose would read ${POSTGRES_PASSWORD}, which nothing in the project defines:
    # phase 1 stops before asking, and writes nothing
    out = step("run", "--phase", "1", code=2)
    assert "start.sh:2: bash reads ${POSTGRES_PASSWORD}" in out and "--from-env" in out
    assert (
        (project / "start.sh").read_text().startswith("#!/bin/sh\nexport RSL_DATABASE_URL=sqlite")
    )
    # the user says the shell they run it from exports it
    config_mod.set_setting(project / "cutover.toml", "from_environment", ["POSTGRES_PASSWORD"])

    out = step("run", "--phase", "1", input="y\n")
    assert (
        "-RSL_DATABASE_URL=sqlite:///chat.db" in out
        and "+RSL_DATABASE_URL=postgresql+psycopg://postgres:${POSTGRES_PASSWORD}@" in out
    )
    assert "write 3 value(s) in 3 file(s)?" in out
    assert "phase 1 — environment: DONE — rewrote 3 value(s) in 3 file(s)" in out
    assert "next: `cutover run --phase 2`" in out
    assert (
        (project / ".env")
        .read_text()
        .startswith(
            "RSL_DATABASE_URL=postgresql+psycopg://postgres:${POSTGRES_PASSWORD}@127.0.0.1:"
        )
    )

    out = step(
        "run", "--phase", "2", code=1
    )  # the demo database carries five broken rows on purpose
    assert (
        "phase 2 — schema and data: DONE — loaded " in out
        and "row(s) into 5 table(s); 4 rejected" in out
    )
    assert "4 rows were rejected" in out and "--allow-rejects" in out
    assert (
        "next: review the rejected rows in" in out
        and "cutover check p2.rejects" in out
        and "cutover run --phase 3" in out
    )

    out = step("run", "--phase", "3", "--app-tests", f'"{sys.executable}" test_app.py')
    assert "parity: every table matches" in out
    assert "env files, compose files and scripts: no SQLite/SQL Server reference left" in out
    assert "app.py:1 sqlite3 module" in out  # code is a warning, not a failure
    assert "messages: 301" in out and "passed in" in out
    assert "phase 3 — verification and documentation: DONE — parity holds for 5 table(s)" in out
    assert "next: `cutover status`" in out

    out = step("status")
    for phase in (
        "Phase 1 — environment: DONE",
        "Phase 2 — schema and data: DONE",
        "Phase 3 — verification and documentation: DONE",
    ):
        assert phase in out
    assert "[x] p2.data" in out and "messages: rows 304 = 301 + 3 rejected" in out
    assert "[ ] p2.rejects" in out and "needs a person — `cutover check p2.rejects" in out
    assert "[x] p3.app-tests" in out and "(needs a person)" in out
    assert "next: " in out and "cutover check p1.environments" in out

    out = step("check", "p2.rejects", "--note", "reviewed the 5 rows: test data, accepted")
    assert (
        "[x] p2.rejects" in out
        and "checked by a person: reviewed the 5 rows" in out
        and "phase 2 — schema and data: 5/9 items done" in out
    )

    out = step("check", "p1.secrets", "--note", "in Vault; the pipeline injects POSTGRES_PASSWORD")
    assert "[x] p1.secrets" in out and "phase 1 — environment: 4/7 items done" in out
    out = step("check", "p1.secrets", "--undo")
    assert "[ ] p1.secrets" in out and "3/7 items done" in out
    out = step("report")
    assert "report.html (one self-contained page" in out

    workdir = project / ".cutover"
    state = json.loads((workdir / "state.json").read_text())
    assert (
        state["items"]["p2.rejects"]["status"] == "done"
        and state["phases"]["3"]["status"] == "done"
    )
    assert "- [x] `p2.data`" in (workdir / "checklists" / "phase2.md").read_text()
    page = (workdir / "report" / "report.html").read_text()
    assert (
        page.startswith("<!DOCTYPE html>")
        and "<script" not in page
        and 'src="http' not in page
        and 'href="http' not in page
    )
    report = (workdir / "report" / "report.md").read_text()
    for section in (
        "## Summary",
        "## Plan",
        "## Phase 1 — environment",
        "## Phase 2 — schema and data",
        "### Rejects",
        "## Phase 3 — verification",
        "## Checklists",
        "## Timings",
    ):
        assert section in report, section
    assert "| messages | 304 | 3 | 301 | 301 |" in report
    jsonschema.validate(json.loads((workdir / "plan.json").read_text()), schema())
    # the password: in no output, and in no file cutover wrote (backups hold the user's own files)
    assert all(PASSWORD not in out for out in outputs)
    for path in workdir.rglob("*"):
        if path.is_file() and "backups" not in path.parts:
            assert PASSWORD not in path.read_text(errors="replace"), path


def test_phases_are_gated_unless_forced(project, pg_url):
    init(pg_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--phase", "2"])
    assert (
        result.exit_code == 2
        and "phase 2 needs phase 1 done first for chat (not run yet)" in result.output
    )
    assert "run `cutover run --phase 1` first, or pass --force" in result.output
    result = runner.invoke(cli, ["run", "--phase", "3"])
    assert result.exit_code == 2 and "phase 3 needs phase 2 done first" in result.output
    assert "next: `cutover plan`" in runner.invoke(cli, ["status"]).output
    result = runner.invoke(cli, ["run", "--phase", "2", "--force", "--allow-rejects"])
    assert result.exit_code == 0, result.output
    assert "phase 2 — schema and data: DONE" in result.output


def test_every_phase_reruns_without_harm(project, pg_url):
    init(pg_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--phase", "all", "--yes", "--allow-rejects"])
    assert result.exit_code == 0, result.output
    assert all(f"phase {n} — " in result.output for n in (1, 2, 3))
    result = runner.invoke(cli, ["run", "--phase", "1"])
    assert result.exit_code == 0 and "nothing to change" in result.output
    result = runner.invoke(cli, ["run", "--phase", "2"])
    assert (
        result.exit_code == 2
        and "phase 2 already loaded chat" in result.output
        and "--yes" in result.output
    )
    assert "Phase 2 — schema and data: DONE" in runner.invoke(cli, ["status"]).output
    result = runner.invoke(cli, ["run", "--phase", "all"])
    assert result.exit_code == 0, result.output
    assert (
        "SKIPPED — phase 2 is already done" in result.output
        and "phase 3 — verification and documentation: DONE" in result.output
    )
    result = runner.invoke(cli, ["run", "--phase", "2", "--yes", "--allow-rejects"])
    assert result.exit_code == 0 and "phase 2 — schema and data: DONE" in result.output


def test_declining_the_phase_1_diff_writes_nothing(project, pg_url):
    init(pg_url)
    before = (project / ".env").read_bytes()
    result = CliRunner().invoke(cli, ["run", "--phase", "1"], input="n\n")
    assert result.exit_code == 1 and "DECLINED — nothing was written" in result.output
    assert "next: run `cutover run --phase 1` again and answer y, or add --yes" in result.output
    assert (project / ".env").read_bytes() == before


def test_phase_3_fails_on_env_leftovers_and_failing_app_tests(project, pg_url):
    init(pg_url)
    cfg = config_mod.load(project / "cutover.toml")
    workdir = project / ".cutover"
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    with (project / ".env").open("a") as env:
        env.write("ANALYTICS_URL=sqlite:///analytics.db\n")
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--phase",
            "3",
            "--app-tests",
            f'"{sys.executable}" -c "import sys; print(\'boom\'); sys.exit(3)"',
        ],
    )
    assert result.exit_code == 1, result.output
    assert (
        "still pointing at SQLite/SQL Server (1)" in result.output
        and ".env:3 ANALYTICS_URL" in result.output
    )
    assert (
        "FAILED (exit 3)" in result.output
        and "phase 3 — verification and documentation: FAILED" in result.output
    )
    assert "next: fix them" in result.output
    status = CliRunner().invoke(cli, ["status"]).output
    assert (
        "[!] p3.env-leftovers" in status
        and "[!] p3.app-tests" in status
        and "[x] p3.parity" in status
    )
    assert "failed:" in status and "the app's tests failed on PostgreSQL" in status
    assert "next: fix what failed in phase 3" in status
    ci = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    assert ci["phases"][2]["status"] == "failed" and ci["failures"]


def test_a_failed_phase_says_why_and_hides_the_password(project):
    (project / "cutover.toml").write_text(
        '[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\nsource = "sqlite:///chat.db"\ntarget = "postgresql://app:hunter2@127.0.0.1:9/chat"\n'
        '[settings]\nfrom_environment = ["POSTGRES_PASSWORD"]\n'
    )
    runner = CliRunner()
    assert runner.invoke(cli, ["run", "--phase", "1", "--yes"]).exit_code == 0
    result = runner.invoke(cli, ["run", "--phase", "2"])
    assert result.exit_code == 3 and "cannot connect" in result.output
    status = runner.invoke(cli, ["status"]).output
    assert "Phase 2 — schema and data: FAILED" in status and "[!] p2.preflight" in status
    assert (
        "phase 2 (chat)" in status
        and "cannot connect to postgresql://app:***@127.0.0.1:9/chat" in status
    )
    assert "next: fix what failed in phase 2" in status
    assert "hunter2" not in result.output + status
    for path in (project / ".cutover").rglob("*"):
        if path.is_file() and "backups" not in path.parts:
            assert "hunter2" not in path.read_text(errors="replace"), path


def test_app_tests_see_the_targets_and_never_print_the_password(tmp_path, monkeypatch):
    from cutover.proof.app_tests import app_environment, run_app_tests

    monkeypatch.setenv("PG_PW", "p@ss-Word9")
    cfg_path = tmp_path / "cutover.toml"
    cfg_path.write_text(
        '[[databases]]\nname = "registry"\nenv_key = "MODEL_REGISTRY_URL"\nsource = "sqlite:///r.db"\n'
        'target = "postgresql://reg:${PG_PW}@db.internal:5433/registry"\nsplit_keys = { MSSQL_HOST = "POSTGRES_HOST", MSSQL_PORT = "POSTGRES_PORT" }\n'
    )
    cfg = config_mod.load(cfg_path)
    env, secrets = app_environment(cfg)
    assert (
        env["MODEL_REGISTRY_URL"]
        == "postgresql+psycopg://reg:p%40ss-Word9@db.internal:5433/registry"
    )
    assert env["POSTGRES_PASSWORD"] == "p@ss-Word9" and secrets == ["p@ss-Word9"]
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.internal", "5433")
    script = "import os; print(os.environ['MODEL_REGISTRY_URL']); print('pw', os.environ['POSTGRES_PASSWORD'])"
    result = run_app_tests(cfg, tmp_path / "w", f'"{sys.executable}" -c "{script}"')
    assert result.passed and result.tail == [
        "postgresql+psycopg://reg:***@db.internal:5433/registry",
        "pw ***",
    ]
    assert "p@ss" not in (tmp_path / "w" / "results" / "app-tests.log").read_text()
