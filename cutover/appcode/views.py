"""Views and simple triggers as Postgres DDL, fitted to the planned schema like the app's SQL.

A view's SELECT goes through `rewrite` (sqlglot for the dialect, the passes for the planned
names and types); views come out in dependency order, and a view over one that does not
translate does not translate either. Two trigger shapes are carried as PL/pgSQL: the
`updated_at` touch (an UPDATE of the row's own timestamp column to "now") and the audit row
(INSERTs into another table from NEW/OLD values). Anything else is reported with its SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from cutover.appcode.model import TargetSchema, TargetTable
from cutover.appcode.rewrite import rewrite
from cutover.schema.model import Trigger, View

# A trigger the patterns below understand: timing, event, table, optional WHEN, one BEGIN … END
# body.
_TRIGGER = re.compile(
    r"^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>\S+)\s+"
    r"(?P<timing>BEFORE|AFTER)?\s*(?P<event>INSERT|DELETE|UPDATE(?:\s+OF\s+[^\n]+?)?)\s+"
    r"ON\s+(?P<table>\S+)\s+(?:FOR\s+EACH\s+ROW\s+)?(?P<when>WHEN\s+.+?\s+)?"
    r"BEGIN\s+(?P<body>.+?)\s*END\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_NOW = re.compile(
    r"^(CURRENT_TIMESTAMP|datetime\s*\(\s*'now'\s*\)|strftime\s*\(\s*'[^']*'\s*,\s*'now'\s*\)|"
    r"GETDATE\s*\(\s*\)|SYSDATETIME\s*\(\s*\))$",
    re.IGNORECASE,
)
# What SQLite's CURRENT_TIMESTAMP / datetime('now') write into a text column.
SQLITE_NOW_TEXT = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"


@dataclass
class ObjectDDL:
    """A view or trigger on Postgres: the statements
    that create and drop it, or why it cannot be.
    """

    kind: str  # view | trigger
    name: str
    table: str | None
    source_sql: str
    creates: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    reason: str | None = None  # set when it does not translate

    @property
    def ok(self) -> bool:
        """True when it translates."""
        return self.reason is None


def quote(name: str) -> str:
    """A Postgres identifier, always quoted (names keep their case)."""
    return '"' + name.replace('"', '""') + '"'


def _qualified(schema: str | None, name: str) -> str:
    return quote(name) if schema in (None, "public") else f"{quote(schema)}.{quote(name)}"


def translate_views(
    views: list[View], schema: TargetSchema, dialect: str, target_schema: str | None = None
) -> list[ObjectDDL]:
    """Every view as CREATE VIEW on the planned tables, those it reads first."""
    by_name = {v.name.casefold(): v for v in views}
    bodies: dict[str, exp.Expr | str] = {}
    for view in views:
        bodies[view.name.casefold()] = _select_of(view, dialect)
    reads = {
        name: {
            t.name.casefold()
            for t in body.find_all(exp.Table)
            if t.name.casefold() in by_name and t.name.casefold() != name
        }
        if isinstance(body, exp.Expr)
        else set()
        for name, body in bodies.items()
    }
    done: dict[str, ObjectDDL] = {}

    def visit(name: str, path: tuple[str, ...]) -> ObjectDDL:
        if name in done:
            return done[name]
        view = by_name[name]
        out = ObjectDDL("view", view.name, None, view.sql or "")
        for dep in sorted(reads[name]):
            if dep in path:
                out.reason = f"views {view.name} and {by_name[dep].name} read each other"
                break
            if not visit(dep, (*path, name)).ok:
                out.reason = f"it reads view {by_name[dep].name}, which does not translate"
                break
        if out.reason is None:
            _fill_view(out, bodies[name], schema, dialect, target_schema)
        done[name] = out
        return out

    for name in by_name:
        visit(name, ())
    return list(done.values())


def _select_of(view: View, dialect: str) -> exp.Expr | str:
    """The view's SELECT, or why it cannot be read."""
    if not view.sql:
        return "its definition is not readable (encrypted, or no VIEW DEFINITION permission)"
    try:
        tree = sqlglot.parse_one(view.sql, read=dialect)
    except (ParseError, TokenError) as exc:
        return f"sqlglot cannot read it: {str(exc).splitlines()[0]}"
    body = tree.expression if isinstance(tree, exp.Create) else None
    if not isinstance(body, exp.Query):
        return "it is not CREATE VIEW … AS SELECT"
    return body


