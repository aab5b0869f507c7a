"""SQLite's date and time functions (date, datetime,
time, strftime, unixepoch) as Postgres expressions.

A SQLite time value is an ISO text, 'now', or a number read with a modifier. On the target it is
an instant: a timestamptz column as it is, a text column or a literal cast to timestamptz (the
session speaks UTC, as SQLite does), an epoch number through `to_timestamp`. Modifiers become
interval arithmetic and `date_trunc`; the ones whose meaning differs ('localtime', 'weekday N',
a month added to the 31st) have no safe rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from cutover.appcode.model import TargetColumn


class NoSafeRewrite(Exception):
    """A construct with no rewrite that keeps its meaning; the message is the reason."""


TIME_FUNCTIONS = frozenset({"DATE", "DATETIME", "TIME", "STRFTIME", "UNIXEPOCH"})
_UNITS = {
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "month",
    "months",
    "year",
    "years",
}
_MODIFIER = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s+([a-z]+)\s*$", re.IGNORECASE)
_START_OF = re.compile(r"^\s*start of (day|month|year)\s*$", re.IGNORECASE)
# strftime → to_char; %w, %W, %U, %J, %s mixed with others have no single to_char pattern.
_FORMATS = {
    "d": "DD",
    "H": "HH24",
    "j": "DDD",
    "m": "MM",
    "M": "MI",
    "S": "SS",
    "Y": "YYYY",
    "f": "SS.MS",
}

ColumnLookup = Callable[[exp.Column], TargetColumn | None]


def time_call(node: exp.Expr) -> tuple[str, list[exp.Expr]] | None:
    """(function name, arguments) when the node is one of SQLite's time functions, else None."""
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in TIME_FUNCTIONS:
        return str(node.this).upper(), list(node.expressions)
    if isinstance(node, exp.Date) and not node.args.get("zone"):
        return "DATE", [node.this]
    if isinstance(node, exp.TimeToStr) and isinstance(node.this, exp.TsOrDsToTimestamp):
        return "STRFTIME", [node.args["format"], node.this.this]
    return None


def rewrite_time(name: str, args: list[exp.Expr], lookup: ColumnLookup) -> tuple[exp.Expr, str]:
    """The Postgres expression for a SQLite time function call, and the change to report."""
    fmt: str | None = None
    if name == "STRFTIME":
        if not args or not _is_string(args[0]):
            raise NoSafeRewrite("strftime with a format that is not a literal")
        fmt, args = args[0].name, args[1:]
    if not args:
        args = [exp.Literal.string("now")]
    modifiers = args[1:]
    if any(not _is_string(m) for m in modifiers):
        raise NoSafeRewrite(f"{name.lower()}() with a modifier that is not a literal")
    mods = [m.name.strip() for m in modifiers]
    instant = _instant(args[0], "unixepoch" in (m.lower() for m in mods), lookup)
    instant = _apply_modifiers(instant, [m for m in mods if m.lower() != "unixepoch"], name)
    utc = exp.AtTimeZone(
        this=exp.paren(instant) if isinstance(instant, exp.Binary) else instant,
        zone=exp.Literal.string("UTC"),
    )
    if name == "DATE":
        return exp.cast(utc, "DATE"), "date(…) → a date computed in UTC (SQLite returned ISO text)"
    if name == "DATETIME":
        return _trunc(
            "second", instant
        ), "datetime(…) → timestamptz at whole seconds (SQLite returned ISO text)"
    if name == "TIME":
        return exp.cast(
            exp.func("DATE_TRUNC", exp.Literal.string("second"), utc), "TIME"
        ), "time(…) → time of day in UTC"
    if name == "UNIXEPOCH" or fmt == "%s":
        epoch = exp.cast(
            exp.Floor(this=exp.Extract(this=exp.var("EPOCH"), expression=instant)), "BIGINT"
        )
        if name == "UNIXEPOCH":
            return epoch, "unixepoch(…) → whole seconds since 1970 from EXTRACT(EPOCH …)"
        return exp.cast(
            epoch, "TEXT"
        ), "strftime('%s', …) → epoch seconds as text, as SQLite returned them"
    assert fmt is not None
    return exp.func(
        "TO_CHAR", utc, exp.Literal.string(to_char_format(fmt))
    ), f"strftime('{fmt}', …) → to_char in UTC"


