"""Engine and raw connections."""

import os
import sqlite3

from sqlalchemy import create_engine, event

DATABASE_URL = os.getenv("RSL_DATABASE_URL", "sqlite:///./chat.db")

engine = create_engine(
    DATABASE_URL,
    connect_args={"check_same_thread": False},
    pool_size=5,
    max_overflow=int(os.getenv("DB_MAX_OVERFLOW", "10")),
    pool_recycle=int(os.getenv("DB_POOL_RECYCLE", "1800")),
)


@event.listens_for(engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def raw_connection() -> sqlite3.Connection:
    """A plain sqlite3 connection for the hot paths."""
    return sqlite3.connect("chat.db", check_same_thread=False)
