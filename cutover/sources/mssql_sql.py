"""T-SQL text: quoted identifiers, the reader's queries,
and T-SQL defaults and checks made portable.

Identifiers are always bracket-quoted by `quote` (']' doubled); values are always parameters, in
the driver's placeholder style ('?' for pyodbc, '%s' for pymssql). Nothing a user or a catalog
wrote is spliced into SQL except identifiers through `quote` and collation names that passed
`COLLATION_NAME`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cutover.schema import sqltext
from cutover.schema.rules import pg_base
from cutover.sources.mssql_types import UNORDERABLE, ColumnType, KeyPart, profile_class

COLLATION_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def quote(name: str) -> str:
    """[name], with ']' doubled: SQL Server's identifier quoting."""
    return "[" + name.replace("]", "]]") + "]"


def qualified(schema: str, table: str) -> str:
    """[schema].[table]."""
    return f"{quote(schema)}.{quote(table)}"


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeysetQueries:
    """The first and the following pages of a keyset
    read; parameters: page size, then the last key.
    """

    first: str
    following: str


def keyset_queries(
    table: str, selects: list[str], keys: list[str], parts: list[KeyPart], placeholder: str
) -> KeysetQueries:
    """SELECT TOP (n) … ORDER BY the key; the next page starts after the last key (no OFFSET).

    SQL Server has no row-value comparison, so (k1, k2) > (a, b) is spelled out; the leading
    `k1 >= a` lets the optimizer seek on the key's index.
    """
    select = ", ".join(selects)
    order = ", ".join(keys)
    params = [p.param_sql for p in parts]
    ors = []
    for i in range(len(keys)):
        equal = [f"{keys[j]} = {params[j]}" for j in range(i)]
        ors.append("(" + " AND ".join(equal + [f"{keys[i]} > {params[i]}"]) + ")")
    condition = " OR ".join(ors)
    if len(keys) > 1:
        condition = f"{keys[0]} >= {params[0]} AND ({condition})"
    first = f"SELECT TOP ({placeholder}) {select} FROM {table} ORDER BY {order}"
    following = (
        f"SELECT TOP ({placeholder}) {select} FROM {table} WHERE {condition} ORDER BY {order}"
    )
    return KeysetQueries(first, following)


def keyset_params(parts: list[KeyPart], last: tuple[Any, ...]) -> list[Any]:
    """The parameters of a following page, in the order `keyset_queries` placed them."""
    values = [p.to_param(v) for p, v in zip(parts, last)]
    out: list[Any] = [values[0]] if len(parts) > 1 else []
    for i in range(len(parts)):
        out += values[:i] + [values[i]]
    return out


ROW_NUMBER = "_cutover_row"


def single_pass_query(table: str, selects: list[str], order_by: list[str], placeholder: str) -> str:
    """One ordered pass for a table without a usable key: rows numbered in a stable order.

    The number is the key rejects and resume use; parameter: the last number already read.
    """
    order = ", ".join(order_by) if order_by else "(SELECT NULL)"
    inner = ", ".join(f"{s} AS {quote(f'c{i}')}" for i, s in enumerate(selects))
    outer = ", ".join(quote(f"c{i}") for i in range(len(selects)))
    return (
        f"SELECT q.{quote(ROW_NUMBER)}{', ' + outer if outer else ''} FROM "
        f"(SELECT ROW_NUMBER() OVER (ORDER BY {order}) AS "
        f"{quote(ROW_NUMBER)}{', ' + inner if inner else ''} FROM {table}) q "
        f"WHERE q.{quote(ROW_NUMBER)} > {placeholder} ORDER BY q.{quote(ROW_NUMBER)}"
    )


def orderable(ct: ColumnType) -> bool:
    """Whether ORDER BY accepts the column."""
    return ct.name not in UNORDERABLE


# -- profiling -------------------------------------------------------------------------------------

_BIN = "Latin1_General_BIN2"  # code-point comparison: LIKE ranges and NUL are what they look like
_HEX = "[0-9a-fA-F]"
_DASHED_UUID = "-".join(_HEX * n for n in (8, 4, 4, 4, 12))


