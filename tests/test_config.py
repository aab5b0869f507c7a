"""cutover.toml: writing, reading, interpolation, and errors that name file and line."""

from __future__ import annotations

import pytest

from cutover import commands
from cutover import config as config_mod
from cutover.errors import ConfigError, UnknownChoiceError


def test_init_writes_and_a_second_init_adds_a_database(tmp_path):
    path = tmp_path / "cutover.toml"
    first = commands.init(path, source="sqlite:///chat.db", target="postgresql://app@db:5432/chat", env_key="RSL_DATABASE_URL")
    assert first.created and first.database.name == "chat"
    commands.init(path, source="sqlite:///registry.db", target="postgresql://app@db:5432/registry", name="registry", env_key="MODEL_REGISTRY_URL")
    cfg = config_mod.load(path)
    assert [(d.name, d.env_key) for d in cfg.databases] == [("chat", "RSL_DATABASE_URL"), ("registry", "MODEL_REGISTRY_URL")]
    with pytest.raises(ConfigError, match="already"):
        commands.init(path, source="sqlite:///other.db", target="postgresql://app@db/x", name="chat")


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
    path.write_text('[[databases]]\nname = "chat"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///chat.db"\ntarget = "postgresql://app:${PGPASS}@${PGHOST:-localhost}/chat"\n')
    cfg = config_mod.load(path, environ={"PGPASS": "s3cret"})
    assert cfg.databases[0].target == "postgresql://app:s3cret@localhost/chat"


@pytest.mark.parametrize(
    "text, message, line",
    [
        ('[[databases]]\nname = "chat"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://u:${MISSING}@h/db"\n', "MISSING is not set", 5),
        ('[settings]\nbatch_size = 100\nbogus = 1\n', "unknown setting 'bogus'", 3),
        ('[settings]\non_error = "ignore"\n', "expected one of: reject, abort", 2),
        ('[settings]\nbatch_size = "many"\n', "batch_size must be int", 2),
        ('[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\n', "has no 'target'", 1),
        ('\n\n[[databases]\nname = "a"\n', "not valid TOML", 3),
        ('[[databases]]\nname = "a"\nenv_key = "K"\nsource = "s"\ntarget = "t"\n[databases.columns]\nbad = "text"\n', 'must be written as "table.column"', 7),
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
    path.write_text('[[databases]]\nname = "a"\nenv_key = "K"\nsource = "sqlite:///a.db"\ntarget = "postgresql://u@h/a"\n[databases.columns]\n"messages.embedding" = { type = "vector(768)", blob_format = "float32le" }\n"users.flags" = "integer"\n')
    db = config_mod.load(path).databases[0]
    assert db.override("messages", "embedding") == config_mod.ColumnOverride(type="vector(768)", blob_format="float32le")
    assert db.override("users", "flags").type == "integer"
    assert db.override("users", "other") is None
