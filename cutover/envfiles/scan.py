"""Find the files phase 1 edits, the database references in them, and the references it leaves.

Env files are `.env`, `.env.*`, `*.env`, `env.example`; compose files are `docker-
compose*.yml` and `compose*.yaml` (plus every file they name in `env_file`);
scripts are `*.sh`, `*.bash`, `.envrc` and files starting with a `#!…sh` line.
Python, SQL, docs and config files are read only for leftover references (`import
sqlite3`, `pyodbc`, `mssql+…`, MSSQL-only options) that phase 3 checks are gone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from cutover import envkeys as keys
from cutover import redaction, urls
from cutover.envfiles import compose, dotenv, shell
from cutover.envfiles.spans import Edit, LineIndex, Slot, value_slots

MAX_FILE_BYTES = 1 << 20  # env files and scripts are small; anything larger is data, not config
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "site-packages",
        "dist",
        "build",
        ".cutover",
        ".idea",
    }
)
SKIP_FILES = frozenset({"cutover.toml"})  # cutover's own configuration names the source on purpose
CODE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyi",
        ".sql",
        ".md",
        ".rst",
        ".txt",
        ".ini",
        ".cfg",
        ".toml",
        ".json",
        ".yml",
        ".yaml",
        ".ipynb",
        ".j2",
    }
)
CODE_NAMES = frozenset({"dockerfile", "makefile", "procfile", "alembic.ini"})
_COMPOSE_NAME = re.compile(r"(?i)^(docker-)?compose([.\-][\w.\-]+)?\.ya?ml$")
_DOTENV_NAME = re.compile(
    r"(?i)^(\.env(\..+)?|.+\.env|env\.(example|sample|template|dist|defaults))$"
)
_COMMITTED_DOTENV = re.compile(r"(?i)(example|sample|template|tmpl|dist|defaults)")
_SHEBANG = re.compile(rb"^#![^\n]*\b(ba|z|k|da)?sh\b")

# (label, pattern, applies to env files too). URL patterns are references in env files, so there
# they are not repeated as leftovers.
LEFTOVER_PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = (
    (
        "sqlite3 module",
        re.compile(r"\bimport sqlite3\b|\bfrom sqlite3 import\b|\bsqlite3\.connect\("),
        False,
    ),
    ("pyodbc", re.compile(r"\bimport pyodbc\b|\bfrom pyodbc\b|\bpyodbc\.connect\("), False),
    ("pymssql", re.compile(r"\bimport pymssql\b|\bpymssql\.connect\("), False),
    ("aioodbc / aiosqlite", re.compile(r"\bimport (?:aioodbc|aiosqlite)\b"), False),
    ("SQLite URL", re.compile(r"\bsqlite(?:\+\w+)?:///[^\s\"'`)\]>,]*"), False),
    ("SQL Server URL", re.compile(r"\bmssql\+\w+://[^\s\"'`)\]>,]*"), False),
    ("JDBC SQL Server URL", re.compile(r"\bjdbc:(?:jtds:)?sqlserver://[^\s\"'`)\]>,]*"), False),
    (
        "ODBC driver for SQL Server",
        re.compile(r"(?i)ODBC[ +]Driver[ +]\d+[ +]for[ +]SQL[ +]Server|\{SQL Server\}|\bFreeTDS\b"),
        False,
    ),
    (
        "MSSQL-only connection option",
        re.compile(
            r"\b(?:TrustServerCertificate|MultipleActiveResultSets|Trusted_Connection"
            r"|ApplicationIntent|MultiSubnetFailover)\b"
        ),
        False,
    ),
    ("MSSQL-only SQLAlchemy option", re.compile(r"\bfast_executemany\b"), False),
    ("SQLite-only option", re.compile(r"\bcheck_same_thread\b|\bPRAGMA\s+\w+"), False),
    ("SQL Server tool", re.compile(r"\b(?:sqlcmd|bcp|mssql-tools\d*|msodbcsql\d*)\b"), True),
    (
        "SQL Server image",
        re.compile(r"mcr\.microsoft\.com/(?:mssql|azure-sql-edge)[\w/.:\-]*"),
        True,
    ),
    ("sqlite3 command", re.compile(r"(?m)^\s*sqlite3\s+\S+"), True),
    (
        "MSSQL_* variable read",
        re.compile(r"\$\{?MSSQL_[A-Z0-9_]+\}?|(?<=[\"'])MSSQL_[A-Z0-9_]+(?=[\"'])"),
        True,
    ),
)


@dataclass(frozen=True)
class EnvFile:
    """A file phase 1 edits: where it is, its format, and whether it is committed to git."""

    path: Path
    rel: str
    kind: str  # dotenv | compose | shell
    committed: bool
    container: bool = (
        False  # read inside containers: named by a compose env_file (a root .env excepted)
    )


@dataclass(frozen=True)
class EnvReference:
    """One database value in an env file, compose file or script; `value` is redacted."""

    path: str
    line: int
    key: str | None
    kind: str  # sqlite | mssql | postgres | unknown
    role: str  # url | dsn | host | port | user | password | database | option
    form: str  # url | odbc | ado | jdbc | conninfo | split
    value: str
    file_kind: str
    context: str = ""


@dataclass(frozen=True)
class CodeReference:
    """A reference phase 1 does not edit (code, SQL, docs, tools); phase 3 checks it is gone."""

    path: str
    line: int
    label: str
    text: str


@dataclass(frozen=True)
class Found:
    """One reference with the raw value behind it (kept out of results: it may hold a password)."""

    ref: EnvReference
    raw: str
    committed: bool


def classify(path: Path) -> str | None:
    """dotenv, compose, shell, code — or None for files phase 1 does not read."""
    name = path.name
    lower = name.lower()
    if _COMPOSE_NAME.match(name):
        return "compose"
    if lower == ".envrc" or lower.endswith((".sh", ".bash")):
        return "shell"
    if _DOTENV_NAME.match(name):
        return "dotenv"
    if (
        path.suffix.lower() in CODE_SUFFIXES
        or lower in CODE_NAMES
        or lower.startswith("dockerfile")
    ):
        return "code"
    if not path.suffix and _starts_with_shebang(path):
        return "shell"
    return None


def is_committed(path: Path, kind: str) -> bool:
    """Compose files, scripts and example env files are committed; `.env`, `.env.prod`,
    `.env.local` are not.
    """
    if kind != "dotenv":
        return True
    name = path.name.lower()
    return bool(_COMMITTED_DOTENV.search(name)) and not name.endswith(".local")


def walk(root: Path, skip: tuple[Path, ...] = ()) -> tuple[list[EnvFile], list[EnvFile]]:
    """(env files, code files) under `root`, sorted; virtualenvs, VCS and cache folders skipped."""
    if root.is_file():
        kind = classify(root)
        entry = EnvFile(root, root.name, kind or "code", is_committed(root, kind or "code"))
        return ([entry], []) if kind not in (None, "code") else ([], [entry] if kind else [])
    skipped = {p.resolve() for p in skip}
    env_files: list[EnvFile] = []
    code_files: list[EnvFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIP_DIRS
            and not (here / d / "pyvenv.cfg").exists()
            and (here / d).resolve() not in skipped
            and not (here / d).is_symlink()
        )
        for name in sorted(filenames):
            path = here / name
            if name in SKIP_FILES or path.is_symlink() and not path.exists():
                continue
            kind = classify(path)
            if kind is None or _too_big(path):
                continue
            entry = EnvFile(path, path.relative_to(root).as_posix(), kind, is_committed(path, kind))
            (code_files if kind == "code" else env_files).append(entry)
    return _one_per_real_file(env_files), _one_per_real_file(code_files)


def _one_per_real_file(files: list[EnvFile]) -> list[EnvFile]:
    """A file reached through symlinks is listed once,
    under its own path when that is in the tree.
    """
    chosen: dict[Path, EnvFile] = {}
    for entry in files:
        real = entry.path.resolve()
        if real not in chosen or (chosen[real].path.is_symlink() and not entry.path.is_symlink()):
            chosen[real] = entry
    return [f for f in files if chosen[f.path.resolve()] is f]


def with_compose_env_files(root: Path, env_files: list[EnvFile]) -> list[EnvFile]:
    """`env_files` plus the files compose `env_file:`
    entries name, those marked as read in containers.

    A `.env` is also what developers load on the host, so it is never marked.
    """
    named: set[Path] = set()
    for env_file in env_files:
        if env_file.kind == "compose":
            info = compose.parse(read_text(env_file.path)[1])
            named |= {
                (env_file.path.parent / written).resolve()
                for written, _line, _service in info.env_files
                if "$" not in written
            }
    listed = {f.path.resolve(): f for f in env_files}
    out = [
        replace(f, container=f.path.resolve() in named and f.path.name != ".env") for f in env_files
    ]
    for path in sorted(named - set(listed)):
        if path.is_file() and path.is_relative_to(root) and not _too_big(path):
            out.append(
                EnvFile(
                    path,
                    path.relative_to(root).as_posix(),
                    "dotenv",
                    is_committed(path, "dotenv"),
                    container=path.name != ".env",
                )
            )
    return out


def read_text(path: Path) -> tuple[str, str]:
    """(byte-order mark, text) of a file; undecodable bytes survive a round trip
    (surrogateescape).
    """
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    return ("\ufeff", text[1:]) if text.startswith("\ufeff") else ("", text)


def to_bytes(bom: str, text: str) -> bytes:
    """The inverse of `read_text`."""
    return (bom + text).encode("utf-8", "surrogateescape")


def slots_of(kind: str, text: str) -> tuple[list[Slot], compose.ComposeFile | None]:
    """Every value slot in a file of `kind` (and, for compose, what else the file says)."""
    if kind == "dotenv":
        return dotenv.slots(text), None
    if kind == "compose":
        info = compose.parse(text)
        return info.slots, info
    return shell.slots(text), None


def edits_for(slot: Slot, value: str, *, new_key: str | None, live_refs: bool) -> list[Edit] | None:
    """The format's edits that set `slot` to `value`; None when it cannot be written in place."""
    editor = {"dotenv": dotenv.edits_for, "compose": compose.edits_for, "shell": shell.edits_for}[
        slot.fmt
    ]
    return editor(slot, value, new_key=new_key, live_refs=live_refs)


