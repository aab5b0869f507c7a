"""Value spans in a user's file, and edits that replace exactly those spans.

Every editor (dotenv, compose, shell) reports the values it found as `Slot`s:
where the raw text of a value starts and ends, what it means once quotes are
removed, and how it is quoted. A rewrite is a list of `Edit`s applied to the
original text, so everything outside the edited spans comes back byte for byte.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, replace

from cutover import urls
from cutover.errors import UsageError

# ${NAME:-default}, ${NAME-default}, ${NAME:=default}, ${NAME=default}: the default may hold a URL.
_DEFAULT = re.compile(
    r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-=])(?P<default>.*)\}$", re.S
)
# A database URL inside free text (a command line, a compose `command:`), JDBC included.
INLINE_URL = re.compile(
    r"(?:jdbc:(?:sqlserver|jtds:sqlserver|postgresql|sqlite):|"
    r"\b(?:sqlite|mssql|postgres|postgresql)(?:\+[A-Za-z0-9_]+)?://)[^\s\"'`<>|()]*"
)


@dataclass(frozen=True)
class Slot:
    """One value in a file: its raw span, its meaning and how it is quoted."""

    fmt: str  # dotenv | compose | shell
    key: str | None  # the env key; None for a URL found inside free text
    line: int  # 1-based line where the value starts
    start: int  # raw value span in the file text (quotes included)
    end: int
    value: str  # the value with quotes removed and escapes decoded
    quote: str = ""  # '', '"' or "'"
    embedded: bool = False  # inside a larger quoted or unquoted string: no quotes may be added
    key_start: int | None = None  # the key's span, when it can be renamed in place
    key_end: int | None = None
    lead: str = ""  # text re-encoded with the value (compose list items: "KEY=")
    context: str = ""  # where it sits: a compose service, "default of ${X}", "inline"


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with `text`."""

    start: int
    end: int
    text: str


class LineIndex:
    """Offset → 1-based line number for one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\n|\r(?!\n)", text)]

    def line(self, offset: int) -> int:
        """The 1-based line holding `offset`."""
        return bisect.bisect_right(self.starts, offset)


def set_value(slot: Slot, raw: str | None, new_key: str | None = None) -> list[Edit] | None:
    """Edits writing `raw` over the slot's value and
    `new_key` over its key; None when `raw` is None.
    """
    if raw is None:
        return None
    edits = [Edit(slot.start, slot.end, raw)]
    if new_key and new_key != slot.key and slot.key_start is not None and slot.key_end is not None:
        edits.append(Edit(slot.key_start, slot.key_end, new_key))
    return edits


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits; text outside them is kept byte for byte."""
    out: list[str] = []
    pos = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < pos:
            raise UsageError(f"overlapping edits at offset {edit.start}")
        out.append(text[pos : edit.start])
        out.append(edit.text)
        pos = edit.end
    out.append(text[pos:])
    return "".join(out)


def split_lines(text: str) -> list[tuple[int, str, str]]:
    """(offset, content, line ending) for every line; CRLF, LF and a missing final newline kept."""
    lines: list[tuple[int, str, str]] = []
    pos = 0
    for match in re.finditer(r"[^\n]*(?:\n|$)", text):
        chunk = match.group(0)
        if not chunk and match.start() >= len(text):
            break
        eol = "\r\n" if chunk.endswith("\r\n") else "\n" if chunk.endswith("\n") else ""
        lines.append((pos, chunk[: len(chunk) - len(eol)], eol))
        pos += len(chunk)
    return lines


def raw_is_literal(text: str, slot: Slot) -> bool:
    """True when the raw text between the quotes is the value itself (no escapes to map)."""
    if slot.quote not in ("", '"', "'"):
        return False
    raw = text[slot.start : slot.end]
    inner = (
        raw[len(slot.quote) : len(raw) - len(slot.quote)]
        if slot.quote and not slot.embedded
        else raw
    )
    return inner == slot.value


def inner_slot(text: str, slot: Slot, start: int, end: int, context: str) -> Slot | None:
    """The part value[start:end] of `slot` as its own
    embedded slot, when raw offsets can be mapped.
    """
    if not raw_is_literal(text, slot):
        return None
    base = slot.start + (len(slot.quote) if slot.quote and not slot.embedded else 0)
    return replace(
        slot,
        start=base + start,
        end=base + end,
        value=slot.value[start:end],
        embedded=True,
        key_start=None,
        key_end=None,
        lead="",
        context=context,
        line=slot.line + slot.value.count("\n", 0, start),
    )


def value_slots(text: str, slot: Slot) -> list[Slot]:
    """The slots that may hold a connection string: the
    value, a ${X:-default}'s default, inline URLs.
    """
    match = _DEFAULT.match(slot.value)
    if match:
        inner = inner_slot(
            text,
            slot,
            match.start("default"),
            match.end("default"),
            f"default of ${{{match['name']}}}",
        )
        return (
            [replace(inner, key=slot.key or match["name"])]
            if inner is not None and inner.value
            else []
        )
    if slot.key is not None and (not slot.value.strip() or urls.kind_of(slot.value)):
        return [slot]
    found = []
    for url in INLINE_URL.finditer(slot.value):
        inner = inner_slot(text, slot, url.start(), url.end(), "inline")
        if inner is not None:
            found.append(replace(inner, key=None))
    return found
