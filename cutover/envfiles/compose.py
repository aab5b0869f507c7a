"""docker-compose files: find environment values by reading the YAML text line by line.

No YAML library touches the file: block mappings and sequences are followed by indentation, so a
value's exact span is known and only that span is ever replaced. Understood: `environment:` as a
map (``KEY: value``) and as a list (``- KEY=value``), upper-case keys anywhere (``x-`` anchors
merged with ``<<: *db-env``), ``env_file`` (string, list, or ``- path:`` entries), service images,
and free scalars (``command:``) where inline URLs may sit. Multi-line quoted scalars are skipped;
block scalars and one-line flow collections are read for inline URLs only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from cutover.envfiles.spans import Edit, Slot, set_value, split_lines

_KEY = re.compile(
    r"(?P<key>\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'"
    r"|[^\s\"'#\-?:,\[\]{}&*!|>%@`][^#]*?|-[^\s#][^#]*?)"
    r"[ \t]*:(?=[ \t]|$)"
)
_ENV_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PROPERTIES = re.compile(r"^(?:&\S+|!\S*)(?:[ \t]+|$)")
_FLOW_ITEM = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^,\[\]{}\s\"'][^,\[\]{}]*")
_PLAIN_SAFE = re.compile(r"^(?![-?:,\[\]{}#&*!|>'\"%@`])\S*\Z")
_POSTGRES_IMAGE = re.compile(r"(?i)(postgres|pgvector|postgis|timescale)")
_YAML_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    " ": " ",
}


@dataclass
class ComposeFile:
    """What a compose file holds that phase 1 cares about."""

    slots: list[Slot] = field(default_factory=list)
    env_files: list[tuple[str, int, str]] = field(
        default_factory=list
    )  # (path as written, line, service)
    images: dict[str, str] = field(default_factory=dict)  # service → image
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, why) values left alone

    @property
    def postgres_services(self) -> list[str]:
        """Services whose image is a Postgres server (postgres, pgvector, postgis, timescale)."""
        return [name for name, image in self.images.items() if _POSTGRES_IMAGE.search(image)]


@dataclass(frozen=True)
class _Scalar:
    start: int  # raw span, quotes included
    end: int
    value: str
    quote: str


def parse(text: str) -> ComposeFile:
    """Read every value phase 1 may need from compose `text`."""
    return _Reader(text).read()


def encode(slot: Slot, value: str) -> str | None:
    """Raw YAML text for `value` in `slot`'s quoting; None when it cannot be written there."""
    if slot.embedded:
        if slot.quote == '"':
            return _escape_double(value)
        if slot.quote == "'":
            return value.replace("'", "''")
        return value if re.fullmatch(r"\S*", value) and not value.endswith(":") else None
    full = slot.lead + value
    if slot.quote == "'":
        return "'" + full.replace("'", "''") + "'"
    if slot.quote == "" and (full == "" or _PLAIN_SAFE.match(full)) and not full.endswith(":"):
        return full
    return '"' + _escape_double(full) + '"'


def edits_for(
    slot: Slot, value: str, *, new_key: str | None = None, live_refs: bool = True
) -> list[Edit] | None:
    """The edits that set `slot` to `value` (and rename its key); None when it cannot be written."""
    del live_refs  # compose interpolates ${NAME} in every quoting style
    if new_key and new_key != slot.key and slot.lead:
        slot = replace(
            slot, lead=f"{new_key}="
        )  # `- KEY=value` written whole: the key goes with it
    return set_value(slot, encode(slot, value), new_key)


