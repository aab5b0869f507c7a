"""`.env` files: a lossless line model, the values it holds, and format-preserving value edits.

The grammar is python-dotenv's (which docker compose and pydantic-settings follow closely):
``[export ]KEY=value``, values unquoted (an inline comment starts at whitespace + ``#``), in single
quotes (``\\'`` and ``\\\\`` escapes) or in double quotes (backslash escapes, may span lines).
Anything else is kept as an opaque line. `render(parse(text)) == text` for every text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cutover.envfiles.spans import Edit, LineIndex, Slot, set_value

_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*")
_EOL = re.compile(r"\r\n|\n")
_COMMENT = re.compile(r"[ \t]+#")
_DOUBLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
# An unquoted value that python-dotenv reads back unchanged.
_PLAIN_SAFE = re.compile(r"^[^\s'\"\\#][^\s'\"\\]*\Z")


@dataclass(frozen=True)
class Line:
    """One logical line: `prefix` (indent, export, key, '='), the raw value, a `suffix`
    (comment), its end.
    """

    prefix: str
    raw: str = ""
    suffix: str = ""
    eol: str = ""
    key: str | None = None
    value: str = ""
    quote: str = ""


@dataclass(frozen=True)
class Document:
    """A parsed .env text: its lines in order."""

    lines: tuple[Line, ...]


def parse(text: str) -> Document:
    """Split `text` into lines without losing a byte."""
    lines: list[Line] = []
    pos = 0
    while pos < len(text):
        line, pos = _one_line(text, pos)
        lines.append(line)
    return Document(tuple(lines))


def render(doc: Document) -> str:
    """The text of a document, byte for byte."""
    return "".join(line.prefix + line.raw + line.suffix + line.eol for line in doc.lines)


def assignments(text: str) -> dict[str, str]:
    """KEY → value for every assignment (last one
    wins), as an app loading this file would see it.
    """
    return {line.key: line.value for line in parse(text).lines if line.key is not None}


def slots(text: str, *, base: int = 0, first_line: int = 1) -> list[Slot]:
    """Every assignment's value as a slot; `base`/`first_line`
    place `text` inside a larger file (heredocs).
    """
    found: list[Slot] = []
    index = LineIndex(text)
    pos = 0
    for line in parse(text).lines:
        if line.key is not None:
            start = pos + len(line.prefix)
            key_start = pos + _ASSIGN.match(line.prefix).start("key")  # type: ignore[union-attr]
            found.append(
                Slot(
                    fmt="dotenv",
                    key=line.key,
                    line=first_line - 1 + index.line(start),
                    start=base + start,
                    end=base + start + len(line.raw),
                    value=line.value,
                    quote=line.quote,
                    key_start=base + key_start,
                    key_end=base + key_start + len(line.key),
                )
            )
        pos += len(line.prefix) + len(line.raw) + len(line.suffix) + len(line.eol)
    return found


def encode(slot: Slot, value: str, *, live_refs: bool) -> str | None:
    """Raw text for `value` in `slot`'s quoting; None when it cannot be written there.

    `live_refs`: the value holds ${NAME} references that must stay live (never single quotes);
    otherwise a literal "${" must not be interpolated (single quotes where possible).
    """
    literal_dollar = not live_refs and "${" in value
    single_ok = "'" not in value and "\\" not in value and not (live_refs and "${" in value)
    if slot.embedded:
        if slot.context.startswith("default of") and "}" in value:
            return None  # python-dotenv ends a ${X:-default} at the first '}'
        if slot.quote == '"':
            return _escape_double(value)
        if slot.quote == "'":
            return value if single_ok else None
        return value if _PLAIN_SAFE.match(value) and not literal_dollar else None
    if slot.quote == "" and _PLAIN_SAFE.match(value) and not literal_dollar:
        return value
    if single_ok and (slot.quote == "'" or literal_dollar):
        return f"'{value}'"
    return f'"{_escape_double(value)}"'


def edits_for(
    slot: Slot, value: str, *, new_key: str | None = None, live_refs: bool = True
) -> list[Edit] | None:
    """The edits that set `slot` to `value` (and rename
    its key); None when the value cannot be written.
    """
    return set_value(slot, encode(slot, value, live_refs=live_refs), new_key)


def _escape_double(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _one_line(text: str, pos: int) -> tuple[Line, int]:
    match = _ASSIGN.match(text, pos)
    eol_match = _EOL.search(text, pos)
    line_end = eol_match.start() if eol_match else len(text)
    if match is None or match.end() > line_end:
        return _opaque(text, pos, line_end, eol_match)
    start = match.end()
    if start < len(text) and text[start] in "'\"":
        close = _closing_quote(text, start)
        if close is not None:
            after_eol = _EOL.search(text, close)
            end = after_eol.start() if after_eol else len(text)
            raw = text[start : close + 1]
            eol = after_eol.group(0) if after_eol else ""
            line = Line(
                text[pos:start],
                raw,
                text[close + 1 : end],
                eol,
                match["key"],
                _unquote(raw),
                raw[0],
            )
            return line, end + len(eol)
    segment = text[start:line_end]
    comment = _COMMENT.search(segment)
    value_part = segment[: comment.start()] if comment else segment
    raw = value_part.rstrip(" \t")
    eol = eol_match.group(0) if eol_match else ""
    line = Line(text[pos:start], raw, segment[len(raw) :], eol, match["key"], raw)
    return line, line_end + len(eol)


def _opaque(
    text: str, pos: int, line_end: int, eol_match: re.Match[str] | None
) -> tuple[Line, int]:
    eol = eol_match.group(0) if eol_match else ""
    return Line(text[pos:line_end], eol=eol), line_end + len(eol)


def _closing_quote(text: str, start: int) -> int | None:
    """Offset of the quote closing the one at `start` (a backslash escapes the next character)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and (quote == '"' or text[i + 1 : i + 2] == "'"):
            i += 2
            continue
        if ch == quote:
            return i
        i += 1
    return None


def _unquote(raw: str) -> str:
    inner = raw[1:-1]
    if raw[0] == "'":
        return re.sub(r"\\([\\'])", r"\1", inner)
    return re.sub(r"\\(.)", lambda m: _DOUBLE_ESCAPES.get(m[1], m[0]), inner, flags=re.S)
