"""Phase 3's `--app-tests "CMD"`: the application's own
tests, run with its env keys pointing at PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cutover import config as config_mod
from cutover import redaction, urls

APP_TESTS_TIMEOUT_S = (
    3600  # an app's whole test suite; a hung one must not hold the cutover forever
)
APP_TESTS_TAIL_LINES = 40  # lines of the app's test output kept in the report (the log has all)
LOG_FILE = Path("results") / "app-tests.log"


@dataclass
class AppTests:
    """The application's own test command, run with its env keys pointing at the target."""

    command: str
    returncode: int | None
    seconds: float
    tail: list[str]
    log: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def app_environment(config: config_mod.Config) -> tuple[dict[str, str], list[str]]:
    """os.environ with every database's env key (and split keys, password variable) set to its
    target; and the secrets in it.
    """
    from cutover.envkeys import role_of

    env = dict(os.environ)
    secrets: list[str] = []
    for db in config.databases:
        target = urls.parse(db.target)
        driver = "psycopg" if db.driver is None else db.driver
        env[db.env_key] = urls.render(
            target, scheme=f"postgresql+{driver}" if driver else "postgresql"
        )
        if target.password:
            env[db.password_env] = target.password
            secrets.append(target.password)
        parts = {
            "host": target.host,
            "port": str(target.port or 5432),
            "user": target.username,
            "password": target.password,
            "database": target.database,
        }
        for key in db.split_keys.values():
            value = parts.get(role_of(key) or "")
            if value:
                env[key] = value
    return env, secrets


def run_app_tests(config: config_mod.Config, workdir: Path, command: str) -> AppTests:
    """Run the app's test command in the project folder
    with its env keys pointing at the targets.
    """
    env, secrets = app_environment(config)
    started = time.monotonic()
    code: int | None
    try:
        # the user's own command line, run as their shell would (like `make`)
        proc = subprocess.run(
            command,
            shell=True,
            cwd=config.base_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=APP_TESTS_TIMEOUT_S,
        )
        output, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = exc.stdout or b"", None
    text = _scrub(output.decode("utf-8", "replace"), secrets)
    log = workdir / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text, encoding="utf-8")
    return AppTests(
        _scrub(command, secrets),
        code,
        round(time.monotonic() - started, 3),
        text.splitlines()[-APP_TESTS_TAIL_LINES:],
        str(log),
    )


def _scrub(text: str, secrets: list[str]) -> str:
    """Passwords out of text someone else's program printed: in URLs, and as themselves."""
    from urllib.parse import quote

    text = urls.redact(text)
    for secret in secrets:
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, redaction.REDACTED)
    return text
