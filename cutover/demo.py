"""A sample chat database, as a FastAPI/SQLAlchemy chat app on SQLite would have it.

Used by `cutover demo` (20,000 messages) and by the benchmarks (1,000,000). With bad_rows=True
it carries a few deliberately broken rows, one per kind the load must reject or coerce.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(200) NOT NULL UNIQUE,
    display_name VARCHAR(100) NOT NULL,
    locale CHAR(5) NOT NULL DEFAULT 'ko-KR',
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    settings JSON,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title VARCHAR(200),
    model VARCHAR(64) NOT NULL DEFAULT 'gpt-4o-mini',
    archived INTEGER NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME
);
CREATE INDEX ix_conversations_user_id ON conversations (user_id, created_at);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role VARCHAR(16) NOT NULL,
    content TEXT NOT NULL,
    metadata TEXT,
    tokens INTEGER,
    created_at DATETIME NOT NULL
);
CREATE INDEX ix_messages_conversation_id ON messages (conversation_id, id);
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id),
    filename VARCHAR(255) NOT NULL,
    mime_type VARCHAR(100) NOT NULL,
    size_bytes INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE message_embeddings (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    model VARCHAR(100) NOT NULL DEFAULT 'jhgan/ko-sroberta-multitask',
    embedding TEXT NOT NULL
);
CREATE VIEW recent_messages AS SELECT * FROM messages ORDER BY created_at DESC LIMIT 100;
"""

SENTENCES = [
    "안녕하세요, 오늘 회의 일정을 정리해 주세요.",
    "PostgreSQL로 이전하면 벡터 검색을 쓸 수 있나요?",
    "Summarise the attached quarterly report in three bullet points.",
    "라우팅 그룹 설정이 바뀌었는지 확인 부탁드립니다.",
    "What is the difference between HNSW and IVFFlat indexes?",
    "모델 레지스트리에 새 버전을 등록했습니다.",
    "Can you translate this paragraph into Korean?",
    "서울 날씨가 내일 어떨까요?",
    "Please draft a polite reply declining the invitation.",
    "임베딩 차원은 768입니다 (jhgan/ko-sroberta-multitask).",
]
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet", "ko-llama-3-8b"]
START = datetime(2024, 1, 1)
BATCH = 10_000  # rows per executemany: keeps generation memory flat at any scale


def _stamp(rng: random.Random, base: datetime, spread_s: int) -> str:
    return (
        base + timedelta(seconds=rng.randrange(spread_s), microseconds=rng.randrange(1_000_000))
    ).strftime("%Y-%m-%d %H:%M:%S.%f")


EMBEDDING_DIMS = 768  # jhgan/ko-sroberta-multitask, the users' Korean sentence model
EMBEDDING_CLUSTERS = 12  # topics, so nearest neighbours mean something