def to_char_format(fmt: str) -> str:
    """A strftime format as a to_char pattern; literal text is quoted so to_char copies it."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            text = "".join(literal)
            out.append(f'"{text}"' if re.search(r"[A-Za-z\\\"]", text) else text)
            literal.clear()

    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            i += 2
            if code == "%":
                literal.append("%")
                continue
            if code not in _FORMATS:
                raise NoSafeRewrite(
                    f"strftime format %{code} has no to_char pattern with the same meaning"
                )
            flush()
            out.append(_FORMATS[code])
            continue
        literal.append(ch)
        i += 1
    flush()
    return "".join(out)


def _instant(value: exp.Expr, epoch: bool, lookup: ColumnLookup) -> exp.Expr:
    """A SQLite time value as a timestamptz expression."""
    if _is_string(value) and value.name.lower() == "now":
        return exp.Anonymous(this="now", expressions=[])
    if isinstance(value, exp.Column):
        col = lookup(value)
        family = col.family if col else None
        if family == "timestamp":
            if col is not None and col.base in ("timestamp", "timestamp without time zone"):
                return exp.AtTimeZone(this=value, zone=exp.Literal.string("UTC"))
            return value  # the load already turned its text or epoch values into instants
        if family == "date":
            return exp.cast(value, "TIMESTAMPTZ")
        if epoch or family in ("integer", "decimal", "float"):
            if not epoch:
                raise NoSafeRewrite(
                    f"{value.sql()} is a number: SQLite reads it as a Julian day number"
                )
            return exp.func("TO_TIMESTAMP", value)
        if family == "text":
            return exp.cast(value, "TIMESTAMPTZ")
        raise NoSafeRewrite(
            f"the planned type of {value.sql()} is not known: pass the planned schema"
        )
    if epoch:
        return exp.func("TO_TIMESTAMP", value)
    if isinstance(value, (exp.Literal, exp.Placeholder)):
        return exp.cast(value, "TIMESTAMPTZ")
    raise NoSafeRewrite(
        f"time value {value.sql()} is an expression: its type on the target is not known"
    )


def _apply_modifiers(instant: exp.Expr, mods: list[str], name: str) -> exp.Expr:
    # adding months is only safe from the 1st: SQLite rolls the 31st over, Postgres clamps
    month_safe = False
    for mod in mods:
        start = _START_OF.match(mod)
        if start:
            unit = start.group(1).lower()
            instant = _trunc(unit, instant)
            month_safe = month_safe or unit in ("month", "year")
            continue
        match = _MODIFIER.match(mod)
        if not match or match.group(2).lower() not in _UNITS:
            raise NoSafeRewrite(
                f"{name.lower()}() modifier '{mod}' has no Postgres counterpart with the same "
                "meaning"
            )
        amount, unit = match.group(1), match.group(2).lower().rstrip("s")
        if unit in ("month", "year") and not month_safe:
            raise NoSafeRewrite(
                f"modifier '{mod}': SQLite rolls Jan 31 + 1 month over to March, Postgres "
                "clamps to Feb 28/29"
            )
        sign = "-" if amount.startswith("-") else "+"
        interval = exp.Interval(this=exp.Literal.string(f"{amount.lstrip('+-')} {unit}"))
        instant = (
            exp.Sub(this=instant, expression=interval)
            if sign == "-"
            else exp.Add(this=instant, expression=interval)
        )
    return instant


def _trunc(unit: str, value: exp.Expr) -> exp.Expr:
    return exp.func("DATE_TRUNC", exp.Literal.string(unit), value)


def _is_string(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string
