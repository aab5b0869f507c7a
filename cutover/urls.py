"""Parse, convert and redact database connection strings.

Understood forms (`DbUrl.form`):

- ``url``: SQLAlchemy / libpq URLs (``sqlite:///rel.db``, ``mssql+pyodbc://…``,
  ``postgresql+psycopg://…``),
  including ``mssql+pyodbc:///?odbc_connect=<percent-encoded ODBC string>``;
- ``odbc``: ODBC strings (``DRIVER={ODBC Driver 18 for SQL
  Server};SERVER=host,1433;…;UID=…;PWD=…``);
- ``ado``: ADO.NET strings (``Server=…;Database=…;User Id=…;Password=…``, Npgsql's
  ``Host=…;Username=…``);
- ``jdbc``: ``jdbc:sqlserver://host:1433;databaseName=…``, ``jdbc:postgresql://…``,
  ``jdbc:sqlite:…``;
- ``conninfo``: libpq keyword strings (``host=… port=… dbname=… user=… password=…``).

Every function that returns text meant for people goes through `redact`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode

from cutover.errors import UnknownChoiceError, UsageError
from cutover.redaction import REDACTED, redact

FORMS = ("url", "odbc", "ado", "jdbc", "conninfo")
SOURCE_KINDS = ("sqlite", "mssql")  # the databases cutover moves from

_JDBC_KINDS = {"jdbc:sqlserver:": "mssql", "jdbc:jtds:sqlserver:": "mssql"}
_JDBC_KINDS |= {"jdbc:postgresql:": "postgres", "jdbc:sqlite:": "sqlite"}
_SCHEME_KINDS = {
    "sqlite": "sqlite",
    "mssql": "mssql",
    "postgresql": "postgres",
    "postgres": "postgres",
}
# Left readable in query values: socket paths (host=/cloudsql/p:r:i) and host lists (host=a,b),
# which libpq and SQLAlchemy both read unencoded. Spaces become %20, never "+" (libpq keeps "+").
_QUERY_SAFE = "/:,"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


@dataclass(frozen=True)
class DbUrl:
    """A parsed database connection string; `kind` is sqlite, mssql or postgres."""

    kind: str
    driver: str | None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()
    form: str = "url"

    @property
    def path(self) -> Path:
        """For SQLite: the database file."""
        if self.kind != "sqlite" or not self.database:
            raise UsageError(f"not a SQLite file URL: {redact(render(self))}")
        return Path(self.database)

    def option(self, *names: str) -> str | None:
        """The first query/keyword option with one of `names` (case-insensitive)."""
        wanted = {n.lower() for n in names}
        return next((v for k, v in self.query if k.lower() in wanted), None)


def parse(url: str) -> DbUrl:
    """Parse a connection string in any understood form
    (SQLAlchemy URL, ODBC, ADO.NET, JDBC, conninfo).
    """
    text = url.strip()
    if text[:5].lower() == "jdbc:":
        return _parse_jdbc(text)
    if _SCHEME.match(text):
        return _parse_url(text)
    if "=" in text:
        return _parse_keywords(text)
    raise UsageError(
        f"not a database URL: {redact(url)!r}",
        hint="expected e.g. sqlite:///app.db, postgresql://user@host/db or an ODBC/ADO.NET/JDBC "
        "connection string",
    )


def sniff(text: str) -> tuple[str, str] | None:
    """(kind, form) of a connection string, from its
    scheme alone when it does not parse; never raises.
    """
    try:
        parsed = parse(text)
        return parsed.kind, parsed.form
    except (UsageError, ValueError):
        pass
    lowered = text.strip().lower()
    for prefix, kind in _JDBC_KINDS.items():
        if lowered.startswith(prefix):
            return kind, "jdbc"
    if _SCHEME.match(lowered):
        scheme_kind = _SCHEME_KINDS.get(lowered.partition("://")[0].partition("+")[0])
        return (scheme_kind, "url") if scheme_kind else None
    return None


def kind_of(text: str) -> str | None:
    """The database kind a connection string names, or None; never raises."""
    found = sniff(text)
    return found[0] if found else None


def render(url: DbUrl, *, scheme: str | None = None, hide_password: bool = False) -> str:
    """Render a parsed URL back to SQLAlchemy URL text;
    `scheme` replaces the scheme (e.g. 'postgresql').
    """
    password = REDACTED if hide_password and url.password is not None else None
    return render_as(url, "url", scheme=scheme, password_text=password)


def render_as(
    url: DbUrl, form: str, *, scheme: str | None = None, password_text: str | None = None
) -> str:
    """Render `url` in `form` (url, odbc, ado, jdbc, conninfo); `password_text` goes in verbatim
    (e.g. a ${REF}).
    """
    renderers = {
        "url": _render_url,
        "jdbc": _render_jdbc,
        "ado": _render_ado,
        "odbc": _render_odbc,
        "conninfo": _render_conninfo,
    }
    if form not in renderers:
        raise UnknownChoiceError("connection string form", form, list(renderers))
    return renderers[form](url, scheme, password_text)


def sqlite_path(url: str, base: Path | None = None) -> Path:
    """The file a sqlite:/// URL names, relative paths resolved against `base`."""
    path = parse(url).path
    return path if path.is_absolute() or base is None else (base / path)


