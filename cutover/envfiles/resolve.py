"""Does a rewritten value resolve, as its consumer reads it, to the target's URL?

Each consumer has its own rules, and these are theirs:

- python-dotenv reads a `.env` top down: `${NAME}` sees names assigned above it, or the process
  environment; a name assigned below is not seen.
- docker compose interpolates `${NAME}`, `${NAME:-default}` (and `$$`) in compose files from the
  shell environment and the project's `.env` (next to the compose file), in any order.
- bash sees what the script assigned, exported or sourced before the line (`set -u` stops on the
  rest).

A password stands in a URL as is only when libpq's own parser and SQLAlchemy's `make_url` both read
it back unchanged (`#`, `:` and `!` pass; `@`, `/`, `%` and spaces do not); otherwise URLs read
`${<password_env>_URLENCODED}`, a variable holding the percent-encoded form, and `<password_env>`
keeps the raw password (what the Postgres server, cutover.toml and split keys read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from cutover.envfiles import dotenv

URL_SAFE = "-._~!$&'()*+,;="  # RFC 3986 unreserved and sub-delims
ENCODED_SUFFIX = "_URLENCODED"
_SHELL_ASSIGN = r"^[ \t]*(?:(?:export|readonly|local|declare(?:[ \t]+-\w+)*)[ \t]+)?{name}="
_SHELL_DEFAULT = r"\$\{{{name}:?=[^}}]*\}}"  # : "${NAME:=default}"
_SHELL_SOURCE = re.compile(r"(?:^|[;&|])[ \t]*(?:\.|source)[ \t]+[\"']?([^\s\"';&|]+)", re.M)


@dataclass(frozen=True)
class Unresolved:
    """A rewritten value whose `${name}` its consumer would not find."""

    path: str
    line: int
    name: str
    consumer: str  # python-dotenv | docker compose | bash
    why: str

    def message(self) -> str:
        """One line for the user."""
        return f"{self.path}:{self.line}: {self.why}"


def url_safe(password: str) -> bool:
    """True when `password` may stand in a URL's userinfo without percent-encoding."""
    if quote(password, safe=URL_SAFE + "#:?[]") != password:
        return False
    # SQLAlchemy costs 0.15 s to import: every command would pay it, only a rewrite asks this
    from sqlalchemy.engine import make_url

    url = f"postgresql://u:{password}@h:5432/db"
    try:
        seen = make_url(url)
        libpq = conninfo_to_dict(url)
    except (ValueError, psycopg.Error):
        return False
    return seen.password == password and libpq.get("password") == password and seen.host == "h"


def encoded(password: str) -> str:
    """`password` percent-encoded for a URL's userinfo."""
    return quote(password, safe="")


def url_variable(password_env: str, password: str | None) -> str:
    """The variable a URL reads its password from: the raw one when it is URL-safe."""
    if password is None or url_safe(password):
        return password_env
    return password_env + ENCODED_SUFFIX


def dotenv_definitions(text: str, name: str) -> list[tuple[int, str]]:
    """(line, value) of every assignment of `name` in a .env text, in order."""
    return [(s.line, s.value) for s in dotenv.slots(text) if s.key == name]


def dotenv_value_above(text: str, name: str, line: int) -> str | None:
    """The value python-dotenv gives `${name}` on `line`: the last assignment above it."""
    above = [value for at, value in dotenv_definitions(text, name) if at < line]
    return above[-1] if above else None


def shell_check(
    text: str, name: str, line: int, script: Path, read: dict[Path, str]
) -> tuple[bool, str]:
    """(resolves, why not) for `${name}` on `line` of a bash script.

    Assignments and exports before the line count, and so do files the
    script sources before it (read from `read` when cutover has them,
    else from disk); a sourced file that cannot be read is trusted.
    """
    before = "".join(text.splitlines(keepends=True)[: line - 1])
    if re.search(_SHELL_ASSIGN.format(name=re.escape(name)), before, re.M) or re.search(
        _SHELL_DEFAULT.format(name=re.escape(name)), before
    ):
        return True, ""
    sourced = [m[1] for m in _SHELL_SOURCE.finditer(before)]
    for item in sourced:
        if "$" in item:
            return True, ""  # a computed path: cutover cannot tell what it defines
        path = (script.parent / item).resolve()
        content = read.get(path)
        if content is None:
            try:
                content = path.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError:
                return True, ""
        if name in dotenv.assignments(content):
            return True, ""
    where = f" nor in {', '.join(sourced)}" if sourced else ""
    return False, (
        f"bash reads ${{{name}}} here, which {script.name} does not set before line {line}{where} "
        "(with set -u it stops; without, the URL has an empty password)"
    )


def compose_check(name: str, project_env: str | None, env_name: str) -> tuple[bool, str]:
    """(resolves, why not) for `${name}` in a compose
    file whose project `.env` holds `project_env`.
    """
    if project_env is not None and name in dotenv.assignments(project_env):
        return True, ""
    return False, (
        f"docker compose reads ${{{name}}} here from the shell or {env_name}, "
        f"and {env_name} does not define it"
    )
