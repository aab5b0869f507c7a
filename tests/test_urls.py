"""cutover.urls: every connection-string form users have, parsed, rendered and redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutover import redaction, urls
from cutover.errors import UnknownChoiceError, UsageError

SECRET = "S3cr@t;P/w}d"


@pytest.mark.parametrize(
    ("text", "kind", "driver", "host", "port", "database"),
    [
        ("sqlite:///rel.db", "sqlite", None, None, None, "rel.db"),
        ("sqlite:////abs/path/app.db", "sqlite", None, None, None, "/abs/path/app.db"),
        ("sqlite+aiosqlite:///./data/rsl.db", "sqlite", "aiosqlite", None, None, "./data/rsl.db"),
        ("sqlite+pysqlite:///:memory:", "sqlite", "pysqlite", None, None, ":memory:"),
        (
            "mssql+pyodbc://sa:pw@sql01:1433/rsl?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes",
            "mssql",
            "pyodbc",
            "sql01",
            1433,
            "rsl",
        ),
        ("mssql+pymssql://reg:pw@mssql/registry", "mssql", "pymssql", "mssql", None, "registry"),
        (
            "mssql+aioodbc://u:p@db.corp:1444/routing?driver=ODBC+Driver+17+for+SQL+Server",
            "mssql",
            "aioodbc",
            "db.corp",
            1444,
            "routing",
        ),
        ("postgresql://u:p@pg/app", "postgres", None, "pg", None, "app"),
        ("postgres://u:p@pg:5433/app", "postgres", None, "pg", 5433, "app"),
        ("postgresql+psycopg2://u@pg/app", "postgres", "psycopg2", "pg", None, "app"),
        ("postgresql+asyncpg://u:p@[::1]:5432/app", "postgres", "asyncpg", "::1", 5432, "app"),
    ],
)
def test_parse_sqlalchemy_urls(
    text: str, kind: str, driver: str | None, host: str | None, port: int | None, database: str
) -> None:
    parsed = urls.parse(text)
    assert (parsed.kind, parsed.driver, parsed.host, parsed.port, parsed.database, parsed.form) == (
        kind,
        driver,
        host,
        port,
        database,
        "url",
    )


def test_parse_percent_encoded_password() -> None:
    parsed = urls.parse("mssql+pyodbc://sa:S3cr%40t%21%2F@sql01/rsl")
    assert parsed.password == "S3cr@t!/"
    assert urls.render(parsed) == "mssql+pyodbc://sa:S3cr%40t%21%2F@sql01/rsl"


def test_parse_keeps_mssql_options_as_query() -> None:
    parsed = urls.parse(
        "mssql+pyodbc://sa:pw@sql01/rsl?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes"
    )
    assert parsed.option("DRIVER") == "ODBC Driver 18 for SQL Server"
    assert parsed.option("trustservercertificate") == "yes"


def test_parse_odbc_string() -> None:
    parsed = urls.parse(
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=tcp:sql01.corp,1433;DATABASE=rsl;UID=app;PWD={p;w}}d};Encrypt=yes"
    )
    assert (
        parsed.kind,
        parsed.form,
        parsed.host,
        parsed.port,
        parsed.database,
        parsed.username,
        parsed.password,
    ) == (
        "mssql",
        "odbc",
        "sql01.corp",
        1433,
        "rsl",
        "app",
        "p;w}d",
    )
    assert parsed.option("encrypt") == "yes"


def test_parse_odbc_named_instance() -> None:
    parsed = urls.parse(
        r"Driver={ODBC Driver 17 for SQL Server};Server=sql01\SQLEXPRESS;Database=reg;Trusted_Connection=yes"
    )
    assert (parsed.host, parsed.port, parsed.option("instance"), parsed.username) == (
        "sql01",
        None,
        "SQLEXPRESS",
        None,
    )


def test_parse_ado_net_string() -> None:
    text = 'Server=tcp:sql02.database.windows.net,1433;Initial Catalog=routing;User ID=router;Password="a;b";Encrypt=True;TrustServerCertificate=False;Connection Timeout=30;'
    parsed = urls.parse(text)
    assert (
        parsed.kind,
        parsed.form,
        parsed.host,
        parsed.port,
        parsed.database,
        parsed.username,
        parsed.password,
    ) == (
        "mssql",
        "ado",
        "sql02.database.windows.net",
        1433,
        "routing",
        "router",
        "a;b",
    )
    assert parsed.option("connection timeout") == "30"


def test_parse_npgsql_and_conninfo_are_postgres() -> None:
    assert urls.parse("Host=pg;Port=5432;Database=app;Username=u;Password=p").kind == "postgres"
    conninfo = urls.parse(
        "host=localhost port=5432 dbname=app user=app password='s e c' sslmode=require"
    )
    assert (conninfo.kind, conninfo.form, conninfo.password, conninfo.option("sslmode")) == (
        "postgres",
        "conninfo",
        "s e c",
        "require",
    )


def test_parse_jdbc() -> None:
    mssql = urls.parse(
        "jdbc:sqlserver://sql03:1433;databaseName=registry;user=reg;password=JdbcPw1;encrypt=true;trustServerCertificate=true"
    )
    assert (
        mssql.kind,
        mssql.form,
        mssql.host,
        mssql.port,
        mssql.database,
        mssql.username,
        mssql.password,
    ) == ("mssql", "jdbc", "sql03", 1433, "registry", "reg", "JdbcPw1")
    pg = urls.parse("jdbc:postgresql://pg:5432/app?user=u&password=x&sslmode=require")
    assert (pg.kind, pg.username, pg.password, pg.query) == (
        "postgres",
        "u",
        "x",
        (("sslmode", "require"),),
    )
    assert urls.parse("jdbc:sqlite:/data/app.db").database == "/data/app.db"


def test_parse_odbc_connect_url() -> None:
    parsed = urls.parse(
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Dsql01%3BDATABASE%3Drsl%3BUID%3Dapp%3BPWD%3DEnc0ded%21"
    )
    assert (parsed.kind, parsed.driver, parsed.host, parsed.database, parsed.password) == (
        "mssql",
        "pyodbc",
        "sql01",
        "rsl",
        "Enc0ded!",
    )


def test_parse_raw_special_characters_in_password() -> None:
    # what config.load gives for target = "postgresql://app:${POSTGRES_PASSWORD}@…" with a raw password
    parsed = urls.parse("postgresql://app:N3w/Us#er@Pg!@localhost:5432/rsl?sslmode=require")
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "app",
        "N3w/Us#er@Pg!",
        "localhost",
        5432,
        "rsl",
    )
    assert urls.parse("postgresql://h/db?application_name=a@b").host == "h"
    assert "Us#er" not in urls.redact("postgresql://app:N3w/Us#er@Pg!@localhost:5432/rsl")


def test_parse_keeps_host_case_and_references() -> None:
    parsed = urls.parse("postgresql://${POSTGRES_USER}:${POSTGRES_PW}@${POSTGRES_HOST}/app")
    assert (parsed.username, parsed.password, parsed.host) == (
        "${POSTGRES_USER}",
        "${POSTGRES_PW}",
        "${POSTGRES_HOST}",
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not a url", UsageError),
        ("redis://localhost:6379/0", UnknownChoiceError),
        ("sqlite://relative.db", UsageError),
        ("postgresql://u@h:${PORT}/db", UsageError),
        ("jdbc:mysql://h/db", UnknownChoiceError),
        ("Foo=bar;Baz=1", UsageError),
    ],
)
def test_parse_errors(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        urls.parse(text)


def test_sniff_reads_templated_urls_by_scheme() -> None:
    assert urls.sniff("mssql+pyodbc://${U}:${P}@${HOST}:${PORT}/db") == ("mssql", "url")
    assert urls.sniff("jdbc:sqlserver://${HOST}:${PORT};databaseName=x") in (("mssql", "jdbc"),)
    assert urls.sniff("redis://localhost") is None
    assert urls.kind_of("hello") is None


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://u:{SECRET.replace(';', '%3B').replace('/', '%2F').replace('}', '%7D').replace('@', '%40')}@h/db",
        "postgresql://u:S3cr@t;P/w}d@h/db",
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=h;UID=u;PWD={S3cr@t;P/w}}d};Encrypt=yes",
        'Server=h;Database=d;User Id=u;Password="S3cr@t;P/w}d";Encrypt=True',
        "Server=h;Database=d;User Id=u;Password=S3cr@t P/w}d;Encrypt=True",
        "jdbc:sqlserver://h:1433;databaseName=d;user=u;password=S3cr@t/w}d;encrypt=true",
        "host=h dbname=d user=u password='S3cr@t;P/w}d' sslmode=require",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC%7D%3BUID%3Du%3BPWD%3DS3cr%40t%3BEncrypt%3Dyes",
    ],
)
def test_redact_hides_password_in_every_form(text: str) -> None:
    shown = urls.redact(text)
    for fragment in ("S3cr", "w}d", "%40t"):
        assert fragment not in shown
    assert redaction.REDACTED in shown


def test_redact_keeps_everything_else() -> None:
    assert (
        urls.redact("mssql+pyodbc://sa:pw@sql01:1433/rsl?driver=X&TrustServerCertificate=yes")
        == "mssql+pyodbc://sa:***@sql01:1433/rsl?driver=X&TrustServerCertificate=yes"
    )
    assert (
        urls.redact("DRIVER={X};SERVER=h;PWD=pw;Encrypt=yes")
        == "DRIVER={X};SERVER=h;PWD=***;Encrypt=yes"
    )
    assert urls.redact("host=h password=pw dbname=d") == "host=h password=*** dbname=d"
    assert urls.redact("postgresql://h:5432/db") == "postgresql://h:5432/db"
    assert urls.redact("sqlite:////abs.db") == "sqlite:////abs.db"


def test_redact_keeps_references_readable() -> None:
    assert (
        urls.redact("postgresql://u:${POSTGRES_PASSWORD}@h/db")
        == "postgresql://u:${POSTGRES_PASSWORD}@h/db"
    )
    assert urls.redact("Password=${DB_PW};Host=h") == "Password=${DB_PW};Host=h"
    assert urls.redact("postgresql://u:${P:-fallback}@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize("form", ["url", "jdbc", "ado", "odbc", "conninfo"])
def test_render_as_postgres_forms_round_trip(form: str) -> None:
    target = urls.DbUrl(
        "postgres", None, "app", "p@ss word", "pg.internal", 5432, "rsl", (("sslmode", "require"),)
    )
    text = urls.render_as(target, form, scheme="postgresql")
    back = urls.parse(text)
    assert (back.kind, back.host, back.port, back.database, back.username, back.password) == (
        "postgres",
        "pg.internal",
        5432,
        "rsl",
        "app",
        "p@ss word",
    )


def test_render_as_writes_password_text_verbatim() -> None:
    target = urls.parse("postgresql://app:secret@pg/rsl")
    assert (
        urls.render_as(
            target, "url", scheme="postgresql+asyncpg", password_text="${POSTGRES_PASSWORD}"
        )
        == "postgresql+asyncpg://app:${POSTGRES_PASSWORD}@pg/rsl"
    )
    with pytest.raises(UnknownChoiceError):
        urls.render_as(target, "yaml")


def test_existing_helpers_keep_their_behaviour(tmp_path: Path) -> None:
    assert urls.sqlite_path("sqlite:///data/app.db", tmp_path) == tmp_path / "data/app.db"
    assert urls.sqlite_path("sqlite:////abs/app.db", tmp_path) == Path("/abs/app.db")
    assert (
        urls.postgres_conninfo("postgresql+psycopg://u:p%40@h:5432/db")
        == "postgresql://u:p%40@h:5432/db"
    )
    assert urls.sqlalchemy_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert urls.with_database("postgresql://u:p@h/db", "other") == "postgresql://u:p@h/other"
    assert (
        urls.render(urls.parse("postgresql://u:p@h/db"), hide_password=True)
        == "postgresql://u:***@h/db"
    )
    with pytest.raises(UsageError):
        urls.postgres_conninfo("sqlite:///x.db")