def postgres_conninfo(url: str) -> str:
    """A libpq URL psycopg accepts (driver suffix dropped) for a postgres URL."""
    parsed = parse(url)
    if parsed.kind != "postgres":
        raise UsageError(f"not a PostgreSQL URL: {redact(url)!r}")
    return render(replace(parsed, form="url"), scheme="postgresql")


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) for a postgres URL."""
    return render(parse(postgres_conninfo(url)), scheme="postgresql+psycopg")


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parsed = parse(url)
    return render(replace(parsed, database=database))


# --- SQLAlchemy / libpq URLs -------------------------------------------------------------------


def _parse_url(url: str) -> DbUrl:
    scheme, _, rest = url.partition("://")
    base, _, driver = scheme.partition("+")
    kind = _SCHEME_KINDS.get(base.lower())
    if kind is None:
        raise UnknownChoiceError("URL scheme", base, list(_SCHEME_KINDS))
    if kind == "sqlite":
        path, _, query = rest.partition("?")
        # sqlite:///rel.db -> "/rel.db" after '://'; sqlite:////abs.db -> "//abs.db"
        if not path.startswith("/"):
            raise UsageError(
                f"SQLite URL needs three slashes: {redact(url)!r}",
                hint="sqlite:///relative.db or sqlite:////absolute.db",
            )
        return DbUrl(
            kind, driver or None, database=unquote(path[1:]) or None, query=tuple(parse_qsl(query))
        )
    # userinfo ends at the last '@' before the query: a password interpolated from the environment
    # (${POSTGRES_PASSWORD} in cutover.toml) may hold raw '/', '#' or '@'.
    at_index = rest.rfind("@", 0, rest.find("?") if "?" in rest else len(rest))
    userinfo, at, rest = (
        (rest[:at_index], "@", rest[at_index + 1 :]) if at_index >= 0 else ("", "", rest)
    )
    rest, _, _fragment = rest.partition("#")
    hostport, _, tail = _split_first(rest, "/?")
    path, _, query = tail.partition("?")
    username = password = None
    if at:
        user, colon, pw = userinfo.partition(":")
        username = unquote(user)
        password = unquote(pw) if colon else None
    pairs = tuple(parse_qsl(query, keep_blank_values=True))
    if kind == "postgres" and "," in hostport:  # libpq's a:5432,b:5433: kept as host=a,b&port=…
        hostport, pairs = "", _multi_host(hostport, url) + pairs
    host, port = _host_port(hostport, ":", url)
    database = unquote(path.lstrip("/")) or None
    parsed = DbUrl(kind, driver or None, username, password, host, port, database, pairs)
    odbc = parsed.option("odbc_connect")
    if odbc:
        inner = _parse_keywords(odbc)
        rest_query = tuple((k, v) for k, v in pairs if k.lower() != "odbc_connect")
        return replace(
            inner, kind=kind, driver=driver or None, form="url", query=inner.query + rest_query
        )
    return parsed


def _multi_host(hostport: str, original: str) -> tuple[tuple[str, str], ...]:
    """libpq's `a:5432,b:5433` host list as the `host=a,b` and `port=5432,5433` it means."""
    hosts = [_host_port(part, ":", original) for part in hostport.split(",")]
    pairs = [("host", ",".join(h or "" for h, _p in hosts))]
    if any(p for _h, p in hosts):
        pairs.append(("port", ",".join(str(p or "") for _h, p in hosts)))
    return tuple(pairs)


