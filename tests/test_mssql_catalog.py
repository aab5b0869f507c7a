"""SQL Server catalog rows → the neutral schema model, the findings, and the plan the mapping makes of them."""

from __future__ import annotations

from mssql_rows import DATABASE, StaticSource, catalog_rows, col, reflection

from cutover.config import DatabaseConfig, Settings
from cutover.schema.mapping import map_schema
from cutover.sources import mssql_catalog as catalog
from cutover.sources import mssql_facts as facts
from cutover.sources.mssql_findings import folded_collisions, generated_suggestion


def codes(findings, table=None):
    return sorted({f.code for f in findings if table is None or f.table == table})


def test_tables_columns_and_types():
    schema = reflection().schema
    assert [t.name for t in schema.tables] == [
        "Users",
        "Orders",
        "AuditLog",
        "Prices",
        "PricesHistory",
        "SessionCache",
        "UserAccounts",
        "user_accounts",
    ]
    users = schema.table("Users")
    assert users.schema == "dbo" and users.has_rowid is False
    assert [(c.name, c.declared_type, c.nullable) for c in users.columns] == [
        ("id", "INT", False),
        ("email", "NVARCHAR(200)", False),
        ("name", "VARCHAR(50)", True),
        ("is_active", "BIT", False),
        ("balance", "MONEY", False),
        ("created", "DATETIME2(7)", False),
    ]
    assert (
        users.column("id").autoincrement
        and users.column("name").collation == "Korean_Wansung_CI_AS"
    )
    assert users.column("created").default == "(sysdatetime())"
    orders = schema.table("Orders")
    assert orders.column("amount").generated == "([qty]*[price])"
    assert orders.column("row_ver").declared_type == "ROWVERSION"
    assert orders.column("placed").declared_type == "DATETIMEOFFSET(7)"
    prices = schema.table("Prices")
    assert prices.column("valid_from").hidden and prices.column("valid_from").generated == "period"


def test_keys_indexes_and_constraints():
    schema = reflection().schema
    users, orders = schema.table("Users"), schema.table("Orders")
    assert users.primary_key == ["id"] and users.pk_name == "PK_Users"
    assert [(u.name, u.columns) for u in users.uniques] == [("UQ_Users_email", ["email"])]
    by_name = {i.name: i for i in orders.indexes}
    assert set(by_name) == {
        "IX_Orders_open",
        "IX_Orders_placed",
    }  # the columnstore index is reported, not carried
    assert by_name["IX_Orders_open"].column_names == [
        "user_id"
    ]  # INCLUDE columns are not key columns
    assert by_name["IX_Orders_open"].where == "[status] = 'open'"
    assert by_name["IX_Orders_placed"].columns[0].descending
    fk = orders.foreign_keys[0]
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete, fk.on_update) == (
        "FK_Orders_Users",
        ["user_id"],
        "Users",
        ["id"],
        "CASCADE",
        None,
    )
    assert [(c.name, c.expression) for c in orders.checks] == [
        ("CK_Orders_status", "[status] = 'closed' OR [status] = 'open'"),
        ("CK_Orders_total", "[total] >= 0"),
    ]
    assert schema.table("SessionCache").primary_key == [
        "token"
    ]  # a hash index can be the key of a memory-optimized table
    assert [t.name for t in schema.triggers] == ["TR_Orders_audit"] and [
        v.name for v in schema.views
    ] == ["vw_open_orders"]


def test_findings_like_a_premigration_assessment():
    findings = reflection().schema.findings
    assert "columnstore_index" in codes(findings, "Orders")
    assert {
        "computed_column",
        "rowversion",
        "trigger",
        "check_untranslated",
        "identity_increment",
    } <= set(codes(findings, "Orders"))
    assert {"temporal_table", "single_pass"} <= set(codes(findings, "Prices"))
    assert "temporal_history" in codes(findings, "PricesHistory")
    assert "memory_optimized" in codes(findings, "SessionCache")
    assert "disabled_check" in codes(findings, "Users") and "case_insensitive" in codes(
        findings, "Users"
    )
    assert codes(findings, "AuditLog").count("lossy_type") == 1 and "single_pass" in codes(
        findings, "AuditLog"
    )
    general = codes(findings)
    assert {
        "other_schema",
        "no_snapshot",
        "modules",
        "view",
        "identifier_collision",
        "mixed_case_names",
        "sub_microsecond",
        "char_padding",
    } <= set(general)
    ci = next(f for f in findings if f.code == "case_insensitive" and f.table == "Users")
    assert "citext" in (ci.fix or "") and "deterministic = false" in (ci.fix or "")
    computed = next(f for f in findings if f.code == "computed_column")
    assert (
        computed.fix
        == 'ALTER TABLE "Orders" DROP COLUMN "amount", ADD COLUMN "amount" <type> GENERATED ALWAYS AS ("qty" * "price") STORED'
    )
    untranslated = next(f for f in findings if f.code == "check_untranslated")
    assert (
        untranslated.subject == "check:CK_Orders_code"
    )  # verify accepts the omission by this subject
    other = next(f for f in findings if f.code == "other_schema")
    assert "schema=sales" in (other.fix or "") and 'target_schema = "sales"' in (other.fix or "")


def test_keys_used_for_paging():
    tables = reflection().tables
    assert tables["Users"].key == ["id"] and tables["SessionCache"].key == ["token"]
    assert tables["AuditLog"].key == []  # a heap: one ordered pass
    # Prices' varchar key is in code page 1252 in a 949 database: bytes → varchar would not round-trip
    assert tables["Prices"].key == []


