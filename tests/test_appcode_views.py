"""Views and triggers: revision <db>_0003_views on real Northwind and Chinook rows, compared on both sides."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
from click.testing import CliRunner
from corpus.samples import build_chinook, build_northwind

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.urls import postgres_conninfo

# Four of the real Northwind views (the SQLite port), with [brackets], joins, p.*, UNION, subqueries.
NORTHWIND_VIEWS = """
CREATE VIEW [Alphabetical list of products]
AS
SELECT Products.*,
       Categories.CategoryName
FROM Categories
   INNER JOIN Products ON Categories.CategoryID = Products.CategoryID
WHERE (((Products.Discontinued)=0));

CREATE VIEW [Current Product List]
AS
SELECT ProductID,
       ProductName
FROM Products
WHERE Discontinued=0;

CREATE VIEW [Customer and Suppliers by City]
AS
SELECT City,
       CompanyName,
       ContactName,
       'Customers' AS Relationship
FROM Customers
UNION
SELECT City,
       CompanyName,
       ContactName,
       'Suppliers'
FROM Suppliers
ORDER BY City, CompanyName;

CREATE VIEW [Products Above Average Price]
AS
SELECT Products.ProductName,
       Products.UnitPrice
FROM Products
WHERE Products.UnitPrice>(SELECT AVG(UnitPrice) From Products);

CREATE VIEW [ProductDetails_V] as
select
p.*,
c.CategoryName, c.Description as [CategoryDescription],
s.CompanyName as [SupplierName], s.Region as [SupplierRegion]
from [Products] p
join [Categories] c on p.CategoryId = c.CategoryId
join [Suppliers] s on s.SupplierId = p.SupplierId;

CREATE VIEW [Expensive current products] AS
SELECT ProductID, ProductName FROM [Current Product List]
WHERE ProductID IN (SELECT ProductID FROM Products WHERE UnitPrice > 100);

CREATE VIEW [Last insert] AS SELECT last_insert_rowid() AS id;
"""

CHINOOK_VIEWS = """
CREATE VIEW v_track_details AS
SELECT t.TrackId, t.Name AS Track, a.Title AS Album, ar.Name AS Artist, g.Name AS Genre,
       IFNULL(t.Composer, '(unknown)') AS Composer, t.Milliseconds / 1000 AS Seconds
FROM Track t
JOIN Album a ON a.AlbumId = t.AlbumId
JOIN Artist ar ON ar.ArtistId = a.ArtistId
LEFT JOIN Genre g ON g.GenreId = t.GenreId;

CREATE VIEW v_customer_spend AS
SELECT c.CustomerId, c.FirstName || ' ' || c.LastName AS Customer, COUNT(i.InvoiceId) AS Invoices,
       SUM(i.Total) AS Spent
