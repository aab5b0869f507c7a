"""Alembic environment written by cutover; safe to edit and commit."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
version_table = config.get_main_option("version_table") or "alembic_version"
version_schema = config.get_main_option("version_table_schema") or None


def run(connection) -> None:
    context.configure(connection=connection, version_table=version_table, version_table_schema=version_schema, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:  # cutover passes its own connection
    run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(config.get_main_option("url_env") or "DATABASE_URL")
    if not url:
        raise SystemExit("pass -x url=postgresql+psycopg://… or set " + (config.get_main_option("url_env") or "DATABASE_URL"))
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
