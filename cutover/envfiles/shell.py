"""Shell scripts: find `KEY=value` words (after `export`, before a command, in `docker run -e`),
inline URLs in any word, and `.env` text written by heredocs, with exact spans.

A small lexer follows POSIX quoting (single quotes, double quotes with backslash escapes,
`${…}`, `$(…)` and backticks kept whole, line continuations, comments, heredocs), so a value's
span is exact and everything else in the script is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cutover.envfiles import dotenv
from cutover.envfiles.spans import Edit, LineIndex, Slot, set_value

_OPERATORS = ";&|()<>"
_NAME_EQ = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\?([A-Za-z_][A-Za-z0-9_]*))")
# An unquoted shell word that needs no quoting (no globbing, no operators, no expansions but
# ${NAME}).
_PLAIN_SAFE = re.compile(r"^(?:[A-Za-z0-9_./+:@%=,~-]|\$\{[A-Za-z_][A-Za-z0-9_]*\})*\Z")


@dataclass(frozen=True)
class _Segment:
    kind: str  # plain | single | double
    start: int  # raw span, quotes included
    end: int
    value: str


@dataclass
class _Word:
    segments: list[_Segment] = field(default_factory=list)

    @property
    def start(self) -> int:
        """Where the word starts."""
        return self.segments[0].start

    @property
    def end(self) -> int:
        """Where the word ends (exclusive)."""
        return self.segments[-1].end

    @property
    def value(self) -> str:
        """The word with quotes removed."""
        return "".join(s.value for s in self.segments)


def slots(text: str) -> list[Slot]:
    """Every assignment value, every word holding a URL, and every heredoc `KEY=value` line."""
    lexer = _Lexer(text)
    lexer.run()
    index = LineIndex(text)
    found: list[Slot] = []
    for word in lexer.words:
        slot = _word_slot(text, word, index)
        if slot is not None:
            found.append(slot)
    for start, end in lexer.heredocs:
        found += dotenv.slots(text[start:end], base=start, first_line=index.line(start))
    return sorted(found, key=lambda s: s.start)


def encode(slot: Slot, value: str) -> str | None:
    """Raw shell text for `value` (with live ${NAME}
    references) in `slot`'s quoting; None if impossible.
    """
    if slot.fmt == "dotenv":  # a heredoc line: the text the script writes is a .env line
        return dotenv.encode(slot, value, live_refs=True)
    escaped = re.sub(r'([\\"`])', r"\\\1", value)
    escaped = re.sub(r"\$(?!\{[A-Za-z_][A-Za-z0-9_]*\})", r"\\$", escaped)
    if slot.embedded:
        if slot.quote == '"':
            return escaped
        if slot.quote == "'":
            return value if "'" not in value and "${" not in value else None
        return value if _PLAIN_SAFE.match(value) else f'"{escaped}"'
    if slot.quote == "'" and "'" not in value and "${" not in value:
        return f"'{value}'"
    if slot.quote == "" and _PLAIN_SAFE.match(value):
        return value
    return f'"{escaped}"'


def edits_for(
    slot: Slot, value: str, *, new_key: str | None = None, live_refs: bool = True
) -> list[Edit] | None:
    """The edits that set `slot` to `value` (and rename its key); None when it cannot be written."""
    del live_refs  # scripts are committed: they only ever get references
    return set_value(slot, encode(slot, value), new_key)


def _word_slot(text: str, word: _Word, index: LineIndex) -> Slot | None:
    first = word.segments[0]
    name = _NAME_EQ.match(first.value)
    if (
        name
        and first.kind == "plain"
        and text[first.start : first.start + name.end()] == name.group(0)
    ):
        key = name.group(0)[:-1]
        value_start = first.start + name.end()
        rest = (
            [_Segment("plain", value_start, first.end, first.value[name.end() :])]
            if value_start < first.end
            else []
        )
        rest += word.segments[1:]
        quote = rest[0].kind if len(rest) == 1 else "mixed" if rest else ""
        value = "".join(s.value for s in rest)
        return Slot(
            "shell",
            key,
            index.line(value_start),
            value_start,
            word.end,
            value,
            quote={"plain": "", "single": "'", "double": '"', "mixed": "mixed"}.get(quote, ""),
            key_start=first.start,
            key_end=first.start + len(key),
        )
    if name and first.kind == "double" and text[first.start + 1 : first.end - 1] == first.value:
        # docker run -e "KEY=value": the value sits inside one double-quoted string
        key = name.group(0)[:-1]
        value_start = first.start + 1 + name.end()
        return Slot(
            "shell",
            key,
            index.line(value_start),
            value_start,
            first.end - 1,
            first.value[name.end() :],
            '"',
            embedded=True,
        )
    value = word.value
    if "://" not in value and "jdbc:" not in value and "${" not in value:
        return None
    quote = first.kind if len(word.segments) == 1 else "mixed"
    return Slot(
        "shell",
        None,
        index.line(word.start),
        word.start,
        word.end,
        value,
        {"plain": "", "single": "'", "double": '"'}.get(quote, "mixed"),
    )


class _Lexer:
    """Splits a script into words (with segments) and heredoc bodies."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.words: list[_Word] = []
        self.heredocs: list[tuple[int, int]] = []  # body spans
        self.pending: list[tuple[str, bool]] = []  # heredoc delimiters waiting for the line end

    def run(self) -> None:
        """Lex the whole text into `words` and `heredocs`."""
        i = 0
        while i < self.n:
            c = self.text[i]
            if c in " \t\r":
                i += 1
            elif c == "\n":
                i = self._heredoc_bodies(i + 1)
            elif c == "\\" and self.text[i + 1 : i + 2] == "\n":
                i += 2
            elif c == "#":
                end = self.text.find("\n", i)
                i = self.n if end < 0 else end
            elif self.text.startswith("<<", i) and not self.text.startswith("<<<", i):
                i = self._heredoc_start(i)
            elif c in _OPERATORS:
                i += 1
            else:
                i = self._word(i)

    def _heredoc_start(self, i: int) -> int:
        match = _HEREDOC.match(self.text, i)
        if not match:
            return i + 2
        delimiter = (
            match[2] if match[2] is not None else match[3] if match[3] is not None else match[4]
        )
        self.pending.append((delimiter, match[1] == "-"))
        return match.end()

    def _heredoc_bodies(self, i: int) -> int:
        """At the start of a line: skip the bodies of heredocs opened on the previous line."""
        for delimiter, strip_tabs in self.pending:
            body_start = i
            while i < self.n:
                end = self.text.find("\n", i)
                line_end = self.n if end < 0 else end
                line = self.text[i:line_end].rstrip("\r")
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    self.heredocs.append((body_start, i))
                    i = line_end + 1
                    break
                i = line_end + 1
            else:
                self.heredocs.append((body_start, self.n))
        self.pending.clear()
        return min(i, self.n)

    def _word(self, i: int) -> int:
        word = _Word()
        plain_start = i
        plain: list[str] = []

        def flush(at: int) -> None:
            if at > plain_start:
                word.segments.append(_Segment("plain", plain_start, at, "".join(plain)))

        while i < self.n:
            c = self.text[i]
            if c in " \t\r\n" or c in _OPERATORS:
                break
            if c in "'\"":
                flush(i)
                end = self._quoted(i)
                raw = self.text[i:end]
                value = (
                    raw[1:-1]
                    if c == "'"
                    else re.sub(r'\\([$`"\\])', r"\1", raw[1:-1]).replace("\\\n", "")
                )
                word.segments.append(_Segment("single" if c == "'" else "double", i, end, value))
                i, plain_start, plain = end, end, []
                continue
            if c == "\\" and i + 1 < self.n:
                if self.text[i + 1] != "\n":
                    plain.append(self.text[i + 1])
                i += 2
                continue
            if c == "$" and self.text[i + 1 : i + 2] in ("{", "("):
                end = self._balanced(i + 1)
                plain.append(self.text[i:end])
                i = end
                continue
            if c == "`":
                end = self.text.find("`", i + 1)
                end = self.n if end < 0 else end + 1
                plain.append(self.text[i:end])
                i = end
                continue
            plain.append(c)
            i += 1
        flush(i)
        if word.segments:
            self.words.append(word)
        return i

    def _quoted(self, i: int) -> int:
        """End (exclusive) of the quoted string opening at `i`."""
        quote = self.text[i]
        j = i + 1
        while j < self.n:
            c = self.text[j]
            if quote == '"' and c == "\\":
                j += 2
                continue
            if quote == '"' and c == "$" and self.text[j + 1 : j + 2] in ("{", "("):
                j = self._balanced(j + 1)
                continue
            if c == quote:
                return j + 1
            j += 1
        return self.n

    def _balanced(self, i: int) -> int:
        """End (exclusive) of the `{…}` or `(…)` opening at `i`, quotes inside respected."""
        opener = self.text[i]
        closer = "}" if opener == "{" else ")"
        depth, j = 0, i
        while j < self.n:
            c = self.text[j]
            if c in "'\"" and j > i:
                j = self._quoted(j)
                continue
            if c == "\\":
                j += 2
                continue
            if c == opener:
                depth += 1
            elif c == closer:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return self.n