FROM Customer c LEFT JOIN Invoice i ON i.CustomerId = c.CustomerId
GROUP BY c.CustomerId, c.FirstName, c.LastName;
"""


def project(tmp_path: Path, source: Path, views: str, target: str, name: str) -> config_mod.Config:
    with sqlite3.connect(source) as conn:
        conn.executescript(views)
    cfg = tmp_path / "cutover.toml"
    commands.init(
        cfg, source=f"sqlite:///{source}", target=target, name=name, env_key="DATABASE_URL"
    )
    return config_mod.load(cfg)


def pg_views(url: str) -> set[str]:
    with psycopg.connect(postgres_conninfo(url)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
        )
        return {r[0] for r in rows}


def test_northwind_views_are_revision_3_present_and_equal(tmp_path, pg_url):
    cfg = project(tmp_path, build_northwind(tmp_path), NORTHWIND_VIEWS, pg_url, "northwind")
    workdir = tmp_path / ".cutover"
    plan = commands.plan(cfg, workdir)
    (db,) = plan.databases
    untranslated = [f for f in db.findings if f.code == "view_untranslated"]
    assert [f.subject for f in untranslated] == ["view:Last insert"]
    assert "last_insert_rowid()" in untranslated[0].message
    assert (
        "CREATE VIEW [Last insert] AS SELECT last_insert_rowid() AS id" in untranslated[0].message
    )
    assert not [f for f in db.findings if f.code == "view"]
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    revision = tmp_path / "alembic" / "northwind" / "versions" / "northwind_0003_views.py"
    text = revision.read_text(encoding="utf-8")
    assert "down_revision = 'northwind_0002_keys'" in text
    # a view comes after the view it reads
    assert text.index('VIEW "Current Product List"') < text.index(
        'VIEW "Expensive current products"'
    )
    created = {
        "Alphabetical list of products",
        "Current Product List",
        "Customer and Suppliers by City",
        "Products Above Average Price",
        "ProductDetails_V",
        "Expensive current products",
    }
    assert pg_views(pg_url) == created
    result = commands.run_phase(cfg, workdir, 3)
    (outcome,) = result.outcomes
    proofs = {v.name: v.proof for v in outcome.proof.views}
    assert set(proofs) == created
    assert all(p.status == "same" for p in proofs.values()), {
        n: (p.reason, p.source_row, p.target_row) for n, p in proofs.items()
    }
    assert proofs["Current Product List"].rows > 0 and proofs["ProductDetails_V"].rows > 0
    assert outcome.ok, outcome.summary


def test_chinook_views_are_created_and_equal(tmp_path, pg_url):
    cfg = project(tmp_path, build_chinook(tmp_path), CHINOOK_VIEWS, pg_url, "chinook")
    workdir = tmp_path / ".cutover"
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    assert pg_views(pg_url) == {"v_track_details", "v_customer_spend"}
    (outcome,) = commands.run_phase(cfg, workdir, 3).outcomes
    proofs = {v.name: v.proof for v in outcome.proof.views}
    assert {n: p.status for n, p in proofs.items()} == {
        "v_track_details": "same",
        "v_customer_spend": "same",
    }, {n: (p.reason, p.source_row, p.target_row) for n, p in proofs.items()}
    assert proofs["v_track_details"].rows == 3503
    # `cutover verify` (CI) compares the views too
    report = tmp_path / "verify.json"
    result = CliRunner().invoke(
        cli, ["--config", str(cfg.path), "--workdir", str(workdir), "verify", "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    (db,) = json.loads(report.read_text(encoding="utf-8"))["databases"]
    assert {(v["view"], v["status"]) for v in db["views"]} == {
        ("v_track_details", "same"),
        ("v_customer_spend", "same"),
    }
    text = CliRunner().invoke(cli, ["--config", str(cfg.path), "--workdir", str(workdir), "verify"])
    assert "view v_customer_spend: same — rows 59 = 59" in text.output


TRIGGERS = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, updated_at TEXT);
CREATE TABLE audit (id INTEGER PRIMARY KEY, note_id INTEGER, action TEXT, body TEXT);
CREATE TRIGGER notes_touch AFTER UPDATE ON notes FOR EACH ROW
BEGIN
  UPDATE notes SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
CREATE TRIGGER notes_audit AFTER INSERT ON notes
BEGIN
  INSERT INTO audit (note_id, action, body) VALUES (NEW.id, 'insert', NEW.body);
END;
CREATE TRIGGER notes_cascade AFTER DELETE ON notes
BEGIN
  DELETE FROM audit WHERE note_id = OLD.id;
END;
INSERT INTO notes (body, updated_at) VALUES ('first', '2024-01-01 00:00:00');
"""


def test_touch_and_audit_triggers_become_plpgsql_and_others_are_findings(
    tmp_path, make_sqlite, pg_url
):
    source = make_sqlite(TRIGGERS, name="notes.db")
    cfg = project(tmp_path, source, "", pg_url, "notes")
    workdir = tmp_path / ".cutover"
    (db,) = commands.plan(cfg, workdir).databases
    (other,) = [f for f in db.findings if f.code == "trigger_untranslated"]
    assert (
        other.subject == "trigger:notes_cascade"
        and "DELETE FROM audit WHERE note_id = OLD.id" in other.message
    )
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    assert commands.run_phase(cfg, workdir, 3).outcomes[0].ok  # the triggers change nothing loaded
    with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert names == {"notes_touch", "notes_audit"}
        conn.execute("INSERT INTO notes (id, body) VALUES (2, 'second')")
        assert conn.execute("SELECT note_id, action, body FROM audit ORDER BY id").fetchall() == [
            (1, "insert", "first"),  # loaded: the source's trigger wrote it
            (2, "insert", "second"),  # written by the PL/pgSQL trigger
        ]
        conn.execute("UPDATE notes SET body = 'changed' WHERE id = 1")
        (stamp,) = conn.execute("SELECT updated_at FROM notes WHERE id = 1").fetchone()
        assert stamp != "2024-01-01 00:00:00" and len(stamp) == 19  # SQLite's text form, now


