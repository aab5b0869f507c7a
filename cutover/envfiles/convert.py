"""What a value becomes: a database's Postgres target, written in the style the old value had.

The target (host, port, user, database, password, options) comes from cutover.toml; the style
comes from the value being replaced: a SQLAlchemy URL stays a SQLAlchemy URL (driver from the
config, `psycopg` by default), an ODBC string becomes a libpq URL, ADO.NET becomes Npgsql keywords,
JDBC stays JDBC, `*_DSN` keys get plain libpq URLs. SQL Server's Encrypt/TrustServerCertificate
become `sslmode`; every other MSSQL-only option is dropped.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from typing import Any

from psycopg import pq

from cutover import envkeys as keys
from cutover import urls
from cutover.envfiles import resolve
from cutover.errors import ConfigError, UsageError

DEFAULT_DRIVER = "psycopg"  # SQLAlchemy's psycopg 3 dialect serves sync and async engines alike
DEFAULT_PASSWORD_ENV = "POSTGRES_PASSWORD"
POSTGRES_PORT = 5432
DRIVERS = ("psycopg", "psycopg2", "asyncpg", "pg8000", "")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
ASYNC_ONLY_DRIVERS = ("asyncpg",)
ASYNC_DRIVERS = ("aiosqlite", "aioodbc", "asyncpg", "psycopg_async", "asyncmy", "aiomysql")

_TRUE = ("yes", "true", "mandatory", "strict", "1")
_FALSE = ("no", "false", "optional", "0")
# Source option names (any form, any case) → the libpq parameter they mean.
_ALIASES = {
    "sslmode": "sslmode",
    "ssl mode": "sslmode",
    "ssl": "sslmode",
    "connect_timeout": "connect_timeout",
    "connect timeout": "connect_timeout",
    "connection timeout": "connect_timeout",
    "timeout": "connect_timeout",
    "logintimeout": "connect_timeout",
    "login timeout": "connect_timeout",
    "connecttimeout": "connect_timeout",
    "application_name": "application_name",
    "application name": "application_name",
    "applicationname": "application_name",
    "app": "application_name",
    "sslrootcert": "sslrootcert",
    "target_session_attrs": "target_session_attrs",
    "options": "options",
}
# How each output style spells the libpq parameters it accepts; a missing name is dropped.
_SPELLING: dict[str, dict[str, str]] = {
    "libpq": {
        k: k
        for k in (
            "sslmode",
            "connect_timeout",
            "application_name",
            "sslrootcert",
            "target_session_attrs",
            "options",
        )
    },
    "asyncpg": {"sslmode": "ssl", "connect_timeout": "timeout", "host": "host", "port": "port"},
    "pg8000": {"connect_timeout": "timeout", "application_name": "application_name"},
    "jdbc": {
        "sslmode": "sslmode",
        "connect_timeout": "connectTimeout",
        "application_name": "ApplicationName",
        "sslrootcert": "sslrootcert",
    },
    "ado": {
        "sslmode": "SSL Mode",
        "connect_timeout": "Timeout",
        "application_name": "Application Name",
        "sslrootcert": "Root Certificate",
    },
}
# Every parameter libpq's own parser knows (psycopg reads them from the libpq it runs on).
LIBPQ_PARAMS = frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())
# Parameters that say where the server is: never dropped silently.
_WHERE_PARAMS = ("host", "hostaddr", "port", "service")
_NPGSQL_SSLMODE = {
    "disable": "Disable",
    "allow": "Allow",
    "prefer": "Prefer",
    "require": "Require",
    "verify-ca": "VerifyCA",
    "verify-full": "VerifyFull",
}


@dataclass(frozen=True)
class Target:
    """One database of cutover.toml, as env rewriting needs it."""

    name: str
    env_key: str
    url: urls.DbUrl
    source: urls.DbUrl | None
    driver: str | None = None  # None: keep a Postgres value's scheme, else psycopg
    password_env: str = DEFAULT_PASSWORD_ENV
    split_keys: dict[str, str] = field(default_factory=dict)  # key found in files → key to write

    def split_target(self, key: str) -> tuple[str, str] | None:
        """(role, key to write) when `key` is one of this database's split keys."""
        if key not in self.split_keys:
            return None
        new_key = self.split_keys[key] or key
        role = keys.role_of(key) or keys.role_of(new_key)
        return (role, new_key) if role else None


