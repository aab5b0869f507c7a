"""Find the SQL an app's Python runs: string literals and constants passed to DB-API and
SQLAlchemy calls.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cutover.appcode.model import Statement
from cutover.errors import UsageError

# Folders that hold someone else's code or generated files, never the app's own SQL.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "__pycache__",
        "site-packages",
        ".tox",
        "build",
        "dist",
    }
)
EXECUTE_METHODS = frozenset({"execute", "executemany", "executescript"})
READ_SQL = frozenset({"read_sql", "read_sql_query"})
DRIVERS = {"sqlite3": "sqlite3", "pyodbc": "pyodbc", "pymssql": "pymssql", "aiosqlite": "sqlite3"}
TSQL_DRIVERS = frozenset({"pyodbc", "pymssql"})
# A module that speaks only to Postgres already (the app's new tests, say) has nothing to rewrite.
POSTGRES_DRIVERS = frozenset({"psycopg", "psycopg2", "asyncpg", "pg8000"})

_SQL_START = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*"
    r"(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE|CREATE|DROP|ALTER|PRAGMA|MERGE"
    r"|EXEC|EXECUTE|BEGIN|VACUUM|TRUNCATE|DECLARE|SET|ATTACH)\b",
    re.IGNORECASE,
)
# T-SQL that SQLite would not accept: TOP n, [bracketed] names, GETDATE(), ISNULL(a, b), dbo.,
# @params.
_TSQL_MARKS = re.compile(
    r"\bSELECT\s+(?:DISTINCT\s+)?TOP\b|\[[A-Za-z_][^\]\n]*\]"
    r"|\bGETDATE\s*\(|\bGETUTCDATE\s*\(|\bISNULL\s*\("
    r"|\bdbo\s*\.|\bNVARCHAR\b|\bSYSDATETIME\s*\(|\bDATEADD\s*\(|(?<![\w@])@[A-Za-z_]\w*",
    re.IGNORECASE,
)


def looks_like_sql(text: str) -> bool:
    """True when a string starts like a SQL statement."""
    return bool(_SQL_START.match(text))


def sql_dialect(sql: str, default: str) -> str:
    """'tsql' when the statement carries T-SQL marks, else the default of its source."""
    return "tsql" if _TSQL_MARKS.search(_strip_strings(sql)) else default


def _strip_strings(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def find_statements(root: Path | str, *, source_kind: str = "sqlite") -> list[Statement]:
    """Every SQL statement the Python files under `root` pass to a database call, in file order."""
    base = Path(root)
    if not base.exists():
        raise UsageError(f"no such folder to scan: {base}", path=str(base))
    default = "tsql" if source_kind in ("mssql", "tsql") else "sqlite"
    modules: list[_Module] = []
    for path in python_files(base):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # not Python this interpreter parses: engine_options reports nothing either
        rel = path.relative_to(base).as_posix() if base.is_dir() else path.name
        modules.append(_Module(rel, tree, default))
    found = [s for m in modules for s in m.statements()]
    # Constants imported by another module and run there are reported where they are written.
    wanted: dict[str, tuple[str, Any]] = {}
    for module in modules:
        wanted.update(module.imported_sql)
    for module in modules:
        found.extend(module.constant_statements(wanted))
    found.sort(key=lambda s: (s.path, s.line, s.call))
    return found


def python_files(base: Path) -> Iterator[Path]:
    """The .py files under base (or base itself), skipping virtualenvs and vendored trees."""
    if base.is_file():
        yield base
        return
    for path in sorted(base.rglob("*.py")):
        if not SKIPPED_DIRS.intersection(path.relative_to(base).parts[:-1]):
            yield path


@dataclass
class _Module:
    """One parsed file: its imports, its string constants, and the calls that run SQL."""

    path: str
    tree: ast.Module
    default: str
    constants: dict[str, ast.Constant] = field(default_factory=dict)
    drivers: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    imported_sql: dict[str, tuple[str, Any]] = field(default_factory=dict)
    reported: set[int] = field(default_factory=set)

    @property
    def dotted(self) -> str:
        """'app/queries.py' → 'app.queries' (a package's __init__ is the package)."""
        parts = self.path[: -len(".py")].split("/")
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def constant_statements(self, wanted: dict[str, tuple[str, Any]]) -> list[Statement]:
        """Module-level SQL constants not run here: run
        by an importer, or SQL by their text alone.
        """
        out: list[Statement] = []
        for name, literal in self.constants.items():
            text = literal.value
            if (
                not isinstance(text, str)
                or literal.lineno in self.reported
                or not looks_like_sql(text)
            ):
                continue
            call, params = wanted.get(f"{self.dotted}.{name}", ("constant", None))
            default = "tsql" if call.split(".")[0] in TSQL_DRIVERS else self.default
            out.append(
                Statement(self.path, literal.lineno, sql_dialect(text, default), text, call, params)
            )
        return out

    def statements(self) -> list[Statement]:
        self._imports()
        self._constants(self.tree.body, self.constants)
        parents = {
            child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)
        }
        seen: set[tuple[int, str, str]] = set()
        out: list[Statement] = []
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            hit = self._sql_call(node, parents)
            if hit is None:
                continue
            literal, call, params = hit
            text = literal.value
            if not isinstance(text, str) or not looks_like_sql(text):
                continue
            key = (literal.lineno, text, call)
            if key in seen:
                continue
            seen.add(key)
            self.reported.add(literal.lineno)
            dialect = sql_dialect(
                text, "tsql" if call.split(".")[0] in TSQL_DRIVERS else self.default
            )
            out.append(Statement(self.path, literal.lineno, dialect, text, call, params))
        out.sort(key=lambda s: (s.line, s.call))
        return out

    def _imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    self.aliases[alias.asname or top] = alias.name
                    if top in DRIVERS or top in POSTGRES_DRIVERS:
                        self.drivers.add(DRIVERS.get(top, "postgres"))
            elif isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                if top in DRIVERS or top in POSTGRES_DRIVERS:
                    self.drivers.add(DRIVERS.get(top, "postgres"))

    def _constants(self, body: list[ast.stmt], into: dict[str, ast.Constant]) -> None:
        """Names bound once to a string literal in this block (module, class or function)."""
        counts: dict[str, int] = {}
        for stmt in body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets = [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    counts[target.id] = counts.get(target.id, 0) + 1
                    value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        into[target.id] = value
        for name, n in counts.items():
            if n > 1:
                into.pop(name, None)  # rebound: which string runs depends on the path taken

    def _resolve(self, node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.Constant | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node
        if not isinstance(node, ast.Name):
            return None
        scope = parents.get(node)
        while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = parents.get(scope)
        if scope is not None:
            local: dict[str, ast.Constant] = {}
            self._constants(list(_walk_block(scope.body)), local)
            if node.id in local:
                return local[node.id]
        imported = self.aliases.get(node.id)
        if (
            imported is not None
            and imported.rsplit(".", 1)[-1] == node.id
            and node.id not in self.constants
        ):
            return None  # a constant of another module: reported where it is defined
        return self.constants.get(node.id)

    def _sql_call(
        self, node: ast.Call, parents: dict[ast.AST, ast.AST]
    ) -> tuple[ast.Constant, str, Any] | None:
        """(SQL literal, call label, literal params) when this call runs SQL."""
        name = _call_name(node.func)
        if name is None or not node.args:
            return None
        method = name.rsplit(".", 1)[-1]
        literal = self._resolve(node.args[0], parents)
        if literal is None:
            self._note_import(node, name, method, parents)
            return None
        if method == "text" and self._is_sqlalchemy(name):
            return literal, "sqlalchemy.text", _literal(_text_params(node, parents))
        if method == "exec_driver_sql":
            return literal, "sqlalchemy.exec_driver_sql", _literal(_arg(node, 1, "parameters"))
        if method in READ_SQL:
            return literal, f"pandas.{method}", _literal(_arg(node, 2, "params"))
        if method in EXECUTE_METHODS and "." in name and self.drivers != {"postgres"}:
            return literal, f"{self._driver()}.{method}", _literal(_arg(node, 1, "parameters"))
        return None

    def _note_import(
        self, node: ast.Call, name: str, method: str, parents: dict[ast.AST, ast.AST]
    ) -> None:
        """Remember an imported name run as SQL here, so its module reports it with this call."""
        arg = node.args[0]
        origin = self.aliases.get(arg.id) if isinstance(arg, ast.Name) else None
        if origin is None:
            return
        if method == "text" and self._is_sqlalchemy(name):
            self.imported_sql[origin] = ("sqlalchemy.text", _literal(_text_params(node, parents)))
        elif method == "exec_driver_sql":
            self.imported_sql[origin] = ("sqlalchemy.exec_driver_sql", None)
        elif method in READ_SQL:
            self.imported_sql[origin] = (f"pandas.{method}", None)
        elif method in EXECUTE_METHODS and "." in name and self.drivers != {"postgres"}:
            self.imported_sql[origin] = (
                f"{self._driver()}.{method}",
                _literal(_arg(node, 1, "parameters")),
            )

    def _is_sqlalchemy(self, name: str) -> bool:
        head = name.split(".")[0]
        origin = self.aliases.get(head, "")
        return origin.startswith("sqlalchemy") or name in ("sa.text", "sqlalchemy.text")

    def _driver(self) -> str:
        drivers = self.drivers - {"postgres"}
        if len(drivers) == 1:
            return next(iter(drivers))
        if "sqlite3" in drivers:
            # several drivers: the source's own wins the label; the dialect is per statement
            return "sqlite3"
        return "dbapi"


def _walk_block(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of a function body, including those nested in with/if/for/try blocks."""
    for stmt in body:
        yield stmt
        for attr in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, attr, None)
            if isinstance(inner, list) and not isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                yield from _walk_block(inner)


def _call_name(func: ast.expr) -> str | None:
    """'cur.execute', 'sa.text', 'text' — the dotted
    name a call is made through (last part exact).
    """
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = _call_name(func.value) if isinstance(func.value, (ast.Name, ast.Attribute)) else "_"
        return f"{inner or '_'}.{func.attr}"
    return None


def _arg(node: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(node.args) > position:
        return node.args[position]
    return next((k.value for k in node.keywords if k.arg == keyword), None)


def _text_params(node: ast.Call, parents: dict[ast.AST, ast.AST]) -> ast.expr | None:
    """The parameters a text() clause is executed with: `.execute(text(...), {...})` or
    `.bindparams(...)`.
    """
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and parent.args and parent.args[0] is node:
        return _arg(parent, 1, "parameters")
    if isinstance(parent, ast.Attribute) and parent.attr == "bindparams":
        call = parents.get(parent)
        if isinstance(call, ast.Call) and call.keywords:
            return ast.Dict(
                [ast.Constant(k.arg) for k in call.keywords], [k.value for k in call.keywords]
            )
    return None


def _literal(node: ast.expr | None) -> Any:
    """The value of a literal parameter expression; None when it is computed at run time."""
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return list(value) if isinstance(value, tuple) else value
