"""Reading SQLite SQL text: tokens, top-level lists, and a conservative translation to Postgres.

The translator carries an expression only when every token is on a short list whose meaning is
the same in both databases; anything else returns None and the caller reports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass

from cutover.schema.rules import pg_base

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<blob>[xX]'[0-9A-Fa-f]*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9A-Fa-f]+)
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
  | (?P<op>==|!=|<>|<=|>=|\|\||<<|>>|[-+*/%<>=(),.;~&|?:@$])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One lexical token: kind and its text."""

    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def ident(self) -> str | None:
        """The identifier this token names, unquoted, or None."""
        if self.kind == "word":
            return self.text
        if self.kind == "qident":
            body = self.text[1:-1]
            quote = self.text[0]
            return body if quote == "[" else body.replace(quote * 2, quote)
        return None


def tokenize(sql: str, *, keep_space: bool = False) -> list[Token]:
    """Split SQL into tokens; unknown characters become 'other' tokens."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            tokens.append(Token("other", sql[pos]))
            pos += 1
            continue
        kind = match.lastgroup or "other"
        if keep_space or kind not in ("ws", "comment"):
            tokens.append(Token(kind, match.group()))
        pos = match.end()
    return tokens


def split_top_level(tokens: list[Token]) -> list[list[Token]]:
    """Split a token list at commas that are not inside parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if tok.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def matching_paren(tokens: list[Token], open_index: int) -> int:
    """Index of the ')' closing the '(' at open_index."""
    depth = 0
    for i in range(open_index, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def join(tokens: list[Token]) -> str:
    """Tokens back to readable SQL with single spaces where needed."""
    out = ""
    for tok in tokens:
        if out and not (
            tok.text in (")", ",", ".")
            or out.endswith(("(", "."))
            or (tok.text == "(" and out[-1:].isalnum())
        ):
            out += " "
        out += tok.text
    return out


def collations(sql: str) -> set[str]:
    """Names used after COLLATE anywhere in the SQL text."""
    tokens = tokenize(sql)
    found = set()
    for prev, tok in zip(tokens, tokens[1:]):
        if prev.upper == "COLLATE" and tok.ident:
            found.add(tok.ident)
    return found


def strip_parens(tokens: list[Token]) -> list[Token]:
    """Drop parentheses that wrap the whole expression."""
    while (
        len(tokens) >= 2 and tokens[0].text == "(" and matching_paren(tokens, 0) == len(tokens) - 1
    ):
        tokens = tokens[1:-1]
    return tokens


_KEYWORDS = {
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "BETWEEN",
    "LIKE",
    "TRUE",
    "FALSE",
    "ASC",
    "DESC",
}
_FUNCTIONS = {
    "LOWER": "lower",
    "UPPER": "upper",
    "LENGTH": "length",
    "ABS": "abs",
    "COALESCE": "coalesce",
    "TRIM": "btrim",
    "LTRIM": "ltrim",
    "RTRIM": "rtrim",
    "SUBSTR": "substr",
    "IFNULL": "coalesce",
}
_OPS = {"=", "==", "!=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "||", "(", ")", ","}
_COMPARE = {"=", "==", "!=", "<>"}


def translate_expression(
    sql: str, rename: Callable[[str], str | None], booleans: Set[str] = frozenset()
) -> str | None:
    """Translate a SQLite boolean/scalar expression to Postgres, or None when unsure.

    `rename` maps a source column name to its quoted target identifier
    (None: not a column); `booleans` are source columns that become
    Postgres booleans, so `flag = 0` becomes `flag = false`.
    """
    tokens = tokenize(sql)
    out: list[str] = []
    last_bool_compare = False
    for i, tok in enumerate(tokens):
        text = tok.text
        up = tok.upper
        if tok.kind == "word" and up in _KEYWORDS:
            out.append(up.lower() if up in ("TRUE", "FALSE") else up)
            continue
        if tok.kind == "word" and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            fn = _FUNCTIONS.get(up)
            if fn is None:
                return None
            out.append(fn)
            continue
        if tok.kind in ("word", "qident"):
            name = tok.ident or ""
            target = rename(name)
            if target is None:
                return None
            out.append(target)
            nxt = tokens[i + 1].text if i + 1 < len(tokens) else ""
            last_bool_compare = name in booleans and nxt in _COMPARE
            continue
        if tok.kind == "number":
            if last_bool_compare and text in ("0", "1"):
                out.append("true" if text == "1" else "false")
            else:
                out.append(text)
            last_bool_compare = False
            continue
        if tok.kind == "string":
            out.append(text)
            continue
        if tok.kind == "op" and text in _OPS:
            out.append("=" if text == "==" else text)
            if text not in _COMPARE:
                last_bool_compare = False
            continue
        return None
    return join([Token("x", t) for t in out]) if out else None


@dataclass(frozen=True)
class DefaultTranslation:
    """A source default rendered for Postgres, or why it could not be."""

    sql: str | None
    reason: str | None = None


_NOW_FORMS = {"CURRENT_TIMESTAMP", "DATETIME('NOW')", 'DATETIME("NOW")', "DATETIME('NOW','UTC')"}


def translate_default(default: str, pg_type: str) -> DefaultTranslation:
    """Translate a SQLite column default to a Postgres server default of `pg_type`."""
    tokens = strip_parens(tokenize(default))
    if not tokens:
        return DefaultTranslation(None)
    compact = "".join(t.text for t in tokens).upper()
    base = pg_base(pg_type)
    if compact == "NULL":
        return DefaultTranslation(None)
    if compact in _NOW_FORMS:
        # SQLite's clock values are UTC; a Postgres timestamp (no zone) must be told so.
        if base in ("timestamp", "timestamp without time zone"):
            return DefaultTranslation("timezone('utc', now())")
        if base in ("timestamptz", "timestamp with time zone"):
            return DefaultTranslation("now()")
        if base in ("text", "varchar", "character varying"):
            return DefaultTranslation("to_char(timezone('utc', now()), 'YYYY-MM-DD HH24:MI:SS')")
        return DefaultTranslation(None, f"{default} has no equivalent for {pg_type}")
    if compact in ("CURRENT_DATE", "DATE('NOW')"):
        return DefaultTranslation(
            "(timezone('utc', now()))::date" if base == "date" else None,
            None if base == "date" else f"{default} for {pg_type}",
        )
    if compact in ("CURRENT_TIME", "TIME('NOW')"):
        return DefaultTranslation(
            "(timezone('utc', now()))::time(0)"
            if base.startswith("time") and "stamp" not in base
            else None,
            None if base.startswith("time") else f"{default} for {pg_type}",
        )
    if compact in ("STRFTIME('%S','NOW')", "UNIXEPOCH()", "UNIXEPOCH('NOW')") and base in (
        "bigint",
        "integer",
        "int",
        "smallint",
    ):
        return DefaultTranslation("(extract(epoch from now()))::bigint")
    sign = ""
    if len(tokens) == 2 and tokens[0].text in ("-", "+") and tokens[1].kind == "number":
        sign, tokens = ("-" if tokens[0].text == "-" else ""), tokens[1:]
    if len(tokens) == 1:
        tok = tokens[0]
        if tok.kind == "qident" and tok.text[0] == '"':
            # in a DEFAULT there is no column to name: SQLite reads "0" as the string '0'
            tok = Token("string", "'" + (tok.ident or "").replace("'", "''") + "'")
        if tok.kind == "number":
            if base == "boolean":
                if tok.text in ("0", "1") and not sign:
                    return DefaultTranslation("true" if tok.text == "1" else "false")
                return DefaultTranslation(None, f"numeric default {default} on a boolean column")
            if (
                base in ("jsonb", "json", "bytea", "uuid")
                or base.startswith("timestamp")
                or base in ("date", "time")
            ):
                return DefaultTranslation(None, f"numeric default {default} for {pg_type}")
            return DefaultTranslation(sign + tok.text)
        if tok.kind == "string":
            if base == "boolean":
                word = tok.text[1:-1].strip().lower()
                if word in ("1", "true", "t", "yes", "y", "on"):
                    return DefaultTranslation("true")
                if word in ("0", "false", "f", "no", "n", "off"):
                    return DefaultTranslation("false")
                return DefaultTranslation(None, f"string default {default} on a boolean column")
            return DefaultTranslation(
                tok.text
                if base in ("text", "varchar", "character varying", "char", "character", "citext")
                else f"{tok.text}::{pg_type}"
            )
        if tok.kind == "word" and tok.upper in ("TRUE", "FALSE") and base == "boolean":
            return DefaultTranslation(tok.upper.lower())
        if tok.kind == "blob" and base == "bytea":
            return DefaultTranslation(f"'\\x{tok.text[2:-1]}'::bytea")
    return DefaultTranslation(None, f"default {default} has no known Postgres equivalent")
