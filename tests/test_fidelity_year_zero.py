"""Issue 13 item 3: a timestamp dated in year 0 (1 BC), which Python's datetime cannot hold, is
carried as the text the app reads, with a finding, never rejected."""

from __future__ import annotations

from conftest import rows

YEAR_ZERO = "0000-01-01T00:00:00.000Z"


def test_a_year_zero_timestamp_keeps_its_column_as_text(make_sqlite, load, pg):
    src = make_sqlite(
        f"""
        CREATE TABLE jobs (id INTEGER PRIMARY KEY,
            started_at TIMESTAMP NOT NULL DEFAULT '{YEAR_ZERO}', due DATE);
        INSERT INTO jobs VALUES (1, '2024-06-01T10:00:00.000Z', '2024-06-01');
        INSERT INTO jobs (id, due) VALUES (2, '0000-12-31');
        """
    )
    report = load(src).reports[0]
    assert [(r.read, r.written, r.rejected) for r in report.results] == [(2, 2, 0)]
    by_column = {c.source: c for c in report.plan.tables[0].columns}
    assert by_column["started_at"].pg_type == "text"
    assert by_column["due"].pg_type == "text"
    found = {f.column: f for f in report.plan.findings if f.code == "dynamic_typing"}
    assert found["started_at"].count == 1 and "year 0" in found["started_at"].message
    assert 'columns."jobs.started_at" = "timestamp' in (found["started_at"].fix or "")
    assert rows(pg, "SELECT started_at, due FROM jobs ORDER BY id") == [
        ("2024-06-01T10:00:00.000Z", "2024-06-01"),
        (YEAR_ZERO, "0000-12-31"),
    ]


def test_timestamps_without_year_zero_stay_timestamps(make_sqlite, load, pg):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at TIMESTAMP);"
        "INSERT INTO t VALUES (1, '0001-01-01 00:00:00'), (2, '2024-01-01 00:00:00');"
    )
    report = load(src).reports[0]
    assert report.plan.tables[0].columns[1].pg_type.startswith("timestamp")
    assert not [f for f in report.plan.findings if f.code == "dynamic_typing"]
