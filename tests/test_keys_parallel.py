"""The keys revision built on several connections: the catalog Alembic's own upgrade gives, resumable, stamped."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from conftest import rows
from psycopg import sql
from sqlalchemy import create_engine, pool

from cutover.errors import TargetError
from cutover.load import keys_build
from cutover.schema import migrations
from cutover.urls import postgres_conninfo, sqlalchemy_url

SHOP = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL CHECK (code LIKE 'C%'),
    referrer_id INTEGER REFERENCES customers (id)
);
CREATE TABLE "Orders" (
    "OrderID" INTEGER NOT NULL,
    region TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    placed_at TEXT,
    PRIMARY KEY ("OrderID", region),
    UNIQUE (customer_id, placed_at)
);
CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    FOREIGN KEY (order_id, region) REFERENCES "Orders" ("OrderID", region)
);
CREATE UNIQUE INDEX order_lines_sku ON order_lines (order_id, region, sku);
CREATE INDEX orders_open ON "Orders" (customer_id) WHERE status = 'open';
CREATE INDEX order_lines_x ON order_lines (sku) WHERE sku LIKE 'X%';
CREATE INDEX customers_email_lower ON customers (lower(email));
INSERT INTO customers VALUES (1, 'kim@example.com', 'C1', NULL), (2, 'lee@example.com', 'C2', 1);
INSERT INTO "Orders" VALUES (10, 'kr', 1, 'open', '2024-01-01'), (11, 'kr', 2, 'done', '2024-01-02');
INSERT INTO order_lines VALUES (1, 10, 'kr', 'X-1', 2), (2, 11, 'kr', 'Y-2', 1);
"""

# what the keys revision of SHOP builds: 2 unique constraints, 4 indexes, 2 checks, 3 foreign keys
KEY_OBJECTS = 11
TABLES_REV, KEYS_REV = migrations.revision_ids("app")


def catalog(pg: Any, schema: str = "public") -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every index definition and every constraint definition in the schema."""
    indexes = rows(
        pg,
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
        schema,
    )
    constraints = rows(
        pg,
        "SELECT c.relname, x.conname, x.contype, pg_get_constraintdef(x.oid), x.convalidated, x.condeferrable, x.condeferred"
        " FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1, 2",
        schema,
    )
    return indexes, constraints


def key_objects(pg: Any, schema: str = "public") -> dict[str, str]:
    """The keys revision's indexes and constraints in the schema, each with the transaction (xmin) that created it."""
    return dict(
        rows(
            pg,
            """
            SELECT x.conname, x.xmin::text FROM pg_constraint x JOIN pg_namespace n ON n.oid = x.connamespace WHERE n.nspname = %s AND x.contype IN ('u', 'c', 'f')
            UNION ALL
            SELECT c.relname, c.xmin::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND NOT EXISTS (SELECT FROM pg_constraint x WHERE x.conindid = i.indexrelid AND x.contype IN ('p', 'u'))
            """,
            schema,
            schema,
        )
    )


def key_transactions(pg: Any, schema: str = "public") -> tuple[int, int]:
    """(indexes and constraints of the keys revision, transactions that created them)."""
    objects = key_objects(pg, schema)
    return len(objects), len(set(objects.values()))


def version(pg: Any, schema: str = "public") -> list[tuple[Any, ...]]:
    return pg.execute(
        sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
    ).fetchall()


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def names_in(timings: list[tuple[str, float]]) -> set[str]:
    """Every name the statements of `timings` mention, quoted or not."""
    return {word for ddl, _ in timings for word in ddl.replace('"', " ").split()}


def revisions_of(result: Any) -> migrations.Revisions:
    return migrations.Revisions(result.reports[0].revisions_dir, TABLES_REV, KEYS_REV, [])


def alembic(
    revisions: migrations.Revisions, url: str, run: Callable[[AlembicConfig], None]
) -> None:
    """An Alembic command through the project's own alembic.ini and env.py, as a user would run it."""
    cfg = AlembicConfig(str(revisions.directory / "alembic.ini"))
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            run(cfg)
    finally:
        engine.dispose()


