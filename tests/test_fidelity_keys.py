"""Issue 13 item 8: a primary key that is also a foreign key stays a plain key of the parent's type."""

from __future__ import annotations

import pytest
from conftest import rows


@pytest.mark.parametrize(
    "child_key",
    [
        "user_id INTEGER PRIMARY KEY REFERENCES users (id)",
        "user_id INTEGER PRIMARY KEY AUTOINCREMENT REFERENCES users (id)",
        "user_id INTEGER NOT NULL PRIMARY KEY, FOREIGN KEY (user_id) REFERENCES users (id)",
    ],
)
def test_a_one_to_one_extension_key_is_not_an_identity(make_sqlite, load, pg, child_key):
    src = make_sqlite(
        f"""
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE profiles (bio TEXT, {child_key});
        INSERT INTO users (id, email) VALUES (1, 'a@x'), (5, 'b@x');
        INSERT INTO profiles (user_id, bio) VALUES (5, 'hello'), (1, 'hi');
        """
    )
    report = load(src).reports[0]
    assert all(r.rejected == 0 for r in report.results)
    attrs = rows(
        pg,
        "SELECT attname, format_type(atttypid, atttypmod), attidentity FROM pg_attribute "
        "WHERE attrelid = 'profiles'::regclass AND attname = 'user_id'",
    )
    assert attrs == [("user_id", "bigint", "")]
    assert rows(pg, "SELECT pg_get_serial_sequence('profiles', 'user_id')") == [(None,)]
    assert rows(
        pg,
        "SELECT contype FROM pg_constraint WHERE conrelid = 'profiles'::regclass "
        "AND contype IN ('f', 'p') ORDER BY contype",
    ) == [("f",), ("p",)]
    # the parent keeps its identity, continuing after its highest id
    pg.execute("INSERT INTO users (email) VALUES ('c@x')")
    assert rows(pg, "SELECT max(id) FROM users") == [(6,)]
    # a profile needs its user's id: no value is invented for it
    with pytest.raises(Exception, match="null value"):
        pg.execute("INSERT INTO profiles (bio) VALUES ('no user')")
