"""Embeddings: detected, loaded into pgvector, indexed, and as searchable as they were."""

from __future__ import annotations

import json
import struct

import numpy as np
import psycopg
import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod
from cutover.demo import embedding_rows
from cutover.errors import TargetError

DIMS = 768
APPLY = 'infer_types = "apply"'


def embeddings(n: int, seed: int = 3) -> np.ndarray:
    return embedding_rows(seed, n)


def json_source(make_sqlite, vectors: np.ndarray, name: str = "vec.db"):
    return make_sqlite(
        "CREATE TABLE chunks (id INTEGER PRIMARY KEY, body TEXT, embedding TEXT);",
        name=name,
        rows={
            "INSERT INTO chunks VALUES (?, ?, ?)": [
                (i + 1, f"chunk {i}", json.dumps([float(x) for x in v]))
                for i, v in enumerate(vectors)
            ]
        },
    )


def test_json_embeddings_become_vector_with_hnsw_and_search_the_same(make_sqlite, load, pg):
    vectors = embeddings(400)
    result = load(json_source(make_sqlite, vectors), settings=APPLY)
    (tp,) = result.reports[0].plan.tables
    assert tp.column("embedding").pg_type == "vector(768)"
    assert (
        tp.column("embedding").coercion == "identity"
    )  # pgvector's text form already: no per-element Python
    assert rows(
        pg,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'",
    ) == [("vector(768)",)]
    (indexdef,) = rows(
        pg,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'chunks' AND indexdef LIKE '%%hnsw%%'",
    )[0]
    assert "vector_cosine_ops" in indexdef
    assert any("vector index built" in n for n in result.reports[0].notes)
    assert rows(
        pg,
        "SELECT attstorage FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'",
    ) == [("p",)]
    pg.execute(
        "SET hnsw.ef_search = 1000"
    )  # exhaustive on 400 rows: the index must agree with brute force
    pg.execute("SET enable_seqscan = off")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for q in (0, 57, 311):
        query = vectors[q] + 0.05
        expected = list(np.argsort(-(unit @ (query / np.linalg.norm(query))))[:10] + 1)
        plan = rows(
            pg,
            "EXPLAIN SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 10",
            json.dumps(query.tolist()),
        )
        assert any("hnsw" in line[0] for line in plan)
        got = [
            r[0]
            for r in rows(
                pg,
                "SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 10",
                json.dumps(query.tolist()),
            )
        ]
        assert got == [int(i) for i in expected]


def test_float32_blobs_detected_decoded_exactly(make_sqlite, load, pg):
    vectors = embeddings(50)[:, :64]
    src = make_sqlite(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, emb BLOB);",
        rows={
            "INSERT INTO items VALUES (?, ?)": [
                (i + 1, v.astype("<f4").tobytes()) for i, v in enumerate(vectors)
            ]
        },
    )
    result = load(src, settings=APPLY)
    col = result.reports[0].plan.tables[0].column("emb")
    assert (col.pg_type, col.options["blob_format"]) == ("vector(64)", "float32le")
    got = rows(pg, "SELECT emb::text FROM items ORDER BY id")
    for (text,), v in zip(got, vectors):
        assert np.array_equal(np.array(json.loads(text), dtype=np.float32), v.astype(np.float32))


def test_detection_is_only_suggested_by_default(make_sqlite, load, pg):
    result = load(json_source(make_sqlite, embeddings(30)))
    col = result.reports[0].plan.tables[0].column("embedding")
    assert col.pg_type == "text"
    (finding,) = [f for f in result.reports[0].plan.findings if f.code == "suggested_type"]
    assert '"vector(768)"' in finding.fix


def test_mixed_lengths_are_a_finding_not_a_vector(make_sqlite, load):
    vectors = embeddings(20)
    data = [
        (i + 1, json.dumps([float(x) for x in (v if i % 2 else v[:700])]))
        for i, v in enumerate(vectors)
    ]
    src = make_sqlite(
        "CREATE TABLE c (id INTEGER PRIMARY KEY, embedding TEXT);",
        rows={"INSERT INTO c VALUES (?, ?)": data},
    )
    result = load(src, settings=APPLY)
    assert result.reports[0].plan.tables[0].column("embedding").pg_type == "jsonb"
    (finding,) = [f for f in result.reports[0].plan.findings if f.code == "vector_unusable"]
    assert "700 to 768" in finding.message


