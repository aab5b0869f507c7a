"""cutover: move an application from SQLite or SQL Server to PostgreSQL, and prove it."""

from __future__ import annotations

__version__ = "0.1.0"