@dataclass(frozen=True)
class Placement:
    """Where a value is written: committed or not, and a host to use instead of a local one."""

    committed: bool
    literal_passwords: bool = False
    host: str | None = None  # e.g. the compose service of the Postgres server
    port: int | None = None


def target_from_config(db: Any) -> Target:
    """A `Target` from a `DatabaseConfig`."""
    url = urls.parse(db.target)
    if url.kind != "postgres":
        raise ConfigError(
            f"database {db.name}: the target must be PostgreSQL, not {url.kind}",
            database=db.name,
            line=db.line,
        )
    try:
        source: urls.DbUrl | None = urls.parse(db.source)
    except UsageError:  # a source the env phase cannot read is only not matched by value
        source = None
    driver = db.driver
    if driver is not None and driver not in DRIVERS:
        raise ConfigError(
            f"database {db.name}: unknown driver {driver!r}; expected one of: "
            f"{', '.join(repr(d) for d in DRIVERS)}",
            database=db.name,
            line=db.line,
        )
    split = db.split_keys
    if isinstance(
        split, list
    ):  # the Python API may pass a list; cutover.toml's is converted on load
        split = {k: keys.postgres_key(k) for k in split}
    return Target(
        db.name,
        db.env_key,
        url,
        source,
        driver,
        db.password_env or DEFAULT_PASSWORD_ENV,
        dict(split),
    )


def password_text(target: Target, place: Placement, *, in_url: bool = True) -> str | None:
    """What goes where the password goes: a ${REF}, or None (the literal, or no password at all).

    In a URL the reference names the variable holding the percent-encoded password when the
    password needs encoding (`resolve.url_variable`).
    """
    if target.url.password is None or (place.literal_passwords and not place.committed):
        return None
    if not in_url:
        return "${" + target.password_env + "}"
    return "${" + resolve.url_variable(target.password_env, target.url.password) + "}"


def url_value(
    old: str, key: str | None, target: Target, place: Placement, *, by_key: bool = True
) -> tuple[str, list[str]]:
    """The Postgres connection string replacing `old`, and notes on what was dropped.

    `by_key`: the value is the database's own env key, so the configured
    driver applies as is; elsewhere (inline URLs, other keys) an async-
    only driver is used only where the old URL was async.
    """
    sniffed = urls.sniff(old) if old.strip() else None
    try:
        old_url: urls.DbUrl | None = urls.parse(old) if sniffed else None
    except (UsageError, ValueError):  # ${VAR} host or port: only the scheme and form are known
        old_url = None
    form = sniffed[1] if sniffed else "url"
    dsn_key = bool(key) and keys.role_of(key or "") == "dsn"
    if form == "odbc" or dsn_key and form == "url":
        form, scheme = "url", "postgresql"
    else:
        scheme = _scheme(old, sniffed, target.driver if by_key else _driver_for(old, target.driver))
    style = _style(form, scheme)
    params, notes = _params(old_url, target, place, style)
    host, port = target.url.host, target.url.port
    if place.host and is_local(target.url):
        host, port = place.host, place.port or POSTGRES_PORT
    elif old_url is not None and old_url.host in LOCAL_HOSTS and host in LOCAL_HOSTS:
        host = old_url.host  # 127.0.0.1 and localhost are the same server: no churn
    url = replace(target.url, host=host, port=port, query=tuple(params), form=form)
    shown = password_text(target, place, in_url=form in ("url", "jdbc"))
    return urls.render_as(url, form, scheme=scheme, password_text=shown), notes


def split_value(
    role: str, key: str, target: Target, place: Placement, *, renamed: bool = False
) -> str | None:
    """The value of one split key (host, port, user, database, password); None to leave it as is.

    `key` is the key as it will be written; `renamed` when it replaces another (MSSQL_PASSWORD →
    POSTGRES_PASSWORD): the old secret must not be carried over under the new name.
    """
    url = target.url
    local = is_local(url) and place.host
    if role == "host":
        return place.host if local else (url.host or url.option("host") or "localhost")
    if role == "port":
        if local:
            return str(place.port or POSTGRES_PORT)
        return str(url.port or url.option("port") or POSTGRES_PORT)
    if role == "user":
        return url.username
    if role == "database":
        return url.database
    if role == "password":
        if url.password is None:
            return None
        if place.literal_passwords and not place.committed:
            return url.password
        if key == target.password_env:
            return "" if renamed else None
        return "${" + target.password_env + "}"
    return None


