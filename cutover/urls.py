"""Parse, convert and redact database URLs.

Only SQLAlchemy-style URLs are understood here so far; ODBC, ADO.NET and JDBC forms arrive with
phase 1 (env rewriting). Every function that returns text meant for people goes through `redact`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cutover.errors import UnknownChoiceError, UsageError

REDACTED = "***"

_SCHEME_KINDS = {
    "sqlite": "sqlite",
    "mssql": "mssql",
    "postgresql": "postgres",
    "postgres": "postgres",
}

# user:password@ inside any scheme://… text; the password may hold any character but '@' and '/'.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<tail>@)")
# key=value forms: PWD=…; Password=…; password=… (libpq conninfo, ODBC, ADO.NET)
_KV_PASSWORD = re.compile(r"(?i)(?P<head>\b(?:pwd|password|passwd)\s*=\s*)(?P<pw>\{[^}]*\}|'[^']*'|\"[^\"]*\"|[^;\s&]+)")


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL; `kind` is sqlite, mssql or postgres."""

    kind: str
    driver: str | None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        """For SQLite: the database file."""
        if self.kind != "sqlite" or not self.database:
            raise UsageError(f"not a SQLite file URL: {redact(render(self))}")
        return Path(self.database)


def parse(url: str) -> DbUrl:
    """Parse a SQLAlchemy-style URL (sqlite:///, mssql+pyodbc://, postgresql+psycopg://)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UsageError(f"not a database URL: {redact(url)!r}", hint="expected e.g. sqlite:///app.db or postgresql://user@host/db")
    base, _, driver = scheme.partition("+")
    kind = _SCHEME_KINDS.get(base.lower())
    if kind is None:
        raise UnknownChoiceError("URL scheme", base, list(_SCHEME_KINDS))
    if kind == "sqlite":
        path, _, query = rest.partition("?")
        # sqlite:///rel.db -> "/rel.db" after '://'; sqlite:////abs.db -> "//abs.db"
        if not path.startswith("/"):
            raise UsageError(f"SQLite URL needs three slashes: {url!r}", hint="sqlite:///relative.db or sqlite:////absolute.db")
        return DbUrl(kind, driver or None, database=unquote(path[1:]) or None, query=tuple(parse_qsl(query)))
    parts = urlsplit(f"{base}://{rest}")
    return DbUrl(
        kind,
        driver or None,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=parts.hostname,
        port=parts.port,
        database=unquote(parts.path.lstrip("/")) or None,
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
    )


def render(url: DbUrl, *, scheme: str | None = None, hide_password: bool = False) -> str:
    """Render a parsed URL back to text; `scheme` replaces the scheme (e.g. 'postgresql')."""
    if url.kind == "sqlite":
        head = scheme or ("sqlite+" + url.driver if url.driver else "sqlite")
        query = f"?{urlencode(url.query)}" if url.query else ""
        return f"{head}:///{url.database or ''}{query}"
    head = scheme or ({"postgres": "postgresql", "mssql": "mssql"}[url.kind] + (f"+{url.driver}" if url.driver else ""))
    auth = ""
    if url.username is not None:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + (REDACTED if hide_password else quote(url.password, safe=""))
        auth += "@"
    host = url.host or ""
    if host and ":" in host:
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    db = "/" + quote(url.database, safe="") if url.database else "/"
    query = f"?{urlencode(url.query)}" if url.query else ""
    return f"{head}://{auth}{host}{port}{db}{query}"


def redact(text: str) -> str:
    """Replace every password in URLs or key=value strings inside `text` with ***."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + m["tail"], text)
    return _KV_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)


def sqlite_path(url: str, base: Path | None = None) -> Path:
    """The file a sqlite:/// URL names, relative paths resolved against `base`."""
    path = parse(url).path
    return path if path.is_absolute() or base is None else (base / path)


def postgres_conninfo(url: str) -> str:
    """A libpq URL psycopg accepts (driver suffix dropped) for a postgres URL."""
    parsed = parse(url)
    if parsed.kind != "postgres":
        raise UsageError(f"not a PostgreSQL URL: {redact(url)!r}")
    return render(parsed, scheme="postgresql")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) for a postgres URL."""
    return render(parse(postgres_conninfo(url)), scheme="postgresql+psycopg")


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parsed = parse(url)
    return render(DbUrl(parsed.kind, parsed.driver, parsed.username, parsed.password, parsed.host, parsed.port, database, parsed.query))
