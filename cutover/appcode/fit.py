"""The passes that fit a parsed statement to the planned
schema (booleans, jsonb, time, LIKE, upserts …).
"""

from __future__ import annotations

from sqlglot import exp

from cutover.appcode.context import Context
from cutover.appcode.model import TargetTable
from cutover.appcode.timefns import NoSafeRewrite, rewrite_time, time_call

# SQLite functions with no Postgres counterpart, and what to do instead.
REFUSED_FUNCTIONS = {
    "LAST_INSERT_ROWID": "last_insert_rowid() has no Postgres counterpart: use INSERT … "
    "RETURNING id",
    "CHANGES": "changes() has no Postgres counterpart: use the cursor's rowcount",
    "TOTAL_CHANGES": "total_changes() has no Postgres counterpart",
    "JULIANDAY": "julianday() has no Postgres counterpart: use EXTRACT(EPOCH FROM …) / 86400 + "
    "2440587.5 and check the rounding",
    "SQLITE_VERSION": "sqlite_version(): ask Postgres for version() instead",
    "RANDOMBLOB": "randomblob(): use gen_random_bytes() (pgcrypto)",
    "PRINTF": "printf(): use format() and check each conversion",
    "SCOPE_IDENTITY": "SCOPE_IDENTITY() has no Postgres counterpart: use INSERT … RETURNING id",
    "NEWID": "NEWID(): use gen_random_uuid()",
}
# Functions sqlglot leaves as they are that mean the same in Postgres.
SAME_IN_POSTGRES = frozenset(
    {"REPLACE", "LTRIM", "RTRIM", "TRIM", "ABS", "NULLIF", "LOWER", "UPPER", "ROUND", "NOW"}
)
_NOCASE = "NOCASE"


def refuse(tree: exp.Expr, ctx: Context) -> None:
    """Raise NoSafeRewrite for what has no Postgres meaning at all."""
    if isinstance(tree, exp.Command):
        raise NoSafeRewrite(
            f"sqlglot cannot read this {ctx.dialect} statement ({tree.name}): rewrite it by hand"
        )
    if isinstance(tree, exp.Pragma):
        raise NoSafeRewrite(
            "PRAGMA is SQLite-only: drop it (foreign keys are always enforced in Postgres)"
        )
    if tree.find(exp.Glob):
        raise NoSafeRewrite(
            "GLOB is case-sensitive with * and ? wildcards: rewrite as LIKE or a regular expression"
        )
    for node in tree.find_all(exp.Anonymous):
        name = str(node.this).upper()
        if name in REFUSED_FUNCTIONS:
            raise NoSafeRewrite(REFUSED_FUNCTIONS[name])
    insert = tree if isinstance(tree, exp.Insert) else None
    alternative = str(insert.args.get("alternative") or "").upper() if insert else ""
    if alternative and alternative not in ("IGNORE", "REPLACE"):
        raise NoSafeRewrite(f"INSERT OR {alternative} has no Postgres counterpart")


def fit_tree(tree: exp.Expr, ctx: Context) -> None:
    """Apply every pass that needs the planned schema, in an order where each sees plain columns."""
    _aliases_in_having(tree, ctx)
    _rowid(tree, ctx)
    _time(tree, ctx)
    _text_affinity(tree, ctx)
    _json(tree, ctx)
    _booleans(tree, ctx)
    _nocase(tree, ctx)
    _like(tree, ctx)
    _ordering(tree, ctx)
    _upsert(tree, ctx)
    _division(tree, ctx)
    _string_agg(tree, ctx)
    for node in tree.find_all(exp.Anonymous):
        name = str(node.this).upper()
        if name not in SAME_IN_POSTGRES:
            raise NoSafeRewrite(
                f"function {name.lower()}() is not known to mean the same in Postgres"
            )


def _aliases_in_having(tree: exp.Expr, ctx: Context) -> None:
    """HAVING/WHERE may name a select alias in SQLite; Postgres needs the expression itself."""
    for select in tree.find_all(exp.Select):
        aliases = {
            a.alias.casefold(): a.this for a in select.expressions if isinstance(a, exp.Alias)
        }
        for clause in ("having", "where"):
            part = select.args.get(clause)
            if part is None:
                continue
            for column in list(part.find_all(exp.Column)):
                key = column.name.casefold()
                if (
                    column.table
                    or key not in aliases
                    or column.find_ancestor(exp.Select) is not select
                ):
                    continue
                if ctx.resolve(column) is not None:
                    raise NoSafeRewrite(
                        f"{column.name} in {clause.upper()} is both a select alias and a column"
                    )
                column.replace(
                    exp.paren(aliases[key].copy())
                    if isinstance(aliases[key], exp.Binary)
                    else aliases[key].copy()
                )
                ctx.note(
                    f"{clause.upper()} {column.name}: Postgres cannot see select aliases there, "
                    "the expression stands in"
                )