def profile_expressions(
    ct: ColumnType, q: str, stats: set[str], json_functions: bool
) -> list[tuple[str, str]]:
    """(ColumnProfile field, T-SQL aggregate) for one
    column; `nulls` always, the rest as `stats` ask.

    Statistics that cannot apply to the column's type are left out and keep their defaults, except
    `json_invalid`, which counts every value where ISJSON cannot run (so a column overridden to
    jsonb is validated value by value).
    """
    n = ct.name
    out = [("nulls", f"COUNT_BIG(CASE WHEN {q} IS NULL THEN 1 END)")]
    text = n in ("char", "varchar", "nchar", "nvarchar")
    lob_text = n in ("text", "ntext")
    if "int_range" in stats and n in ("tinyint", "smallint", "int", "bigint"):
        out += [("min_int", f"MIN({q})"), ("max_int", f"MAX({q})")]
    if "num_range" in stats and n in ("tinyint", "smallint", "int", "bigint"):
        out += [("min_num", f"MIN(CAST({q} AS float))"), ("max_num", f"MAX(CAST({q} AS float))")]
    if stats & {"bools", "flag"} and n in ("tinyint", "smallint", "int", "bigint"):
        out.append(("zero_one", f"COUNT_BIG(CASE WHEN {q} IN (0, 1) THEN 1 END)"))
    if "text_length" in stats and (text or lob_text):
        length = (
            f"LEN({q})"
            if n in ("char", "varchar")
            else f"DATALENGTH({q}) / 2"
            if n != "text"
            else f"DATALENGTH({q})"
        )
        out.append(("max_text_length", f"MAX({length})"))
    if "nul" in stats and (text or lob_text):
        wide = n in ("nchar", "nvarchar", "ntext")
        value = f"CAST({q} AS {'nvarchar' if wide else 'varchar'}(max))" if lob_text else q
        out.append(
            (
                "nul_chars",
                f"COUNT_BIG(CASE WHEN CHARINDEX({'NCHAR' if wide else 'CHAR'}(0), {value} "
                f"COLLATE {_BIN}) > 0 THEN 1 END)",
            )
        )
    if "json" in stats:
        if text and json_functions:
            out += [
                (
                    "json_containers",
                    f"COUNT_BIG(CASE WHEN ISJSON({q}) = 1 AND LEFT(LTRIM({q}), 1) IN ('{{', "
                    "'[') THEN 1 END)",
                ),
                (
                    "json_invalid",
                    f"COUNT_BIG(CASE WHEN {q} IS NOT NULL AND ISJSON({q}) = 0 THEN 1 END)",
                ),
            ]
        elif profile_class(ct) == "texts":
            out.append(("json_invalid", f"COUNT_BIG(CASE WHEN {q} IS NOT NULL THEN 1 END)"))
    if "dates" in stats and text:
        b = f"{q} COLLATE {_BIN}"
        iso = (
            f"{b} LIKE '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]%' AND LEN({q}) <= 35 AND "
            f"SUBSTRING({q}, 11, 35) COLLATE {_BIN} NOT LIKE '%[^0-9:. TZ+-]%'"
        )
        offset = (
            f"{b} LIKE '%[+-][0-9][0-9]:[0-9][0-9]' OR {b} LIKE "
            f"'%[+-][0-9][0-9][0-9][0-9]' OR {b} LIKE '%Z'"
        )
        out += [
            ("iso_dates", f"COUNT_BIG(CASE WHEN {iso} THEN 1 END)"),
            ("date_only", f"COUNT_BIG(CASE WHEN LEN({q}) = 10 THEN 1 END)"),
            ("tz_offsets", f"COUNT_BIG(CASE WHEN {offset} THEN 1 END)"),
        ]
    if "uuid" in stats and text:
        b = f"{q} COLLATE {_BIN}"
        out.append(
            (
                "uuid_like",
                f"COUNT_BIG(CASE WHEN (LEN({q}) = 36 AND {b} LIKE '{_DASHED_UUID}') OR "
                f"(LEN({q}) = 32 AND {b} NOT LIKE '%[^0-9a-fA-F]%') THEN 1 END)",
            )
        )
    if "blob_length" in stats and n in ("binary", "varbinary", "image", "timestamp"):
        out += [
            ("min_blob_length", f"MIN(DATALENGTH({q}))"),
            ("max_blob_length", f"MAX(DATALENGTH({q}))"),
        ]
    return out


# -- T-SQL expressions made portable ---------------------------------------------------------------


