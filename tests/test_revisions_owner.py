"""A revisions folder is one config's: another's database of the same name cannot overwrite it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cutover.cli import cli
from cutover.demo import build_chat_db


def write_config(path: Path, source: str, target: str, settings: str = "") -> None:
    path.write_text(
        settings + '[[databases]]\nname = "chat"\nenv_key = "RSL_DATABASE_URL"\n'
        f'source = "{source}"\ntarget = "{target}"\n'
    )


def test_a_second_config_with_the_same_database_name_cannot_overwrite_the_revisions(
    tmp_path, pg_url, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    build_chat_db(tmp_path / "chat.db", messages=30)
    build_chat_db(tmp_path / "archive.db", messages=10)
    write_config(tmp_path / "cutover.toml", "sqlite:///chat.db", pg_url)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", "--phase", "2", "--force", "--allow-rejects"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "alembic" / "chat"
    owner = json.loads((folder / "cutover-owner.json").read_text())
    assert owner == {
        "config": "../../cutover.toml",
        "database": "chat",
        "source": "sqlite:///chat.db",
    }
    before = {p.name: p.read_bytes() for p in (folder / "versions").glob("*.py")}

    write_config(tmp_path / "archive.toml", "sqlite:///archive.db", pg_url)
    args = ["--config", "archive.toml", "--workdir", ".cutover-archive", "run", "--phase", "2"]
    result = runner.invoke(cli, [*args, "--force", "--yes"])
    assert result.exit_code == 2, result.output
    assert "holds the revisions of database 'chat' of" in result.output
    assert (
        str(tmp_path / "cutover.toml") in result.output and "would overwrite them" in result.output
    )
    assert 'alembic_dir = "alembic-chat-2"' in result.output
    assert {p.name: p.read_bytes() for p in (folder / "versions").glob("*.py")} == before

    # its own folder: accepted; and the first config may still write its own
    write_config(
        tmp_path / "archive.toml",
        "sqlite:///archive.db",
        pg_url,
        settings='[settings]\nalembic_dir = "alembic-chat-2"\n\n',
    )
    result = runner.invoke(cli, [*args, "--force", "--yes", "--allow-rejects"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "alembic-chat-2" / "chat" / "cutover-owner.json").exists()
    result = runner.invoke(cli, ["run", "--phase", "2", "--force", "--yes", "--allow-rejects"])
    assert result.exit_code == 0, result.output
