"""The command line: every command documented, errors turned into messages and exit codes."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from cutover.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))


@pytest.mark.parametrize(
    "path, cmd", list(all_commands(cli)), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help(path, cmd):
    assert cmd.help and len(cmd.help.strip()) > 10
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help, f"{' '.join(path)} {param.name} has no help"


def test_init_then_run_without_source_file_is_a_clean_error(tmp_path):
    runner = CliRunner()
    cfg = tmp_path / "cutover.toml"
    result = runner.invoke(
        cli,
        [
            "--config",
            str(cfg),
            "init",
            "--source",
            "sqlite:///missing.db",
            "--target",
            "postgresql://app:pw@127.0.0.1:1/db",
        ],
    )
    assert result.exit_code == 0 and "created" in result.output
    assert "pw" not in result.output and "***" in result.output
    result = runner.invoke(
        cli,
        ["--config", str(cfg), "--workdir", str(tmp_path / "w"), "run", "--phase", "2", "--force"],
    )
    assert result.exit_code == 3
    assert "SQLite file not found" in result.output and "Traceback" not in result.output


def test_missing_config_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "none.toml"), "run", "--phase", "2"]
    )
    assert result.exit_code == 2 and "cutover init" in result.output


def test_unknown_phase_lists_the_choices():
    result = CliRunner().invoke(cli, ["run", "--phase", "9"])
    assert result.exit_code == 2 and "'2'" in result.output


def test_rejects_make_the_exit_code_non_zero_unless_allowed(make_sqlite, pg_url, tmp_path):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n DATE); INSERT INTO t VALUES (1, '2024-01-01'), (2, '2024-02-30');"
    )
    cfg = tmp_path / "cutover.toml"
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["--config", str(cfg), "init", "--source", f"sqlite:///{src}", "--target", pg_url]
        ).exit_code
        == 0
    )
    base = [
        "--config",
        str(cfg),
        "--workdir",
        str(tmp_path / "w"),
        "run",
        "--phase",
        "2",
        "--yes",
        "--force",
    ]
    result = runner.invoke(cli, base)
    assert result.exit_code == 1, result.output
    assert "1 rows were rejected" in result.output and "--allow-rejects" in result.output
    assert "rejected" in result.output and "table" in result.output
    result = runner.invoke(cli, [*base, "--allow-rejects"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, [*base, "--on-error", "abort"])
    assert result.exit_code == 1 and "t.n" in result.output and '"id": 2' in result.output


def test_unreachable_target_is_a_runtime_error_without_the_password(make_sqlite, tmp_path):
    src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    cfg = tmp_path / "cutover.toml"
    runner = CliRunner()
    runner.invoke(
        cli,
        [
            "--config",
            str(cfg),
            "init",
            "--source",
            f"sqlite:///{src}",
            "--target",
            "postgresql://app:hunter2@127.0.0.1:9/db",
        ],
    )
    result = runner.invoke(
        cli,
        ["--config", str(cfg), "--workdir", str(tmp_path / "w"), "run", "--phase", "2", "--force"],
    )
    assert result.exit_code == 3 and "cannot connect" in result.output
    assert "hunter2" not in result.output
