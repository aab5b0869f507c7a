"""Runtime assembly: which history repository the chat API uses."""

import os
import sqlite3


def history_connection() -> sqlite3.Connection:
    """The SQLite history store (default until the PostgreSQL block below is enabled)."""
    return sqlite3.connect(os.getenv("CHAT_DB_PATH", "data/chat_history.db"), check_same_thread=False)
