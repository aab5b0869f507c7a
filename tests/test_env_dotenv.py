"""The .env editor: lossless parse/render, python-dotenv's reading of values, in-place edits."""

from __future__ import annotations

import io
from typing import Any

import dotenv as dotenv_lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutover.envfiles import dotenv
from cutover.envfiles.spans import Slot, apply_edits

_DOTENV_LIB: Any = (
    dotenv_lib  # python-dotenv, a declared test dependency: the oracle for the editor
)

# Text built from the pieces that make .env files hard: keys, '=', quotes, escapes, comments,
# 'export', CRLF and lone CR, tabs, Korean, and stray bytes decoded with surrogateescape.
_PIECES = st.sampled_from(
    [
        "KEY",
        "RSL_DATABASE_URL",
        "export ",
        "=",
        " ",
        "\t",
        "#",
        " # ",
        '"',
        "'",
        "\\",
        "\n",
        "\r\n",
        "\r",
        "${X}",
        "${X:-d}",
        "a",
        "é",
        "주석",
        "\udcff",
        "sqlite:///x.db",
        ":",
    ]
)
DOTENV_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=40).map("".join)


@given(DOTENV_TEXT)
@settings(max_examples=400, deadline=None)
def test_parse_render_is_byte_for_byte(text: str) -> None:
    assert dotenv.render(dotenv.parse(text)) == text


@given(DOTENV_TEXT)
@settings(max_examples=200, deadline=None)
def test_slots_point_at_their_raw_values(text: str) -> None:
    for slot in dotenv.slots(text):
        raw = text[slot.start : slot.end]
        assert raw.startswith(slot.quote) and raw.endswith(slot.quote)
        assert text[slot.key_start : slot.key_end] == slot.key


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        max_size=30,
    ),
    st.sampled_from(["", '"', "'"]),
)
@settings(max_examples=300, deadline=None)
def test_encoded_values_read_back_unchanged(value: str, quote: str) -> None:
    text = f"KEY={quote}old{quote} # comment\nNEXT=1\n"
    slot = dotenv.slots(text)[0]
    edits = dotenv.edits_for(slot, value, live_refs=False)
    assert edits is not None
    new = apply_edits(text, edits)
    assert dotenv.assignments(new) == {"KEY": value, "NEXT": "1"}
    if _DOTENV_LIB is not None:  # and python-dotenv, which apps really use, reads the same
        assert dict(_DOTENV_LIB.dotenv_values(stream=io.StringIO(new), interpolate=False)) == {
            "KEY": value,
            "NEXT": "1",
        }


def test_python_dotenv_agrees_on_values() -> None:
    text = (
        "# 로컬 개발 환경\r\n"
        'export RSL_DATABASE_URL="mssql+pyodbc://sa:p%40ss@h/db?driver=ODBC+Driver+18+for+SQL+Server" # inline\r\n'
        "A=b #c\r\nB='x # y'\r\nC=\"multi\nline\"\nD=e#f\n  E = spaced  \nF=\nG='it\\'s'\nH=\"tab\\tq\\\"\"\n"
    )
    ours = dotenv.assignments(text)
    theirs = dotenv_lib.dotenv_values(stream=io.StringIO(text), interpolate=False)
    assert ours == dict(theirs)


def test_slots_report_lines_keys_and_quotes() -> None:
    text = "# c\nexport A='1'\nB=\"two\nlines\"\nC=3 # note\n"
    slots = dotenv.slots(text)
    assert [(s.key, s.line, s.quote, s.value) for s in slots] == [
        ("A", 2, "'", "1"),
        ("B", 3, '"', "two\nlines"),
        ("C", 5, "", "3"),
    ]


def test_key_named_like_export_is_found_in_place() -> None:
    text = "export ex=1\n"
    (slot,) = dotenv.slots(text)
    assert text[slot.key_start : slot.key_end] == "ex"


@pytest.mark.parametrize(
    ("line", "value", "live", "expected"),
    [
        (
            "K=old",
            "postgresql+psycopg://u:${POSTGRES_PASSWORD}@h:5432/db",
            True,
            "K=postgresql+psycopg://u:${POSTGRES_PASSWORD}@h:5432/db",
        ),
        (
            "K='old'",
            "postgresql://u:${POSTGRES_PASSWORD}@h/db",
            True,
            'K="postgresql://u:${POSTGRES_PASSWORD}@h/db"',
        ),
        ("K='old'", "postgresql://u:pw@h/db", False, "K='postgresql://u:pw@h/db'"),
        ("K=old", "has space", False, 'K="has space"'),
        ("K=old", "p${not_a_ref}", False, "K='p${not_a_ref}'"),
        ('K="old" # keep me', "new", True, 'K="new" # keep me'),
        ("export K=old  # 주석", "new", True, "export K=new  # 주석"),
    ],
)
def test_edits_keep_style(line: str, value: str, live: bool, expected: str) -> None:
    (slot,) = dotenv.slots(line)
    edits = dotenv.edits_for(slot, value, live_refs=live)
    assert edits is not None
    assert apply_edits(line, edits) == expected


def test_rename_edits_key_span_only() -> None:
    text = "export MSSQL_HOST=sql01  # 서버\r\n"
    (slot,) = dotenv.slots(text)
    edits = dotenv.edits_for(slot, "pg01", new_key="POSTGRES_HOST")
    assert apply_edits(text, edits or []) == "export POSTGRES_HOST=pg01  # 서버\r\n"


def test_default_slot_refuses_a_closing_brace() -> None:
    slot = Slot("dotenv", "K", 1, 0, 3, "old", embedded=True, context="default of ${K}")
    assert dotenv.encode(slot, "postgresql://u:${P}@h/db", live_refs=True) is None
    assert dotenv.encode(slot, "postgresql://u@h/db", live_refs=True) == "postgresql://u@h/db"
