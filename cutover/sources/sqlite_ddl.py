"""What SQLite's CREATE statements say that its PRAGMAs do not: index elements, constraint names,
CHECKs, deferrable foreign keys, and the module of a virtual table."""

from __future__ import annotations

from cutover.schema import sqltext
from cutover.schema.model import CheckConstraint, Table


def parse_index_sql(sql: str) -> tuple[list[str], str | None]:
    """The element texts and the WHERE clause of a CREATE INDEX statement."""
    tokens = sqltext.tokenize(sql)
    try:
        on = next(i for i, t in enumerate(tokens) if t.upper == "ON")
        start = next(i for i in range(on, len(tokens)) if tokens[i].text == "(")
        end = sqltext.matching_paren(tokens, start)
    except (StopIteration, ValueError):
        return [], None
    elements = []
    for part in sqltext.split_top_level(tokens[start + 1 : end]):
        while part and part[-1].upper in ("ASC", "DESC"):
            part = part[:-1]
        if len(part) >= 2 and part[-2].upper == "COLLATE":
            part = part[:-2]
        elements.append(sqltext.join(part))
    rest = tokens[end + 1 :]
    where = None
    if rest and rest[0].upper == "WHERE":
        where = sqltext.join([t for t in rest[1:] if t.text != ";"])
    return elements, where


class DeclaredConstraints:
    """What CREATE TABLE text says that the PRAGMAs do not: names, CHECKs, DEFERRABLE."""

    def __init__(self) -> None:
        self.pk_name: str | None = None
        self.unique_names: dict[tuple[str, ...], str] = {}
        self.checks: list[CheckConstraint] = []
        self.foreign_keys: dict[tuple[str, ...], tuple[str | None, bool, bool]] = {}
        self.generated: dict[str, str] = {}  # column → its GENERATED ALWAYS AS (expression)


def parse_table_constraints(sql: str) -> DeclaredConstraints:
    """Read constraint names, CHECK expressions and deferrability from a CREATE TABLE statement."""
    found = DeclaredConstraints()
    tokens = sqltext.tokenize(sql)
    try:
        start = next(i for i, t in enumerate(tokens) if t.text == "(")
        body = tokens[start + 1 : sqltext.matching_paren(tokens, start)]
    except (StopIteration, ValueError):
        return found
    for part in sqltext.split_top_level(body):
        first = part[0].upper if part else ""
        table_level = first in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN")
        column = None if table_level else part[0].ident
        _constraint_clauses(part if table_level else part[1:], column, found)
        if column:
            expression = _generated_expression(part)
            if expression is not None:
                found.generated[column] = expression
    return found


def _generated_expression(part: list[sqltext.Token]) -> str | None:
    """The expression of a column's `[GENERATED ALWAYS]
    AS (…)`, at the top level of its definition.
    """
    depth = 0
    for k, tok in enumerate(part):
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        elif depth == 0 and tok.upper == "AS" and k + 1 < len(part) and part[k + 1].text == "(":
            try:
                end = sqltext.matching_paren(part, k + 1)
            except ValueError:
                return None
            return sqltext.join(part[k + 2 : end])
    return None


def _paren_names(tokens: list[sqltext.Token], at: int) -> tuple[list[str], int]:
    end = sqltext.matching_paren(tokens, at)
    names = [p[0].ident or "" for p in sqltext.split_top_level(tokens[at + 1 : end]) if p]
    return names, end + 1


def _constraint_clauses(
    tokens: list[sqltext.Token], column: str | None, found: DeclaredConstraints
) -> None:
    i, name = 0, None
    while i < len(tokens):
        word = tokens[i].upper
        if word == "CONSTRAINT" and i + 1 < len(tokens):
            name, i = tokens[i + 1].ident, i + 2
            continue
        if word == "PRIMARY":
            if name:
                found.pk_name = name
            name = None
        elif word == "UNIQUE":
            if i + 1 < len(tokens) and tokens[i + 1].text == "(":
                cols, i = _paren_names(tokens, i + 1)
                if name:
                    found.unique_names[tuple(cols)] = name
                name = None
                continue
            if name and column:
                found.unique_names[(column,)] = name
            name = None
        elif word == "CHECK" and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            end = sqltext.matching_paren(tokens, i + 1)
            found.checks.append(CheckConstraint(name, sqltext.join(tokens[i + 2 : end])))
            name, i = None, end + 1
            continue
        elif word in ("FOREIGN", "REFERENCES"):
            cols = [column] if column else []
            j = i
            if word == "FOREIGN":
                j = next((k for k in range(i, len(tokens)) if tokens[k].text == "("), len(tokens))
                if j < len(tokens):
                    cols, j = _paren_names(tokens, j)
            stop = next(
                (
                    k
                    for k in range(j + 1, len(tokens))
                    if tokens[k].upper in ("CONSTRAINT", "CHECK", "UNIQUE", "PRIMARY")
                    or (tokens[k].upper == "REFERENCES" and k != j)
                ),
                len(tokens),
            )
            words = [t.upper for t in tokens[j:stop]]
            deferrable = "DEFERRABLE" in words and not any(
                a == "NOT" and b == "DEFERRABLE" for a, b in zip(words, words[1:])
            )
            deferred = any(a == "INITIALLY" and b == "DEFERRED" for a, b in zip(words, words[1:]))
            found.foreign_keys[tuple(c for c in cols if c)] = (
                name,
                deferrable,
                deferrable and deferred,
            )
            name, i = None, stop
            continue
        i += 1


def apply_declared_constraints(table: Table, declared: DeclaredConstraints) -> None:
    table.pk_name = declared.pk_name
    table.checks = declared.checks
    for col in table.columns:
        if col.generated:
            col.generated_expression = declared.generated.get(col.name)
    for u in table.uniques:
        u.name = declared.unique_names.get(tuple(u.columns), u.name)
    for fk in table.foreign_keys:
        name, deferrable, deferred = declared.foreign_keys.get(
            tuple(fk.columns), (None, False, False)
        )
        fk.name, fk.deferrable, fk.initially_deferred = name, deferrable, deferred
