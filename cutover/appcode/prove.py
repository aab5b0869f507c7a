"""Prove a rewrite: run the statement on the source and its rewrite on the loaded target, compare.

Reads are compared as results (as a multiset, or in order when the statement has ORDER BY);
writes run in a transaction rolled back on both sides and are compared by their effect: the
rowcount and the rows of the affected table that went and came. Parameters come from the call
site when they are literals, otherwise from the source's data (`sample_params`).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cutover.appcode.compare import Canon, canon, family_of_oid, shown
from cutover.appcode.model import Rewrite, Statement, TargetSchema, TargetTable
from cutover.errors import UnknownChoiceError

# A proof reads whole results into memory to compare them as multisets: past this it says so.
MAX_ROWS = 100_000
# A rewrite that hangs (a missing index, a cross join) must not hang the plan.
STATEMENT_TIMEOUT_MS = 30_000
# LIMIT/OFFSET parameters with nothing to sample from: small, so the proof reads a few rows.
SAMPLE_LIMIT = 5
STATUSES = ("same", "different", "failed", "manual")

# A SQL Server source is reached through a callable: (sql, params) → (column names, rows).
SourceRunner = Callable[[str, Any], tuple[list[str], list[tuple[Any, ...]]]]


@dataclass
class Proof:
    """The verdict on one rewrite, with the first differing row or the error that decided it."""

    status: str
    reason: str = ""
    source_row: list[Any] | None = None
    target_row: list[Any] | None = None
    rows: int = 0
    params: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict."""
        out = asdict(self)
        for key in ("source_row", "target_row"):
            if out[key] is not None:
                out[key] = [shown(v) for v in out[key]]
        out["params"] = shown(self.params)
        return out


class _Failed(Exception):
    """A side refused the statement."""


def prove_statement(
    source: sqlite3.Connection | SourceRunner,
    target: psycopg.Connection[Any],
    statement: Statement,
    result: Rewrite,
    schema: TargetSchema | None = None,
) -> Proof:
    """Prove a found statement's rewrite with the call
    site's literal parameters, or sampled ones.
    """
    return prove(
        source,
        target,
        statement.sql,
        result,
        statement.params,
        dialect=statement.dialect,
        schema=schema,
        paramstyle=statement.paramstyle,
        many=statement.many,
    )


def prove(
    source: sqlite3.Connection | SourceRunner,
    target: psycopg.Connection[Any],
    original: str,
    rewritten: Rewrite | str | None,
    params: Any = None,
    *,
    dialect: str = "sqlite",
    schema: TargetSchema | None = None,
    paramstyle: str = "format",
    many: bool = False,
) -> Proof:
    """Run `original` on the source and `rewritten` on
    the target; same / different / failed / manual.
    """
    if dialect not in ("sqlite", "tsql"):
        raise UnknownChoiceError("dialect", dialect, ["sqlite", "tsql"])
    if isinstance(rewritten, Rewrite):
        if rewritten.postgres_sql is None:
            return Proof("manual", "; ".join(rewritten.changes))
        rewritten = rewritten.postgres_sql
    if rewritten is None:
        return Proof("manual", "no rewrite")
    try:
        tree = sqlglot.parse_one(original, read=dialect)
    except (ParseError, TokenError) as exc:
        return Proof("manual", f"cannot parse the original: {exc}")
    if params is None and tree.find(exp.Placeholder):
        if not isinstance(source, sqlite3.Connection):
            return Proof(
                "manual", "parameters to sample, and the source is not a sqlite3 connection"
            )
        params = sample_params(source, tree, schema)
        if params is None:
            return Proof(
                "manual", "no literal parameters at the call site and none to sample from the data"
            )
        many = False  # one sampled parameter set, even for an executemany call
    pg_sql = _psycopg_text(rewritten, paramstyle, bool(params))
    sets = list(params) if many and params is not None else [params]
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
        if not isinstance(source, sqlite3.Connection):
            return Proof(
                "manual",
                "a write is proved on a sqlite3 source; SQL Server writes are checked by hand",
                params=params,
            )
        return _prove_write(source, target, tree, original, pg_sql, sets, schema, params)
    if not isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)) and not (
        isinstance(tree, exp.With) or tree.find(exp.Select)
    ):
        return Proof(
            "manual", f"only reads and INSERT/UPDATE/DELETE are proved, not {tree.key.upper()}"
        )
    return _prove_read(source, target, tree, original, pg_sql, params)


