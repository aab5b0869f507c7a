from __future__ import annotations

from conftest import rows


def test_demo_shaped_database_loads_and_reconciles(make_sqlite, load, pg):
    from cutover.demo import build_chat_db

    src = build_chat_db(
        make_sqlite("SELECT 1;", name="scratch.db").with_name("chat.db"), messages=500
    )
    result = load(src)
    (rep,) = result.reports
    by_table = {r.table: r for r in rep.results}
    assert all(r.reconciled for r in rep.results)
    assert by_table["messages"].read == 504
    assert by_table["messages"].rejected == 3  # the text in tokens is carried (issue 13 item 3)
    assert rows(pg, "SELECT count(*) FROM messages") == [(501,)]
    assert by_table["users"].rejected == 1
