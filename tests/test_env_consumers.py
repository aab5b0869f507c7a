"""Phase 1's values as the app's own readers see them: python-dotenv, bash with `set -u`, compose.

docker compose itself cannot run here (no Docker), so compose files are read by PyYAML and
interpolated with compose's documented rules: `${VAR}`, `${VAR:-default}`, `$$`, values from the
shell environment first, then the project's `.env` (read with python-dotenv, as compose's own
reader follows the same grammar). URLs are then read by libpq's parser
(`psycopg.conninfo.conninfo_to_dict`) and SQLAlchemy's `make_url`.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import make_url

from cutover import commands
from cutover import config as config_mod
from cutover.errors import UnresolvedError

PASSWORD = "p@ss:w/rd%#1"  # every character a URL's userinfo must encode
SAFE_PASSWORD = "Tr0ub4dor-3"

ENV = """\
# RSL backend (local)
APP_NAME=rsl
LOG_LEVEL=info

# databases
RSL_DATABASE_URL=sqlite:///./data/rsl.db
ROUTING_GROUPS_DATABASE_URL=sqlite:///./data/routing.db
MODEL_REGISTRY_URL=sqlite:///./data/registry.db

DB_POOL_SIZE=10
DB_MAX_OVERFLOW=20

# the Postgres server
POSTGRES_USER=app
POSTGRES_PASSWORD={password}
"""

COMPOSE = """\
services:
  api:
    image: rsl-api
    environment:
      RSL_DATABASE_URL: sqlite:////app/data/rsl.db
      ROUTING_GROUPS_DATABASE_URL: "sqlite:////app/data/routing.db"
      PRICE: "$$5"
"""

START = """\
#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
{source}
export RSL_DATABASE_URL=sqlite:///./data/rsl.db
export MODEL_REGISTRY_URL="sqlite:///./data/registry.db"
printf '%s\\n' "$RSL_DATABASE_URL" "$MODEL_REGISTRY_URL"
"""

TOML = """\
[[databases]]
name = "{name}"
env_key = "{key}"
source = "sqlite:///data/{name}.db"
target = "postgresql://app:${{POSTGRES_PASSWORD}}@pg.internal:5432/{name}"
"""


def _project(tmp_path: Path, password: str, *, sourced: bool) -> Path:
    project = tmp_path / "app"
    (project / "data").mkdir(parents=True)
    (project / ".env").write_text(ENV.format(password=password))
    (project / "docker-compose.yml").write_text(COMPOSE)
    source = "set -a; . ./.env; set +a" if sourced else ""
    (project / "start.sh").write_text(START.format(source=source))
    (project / "start.sh").chmod(0o755)
    dbs = [("rsl", "RSL_DATABASE_URL"), ("routing", "ROUTING_GROUPS_DATABASE_URL")]
    dbs.append(("registry", "MODEL_REGISTRY_URL"))
    (project / "cutover.toml").write_text("\n".join(TOML.format(name=n, key=k) for n, k in dbs))
    return project


def _config(project: Path, password: str) -> config_mod.Config:
    return config_mod.load(project / "cutover.toml", environ={"POSTGRES_PASSWORD": password})


def _rewrite(project: Path, password: str, **options: object) -> None:
    commands.env_rewrite(
        _config(project, password),
        root=project,
        workdir=project / ".cutover",
        apply=True,
        **options,  # type: ignore[arg-type]
    )


def _same_target(url: str, database: str, password: str) -> None:
    """`url` is the target as SQLAlchemy and libpq read it."""
    parsed = make_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "app",
        password,
        "pg.internal",
        5432,
        database,
    )
    libpq = conninfo_to_dict(re.sub(r"^postgresql\+\w+://", "postgresql://", url))
    assert libpq["password"] == password and libpq["host"] == "pg.internal"
    assert libpq["dbname"] == database


def _compose_environment(project: Path, shell: dict[str, str]) -> dict[str, str]:
    """The api service's environment as compose interpolates it (shell env, then .env)."""
    dotenv = {k: v or "" for k, v in dotenv_values(project / ".env").items()}
    lookup = {**dotenv, **shell}

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        value = lookup.get(match["name"])
        if match["default"] is not None and not value:
            return match["default"]
        assert value is not None, f"compose would warn: {match['name']} is not set"
        return value

    pattern = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")
    services = yaml.safe_load((project / "docker-compose.yml").read_text())["services"]
    return {k: pattern.sub(one, str(v)) for k, v in services["api"]["environment"].items()}


