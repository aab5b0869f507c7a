"""Async engine and session factory for the chat history store."""

from __future__ import annotations

import os

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

DATABASE_URL = os.getenv("RSL_DATABASE_URL", "sqlite+aiosqlite:///./data/rsl.db")

engine = create_async_engine(
    DATABASE_URL,
    echo=os.getenv("DB_ECHO", "false") == "true",
    connect_args={"check_same_thread": False} if DATABASE_URL.startswith("sqlite") else {},
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