def _psycopg_text(text: str, paramstyle: str, has_params: bool) -> str:
    """The rewrite as psycopg runs it: SQLAlchemy's :name becomes %(name)s and % is doubled."""
    if paramstyle != "named" or not has_params:
        return text
    out = []
    for token in re.finditer(
        r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|(?<![\w:]):([A-Za-z_]\w*)|%|[^'\":%]+|.", text
    ):
        if token.group(1):
            out.append(f"%({token.group(1)})s")
        elif token.group(0) == "%":
            out.append("%%")
        else:
            out.append(
                token.group(0).replace("%", "%%")
                if token.group(0).startswith("'")
                else token.group(0)
            )
    return "".join(out)


def _prove_read(
    source: sqlite3.Connection | SourceRunner,
    target: psycopg.Connection[Any],
    tree: exp.Expr,
    original: str,
    pg_sql: str,
    params: Any,
) -> Proof:
    try:
        src_names, src_rows = _run_source(source, original, params)
    except _Failed as exc:
        return Proof("failed", f"source: {exc}", params=params)
    if len(src_rows) > MAX_ROWS:
        return Proof(
            "manual", f"more than {MAX_ROWS} rows: prove it on a narrower parameter", params=params
        )
    try:
        with target.transaction(force_rollback=True):
            _timeout(target)
            cur = target.execute(pg_sql, params or None)
            if cur.description is None:
                return Proof(
                    "different", "the rewrite returns no rows, the original does", params=params
                )
            names = [d.name for d in cur.description]
            families = [family_of_oid(d.type_code) for d in cur.description]
            pg_rows = cur.fetchmany(MAX_ROWS + 1)
    except psycopg.Error as exc:
        return Proof("failed", _pg_message(exc), params=params)
    if len(src_names) != len(names):
        return Proof(
            "different",
            f"{len(src_names)} columns on the source, {len(names)} on the target",
            params=params,
        )
    renamed = [(s, t) for s, t in zip(src_names, names) if re.fullmatch(r"\w+", s) and s != t]
    if renamed:
        s, t = renamed[0]
        return Proof(
            "different",
            f"column {s!r} comes back as {t!r}: the app reads it by name",
            params=params,
        )
    left = [tuple(canon(v, f) for v, f in zip(row, families)) for row in src_rows]
    right = [tuple(canon(v, f) for v, f in zip(row, families)) for row in pg_rows]
    ordered = tree.args.get("order") is not None
    return _verdict(left, right, list(src_rows), list(pg_rows), ordered, params)


def _verdict(
    left: list[Canon],
    right: list[Canon],
    raw_left: list[Any],
    raw_right: list[Any],
    ordered: bool,
    params: Any,
) -> Proof:
    if ordered and left != right:
        for i, (a, b) in enumerate(zip(left, right)):
            if a != b:
                why = (
                    "same rows, another order"
                    if Counter(left) == Counter(right)
                    else f"row {i + 1} differs"
                )
                return Proof(
                    "different", why, list(raw_left[i]), list(raw_right[i]), len(left), params
                )
    missing = Counter(left) - Counter(right)
    extra = Counter(right) - Counter(left)
    if not missing and not extra:
        if len(left) != len(right):
            return Proof(
                "different",
                f"{len(left)} rows on the source, {len(right)} on the target",
                params=params,
            )
        return Proof("same", "", rows=len(left), params=params)
    src = next((list(r) for r, c in zip(raw_left, left) if c in missing), None)
    tgt = next((list(r) for r, c in zip(raw_right, right) if c in extra), None)
    why = (
        f"{sum(missing.values())} row(s) only on the source, {sum(extra.values())} only on "
        "the target"
    )
    return Proof("different", why, src, tgt, len(left), params)


def _run_source(
    source: sqlite3.Connection | SourceRunner, text: str, params: Any
) -> tuple[list[str], list[tuple[Any, ...]]]:
    if not isinstance(source, sqlite3.Connection):
        try:
            return source(text, params)
        except (
            Exception
        ) as exc:  # a caller's runner: whatever its driver raises is the source's answer
            raise _Failed(str(exc)) from exc
    try:
        cur = source.execute(text, params if params is not None else ())
        names = [d[0] for d in cur.description or ()]
        return names, cur.fetchmany(MAX_ROWS + 1)
    except sqlite3.Error as exc:
        raise _Failed(str(exc)) from exc


def _timeout(target: psycopg.Connection[Any]) -> None:
    target.execute(
        sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT_MS))
    )