def portable_expression(definition: str) -> str | None:
    """A CHECK or filter definition as SQL Server stores it, in the neutral form sqltext translates.

    `N'…'` loses its N, a literal in its own parentheses (`[flag]=(1)`, how SQL Server writes every
    constant) loses them so boolean comparisons are recognised, and ISNULL becomes COALESCE. Returns
    None for what means something else in Postgres: `+` next to text (concatenation in T-SQL),
    LIKE patterns with [character classes], and T-SQL-only operators.
    """
    tokens = sqltext.tokenize(definition)
    out: list[sqltext.Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            tok.kind == "word"
            and tok.upper == "N"
            and i + 1 < len(tokens)
            and tokens[i + 1].kind == "string"
        ):
            i += 1
            continue
        if (
            tok.text == "("
            and i + 2 < len(tokens)
            and tokens[i + 2].text == ")"
            and tokens[i + 1].kind in ("number", "string")
        ):
            out.append(tokens[i + 1])
            i += 3
            continue
        if (
            tok.text == "("
            and i + 3 < len(tokens)
            and tokens[i + 1].text == "-"
            and tokens[i + 2].kind == "number"
            and tokens[i + 3].text == ")"
        ):
            out += [tokens[i + 1], tokens[i + 2]]
            i += 4
            continue
        if (
            tok.kind == "word"
            and tok.upper == "ISNULL"
            and i + 1 < len(tokens)
            and tokens[i + 1].text == "("
        ):
            out.append(sqltext.Token("word", "COALESCE"))
            i += 1
            continue
        out.append(tok)
        i += 1
    texts = [t.text for t in out]
    if "+" in texts and any(t.kind == "string" for t in out):
        return None
    for a, b in zip(out, out[1:]):
        if a.upper == "LIKE" and b.kind == "string" and "[" in b.text:
            return None
    if any(t.kind == "other" for t in out):
        return None
    return sqltext.join(sqltext.strip_parens(out))


def text_concatenation(expression: str, text_columns: set[str]) -> bool:
    """Whether `+` may join text here (a text column in an expression with '+')."""
    tokens = sqltext.tokenize(expression)
    return any(t.text == "+" for t in tokens) and any(
        t.ident in text_columns for t in tokens if t.kind in ("word", "qident")
    )


_NOW_LOCAL = {"GETDATE()", "CURRENT_TIMESTAMP", "SYSDATETIME()"}
_NOW_UTC = {"GETUTCDATE()", "SYSUTCDATETIME()"}
_NOW_OFFSET = {"SYSDATETIMEOFFSET()"}
_NEW_UUID = {"NEWID()", "NEWSEQUENTIALID()"}
_CONVERT = re.compile(r"^CONVERT\(\[?(\w+)\]?(?:\(\d+(?:,\d+)?\))?,(.+)\)$", re.IGNORECASE)
_CAST = re.compile(r"^CAST\((.+)AS\[?(\w+)\]?(?:\(\d+(?:,\d+)?\))?\)$", re.IGNORECASE)


def translate_default(definition: str, pg_type: str) -> sqltext.DefaultTranslation:
    """A default as sys.default_constraints stores it (`(getdate())`, `((0))`, `(N'x')`) → Postgres.

    getdate()/sysdatetime() are the server's local time: `LOCALTIMESTAMP` (the Postgres session's
    local time); getutcdate()/sysutcdatetime(): `timezone('utc', now())`; sysdatetimeoffset():
    `now()`; newid()/newsequentialid(): `gen_random_uuid()` (random; Postgres 18's uuidv7() is the
    time-ordered one). Literals go through the same rules as SQLite's (booleans, bytea, casts).
    """
    compact = _compact(definition)
    m = _CONVERT.match(compact) or _CAST.match(compact)
    if m:  # CONVERT([bit],(0)), CAST('…' AS datetime): the column's type already converts
        inner = m.group(2) if m.re is _CONVERT else m.group(1)
        return translate_default(inner, pg_type)
    base = pg_base(pg_type)
    upper = compact.upper()
    if upper in _NOW_LOCAL | _NOW_UTC | _NOW_OFFSET:
        utc = upper in _NOW_UTC
        if base in ("timestamp", "timestamp without time zone"):
            return sqltext.DefaultTranslation("timezone('utc', now())" if utc else "LOCALTIMESTAMP")
        if base in ("timestamptz", "timestamp with time zone"):
            return sqltext.DefaultTranslation("now()")
        if base == "date":
            return sqltext.DefaultTranslation(
                "(timezone('utc', now()))::date" if utc else "CURRENT_DATE"
            )
        if base in ("time", "time without time zone"):
            return sqltext.DefaultTranslation(
                "(timezone('utc', now()))::time" if utc else "LOCALTIME"
            )
        return sqltext.DefaultTranslation(None, f"{definition} has no equivalent for {pg_type}")
    if upper in _NEW_UUID:
        if base == "uuid":
            return sqltext.DefaultTranslation("gen_random_uuid()")
        return sqltext.DefaultTranslation(None, f"{definition} for {pg_type}")
    if re.fullmatch(r"0x[0-9A-Fa-f]*", compact):
        return sqltext.translate_default(f"x'{compact[2:]}'", pg_type)
    tokens = sqltext.tokenize(compact)
    if len(tokens) == 2 and tokens[0].upper == "N" and tokens[1].kind == "string":
        return sqltext.translate_default(tokens[1].text, pg_type)
    return sqltext.translate_default(compact, pg_type)


def _compact(definition: str) -> str:
    """Outer parentheses and spaces outside string literals removed: '( (0) )' → '0'."""
    tokens = sqltext.strip_parens(sqltext.tokenize(definition))
    return "".join(t.text for t in tokens)
