"""Turn scan results into proposed cutover.toml entries (what `cutover init` offers to write)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import tomlkit

from cutover import envkeys as keys
from cutover import redaction, urls
from cutover.envfiles import convert
from cutover.envfiles.scan import Found
from cutover.errors import UsageError

SUGGESTED_TARGET = "postgresql://postgres:${{POSTGRES_PASSWORD:-}}@localhost:5432/{name}"
ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")  # `dburl=` in an alembic command line is not an env key


@dataclass(frozen=True)
class Proposal:
    """A database the scan found: name, env key, source
    (passwords as ${REFS}) and a target to edit.
    """

    name: str
    env_key: str
    kind: str
    source: str
    target: str
    split_keys: dict[str, str] = field(default_factory=dict)
    found_in: tuple[str, ...] = ()

    def toml(self) -> str:
        """This proposal as a [[databases]] entry."""
        entry = tomlkit.table()
        entry.add("name", self.name)
        entry.add("env_key", self.env_key)
        entry.add("source", self.source)
        entry.add("target", self.target)
        if self.split_keys:
            inline = tomlkit.inline_table()
            inline.update(self.split_keys)
            entry.add("split_keys", inline)
        aot = tomlkit.aot()
        aot.append(entry)
        doc = tomlkit.document()
        doc.add("databases", aot)
        return tomlkit.dumps(doc)


def propose(found: list[Found], root: Path | None = None) -> tuple[list[Proposal], list[str]]:
    """One proposal per distinct SQLite/MSSQL source (every key naming it is rewritten), targets
    built from the app's own POSTGRES_* keys, and notes (merged keys, missing source files)."""
    proposals, notes = _merge_same_source(_propose(found))
    server = _postgres_server(found)
    if server:
        proposals = [
            replace(p, target=_target(server, p.name, len(proposals) == 1)) for p in proposals
        ]
    for p in proposals:
        missing = _missing_sqlite(p.source, root)
        if missing:
            notes.append(
                f"database {p.name}: the SQLite file {missing} does not exist (from {p.env_key} "
                f"in {', '.join(p.found_in)}); check its source in cutover.toml"
            )
    return proposals, notes


def _propose(found: list[Found]) -> list[Proposal]:
    proposals: list[Proposal] = []
    by_key: dict[str, list[Found]] = {}
    for item in found:
        if (
            item.ref.key
            and ENV_KEY.match(item.ref.key)
            and item.ref.role in ("url", "dsn")
            and item.ref.kind in urls.SOURCE_KINDS
        ):
            by_key.setdefault(item.ref.key, []).append(item)
    for key, items in by_key.items():
        items.sort(
            key=lambda i: i.committed
        )  # a local .env holds the real value, examples hold placeholders
        name = keys.database_name(key)
        proposals.append(
            Proposal(
                name=name,
                env_key=key,
                kind=items[0].ref.kind,
                source=safe_source(items[0].raw, name),
                target=SUGGESTED_TARGET.format(name=name),
                found_in=tuple(sorted({i.ref.path for i in items})),
            )
        )
    for split in _split_proposals(found):
        same = [p for p in proposals if _same_source(p.source, split.source)]
        if same:  # DATABASE_URL and MSSQL_HOST… name the same database: one entry with both
            proposals[proposals.index(same[0])] = replace(
                same[0],
                split_keys=split.split_keys,
                found_in=tuple(sorted({*same[0].found_in, *split.found_in})),
            )
        else:
            proposals.append(split)
    return _unique_names(proposals)


def _merge_same_source(proposals: list[Proposal]) -> tuple[list[Proposal], list[str]]:
    """Keys naming one database become one proposal: loading it twice would make two targets."""
    merged: list[Proposal] = []
    notes: list[str] = []
    for p in proposals:
        same = next((m for m in merged if _same_source(m.source, p.source)), None)
        if same is None:
            merged.append(p)
            continue
        merged[merged.index(same)] = replace(
            same, found_in=tuple(sorted({*same.found_in, *p.found_in}))
        )
        notes.append(
            f"{p.env_key} names the same database as {same.env_key}: one database "
            f"({same.name}), and phase 1 rewrites both keys"
        )
    return merged, notes