def _pg_message(exc: psycopg.Error) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _prove_write(
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    tree: exp.Expr,
    original: str,
    pg_sql: str,
    sets: list[Any],
    schema: TargetSchema | None,
    params: Any,
) -> Proof:
    table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    name = table.name
    planned = schema.table(name) if schema else None
    src_cols = [
        r[1]
        for r in source.execute(
            sql.SQL("PRAGMA table_info({})").format(sql.Identifier(name)).as_string()
        )
    ]
    if not src_cols:
        return Proof("manual", f"table {name} is not in the source", params=params)
    if planned is not None:
        tgt_cols = [_planned_name(planned, c) for c in src_cols]
        tgt_table = sql.Identifier(*(p for p in (planned.schema, planned.name) if p))
    else:
        tgt_cols, tgt_table = src_cols, sql.Identifier(name)
    snap_src = (
        sql.SQL("SELECT {} FROM {}")
        .format(sql.SQL(", ").join(map(sql.Identifier, src_cols)), sql.Identifier(name))
        .as_string()
    )
    snap_tgt = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, tgt_cols)), tgt_table
    )
    source.execute("SAVEPOINT cutover_prove")
    try:
        before = source.execute(snap_src).fetchall()
        src_count = 0
        for one in sets:
            src_count += source.execute(original, one if one is not None else ()).rowcount
        after = source.execute(snap_src).fetchall()
    except sqlite3.Error as exc:
        return Proof("failed", f"source: {exc}", params=params)
    finally:
        source.execute("ROLLBACK TO cutover_prove")
        source.execute("RELEASE cutover_prove")
    sequences = _sequences(target, tgt_table, tgt_cols)
    try:
        with target.transaction(force_rollback=True):
            _timeout(target)
            cur = target.execute(snap_tgt)
            families = [family_of_oid(d.type_code) for d in cur.description or ()]
            pg_before = cur.fetchall()
            pg_count = 0
            for one in sets:
                pg_count += target.execute(pg_sql, one or None).rowcount
            pg_after = target.execute(snap_tgt).fetchall()
    except psycopg.Error as exc:
        return Proof("failed", _pg_message(exc), params=params)
    finally:
        _restore_sequences(target, sequences)  # nextval is never rolled back; put it where it was
    if src_count != pg_count:
        return Proof(
            "different",
            f"rowcount {src_count} on the source, {pg_count} on the target",
            params=params,
        )
    for label, (src_rows, pg_rows) in (
        ("went", (_minus(before, after), _minus(pg_before, pg_after))),
        ("came", (_minus(after, before), _minus(pg_after, pg_before))),
    ):
        proof = _verdict(
            *_canon_rows(src_rows, pg_rows, families), list(src_rows), list(pg_rows), False, params
        )
        if proof.status != "same":
            proof.reason = f"rows that {label}: {proof.reason}"
            return proof
    return Proof("same", "", rows=src_count, params=params)


