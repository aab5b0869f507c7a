"""Phase 2 end to end: what lands in Postgres looks like what a Postgres developer would write."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import rows

from cutover.errors import SchemaMismatchError, UsageError

APP = """
CREATE TABLE "Order Details" (
    "OrderID" INTEGER NOT NULL,
    "ProductID" INTEGER NOT NULL,
    "UnitPrice" NUMERIC(10, 2) NOT NULL DEFAULT 0,
    "Quantity" SMALLINT NOT NULL DEFAULT 1,
    PRIMARY KEY ("OrderID", "ProductID")
);
CREATE TABLE "user" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(200) NOT NULL UNIQUE,
    "select" TEXT,
    bio TEXT,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE post (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    title VARCHAR(120) NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT 0,
    body TEXT
);
CREATE INDEX post_live ON post (user_id) WHERE deleted = 0;
CREATE INDEX post_title_lower ON post (lower(title));
CREATE INDEX post_weird ON post (json_extract(body, '$.x'));
INSERT INTO "user" (id, email, "select", active, created_at) VALUES (1, 'a@x.kr', 'one', 1, '2024-01-01 00:00:00'), (2, 'b@x.kr', NULL, 0, '2024-01-02 00:00:00'), (7, 'c@x.kr', 'three', 1, '2024-01-03 00:00:00');
DELETE FROM "user" WHERE id = 7;
INSERT INTO post VALUES (1, 1, '첫 글', 0, '{"x": 1}'), (2, 2, 'Second', 1, NULL);
INSERT INTO "Order Details" VALUES (10248, 11, 14.0, 12), (10248, 42, 9.8, 10);
"""


@pytest.fixture
def app_db(make_sqlite):
    return make_sqlite(APP)


def columns(pg, table):
    return rows(
        pg,
        "SELECT column_name, data_type, character_maximum_length, is_nullable, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        table,
    )


def test_names_types_nullability_and_lengths_kept(app_db, load, pg):
    result = load(app_db)
    assert all(r.reconciled and r.rejected == 0 for r in result.reports[0].results)
    assert columns(pg, "Order Details") == [
        ("OrderID", "integer", None, "NO", 32, 0),
        ("ProductID", "integer", None, "NO", 32, 0),
        ("UnitPrice", "numeric", None, "NO", 10, 2),
        ("Quantity", "smallint", None, "NO", 16, 0),
    ]
    cols = {c[0]: c for c in columns(pg, "user")}
    assert cols["id"][1:4] == ("bigint", None, "NO")
    assert cols["email"][1:4] == ("character varying", 200, "NO")
    assert cols["select"][1] == "text"
    assert cols["active"][1:4] == ("boolean", None, "NO")
    assert cols["created_at"][1] == "timestamp without time zone"
    assert rows(
        pg, 'SELECT "OrderID", "ProductID", "UnitPrice"::text FROM "Order Details" ORDER BY 2'
    ) == [(10248, 11, "14.00"), (10248, 42, "9.80")]
    assert rows(pg, "SELECT title FROM post WHERE id = 1") == [("첫 글",)]


def test_keys_indexes_and_defaults(app_db, load, pg):
    result = load(app_db)
    indexes = dict(rows(pg, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'post'"))
    assert "WHERE (deleted = false)" in indexes["post_live"]
    assert "lower((title)::text)" in indexes["post_title_lower"]
    assert "post_weird" not in indexes
    assert any(
        f.code == "index_untranslated" and "post_weird" in f.message
        for f in result.reports[0].plan.findings
    )
    assert rows(pg, "SELECT conname, confdeltype FROM pg_constraint WHERE contype = 'f'") == [
        ("post_user_id_fkey", "c")
    ]
    assert rows(
        pg,
        """SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = '"Order Details"'::regclass""",
    ) == [("Order Details_pkey",)]
    defaults = dict(
        rows(
            pg,
            "SELECT column_name, column_default FROM information_schema.columns WHERE table_name = 'user' AND column_default IS NOT NULL",
        )
    )
    assert defaults == {"active": "true", "created_at": "timezone('utc'::text, now())"}
    assert rows(
        pg,
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'post' AND column_name = 'user_id'",
    ) == [("bigint",)]


def test_identity_continues_after_the_autoincrement_high_water_mark(app_db, load, pg):
    load(app_db)
    # row 7 was deleted at the source, and AUTOINCREMENT never reuses it
    assert rows(pg, """INSERT INTO "user" (email) VALUES ('new@x.kr') RETURNING id""") == [(8,)]
    assert rows(pg, "INSERT INTO post (user_id, title) VALUES (1, 'next') RETURNING id") == [(3,)]


def test_tables_analyzed_after_the_load(app_db, load, pg):
    load(app_db)
    assert rows(
        pg,
        "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NULL AND schemaname = 'public' AND relname <> 'alembic_version'",
    ) == [(0,)]


def test_existing_tables_need_yes(app_db, load, pg):
    load(app_db)
    with pytest.raises(UsageError, match="already exist"):
        load(app_db, yes=False)
    load(app_db, yes=True)
    assert rows(pg, 'SELECT count(*) FROM "user"') == [(2,)]


def test_snake_case_on_request(app_db, load, pg):
    load(app_db, extra="snake_case = true")
    tables = {r[0] for r in rows(pg, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"order_details", "user", "post"} <= tables
    assert [c[0] for c in columns(pg, "order_details")] == [
        "order_id",
        "product_id",
        "unit_price",
        "quantity",
    ]


def test_long_names_are_shortened_deterministically_and_reported(make_sqlite, load, pg):
    long_name = "customer_relationship_management_interaction_history_archive_2024_q1"
    src = make_sqlite(
        f"CREATE TABLE {long_name} (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO {long_name} (v) VALUES ('x');"
    )
    result = load(src)
    (tp,) = result.reports[0].plan.tables
    assert len(tp.name.encode()) == 63 and tp.name.startswith("customer_relationship")
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = %s", tp.name) == [(1,)]
    assert any(f.code == "long_identifier" for f in result.reports[0].plan.findings)


def test_alembic_revisions_are_readable_and_an_edited_one_is_kept(app_db, load, pg, tmp_path):
    result = load(app_db)
    versions = result.reports[0].revisions_dir / "versions"
    first = (versions / "app_0001_tables.py").read_text()
    assert (
        "op.create_table(" in first
        and "sa.String(200)" in first
        and "sa.Identity(always=False)" in first
    )
    compile(first, "rev1", "exec")
    second = versions / "app_0002_keys.py"
    edited = second.read_text().replace(
        "def upgrade() -> None:\n",
        "def upgrade() -> None:\n    op.execute('CREATE TABLE reviewed_by_human (id int)')\n",
    )
    second.write_text(edited)
    result = load(app_db)
    assert result.reports[0].kept_edits == [second]
    assert rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'reviewed_by_human'") == [
        (1,)
    ]
    assert rows(pg, "SELECT version_num FROM alembic_version") == [("app_0002_keys",)]


def test_existing_schema_loads_by_column_name_with_catalog_types(make_sqlite, load, pg):
    pg.execute(
        "CREATE TABLE messages (id bigint PRIMARY KEY, extra text DEFAULT 'x', created_at timestamptz NOT NULL, body text NOT NULL, meta jsonb)"
    )
    src = make_sqlite(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT, meta TEXT, created_at TEXT); INSERT INTO messages VALUES (1, 'hi', '{\"a\": 1}', '2024-05-01 12:00:00');"
    )
    result = load(src, extra='schema_mode = "existing"')
    assert result.reports[0].plan.tables[0].column("created_at").reason == "catalog"
    assert rows(
        pg, "SELECT id, body, meta, extra, created_at AT TIME ZONE 'UTC' FROM messages"
    ) == [(1, "hi", {"a": 1}, "x", __import__("datetime").datetime(2024, 5, 1, 12, 0))]


def test_existing_schema_refuses_before_any_data_moves(make_sqlite, load, pg):
    pg.execute("CREATE TABLE messages (id bigint PRIMARY KEY, body text)")
    src = make_sqlite(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT, lost TEXT); INSERT INTO messages VALUES (1, 'a', 'b');"
    )
    with pytest.raises(SchemaMismatchError, match="lost"):
        load(src, extra='schema_mode = "existing"')
    assert rows(pg, "SELECT count(*) FROM messages") == [(0,)]


def test_without_rowid_and_untyped_columns(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE kv (k TEXT, n, v, PRIMARY KEY (k)) WITHOUT ROWID; INSERT INTO kv VALUES ('a', 1, x'00ff'), ('b', 2, x'01');"
    )
    load(src)
    assert [c[1] for c in columns(pg, "kv")] == ["text", "bigint", "bytea"]
    assert rows(pg, "SELECT k, n, v FROM kv ORDER BY k") == [
        ("a", 1, b"\x00\xff"),
        ("b", 2, b"\x01"),
    ]


def test_large_table_streams_in_many_batches(make_sqlite, load, pg, tmp_path):
    path = tmp_path / "big.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, meta JSON)")
    conn.executemany(
        "INSERT INTO t (v, meta) VALUES (?, ?)",
        (("row %d" % i, '{"i": %d}' % i) for i in range(25_000)),
    )
    conn.commit()
    conn.close()
    (res,) = load(path, settings="batch_size = 1000").reports[0].results
    assert (res.read, res.written) == (25_000, 25_000)
    assert rows(pg, "SELECT sum((meta->>'i')::int) FROM t") == [(sum(range(25_000)),)]
    assert rows(
        pg, "SELECT sum(rows_read)::int, bool_and(done) FROM _cutover.chunks WHERE chunk >= 0"
    ) == [(25_000, True)]


def test_foreign_key_columns_follow_an_overridden_parent_type(make_sqlite, load, pg):
    src = make_sqlite(
        """
        CREATE TABLE conversations (id CHAR(32) PRIMARY KEY, title TEXT);
        CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id CHAR(32) REFERENCES conversations (id), body TEXT);
        INSERT INTO conversations VALUES ('6f1c1f7e6a5b4d5e9c1e2f3a4b5c6d7e', 'hello');
        INSERT INTO messages VALUES (1, '6f1c1f7e6a5b4d5e9c1e2f3a4b5c6d7e', 'hi');
        """
    )
    result = load(src, extra='[databases.columns]\n"conversations.id" = "uuid"')
    assert result.rejected == 0
    types = dict(
        rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'messages'",
        )
    )
    assert types["conversation_id"] == "uuid"
    assert rows(
        pg, "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id"
    ) == [(1,)]


def test_incompatible_overrides_skip_the_foreign_key_with_a_finding(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE p (id CHAR(32) PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p_id CHAR(32) REFERENCES p (id));"
    )
    result = load(src, extra='[databases.columns]\n"p.id" = "uuid"\n"c.p_id" = "text"')
    assert any(f.code == "fk_type_mismatch" for f in result.reports[0].plan.findings)
    assert rows(pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'") == [(0,)]


DJANGO_STYLE = """
CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "username" varchar(150) NOT NULL UNIQUE, "is_staff" bool NOT NULL);
CREATE TABLE "extras_article" (
    "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "title" varchar(200) NOT NULL,
    "views" integer unsigned NOT NULL CHECK ("views" >= 0),
    "status" varchar(10) NOT NULL,
    "author_id" integer NOT NULL REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED,
    "kind" integer NOT NULL,
    CONSTRAINT "uniq_author_title" UNIQUE ("author_id", "title"),
    CONSTRAINT "status_valid" CHECK ("status" IN ('draft', 'published')),
    CONSTRAINT "weird" CHECK (typeof("kind") = 'integer')
);
INSERT INTO auth_user VALUES (1, 'kim', 1);
INSERT INTO extras_article VALUES (1, 'Hello', 3, 'draft', 1, 1);
"""


def test_constraint_names_checks_and_deferrable_keys_are_carried(make_sqlite, load, pg, tmp_path):
    result = load(make_sqlite(DJANGO_STYLE))
    cons = dict(
        rows(
            pg,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'extras_article'::regclass",
        )
    )
    assert "uniq_author_title" in cons
    assert cons["status_valid"].startswith("CHECK") and "draft" in cons["status_valid"]
    assert "extras_article_views_check" in cons and ">= 0" in cons["extras_article_views_check"]
    (fk,) = [d for n, d in cons.items() if d.startswith("FOREIGN KEY")]
    assert "DEFERRABLE INITIALLY DEFERRED" in fk
    assert "weird" not in cons
    assert any(
        f.code == "check_untranslated" and "typeof" in f.message
        for f in result.reports[0].plan.findings
    )
    # a deferred key lets a child come before its parent inside one transaction, as on SQLite
    with pg.transaction():
        pg.execute(
            "INSERT INTO extras_article (title, views, status, author_id, kind) VALUES ('early', 0, 'draft', 2, 1)"
        )
        pg.execute("INSERT INTO auth_user (id, username, is_staff) VALUES (2, 'lee', false)")
    # and verify accepts what was left out on purpose, and only that
    from cutover import commands
    from cutover import config as config_mod

    pg.execute("DELETE FROM extras_article WHERE title = 'early'")
    pg.execute("DELETE FROM auth_user WHERE id = 2")
    from cutover.proof import report

    parity = commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
    assert parity.ok, report.parity(parity)
    pg.execute("ALTER TABLE extras_article DROP CONSTRAINT status_valid")
    issues = (
        commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover")
        .databases[0]
        .schema_issues
    )
    assert [(i.subject, i.problem) for i in issues] == [
        ("check status_valid", "check constraint is missing")
    ]


def test_rows_violating_a_carried_check_are_rejected(make_sqlite, load, pg, tmp_path):
    # SQLite did not check rows that existed before the constraint's table was rebuilt around them
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER CHECK (n >= 0)); PRAGMA ignore_check_constraints = 1; INSERT INTO t VALUES (1, 5), (2, -1);"
    )
    (res,) = load(src).reports[0].results
    assert (res.written, res.rejected) == (1, 1)
    import json

    (record,) = [
        json.loads(x)
        for x in (tmp_path / ".cutover" / "rejects" / "app" / "t.jsonl").read_text().splitlines()
    ]
    assert (
        record["stage"] == "check" and record["key"] == {"id": 2} and "n >= 0" in record["reason"]
    )


def test_nocase_uniqueness_is_kept_case_insensitive(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE, handle TEXT);"
        "CREATE UNIQUE INDEX ix_accounts_handle ON accounts (handle COLLATE NOCASE);"
        "INSERT INTO accounts VALUES (1, 'kim@example.com', 'Kim');"
    )
    result = load(src)
    assert any(f.code == "nocase" and f.column == "email" for f in result.reports[0].plan.findings)
    for statement in (
        "INSERT INTO accounts VALUES (2, 'Kim@Example.com', 'other')",
        "INSERT INTO accounts VALUES (3, 'new@example.com', 'KIM')",
    ):
        with pytest.raises(Exception, match="duplicate key"):
            with pg.transaction():
                pg.execute(statement)
