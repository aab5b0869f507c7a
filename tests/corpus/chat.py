"""A SQLModel chat app: users, conversations, messages with JSON, epoch and ISO dates, booleans."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, create_engine

CONVERSATIONS = 60
MESSAGES_PER = 12


class ChatUser(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=120, unique=True)
    display_name: str = Field(max_length=40)
    is_admin: bool = False
    created_at: datetime  # SQLAlchemy stores ISO text without the offset


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    title: str = Field(max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_epoch: int  # the app writes time.time() as an int
    archived: bool = False


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    role: str = Field(max_length=16)
    content: str
    tokens: int | None = None
    created_at: datetime
    sent_at_ms: int  # epoch milliseconds from the client
    embedding: list[float] | None = Field(default=None, sa_column=Column(JSON))
    is_deleted: bool = False


def build_chat(folder: Path) -> Path:
    """The chat app's rsl.db: 3 tables, about 800 rows, written through SQLModel sessions."""
    rnd = random.Random(42)
    path = folder / "rsl.db"
    engine = create_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(
        engine, tables=[t.__table__ for t in (ChatUser, Conversation, Message)]
    )  # type: ignore[attr-defined]
    start = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)  # SQLModel wants aware
    with Session(engine) as session:
        users = [
            ChatUser(
                email=f"user{i}@example.com",
                display_name=f"사용자 {i}",
                is_admin=i == 1,
                created_at=start + timedelta(days=i),
            )
            for i in range(1, 21)
        ]
        session.add_all(users)
        session.flush()
        for c in range(CONVERSATIONS):
            opened = start + timedelta(hours=5 * c, seconds=c)
            conv = Conversation(
                user_id=users[c % 20].id,
                title=f"대화 {c}: pgvector 질문",
                settings={
                    "model": "gpt-4o",
                    "temperature": 0.7,
                    "tools": ["search"],
                    "ko": "한국어",
                },
                created_epoch=int(opened.timestamp()),
                archived=c % 7 == 0,
            )
            session.add(conv)
            session.flush()
            for m in range(MESSAGES_PER):
                at = opened + timedelta(seconds=30 * m, microseconds=m)
                session.add(
                    Message(
                        conversation_id=conv.id,
                        role="user" if m % 2 == 0 else "assistant",
                        content=f'메시지 {m} — quoted "text", tab\tand newline\n' * (1 + m % 3),
                        tokens=None if m % 5 == 0 else rnd.randrange(1, 4000),
                        created_at=at,
                        sent_at_ms=int(at.timestamp() * 1000),
                        embedding=[round(rnd.uniform(-1, 1), 6) for _ in range(8)]
                        if m % 2
                        else None,
                        is_deleted=m == 11,
                    )
                )
        session.commit()
    engine.dispose()
    return path
