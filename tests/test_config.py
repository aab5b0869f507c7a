"""cutover.toml: writing, reading, interpolation, and errors that name file and line."""

from __future__ import annotations

import pytest

from cutover import commands
from cutover import config as config_mod
from cutover.errors import ConfigError, UnknownChoiceError


def test_init_writes_and_a_second_init_adds_a_database(tmp_path):
    path = tmp_path / "cutover.toml"
    first = commands.init(
        path,
        source="sqlite:///chat.db",
        target="postgresql://app@db:5432/chat",
        env_key="RSL_DATABASE_URL",
    )
    assert first.created and first.database.name == "chat"
    commands.init(
        path,
        source="sqlite:///registry.db",
        target="postgresql://app@db:5432/registry",
        name="registry",
        env_key="MODEL_REGISTRY_URL",
    )
    cfg = config_mod.load(path)
    assert [(d.name, d.env_key) for d in cfg.databases] == [
        ("chat", "RSL_DATABASE_URL"),
        ("registry", "MODEL_REGISTRY_URL"),
    ]
    with pytest.raises(ConfigError, match="already"):
        commands.init(
            path, source="sqlite:///other.db", target="postgresql://app@db/x", name="chat"
        )


def test_init_keeps_comments_the_user_added(tmp_path):
    path = tmp_path / "cutover.toml"
    commands.init(path, source="sqlite:///a.db", target="postgresql://u@h/a")
    path.write_text(path.read_text() + "# keep me\n")
    commands.init(path, source="sqlite:///b.db", target="postgresql://u@h/b")
    assert "# keep me" in path.read_text()


def test_init_refuses_wrong_kinds(tmp_path):
    from cutover.errors import UsageError

    with pytest.raises(UsageError, match="target must be PostgreSQL"):
        commands.init(tmp_path / "c.toml", source="sqlite:///a.db", target="sqlite:///b.db")
    with pytest.raises(UnknownChoiceError, match="expected one of"):
        commands.init(tmp_path / "c.toml", source="oracle://x/y", target="postgresql://u@h/b")


def test_environment_interpolation(tmp_path):
    path = tmp_path / "cutover.toml"
    path.write_text(
        '[[databases]]\nname = "chat"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///chat.db"\ntarget = "postgresql://app:${PGPASS}@${PGHOST:-localhost}/chat"\n'
    )
    cfg = config_mod.load(path, environ={"PGPASS": "s3cret"})
    assert cfg.databases[0].target == "postgresql://app:s3cret@localhost/chat"


@pytest.mark.parametrize(
    "text, message, line",
    [
        (
            '[[databases]]\nname = "chat"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://u:${MISSING}@h/db"\n',
            "MISSING is not set",
            5,
        ),
        ("[settings]\nbatch_size = 100\nbogus = 1\n", "unknown setting 'bogus'", 3),
        ('[settings]\non_error = "ignore"\n', "expected one of: reject, abort", 2),
        ('[settings]\nbatch_size = "many"\n', "batch_size must be int", 2),
        (
            '[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\n',
            "has no 'target'",
            1,
        ),
        ('\n\n[[databases]\nname = "a"\n', "not valid TOML", 3),
        (
            '[[databases]]\nname = "a"\nenv_key = "K"\nsource = "s"\ntarget = "t"\n[databases.columns]\nbad = "text"\n',
            'must be written as "table.column"',
            7,
        ),
    ],
)
def test_errors_name_the_file_and_line(tmp_path, text, message, line):
    path = tmp_path / "cutover.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={})
    assert message in str(info.value)
    assert info.value.line == line and info.value.path == str(path)


def test_missing_file_says_how_to_start(tmp_path):
    with pytest.raises(ConfigError) as info:
        config_mod.load(tmp_path / "none.toml")
    assert "cutover init" in (info.value.hint or "")


def test_overrides_are_read(tmp_path):
    path = tmp_path / "cutover.toml"
    path.write_text(
        '[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://u@h/a"\n[databases.columns]\n"messages.embedding" = { type = "vector(768)", blob_format = "float32le" }\n"users.flags" = "integer"\n'
    )
    db = config_mod.load(path).databases[0]
    assert db.override("messages", "embedding") == config_mod.ColumnOverride(
        type="vector(768)", blob_format="float32le"
    )
    assert db.override("users", "flags").type == "integer"
    assert db.override("users", "other") is None


def test_init_without_urls_takes_databases_from_the_scan(tmp_path):
    from click.testing import CliRunner

    from cutover.cli import cli

    project = tmp_path / "app"
    project.mkdir()
    (project / ".env").write_text(
        "# chat service\nRSL_DATABASE_URL=sqlite:///./data/chat.db\nMODEL_REGISTRY_URL=mssql+pyodbc://sa:Sup3rS3cret@db:1433/registry?driver=ODBC+Driver+18+for+SQL+Server\n"
    )
    cfg = project / "cutover.toml"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "init", "--scan", str(project)])
    assert result.exit_code == 0, result.output
    assert "Sup3rS3cret" not in result.output and "Sup3rS3cret" not in cfg.read_text()
    dbs = {d.env_key: d for d in config_mod.load(cfg, environ={}).databases}
    assert set(dbs) == {"RSL_DATABASE_URL", "MODEL_REGISTRY_URL"}
    assert dbs["RSL_DATABASE_URL"].source.startswith("sqlite:///")
    again = CliRunner().invoke(cli, ["--config", str(cfg), "init", "--scan", str(project)])
    assert again.exit_code == 0 and "kept the existing entry" in again.output


def test_init_from_an_empty_project_says_what_to_do(tmp_path):
    from click.testing import CliRunner

    from cutover.cli import cli

    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "c.toml"), "init", "--scan", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--source URL --target URL" in result.output


def test_phase1_fields_are_read_and_validated(tmp_path):
    path = tmp_path / "cutover.toml"
    base = '[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://u@h/a"\n'
    path.write_text(
        base
        + 'driver = "asyncpg"\npassword_env = "PG_PW"\nsplit_keys = { MSSQL_SERVER = "POSTGRES_HOST" }\n'
    )
    db = config_mod.load(path, environ={}).databases[0]
    assert (db.driver, db.password_env, db.split_keys) == (
        "asyncpg",
        "PG_PW",
        {"MSSQL_SERVER": "POSTGRES_HOST"},
    )
    path.write_text(base + "split_keys = 3\n")
    with pytest.raises(ConfigError) as info:
        config_mod.load(path, environ={})
    assert info.value.line == 6


def test_secrets_in_url_userinfo_are_encoded_on_interpolation(tmp_path):
    path = tmp_path / "cutover.toml"
    path.write_text(
        '[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://app:${PW}@localhost/a"\n'
    )
    db = config_mod.load(path, environ={"PW": "p@ss/w:rd"}).databases[0]
    from cutover import urls

    assert urls.parse(db.target).password == "p@ss/w:rd"