def build_chat_db(
    path: Path,
    *,
    messages: int = 20_000,
    seed: int = 7,
    bad_rows: bool = True,
    attachment_every: int = 100,
    attachment_bytes: tuple[int, int] = (1_000, 20_000),
    embedding_every: int = 0,
) -> Path:
    """Write the chat database to `path` (replacing it) and return the path."""
    path = Path(path)
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            p.unlink()
    rng = random.Random(seed)
    n_users = max(10, messages // 200)
    n_conversations = max(20, messages // 20)
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
    conn.executemany(
        "INSERT INTO users (id, email, display_name, locale, is_admin, settings, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                i,
                f"user{i}@example.com",
                (f"사용자 {i}" if i % 2 else f"User {i}"),
                "ko-KR" if i % 3 else "en-US",
                ("yes" if i % 50 == 0 else 1) if i % 25 == 0 else 0,
                json.dumps(
                    {"theme": rng.choice(["dark", "light"]), "lang": "ko" if i % 3 else "en"}
                ),
                _stamp(rng, START, 86_400 * 30),
            )
            for i in range(1, n_users + 1)
        ),
    )
    conn.executemany(
        "INSERT INTO conversations (id, user_id, title, model, archived, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                i,
                rng.randint(1, n_users),
                rng.choice(SENTENCES)[:40],
                rng.choice(MODELS),
                int(rng.random() < 0.1),
                _stamp(rng, START, 86_400 * 180),
                None if i % 4 else _stamp(rng, START + timedelta(days=180), 86_400 * 30),
            )
            for i in range(1, n_conversations + 1)
        ),
    )
    for chunk in _chunks(_messages(rng, messages, n_conversations)):
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, role, content, metadata, tokens, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            chunk,
        )
    low, high = attachment_bytes
    for chunk in _chunks(
        (
            i,
            mid,
            f"file-{i}.png" if i % 2 else f"문서-{i}.pdf",
            "image/png" if i % 2 else "application/pdf",
            size,
            rng.randbytes(size),
        )
        for i, mid in enumerate(range(attachment_every, messages + 1, attachment_every), start=1)
        for size in (rng.randint(low, high),)
    ):
        conn.executemany(
            "INSERT INTO attachments (id, message_id, filename, mime_type, size_bytes, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            chunk,
        )
    if embedding_every:
        for chunk in _chunks(
            _embeddings(seed, range(embedding_every, messages + 1, embedding_every))
        ):
            conn.executemany(
                "INSERT INTO message_embeddings (id, message_id, embedding) VALUES (?, ?, ?)", chunk
            )
    if bad_rows:
        _add_bad_rows(conn, n_users, messages)
    conn.commit()
    conn.close()
    return path


def _messages(rng: random.Random, count: int, n_conversations: int) -> Iterator[tuple[object, ...]]:
    for i in range(1, count + 1):
        role = "user" if i % 2 else "assistant"
        text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 6)))
        meta = (
            None
            if role == "user"
            else json.dumps(
                {
                    "model": rng.choice(MODELS),
                    "latency_ms": rng.randint(80, 4000),
                    "sources": [f"doc-{rng.randint(1, 500)}"],
                },
                ensure_ascii=False,
            )
        )
        yield (
            i,
            rng.randint(1, n_conversations),
            role,
            text,
            meta,
            rng.randint(5, 900),
            _stamp(rng, START, 86_400 * 200),
        )


def embedding_rows(seed: int, count: int) -> Any:
    """Unit vectors around a few topic centres, as float32 (numpy array of count × 768)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((EMBEDDING_CLUSTERS, EMBEDDING_DIMS))
    vectors = centres[rng.integers(0, EMBEDDING_CLUSTERS, count)] + 0.6 * rng.standard_normal(
        (count, EMBEDDING_DIMS)
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.round(vectors, 6).astype(np.float32)


def _embeddings(seed: int, message_ids: range) -> Iterator[tuple[object, ...]]:
    vectors = embedding_rows(seed, len(message_ids))
    for i, (mid, vector) in enumerate(zip(message_ids, vectors), start=1):
        yield (i, mid, json.dumps([round(float(x), 6) for x in vector]))


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _add_bad_rows(conn: sqlite3.Connection, n_users: int, messages: int) -> None:
    """One row per kind of damage a real SQLite file accumulates."""
    conn.execute(
        "INSERT INTO users (email, display_name, settings, created_at) VALUES "
        "('broken-json@example.com', 'Broken JSON', '{\"theme\": \"dark\",}', '2024-02-01 "
        "10:00:00')"
    )
    base = messages + 1
    conn.executemany(
        "INSERT INTO messages (id, conversation_id, role, content, metadata, tokens, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                base,
                1,
                "user",
                "NUL byte \x00 pasted from a binary file",
                None,
                12,
                "2024-03-01 09:00:00.000000",
            ),
            (base + 1, 1, "user", "tokens holds text", None, "many", "2024-03-01 09:01:00.000000"),
            (base + 2, 1, "user", "the date is not a date", None, 7, "yesterday"),
            (
                base + 3,
                10**9,
                "assistant",
                "this conversation was deleted without its messages",
                None,
                3,
                "2024-03-01 09:03:00.000000",
            ),
        ],
    )
