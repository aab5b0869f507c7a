"""cutover.toml: the databases of a cutover, their overrides and the run settings.

Reading uses tomllib and reports errors with file and line; `init` edits the file with tomlkit so
a user's comments and order survive. `${VAR}` in any string is taken from the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomlkit

from cutover.envkeys import postgres_key
from cutover.errors import ConfigError

DEFAULT_CONFIG = Path("cutover.toml")
DEFAULT_WORKDIR = Path(".cutover")

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
# letters of any script (a file called 채팅.db gives a database called 채팅), digits, _ and -
_NAME = re.compile(r"^[^\W\d_][\w\-]*$")

ON_ERROR = ("reject", "abort")
TIMESTAMPS = ("keep", "timestamptz")
ROUNDING_POLICIES = ("reject", "round")
PADDING_POLICIES = ("reject", "pad")
# Every Postgres session cutover opens speaks UTC: a naive value never takes the server's zone
PG_SESSION_TIMEZONE = "UTC"
PG_SESSION_OPTIONS = f"-c TimeZone={PG_SESSION_TIMEZONE}"
TEXT_POLICIES = ("reject", "replace")
NUL_POLICIES = ("reject", "strip")
ORPHAN_POLICIES = ("reject", "keep")
INFER_TYPES = ("suggest", "apply", "off")
ENGINES = (
    "auto",
    "python",
)  # auto: Arrow kernels and binary COPY where a table allows; python: the row path only
DIGEST_MODES = (
    "load",
    "verify",
)  # row digests made while loading (verify reads the target only), or by verify (it reads both)
SCHEMA_MODES = ("create", "existing")


@dataclass
class ColumnOverride:
    """A user's instruction for one column: its Postgres type and how to read it."""

    type: str | None = None
    blob_format: str | None = None
    rename: str | None = None
    index: str | None = None
    distance: str | None = None


@dataclass
class Settings:
    """Run-wide policies; every value has a documented meaning in docs/policies.md."""

    batch_size: int = 5000
    chunk_rows: int = 250_000
    on_error: str = "reject"
    timestamps: str = "keep"
    source_timezone: str = "UTC"  # the zone naive source date/times are read in
    invalid_utf8: str = "reject"
    rounding: str = "reject"  # decimals beyond the column's scale, reals beyond float32: or round
    char_padding: str = "reject"  # values char(n) would pad or trim to n: reject or pad
    nul_in_text: str = "reject"
    orphans: str = "reject"
    infer_types: str = "suggest"
    digests: str = "load"
    engine: str = "auto"  # auto: the columnar (Arrow) path where a table allows it; python: never
    vector_type: str = "vector"
    vector_index: str = "hnsw"
    vector_distance: str = "cosine"
    sample_rows: int = 1000
    alembic_dir: str = "alembic"
    version_table: str = "alembic_version"
    # Variables the environment the app runs in exports (phase 1 trusts them to be set).
    from_environment: tuple[str, ...] = ()

    @property
    def naive_timezone(self) -> str:
        """The zone naive source values are read in (the earlier name of source_timezone)."""
        return self.source_timezone


@dataclass
class DatabaseConfig:
    """One application database: the env key the app reads, where it is now, where it goes."""

    name: str
    env_key: str
    source: str
    target: str
    snake_case: bool = False
    schema_mode: str = "create"
    target_schema: str = "public"
    tables: list[str] | None = None
    columns: dict[str, ColumnOverride] = field(default_factory=dict)
    driver: str | None = None
    password_env: str = "POSTGRES_PASSWORD"
    split_keys: dict[str, str] = field(default_factory=dict)
    line: int | None = None
    unset: tuple[str, ...] = ()  # variables its URLs need that the environment lacks (lenient load)

    def override(self, table: str, column: str) -> ColumnOverride | None:
        """The override for table.column, if the user wrote one."""
        return self.columns.get(f"{table}.{column}")