def _split_first(text: str, stops: str) -> tuple[str, str, str]:
    """Split at the first of `stops`, keeping the stop character with the tail."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut], "", text[cut:]


def _host_port(hostport: str, sep: str, original: str) -> tuple[str | None, int | None]:
    if hostport.startswith("["):
        host, _, after = hostport[1:].partition("]")
        port_text = after[1:] if after.startswith(sep) else ""
    else:
        host, found, port_text = hostport.rpartition(sep)
        if not found:
            host, port_text = hostport, ""
    port_text = port_text.strip()
    if port_text and not port_text.isdigit():
        raise UsageError(f"port {port_text!r} is not a number in {redact(original)!r}")
    return (host.strip() or None), (int(port_text) if port_text else None)


def _render_url(url: DbUrl, scheme: str | None, password_text: str | None) -> str:
    if url.kind == "sqlite":
        head = scheme or ("sqlite+" + url.driver if url.driver else "sqlite")
        query = f"?{urlencode(url.query)}" if url.query else ""
        return f"{head}:///{url.database or ''}{query}"
    head = scheme or (
        {"postgres": "postgresql", "mssql": "mssql"}[url.kind]
        + (f"+{url.driver}" if url.driver else "")
    )
    auth = ""
    if url.username is not None:
        auth = quote(url.username, safe="")
        if password_text is not None:
            auth += ":" + password_text
        elif url.password is not None:
            auth += ":" + quote(url.password, safe="")
        auth += "@"
    host = url.host or ""
    if host and ":" in host:
        host = f"[{host}]"
    port = f":{url.port}" if url.port else ""
    db = "/" + quote(url.database, safe="") if url.database else "/"
    query = f"?{urlencode(url.query, safe=_QUERY_SAFE, quote_via=quote)}" if url.query else ""
    return f"{head}://{auth}{host}{port}{db}{query}"


# --- ODBC and ADO.NET keyword strings, libpq conninfo ------------------------------------------

_HOST_KEYS = tuple(
    "server|data source|address|addr|network address|host|hostname|hostaddr".split("|")
)
_DB_KEYS = ("database", "initial catalog", "dbname")
_USER_KEYS = ("uid", "user id", "userid", "user", "username", "user name")
_PASSWORD_KEYS = ("pwd", "password", "passwd")
_PORT_KEYS = ("port",)
_SQLITE_FILE = re.compile(r"(?i)(\.db|\.sqlite3?|:memory:)$")


def split_keywords(text: str) -> list[tuple[str, str]]:
    """Split an ODBC/ADO.NET string into (key, value)
    pairs; {braced} and quoted values may hold ';'.
    """
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            if text[i:].strip(" ;"):
                raise UsageError(f"keyword without '=' in connection string {redact(text)!r}")
            break
        key = text[i:eq].strip().strip(";").strip()
        j = eq + 1
        while j < n and text[j] == " ":
            j += 1
        if j < n and text[j] in "{\"'":
            value, j = _read_delimited(text, j)
            j = text.find(";", j)
            j = n if j < 0 else j
        else:
            end = text.find(";", j)
            end = n if end < 0 else end
            value, j = text[j:end].strip(), end
        pairs.append((key, value))
        i = j + 1
    return pairs


def _read_delimited(text: str, start: int) -> tuple[str, int]:
    """Read a {braced} or quoted value starting at `start`; doubled closers are escapes."""
    opener = text[start]
    closer = "}" if opener == "{" else opener
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == closer:
            if text[i + 1 : i + 2] == closer:
                out.append(closer)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise UsageError(f"unterminated {opener} in connection string {redact(text)!r}")


def _split_conninfo(text: str) -> list[tuple[str, str]]:
    """libpq `key=value key='quoted value'` pairs."""
    pattern = re.compile(r"\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")
    pairs: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = pattern.match(text, pos)
        if not match:
            raise UsageError(f"cannot read libpq connection string {redact(text)!r}")
        raw = match[2]
        value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith("'") else raw
        pairs.append((match[1], value))
        pos = match.end()
    return pairs


def _parse_keywords(text: str) -> DbUrl:
    if ";" not in text and re.match(
        r"^\s*(host|hostaddr|dbname|port|user|password|sslmode|service)\s*=", text, re.I
    ):
        return _from_pairs(_split_conninfo(text), "postgres", "conninfo", text)
    pairs = split_keywords(text)
    keys = {k.lower() for k, _ in pairs}
    driver = next((v for k, v in pairs if k.lower() == "driver"), "")
    if re.search(r"(?i)sql server|freetds|\btds\b|msodbcsql", driver):
        kind = "mssql"
    elif re.search(r"(?i)postgres|psqlodbc", driver):
        kind = "postgres"
    elif re.search(r"(?i)sqlite", driver):
        kind = "sqlite"
    elif keys & {"host", "username"}:
        kind = "postgres"
    elif keys == {"data source"} or (
        keys <= {"data source", "mode", "cache", "password", "foreign keys"}
        and _SQLITE_FILE.search(_get(pairs, ("data source",)) or "")
    ):
        kind = "sqlite"
    elif keys & {"server", "data source", "initial catalog", "addr", "address", "network address"}:
        kind = "mssql"
    else:
        raise UsageError(
            f"cannot tell which database this connection string is for: {redact(text)!r}",
            hint="expected an ODBC DRIVER={…} or a Server=/Host=/Data Source= keyword",
        )
    form = "odbc" if keys & {"driver", "dsn", "uid", "pwd"} else "ado"
    return _from_pairs(pairs, kind, form, text)


def _get(pairs: list[tuple[str, str]], names: tuple[str, ...]) -> str | None:
    return next((v for k, v in pairs if k.lower() in names), None)


def _from_pairs(pairs: list[tuple[str, str]], kind: str, form: str, original: str) -> DbUrl:
    used = set(_HOST_KEYS + _DB_KEYS + _USER_KEYS + _PASSWORD_KEYS + _PORT_KEYS)
    server = _get(pairs, _HOST_KEYS)
    host, port, instance = _server(server, kind, original)
    port_text = _get(pairs, _PORT_KEYS)
    if port_text:
        port = _host_port(f"x:{port_text}", ":", original)[1]
    query = [(k, v) for k, v in pairs if k.lower() not in used]
    if instance:
        query.append(("instance", instance))
    database = _get(pairs, _DB_KEYS)
    if kind == "sqlite":
        database, host = server or database, None
    return DbUrl(
        kind,
        None,
        username=_get(pairs, _USER_KEYS),
        password=_get(pairs, _PASSWORD_KEYS),
        host=host,
        port=port,
        database=database or None,
        query=tuple(query),
        form=form,
    )


def _server(
    server: str | None, kind: str, original: str
) -> tuple[str | None, int | None, str | None]:
    """SQL Server's `tcp:host\\INSTANCE,1433` → (host, port, instance).

    Other kinds: the host as is.
    """
    if not server or kind != "mssql":
        return server, None, None
    server = re.sub(r"(?i)^(tcp|np|lpc|admin):", "", server.strip())
    host, _, port_text = server.partition(",")
    host, _, instance = host.partition("\\")
    port = _host_port(f"x:{port_text}", ":", original)[1] if port_text.strip() else None
    return host or None, port, instance or None


def _quote_keyword_value(value: str, braces: bool) -> str:
    if not re.search(r"[;{}'\"=]|^\s|\s$", value):
        return value
    if braces:
        return "{" + value.replace("}", "}}") + "}"
    return '"' + value.replace('"', '""') + '"'


def _render_odbc(url: DbUrl, _scheme: str | None, password_text: str | None) -> str:
    if url.kind != "postgres":
        raise UsageError(f"only PostgreSQL targets render as ODBC here, not {url.kind}")
    parts = [
        ("Driver", "{PostgreSQL Unicode}"),
        ("Server", url.host or "localhost"),
        ("Port", str(url.port or 5432)),
        ("Database", url.database or ""),
    ]
    return _join_keywords(parts, url, password_text, ("Uid", "Pwd"), braces=True)


def _render_ado(url: DbUrl, _scheme: str | None, password_text: str | None) -> str:
    if url.kind != "postgres":
        raise UsageError(f"only PostgreSQL targets render as ADO.NET here, not {url.kind}")
    parts = [
        ("Host", url.host or "localhost"),
        ("Port", str(url.port or 5432)),
        ("Database", url.database or ""),
    ]
    return _join_keywords(parts, url, password_text, ("Username", "Password"), braces=False)


def _join_keywords(
    parts: list[tuple[str, str]],
    url: DbUrl,
    password_text: str | None,
    auth: tuple[str, str],
    braces: bool,
) -> str:
    quoted = [f"{k}={v}" for k, v in parts] + _auth_and_options(
        url, password_text, lambda v: _quote_keyword_value(v, braces), auth
    )
    return ";".join(quoted)


def _render_conninfo(url: DbUrl, _scheme: str | None, password_text: str | None) -> str:
    def one(value: str) -> str:
        if value and not re.search(r"[\s'\\]", value):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = [
        ("host", url.host),
        ("port", str(url.port) if url.port else None),
        ("dbname", url.database),
    ]
    rendered = [f"{k}={one(v)}" for k, v in parts if v is not None]
    return " ".join(rendered + _auth_and_options(url, password_text, one, ("user", "password")))


def _auth_and_options(
    url: DbUrl, password_text: str | None, quote_value: Callable[[str], str], auth: tuple[str, str]
) -> list[str]:
    """`key=value` for the user, the password (`password_text` verbatim) and every option."""
    rendered = []
    if url.username is not None:
        rendered.append(f"{auth[0]}={quote_value(url.username)}")
    if password_text is not None:
        rendered.append(f"{auth[1]}={password_text}")
    elif url.password is not None:
        rendered.append(f"{auth[1]}={quote_value(url.password)}")
    return rendered + [f"{k}={quote_value(v)}" for k, v in url.query]


# --- JDBC --------------------------------------------------------------------------------------

_JDBC_TAKEN = tuple(
    "databasename database user password servername portnumber instancename".split()
)
_JDBC_MSSQL = re.compile(r"(?i)^jdbc:(?:sqlserver|jtds:sqlserver)://")


def _parse_jdbc(text: str) -> DbUrl:
    if _JDBC_MSSQL.match(text):
        rest = text[_JDBC_MSSQL.match(text).end() :]  # type: ignore[union-attr]
        hostpart, _, props_text = rest.partition(";")
        hostpart, _, path_db = hostpart.partition("/")  # jTDS puts the database in the path
        host, port = _host_port(hostpart, ":", text)
        host, _, instance = (host or "").partition("\\")
        props = [(k, v) for k, v in split_keywords(props_text)] if props_text.strip() else []
        query = [(k, v) for k, v in props if k.lower() not in _JDBC_TAKEN]
        instance = instance or (_get(props, ("instancename",)) or "")
        if instance:
            query.append(("instance", instance))
        return DbUrl(
            "mssql",
            None,
            username=_get(props, ("user",)),
            password=_get(props, ("password",)),
            host=host or _get(props, ("servername",)),
            port=port or (int(p) if (p := _get(props, ("portnumber",))) and p.isdigit() else None),
            database=_get(props, ("databasename", "database")) or path_db or None,
            query=tuple(query),
            form="jdbc",
        )
    lowered = text.lower()
    if lowered.startswith("jdbc:postgresql:"):
        inner = _parse_url("postgresql:" + text[len("jdbc:postgresql:") :])
        query = [(k, v) for k, v in inner.query if k.lower() not in ("user", "password")]
        return replace(
            inner,
            username=inner.option("user") or inner.username,
            password=inner.option("password")
            if inner.option("password") is not None
            else inner.password,
            query=tuple(query),
            form="jdbc",
        )
    if lowered.startswith("jdbc:sqlite:"):
        path = text[len("jdbc:sqlite:") :]
        return DbUrl("sqlite", None, database=path or None, form="jdbc")
    raise UnknownChoiceError(
        "JDBC subprotocol",
        text.split(":")[1] if ":" in text else text,
        ["sqlserver", "jtds:sqlserver", "postgresql", "sqlite"],
    )


def _render_jdbc(url: DbUrl, _scheme: str | None, password_text: str | None) -> str:
    if url.kind != "postgres":
        raise UsageError(f"only PostgreSQL targets render as JDBC here, not {url.kind}")
    port = f":{url.port}" if url.port else ""
    query: list[str] = []
    if url.username is not None:
        query.append("user=" + quote(url.username, safe=""))
    if password_text is not None:
        query.append("password=" + password_text)
    elif url.password is not None:
        query.append("password=" + quote(url.password, safe=""))
    query += [f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in url.query]
    tail = "?" + "&".join(query) if query else ""
    database = quote(url.database or "", safe="")
    return f"jdbc:postgresql://{url.host or 'localhost'}{port}/{database}{tail}"