def _rowid(tree: exp.Expr, ctx: Context) -> None:
    for column in list(tree.find_all(exp.Column)):
        if (
            column.name.lower() not in ("rowid", "_rowid_", "oid")
            or ctx.resolve(column) is not None
        ):
            continue
        tables = [t for _, t in ctx.tables.values() if t is not None]
        if len({id(t) for t in tables}) != 1 or tables[0].rowid is None:
            raise NoSafeRewrite(
                "rowid: Postgres rows have no rowid; this table has no INTEGER PRIMARY KEY to "
                "stand in"
            )
        alias_of = tables[0].rowid
        column.set("this", exp.to_identifier(alias_of))
        ctx.note(f"rowid → {alias_of} (the INTEGER PRIMARY KEY rowid was an alias of)")


def _time(tree: exp.Expr, ctx: Context) -> None:
    for node in list(tree.find_all(exp.Anonymous, exp.Date, exp.TimeToStr)):
        call = time_call(node)
        if call is None or (ctx.dialect != "sqlite"):
            continue
        new, change = rewrite_time(call[0], call[1], ctx.lookup)
        if call[0] in _SQLITE_TEXT and _against_text(node, ctx):
            instant = (
                new
                if call[0] == "DATE"
                else exp.AtTimeZone(this=new, zone=exp.Literal.string("UTC"))
            )
            new = exp.func("TO_CHAR", instant, exp.Literal.string(_SQLITE_TEXT[call[0]]))
            change = (
                f"{call[0].lower()}(…) compared with a text column → ISO text in UTC, as "
                "SQLite compares"
            )
        node.replace(new)
        ctx.note(change)
    for now in list(tree.find_all(exp.CurrentTimestamp)):
        if _against_text(now, ctx):
            utc = exp.AtTimeZone(this=now.copy(), zone=exp.Literal.string("UTC"))
            now.replace(exp.func("TO_CHAR", utc, exp.Literal.string(_SQLITE_TEXT["DATETIME"])))
            ctx.note(
                "CURRENT_TIMESTAMP compared with a text column → ISO text in UTC, as SQLite "
                "compares"
            )


# SQLite's time functions return ISO text: compared with a text column, they compare as that text.
_SQLITE_TEXT = {"DATETIME": "YYYY-MM-DD HH24:MI:SS", "DATE": "YYYY-MM-DD"}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _text_affinity(tree: exp.Expr, ctx: Context) -> None:
    """A number compared with a text column: SQLite compares it as text ('0'), Postgres refuses."""
    for cmp in list(tree.find_all(*_COMPARISONS, exp.In)):
        sides = [cmp.this] + (cmp.expressions if isinstance(cmp, exp.In) else [cmp.expression])
        sides = [side.unnest() for side in sides]
        column = next((s for s in sides if isinstance(s, exp.Column)), None)
        if column is None or ctx.family(column) != "text":
            continue
        for side in sides:
            if isinstance(side, exp.Literal) and not side.is_string:
                side.replace(exp.Literal.string(side.this))
                ctx.note(
                    f"{column.name} is text: the number compared with it is text, as in SQLite"
                )


def _against_text(node: exp.Expr, ctx: Context) -> bool:
    """True when the node is one side of a comparison whose other side is a text column."""
    parent = node.parent
    if not isinstance(parent, _COMPARISONS):
        return False
    other = parent.expression if parent.this is node else parent.this
    return isinstance(other, exp.Column) and ctx.family(other) == "text"


def _json_subject(node: exp.Expr, ctx: Context) -> exp.Expr:
    if ctx.family(node) == "json":
        return node
    if ctx.family(node) == "text":
        ctx.note(f"{node.sql()} is text on the target: cast to jsonb for the path")
        return exp.cast(node, "JSONB")
    raise NoSafeRewrite(f"json_extract on {node.sql()}: its planned type is not json or text")