def _fill_view(
    out: ObjectDDL,
    body: exp.Expr | str,
    schema: TargetSchema,
    dialect: str,
    target_schema: str | None,
) -> None:
    if isinstance(body, str):
        out.reason = body
        return
    result = rewrite(body.sql(dialect=dialect), dialect, schema)
    if result.postgres_sql is None:
        out.reason = "; ".join(result.changes)
        return
    name = _qualified(target_schema, out.name)
    out.changes = list(result.changes)
    out.creates = [f"CREATE OR REPLACE VIEW {name} AS {result.postgres_sql}"]
    out.drops = [f"DROP VIEW IF EXISTS {name}"]


def translate_triggers(
    triggers: list[Trigger], schema: TargetSchema, target_schema: str | None = None
) -> list[ObjectDDL]:
    """The `updated_at` touch and audit-row triggers as PL/pgSQL; the others with the reason."""
    return [_trigger(t, schema, target_schema) for t in triggers]


def _trigger(trigger: Trigger, schema: TargetSchema, target_schema: str | None) -> ObjectDDL:
    out = ObjectDDL("trigger", trigger.name, trigger.table, trigger.sql or "")
    m = _TRIGGER.match(trigger.sql or "")
    table = schema.table(trigger.table)
    if m is None or table is None:
        out.reason = "only BEFORE/AFTER row triggers with a BEGIN … END body are translated"
        return out
    when = _when(m["when"], table, trigger.table, schema) if m["when"] else None
    if isinstance(when, Untranslated):
        out.reason = when.reason
        return out
    statements = [s.strip() for s in m["body"].split(";") if s.strip()]
    event = m["event"].split()[0].upper()
    touch = _touch(statements, table, trigger.table) if event == "UPDATE" else None
    if touch is not None:
        body = f"NEW.{quote(touch[0])} := {touch[1]};\n    RETURN NEW;"
        timing, what = "BEFORE", f"the {touch[0]} touch"
    else:
        inserts = _audit_inserts(statements, table, trigger.table, schema)
        if isinstance(inserts, str):
            out.reason = inserts
            return out
        body = "\n    ".join(f"{s};" for s in inserts) + "\n    RETURN NULL;"
        timing, what = "AFTER", "the audit row"
    function = _qualified(target_schema, f"{trigger.name}_fn")
    on = _qualified(target_schema, table.name)
    out.creates = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $cutover$\n"
        f"BEGIN\n    {body}\nEND\n$cutover$",
        f"CREATE TRIGGER {quote(trigger.name)} {timing} {event} ON {on} "
        f"FOR EACH ROW {f'WHEN ({when}) ' if when else ''}EXECUTE FUNCTION {function}()",
    ]
    out.drops = [
        f"DROP TRIGGER IF EXISTS {quote(trigger.name)} ON {on}",
        f"DROP FUNCTION IF EXISTS {function}()",
    ]
    out.changes = [f"{what} as a PL/pgSQL {timing} {event} row trigger"]
    return out


@dataclass(frozen=True)
class Untranslated:
    """Why a part of a trigger has no Postgres form."""

    reason: str


