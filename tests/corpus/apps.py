"""SQLite files written by the apps' own libraries: chromadb, anki, sqlite-vec, sqlite-utils, SpatiaLite."""

from __future__ import annotations

import random
import shutil
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlean

DOCS = 300  # rows per app table: enough for several COPY batches of varied values, built in ~1 s
WORDS = [
    "migration",
    "이관",
    "vector",
    "임베딩",
    "schema",
    "스키마",
    "Postgres",
    "SQLite",
    "cutover",
    "검증",
    "row",
    "key",
]


def _text(rnd: random.Random, n: int = 8) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def build_chroma(folder: Path) -> Path:
    """chromadb's PersistentClient: documents, embeddings and metadata, its FTS5 trigram table."""
    import chromadb
    from chromadb.config import Settings

    rnd = random.Random(7)
    client = chromadb.PersistentClient(
        path=str(folder / "chroma"), settings=Settings(anonymized_telemetry=False)
    )
    docs = client.create_collection(
        "docs", embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    docs.add(
        ids=[f"doc-{i}" for i in range(DOCS)],
        documents=[_text(rnd) for _ in range(DOCS)],
        embeddings=[[rnd.uniform(-1, 1) for _ in range(16)] for _ in range(DOCS)],
        metadatas=[
            {"page": i, "score": i / 7, "public": i % 2 == 0, "source": f"file-{i % 5}.pdf"}
            for i in range(DOCS)
        ],
    )
    docs.delete(ids=["doc-3", "doc-4"])  # leaves holes and a tombstone in the log
    return folder / "chroma" / "chroma.sqlite3"


def build_anki(folder: Path) -> Path:
    """An Anki collection (the anki wheel's Rust backend): notes, cards, its unicase collation; WAL kept."""
    from anki.collection import Collection

    path = folder / "collection.anki2"
    col = Collection(str(path))
    basic = col.models.by_name("Basic")
    deck = col.decks.id("한국어::Vocabulary")
    for i in range(DOCS):
        note = col.new_note(basic)
        note["Front"] = (
            f"단어 {i}" if i % 3 else str(i)
        )  # sfld is declared integer: both kinds land
        note["Back"] = f"<b>answer</b> {i} — Ärger"
        note.tags = ["korean", f"lesson{i % 10}"]
        col.add_note(note, deck or 1)
    col.close()
    # Reopen, add more, and copy the files while the collection is open: the copy is what a user
    # moving a live profile has, committed pages still in collection.anki2-wal.
    col = Collection(str(path))
    for i in range(20):
        note = col.new_note(basic)
        note["Front"], note["Back"] = f"late {i}", "in the WAL"
        col.add_note(note, deck or 1)
    col.db.execute("select 1")
    live = folder / "live"
    live.mkdir()
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", live / f"collection.anki2{suffix}")
    col.close()
    return live / "collection.anki2"


def build_vec(folder: Path) -> Path:
    """sqlite-vec: a vec0 virtual table beside an ordinary table of float32 blobs and JSON arrays."""
    import sqlite_vec

    rnd = random.Random(3)
    path = folder / "embeddings.db"
    conn = sqlean.connect(path)
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.executescript(
        "CREATE TABLE chunks (id INTEGER PRIMARY KEY, doc TEXT NOT NULL, body TEXT NOT NULL,"
        " embedding BLOB NOT NULL, embedding_json TEXT);"
        "CREATE VIRTUAL TABLE vec_chunks USING vec0(embedding float[8]);"
    )
    for i in range(1, DOCS + 1):
        vector = [rnd.uniform(-1, 1) for _ in range(8)]
        blob = sqlite_vec.serialize_float32(vector)
        as_json = "[" + ",".join(repr(x) for x in struct.unpack("<8f", blob)) + "]"
        conn.execute(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
            (i, f"doc-{i % 20}", _text(rnd), blob, as_json),
        )
        conn.execute("INSERT INTO vec_chunks (rowid, embedding) VALUES (?, ?)", (i, blob))
    conn.commit()
    conn.close()
    return path


def build_sqlite_utils(folder: Path) -> Path:
    """sqlite-utils: dicts with nested JSON, datetimes and booleans, foreign keys and FTS."""
    import sqlite_utils

    rnd = random.Random(11)
    path = folder / "blog.db"
    db = sqlite_utils.Database(path)
    start = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    db["authors"].insert_all(
        [
            {"id": i, "name": f"Author {i}", "joined": start.date(), "active": i % 4 != 0}
            for i in range(1, 21)
        ],
        pk="id",
    )
    db["posts"].insert_all(
        [
            {
                "id": i,
                "author_id": 1 + i % 20,
                "title": _text(rnd, 4),
                "body": _text(rnd, 30),
                "published": start + timedelta(hours=7 * i, microseconds=i),
                "draft": i % 9 == 0,
                "rating": round(rnd.uniform(0, 5), 3),
                "meta": {"tags": rnd.sample(WORDS, 2), "views": rnd.randrange(10_000), "pin": None},
            }
            for i in range(1, DOCS + 1)
        ],
        pk="id",
        foreign_keys=[("author_id", "authors", "id")],
    )
    db["posts"].enable_fts(["title", "body"], create_triggers=True)
    db.conn.close()
    return path


def build_spatialite(folder: Path) -> Path:
    """SpatiaLite (Debian's mod_spatialite): spatial metadata, a POINT table with a spatial index."""
    rnd = random.Random(5)
    path = folder / "places.sqlite"
    conn = sqlean.connect(path)
    conn.enable_load_extension(True)
    conn.load_extension("mod_spatialite")
    conn.execute("SELECT InitSpatialMetadata(1, 'WGS84')")
    conn.execute("CREATE TABLE places (id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT)")
    conn.execute("SELECT AddGeometryColumn('places', 'geom', 4326, 'POINT', 'XY')")
    for i in range(1, DOCS + 1):
        lon, lat = rnd.uniform(126.7, 127.2), rnd.uniform(37.4, 37.7)
        conn.execute(
            "INSERT INTO places VALUES (?, ?, ?, MakePoint(?, ?, 4326))",
            (i, f"장소 {i}", rnd.choice(["cafe", "park", "station"]), lon, lat),
        )
    conn.execute("SELECT CreateSpatialIndex('places', 'geom')")
    conn.commit()
    conn.close()
    return path


def spatialite_missing() -> str | None:
    """Why mod_spatialite cannot load here, or None when it can."""
    conn = sqlean.connect(":memory:")
    conn.enable_load_extension(True)
    try:
        conn.load_extension("mod_spatialite")
    except sqlean.OperationalError as exc:
        return f"mod_spatialite does not load ({exc}): apt-get install libsqlite3-mod-spatialite"
    finally:
        conn.close()
    return None
