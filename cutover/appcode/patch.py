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


Span = tuple[int, int, str]  # bytes [start, end) of the module replaced by the text


def replace_literals(text: str, replacements: list[Replacement]) -> tuple[str, list[Replacement]]:
    """The module with each literal replaced, and the replacements not found where promised."""
    spans, missing = literal_spans(text, replacements)
    return apply_spans(text, spans), missing


def apply_spans(text: str, spans: list[Span]) -> str:
    """The module with every span replaced (spans do not overlap)."""
    data = text.encode("utf-8")
    for start, end, new in sorted(spans, key=lambda s: (s[0], s[1]), reverse=True):
        data = data[:start] + new.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def _offsets(text: str) -> list[int]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    return offsets


def literal_spans(
    text: str, replacements: list[Replacement]
) -> tuple[list[Span], list[Replacement]]:
    """Where each SQL literal is and what it becomes; the replacements not found where promised."""
    tree = ast.parse(text)
    offsets = _offsets(text)
    data = text.encode("utf-8")
    wanted = {(r.line, r.old): r for r in replacements}
    spans: list[Span] = []
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
    return spans, list(wanted.values())


def engine_spans(
    text: str, option_lines: set[int], fixture_lines: set[int], options: set[str], env_key: str
) -> tuple[list[Span], list[int]]:
    """`connect_args` holding only dialect options dropped, SQLite test URLs read from `env_key`
    (`import os` added when missing); and the lines fixed."""
    tree = ast.parse(text)
    offsets = _offsets(text)
    data = text.encode("utf-8")
    spans: list[Span] = []
    fixed: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                keys = kw.value.keys if isinstance(kw.value, ast.Dict) else []
                if (
                    kw.arg == "connect_args"
                    and keys
                    and all(isinstance(k, ast.Constant) and k.value in options for k in keys)
                    and any(k is not None and k.lineno in option_lines for k in keys)
                    and kw.end_lineno is not None
                    and kw.end_col_offset is not None
                ):
                    start = offsets[kw.lineno - 1] + kw.col_offset
                    end = offsets[kw.end_lineno - 1] + kw.end_col_offset
                    spans.append(_without_argument(data, start, end))
                    fixed.append(kw.lineno)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("sqlite:")
            and node.lineno in fixture_lines
            and node.end_lineno is not None
            and node.end_col_offset is not None
        ):
            start = offsets[node.lineno - 1] + node.col_offset
            end = offsets[node.end_lineno - 1] + node.end_col_offset
            spans.append((start, end, f'os.environ["{env_key}"]'))
            fixed.append(node.lineno)
    imports_os = any(
        isinstance(n, ast.Import) and any(a.name == "os" and a.asname is None for a in n.names)
        for n in tree.body
    )
    if fixed and any(s[2].startswith("os.environ[") for s in spans) and not imports_os:
        first = next((n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), None)
        at = offsets[first.lineno - 1] if first is not None else 0
        if isinstance(first, ast.ImportFrom) and first.module == "__future__":
            at = offsets[first.end_lineno or first.lineno]
        spans.append((at, at, "import os\n"))
    return spans, fixed


def _without_argument(data: bytes, start: int, end: int) -> Span:
    """The span that removes one call argument and its separator (its whole line when alone)."""
    after = re.match(rb"[ \t]*,[ \t]*", data[end:])
    if after is not None:
        end += after.end()
        line_start = data.rfind(b"\n", 0, start) + 1
        if data[line_start:start].strip() == b"" and data[end : end + 1] in (b"\n", b"\r"):
            return (line_start, end + (2 if data[end : end + 2] == b"\r\n" else 1), "")
        return (start, end, "")
    before = re.search(rb",\s*$", data[:start])
    return (before.start() if before is not None else start, end, "")


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
    """A `git apply`-able diff of one file (a/ and b/
    prefixes, paths relative to the app's root).
    """
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