def _when(
    clause: str, table: TargetTable, source_table: str, schema: TargetSchema
) -> str | Untranslated:
    """A trigger's WHEN condition for Postgres: NEW/OLD columns named as planned, the rest
    rewritten as a statement's WHERE is. It is evaluated on the row the statement wrote, before a
    BEFORE trigger changes it, as SQLite evaluates it for an AFTER one.
    """
    condition = re.sub(r"^\s*WHEN\s+", "", clause, flags=re.IGNORECASE).strip()
    try:
        tree = sqlglot.parse_one(f"SELECT 1 WHERE {condition}", read="sqlite")
    except (ParseError, TokenError) as exc:
        return Untranslated(f"sqlglot cannot read the WHEN condition: {str(exc).splitlines()[0]}")
    if len(list(tree.find_all(exp.Select))) > 1:
        return Untranslated("the WHEN condition has a subquery, which Postgres does not allow")
    for col in tree.find_all(exp.Column):
        if col.table.upper() not in ("NEW", "OLD"):
            return Untranslated(f"the WHEN condition reads {col.sql(dialect='sqlite')}")
        planned = table.column(col.name)
        if planned is None:
            return Untranslated(f"{col.table}.{col.name} is not a column of {source_table}")
        col.set("this", exp.to_identifier(planned.name, quoted=True))
        col.set("table", exp.to_identifier(col.table.upper()))
        if planned.family == "boolean":
            _boolean_literals(col)
    result = rewrite(tree.sql(dialect="sqlite"), "sqlite", schema)
    if result.postgres_sql is None:
        return Untranslated("; ".join(result.changes))
    where = sqlglot.parse_one(result.postgres_sql, read="postgres").args.get("where")
    if where is None:
        return Untranslated("the WHEN condition did not survive its rewrite")
    return str(where.this.sql(dialect="postgres"))


def _boolean_literals(column: exp.Column) -> None:
    """`NEW.flag = 1` as SQLite writes a boolean test: the 0 or 1 beside it becomes false/true."""
    compared = column.parent
    if not isinstance(compared, (exp.EQ, exp.NEQ)):
        return
    other = compared.expression if compared.this is column else compared.this
    if isinstance(other, exp.Literal) and not other.is_string and other.this in ("0", "1"):
        other.replace(exp.Boolean(this=other.this == "1"))


def _touch(statements: list[str], table: TargetTable, source_table: str) -> tuple[str, str] | None:
    """(planned column, Postgres value) when the body only sets this row's timestamp to now."""
    if len(statements) != 1:
        return None
    try:
        tree = sqlglot.parse_one(statements[0], read="sqlite")
    except (ParseError, TokenError):
        return None
    if not isinstance(tree, exp.Update) or tree.this.name.casefold() != source_table.casefold():
        return None
    sets = tree.expressions
    if len(sets) != 1 or not isinstance(sets[0], exp.EQ):
        return None
    column, value = sets[0].this, sets[0].expression
    where = tree.args.get("where")
    if not isinstance(column, exp.Column) or where is None:
        return None
    if not _NOW.match(value.sql(dialect="sqlite")) and not isinstance(value, exp.CurrentTimestamp):
        return None
    keys = {k.casefold() for k in (table.primary_key or ((table.rowid,) if table.rowid else ()))}
    keys |= {"rowid"}
    cond = where.this
    if not (
        isinstance(cond, exp.EQ)
        and isinstance(cond.this, exp.Column)
        and cond.this.name.casefold() in keys
        and isinstance(cond.expression, exp.Column)
        and cond.expression.table.upper() == "NEW"
    ):
        return None
    planned = table.column(column.name)
    if planned is None:
        return None
    value_sql = "now()" if planned.family == "timestamp" else SQLITE_NOW_TEXT
    return planned.name, value_sql


def _audit_inserts(
    statements: list[str], table: TargetTable, source_table: str, schema: TargetSchema
) -> list[str] | str:
    """The body's INSERTs into other tables, NEW/OLD columns named as planned; or why not."""
    out = []
    for text in statements:
        try:
            tree = sqlglot.parse_one(text, read="sqlite")
        except (ParseError, TokenError) as exc:
            return f"sqlglot cannot read the trigger body: {str(exc).splitlines()[0]}"
        if not isinstance(tree, exp.Insert):
            return "the body does more than touch updated_at or insert an audit row"
        target = tree.find(exp.Table)
        if target is None or target.name.casefold() == source_table.casefold():
            return "the body writes to its own table"
        for col in tree.find_all(exp.Column):
            if col.table.upper() in ("NEW", "OLD"):
                planned = table.column(col.name)
                if planned is None:
                    return f"{col.table}.{col.name} is not a column of {source_table}"
                col.set("this", exp.to_identifier(planned.name, quoted=True))
                col.set("table", exp.to_identifier(col.table.upper()))
        result = rewrite(tree.sql(dialect="sqlite"), "sqlite", schema)
        if result.postgres_sql is None:
            return "; ".join(result.changes)
        out.append(result.postgres_sql)
    return out or "the body is empty"
