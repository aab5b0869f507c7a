"""Issue 13 item 4: full-text and R-tree virtual tables are carried, their shadow tables are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import rows

from cutover import commands
from cutover import config as config_mod
from cutover.sources.sqlite import SqliteSource

FTS_ROWS = 300  # more than one sample stride and several profile values


def verify_ok(tmp_path: Path) -> bool:
    return commands.verify(config_mod.load(tmp_path / "cutover.toml"), tmp_path / ".cutover").ok


def index_defs(pg, table: str) -> list[str]:
    return [d for (d,) in rows(pg, "SELECT indexdef FROM pg_indexes WHERE tablename = %s", table)]


def test_a_trigram_fts5_table_is_carried_with_a_pg_trgm_index(make_sqlite, load, pg, tmp_path):
    src = make_sqlite(
        """
        CREATE TABLE embedding_fulltext_search_src (id INTEGER PRIMARY KEY);
        CREATE VIRTUAL TABLE embedding_fulltext_search
            USING fts5(string_value, tokenize='trigram');
        """,
        rows={
            "INSERT INTO embedding_fulltext_search (rowid, string_value) VALUES (?, ?)": [
                (i * 3, f"문서 {i} about chroma vectors") for i in range(1, FTS_ROWS + 1)
            ]
        },
    )
    schema = SqliteSource(src).reflect()
    assert [t.name for t in schema.tables] == [
        "embedding_fulltext_search_src",
        "embedding_fulltext_search",
    ]  # the five shadow tables (_data, _idx, _content, _docsize, _config) are not
    report = load(src).reports[0]
    by = {r.table: r for r in report.results}
    assert (by["embedding_fulltext_search"].read, by["embedding_fulltext_search"].written) == (
        FTS_ROWS,
        FTS_ROWS,
    )
    assert rows(
        pg,
        "SELECT rowid, string_value FROM embedding_fulltext_search WHERE string_value ILIKE %s",
        "%문서 7 %",
    ) == [(21, "문서 7 about chroma vectors")]
    (idx,) = index_defs(pg, "embedding_fulltext_search")[1:] or [""]
    assert "gin" in idx and "gin_trgm_ops" in idx
    (finding,) = [f for f in report.plan.findings if f.code == "fts_carried"]
    assert "ILIKE" in finding.message and "bm25" in finding.message
    assert not [f for f in report.plan.findings if f.code == "virtual_table"]
    assert verify_ok(tmp_path)


@pytest.mark.parametrize(
    ("using", "config", "shadows"),
    [
        ("fts5(title, body)", "simple", ["_data", "_idx", "_content", "_docsize", "_config"]),
        ("fts5(title, body, tokenize='porter unicode61')", "english", ["_data", "_content"]),
        ("fts4(title, body)", "simple", ["_content", "_segments", "_segdir", "_docsize", "_stat"]),
    ],
)
def test_word_fts_tables_get_tsvector_gin_indexes(make_sqlite, load, pg, using, config, shadows):
    src = make_sqlite(
        f"CREATE VIRTUAL TABLE notes USING {using};",
        rows={
            "INSERT INTO notes (rowid, title, body) VALUES (?, ?, ?)": [
                (1, "groceries", "buy apples and pears"),
                (2, "work", "ship the cutover"),
            ]
        },
    )
    names = {t.name for t in SqliteSource(src).reflect().tables}
    assert names == {"notes"} and not names & {"notes" + s for s in shadows}
    report = load(src).reports[0]
    assert [(r.read, r.written) for r in report.results] == [(2, 2)]
    defs = index_defs(pg, "notes")
    assert sum("to_tsvector" in d and f"'{config}'" in d for d in defs) == 2
    assert rows(
        pg,
        f"SELECT rowid FROM notes WHERE to_tsvector('{config}', body) "
        f"@@ websearch_to_tsquery('{config}', 'apples')",
    ) == [(1,)]


def test_an_rtree_table_is_carried_and_its_index_reported(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE VIRTUAL TABLE boxes USING rtree(id, min_x, max_x, min_y, max_y);"
        "INSERT INTO boxes VALUES (7, 1, 2, 3, 4), (9, -1.5, 0, 0, 2.5);"
    )
    names = {t.name for t in SqliteSource(src).reflect().tables}
    assert names == {"boxes"}  # not boxes_node, boxes_parent, boxes_rowid
    report = load(src).reports[0]
    assert [(r.read, r.written) for r in report.results] == [(2, 2)]
    assert rows(pg, "SELECT id, min_x, max_y FROM boxes ORDER BY id") == [
        (7, 1.0, 4.0),
        (9, -1.5, 2.5),
    ]
    (finding,) = [f for f in report.plan.findings if f.code == "rtree_carried"]
    assert "GiST" in (finding.fix or "")


def test_a_contentless_fts_table_is_reported_not_carried(make_sqlite):
    src = make_sqlite("CREATE VIRTUAL TABLE idx USING fts5(body, content='');")
    schema = SqliteSource(src).reflect()
    assert schema.tables == []
    (finding,) = [f for f in schema.findings if f.code == "virtual_table"]
    assert "contentless" in finding.message
