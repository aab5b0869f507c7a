"""Rewrite a statement for Postgres: sqlglot for the dialect, then fitted to the planned schema.

sqlglot carries the dialect (IFNULL, GROUP_CONCAT, TOP, [names], ISNULL, GETDATE …); the passes
here carry what only the planned schema knows: a 0/1 column that became boolean, JSON text that
became jsonb, ISO text that became timestamptz, names kept in mixed case or made snake_case, the
key an `INSERT OR REPLACE` conflicts on. SQLite's ASCII-only case folding is kept exactly: LIKE
becomes ILIKE under the "C" collation, whose lower() folds ASCII letters only, as SQLite's LIKE
and NOCASE do (a plain ILIKE would also fold É/é, Greek and Cyrillic; Hangul has no case).
Whatever has no rewrite that keeps its meaning is `manual`, with the reason, never a guess.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

from cutover.appcode import fit
from cutover.appcode.context import Context
from cutover.appcode.model import (
    CodeItem,
    Rewrite,
    Statement,
    TargetSchema,
)
from cutover.appcode.timefns import NoSafeRewrite
from cutover.errors import UnknownChoiceError

PARAMSTYLES = ("format", "named")
_PLAIN_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")
_SENTINEL = "cutover_placeholder_{}_"
# Dialect changes sqlglot makes by itself, named for the report when the output shows them.
_DIALECT_NOTES = (
    (re.compile(r"\bIFNULL\s*\(", re.I), "IFNULL → COALESCE"),
    (re.compile(r"\bISNULL\s*\(", re.I), "ISNULL → COALESCE"),
    (re.compile(r"\bGROUP_CONCAT\s*\(", re.I), "GROUP_CONCAT → STRING_AGG"),
    (
        re.compile(r"\bGETDATE\s*\(", re.I),
        "GETDATE() → CURRENT_TIMESTAMP (now(): an instant, not the server's local time)",
    ),
    (re.compile(r"\bSELECT\s+(DISTINCT\s+)?TOP\b", re.I), "TOP n → LIMIT n"),
    (re.compile(r"\[[^\]]+\]"), "[bracketed] names → Postgres names"),
    (re.compile(r"\bIIF\s*\(", re.I), "IIF → CASE"),
    (re.compile(r"\bSUBSTR\s*\(", re.I), "SUBSTR → SUBSTRING"),
    (re.compile(r"\bINSTR\s*\(", re.I), "INSTR → POSITION"),
    (re.compile(r"\bLEN\s*\(", re.I), "LEN → LENGTH"),
)


def rewrite_statement(statement: Statement, schema: TargetSchema | None = None) -> Rewrite:
    """Rewrite a found statement for the driver its call will use on Postgres."""
    return rewrite(statement.sql, statement.dialect, schema, paramstyle=statement.paramstyle)


def code_item(statement: Statement, result: Rewrite) -> CodeItem:
    """The plan's `code` item for a statement and its rewrite."""
    return CodeItem(
        statement.path,
        statement.line,
        statement.dialect,
        statement.sql,
        result.postgres_sql,
        list(result.changes),
        result.status,
    )


def rewrite(
    sql: str,
    dialect: str = "sqlite",
    schema: TargetSchema | None = None,
    *,
    paramstyle: str = "format",
) -> Rewrite:
    """Transpile `sql` from sqlite or tsql to Postgres and fit it to the planned schema."""
    if dialect not in ("sqlite", "tsql"):
        raise UnknownChoiceError("dialect", dialect, ["sqlite", "tsql"])
    if paramstyle not in PARAMSTYLES:
        raise UnknownChoiceError("paramstyle", paramstyle, PARAMSTYLES)
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (ParseError, TokenError) as exc:
        return Rewrite(
            None, [f"cannot parse it as {dialect}: {str(exc).splitlines()[0]}"], "manual"
        )
    if not trees:
        return Rewrite(None, ["no statement in the string"], "manual")
    ctx = Context(schema, dialect)
    texts: list[str] = []
    try:
        for tree in trees:
            fit.refuse(tree, ctx)
            _collect_tables(tree, ctx)
            fit.fit_tree(tree, ctx)
            _identifiers(tree, ctx)
            texts.append(_generate(tree, ctx, paramstyle))
    except NoSafeRewrite as why:
        return Rewrite(None, [str(why)], "manual")
    out = ";\n".join(texts)
    if not ctx.changes and _same_on_postgres(sql, out):
        return Rewrite(sql, [], "compatible")
    stripped = _strip_strings(sql)
    for pattern, note in _DIALECT_NOTES:
        if pattern.search(stripped):
            ctx.note(note)
    if not ctx.changes:
        ctx.note("sqlglot: dialect translation")
    return Rewrite(out, ctx.changes, "rewritten")