def references(env_file: EnvFile, text: str, slots: list[Slot]) -> list[Found]:
    """The database references among `slots`: connection strings, and split keys by name."""
    found: list[Found] = []
    for slot in slots:
        split = keys.split_key(slot.key) if slot.key else None
        if split is not None and split.role not in ("url", "dsn"):
            found.append(_found(env_file, slot, split.kind or "", split.role, "split"))
            continue
        for inner in value_slots(text, slot):
            sniffed = urls.sniff(inner.value) if inner.value.strip() else None
            if sniffed:
                role = "dsn" if split is not None and split.role == "dsn" else "url"
                found.append(_found(env_file, inner, sniffed[0], role, sniffed[1]))
            elif split is not None and not inner.value.strip():
                found.append(_found(env_file, inner, "unknown", split.role, "url"))
    return _settle_split_kinds(found)


def display_value(key: str | None, role: str, value: str) -> str:
    """A value as it may be shown: passwords and other secrets hidden, ${REFS} kept."""
    if (role == "password" or (key and keys.is_secret(key))) and not redaction.is_reference(value):
        return redaction.REDACTED if value else ""
    return urls.redact(value)


def leftovers(rel: str, text: str, kind: str) -> list[CodeReference]:
    """References to SQLite/MSSQL in a file phase 1 does not edit (or tools in one it does)."""
    found = []
    index = LineIndex(text)
    for label, pattern, in_env_files in LEFTOVER_PATTERNS:
        if kind != "code" and not in_env_files:
            continue
        for match in pattern.finditer(text):
            found.append(
                CodeReference(
                    rel, index.line(match.start()), label, urls.redact(match.group(0).strip())[:120]
                )
            )
    return sorted(found, key=lambda r: (r.line, r.label))