def _json(tree: exp.Expr, ctx: Context) -> None:
    """json_extract(x, '$.a.b') → x -> 'a' ->> 'b'
    (jsonb), cast to numeric when compared to numbers.
    """
    for node in list(tree.find_all(exp.JSONExtractScalar, exp.JSONExtract)):
        path = node.expression
        if not isinstance(path, exp.JSONPath):
            raise NoSafeRewrite("json_extract with a path that is not a literal")
        steps: list[str | int] = []
        for part in path.expressions[1:]:
            if isinstance(part, exp.JSONPathKey) and isinstance(part.this, str):
                steps.append(part.this)
            elif isinstance(part, exp.JSONPathSubscript) and isinstance(part.this, int):
                steps.append(part.this)
            else:
                raise NoSafeRewrite(f"JSON path {path.sql()} uses a step Postgres' -> cannot take")
        if not steps or not isinstance(path.expressions[0], exp.JSONPathRoot):
            raise NoSafeRewrite("JSON path without steps from $")
        value: exp.Expr = _json_subject(node.this, ctx)
        parent = node.parent.parent if isinstance(node.parent, exp.Alias) else node.parent
        select = node.find_ancestor(exp.Select)
        projected = (
            isinstance(parent, exp.Select)
            and node.find_ancestor(exp.Where, exp.Having, exp.Order, exp.Group) is None
            and select is not None
            and not select.args.get("group")
            and not select.args.get("distinct")
        )
        scalar = isinstance(node, exp.JSONExtractScalar) and not projected
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            key = exp.JSONPath(expressions=[exp.JSONPathRoot(), _path_part(step)])
            kind = exp.JSONExtractScalar if (last and scalar) else exp.JSONExtract
            value = kind(this=value, expression=key, only_json_types=True)
        if isinstance(node.parent, exp.Predicate) and _numeric_other_side(node):
            value = exp.cast(value, "NUMERIC")
            ctx.note("json_extract compared to a number → (->>)::numeric")
        node.replace(value)
        ctx.note(
            "json_extract → -> (jsonb: numbers stay numbers, strings strings, as SQLite "
            "returned them)"
            if not scalar
            else "json_extract → ->> (text)"
        )


def _path_part(step: str | int) -> exp.Expr:
    return exp.JSONPathKey(this=step) if isinstance(step, str) else exp.JSONPathSubscript(this=step)


def _numeric_other_side(node: exp.Expr) -> bool:
    parent = node.parent
    if parent is None:
        return False
    other = parent.args.get("expression") if parent.this is node else parent.this
    if isinstance(other, exp.Neg):
        other = other.this
    return isinstance(other, exp.Literal) and not other.is_string


def _as_boolean(value: exp.Expr, where: str, ctx: Context) -> exp.Expr:
    """0/1 (a literal or a parameter) as the boolean it meant."""
    if isinstance(value, exp.Literal) and not value.is_string and value.name in ("0", "1"):
        ctx.note(
            f"{where} {value.name} → {'TRUE' if value.name == '1' else 'FALSE'} (boolean column)"
        )
        return exp.Boolean(this=value.name == "1")
    if isinstance(value, exp.Placeholder):
        ctx.note(
            f"{where} parameter → CAST(CAST(… AS INTEGER) AS BOOLEAN): the app may pass 0/1 or "
            "a bool"
        )
        return exp.cast(exp.cast(value, "INTEGER"), "BOOLEAN")
    if isinstance(value, (exp.Boolean, exp.Null, exp.Column)):
        return value
    raise NoSafeRewrite(
        f"{where} {value.sql()}: the column is boolean on the target, this value is not 0/1"
    )


def _booleans(tree: exp.Expr, ctx: Context) -> None:
    for cmp in list(tree.find_all(exp.EQ, exp.NEQ, exp.Is)):
        if cmp.find_ancestor(exp.Update) and isinstance(cmp.parent, exp.Update):
            col = cmp.this
            if ctx.family(col) == "boolean":
                cmp.set("expression", _as_boolean(cmp.expression, f"SET {col.name} =", ctx))
            continue
        for side, other in (("this", "expression"), ("expression", "this")):
            if ctx.family(cmp.args[side]) != "boolean":
                continue
            value = cmp.args[other]
            if isinstance(cmp, exp.Is) and isinstance(value, exp.Literal):
                cmp.set(other, _as_boolean(value, f"{cmp.args[side].name} IS", ctx))
            elif not isinstance(cmp, exp.Is):
                cmp.set(other, _as_boolean(value, f"{cmp.args[side].name} =", ctx))
    for cmp in list(tree.find_all(exp.NullSafeEQ, exp.NullSafeNEQ)):  # SQLite's IS / IS NOT
        if ctx.family(cmp.this) == "boolean" and isinstance(cmp.expression, exp.Literal):
            test = exp.Is(
                this=cmp.this, expression=_as_boolean(cmp.expression, f"{cmp.this.name} IS", ctx)
            )
            cmp.replace(test if isinstance(cmp, exp.NullSafeEQ) else exp.Not(this=test))
    for agg in list(tree.find_all(exp.Sum, exp.Avg, exp.Max, exp.Min)):
        if ctx.family(agg.this) == "boolean":
            agg.set("this", exp.cast(agg.this, "INTEGER"))
            ctx.note(
                f"{agg.key.upper()}({agg.this.this.name}) counts 0/1: the boolean is cast to "
                "integer"
            )
    if isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Values):
        table_name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
        planned = ctx.schema.table(table_name) if ctx.schema else None
        if planned is None:
            return
        names = (
            [i.name for i in tree.this.expressions]
            if isinstance(tree.this, exp.Schema)
            else list(planned.columns)
        )
        for row in tree.expression.expressions:
            for name, value in zip(names, row.expressions):
                col = planned.column(name)
                if col is not None and col.family == "boolean":
                    value.replace(_as_boolean(value.copy(), f"VALUES {name}:", ctx))