def _strip_strings(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _same_on_postgres(original: str, generated: str) -> bool:
    """True when the generated statement is the original, token for token (keywords in any case)."""
    try:
        return _tokens(original) == _tokens(generated)
    except (TokenError, ParseError):
        return False


def _tokens(sql: str) -> list[tuple[str, str]]:
    tokenizer = Postgres.Tokenizer()
    out = []
    for token in tokenizer.tokenize(sql.strip().rstrip(";")):
        quoted = token.token_type in (TokenType.STRING, TokenType.IDENTIFIER)
        out.append((token.token_type.name, token.text if quoted else token.text.upper()))
    return out


def _collect_tables(tree: exp.Expr, ctx: Context) -> None:
    """Every table the statement names, by alias and by name, with its planned target."""
    for table in tree.find_all(exp.Table):
        if not table.name:
            continue
        planned = ctx.schema.table(table.name) if ctx.schema else None
        ctx.tables[table.name.casefold()] = (table.name, planned)
        if table.alias:
            ctx.tables[table.alias.casefold()] = (table.name, planned)
    ctes = {cte.alias.casefold() for cte in tree.find_all(exp.CTE)}
    for name in ctes:
        ctx.tables.pop(name, None)


def needs_quotes(name: str) -> bool:
    """True when Postgres would fold or refuse the name unquoted."""
    return not _PLAIN_NAME.match(name) or name.upper() in Postgres.Generator.RESERVED_KEYWORDS


def _set_name(ident: exp.Identifier, name: str) -> None:
    ident.set("this", name)
    ident.set("quoted", needs_quotes(name))


def _identifiers(tree: exp.Expr, ctx: Context) -> None:
    """Tables and columns named as planned, quoted where Postgres needs it; `dbo.` dropped."""
    for insert in list(tree.find_all(exp.Insert)):
        target = insert.this
        if not (isinstance(target, exp.Schema) and isinstance(target.this, exp.Table)):
            continue
        planned_table = ctx.tables.get(target.this.name.casefold(), (None, None))[1]
        for ident in target.expressions:
            if not isinstance(ident, exp.Identifier):
                continue
            col = planned_table.column(ident.name) if planned_table else None
            if col is not None and (col.name != ident.name or needs_quotes(col.name)):
                ctx.note(f"column {ident.name} → {_shown(col.name)} (as planned)")
            _set_name(ident, col.name if col is not None else ident.name)
    for table in list(tree.find_all(exp.Table)):
        planned = ctx.tables.get(table.name.casefold(), (None, None))[1] if table.name else None
        db = table.args.get("db")
        if db is not None and db.name.lower() == "dbo":
            table.set("db", None)
            ctx.note("dbo. → the target schema (search_path)")
        if planned is None:
            if isinstance(table.this, exp.Identifier):
                _set_name(table.this, table.name)
            continue
        if planned.schema:
            table.set("db", exp.to_identifier(planned.schema, quoted=needs_quotes(planned.schema)))
        if planned.name != table.name or needs_quotes(planned.name):
            ctx.note(f"table {table.name} → {_shown(planned.name)} (as planned)")
        _set_name(table.this, planned.name)
    for column in list(tree.find_all(exp.Column)):
        hit = ctx.resolve(column)
        if hit is not None:
            _, source, target = hit
            if target.name != source or needs_quotes(target.name):
                ctx.note(f"column {source} → {_shown(target.name)} (as planned)")
            written = column.name
            _set_name(column.this, target.name)
            if isinstance(column.parent, exp.Select) and target.name != written:
                column.replace(
                    exp.alias_(
                        column.copy(), exp.to_identifier(written, quoted=needs_quotes(written))
                    )
                )
                ctx.note(
                    f"{target.name} AS {_shown(written)}: the app reads the column by the name "
                    "it had"
                )
            qualifier = column.args.get("table")
            if isinstance(qualifier, exp.Identifier):
                entry = ctx.tables.get(qualifier.name.casefold())
                is_alias = entry is not None and entry[0].casefold() != qualifier.name.casefold()
                if entry and entry[1] is not None and not is_alias:
                    _set_name(qualifier, entry[1].name)
                else:
                    _set_name(qualifier, qualifier.name)
        elif isinstance(column.this, exp.Identifier):
            _set_name(column.this, column.name)
        elif isinstance(column.this, exp.Star):
            _star_qualifier(column, ctx)
    for alias in tree.find_all(exp.Alias, exp.TableAlias):
        ident = alias.args.get("alias") if isinstance(alias, exp.Alias) else alias.this
        if isinstance(ident, exp.Identifier):
            if ident.name != ident.name.lower() and not ident.quoted:
                ctx.note(f"alias {ident.name} quoted: Postgres folds unquoted names to lower case")
            _set_name(ident, ident.name)


def _star_qualifier(column: exp.Column, ctx: Context) -> None:
    """`Products.*`: the qualifier named as the planned table (an alias stays as written)."""
    qualifier = column.args.get("table")
    if not isinstance(qualifier, exp.Identifier):
        return
    entry = ctx.tables.get(qualifier.name.casefold())
    is_alias = entry is not None and entry[0].casefold() != qualifier.name.casefold()
    planned = entry[1] if entry is not None and not is_alias else None
    _set_name(qualifier, planned.name if planned is not None else qualifier.name)


def _shown(name: str) -> str:
    return f'"{name}"' if needs_quotes(name) else name


def _generate(tree: exp.Expr, ctx: Context, paramstyle: str) -> str:
    """Postgres text with the driver's placeholders: %s
    / %(name)s for psycopg, :name for SQLAlchemy.
    """
    marks: list[str] = []
    for node in list(tree.find_all(exp.Placeholder)):
        name = node.name if node.this else None
        if paramstyle == "named":
            mark = f":{name}" if name else "?"
        else:
            mark = f"%({name})s" if name else "%s"
        node.replace(exp.var(_SENTINEL.format(len(marks))))
        marks.append(mark)
    text = tree.sql("postgres")
    if marks and paramstyle == "format":
        text = text.replace("%", "%%")  # psycopg reads % as a placeholder wherever it appears
        if "%" in tree.sql("postgres"):
            ctx.note("% doubled: psycopg reads a lone % as a placeholder")
    if marks:
        kinds = {
            m if m in ("%s", "?") else ("%(name)s" if m.startswith("%") else ":name") for m in marks
        }
        if paramstyle == "format":
            ctx.note("placeholders → " + ", ".join(sorted(kinds)) + " (psycopg)")
    for i in range(len(marks) - 1, -1, -1):
        text = text.replace(_SENTINEL.format(i), marks[i])
    return text