def _found(env_file: EnvFile, slot: Slot, kind: str, role: str, form: str) -> Found:
    ref = EnvReference(
        path=env_file.rel,
        line=slot.line,
        key=slot.key,
        kind=kind,
        role=role,
        form=form,
        value=display_value(slot.key, role, slot.value),
        file_kind=env_file.kind,
        context=slot.context,
    )
    return Found(ref, slot.value, env_file.committed)


def _settle_split_kinds(found: list[Found]) -> list[Found]:
    """Split keys named only DB_* get their kind from
    the group's port or driver (1433, SQL Server…).
    """
    groups: dict[str, str] = {}
    for item in found:
        split = keys.split_key(item.ref.key) if item.ref.key else None
        if split is None or item.ref.form != "split":
            continue
        hint = split.kind
        if not hint and split.role == "port":
            hint = {"1433": "mssql", "5432": "postgres"}.get(item.raw.strip(), "")
        if not hint and split.role == "option" and re.search(r"(?i)sql server|freetds", item.raw):
            hint = "mssql"
        if hint:
            groups.setdefault(split.prefix, hint)
    settled = []
    for item in found:
        if item.ref.form == "split" and not item.ref.kind:
            split = keys.split_key(item.ref.key or "")
            kind = groups.get(split.prefix, "unknown") if split else "unknown"
            item = replace(item, ref=replace(item.ref, kind=kind))
        settled.append(item)
    return settled


def _too_big(path: Path) -> bool:
    try:
        return path.stat().st_size > MAX_FILE_BYTES
    except OSError:
        return True


def _starts_with_shebang(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return bool(_SHEBANG.match(handle.read(128)))
    except OSError:
        return False