def _minus(a: Sequence[tuple[Any, ...]], b: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows of a not in b, as a multiset difference by value."""
    left = Counter(tuple(_key(v) for v in row) for row in b)
    out = []
    for row in a:
        key = tuple(_key(v) for v in row)
        if left[key]:
            left[key] -= 1
        else:
            out.append(row)
    return out


def _key(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _canon_rows(
    src: list[tuple[Any, ...]], pg: list[tuple[Any, ...]], families: list[str]
) -> tuple[list[Canon], list[Canon]]:
    return (
        [tuple(canon(v, f) for v, f in zip(row, families)) for row in src],
        [tuple(canon(v, f) for v, f in zip(row, families)) for row in pg],
    )


# The table's identity/serial sequences and where they stand (pg_sequences: last_value is NULL
# before the first nextval), read from the catalog so no name is spliced into SQL.
_SEQUENCES = """
SELECT s.seq, q.last_value, q.start_value
FROM (SELECT pg_get_serial_sequence(%(table)s, c) AS seq FROM unnest(%(columns)s::text[]) AS c) AS s
JOIN pg_sequences AS q
  ON format('%%I.%%I', q.schemaname, q.sequencename)::regclass = s.seq::regclass
WHERE s.seq IS NOT NULL
"""


def _sequences(
    target: psycopg.Connection[Any], table: sql.Identifier, columns: list[str]
) -> list[tuple[str, int, bool]]:
    """The identity/serial sequences of the table's
    columns with their position, to restore after.
    """
    with target.transaction():
        rows = target.execute(
            _SEQUENCES, {"table": table.as_string(target), "columns": columns}
        ).fetchall()
    return [(seq, start if last is None else last, last is not None) for seq, last, start in rows]


def _restore_sequences(
    target: psycopg.Connection[Any], sequences: list[tuple[str, int, bool]]
) -> None:
    with target.transaction():
        for name, value, called in sequences:
            target.execute("SELECT setval(%s::regclass, %s, %s)", (name, value, called))


def sample_params(
    source: sqlite3.Connection, tree: exp.Expr, schema: TargetSchema | None = None
) -> list[Any] | dict[str, Any] | None:
    """A value from the source's data for each placeholder, from the column it is compared to."""
    tables = {t.alias_or_name.casefold(): t.name for t in tree.find_all(exp.Table)}
    default_table = next(iter(tables.values()), None) if len(set(tables.values())) == 1 else None
    positional: list[Any] = []
    named: dict[str, Any] = {}
    for ph in tree.find_all(exp.Placeholder):
        column, table = _partner(ph, tables, default_table)
        if column is None:
            value: Any = SAMPLE_LIMIT if ph.find_ancestor(exp.Limit, exp.Offset) else None
            if value is None:
                return None
        else:
            query = sql.SQL("SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT 1").format(
                c=sql.Identifier(column), t=sql.Identifier(table or "")
            )
            try:
                row = source.execute(query.as_string()).fetchone()
            except sqlite3.Error:
                return None
            if row is None:
                return None
            value = row[0]
        if ph.this:
            named[ph.name] = value
        else:
            positional.append(value)
    return named if named else positional


def _partner(
    ph: exp.Placeholder, tables: dict[str, str], default: str | None
) -> tuple[str | None, str | None]:
    """(column, table) a placeholder stands for: the
    other side of its comparison, its VALUES slot.
    """
    parent = ph.parent
    while isinstance(parent, (exp.Paren, exp.Cast, exp.Collate, exp.Lower)):
        parent = parent.parent
    if isinstance(parent, (exp.In, exp.Binary)):
        other = parent.this if parent.this is not ph else parent.args.get("expression")
        if isinstance(other, exp.Column):
            table = tables.get(other.table.casefold()) if other.table else default
            return other.name, table
    if isinstance(parent, exp.Tuple) and isinstance(parent.parent, exp.Values):
        insert = parent.parent.parent
        if isinstance(insert, exp.Insert) and isinstance(insert.this, exp.Schema):
            position = next(i for i, e in enumerate(parent.expressions) if e is ph)
            return insert.this.expressions[position].name, insert.this.this.name
    return None, None


def _planned_name(planned: TargetTable, column: str) -> str:
    """The target name of a source column (the source name when the plan does not know it)."""
    found = planned.column(column)
    return found.name if found is not None else column