def same_database(a: urls.DbUrl, b: urls.DbUrl) -> bool:
    """True when two connection strings name the same
    database (host aliases and default ports equal).
    """
    if a.kind != b.kind:
        return False
    if a.kind == "sqlite":
        return _norm_path(a.database) == _norm_path(b.database)
    default_port = {"mssql": 1433, "postgres": POSTGRES_PORT}.get(a.kind)
    return (
        _norm_host(a.host) == _norm_host(b.host)
        and (a.port or default_port) == (b.port or default_port)
        and (a.database or "").lower() == (b.database or "").lower()
    )


def _driver_for(old: str, driver: str | None) -> str | None:
    """The configured driver, unless it is async-only and the old URL was a sync one."""
    old_driver = old.strip().partition("://")[0].partition("+")[2].lower()
    if driver in ASYNC_ONLY_DRIVERS and old_driver not in ASYNC_DRIVERS:
        return DEFAULT_DRIVER
    return driver


def _scheme(old: str, sniffed: tuple[str, str] | None, driver: str | None) -> str:
    if sniffed == ("postgres", "url") and driver is None:
        return old.strip().partition("://")[0]
    chosen = DEFAULT_DRIVER if driver is None else driver
    return "postgresql" + (f"+{chosen}" if chosen else "")


def _style(form: str, scheme: str) -> str:
    if form in ("jdbc", "ado"):
        return form
    driver = scheme.partition("+")[2]
    return driver if driver in ("asyncpg", "pg8000") else "libpq"


def _params(
    old: urls.DbUrl | None, target: Target, place: Placement, style: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """Target options, then options carried or derived from the old value, spelled for `style`.

    Every libpq parameter of the target is kept (socket directories, host lists, sslrootcert,
    target_session_attrs, options…): libpq styles pass them on as they are; a style that cannot
    say where the server is (host, port) stops rather than connect somewhere else.
    """
    libpq: dict[str, str] = {}
    notes: list[str] = []
    if old is not None and old.kind == "postgres":
        for name, value in old.query:
            canonical = _ALIASES.get(name.lower())
            if canonical:
                libpq[canonical] = _npgsql_to_libpq(value) if canonical == "sslmode" else value
    elif old is not None and old.kind == "mssql":
        derived = _sslmode_from_mssql(old)
        if derived and not is_local(target.url):
            libpq["sslmode"] = derived
        for name, value in old.query:
            canonical = _ALIASES.get(name.lower())
            if canonical in ("connect_timeout", "application_name"):
                libpq[canonical] = value
    for name, value in target.url.query:
        libpq[_ALIASES.get(name.lower(), name)] = value
    spelling = _SPELLING[style]
    out: list[tuple[str, str]] = []
    for name, value in libpq.items():
        spelled = spelling.get(name) or (
            name if style == "libpq" and name in LIBPQ_PARAMS else None
        )
        if spelled is None and name in _WHERE_PARAMS:
            raise UsageError(
                f"{name}={value} of database {target.name} cannot be written for {style}",
                hint='use a libpq driver (driver = "psycopg" or "psycopg2") for this database',
            )
        if spelled is None:
            notes.append(f"{name}={value} has no equivalent for {style} and was left out")
            continue
        if style == "ado" and name == "sslmode":
            value = _NPGSQL_SSLMODE.get(value, value)
        out.append((spelled, value))
    return out, notes


def is_local(url: urls.DbUrl) -> bool:
    """True when a Postgres URL names this machine over TCP (not a socket, not a host list)."""
    if url.host is None and url.option("host") is not None:
        return False
    return (url.host or "localhost") in LOCAL_HOSTS


def _sslmode_from_mssql(old: urls.DbUrl) -> str | None:
    encrypt = (old.option("encrypt") or "").lower()
    trust = (
        old.option("trustservercertificate", "trust server certificate", "trust_server_certificate")
        or ""
    ).lower()
    if encrypt == "strict":
        return "verify-full"
    if encrypt in _TRUE or (not encrypt and trust in _TRUE):
        return "require" if trust in _TRUE else "verify-full"
    return None


def _npgsql_to_libpq(value: str) -> str:
    reverse = {v.lower(): k for k, v in _NPGSQL_SSLMODE.items()}
    return reverse.get(value.lower(), value)


def _norm_host(host: str | None) -> str:
    lowered = (host or "localhost").lower()
    return "localhost" if lowered in ("127.0.0.1", "::1", ".", "(local)", "(localdb)") else lowered


def _norm_path(path: str | None) -> str:
    return posixpath.normpath(path or "")
