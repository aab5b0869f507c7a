"""How to reach a SQL Server: a source URL in any form `urls.parse` reads → a SQLAlchemy engine.

Two DBAPI drivers, each through SQLAlchemy's mssql dialect:

- ``mssql+pyodbc``: an ODBC driver (Microsoft's "ODBC Driver 18 for SQL Server", or FreeTDS's
  ``tdsodbc``) through pyodbc, which needs the system's unixODBC (``libodbc.so.2``);
- ``mssql+pymssql``: pymssql, whose wheels carry FreeTDS: nothing to install but the wheel.

A SQLAlchemy URL keeps SQLAlchemy's meaning (``?driver=…`` names the ODBC driver; without one,
the host is an ODBC DSN). An ODBC string goes to pyodbc as written. ADO.NET and JDBC strings carry
no driver: the first installed ODBC driver for SQL Server is used, else pymssql. The option
``schema`` (in any form) chooses the SQL Server schema to read (default ``dbo``) and is not sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cutover import urls
from cutover.errors import SourceError, UsageError
from cutover.urls import (
    _quote_keyword_value as quote_odbc_value,
)  # one quoting rule for ODBC values

PREFERRED_ODBC_DRIVERS = (
    "ODBC Driver 18 for SQL Server",
    "ODBC Driver 17 for SQL Server",
    "FreeTDS",
)
FREETDS_TDS_VERSION = (
    "7.4"  # 7.3+ is what carries date, time, datetime2 and datetimeoffset as themselves
)
PYMSSQL_TDS_VERSION = "7.4"
LOGIN_TIMEOUT_S = 30  # a wrong host fails within this, instead of the driver's default wait

_CUTOVER_OPTIONS = {"schema"}
_SQLALCHEMY_OPTIONS = {"driver", "odbc_connect", "odbc_autotranslate", "fast_executemany"}
# ADO.NET / JDBC keywords with an ODBC equivalent (lower-cased, spaces removed); the others are
# ignored, with a note
_PORTABLE_KEYWORDS = {
    "encrypt": "Encrypt",
    "trustservercertificate": "TrustServerCertificate",
    "integratedsecurity": "Trusted_Connection",
    "trusted_connection": "Trusted_Connection",
    "multipleactiveresultsets": "MARS_Connection",
    "applicationname": "APP",
    "app": "APP",
    "applicationintent": "ApplicationIntent",
    "multisubnetfailover": "MultiSubnetFailover",
    "hostnameincertificate": "HostNameInCertificate",
}
_TIMEOUT_KEYWORDS = {"connecttimeout", "connectiontimeout", "timeout", "logintimeout"}
_BOOLEANS = {"true": "yes", "false": "no", "sspi": "yes"}


@dataclass(frozen=True)
class ConnectSpec:
    """Everything needed to connect: which DBAPI, its
    connection string or arguments, the schema to read.
    """

    dbapi: str
    schema: str
    odbc: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    options: tuple[tuple[str, str], ...] = ()
    timeout: int = LOGIN_TIMEOUT_S
    notes: tuple[str, ...] = ()

    @property
    def placeholder(self) -> str:
        return "?" if self.dbapi == "pyodbc" else "%s"

    @property
    def freetds(self) -> bool:
        """Whether the ODBC driver is FreeTDS (its keywords differ from Microsoft's)."""
        return self.dbapi == "pymssql" or bool(
            self.odbc and re.search(r"(?i)driver\s*=\s*\{?[^;]*(freetds|tdsodbc)", self.odbc)
        )


def connect_spec(
    url: str, *, odbc_drivers: list[str] | None = None, pymssql_available: bool = True
) -> ConnectSpec:
    """The connection a source URL asks for; `odbc_drivers` are the installed ODBC drivers
    (pyodbc.drivers()).
    """
    parsed = urls.parse(url)
    if parsed.kind != "mssql":
        raise UsageError(f"not a SQL Server URL: {urls.redact(url)}")
    schema = parsed.option(*_CUTOVER_OPTIONS) or "dbo"
    options = [(k, v) for k, v in parsed.query if k.lower() not in _CUTOVER_OPTIONS]
    if parsed.form == "url" and parsed.driver == "pymssql":
        opts = [(k, v) for k, v in options if k.lower() not in _SQLALCHEMY_OPTIONS]
        if not any(k.lower() == "tds_version" for k, _ in opts):
            opts.append(("tds_version", PYMSSQL_TDS_VERSION))
        return ConnectSpec(
            "pymssql",
            schema,
            host=_server(parsed.host, parsed.option("instance"), None, "\\"),
            port=parsed.port,
            database=parsed.database,
            username=parsed.username,
            password=parsed.password,
            options=tuple((k, v) for k, v in opts if k.lower() != "instance"),
        )
    if parsed.form == "url" and parsed.driver not in (None, "pyodbc"):
        raise UnknownDriver(parsed.driver or "")
    notes: list[str] = []
    timeout = LOGIN_TIMEOUT_S
    if parsed.form in ("ado", "jdbc"):
        driver = next((d for d in PREFERRED_ODBC_DRIVERS if d in (odbc_drivers or [])), None)
        kept: list[tuple[str, str]] = []
        ignored: list[str] = []
        for key, value in options:
            norm = re.sub(r"\s+", "", key).lower()
            if norm in _TIMEOUT_KEYWORDS and value.strip().isdigit():
                timeout = int(value)
            elif norm in _PORTABLE_KEYWORDS:
                kept.append((_PORTABLE_KEYWORDS[norm], _BOOLEANS.get(value.strip().lower(), value)))
            elif norm != "instance":
                ignored.append(key)
        if ignored:
            notes.append(
                "connection keywords without an ODBC equivalent were ignored: " + ", ".join(ignored)
            )
        if driver is None:
            if not pymssql_available:
                raise SourceError(
                    "no SQL Server driver is installed",
                    hint="pip install pymssql (needs nothing else), or install unixODBC with "
                    "ODBC Driver 18 or FreeTDS (docs/mssql.md)",
                )
            notes.append("no ODBC driver for SQL Server is installed; using pymssql")
            return ConnectSpec(
                "pymssql",
                schema,
                host=_server(parsed.host, parsed.option("instance"), None, "\\"),
                port=parsed.port,
                database=parsed.database,
                username=parsed.username,
                password=parsed.password,
                options=(("tds_version", PYMSSQL_TDS_VERSION),),
                timeout=timeout,
                notes=tuple(notes),
            )
        return ConnectSpec(
            "pyodbc",
            schema,
            odbc=odbc_string(driver, parsed, kept),
            timeout=timeout,
            notes=tuple(notes),
        )
    if parsed.form == "odbc":
        passthrough = [(k, v) for k, v in options if k.lower() != "instance"]
        driver = parsed.option("driver")
        dsn = parsed.option("dsn")
        rest = [(k, v) for k, v in passthrough if k.lower() not in ("driver", "dsn")]
        return ConnectSpec("pyodbc", schema, odbc=odbc_string(driver, parsed, rest, dsn=dsn))
    # SQLAlchemy URL: ?driver= names the ODBC driver; a host without a database is a DSN
    # (SQLAlchemy's rule)
    driver = parsed.option("driver")
    rest = [
        (k, v) for k, v in options if k.lower() not in _SQLALCHEMY_OPTIONS | {"instance", "dsn"}
    ]
    dsn = parsed.option("dsn") or (parsed.host if driver is None and not parsed.database else None)
    if dsn is None and driver is None:
        driver = next((d for d in PREFERRED_ODBC_DRIVERS if d in (odbc_drivers or [])), None)
        if driver is None:
            raise SourceError(
                f"the URL names no ODBC driver and none is installed: {urls.redact(url)}",
                hint="add ?driver=ODBC+Driver+18+for+SQL+Server (or FreeTDS), or use "
                "mssql+pymssql://… (docs/mssql.md)",
            )
        notes.append(f"no ?driver= in the URL; using the installed {driver}")
    return ConnectSpec(
        "pyodbc", schema, odbc=odbc_string(driver, parsed, rest, dsn=dsn), notes=tuple(notes)
    )


class UnknownDriver(UsageError):
    """A mssql+<driver>:// URL with a driver cutover does not read through."""

    def __init__(self, driver: str) -> None:
        super().__init__(
            f"unknown SQL Server driver {driver!r}; expected one of: pymssql, pyodbc",
            hint="mssql+pyodbc://… (with ?driver=ODBC+Driver+18+for+SQL+Server) or "
            "mssql+pymssql://…",
        )


def _server(host: str | None, instance: str | None, port: int | None, sep: str) -> str | None:
    if host is None:
        return None
    text = host + (f"\\{instance}" if instance else "")
    return text + (f"{sep}{port}" if port else "")


def odbc_string(
    driver: str | None, parsed: urls.DbUrl, options: list[tuple[str, str]], dsn: str | None = None
) -> str:
    """DRIVER={…};SERVER=…;DATABASE=…;UID=…;PWD=…;…
    with FreeTDS's own spelling of server and port.
    """
    parts: list[tuple[str, str]] = []
    freetds = bool(driver and re.search(r"(?i)freetds|tdsodbc", driver))
    if dsn:
        parts.append(("DSN", dsn))
    if driver:
        parts.append(
            ("DRIVER", "{" + driver.strip("{}").replace("}", "}}") + "}")
        )  # always braced: names have spaces
    if parsed.host and not (dsn and dsn == parsed.host):
        instance = parsed.option("instance")
        if freetds:
            parts.append(("SERVER", _server(parsed.host, instance, None, ",") or ""))
            if parsed.port:
                parts.append(("PORT", str(parsed.port)))
        else:
            parts.append(("SERVER", _server(parsed.host, instance, parsed.port, ",") or ""))
    if parsed.database:
        parts.append(("DATABASE", parsed.database))
    if parsed.username is not None:
        parts.append(("UID", parsed.username))
    if parsed.password is not None:
        parts.append(("PWD", parsed.password))
    given = {k.lower().replace(" ", "_") for k, _ in options}
    parts += options
    if freetds:
        if "tds_version" not in given:
            parts.append(("TDS_Version", FREETDS_TDS_VERSION))
        if "clientcharset" not in given:
            parts.append(("ClientCharset", "UTF-8"))
    return ";".join(
        f"{k}={v}" if k == "DRIVER" else f"{k}={quote_odbc_value(v, True)}" for k, v in parts
    )


def create_engine(spec: ConnectSpec) -> Any:
    """A SQLAlchemy engine for the spec (no pool: one connection, closed with the source)."""
    import sqlalchemy as sa

    if spec.dbapi == "pyodbc":
        try:
            import pyodbc  # noqa: F401 - fails here, with a clear hint, when libodbc is missing
        except ImportError as exc:
            raise SourceError(
                f"pyodbc cannot be loaded: {exc}",
                hint="install unixODBC and an ODBC driver (apt-get install unixodbc tdsodbc, or "
                "Microsoft's msodbcsql18), or use mssql+pymssql://… which needs neither "
                "(docs/mssql.md)",
            ) from exc
        url = sa.engine.URL.create("mssql+pyodbc", query={"odbc_connect": spec.odbc or ""})
        connect_args: dict[str, Any] = {"timeout": spec.timeout}
    else:
        try:
            import pymssql  # noqa: F401
        except ImportError as exc:
            raise SourceError(
                f"pymssql is not installed: {exc}", hint="pip install pymssql (or cutover[mssql])"
            ) from exc
        url = sa.engine.URL.create(
            "mssql+pymssql",
            username=spec.username,
            password=spec.password,
            host=spec.host,
            port=spec.port,
            database=spec.database,
            query=dict(spec.options),
        )
        connect_args = {"login_timeout": spec.timeout}
    return sa.create_engine(
        url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT", connect_args=connect_args
    )


def connection_hint(message: str) -> str:
    """What to try, from the text of a driver's connection error."""
    text = message.lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return (
            "ODBC Driver 18 encrypts and checks the server certificate by default: add "
            "TrustServerCertificate=yes for a self-signed one (or Encrypt=no on a trusted "
            "network)"
        )
    if "can't open lib" in text or "data source name not found" in text or "file not found" in text:
        return (
            "the ODBC driver named in the URL is not installed; see docs/mssql.md (odbcinst "
            "-q -d lists the installed ones)"
        )
    if "login failed" in text:
        return "check the user name and password (and that SQL Server authentication is enabled)"
    return (
        "is the server reachable (host, port 1433, firewall) and the URL right? "
        "docs/mssql.md shows working URLs"
    )


def installed_odbc_drivers() -> list[str]:
    """pyodbc.drivers(), or [] when pyodbc (libodbc) cannot be loaded."""
    try:
        import pyodbc
    except ImportError:
        return []
    return list(pyodbc.drivers())


def pymssql_installed() -> bool:
    """Whether pymssql can be imported."""
    try:
        import pymssql  # noqa: F401
    except ImportError:
        return False
    return True
