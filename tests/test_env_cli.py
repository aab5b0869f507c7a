"""`cutover env …` through click: exit codes, messages, confirmation, help text, redaction."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cutover.cli import cli

SOURCE_PW = "Src-P@ss!9"
TARGET_PW = "Tgt-Secret-7"
CONFIG = f"""\
[[databases]]
name = "rsl"
env_key = "RSL_DATABASE_URL"
source = "mssql+pyodbc://sa:Src-P%40ss%219@sql01:1433/rsl?driver=ODBC+Driver+18+for+SQL+Server"
target = "postgresql://rsl:{TARGET_PW}@pg.internal:5432/rsl"
"""
ENV = "# 로컬\nRSL_DATABASE_URL=mssql+pyodbc://sa:Src-P%40ss%219@sql01:1433/rsl?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes\nOTHER=1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cutover.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / ".env").write_text(ENV, encoding="utf-8")
    return tmp_path


def run(project: Path, *args: str, input: str | None = None) -> Result:
    base = ["--config", str(project / "cutover.toml"), "--workdir", str(project / ".cutover")]
    return CliRunner().invoke(cli, [*base, *args], input=input)


def _assert_no_secret(text: str) -> None:
    for secret in (SOURCE_PW, "Src-P%40ss%219", TARGET_PW):
        assert secret not in text


def test_every_env_command_has_help_text() -> None:
    group = cli.commands["env"]
    assert isinstance(group, click.Group) and group.help
    for name, command in group.commands.items():
        assert command.help, name
        assert all(p.help for p in command.params if isinstance(p, click.Option)), name
        result = CliRunner().invoke(cli, ["env", name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_scan_lists_references_redacted(project: Path) -> None:
    result = run(project, "env", "scan", str(project))
    assert result.exit_code == 0
    assert (
        ".env:2" in result.output
        and "RSL_DATABASE_URL" in result.output
        and "mssql" in result.output
    )
    assert "sa:***@sql01" in result.output
    _assert_no_secret(result.output)


def test_scan_json(project: Path) -> None:
    result = run(project, "env", "scan", "--json", str(project))
    data = json.loads(result.output)
    assert [r["key"] for r in data["references"]] == ["RSL_DATABASE_URL"]
    assert data["proposals"][0]["source"].startswith("mssql+pyodbc://sa:${RSL_SOURCE_PASSWORD:-}@")
    _assert_no_secret(result.output)


def test_scan_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["env", "scan", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_rewrite_without_config_says_how_to_start(tmp_path: Path) -> None:
    result = run(tmp_path, "env", "rewrite")
    assert result.exit_code == 2
    assert "no configuration file" in result.output and "cutover init" in result.output


def test_dry_run_prints_diff_and_writes_nothing(project: Path) -> None:
    result = run(project, "env", "rewrite", str(project))
    assert result.exit_code == 0, result.output
    assert (
        "+RSL_DATABASE_URL=postgresql+psycopg://rsl:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?sslmode=require"
        in result.output
    )
    assert "would change; run with --apply" in result.output
    assert (project / ".env").read_text(encoding="utf-8") == ENV
    _assert_no_secret(result.output)


def test_check_exits_1_when_something_would_change(project: Path) -> None:
    assert run(project, "env", "rewrite", str(project), "--check").exit_code == 1
    assert run(project, "env", "rewrite", str(project), "--apply", "--yes").exit_code == 0
    assert run(project, "env", "rewrite", str(project), "--check").exit_code == 0


def test_apply_asks_first(project: Path) -> None:
    declined = run(project, "env", "rewrite", str(project), "--apply", input="n\n")
    assert declined.exit_code == 1 and (project / ".env").read_text(encoding="utf-8") == ENV
    accepted = run(project, "env", "rewrite", str(project), "--apply", input="y\n")
    assert accepted.exit_code == 0 and "rewrote 1 value(s) in 1 file(s); backup" in accepted.output
    assert "postgresql+psycopg://rsl:${POSTGRES_PASSWORD}@pg.internal" in (
        project / ".env"
    ).read_text(encoding="utf-8")


def test_literal_passwords_go_to_local_env_only(project: Path) -> None:
    (project / ".env.example").write_text("RSL_DATABASE_URL=\n", encoding="utf-8")
    result = run(project, "env", "rewrite", str(project), "--apply", "--yes", "--literal-passwords")
    assert result.exit_code == 0
    assert f"rsl:{TARGET_PW}@pg.internal" in (project / ".env").read_text(encoding="utf-8")
    assert "${POSTGRES_PASSWORD}" in (project / ".env.example").read_text(encoding="utf-8")
    _assert_no_secret(result.output)


def test_unknown_database_lists_choices(project: Path) -> None:
    result = run(project, "env", "rewrite", "--db", "nope")
    assert (
        result.exit_code == 2 and "unknown database 'nope'; expected one of: rsl" in result.output
    )


def test_notes_go_to_stderr_redacted(project: Path) -> None:
    result = run(project, "env", "rewrite", str(project))
    assert "note: .env now reads ${POSTGRES_PASSWORD}" in result.output


def test_restore_round_trip_and_errors(project: Path) -> None:
    nothing = run(project, "env", "restore")
    assert (
        nothing.exit_code == 2 and "no env backup" in nothing.output and "hint:" in nothing.output
    )
    run(project, "env", "rewrite", str(project), "--apply", "--yes")
    restored = run(project, "env", "restore")
    assert restored.exit_code == 0 and "restored 1 file(s)" in restored.output
    assert (project / ".env").read_text(encoding="utf-8") == ENV


def test_restore_refuses_files_edited_since_unless_forced(project: Path) -> None:
    run(project, "env", "rewrite", str(project), "--apply", "--yes")
    (project / ".env").write_text("EDITED=1\n", encoding="utf-8")
    refused = run(project, "env", "restore")
    assert (
        refused.exit_code == 2
        and "changed since backup" in refused.output
        and "--force" in refused.output
    )
    assert run(project, "env", "restore", "--force").exit_code == 0
    assert (project / ".env").read_text(encoding="utf-8") == ENV


def test_restore_unknown_backup_lists_choices(project: Path) -> None:
    run(project, "env", "rewrite", str(project), "--apply", "--yes")
    result = run(project, "env", "restore", "--backup", "nope")
    assert result.exit_code == 2 and "unknown backup 'nope'" in result.output


def test_template_prints_and_writes(project: Path) -> None:
    printed = run(project, "env", "template", "stg")
    assert printed.exit_code == 0, printed.output
    assert (
        "RSL_DATABASE_URL=postgresql+psycopg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/rsl?sslmode=${POSTGRES_SSLMODE}"
        in printed.output
    )
    assert "DB_POOL_SIZE=" in printed.output
    _assert_no_secret(printed.output)
    out = project / "stg.env"
    assert run(project, "env", "template", "stg", "-o", str(out)).exit_code == 0 and out.exists()
    again = run(project, "env", "template", "stg", "-o", str(out))
    assert again.exit_code == 2 and "already exists" in again.output


def test_template_unknown_environment_lists_choices(project: Path) -> None:
    result = run(project, "env", "template", "qa")
    assert result.exit_code == 2 and "expected one of: dev, prod, stg" in result.output


def test_errors_never_show_a_password(tmp_path: Path) -> None:
    bad = CONFIG.replace("pg.internal:5432", "pg.internal:port")
    (tmp_path / "cutover.toml").write_text(bad, encoding="utf-8")
    (tmp_path / ".env").write_text(ENV, encoding="utf-8")
    result = run(tmp_path, "env", "rewrite", str(tmp_path))
    assert result.exit_code == 2 and "is not a number" in result.output
    _assert_no_secret(result.output)