def _postgres_server(found: list[Found]) -> dict[str, str]:
    """role → value of the app's own Postgres split keys (POSTGRES_USER/HOST/PORT/DB…)."""
    server: dict[str, str] = {}
    for item in sorted(found, key=lambda i: i.committed):  # a local .env first
        split = keys.split_key(item.ref.key or "")
        if split is None or item.ref.form != "split" or split.kind != "postgres":
            continue
        if item.raw and not item.raw.startswith("$"):
            server.setdefault(split.role, item.raw)
        if split.role == "password" and item.ref.key:
            server.setdefault("password_env", item.ref.key)
    return server


def _target(server: dict[str, str], name: str, only: bool) -> str:
    user = server.get("user", "postgres")
    host = server.get("host", "localhost")
    port = server.get("port", "5432")
    database = server.get("database", name) if only else name
    password = "${" + server.get("password_env", "POSTGRES_PASSWORD") + ":-}"
    return f"postgresql://{user}:{password}@{host}:{port}/{database}"


def _missing_sqlite(source: str, root: Path | None) -> str | None:
    try:
        parsed = urls.parse(source)
    except (UsageError, ValueError):
        return None
    if parsed.kind != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = Path(parsed.database)
    if not path.is_absolute() and root is not None:
        path = root / path
    return None if path.exists() else parsed.database


def _same_source(a: str, b: str) -> bool:
    try:
        return convert.same_database(urls.parse(a), urls.parse(b))
    except (UsageError, ValueError):
        return False


def safe_source(raw: str, name: str) -> str:
    """`raw` with its password replaced by a
    ${NAME_SOURCE_PASSWORD:-} reference (kept if already one).

    The empty default lets phase 1 load cutover.toml before the source password is exported.
    """
    return redaction.replace_passwords(raw, "${" + name.upper() + "_SOURCE_PASSWORD:-}")


def _split_proposals(found: list[Found]) -> list[Proposal]:
    groups: dict[str, dict[str, Found]] = {}
    for item in found:
        split = keys.split_key(item.ref.key or "")
        if split is None or item.ref.form != "split" or item.ref.kind != "mssql":
            continue
        groups.setdefault(split.prefix, {}).setdefault(split.role, item)
    proposals = []
    for prefix, roles in groups.items():
        if "host" not in roles or "database" not in roles:
            continue
        name = keys.database_name(roles["database"].raw) or prefix.strip("_").lower()
        user = roles["user"].raw if "user" in roles else None
        port = f":{roles['port'].raw}" if "port" in roles else ""
        auth = f"{user}:${{{name.upper()}_SOURCE_PASSWORD:-}}@" if user else ""
        server = f"{roles['host'].raw}{port}/{roles['database'].raw}"
        source = f"mssql+pyodbc://{auth}{server}?driver=ODBC+Driver+18+for+SQL+Server"
        split_keys = {
            i.ref.key: keys.postgres_key(i.ref.key)
            for i in roles.values()
            if i.ref.key and i.ref.role != "option"
        }
        proposals.append(
            Proposal(
                name=name,
                env_key=roles["host"].ref.key or "",
                kind="mssql",
                source=source,
                target=SUGGESTED_TARGET.format(name=name),
                split_keys=split_keys,
                found_in=tuple(sorted({i.ref.path for i in roles.values()})),
            )
        )
    return proposals


def _unique_names(proposals: list[Proposal]) -> list[Proposal]:
    seen: dict[str, int] = {}
    out = []
    for proposal in proposals:
        count = seen.get(proposal.name, 0)
        seen[proposal.name] = count + 1
        if count:
            name = f"{proposal.name}_{count + 1}"
            proposal = replace(proposal, name=name, target=SUGGESTED_TARGET.format(name=name))
        out.append(proposal)
    return out
