"""Target identifiers: keep case, or snake_case on request; never over 63 bytes; never colliding."""

from __future__ import annotations

import hashlib
import re

PG_MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1 in a stock Postgres build
_HASH_CHARS = 8

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z_]+")


def snake_case(name: str) -> str:
    """CamelCase, 'Mixed Case' and kebab-case to snake_case; other scripts (e.g. Korean) kept."""
    if not name.isascii():
        return re.sub(r"\s+", "_", name.strip()).lower()
    out = _CAMEL.sub("_", name)
    out = _NON_WORD.sub("_", out).strip("_").lower()
    out = re.sub(r"_+", "_", out)
    return out or "col"


def short_hash(name: str) -> str:
    """8 hex characters of a name's SHA-1: what tells two shortened names apart."""
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def fit(name: str, max_bytes: int, *, hashed_from: str | None = None) -> str:
    """`name` when it fits in `max_bytes` (UTF-8), else a stable prefix + '_' + 8 hex of its hash.

    hashed_from: the original the hash is taken of, when `name` is already a lossy form of it.
    """
    raw = name.encode("utf-8")
    if len(raw) <= max_bytes and hashed_from is None:
        return name
    digest = short_hash(hashed_from if hashed_from is not None else name)
    budget = max_bytes - _HASH_CHARS - 1
    prefix = raw[: max(budget, 0)].decode("utf-8", errors="ignore")
    return f"{prefix}_{digest}" if prefix else digest


def shorten(name: str) -> str:
    """The name itself when it fits in 63 bytes, else a stable prefix + '_' + 8 hex of its hash."""
    return fit(name, PG_MAX_IDENTIFIER_BYTES)


# Postgres' system columns: a user column may not take one of these names (an R-tree's xmin)
PG_SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})


class Namer:
    """Hands out target names within one namespace, recording every change it makes."""

    def __init__(self, snake: bool = False, reserved: frozenset[str] = frozenset()) -> None:
        self.snake = snake
        self.taken: set[str] = set(reserved)
        self.changes: list[tuple[str, str, str]] = []

    def name(self, source: str, kind: str, *, convert: bool = True) -> str:
        """The target name for `source` (a `kind` of object), unique in this namespace."""
        base = snake_case(source) if (self.snake and convert) else source
        candidate = shorten(base)
        n = 2
        while candidate in self.taken:
            candidate = shorten(f"{base}_{n}")
            n += 1
        self.taken.add(candidate)
        if candidate != source:
            self.changes.append((kind, source, candidate))
        return candidate
