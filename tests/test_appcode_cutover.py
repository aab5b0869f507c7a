"""The app-code engine wired into cutover: plan's `code` list, phase 3's proof, `cutover code diff`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
from appcode_schema import build_sqlite
from click.testing import CliRunner
from test_appcode_find import APP

from cutover import commands
from cutover import config as config_mod
from cutover.appcode import find_statements
from cutover.cli import cli
from cutover.demo import build_chat_db
from cutover.load import state
from cutover.load import target as tgt
from cutover.phases.app_code import manifest_schema, planned_schema, target_schema
from cutover.phases.plan import schema


def app_project(tmp_path: Path, target: str) -> Path:
    """The example app with its SQLite database and a cutover.toml; returns the config path."""
    root = tmp_path / "project"
    shutil.copytree(APP, root)
    build_sqlite(root / "chat.db").close()
    cfg = root / "cutover.toml"
    commands.init(
        cfg, source="sqlite:///chat.db", target=target, name="chat", env_key="RSL_DATABASE_URL"
    )
    return cfg


def invoke(cfg: Path, *args: str):
    return CliRunner().invoke(
        cli, ["--config", str(cfg), "--workdir", str(cfg.parent / ".cutover"), *args]
    )


def test_plan_json_lists_every_statement_with_its_rewrite_and_validates(tmp_path, pg_url):
    cfg = app_project(tmp_path, pg_url)
    result = invoke(cfg, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.validate(data, schema())
    code = data["code"]
    by_place = {(c["path"], c["line"]): c for c in code}
    assert len(code) >= 25
    export = by_place[("app/legacy_mssql.py", 5)]
    assert export["dialect"] == "tsql" and export["status"] == "rewritten"
    assert "LIMIT 5" in export["postgres_sql"] and "[" not in export["postgres_sql"]
    # the planned types decide: is_active stays integer as declared, so the statement runs as is
    assert by_place[("app/queries.py", 5)]["status"] == "compatible"
    user = by_place[("app/queries.py", 3)]
    assert user["status"] == "rewritten" and "COALESCE" in user["postgres_sql"]
    assert "IFNULL → COALESCE" in user["changes"]
    audit = by_place[("app/reports.py", 9)]["postgres_sql"]
    assert audit == 'INSERT INTO "AuditLog" (id, "EventType") VALUES (:id, :event)'
    assert "value = '1'" in by_place[("app/reports.py", 16)]["postgres_sql"]
    rowid = by_place[("app/repo.py", 58)]
    assert rowid["status"] == "manual" and rowid["postgres_sql"] is None
    assert {c["status"] for c in code} <= {"compatible", "rewritten", "manual"}
    assert all(c["postgres_sql"] is None for c in code if c["status"] == "manual")
    options = {(f["subject"], f["code"]) for f in data["env"]["findings"]}
    assert ("app/db.py:12", "dialect_option") in options
    assert ("tests/conftest.py:7", "sqlite_fixture") in options


def test_text_plan_lists_the_apps_sql_by_file(tmp_path, pg_url):
    cfg = app_project(tmp_path, pg_url)
    result = invoke(cfg, "plan")
    assert result.exit_code == 0, result.output
    text = result.output[result.output.index("The app's SQL") :]
    assert (
        text.index("app/legacy_mssql.py") < text.index("app/queries.py") < text.index("app/repo.py")
    )
    assert "sql: SELECT TOP 5 [name]" in text
    assert "postgres: SELECT name, COALESCE(score, 0) AS score FROM users" in text


def test_phase_3_proves_every_rewrite_on_the_loaded_data(tmp_path, pg_url):
    cfg_path = app_project(tmp_path, pg_url)
    cfg = config_mod.load(cfg_path)
    workdir = cfg_path.parent / ".cutover"
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    result = commands.run_phase(cfg, workdir, 3)
    (outcome,) = result.outcomes
    proofs = {(c.entry.statement.path, c.entry.statement.line): c.proof for c in outcome.proof.code}
    assert len(proofs) >= 25
    not_same = {place: p.status for place, p in proofs.items() if p.status != "same"}
    # PRAGMA and last_insert_rowid() have no rewrite: a person decides; everything else, writes
    # included (rolled back on a scratch copy of the source), returns the same on Postgres
    assert not_same == {("app/db.py", 22): "manual", ("app/repo.py", 58): "manual"}, {
        k: proofs[k].reason for k in not_same
    }
    assert outcome.ok
    status = (
        CliRunner()
        .invoke(cli, ["--config", str(cfg_path), "--workdir", str(workdir), "status"])
        .output
    )
    assert "[ ] p3.code" in status and "2 manual" in status
    assert "app/repo.py:58 manual — last_insert_rowid()" in status
    saved = json.loads((workdir / "results" / "phase3.json").read_text(encoding="utf-8"))
    assert {c["proof"]["status"] for c in saved["code"]} == {"same", "manual"}
    report = (workdir / "report" / "report.md").read_text(encoding="utf-8")
    assert "The app's SQL" in report and "rewritten · same" in report


def test_sql_a_module_sends_to_postgres_already_is_not_rewritten(tmp_path):
    (tmp_path / "test_app.py").write_text(
        "import psycopg\n\nwith psycopg.connect('') as conn:\n"
        "    conn.execute('SELECT count(*) FROM messages')\n"
    )
    (tmp_path / "legacy.py").write_text(
        "import sqlite3\n\nsqlite3.connect('x.db').execute('SELECT IFNULL(a, 0) FROM t')\n"
    )
    assert [s.path for s in find_statements(tmp_path)] == ["legacy.py"]


def loaded_app(tmp_path: Path, pg_url: str) -> tuple[Path, Path]:
    """The example app in a git repository, loaded into Postgres by phase 2; (config, workdir)."""
    cfg_path = app_project(tmp_path, pg_url)
    root = cfg_path.parent
    (root / ".gitignore").write_text(".cutover/\nalembic/\n*.db\ncutover.toml\n")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "app"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    cfg = config_mod.load(cfg_path)
    workdir = root / ".cutover"
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    return cfg_path, workdir


def test_code_diff_is_a_patch_git_applies_and_leaves_manual_sql_alone(tmp_path, pg_url):
    cfg_path, workdir = loaded_app(tmp_path, pg_url)
    root = cfg_path.parent
    before = {p: p.read_bytes() for p in root.rglob("*.py")}
    result = invoke(cfg_path, "code", "diff")
    assert result.exit_code == 0, result.output
    patch = result.stdout
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == before  # nothing written
    (tmp_path / "code.patch").write_text(patch)
    check = subprocess.run(
        ["git", "apply", "--check", str(tmp_path / "code.patch")], cwd=root, capture_output=True
    )
    assert check.returncode == 0, check.stderr
    assert "+++ b/app/queries.py" in patch and "+++ b/app/legacy_mssql.py" in patch
    assert (
        "-USER_BY_ID = \"SELECT id, IFNULL(name, '(none)') AS name FROM users WHERE id = ?\""
        in patch
    )
    assert (
        "+USER_BY_ID = \"SELECT id, COALESCE(name, '(none)') AS name FROM users WHERE id = %s\""
        in patch
    )
    changed = [line for line in patch.splitlines() if line[:1] in "+-"]
    assert not [line for line in changed if "last_insert_rowid" in line or "PRAGMA" in line]
    assert "left alone: app/repo.py:58 manual" in result.stderr
    assert "left alone: app/db.py:22 manual" in result.stderr
    # engine options only SQLite knows go; the SQLite test fixture reads the env key
    assert '-    connect_args={"check_same_thread": False},\n' in patch
    assert '+    return create_engine(os.environ["RSL_DATABASE_URL"])' in patch
    assert "+import os\n" in patch
    # a triple-quoted statement keeps its quotes and the lines around its SQL
    assert ' SIGNUPS_BY_MONTH = """\n-SELECT strftime(' in patch
    assert "+SELECT TO_CHAR(" in patch and '+"""' not in patch


def test_code_diff_apply_keeps_a_backup_and_is_idempotent(tmp_path, pg_url):
    cfg_path, workdir = loaded_app(tmp_path, pg_url)
    root = cfg_path.parent
    original = (root / "app" / "repo.py").read_bytes()
    first = invoke(cfg_path, "code", "diff", "--apply")
    assert first.exit_code == 0, first.output
    assert "replaced" in first.stderr and "undo: cutover env restore" in first.stderr
    changed = (root / "app" / "repo.py").read_bytes()
    assert changed != original and b'COLLATE "C" ILIKE' in changed
    for module in root.rglob("*.py"):
        compile(module.read_bytes(), str(module), "exec")  # still Python
    again = invoke(cfg_path, "code", "diff", "--apply")
    assert again.exit_code == 0, again.output
    assert "nothing to replace" in again.stderr
    assert (root / "app" / "repo.py").read_bytes() == changed
    restore = invoke(cfg_path, "env", "restore")
    assert restore.exit_code == 0, restore.output
    assert (root / "app" / "repo.py").read_bytes() == original


def test_a_statement_over_rejected_rows_is_left_to_a_person(tmp_path, pg_url):
    build_chat_db(tmp_path / "chat.db", messages=300)  # some of its messages are rejected
    (tmp_path / "app.py").write_text(
        'import sqlite3\n\nsqlite3.connect("chat.db").execute("SELECT COUNT(*) FROM messages")\n'
    )
    cfg_path = tmp_path / "cutover.toml"
    commands.init(
        cfg_path, source="sqlite:///chat.db", target=pg_url, name="chat", env_key="DATABASE_URL"
    )
    cfg = config_mod.load(cfg_path)
    workdir = tmp_path / ".cutover"
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    commands.run_phase(cfg, workdir, 2, allow_rejects=True)
    (outcome,) = commands.run_phase(cfg, workdir, 3).outcomes
    (count,) = outcome.proof.code
    assert count.proof.status == "manual"
    assert "the load rejected rows of messages" in count.proof.reason
    assert outcome.ok, outcome.summary


def test_phase_3_reads_the_planned_schema_from_the_load_not_a_new_plan(
    tmp_path, pg_url, monkeypatch
):
    cfg_path, workdir = loaded_app(tmp_path, pg_url)
    cfg = config_mod.load(cfg_path)
    (db,) = cfg.databases
    with tgt.connect(db.target) as conn:
        found = state.read_manifest(conn, db.name)
        assert found is not None
        planned = target_schema(planned_schema(cfg, db, conn))
    recorded = manifest_schema(found[0])
    # names, types, keys, unique keys, rowid aliases and NOCASE columns, as planning finds them
    assert recorded == planned
    assert any(t.uniques for t in planned.tables.values())
    assert any(t.rowid for t in planned.tables.values())

    def no_second_plan(*args, **kwargs):
        raise AssertionError("phase 3 planned the schema again (a second profile of every table)")

    monkeypatch.setattr("cutover.phases.app_code.map_schema", no_second_plan)
    (outcome,) = commands.run_phase(cfg, workdir, 3).outcomes
    assert len(outcome.proof.code) >= 25 and outcome.ok