def test_bad_vectors_rejected_with_the_reason(make_sqlite, load, tmp_path):
    good = embeddings(3)[:, :32]
    data = [
        (1, json.dumps(good[0].tolist())),
        (2, json.dumps(good[1].tolist()[:31])),
        (3, json.dumps(good[2].tolist())),
    ]
    src = make_sqlite(
        "CREATE TABLE c (id INTEGER PRIMARY KEY, embedding TEXT);",
        rows={"INSERT INTO c VALUES (?, ?)": data},
    )
    (res,) = load(src, extra='[databases.columns]\n"c.embedding" = "vector(32)"').reports[0].results
    assert (res.written, res.rejected) == (2, 1)
    (record,) = [
        json.loads(x)
        for x in (tmp_path / ".cutover" / "rejects" / "app" / "c.jsonl").read_text().splitlines()
    ]
    assert (
        record["key"] == {"id": 2}
        and record["column"] == "embedding"
        and "dimensions" in record["reason"]
    )
    blob = make_sqlite(
        "CREATE TABLE b (id INTEGER PRIMARY KEY, emb BLOB);",
        name="b.db",
        rows={
            "INSERT INTO b VALUES (?, ?)": [
                (1, struct.pack("<4f", 1, 2, 3, 4)),
                (2, b"\x00\x01\x02"),
            ]
        },
    )
    (res,) = (
        load(
            blob,
            extra='[databases.columns]\n"b.emb" = { type = "vector(4)", blob_format = "float32le" }',
        )
        .reports[0]
        .results
    )
    assert res.rejected == 1


def test_ivfflat_with_lists_from_the_row_count(make_sqlite, load, pg):
    load(
        json_source(make_sqlite, embeddings(60)),
        settings=APPLY + '\nvector_index = "ivfflat"\nvector_distance = "l2"',
    )
    (indexdef,) = rows(
        pg,
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'chunks' AND indexdef LIKE '%%ivfflat%%'",
    )[0]
    assert "lists='1'" in indexdef
    opclasses = rows(
        pg,
        "SELECT o.opcname FROM pg_index i JOIN pg_opclass o ON o.oid = i.indclass[0] JOIN pg_am a ON a.oid = o.opcmethod WHERE a.amname = 'ivfflat'",
    )
    assert opclasses == [("vector_l2_ops",)]


def test_a_target_without_pgvector_is_refused_before_any_data_moves(
    make_sqlite, tmp_path, pg_url_without_pgvector
):
    from cutover import commands
    from cutover import config as config_mod

    target = pg_url_without_pgvector
    src = json_source(make_sqlite, embeddings(5))
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[settings]\n{APPLY}\n[[databases]]\nname = "app"\nenv_key = "K"\nsource = "sqlite:///{src}"\ntarget = "{target}"\n'
    )
    with psycopg.connect(target) as conn:
        major = conn.info.server_version // 10000
    with pytest.raises(TargetError) as info:
        commands.run_phase2(config_mod.load(cfg), tmp_path / "w")
    assert "no pgvector" in str(info.value) and "nothing was loaded" in str(info.value)
    assert f"postgresql-{major}-pgvector" in (info.value.hint or "")
    with psycopg.connect(target) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'chunks'"
        ).fetchone() == (0,)


@pytest.mark.parametrize("how", ["setting", "override"])
def test_halfvec_holds_half_precision_and_verify_compares_what_it_holds(
    make_sqlite, load, pg, tmp_path, how
):
    """pgvector reads each number as a float32 and rounds that to half: a digest rounding the
    double to half directly called 1 row in 5 of these changed after a clean load."""
    rng = np.random.default_rng(11)
    vectors = rng.uniform(-1.0, 1.0, size=(300, 16))
    extra = '[databases.columns]\n"chunks.embedding" = "halfvec(16)"\n'
    if how == "setting":
        result = load(
            json_source(make_sqlite, vectors), settings=APPLY + '\nvector_type = "halfvec"'
        )
    else:
        result = load(json_source(make_sqlite, vectors), extra=extra)
    assert result.rejected == 0
    (tp,) = result.reports[0].plan.tables
    assert tp.column("embedding").pg_type == "halfvec(16)"
    config = config_mod.load(tmp_path / "cutover.toml")
    for mode in ("auto", "load"):
        parity = commands.verify(config, tmp_path / ".cutover", digests=mode)
        assert parity.ok, parity.to_json()
    pg.execute("UPDATE chunks SET embedding = %s::halfvec WHERE id = 7", (json.dumps([0.5] * 16),))
    changed = commands.verify(config, tmp_path / ".cutover")
    (t,) = changed.databases[0].tables
    assert [(d.key, d.column) for d in t.differences] == [({"id": 7}, "embedding")]