@pytest.mark.parametrize("schema", ["public", "Shop"])
def test_parallel_build_gives_the_catalog_of_alembics_own_upgrade(make_sqlite, load, pg, schema):
    src = make_sqlite(SHOP)
    extra = "" if schema == "public" else f'target_schema = "{schema}"'
    load(src, extra=extra, jobs=1)
    sequential = catalog(pg, schema)
    assert key_transactions(pg, schema) == (KEY_OBJECTS, 1)  # Alembic's upgrade: one transaction

    load(src, extra=extra, jobs=2)
    assert key_transactions(pg, schema) == (
        KEY_OBJECTS,
        KEY_OBJECTS,
    )  # one transaction per statement
    assert catalog(pg, schema) == sequential
    assert version(pg, schema) == [(KEYS_REV,)]

    indexes, constraints = sequential
    definitions = {name: definition for _, name, definition in indexes} | {
        name: definition for _, name, _, definition, *_ in constraints
    }
    assert "WHERE (status = 'open'::text)" in definitions["orders_open"]
    assert (
        "WHERE (sku ~~ 'X%'::text)" in definitions["order_lines_x"]
    )  # no doubled % from the offline SQL
    assert "lower(email)" in definitions["customers_email_lower"]
    assert definitions["customers_code_check"] == "CHECK ((code ~~ 'C%'::text))"
    assert definitions["Orders_customer_id_placed_at_key"] == "UNIQUE (customer_id, placed_at)"
    assert definitions["order_lines_order_id_region_fkey"].startswith(
        "FOREIGN KEY (order_id, region) REFERENCES "
    )
    assert definitions["customers_referrer_id_fkey"].endswith("customers(id)")
    assert all(validated for *_, validated, _, _ in constraints)


def test_alembic_downgrade_and_upgrade_work_after_a_parallel_build(make_sqlite, load, pg, pg_url):
    result = load(make_sqlite(SHOP), jobs=2)
    built = catalog(pg)
    revisions = revisions_of(result)

    alembic(revisions, pg_url, lambda cfg: command.downgrade(cfg, TABLES_REV))
    assert version(pg) == [(TABLES_REV,)]
    assert key_objects(pg) == {}

    alembic(revisions, pg_url, lambda cfg: command.upgrade(cfg, "head"))
    assert version(pg) == [(KEYS_REV,)]
    assert catalog(pg) == built

    # one job is Alembic's own upgrade, with the same answer: every build and its time
    alembic(revisions, pg_url, lambda cfg: command.downgrade(cfg, TABLES_REV))
    timings = keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 1)
    assert len(timings) == KEY_OBJECTS and key_transactions(pg) == (KEY_OBJECTS, 1)
    assert catalog(pg) == built


def shop_back_at_tables(make_sqlite, load, pg, pg_url):
    """The shop loaded (one job), its catalog, then downgraded to the tables revision: what the keys step starts from."""
    result = load(make_sqlite(SHOP), jobs=1)
    full = catalog(pg)
    revisions = revisions_of(result)
    alembic(revisions, pg_url, lambda cfg: command.downgrade(cfg, TABLES_REV))
    return full, revisions


def test_a_resumed_build_skips_what_an_interrupted_one_built(make_sqlite, load, pg, pg_url):
    full, revisions = shop_back_at_tables(make_sqlite, load, pg, pg_url)
    # what an interrupted run left behind: one index and one foreign key, built just as the revision builds them
    indexes, constraints = full
    (index_def,) = [d for _, name, d in indexes if name == "orders_open"]
    pg.execute(index_def)
    (fk_def,) = [
        d for _, name, _, d, *_ in constraints if name == "order_lines_order_id_region_fkey"
    ]
    pg.execute(
        sql.SQL("ALTER TABLE order_lines ADD CONSTRAINT {} {}").format(
            sql.Identifier("order_lines_order_id_region_fkey"), sql.SQL(fk_def)
        )
    )

    timings = keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 2)
    assert len(timings) == KEY_OBJECTS - 2
    assert {"orders_open", "order_lines_order_id_region_fkey"}.isdisjoint(names_in(timings))
    assert all(
        ddl.startswith(("CREATE ", "ALTER TABLE ")) and seconds >= 0 for ddl, seconds in timings
    )
    assert catalog(pg) == full
    assert version(pg) == [(KEYS_REV,)]
    # once at the keys revision there is nothing left to do
    assert keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 2) == []
    assert catalog(pg) == full