def _bash(project: Path, environ: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        ["bash", str(project / "start.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(environ or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("password", [PASSWORD, SAFE_PASSWORD])
def test_dotenv_reads_the_target_when_the_password_is_defined_below(
    tmp_path: Path, password: str
) -> None:
    project = _project(tmp_path, password, sourced=True)
    _rewrite(project, password)
    values = dotenv_values(project / ".env")  # python-dotenv, as the app loads it
    _same_target(values["RSL_DATABASE_URL"] or "", "rsl", password)
    _same_target(values["ROUTING_GROUPS_DATABASE_URL"] or "", "routing", password)
    _same_target(values["MODEL_REGISTRY_URL"] or "", "registry", password)
    assert values["POSTGRES_PASSWORD"] == password  # the raw one, for the server and cutover.toml


def test_compose_and_bash_read_the_target_with_an_encoded_password(tmp_path: Path) -> None:
    project = _project(tmp_path, PASSWORD, sourced=True)
    _rewrite(project, PASSWORD)
    text = (project / ".env").read_text()
    assert "POSTGRES_PASSWORD_URLENCODED=" in text  # added next to the raw one, for URLs
    environment = _compose_environment(project, shell={})
    _same_target(environment["RSL_DATABASE_URL"], "rsl", PASSWORD)
    _same_target(environment["ROUTING_GROUPS_DATABASE_URL"], "routing", PASSWORD)
    assert environment["PRICE"] == "$5"
    rsl, registry = _bash(project)  # set -u: an unbound variable would stop it
    _same_target(rsl, "rsl", PASSWORD)
    _same_target(registry, "registry", PASSWORD)
    assert "${POSTGRES_PASSWORD_URLENCODED}" in (project / "start.sh").read_text()
    assert PASSWORD not in (project / "docker-compose.yml").read_text()


def test_a_script_that_would_stop_on_an_unbound_variable_is_refused(tmp_path: Path) -> None:
    project = _project(tmp_path, SAFE_PASSWORD, sourced=False)
    before = {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()}
    with pytest.raises(UnresolvedError) as raised:
        _rewrite(project, SAFE_PASSWORD)
    assert "start.sh:5" in str(raised.value) and "set -u" in str(raised.value)
    assert "--from-env POSTGRES_PASSWORD" in (raised.value.hint or "")
    assert {p.name: p.read_bytes() for p in project.iterdir() if p.is_file()} == before
    # the caller exports it: said explicitly, the rewrite goes ahead and bash reads the target
    _rewrite(project, SAFE_PASSWORD, from_env=("POSTGRES_PASSWORD",))
    rsl, _registry = _bash(project, {"POSTGRES_PASSWORD": SAFE_PASSWORD})
    _same_target(rsl, "rsl", SAFE_PASSWORD)


def test_the_cli_refusal_is_one_clean_message(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cutover.cli import cli

    project = _project(tmp_path, SAFE_PASSWORD, sourced=False)
    monkeypatch.setenv("POSTGRES_PASSWORD", SAFE_PASSWORD)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["env", "rewrite", "--apply", "--yes"])
    assert result.exit_code == 2, result.output
    assert "start.sh:5: bash reads ${POSTGRES_PASSWORD}" in result.output
    assert "Traceback" not in result.output and SAFE_PASSWORD not in result.output


LIBPQ_TARGETS = [
    (
        "postgresql://app:pw@/registry?host=/cloudsql/acme:asia-northeast3:main",
        {"host": "/cloudsql/acme:asia-northeast3:main"},
    ),
    (
        "postgresql://app:pw@a.db:5432,b.db:5433/registry?target_session_attrs=read-write",
        {"host": "a.db,b.db", "port": "5432,5433", "target_session_attrs": "read-write"},
    ),
    (
        "postgresql://app:pw@pg.internal:5432/registry?sslmode=verify-full"
        "&sslrootcert=/etc/ssl/rds.pem&options=-c%20statement_timeout%3D5000",
        {
            "sslmode": "verify-full",
            "sslrootcert": "/etc/ssl/rds.pem",
            "options": "-c statement_timeout=5000",
        },
    ),
]


@pytest.mark.parametrize(("target", "expected"), LIBPQ_TARGETS)
def test_every_libpq_parameter_of_the_target_is_kept(
    tmp_path: Path, target: str, expected: dict[str, str]
) -> None:
    (tmp_path / ".env").write_text("MODEL_REGISTRY_URL=sqlite:///./registry.db\n")
    (tmp_path / "cutover.toml").write_text(
        textwrap.dedent(f"""\
        [[databases]]
        name = "registry"
        env_key = "MODEL_REGISTRY_URL"
        source = "sqlite:///registry.db"
        target = "{target}"
        """)
    )
    config = config_mod.load(tmp_path / "cutover.toml", environ={})
    result = commands.env_rewrite(
        config, root=tmp_path, workdir=tmp_path / ".cutover", apply=True, literal_passwords=True
    )
    assert not [n for n in result.notes if "left out" in n]
    url = dotenv_values(tmp_path / ".env")["MODEL_REGISTRY_URL"] or ""
    libpq = conninfo_to_dict(url.replace("postgresql+psycopg://", "postgresql://"))
    assert {k: libpq.get(k) for k in expected} == expected
    assert libpq["dbname"] == "registry" and libpq["password"] == "pw"
    assert {k: make_url(url).query.get(k) for k in expected} == expected