def test_unique_not_null_key_pages_a_table_without_primary_key():
    rows = catalog.CatalogRows(
        [(1, "T", 0, None, False, "DURABLE")],
        [col(1, "code", "int", nullable=False), col(1, "v", "int")],
        [(1, "UX_T_code", 2, True, False, False, None, False, 1, False, False, "code")],
    )
    refl = catalog.reflect_rows("dbo", rows, facts.DatabaseFacts.from_row(DATABASE))
    assert refl.tables["T"].key == ["code"] and "keyset_on_unique" in codes(
        refl.schema.findings, "T"
    )


def test_identity_floors_continue_after_the_last_value():
    refl = reflection()
    assert refl.sequence_floors() == {"Users": 3, "Orders": 1010}
    unused = catalog.CatalogRows(
        [(1, "T", 0, None, False, "DURABLE")],
        [col(1, "id", "int", nullable=False, identity=(100, 1, None))],
    )
    assert catalog.reflect_rows(
        "dbo", unused, facts.DatabaseFacts.from_row(DATABASE)
    ).sequence_floors() == {"T": 99}


def test_identity_on_decimal_is_reported_not_carried():
    rows = catalog.CatalogRows(
        [(1, "T", 0, None, False, "DURABLE")],
        [col(1, "id", "decimal", 9, 18, 0, nullable=False, identity=(1, 1, 5))],
    )
    refl = catalog.reflect_rows("dbo", rows, facts.DatabaseFacts.from_row(DATABASE))
    assert not refl.schema.table("T").column("id").autoincrement and "identity_type" in codes(
        refl.schema.findings
    )


def test_disabled_and_untrusted_foreign_keys():
    base = catalog_rows()
    base.foreign_keys = [
        (102, "FK_off", "dbo", "Users", "NO_ACTION", "NO_ACTION", True, False, "user_id", "id"),
        (102, "FK_nocheck", "dbo", "Users", "SET_NULL", "CASCADE", False, True, "qty", "id"),
    ]
    refl = catalog.reflect_rows("dbo", base, facts.DatabaseFacts.from_row(DATABASE))
    fks = refl.schema.table("Orders").foreign_keys
    assert [(f.name, f.on_delete, f.on_update) for f in fks] == [
        ("FK_nocheck", "SET NULL", "CASCADE")
    ]
    assert {"disabled_foreign_key", "untrusted_foreign_key"} <= set(
        codes(refl.schema.findings, "Orders")
    )


def test_snapshot_isolation_on_without_memory_optimized_tables_has_no_finding():
    rows = catalog.CatalogRows(
        [(1, "T", 0, None, False, "DURABLE")],
        [col(1, "id", "int", nullable=False)],
        [(1, "PK_T", 1, True, True, False, None, False, 1, False, False, "id")],
    )
    on = facts.DatabaseFacts.from_row(DATABASE[:5] + ("ON",) + DATABASE[6:])
    assert "no_snapshot" not in codes(catalog.reflect_rows("dbo", rows, on).schema.findings)


def test_folding_collisions_and_generated_suggestions():
    assert folded_collisions(["UserId", "user_id", "Other", "OTHER", "x"]) == [
        ["UserId", "user_id"],
        ["OTHER", "Other"],
    ]
    assert (
        generated_suggestion("t", "c", "(getdate())", {"a"}) is None
    )  # a function Postgres spells differently
    assert (
        generated_suggestion("t", "full", "(([first]+N' ')+[last])", {"first", "last"}) is None
    )  # '+' next to text is concatenation


def test_plan_of_the_reflected_schema():
    db = DatabaseConfig(
        name="chat",
        env_key="RSL_DATABASE_URL",
        source="mssql+pyodbc://sa@db/chat?driver=FreeTDS",
        target="postgresql://localhost/chat",
    )
    plan = map_schema(StaticSource(), db, Settings())
    users, orders, log = plan.table("Users"), plan.table("Orders"), plan.table("AuditLog")
    ident = users.identity_column
    assert (
        ident is not None
        and (ident.name, ident.pg_type) == ("id", "integer")
        and users.sequence_floor == 3
    )
    assert (
        orders.identity_column is not None
        and orders.identity_column.pg_type == "bigint"
        and orders.sequence_floor == 1010
    )
    defaults = {
        (t.source.name, c.source): c.default for t in plan.tables for c in t.columns if c.default
    }
    assert defaults == {
        ("Users", "is_active"): "true",
        ("Users", "balance"): "0",
        ("Users", "created"): "LOCALTIMESTAMP",
        ("Orders", "status"): "'open'",
        ("Orders", "qty"): "1",
        ("Orders", "placed"): "now()",
        ("AuditLog", "event_id"): "gen_random_uuid()",
        ("AuditLog", "legacy"): "LOCALTIMESTAMP",
    }
    assert [(c.name, c.expression) for c in orders.checks] == [
        ("CK_Orders_status", "\"status\" = 'closed' OR \"status\" = 'open'"),
        ("CK_Orders_total", '"total" >= 0'),
    ]
    assert [(f.name, f.ref_table) for f in orders.foreign_keys] == [("FK_Orders_Users", "Users")]
    assert {i.name for i in orders.indexes} == {"IX_Orders_open", "IX_Orders_placed"}
    types = {c.source: c.pg_type for c in log.columns}
    assert (
        types["payload"] == "xml"
        and types["at"] == "timestamptz"
        and types["event_id"] == "uuid"
        and types["loc"] == "text"
    )
    # LEN() is not translated (it ignores trailing spaces): reported by the mapping, not created
    assert any(f.code == "check_untranslated" and f.table == "Users" for f in plan.findings)
    assert {c.coercion for t in plan.tables for c in t.columns} == {"identity"}