def test_an_interrupted_build_cancels_what_is_in_flight_and_a_rerun_finishes(
    make_sqlite, load, pg, pg_url
):
    full, revisions = shop_back_at_tables(make_sqlite, load, pg, pg_url)
    # another session holds customers, so its three builds wait; the builds on the other tables go ahead
    blocker = psycopg.connect(postgres_conninfo(pg_url))
    blocker.execute("LOCK TABLE customers IN ROW EXCLUSIVE MODE")
    finished = threading.Event()

    def interrupt_once_every_job_waits() -> None:
        with psycopg.connect(postgres_conninfo(pg_url), autocommit=True) as watch:
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
            eventually(
                lambda: rows(watch, waiting, keys_build.KEYS_APPLICATION_NAME) == [(3,)], seconds=30
            )
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # Ctrl-C
        if not finished.wait(10):
            blocker.rollback()  # the cancel did not work: let the builds through so the test fails instead of hanging

    watcher = threading.Thread(target=interrupt_once_every_job_waits, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 3)
        interrupted = time.monotonic() - started
    finally:
        finished.set()
        watcher.join()
        blocker.close()
    assert interrupted < 10
    assert eventually(
        lambda: (
            rows(
                pg,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                keys_build.KEYS_APPLICATION_NAME,
            )
            == [(0,)]
        )
    )  # closed: a backend leaves a moment later
    assert version(pg) == [(TABLES_REV,)]
    kept = set(key_objects(pg))  # what finished before the interrupt
    assert kept and not [name for name in kept if name.startswith("customers")]

    timings = keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 3)
    assert len(timings) == KEY_OBJECTS - len(kept)
    assert kept.isdisjoint(names_in(timings))
    assert catalog(pg) == full
    assert version(pg) == [(KEYS_REV,)]


def test_a_failing_statement_is_named_and_a_rerun_finishes(make_sqlite, load, pg, pg_url):
    full, revisions = shop_back_at_tables(make_sqlite, load, pg, pg_url)
    pg.execute("INSERT INTO customers (id, email, code) VALUES (3, 'kim@example.com', 'C3')")

    with pytest.raises(TargetError) as failed:
        keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 2)
    assert (
        "ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email) failed: could not create unique index"
        in failed.value.message
    )
    assert "(email)=(kim@example.com)" in failed.value.message
    assert failed.value.context["table"] == "customers" and "kept and skipped" in (
        failed.value.hint or ""
    )
    assert version(pg) == [(TABLES_REV,)]
    assert rows(pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'") == [
        (0,)
    ]  # foreign keys wait for every index

    pg.execute("DELETE FROM customers WHERE id = 3")
    keys_build.upgrade_keys_parallel(revisions, pg_url, "public", "alembic_version", 2)
    assert catalog(pg) == full
    assert version(pg) == [(KEYS_REV,)]


def test_an_edited_keys_revision_runs_through_alembic_as_written(make_sqlite, load, pg):
    src = make_sqlite(SHOP)
    result = load(src, jobs=1)
    keys = result.reports[0].revisions_dir / "versions" / f"{KEYS_REV}.py"
    keys.write_text(keys.read_text().replace("'orders_open'", "'orders_open_reviewed'"))

    result = load(src, jobs=2)
    assert result.reports[0].kept_edits == [keys]
    names = {name for _, name, _ in catalog(pg)[0]}
    assert "orders_open_reviewed" in names and "orders_open" not in names
    assert key_transactions(pg) == (KEY_OBJECTS, 1)  # Alembic's own upgrade, in one transaction
    assert version(pg) == [(KEYS_REV,)]
