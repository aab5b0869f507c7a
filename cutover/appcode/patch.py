"""Put rewrites back into the app's Python: each SQL string literal replaced where it is written.

Only the literal's own span changes (found with `ast`, at the line `find` reported): its prefix and
quote style stay, and a triple-quoted statement keeps the blank lines around its SQL. A literal
the new SQL cannot be written into in the same style is written as Python's repr.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from dataclasses import dataclass

_LITERAL = re.compile(
    r"^(?P<prefix>[rRuU]?)(?P<quote>'''|\"\"\"|'|\")(?P<body>.*)(?P=quote)$", re.S
)


@dataclass(frozen=True)
class Replacement:
    """The SQL literal starting at `line` whose value is `old` becomes `new`."""

    line: int
    old: str
    new: str


def replace_literals(text: str, replacements: list[Replacement]) -> tuple[str, list[Replacement]]:
    """The module with each literal replaced, and the replacements not found where promised."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    data = text.encode("utf-8")
    wanted = {(r.line, r.old): r for r in replacements}
    spans: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        hit = wanted.pop((node.lineno, node.value), None)
        if hit is None or node.end_lineno is None or node.end_col_offset is None:
            continue
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        source = data[start:end].decode("utf-8")
        spans.append((start, end, _rewritten(source, hit.old, hit.new)))
    for start, end, new in sorted(spans, reverse=True):
        data = data[:start] + new.encode("utf-8") + data[end:]
    return data.decode("utf-8"), list(wanted.values())


def _rewritten(source: str, old: str, new: str) -> str:
    """The literal `source` (one string, or several implicitly joined) holding `new` instead."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type == tokenize.STRING
    ]
    first = _LITERAL.match(tokens[0].string) if tokens else None
    if first is None:
        return repr(new)
    prefix, quote = first["prefix"], first["quote"]
    if len(tokens) == 1 and len(quote) == 3:
        lead = old[: len(old) - len(old.lstrip())]
        trail = old[len(old.rstrip()) :]
        new = lead + new.strip() + trail
    raw = prefix.lower() == "r"
    fits = (
        quote[0] not in new
        and (raw or "\\" not in new)
        and ("\n" not in new or len(quote) == 3)
        and not (raw and new.endswith("\\"))
    )
    return f"{prefix}{quote}{new}{quote}" if fits else repr(new)


def unified_diff(path: str, before: str, after: str) -> str:
    """A `git apply`-able diff of one file (a/ and b/ prefixes, paths relative to the app's root)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