def _like(tree: exp.Expr, ctx: Context) -> None:
    """SQLite's LIKE folds ASCII letters only: ILIKE under the C collation does exactly that."""
    for like in list(tree.find_all(exp.Like)):
        pattern = like.expression
        if (
            isinstance(pattern, exp.Literal)
            and pattern.is_string
            and not any(ch.lower() != ch.upper() for ch in pattern.name)
        ):
            if "\\" in pattern.name and not isinstance(like.parent, exp.Escape):
                like.replace(exp.Escape(this=like.copy(), expression=exp.Literal.string("")))
                ctx.note(
                    "LIKE ESCAPE '': Postgres reads \\ in a pattern as an escape, SQLite does not"
                )
            continue  # no letters with case in the pattern: case folding cannot change a match
        if ctx.dialect == "tsql":
            like.replace(exp.ILike(this=like.this, expression=pattern))
            ctx.note(
                "LIKE → ILIKE: SQL Server's usual collations ignore case (check the column's "
                "collation)"
            )
            continue
        subject = exp.Collate(this=like.this, expression=exp.to_identifier("C", quoted=True))
        new: exp.Expr = exp.ILike(this=subject, expression=pattern)
        if not isinstance(like.parent, exp.Escape) and not (
            isinstance(pattern, exp.Literal) and "\\" not in pattern.name
        ):
            new = exp.Escape(this=new, expression=exp.Literal.string(""))
            ctx.note("ESCAPE '': Postgres reads \\ in a pattern as an escape, SQLite does not")
        like.replace(new)
        ctx.note(
            'LIKE → COLLATE "C" ILIKE: SQLite ignores ASCII case only (É ≠ é), so does ILIKE '
            'under "C"'
        )


def _ascii_lower(node: exp.Expr) -> exp.Expr:
    return exp.Lower(this=exp.Collate(this=node, expression=exp.to_identifier("C", quoted=True)))