TRIGGERS_WHEN = """
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, pinned BOOLEAN NOT NULL DEFAULT 0,
                    updated_at TEXT);
CREATE TABLE audit (id INTEGER PRIMARY KEY, note_id INTEGER, action TEXT, body TEXT);
CREATE TRIGGER notes_touch AFTER UPDATE ON notes FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
  UPDATE notes SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
CREATE TRIGGER notes_pinned AFTER UPDATE ON notes WHEN NEW.pinned = 1 AND OLD.pinned = 0
BEGIN
  INSERT INTO audit (note_id, action, body) VALUES (NEW.id, 'pinned', NEW.body);
END;
CREATE TRIGGER notes_counted AFTER INSERT ON notes WHEN (SELECT count(*) FROM audit) < 100
BEGIN
  INSERT INTO audit (note_id, action) VALUES (NEW.id, 'counted');
END;
INSERT INTO notes (body, pinned, updated_at) VALUES ('first', 0, '2024-01-01 00:00:00');
INSERT INTO notes (body, pinned, updated_at) VALUES ('second', 1, '2024-01-02 00:00:00');
"""
# the app's writes after the cutover, in SQLite's words and in Postgres'
WRITES = [
    ("UPDATE notes SET body = 'edited' WHERE id = 1", None),  # touched: updated_at not set
    ("UPDATE notes SET pinned = 1 WHERE id = 1", "UPDATE notes SET pinned = true WHERE id = 1"),
    ("UPDATE notes SET pinned = 1 WHERE id = 2", "UPDATE notes SET pinned = true WHERE id = 2"),
    # not touched: the write sets updated_at itself
    ("UPDATE notes SET body = 'b', updated_at = '2030-01-01 00:00:00' WHERE id = 2", None),
]


def test_triggers_with_a_when_condition_fire_on_postgres_when_they_fire_on_sqlite(
    tmp_path, make_sqlite, pg_url
):
    source = make_sqlite(TRIGGERS_WHEN, name="notes.db")
    cfg = project(tmp_path, source, "", pg_url, "notes")
    workdir = tmp_path / ".cutover"
    (db,) = commands.plan(cfg, workdir).databases
    (other,) = [f for f in db.findings if f.code == "trigger_untranslated"]
    assert other.subject == "trigger:notes_counted" and "subquery" in other.message
    assert commands.run_phase(cfg, workdir, 1, yes=True).ok
    assert commands.run_phase(cfg, workdir, 2, allow_rejects=True).ok
    twin = tmp_path / "twin.db"  # the source as it was, to write to as the app would have
    with sqlite3.connect(source) as conn, sqlite3.connect(twin) as copy:
        conn.backup(copy)
    with sqlite3.connect(twin) as lite, psycopg.connect(postgres_conninfo(pg_url)) as pg:
        names = {r[0] for r in pg.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
        assert names == {"notes_touch", "notes_pinned"}
        for sqlite_sql, postgres_sql in WRITES:
            lite.execute(sqlite_sql)
            pg.execute(postgres_sql or sqlite_sql)
        query = "SELECT note_id, action, body FROM audit WHERE action = 'pinned' ORDER BY id"
        assert (
            pg.execute(query).fetchall()
            == lite.execute(query).fetchall()
            == [(1, "pinned", "edited")]
        )
        stamps = "SELECT id, updated_at FROM notes ORDER BY id"
        on_pg, on_lite = pg.execute(stamps).fetchall(), lite.execute(stamps).fetchall()
        # touched on both sides where the write left updated_at alone, kept where it set it
        assert on_lite[1] == (2, "2030-01-01 00:00:00")
        assert on_pg[1] == (2, "2030-01-01 00:00:00")
        for _id, touched in (on_pg[0], on_lite[0]):
            assert touched != "2024-01-01 00:00:00" and len(touched) == 19
