"""What else ties the app to its old database: dialect-
only engine options, pool settings, types, fixtures.

Pool settings are checked against the teams' DB connection standards (seeds: 데이터베이스 연동
기준서 §2.2): pool_size from DB_POOL_SIZE (20), max_overflow from DB_MAX_OVERFLOW (10),
pool_recycle from DB_POOL_RECYCLE (3600 s), and pool_pre_ping=True on every engine.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from cutover.appcode.find import python_files
from cutover.appcode.model import CodeFinding
from cutover.errors import UsageError


@dataclass(frozen=True)
class PoolStandard:
    """One pool setting of the DB standards: the
    create_engine argument, its env key, its default.
    """

    argument: str
    env_key: str | None
    default: int | bool


POOL_STANDARDS = (
    PoolStandard("pool_size", "DB_POOL_SIZE", 20),
    PoolStandard("max_overflow", "DB_MAX_OVERFLOW", 10),
    PoolStandard("pool_recycle", "DB_POOL_RECYCLE", 3600),
    PoolStandard("pool_pre_ping", None, True),
)
ENGINE_FACTORIES = frozenset({"create_engine", "create_async_engine"})
# Options only one dialect's driver knows, and what to do on Postgres.
DIALECT_OPTIONS = {
    "check_same_thread": ("sqlite3", "drop it: psycopg refuses connect_args it does not know"),
    "fast_executemany": (
        "pyodbc",
        "drop it: psycopg's executemany already pipelines; use COPY for bulk loads",
    ),
    "isolation_level_sqlite": ("sqlite3", "drop it"),
    "detect_types": (
        "sqlite3",
        "drop it: psycopg returns dates and timestamps as Python objects already",
    ),
}
SINGLE_CONNECTION_POOLS = frozenset({"StaticPool", "SingletonThreadPool"})
# Dialect types with their portable or Postgres counterparts.
TYPE_REPLACEMENTS = {
    "JSON": "sqlalchemy.dialects.postgresql.JSONB",
    "DATETIME": "sqlalchemy.DateTime(timezone=True)",
    "DATETIME2": "sqlalchemy.DateTime(timezone=True)",
    "DATETIMEOFFSET": "sqlalchemy.DateTime(timezone=True)",
    "NVARCHAR": "sqlalchemy.String",
    "NTEXT": "sqlalchemy.Text",
    "BIT": "sqlalchemy.Boolean",
    "UNIQUEIDENTIFIER": "sqlalchemy.Uuid",
    "MONEY": "sqlalchemy.Numeric(19, 4)",
    "TINYINT": "sqlalchemy.SmallInteger",
    "IMAGE": "sqlalchemy.LargeBinary",
    "VARBINARY": "sqlalchemy.LargeBinary",
}
OLD_DIALECTS = ("sqlite", "mssql")


def scan_engine_options(root: Path | str) -> list[CodeFinding]:
    """Findings for engine options, pool settings,
    dialect types and SQLite test fixtures under root.
    """
    base = Path(root)
    if not base.exists():
        raise UsageError(f"no such folder to scan: {base}", path=str(base))
    findings: list[CodeFinding] = []
    for path in python_files(base):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        rel = path.relative_to(base).as_posix() if base.is_dir() else path.name
        findings.extend(_scan_module(rel, tree))
    return findings


def _scan_module(rel: str, tree: ast.Module) -> list[CodeFinding]:
    out: list[CodeFinding] = []
    is_test = (
        rel.endswith("conftest.py") or "tests/" in f"/{rel}" or Path(rel).name.startswith("test_")
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            out.extend(_dialect_options(rel, node))
            if (
                _name(node.func) in ENGINE_FACTORIES and not is_test
            ):  # a test engine is sized for tests
                out.extend(_pool(rel, node))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in DIALECT_OPTIONS:
                    out.append(_option_finding(rel, node.lineno, target.attr))
        elif isinstance(node, (ast.ImportFrom, ast.Import)):
            out.extend(_dialect_types(rel, node))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("sqlite:")
        ):
            if is_test:
                out.append(
                    CodeFinding(
                        rel,
                        node.lineno,
                        "sqlite_fixture",
                        "warning",
                        f"test fixture on a SQLite URL ({node.value}): the app's tests do not "
                        "run on Postgres",
                        "point the fixture at Postgres (a per-test database on the CI server, "
                        "CUTOVER_TEST_PG_URL)",
                    )
                )
            else:
                out.append(
                    CodeFinding(
                        rel,
                        node.lineno,
                        "sqlite_url",
                        "warning",
                        f"SQLite URL in the code ({node.value}): a default that outlives the "
                        "cutover",
                        "read the URL from the env key only, or default to the Postgres URL",
                    )
                )
    return sorted(out, key=lambda f: (f.line, f.code))


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _option_finding(rel: str, line: int, option: str) -> CodeFinding:
    driver, fix = DIALECT_OPTIONS[option]
    return CodeFinding(
        rel, line, "dialect_option", "warning", f"{option} is a {driver} option", fix
    )


def _dialect_options(rel: str, call: ast.Call) -> list[CodeFinding]:
    out = []
    for kw in call.keywords:
        if kw.arg in DIALECT_OPTIONS:
            out.append(_option_finding(rel, kw.value.lineno, kw.arg))
        if kw.arg == "connect_args" and isinstance(kw.value, ast.Dict):
            for key in kw.value.keys:
                if isinstance(key, ast.Constant) and key.value in DIALECT_OPTIONS:
                    out.append(_option_finding(rel, key.lineno, str(key.value)))
        if kw.arg == "poolclass" and _name(kw.value) in SINGLE_CONNECTION_POOLS:
            out.append(
                CodeFinding(
                    rel,
                    kw.value.lineno,
                    "single_connection_pool",
                    "warning",
                    f"poolclass={_name(kw.value)} keeps one connection, a SQLite habit",
                    "drop poolclass: Postgres wants the default QueuePool sized by the DB "
                    "standards",
                )
            )
    return out


def _pool(rel: str, call: ast.Call) -> list[CodeFinding]:
    """Each pool setting of a create_engine call against the DB standards."""
    given = {kw.arg: kw.value for kw in call.keywords if kw.arg}
    out = []
    for std in POOL_STANDARDS:
        value = given.get(std.argument)
        where = (
            f"from {std.env_key} (default {std.default})" if std.env_key else f"to {std.default}"
        )
        if value is None:
            out.append(
                CodeFinding(
                    rel,
                    call.lineno,
                    "pool_setting",
                    "warning",
                    f"create_engine without {std.argument}: the DB standards set it {where}",
                    f"{std.argument}={_suggest(std)}",
                )
            )
            continue
        problem = _pool_problem(std, value)
        if problem:
            out.append(
                CodeFinding(
                    rel,
                    value.lineno,
                    "pool_setting",
                    "warning",
                    problem,
                    f"{std.argument}={_suggest(std)}",
                )
            )
    return out


def _suggest(std: PoolStandard) -> str:
    if std.env_key is None:
        return str(std.default)
    return f'int(os.getenv("{std.env_key}", "{std.default}"))'


def _pool_problem(std: PoolStandard, value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant):
        if value.value == std.default:
            return (
                None
                if std.env_key is None
                else f"{std.argument}={value.value} is hard-coded; the standards read {std.env_key}"
            )
        return f"{std.argument}={value.value!r}; the DB standards say {std.default}" + (
            f" from {std.env_key}" if std.env_key else ""
        )
    env = _env_read(value)
    if env is None:
        return None  # computed elsewhere (a settings object): nothing to check here
    key, default = env
    if std.env_key and key != std.env_key:
        return f"{std.argument} reads {key}; the DB standards name it {std.env_key}"
    if default is not None and str(default) != str(std.default):
        return f"{std.argument} defaults to {default} ({key}); the DB standards say {std.default}"
    return None


def _env_read(value: ast.expr) -> tuple[str, object] | None:
    """(key, default) of an os.getenv / os.environ.get read, through int(...) if any."""
    if isinstance(value, ast.Call) and _name(value.func) in ("int", "bool", "float") and value.args:
        value = value.args[0]
    if isinstance(value, ast.Call) and _name(value.func) in ("getenv", "get") and value.args:
        key = value.args[0]
        default = value.args[1] if len(value.args) > 1 else None
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value, default.value if isinstance(default, ast.Constant) else None
    return None


def _dialect_types(rel: str, node: ast.ImportFrom | ast.Import) -> list[CodeFinding]:
    modules = (
        [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
    )
    out = []
    for module in modules:
        parts = module.split(".")
        if (
            parts[:2] != ["sqlalchemy", "dialects"]
            or len(parts) < 3
            or parts[2] not in OLD_DIALECTS
        ):
            continue
        names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else [module]
        for name in names:
            fix = TYPE_REPLACEMENTS.get(
                name.upper(), "the portable sqlalchemy type or sqlalchemy.dialects.postgresql"
            )
            out.append(
                CodeFinding(
                    rel,
                    node.lineno,
                    "dialect_type",
                    "warning",
                    f"{name} from sqlalchemy.dialects.{parts[2]}: a {parts[2]}-only type",
                    f"use {fix}",
                )
            )
    return out
