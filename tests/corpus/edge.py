"""Hand-written files for the cases issue 13 lists, one file per case so each can pass on its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

EDGE_SQL: dict[str, tuple[str, str]] = {
    # name → (file name, script); the file's stem is the database name `cutover init` derives
    "names": (
        "laravel_file_upload_database.sqlite",
        """
        CREATE TABLE "MixedCase_Uploads" ("Id" INTEGER PRIMARY KEY, "FileName" VARCHAR(255) NOT NULL,
            "SizeBytes" INTEGER NOT NULL, "uploadedBy" TEXT);
        CREATE TABLE "업로드_기록" ("번호" INTEGER PRIMARY KEY, "파일" INTEGER NOT NULL
            REFERENCES "MixedCase_Uploads"("Id"), "메모" TEXT);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
        INSERT INTO "MixedCase_Uploads" SELECT i, 'file_' || i || '.pdf', i * 1024, 'user' || (i % 7) FROM n;
        INSERT INTO "업로드_기록" SELECT "Id", "Id", '메모 ' || "Id" FROM "MixedCase_Uploads";
        """,
    ),
    "defaults": (
        "defaults.db",
        """
        CREATE TABLE jobs (id INTEGER PRIMARY KEY,
            started_at TIMESTAMP NOT NULL DEFAULT '0000-01-01T00:00:00.000Z',
            attempts INTEGER NOT NULL DEFAULT "0",
            state VARCHAR(20) NOT NULL DEFAULT 'new');
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
        INSERT INTO jobs (id, started_at, attempts) SELECT i, '2024-06-01T10:00:00.000Z', i % 4 FROM n;
        INSERT INTO jobs (id) VALUES (101);
        """,
    ),
    "dynamic_types": (
        "dynamic.db",
        """
        CREATE TABLE codes (id INTEGER PRIMARY KEY, code INTEGER NOT NULL, payload BLOB);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
        INSERT INTO codes SELECT i, 'A-' || i, i * 1000003 FROM n;
        """,
    ),
    "fts_rtree": (
        "search.db",
        """
        CREATE VIRTUAL TABLE notes_fts5 USING fts5(title, body, tokenize='trigram');
        CREATE VIRTUAL TABLE notes_fts4 USING fts4(title, body);
        CREATE VIRTUAL TABLE boxes USING rtree(id, min_x, max_x, min_y, max_y);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
        INSERT INTO notes_fts5 (rowid, title, body) SELECT i, 'note ' || i, '본문 text ' || i FROM n;
        INSERT INTO notes_fts4 (docid, title, body) SELECT rowid, title, body FROM notes_fts5;
        INSERT INTO boxes SELECT rowid, rowid, rowid + 0.5, -rowid, -rowid + 2.25 FROM notes_fts5;
        """,
    ),
    "generated": (
        "generated.db",
        """
        CREATE TABLE items (id INTEGER PRIMARY KEY, price REAL NOT NULL, qty INTEGER NOT NULL,
            total REAL GENERATED ALWAYS AS (price * qty) STORED,
            label TEXT GENERATED ALWAYS AS ('item-' || id) VIRTUAL);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
        INSERT INTO items (id, price, qty) SELECT i, i * 1.25, i % 9 FROM n;
        """,
    ),
    "order_pk": (
        "ordering.db",
        """
        CREATE TABLE steps ("order" INTEGER PRIMARY KEY, name TEXT NOT NULL,
            storage TEXT NOT NULL DEFAULT 'without rowid');
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 80)
        INSERT INTO steps ("order", name) SELECT i, 'step ' || i FROM n;
        """,
    ),
    "pk_fk": (
        "profiles.db",
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
        CREATE TABLE account_profiles (account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
            bio TEXT, avatar BLOB);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
        INSERT INTO accounts SELECT i, 'a' || i || '@example.com' FROM n;
        INSERT INTO account_profiles SELECT id, 'bio ' || id, x'00ff' FROM accounts WHERE id % 2 = 0;
        """,
    ),
    "orphans_dates": (
        "ledger.db",
        """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE invoices (id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id), due DATE, amount NUMERIC(10,2));
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
        INSERT INTO customers SELECT i, 'customer ' || i FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
        INSERT INTO invoices SELECT i, CASE WHEN i % 40 = 0 THEN 999 ELSE 1 + i % 50 END,
            CASE WHEN i = 29 THEN '2024-02-30' ELSE date('2024-01-01', '+' || i || ' days') END,
            i * 10.25 FROM n;
        """,
    ),
}


def build_edge(name: str, folder: Path) -> Path:
    """One edge-case file, written with plain sqlite3 as a hand-rolled app would."""
    file_name, script = EDGE_SQL[name]
    path = folder / file_name
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()
    return path
