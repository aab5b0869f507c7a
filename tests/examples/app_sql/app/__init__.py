"""A small FastAPI chat service that grew up on SQLite (and remembers SQL Server)."""
