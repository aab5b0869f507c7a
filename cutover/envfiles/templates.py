"""`.env` templates per environment (dev, stg, prod), rendered for a project's databases.

A template is a plain `.env` file. The lines between ``# @cutover:databases`` and ``# @cutover:end``
are replaced by one URL per database of cutover.toml (reading ``${POSTGRES_HOST}``… from the server
keys above it, the password always as a reference). With ``# @cutover:fill-server`` the server keys
(POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER) are filled from the first database's target.
A project may keep its own templates in ``env_templates/`` next to cutover.toml.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from cutover import envkeys as keys
from cutover.envfiles import convert, dotenv
from cutover.envfiles.convert import Target
from cutover.envfiles.spans import apply_edits
from cutover.errors import UnknownChoiceError, UsageError

TEMPLATE_DIR = "env_templates"
BUNDLED = Path(
    str(resources.files("cutover.env_templates"))
)  # top-level env_templates/, installed in the package
BEGIN = "# @cutover:databases"
END = "# @cutover:end"
FILL_SERVER = "# @cutover:fill-server"
SERVER_REF = {"host": "${POSTGRES_HOST}", "port": "${POSTGRES_PORT}", "user": "${POSTGRES_USER}"}


def available(project_dir: Path | None) -> dict[str, Path]:
    """Environment name → template file; the project's own templates win over the bundled ones."""
    found: dict[str, Path] = {}
    for folder in (BUNDLED, project_dir / TEMPLATE_DIR if project_dir else None):
        if folder is not None and folder.is_dir():
            found.update({p.stem: p for p in sorted(folder.glob("*.env"))})
    return found


def template_path(env: str, project_dir: Path | None) -> Path:
    """The template for `env`; an unknown name lists the known ones."""
    choices = available(project_dir)
    if env not in choices:
        raise UnknownChoiceError(
            "environment",
            env,
            list(choices),
            hint=f"templates live in {TEMPLATE_DIR}/ as <env>.env",
        )
    return choices[env]


def render(text: str, targets: list[Target]) -> str:
    """The template `text` with its database block (and, when asked, server keys) filled in."""
    eol = "\r\n" if "\r\n" in text else "\n"
    block = re.search(
        rf"^{re.escape(BEGIN)}[^\n]*\n(?:.*?\n)??{re.escape(END)}[^\n]*$", text, re.M | re.S
    )
    if block is None:
        raise UsageError(
            f"template has no `{BEGIN}` … `{END}` block",
            hint="add the two marker lines around the database URLs",
        )
    lines = [BEGIN]
    for target in targets:
        lines += _database_lines(target)
    lines.append(END + ("\r" if block.group(0).endswith("\r") else ""))
    text = text[: block.start()] + eol.join(lines) + text[block.end() :]
    if FILL_SERVER in text and targets:
        text = _fill_server(text, targets[0])
    return text


def _database_lines(target: Target) -> list[str]:
    url = target.url
    driver = convert.DEFAULT_DRIVER if target.driver is None else target.driver
    scheme = "postgresql" + (f"+{driver}" if driver else "")
    ssl = "ssl" if driver == "asyncpg" else "sslmode"
    password = ":${" + target.password_env + "}" if url.password is not None else ""
    where = f"{SERVER_REF['user']}{password}@{SERVER_REF['host']}:{SERVER_REF['port']}"
    lines = [
        f"# {target.name}",
        f"{target.env_key}={scheme}://{where}/{url.database or target.name}"
        f"?{ssl}=${{POSTGRES_SSLMODE}}",
    ]
    for key, new_key in target.split_keys.items():
        role = keys.role_of(new_key or key)
        value = {
            "host": SERVER_REF["host"],
            "port": SERVER_REF["port"],
            "user": SERVER_REF["user"],
            "database": url.database or target.name,
        }.get(role or "")
        if role == "password":
            value = "${" + target.password_env + "}"
        if value is not None and (new_key or key) not in (
            "POSTGRES_HOST",
            "POSTGRES_PORT",
            "POSTGRES_USER",
            target.password_env,
        ):
            lines.append(f"{new_key or key}={value}")
    return lines


def _fill_server(text: str, target: Target) -> str:
    values = {
        "POSTGRES_HOST": target.url.host or "localhost",
        "POSTGRES_PORT": str(target.url.port or convert.POSTGRES_PORT),
        "POSTGRES_USER": target.url.username or "postgres",
    }
    sslmode = target.url.option("sslmode")
    if sslmode:
        values["POSTGRES_SSLMODE"] = sslmode
    edits = []
    for slot in dotenv.slots(text):
        if slot.key in values:
            edits += dotenv.edits_for(slot, values[slot.key], live_refs=False) or []
    return apply_edits(text, edits)