class _Reader:
    """One pass over the lines, following block mappings and sequences by indentation."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.found = ComposeFile()
        self.stack: list[tuple[int, str]] = []  # open mapping keys: (indent, key)

    def read(self) -> ComposeFile:
        """Every slot, env_file entry and image of the text."""
        block_parent: int | None = None  # inside a block scalar: lines indented deeper than this
        for number, (offset, content, _eol) in enumerate(split_lines(self.text), start=1):
            stripped = content.lstrip(" ")
            indent = len(content) - len(stripped)
            if block_parent is not None:
                if not stripped.strip() or indent > block_parent:
                    self._block_line(number, offset + indent, stripped.rstrip(" \t"))
                    continue
                block_parent = None
            if not stripped.strip() or stripped.startswith("#"):
                continue
            if stripped.startswith(("---", "...")):
                self.stack.clear()
                continue
            col, body, item = indent, stripped, False
            if body == "-" or body.startswith("- "):
                item = True
                rest = body[1:].lstrip(" ")
                col += len(body) - len(rest)
                body = rest
                while self.stack and self.stack[-1][0] > indent:
                    self.stack.pop()
            key_match = _KEY.match(body)
            if key_match:
                while self.stack and self.stack[-1][0] >= col:
                    self.stack.pop()
                parents = [k for _, k in self.stack]
                self.stack.append((col, _unquote_key(key_match["key"])))
                if self._value(number, offset + col, body, key_match, parents):
                    block_parent = col
            elif item and body:
                self._item(number, offset + col, body, [k for _, k in self.stack])
        return self.found

    def _value(
        self, number: int, offset: int, body: str, key_match: re.Match[str], parents: list[str]
    ) -> bool:
        """Handle `key: value` (`body` starts at `offset`); True when a block scalar opens here."""
        key = _unquote_key(key_match["key"])
        rest = body[key_match.end() :]
        skip = len(rest) - len(rest.lstrip(" \t"))
        props = _PROPERTIES.match(rest[skip:])
        if props:
            skip += props.end()
        raw = rest[skip:]
        start = offset + key_match.end() + skip
        if not raw or raw[0] in "#*":
            return False
        if raw[0] in "|>":
            return True
        service = _service(parents)
        if raw[0] in "[{":
            self._flow(number, start, raw, service)
            return False
        scalar = _scalar(raw, start)
        if scalar is None:
            self.found.skipped.append((number, f"multi-line value of {key} is left as is"))
            return False
        if len(parents) == 2 and parents[0] == "services" and key == "image":
            self.found.images[parents[1]] = scalar.value
        elif key == "env_file" or (parents[-1:] == ["env_file"] and key == "path"):
            self.found.env_files.append((scalar.value, number, service))
        is_env = parents[-1:] == ["environment"] or bool(_ENV_KEY.match(key))
        renamable = is_env and key_match["key"] == key
        key_start = offset + key_match.start("key")
        self.found.slots.append(
            Slot(
                fmt="compose",
                key=key if is_env else None,
                line=number,
                start=scalar.start,
                end=scalar.end,
                value=scalar.value,
                quote=scalar.quote,
                key_start=key_start if renamable else None,
                key_end=key_start + len(key) if renamable else None,
                context=service,
            )
        )
        return False

    def _item(self, number: int, start: int, raw: str, parents: list[str]) -> None:
        """Handle `- scalar` (`raw` starts at `start`) under `parents`."""
        service = _service(parents)
        if raw[0] in "[{":
            self._flow(number, start, raw, service)
            return
        scalar = _scalar(raw, start)
        if scalar is None:
            self.found.skipped.append((number, "multi-line list item is left as is"))
            return
        if parents[-1:] == ["env_file"]:
            self.found.env_files.append((scalar.value, number, service))
            return
        key, eq, value = scalar.value.partition("=")
        if parents[-1:] == ["environment"] and eq and key.strip():
            self.found.slots.append(_list_entry(self.text, scalar, key, value, number, service))
            return
        self.found.slots.append(
            Slot(
                "compose",
                None,
                number,
                scalar.start,
                scalar.end,
                scalar.value,
                scalar.quote,
                context=service,
            )
        )

    def _block_line(self, number: int, start: int, content: str) -> None:
        """A line of a `|` or `>` block scalar: its text
        is literal, so inline URLs in it are editable.
        """
        if content:
            service = _service([k for _, k in self.stack])
            self.found.slots.append(
                Slot(
                    "compose",
                    None,
                    number,
                    start,
                    start + len(content),
                    content,
                    embedded=True,
                    context=service,
                )
            )

    def _flow(self, number: int, start: int, raw: str, service: str) -> None:
        """A one-line flow collection: each quoted or
        plain item is a free scalar (for inline URLs).
        """
        body = raw.split(" #", 1)[0]
        for match in _FLOW_ITEM.finditer(body):
            scalar = _scalar(match.group(0).rstrip(), start + match.start())
            if scalar is not None:
                self.found.slots.append(
                    Slot(
                        "compose",
                        None,
                        number,
                        scalar.start,
                        scalar.end,
                        scalar.value,
                        scalar.quote,
                        context=service,
                    )
                )


def _service(parents: list[str]) -> str:
    return parents[1] if len(parents) >= 2 and parents[0] == "services" else ""


def _list_entry(
    text: str, scalar: _Scalar, key: str, value: str, number: int, service: str
) -> Slot:
    """`- KEY=value`: the value's own span when the
    raw text has no escapes, else the whole scalar.
    """
    q = len(scalar.quote)
    inner_start = scalar.start + q
    if text[inner_start : scalar.end - q] == scalar.value:
        value_start = inner_start + len(key) + 1
        return Slot(
            "compose",
            key,
            number,
            value_start,
            scalar.end - q,
            value,
            scalar.quote,
            embedded=True,
            key_start=inner_start,
            key_end=inner_start + len(key),
            context=service,
        )
    return Slot(
        "compose",
        key,
        number,
        scalar.start,
        scalar.end,
        value,
        scalar.quote,
        lead=f"{key}=",
        context=service,
    )


def _scalar(raw: str, start: int) -> _Scalar | None:
    """The scalar at the start of `raw` (a line's
    remainder); None for an unterminated quoted one.
    """
    if raw.startswith('"'):
        i = 1
        while i < len(raw):
            if raw[i] == "\\":
                i += 2
                continue
            if raw[i] == '"':
                inner = raw[1:i]
                value = re.sub(r"\\(.)", lambda m: _YAML_ESCAPES.get(m[1], m[0]), inner)
                return _Scalar(start, start + i + 1, value, '"')
            i += 1
        return None
    if raw.startswith("'"):
        match = re.match(r"'((?:[^']|'')*)'", raw)
        if not match:
            return None
        return _Scalar(start, start + match.end(), match[1].replace("''", "'"), "'")
    comment = re.search(r"[ \t]+#", raw)
    value = (raw[: comment.start()] if comment else raw).rstrip(" \t")
    return _Scalar(start, start + len(value), value, "")


def _unquote_key(raw: str) -> str:
    if raw[:1] == '"':
        return raw[1:-1].replace('\\"', '"')
    if raw[:1] == "'":
        return raw[1:-1].replace("''", "'")
    return raw


def _escape_double(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