@dataclass
class Config:
    """A loaded cutover.toml."""

    path: Path
    databases: list[DatabaseConfig]
    settings: Settings

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file (sqlite:///app.db, alembic_dir) are relative to here."""
        return self.path.resolve().parent

    def database(self, name: str | None) -> list[DatabaseConfig]:
        """All databases, or the one named; an unknown name lists the valid ones."""
        if name is None:
            return list(self.databases)
        for db in self.databases:
            if db.name == name:
                return [db]
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError(
            "database", name, [d.name for d in self.databases], path=str(self.path)
        )


def load(path: Path, environ: dict[str, str] | None = None, *, lenient: bool = False) -> Config:
    """Read and validate cutover.toml; errors name the file and line.

    lenient: an unset ${VAR} in a source or target stays as written and is listed in the
    database's `unset` (for commands that report without connecting, like `cutover status`).
    """
    environ = dict(os.environ) if environ is None else environ
    if not path.exists():
        raise ConfigError(
            f"no configuration file {path}",
            path=str(path),
            hint="run `cutover init --source URL --target URL` first",
        )
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _line_from_toml_error(str(exc))
        raise ConfigError(f"{path} is not valid TOML: {exc}", path=str(path), line=line) from exc
    locate = _Locator(path, text)
    settings = _settings(data.get("settings", {}), locate)
    raw_dbs = data.get("databases", [])
    if not isinstance(raw_dbs, list):
        raise ConfigError(
            "`databases` must be an array of tables ([[databases]])",
            path=str(path),
            line=locate.key("databases"),
        )
    databases = [_database(raw, i, locate, environ, lenient) for i, raw in enumerate(raw_dbs)]
    seen: set[str] = set()
    for db in databases:
        if db.name in seen:
            raise ConfigError(
                f"database name {db.name!r} is used twice", path=str(path), line=db.line
            )
        seen.add(db.name)
    unknown = set(data) - {"settings", "databases"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"unknown top-level key {key!r}; expected settings, databases",
            path=str(path),
            line=locate.key(key),
        )
    return Config(path, databases, settings)


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Replace ${VAR} and ${VAR:-default}; an unset variable without default raises KeyError."""

    def one(match: re.Match[str]) -> str:
        name = match["name"]
        if name in environ:
            return environ[name]
        if match["default"] is not None:
            return match["default"]
        raise KeyError(name)

    return _VAR.sub(one, value)


def interpolate_url(value: str, environ: dict[str, str]) -> str:
    """Interpolate a URL; values landing in its user:password part are percent-encoded."""
    scheme, sep, rest = value.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    at = authority.rfind("@")
    if not sep or at < 0:
        return interpolate(value, environ)
    encoded = interpolate(rest[:at], {k: quote(v, safe="") for k, v in environ.items()})
    return f"{scheme}://{encoded}{interpolate(rest[at:], environ)}"


def add_database(path: Path, db: DatabaseConfig, *, replace: bool = False) -> None:
    """Add (or with replace=True, overwrite) one
    [[databases]] entry, keeping the rest of the file.
    """
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else _new_document()
    entries = doc.get("databases")
    if entries is None:
        entries = tomlkit.aot()
        doc.add(tomlkit.nl())
        doc.append("databases", entries)
    entry = tomlkit.table()
    entry.add("name", db.name)
    entry.add("env_key", db.env_key)
    entry.add("source", db.source)
    entry.add("target", db.target)
    if db.snake_case:
        entry.add("snake_case", True)
    if db.driver is not None:
        entry.add("driver", db.driver)
    if db.split_keys:
        split = tomlkit.inline_table()
        split.update(db.split_keys)
        entry.add("split_keys", split)
    for existing in entries:
        if existing.get("name") == db.name:
            if not replace:
                raise ConfigError(
                    f"database {db.name!r} is already in {path}",
                    path=str(path),
                    hint="use another --name, or --yes to replace it",
                )
            for key in ("env_key", "source", "target"):
                existing[key] = entry[key]
            if db.snake_case:
                existing["snake_case"] = True
            break
    else:
        if len(entries):
            entry.trivia.indent = ""
            entries[-1].add(tomlkit.nl())  # a blank line between entries
        entries.append(entry)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def set_setting(path: Path, key: str, value: Any) -> None:
    """Set one [settings] value in cutover.toml, keeping the rest of the file."""
    if key not in {f.name for f in fields(Settings)}:
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError("setting", key, [f.name for f in fields(Settings)])
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    if "settings" not in doc:
        doc.add("settings", tomlkit.table())
    doc["settings"][key] = value
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _new_document() -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment("cutover configuration: one [[databases]] entry per application database.")
    )
    doc.add(
        tomlkit.comment(
            "Strings may use ${VAR} (or ${VAR:-default}) to read secrets from the environment."
        )
    )
    doc.add(tomlkit.nl())
    settings = tomlkit.table()
    settings.add("batch_size", Settings.batch_size)
    settings.add("on_error", Settings.on_error)
    doc.add("settings", settings)
    return doc


class _Locator:
    """Finds the line of a key in the raw text, so validation errors can name it."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.db_starts = [
            i + 1 for i, ln in enumerate(self.lines) if ln.strip().startswith("[[databases]]")
        ]

    def key(self, key: str, start: int = 1, end: int | None = None) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=|^\s*\[+\s*{re.escape(key)}\b")
        stop = end if end is not None else len(self.lines) + 1
        for number in range(start, min(stop, len(self.lines) + 1)):
            if pattern.search(self.lines[number - 1]):
                return number
        return start if end is not None else None

    def db_key(self, index: int, key: str) -> int | None:
        if index >= len(self.db_starts):
            return None
        start = self.db_starts[index]
        end = self.db_starts[index + 1] if index + 1 < len(self.db_starts) else None
        return self.key(key, start, end)

    def error(self, message: str, line: int | None, **kw: Any) -> ConfigError:
        return ConfigError(message, path=str(self.path), line=line, **kw)


def _settings(raw: Any, locate: _Locator) -> Settings:
    if not isinstance(raw, dict):
        raise locate.error("[settings] must be a table", locate.key("settings"))
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "naive_timezone" and "source_timezone" not in raw:  # the earlier name
            key = "source_timezone"
        if key not in known:
            raise locate.error(
                f"unknown setting {key!r}; expected one of: {', '.join(sorted(known))}",
                locate.key(key),
            )
        default = getattr(Settings, key)
        if key == "infer_types" and isinstance(value, bool):  # the earlier boolean form
            value = "apply" if value else "off"
        if key == "from_environment" and isinstance(value, list):
            value = tuple(str(v) for v in value)
        if not isinstance(value, type(default)) or (
            isinstance(default, int) and isinstance(value, bool) and not isinstance(default, bool)
        ):
            raise locate.error(
                f"setting {key} must be {type(default).__name__}, not {value!r}", locate.key(key)
            )
        values[key] = value
    settings = Settings(**values)
    for key, choices in (
        ("on_error", ON_ERROR),
        ("timestamps", TIMESTAMPS),
        ("invalid_utf8", TEXT_POLICIES),
        ("rounding", ROUNDING_POLICIES),
        ("char_padding", PADDING_POLICIES),
        ("nul_in_text", NUL_POLICIES),
        ("orphans", ORPHAN_POLICIES),
        ("infer_types", INFER_TYPES),
        ("digests", DIGEST_MODES),
        ("engine", ENGINES),
        ("vector_type", ("vector", "halfvec")),
        ("vector_index", ("hnsw", "ivfflat", "none")),
        ("vector_distance", ("cosine", "l2", "ip")),
    ):
        if getattr(settings, key) not in choices:
            raise locate.error(
                f"setting {key} = {getattr(settings, key)!r}; expected one of: "
                f"{', '.join(choices)}",
                locate.key(key),
            )
    try:
        ZoneInfo(settings.source_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise locate.error(
            f"setting source_timezone = {settings.source_timezone!r} is not a time zone",
            locate.key("source_timezone"),
            hint='an IANA name such as "UTC" or "Asia/Seoul"',
        ) from None
    if settings.batch_size < 1:
        raise locate.error("setting batch_size must be at least 1", locate.key("batch_size"))
    if settings.chunk_rows < settings.batch_size:
        raise locate.error(
            "setting chunk_rows must be at least batch_size", locate.key("chunk_rows")
        )
    return settings


def _database(
    raw: Any, index: int, locate: _Locator, environ: dict[str, str], lenient: bool = False
) -> DatabaseConfig:
    line = locate.db_starts[index] if index < len(locate.db_starts) else None
    if not isinstance(raw, dict):
        raise locate.error("each [[databases]] entry must be a table", line)
    for key in ("name", "env_key", "source", "target"):
        if key not in raw:
            raise locate.error(f"database entry #{index + 1} has no {key!r}", line)
        if not isinstance(raw[key], str) or not raw[key]:
            raise locate.error(
                f"database {key} must be a non-empty string", locate.db_key(index, key)
            )
    if not _NAME.match(raw["name"]):
        raise locate.error(
            f"database name {raw['name']!r} must start with a letter and hold letters, digits, "
            "_ or -",
            locate.db_key(index, "name"),
        )
    allowed = {f.name for f in fields(DatabaseConfig)} - {"line", "unset"}
    for key in raw:
        if key not in allowed:
            raise locate.error(
                f"unknown database key {key!r}; expected one of: {', '.join(sorted(allowed))}",
                locate.db_key(index, key),
            )
    values: dict[str, Any] = {}
    unset: list[str] = []
    for key in ("source", "target", "env_key", "name"):
        if lenient and key in ("source", "target"):
            missing = [
                m["name"]
                for m in _VAR.finditer(raw[key])
                if m["name"] not in environ and m["default"] is None
            ]
            if missing:
                unset += [m for m in missing if m not in unset]
                values[key] = raw[key]
                continue
        try:
            values[key] = (
                interpolate_url(raw[key], environ)
                if key in ("source", "target")
                else interpolate(raw[key], environ)
            )
        except KeyError as exc:
            raise locate.error(
                f"environment variable {exc.args[0]} is not set (used in {key})",
                locate.db_key(index, key),
                hint=f"export {exc.args[0]}=… or write ${{{exc.args[0]}:-default}}",
            ) from None
    mode = raw.get("schema_mode", "create")
    if mode not in SCHEMA_MODES:
        raise locate.error(
            f"schema_mode = {mode!r}; expected one of: {', '.join(SCHEMA_MODES)}",
            locate.db_key(index, "schema_mode"),
        )
    columns: dict[str, ColumnOverride] = {}
    for key, spec in (raw.get("columns") or {}).items():
        if "." not in key:
            raise locate.error(
                f'column override {key!r} must be written as "table.column"',
                locate.db_key(index, key),
            )
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            raise locate.error(
                f"column override {key!r} must be a type string or a table",
                locate.db_key(index, key),
            )
        bad = set(spec) - {f.name for f in fields(ColumnOverride)}
        if bad:
            raise locate.error(
                f"column override {key!r} has unknown key {sorted(bad)[0]!r}; expected type, "
                "blob_format, rename, index, distance",
                locate.db_key(index, key),
            )
        for field_name, choices in (
            ("blob_format", ("float32le", "float32be", "float64le", "float64be")),
            ("index", ("hnsw", "ivfflat", "none")),
            ("distance", ("cosine", "l2", "ip")),
        ):
            if spec.get(field_name) is not None and spec[field_name] not in choices:
                raise locate.error(
                    f"column override {key!r}: {field_name} = {spec[field_name]!r}; expected "
                    f"one of: {', '.join(choices)}",
                    locate.db_key(index, key),
                )
        columns[key] = ColumnOverride(**spec)
    split = raw.get("split_keys", {})
    if isinstance(split, list):
        split = {k: postgres_key(k) for k in split}
    if not (
        isinstance(split, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in split.items())
    ):
        raise locate.error(
            "split_keys must map keys found in files to the keys to write, e.g. { MSSQL_SERVER "
            '= "POSTGRES_HOST" }',
            locate.db_key(index, "split_keys"),
        )
    for key in ("driver", "password_env"):
        if key in raw and not isinstance(raw[key], str):
            raise locate.error(f"{key} must be a string", locate.db_key(index, key))
    tables = raw.get("tables")
    if tables is not None and not (
        isinstance(tables, list) and all(isinstance(t, str) for t in tables)
    ):
        raise locate.error("tables must be a list of table names", locate.db_key(index, "tables"))
    return DatabaseConfig(
        name=values["name"],
        env_key=values["env_key"],
        source=values["source"],
        target=values["target"],
        snake_case=bool(raw.get("snake_case", False)),
        schema_mode=mode,
        target_schema=str(raw.get("target_schema", "public")),
        tables=tables,
        columns=columns,
        driver=raw.get("driver"),
        password_env=raw.get("password_env", "POSTGRES_PASSWORD"),
        split_keys=dict(split),
        line=line,
        unset=tuple(unset),
    )


def _line_from_toml_error(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None