def _nocase(tree: exp.Expr, ctx: Context) -> None:
    """COLLATE NOCASE (written, or declared on the column) → lower() of both sides under "C"."""
    for collate in list(tree.find_all(exp.Collate)):
        name = collate.expression.name.upper()
        if name == "BINARY":
            collate.replace(collate.this)
            continue
        if name != _NOCASE:
            raise NoSafeRewrite(f"COLLATE {name} has no Postgres collation with the same meaning")
        cmp = collate.parent
        if isinstance(cmp, exp.Ordered):
            collate.replace(_ascii_lower(collate.this))
        elif isinstance(cmp, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            collate.replace(collate.this)
            for side in ("this", "expression"):
                cmp.set(side, _ascii_lower(cmp.args[side]))
        else:
            raise NoSafeRewrite("COLLATE NOCASE outside a comparison or ORDER BY")
        ctx.note(
            'COLLATE NOCASE → lower(… COLLATE "C") on both sides: ASCII-only folding, as SQLite'
        )
    for cmp in list(tree.find_all(exp.EQ, exp.NEQ)):
        sides = [cmp.this, cmp.expression]
        if any(isinstance(s, exp.Column) and (c := ctx.lookup(s)) and c.nocase for s in sides):
            for side in ("this", "expression"):
                cmp.set(side, _ascii_lower(cmp.args[side]))
            ctx.note(
                'NOCASE column → lower(… COLLATE "C") on both sides: ASCII-only folding, as SQLite'
            )


def _ordering(tree: exp.Expr, ctx: Context) -> None:
    """SQLite sorts NULLs first ascending, Postgres
    last: sqlglot says so explicitly, not for keys.
    """
    for ordered in tree.find_all(exp.Ordered):
        hit = ctx.resolve(ordered.this) if isinstance(ordered.this, exp.Column) else None
        if hit is not None and hit[1].casefold() in {k.casefold() for k in hit[0].primary_key}:
            ordered.set("nulls_first", bool(ordered.args.get("desc")))  # a key is never NULL
        elif ordered.args.get("nulls_first") is not None:
            ctx.note("ORDER BY … NULLS FIRST/LAST: where SQLite puts NULLs (first ascending)")


def _upsert(tree: exp.Expr, ctx: Context) -> None:
    if not isinstance(tree, exp.Insert):
        return
    alternative = str(tree.args.get("alternative") or "").upper()
    if alternative == "IGNORE":
        tree.set("alternative", None)
        tree.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
        ctx.note(
            "INSERT OR IGNORE → ON CONFLICT DO NOTHING (skips unique conflicts; SQLite also "
            "skipped NOT NULL/CHECK failures)"
        )
    elif alternative == "REPLACE":
        tree.set("alternative", None)
        tree.set("conflict", _replace_conflict(tree, ctx))
        ctx.note("INSERT OR REPLACE → ON CONFLICT (key) DO UPDATE SET every other column")


def _replace_conflict(tree: exp.Insert, ctx: Context) -> exp.OnConflict:
    table_name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
    planned = ctx.schema.table(table_name) if ctx.schema else None
    if planned is None or not planned.primary_key:
        raise NoSafeRewrite(
            f"INSERT OR REPLACE into {table_name}: the planned schema does not give its key"
        )
    listed = (
        {i.name.casefold() for i in tree.this.expressions}
        if isinstance(tree.this, exp.Schema)
        else None
    )
    key = [k.casefold() for k in planned.primary_key]
    if listed is not None and not set(key) <= listed:
        raise NoSafeRewrite(
            "INSERT OR REPLACE without the key: SQLite deletes the row and gives the new one a "
            "new id"
        )
    for unique in planned.uniques:
        if listed is None or {u.casefold() for u in unique} & listed:
            raise NoSafeRewrite(
                "INSERT OR REPLACE: SQLite also deletes rows that conflict on unique "
                f"({', '.join(unique)}); "
                "Postgres takes one conflict target"
            )
    sets = []
    for source, col in planned.columns.items():
        if source.casefold() in key:
            continue
        target = exp.to_identifier(col.name)
        sets.append(
            exp.EQ(
                this=exp.column(target.copy()),
                expression=exp.column(target.copy(), table="EXCLUDED"),
            )
        )
    keys = [exp.Ordered(this=exp.column(_planned_name(planned, k))) for k in planned.primary_key]
    if not sets:
        return exp.OnConflict(action=exp.var("DO NOTHING"), conflict_keys=keys)
    return exp.OnConflict(action=exp.var("DO UPDATE"), conflict_keys=keys, expressions=sets)


def _planned_name(table: TargetTable, source: str) -> str:
    col = table.column(source)
    return col.name if col is not None else source


def _division(tree: exp.Expr, ctx: Context) -> None:
    """SQLite divides integers as integers, as Postgres does; a numeric column would not."""
    for div in list(tree.find_all(exp.Div, exp.Mod)):
        divisor = div.expression
        if isinstance(divisor, exp.Literal) and not divisor.is_string and float(divisor.name) != 0:
            div.set("safe", False)  # a non-zero constant never divides by zero: no NULLIF needed
        elif div.args.get("safe"):
            ctx.note(
                "x / y → x / NULLIF(y, 0): SQLite gives NULL for a division by zero, Postgres "
                "an error"
            )
        families = {ctx.family(div.this), ctx.family(divisor)}
        if isinstance(div, exp.Div) and "decimal" in families:
            other = divisor if ctx.family(div.this) == "decimal" else div.this
            if (
                not (isinstance(other, exp.Literal) and "." in other.name)
                and ctx.family(other) != "float"
            ):
                raise NoSafeRewrite(
                    f"{div.sql()}: SQLite divided the integer values of this NUMERIC column as "
                    "integers (7/2 = 3), "
                    "Postgres numeric gives 3.5: write TRUNC(…) or keep the fraction, as intended"
                )


def _string_agg(tree: exp.Expr, ctx: Context) -> None:
    for agg in tree.find_all(exp.GroupConcat):
        family = ctx.family(agg.this)
        if family is not None and family != "text":
            agg.set("this", exp.cast(agg.this, "TEXT"))
            ctx.note("GROUP_CONCAT of a non-text column: string_agg needs text, cast added")
