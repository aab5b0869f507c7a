"""A SQL Server source URL in each form → the driver connection it asks for."""

from __future__ import annotations

import pytest

from cutover.errors import SourceError, UsageError
from cutover.sources.mssql_connect import connect_spec, connection_hint

DRIVERS = ["FreeTDS", "ODBC Driver 18 for SQL Server"]


def test_sqlalchemy_pyodbc_url_with_driver_and_schema():
    spec = connect_spec(
        "mssql+pyodbc://sa:p%40ss@db.example:1433/chat?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes&schema=sales",
        odbc_drivers=DRIVERS,
    )
    assert spec.dbapi == "pyodbc" and spec.schema == "sales" and spec.placeholder == "?"
    assert (
        spec.odbc
        == "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db.example,1433;DATABASE=chat;UID=sa;PWD=p@ss;TrustServerCertificate=yes"
    )


def test_sqlalchemy_url_without_database_is_a_dsn():
    assert connect_spec("mssql+pyodbc://sa:pw@mydsn").odbc == "DSN=mydsn;UID=sa;PWD=pw"


def test_sqlalchemy_url_without_driver_uses_an_installed_one():
    spec = connect_spec(
        "mssql+pyodbc://sa:pw@db/chat", odbc_drivers=["ODBC Driver 17 for SQL Server"]
    )
    assert (
        spec.odbc == "DRIVER={ODBC Driver 17 for SQL Server};SERVER=db;DATABASE=chat;UID=sa;PWD=pw"
        and spec.notes
    )
    with pytest.raises(SourceError, match="no ODBC driver"):
        connect_spec("mssql+pyodbc://sa:pw@db/chat", odbc_drivers=[])


def test_freetds_gets_its_tds_version_and_client_charset():
    spec = connect_spec("mssql+pyodbc://sa:pw@db:1433/chat?driver=FreeTDS")
    assert (
        spec.odbc
        == "DRIVER={FreeTDS};SERVER=db;PORT=1433;DATABASE=chat;UID=sa;PWD=pw;TDS_Version=7.4;ClientCharset=UTF-8"
    )
    assert spec.freetds
    mine = connect_spec(
        "DRIVER={FreeTDS};SERVER=db;PORT=1433;DATABASE=chat;UID=sa;PWD={p;w};TDS_Version=7.3"
    )
    assert (
        mine.odbc
        == "DRIVER={FreeTDS};SERVER=db;PORT=1433;DATABASE=chat;UID=sa;PWD={p;w};TDS_Version=7.3;ClientCharset=UTF-8"
    )


def test_odbc_connect_form():
    spec = connect_spec(
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Ddb%3BDATABASE%3Dchat%3BUID%3Dsa%3BPWD%3Dpw%3BEncrypt%3Dno"
    )
    assert (
        spec.odbc
        == "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db;DATABASE=chat;UID=sa;PWD=pw;Encrypt=no"
    )


def test_pymssql_url():
    spec = connect_spec("mssql+pymssql://sa:pw@db:1433/chat?schema=ops")
    assert (
        spec.dbapi,
        spec.host,
        spec.port,
        spec.database,
        spec.username,
        spec.password,
        spec.schema,
    ) == ("pymssql", "db", 1433, "chat", "sa", "pw", "ops")
    assert spec.options == (("tds_version", "7.4"),) and spec.placeholder == "%s"


def test_ado_string_maps_its_keywords_to_odbc():
    spec = connect_spec(
        "Server=tcp:db.example,1433;Database=chat;User Id=sa;Password=pw;TrustServerCertificate=True;Encrypt=True;Pooling=false;Connect Timeout=5",
        odbc_drivers=DRIVERS,
    )
    assert (
        spec.odbc
        == "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db.example,1433;DATABASE=chat;UID=sa;PWD=pw;TrustServerCertificate=yes;Encrypt=yes"
    )
    assert spec.timeout == 5 and "Pooling" in spec.notes[0]


def test_ado_string_with_instance_and_no_odbc_driver_uses_pymssql():
    spec = connect_spec(
        "Server=db\\SQLEXPRESS;Database=chat;User Id=sa;Password=pw", odbc_drivers=[]
    )
    assert spec.dbapi == "pymssql" and spec.host == "db\\SQLEXPRESS" and spec.database == "chat"
    with pytest.raises(SourceError, match="no SQL Server driver"):
        connect_spec(
            "Server=db;Database=chat;User Id=sa;Password=pw",
            odbc_drivers=[],
            pymssql_available=False,
        )


def test_jdbc_string():
    spec = connect_spec(
        "jdbc:sqlserver://db:1433;databaseName=chat;user=sa;password=pw;encrypt=true;trustServerCertificate=true",
        odbc_drivers=DRIVERS,
    )
    assert (
        spec.odbc
        == "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db,1433;DATABASE=chat;UID=sa;PWD=pw;Encrypt=yes;TrustServerCertificate=yes"
    )


def test_unknown_driver_and_other_kinds_are_refused():
    with pytest.raises(UsageError, match="pymssql, pyodbc"):
        connect_spec("mssql+aioodbc://sa@db/chat")
    with pytest.raises(UsageError, match="not a SQL Server URL"):
        connect_spec("postgresql://localhost/chat")


def test_specs_never_show_the_password():
    for url in (
        "mssql+pymssql://sa:s3cret@db/chat",
        "mssql+pyodbc://sa:s3cret@db/chat?driver=FreeTDS",
    ):
        assert "s3cret" not in repr(connect_spec(url))


@pytest.mark.parametrize(
    "message, fragment",
    [
        (
            "[Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: certificate verify failed",
            "TrustServerCertificate=yes",
        ),
        (
            "[unixODBC][Driver Manager]Can't open lib 'ODBC Driver 18 for SQL Server' : file not found",
            "not installed",
        ),
        ("Login failed for user 'sa'.", "password"),
        ("Adaptive Server connection timed out", "reachable"),
    ],
)
def test_connection_hints(message, fragment):
    assert fragment in connection_hint(message)


def test_unreachable_server_is_a_source_error_without_the_password():
    pytest.importorskip("pymssql", reason="pymssql is part of cutover[mssql]")
    from cutover.sources import open_source

    with pytest.raises(SourceError) as caught:
        open_source("mssql+pymssql://sa:s3cret@127.0.0.1:1/chat")
    assert "s3cret" not in caught.value.render() and "cannot connect" in str(caught.value)
