"""Phase 1 below the CLI: conversion rules, password policy, scanning, backups, templates, proposals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cutover import commands
from cutover import config as config_mod
from cutover import envkeys as keys
from cutover.config import DatabaseConfig
from cutover.envfiles import convert, proposals, scan, templates
from cutover.envfiles.convert import Placement
from cutover.errors import ConfigError, UsageError

LOCAL = Placement(committed=False)
COMMITTED = Placement(committed=True)


def target(
    url: str = "postgresql://app:pw@pg.internal:5432/rsl", **extra: object
) -> convert.Target:
    db = DatabaseConfig(
        name="rsl",
        env_key="RSL_DATABASE_URL",
        source="mssql+pyodbc://sa:x@sql01/rsl",
        target=url,
        **extra,
    )
    return convert.target_from_config(db)


@pytest.mark.parametrize(
    ("options", "sslmode"),
    [
        ("Encrypt=yes&TrustServerCertificate=yes", "sslmode=require"),
        ("Encrypt=yes", "sslmode=verify-full"),
        ("Encrypt=strict&TrustServerCertificate=yes", "sslmode=verify-full"),
        ("TrustServerCertificate=yes", "sslmode=require"),
        ("Encrypt=no", None),
        ("Encrypt=optional&TrustServerCertificate=yes", None),
        ("", None),
    ],
)
def test_sslmode_from_encrypt_and_trust(options: str, sslmode: str | None) -> None:
    old = f"mssql+pyodbc://sa:x@sql01/rsl?driver=ODBC+Driver+18+for+SQL+Server&{options}"
    value, _ = convert.url_value(old, "RSL_DATABASE_URL", target(), LOCAL)
    assert value == "postgresql+psycopg://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl" + (
        f"?{sslmode}" if sslmode else ""
    )


def test_local_target_gets_no_derived_sslmode_but_explicit_wins() -> None:
    old = "mssql+pyodbc://sa:x@sql01/rsl?Encrypt=yes&TrustServerCertificate=yes"
    assert (
        convert.url_value(old, "K", target("postgresql://app@localhost:5432/rsl"), LOCAL)[0]
        == "postgresql+psycopg://app@localhost:5432/rsl"
    )
    explicit = target("postgresql://app@localhost:5432/rsl?sslmode=disable")
    assert (
        convert.url_value(old, "K", explicit, LOCAL)[0]
        == "postgresql+psycopg://app@localhost:5432/rsl?sslmode=disable"
    )


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        (
            None,
            "postgresql+psycopg://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?sslmode=require&connect_timeout=30&application_name=rsl",
        ),
        (
            "psycopg2",
            "postgresql+psycopg2://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?sslmode=require&connect_timeout=30&application_name=rsl",
        ),
        (
            "asyncpg",
            "postgresql+asyncpg://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?ssl=require&timeout=30",
        ),
        (
            "pg8000",
            "postgresql+pg8000://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?timeout=30&application_name=rsl",
        ),
        (
            "",
            "postgresql://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?sslmode=require&connect_timeout=30&application_name=rsl",
        ),
    ],
)
def test_driver_decides_scheme_and_parameter_names(driver: str | None, expected: str) -> None:
    old = "mssql+aioodbc://sa:x@sql01/rsl?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes&timeout=30&app=rsl&MARS_Connection=yes"
    value, notes = convert.url_value(old, "RSL_DATABASE_URL", target(driver=driver), LOCAL)
    assert value == expected
    assert bool(notes) == (driver in ("asyncpg", "pg8000"))


def test_async_only_driver_is_kept_off_sync_urls_found_elsewhere() -> None:
    asyncpg = target(driver="asyncpg")
    assert convert.url_value("sqlite:///rsl.db", None, asyncpg, LOCAL, by_key=False)[0].startswith(
        "postgresql+psycopg://"
    )
    assert convert.url_value("sqlite+aiosqlite:///rsl.db", None, asyncpg, LOCAL, by_key=False)[
        0
    ].startswith("postgresql+asyncpg://")
    assert convert.url_value("sqlite:///rsl.db", "RSL_DATABASE_URL", asyncpg, LOCAL)[0].startswith(
        "postgresql+asyncpg://"
    )


@pytest.mark.parametrize(
    ("old", "key", "expected"),
    [
        (
            "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01;DATABASE=rsl;UID=u;PWD=x;Encrypt=yes",
            "K",
            "postgresql://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl?sslmode=verify-full",
        ),
        (
            "Server=sql01;Database=rsl;User Id=u;Password=x;Encrypt=True;TrustServerCertificate=True",
            "K",
            "Host=pg.internal;Port=5432;Database=rsl;Username=app;Password=${POSTGRES_PASSWORD};SSL Mode=Require",
        ),
        (
            "jdbc:sqlserver://sql01:1433;databaseName=rsl;user=u;password=x",
            "K",
            "jdbc:postgresql://pg.internal:5432/rsl?user=app&password=${POSTGRES_PASSWORD}",
        ),
        (
            "mssql+pyodbc://sa:x@sql01/rsl",
            "POSTGRES_DSN",
            "postgresql://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl",
        ),
        (
            "host=old dbname=x user=y password=z sslmode=require",
            "K",
            "host=pg.internal port=5432 dbname=rsl user=app password=${POSTGRES_PASSWORD} sslmode=require",
        ),
        (
            "postgres://old:z@old-host/x",
            "K",
            "postgres://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl",
        ),
        ("", "K", "postgresql+psycopg://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl"),
    ],
)
def test_each_form_keeps_its_style(old: str, key: str, expected: str) -> None:
    value, _ = convert.url_value(old, key, target(), LOCAL)
    assert value == expected
    assert (
        convert.url_value(value, key, target(), LOCAL)[0] == value
    )  # a second pass changes nothing


def test_password_policy() -> None:
    literal = Placement(committed=False, literal_passwords=True)
    assert (
        convert.url_value("sqlite:///x.db", "K", target("postgresql://app:p%40ss@pg/rsl"), literal)[
            0
        ]
        == "postgresql+psycopg://app:p%40ss@pg/rsl"
    )
    assert (
        "${POSTGRES_PASSWORD}"
        in convert.url_value(
            "sqlite:///x.db", "K", target(), Placement(committed=True, literal_passwords=True)
        )[0]
    )
    assert (
        convert.url_value("sqlite:///x.db", "K", target("postgresql://app@pg/rsl"), COMMITTED)[0]
        == "postgresql+psycopg://app@pg/rsl"
    )
    assert (
        "${PG_SECRET}"
        in convert.url_value("sqlite:///x.db", "K", target(password_env="PG_SECRET"), COMMITTED)[0]
    )


def test_compose_service_replaces_a_local_host() -> None:
    place = Placement(committed=True, host="db")
    assert (
        convert.url_value(
            "sqlite:///x.db", "K", target("postgresql://app@localhost:5433/rsl"), place
        )[0]
        == "postgresql+psycopg://app@db:5432/rsl"
    )
    assert convert.url_value("sqlite:///x.db", "K", target(), place)[0].startswith(
        "postgresql+psycopg://app:${POSTGRES_PASSWORD}@pg.internal"
    )


@pytest.mark.parametrize(
    ("role", "key", "place", "renamed", "expected"),
    [
        ("host", "POSTGRES_HOST", LOCAL, False, "pg.internal"),
        ("port", "POSTGRES_PORT", LOCAL, False, "5432"),
        ("user", "POSTGRES_USER", LOCAL, False, "app"),
        ("database", "POSTGRES_DB", LOCAL, False, "rsl"),
        ("password", "POSTGRES_PW", COMMITTED, False, "${POSTGRES_PASSWORD}"),
        ("password", "POSTGRES_PASSWORD", LOCAL, False, None),
        ("password", "POSTGRES_PASSWORD", LOCAL, True, ""),
        (
            "password",
            "POSTGRES_PASSWORD",
            Placement(committed=False, literal_passwords=True),
            False,
            "pw",
        ),
        ("option", "MSSQL_DRIVER", LOCAL, False, None),
    ],
)
def test_split_values(
    role: str, key: str, place: Placement, renamed: bool, expected: str | None
) -> None:
    assert convert.split_value(role, key, target(), place, renamed=renamed) == expected


def test_config_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="unknown driver 'pyodbc'; expected one of"):
        target(driver="pyodbc")
    with pytest.raises(ConfigError, match="must be PostgreSQL"):
        target("sqlite:///x.db")


def test_split_keys_as_a_list_are_renamed_by_name() -> None:
    assert target(split_keys=["MSSQL_SERVER", "DB_HOST"]).split_keys == {
        "MSSQL_SERVER": "POSTGRES_HOST",
        "DB_HOST": "DB_HOST",
    }


def test_same_database() -> None:
    from cutover import urls

    assert convert.same_database(
        urls.parse("mssql+pyodbc://a@SQL01:1433/RSL"),
        urls.parse("DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql01;DATABASE=rsl"),
    )
    assert convert.same_database(
        urls.parse("sqlite:///./data/x.db"), urls.parse("sqlite:///data/x.db")
    )
    assert not convert.same_database(
        urls.parse("mssql+pyodbc://a@sql01/rsl"), urls.parse("mssql+pyodbc://a@sql02/rsl")
    )


@pytest.mark.parametrize(
    ("key", "role", "kind"),
    [
        ("MSSQL_SA_PASSWORD", "password", "mssql"),
        ("POSTGRES_PW", "password", "postgres"),
        ("POSTGRES_DB", "database", "postgres"),
        ("DB_HOST", "host", ""),
        ("PGPASSWORD", "password", "postgres"),
        ("MSSQL_TRUST_SERVER_CERTIFICATE", "option", "mssql"),
        ("RSL_DATABASE_URL", "url", ""),
        ("POSTGRES_DSN", "dsn", "postgres"),
    ],
)
def test_split_key_names(key: str, role: str, kind: str) -> None:
    found = keys.split_key(key)
    assert found is not None and (found.role, found.kind) == (role, kind)


@pytest.mark.parametrize(
    "key",
    ["REDIS_DB", "DB_POOL_SIZE", "MODEL_REGISTRY_URL", "POSTGRES_ENABLE_VECTOR", "DB", "APP_NAME"],
)
def test_not_split_keys(key: str) -> None:
    assert keys.split_key(key) is None


def test_database_names_from_keys() -> None:
    assert [
        keys.database_name(k)
        for k in (
            "RSL_DATABASE_URL",
            "ROUTING_GROUPS_DATABASE_URL",
            "MODEL_REGISTRY_URL",
            "DATABASE_URL",
            "POSTGRES_DSN",
        )
    ] == [
        "rsl",
        "routing_groups",
        "model_registry",
        "main",
        "postgres",
    ]


def _config(
    tmp_path: Path, target_url: str = "postgresql://app:pw@pg.internal:5432/rsl"
) -> config_mod.Config:
    (tmp_path / "cutover.toml").write_text(
        f'[[databases]]\nname = "rsl"\nenv_key = "RSL_DATABASE_URL"\nsource = "sqlite:///rsl.db"\ntarget = "{target_url}"\n',
        encoding="utf-8",
    )
    return config_mod.load(tmp_path / "cutover.toml", environ={})


def test_non_utf8_bom_and_symlinked_files_round_trip(tmp_path: Path) -> None:
    config = _config(tmp_path)
    korean = "# 로컬 설정\nRSL_DATABASE_URL=sqlite:///rsl.db\n"
    (tmp_path / ".env").write_bytes(korean.encode("cp949"))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "app.env").write_bytes(
        b"\xef\xbb\xbfRSL_DATABASE_URL=sqlite:///rsl.db\r\n"
    )
    (tmp_path / ".env.local").symlink_to(tmp_path / "shared" / "app.env")
    result = commands.env_rewrite(config, root=tmp_path, workdir=tmp_path / ".cutover", apply=True)
    assert sorted(f.path for f in result.files) == [".env", "shared/app.env"]
    assert (tmp_path / ".env").read_bytes() == korean.replace(
        "sqlite:///rsl.db", "postgresql+psycopg://app:${POSTGRES_PASSWORD}@pg.internal:5432/rsl"
    ).encode("cp949")
    assert (
        (tmp_path / "shared" / "app.env")
        .read_bytes()
        .startswith(b"\xef\xbb\xbfRSL_DATABASE_URL=postgresql+psycopg://")
    )
    assert (tmp_path / ".env.local").is_symlink()
    commands.env_restore(tmp_path / ".cutover")
    assert (tmp_path / ".env").read_bytes() == korean.encode("cp949")


def test_scan_skips_virtualenvs_vcs_and_the_workdir(tmp_path: Path) -> None:
    for folder in (".git", "venv", "node_modules", ".cutover", "myenv"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / ".env").write_text("DATABASE_URL=sqlite:///x.db\n", encoding="utf-8")
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    (tmp_path / ".env").write_text("DATABASE_URL=sqlite:///x.db\n", encoding="utf-8")
    result = commands.env_scan(tmp_path, workdir=tmp_path / ".cutover")
    assert [f.path for f in result.files] == [".env"]


def test_scan_one_file_and_shebang_scripts(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "serve"
    script.parent.mkdir()
    script.write_text(
        "#!/bin/bash\nexport DATABASE_URL=sqlite:///app.db\nexec app\n", encoding="utf-8"
    )
    assert [(r.path, r.key) for r in commands.env_scan(tmp_path).references] == [
        ("bin/serve", "DATABASE_URL")
    ]
    assert [r.line for r in commands.env_scan(script).references] == [2]


def test_committed_or_local() -> None:
    assert scan.is_committed(Path(".env.example"), "dotenv") and scan.is_committed(
        Path("env.sample"), "dotenv"
    )
    assert not scan.is_committed(Path(".env"), "dotenv") and not scan.is_committed(
        Path(".env.prod"), "dotenv"
    )
    assert not scan.is_committed(Path(".env.example.local"), "dotenv")
    assert scan.is_committed(Path("docker-compose.yml"), "compose") and scan.is_committed(
        Path("run.sh"), "shell"
    )


def test_apply_keeps_mode_and_backup_is_private(tmp_path: Path) -> None:
    config = _config(tmp_path)
    env = tmp_path / ".env"
    env.write_text("RSL_DATABASE_URL=sqlite:///rsl.db\n", encoding="utf-8")
    os.chmod(env, 0o640)
    result = commands.env_rewrite(config, root=tmp_path, workdir=tmp_path / ".cutover", apply=True)
    assert env.stat().st_mode & 0o777 == 0o640
    backup = tmp_path / ".cutover" / "backups" / "env" / str(result.backup)
    assert backup.stat().st_mode & 0o777 == 0o700
    assert (backup / "files" / ".env").stat().st_mode & 0o777 == 0o600


def test_restore_goes_back_one_apply_at_a_time(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("RSL_DATABASE_URL=sqlite:///rsl.db\n", encoding="utf-8")
    first = env.read_bytes()
    commands.env_rewrite(_config(tmp_path), root=tmp_path, workdir=tmp_path / "w", apply=True)
    second = env.read_bytes()
    commands.env_rewrite(
        _config(tmp_path, "postgresql://app@pg2:5432/rsl"),
        root=tmp_path,
        workdir=tmp_path / "w",
        apply=True,
    )
    assert commands.env_restore(tmp_path / "w").remaining == 1 and env.read_bytes() == second
    assert commands.env_restore(tmp_path / "w").remaining == 0 and env.read_bytes() == first


def test_template_renders_databases_and_fills_dev_server(tmp_path: Path) -> None:
    config = _config(tmp_path, "postgresql://chat:pw@localhost:5433/rsl?sslmode=disable")
    config.databases[0].driver = "asyncpg"  # type: ignore[attr-defined]
    result = commands.env_template(config, "dev")
    assert (
        "RSL_DATABASE_URL=postgresql+asyncpg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST}:${POSTGRES_PORT}/rsl?ssl=${POSTGRES_SSLMODE}"
        in result.text
    )
    assert (
        "POSTGRES_PORT=5433\n" in result.text
        and "POSTGRES_USER=chat\n" in result.text
        and "POSTGRES_SSLMODE=disable\n" in result.text
    )
    assert (
        "DATABASE_URL=postgresql+psycopg://${POSTGRES_USER}" not in result.text
    )  # the sample line is replaced
    assert "pw" not in result.text.replace("POSTGRES_PW", "")


def test_project_templates_win_and_need_markers(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "env_templates").mkdir()
    (tmp_path / "env_templates" / "qa.env").write_text("A=1\n", encoding="utf-8")
    assert "qa" in templates.available(tmp_path) and "prod" in templates.available(tmp_path)
    with pytest.raises(UsageError, match="@cutover:databases"):
        commands.env_template(config, "qa")


def test_bundled_templates_hold_no_secrets() -> None:
    for name, path in templates.available(None).items():
        values = {
            k: v
            for line in path.read_text(encoding="utf-8").splitlines()
            if "=" in line and not line.startswith("#")
            for k, v in [line.split("=", 1)]
        }
        assert "POSTGRES_PASSWORD" not in values, name
        assert {"DB_POOL_SIZE", "DB_MAX_OVERFLOW", "DB_POOL_RECYCLE"} <= set(values), name


def test_proposals_merge_url_and_split_keys(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DATABASE_URL=mssql+pyodbc://app:pw@sql01:1433/shop?driver=ODBC+Driver+18+for+SQL+Server\n"
        "MSSQL_HOST=sql01\nMSSQL_PORT=1433\nMSSQL_USER=app\nMSSQL_PASSWORD=pw\nMSSQL_DATABASE=shop\n",
        encoding="utf-8",
    )
    (proposal,) = commands.env_scan(tmp_path).proposals
    assert (proposal.name, proposal.env_key) == ("main", "DATABASE_URL")
    assert (
        proposal.source
        == "mssql+pyodbc://app:${MAIN_SOURCE_PASSWORD:-}@sql01:1433/shop?driver=ODBC+Driver+18+for+SQL+Server"
    )
    assert proposal.split_keys["MSSQL_HOST"] == "POSTGRES_HOST"
    assert 'split_keys = {MSSQL_HOST = "POSTGRES_HOST"' in proposal.toml()
    assert proposals.safe_source("Server=h;Password=${DB_PW}", "x") == "Server=h;Password=${DB_PW}"


def test_displayed_scripts_hide_password_flags_but_not_references() -> None:
    from cutover.envfiles.rewrite import display_text

    script = "sqlcmd -S h -U sa -P 'Pa ss!' -Q x\nsqlcmd -P \"$MSSQL_SA_PASSWORD\" -C\nredis-server --requirepass s3cret\nmysql --password=abc\n"
    shown = display_text("shell", script)
    assert "Pa ss" not in shown and "s3cret" not in shown and "abc" not in shown
    assert '-P "$MSSQL_SA_PASSWORD"' in shown
