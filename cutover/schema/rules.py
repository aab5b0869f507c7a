"""The declarative rule table: declared source type → Postgres type and coercion family.

Documented in docs/typemap.md. Also the small helpers that read Postgres type names
(`pg_base`, `family_of`), which the type map, the row path and the proof share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: declared type pattern → Postgres type and coercion family."""

    pattern: str
    pg_type: str
    family: str
    note: str = ""

    def match(self, declared: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, declared)


# Order matters: the first matching pattern wins. {n}, {p}, {s} come from the declared parameters.
RULES: tuple[Rule, ...] = (
    Rule(
        r"TINYINT\(1\)",
        "boolean",
        "boolean",
        "tinyint(1) is how MySQL-born schemas (Laravel, Rails) declare booleans",
    ),
    Rule(
        r"(TINYINT|INT1|SMALLINT|INT2)(\(\d+\))?",
        "smallint",
        "integer",
        "widened to integer/bigint when the data needs it",
    ),
    Rule(
        r"(INT|INTEGER|MEDIUMINT|INT4)(\(\d+\))?",
        "integer",
        "integer",
        "widened to bigint when values exceed 32 bits; INTEGER PRIMARY KEY becomes bigint identity",
    ),
    Rule(r"(BIGINT|INT8|UNSIGNED BIG INT|INTEGER64|LONG)(\(\d+\))?", "bigint", "integer"),
    Rule(r"(REAL|DOUBLE|DOUBLE PRECISION|FLOAT|FLOAT8)(\(\d+\))?", "double precision", "float"),
    Rule(r"FLOAT4", "real", "float"),
    Rule(r"(NUMERIC|DECIMAL|NUMBER)\((?P<p>\d+)\s*,\s*(?P<s>\d+)\)", "numeric({p},{s})", "decimal"),
    Rule(r"(NUMERIC|DECIMAL|NUMBER)\((?P<p>\d+)\)", "numeric({p})", "decimal"),
    Rule(r"(NUMERIC|DECIMAL|NUMBER|MONEY)", "numeric", "decimal"),
    Rule(
        r"(BOOLEAN|BOOL|BIT)",
        "boolean",
        "boolean",
        "0/1 and true/false/t/f/yes/no/y/n/on/off (any case) are booleans",
    ),
    Rule(
        r"(TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|DATETIMEOFFSET|DATETIMETZ)(\(\d\))?",
        "timestamptz",
        "timestamp",
        "naive values are read in naive_timezone (UTC)",
    ),
    Rule(
        r"(DATETIME|TIMESTAMP|DATETIME2|SMALLDATETIME|TIMESTAMP WITHOUT TIME ZONE)(\(\d\))?",
        "timestamp",
        "timestamp",
        "timestamptz when the values carry offsets or timestamps='timestamptz'",
    ),
    Rule(r"DATE", "date", "date"),
    Rule(r"(TIME|TIME WITHOUT TIME ZONE)(\(\d\))?", "time", "time"),
    Rule(
        r"(VARCHAR|NVARCHAR|CHARACTER VARYING|VARYING CHARACTER|NATIONAL VARCHAR|NATIONAL "
        r"CHARACTER VARYING|VARCHAR2|NVARCHAR2)\s*\((?P<n>\d+)\)",
        "varchar({n})",
        "text",
        "lengths are enforced: longer values are rejected",
    ),
    Rule(
        r"(CHAR|NCHAR|CHARACTER|NATIVE CHARACTER|NATIONAL CHARACTER)\s*\((?P<n>\d+)\)",
        "varchar({n})",
        "text",
        "SQLite never pads; Postgres char(n) would pad every value with spaces on read, so the "
        "length limit is kept without the padding",
    ),
    Rule(
        r"(TEXT|CLOB|VARCHAR|NVARCHAR|CHAR|CHARACTER|STRING|LONGTEXT|MEDIUMTEXT|TINYTEXT"
        r"|NTEXT|CHARACTER VARYING|CITEXT)",
        "text",
        "text",
        "jsonb or timestamp when every value is JSON or ISO dates",
    ),
    Rule(
        r"(BLOB|BINARY|VARBINARY|LONGBLOB|MEDIUMBLOB|TINYBLOB|BYTEA|IMAGE)(\s*\(\d+\))?",
        "bytea",
        "bytes",
    ),
    Rule(r"(JSON|JSONB)", "jsonb", "json", "invalid JSON is rejected"),
    Rule(r"(UUID|GUID|UNIQUEIDENTIFIER)", "uuid", "uuid"),
    # SQL Server types the rows above do not name (cutover/sources/mssql_types.py declares them)
    Rule(r"SMALLMONEY", "numeric", "decimal", "SQL Server smallmoney: exact, 4 decimal places"),
    Rule(
        r"ROWVERSION",
        "bytea",
        "bytes",
        "SQL Server rowversion: its 8 bytes, no longer bumped on update",
    ),
    Rule(r"XML", "xml", "text", "SQL Server xml: Postgres xml (content fragments allowed)"),
    Rule(
        r"(SQL_VARIANT|HIERARCHYID)",
        "text",
        "text",
        "SQL Server types read as their text form (/1/2/ paths for hierarchyid)",
    ),
)


def pg_base(pg_type: str) -> str:
    """'varchar(200)' → 'varchar'; 'timestamp with time zone' → 'timestamptz'."""
    base = pg_type.split("(")[0].strip().lower()
    return {
        "character varying": "varchar",
        "character": "char",
        "timestamp with time zone": "timestamptz",
        "timestamp without time zone": "timestamp",
        "time without time zone": "time",
        "int": "integer",
        "int4": "integer",
        "int8": "bigint",
        "int2": "smallint",
        "float8": "double precision",
        "float4": "real",
        "bool": "boolean",
        "decimal": "numeric",
    }.get(base, base)


def type_modifiers(pg_type: str) -> list[int]:
    """The numbers in a type's parentheses: varchar(200) → [200], numeric(10,2) → [10, 2]."""
    if "(" not in pg_type:
        return []
    return [int(n) for n in re.findall(r"\d+", pg_type[pg_type.find("(") : pg_type.find(")")])]


def numeric_scale(pg_type: str) -> int | None:
    """The scale of numeric(p,s) (0 for numeric(p)); None for numeric without a typmod."""
    mods = type_modifiers(pg_type)
    return None if not mods else (mods[1] if len(mods) > 1 else 0)


def family_of(pg_type: str) -> str:
    """The coercion family of a Postgres type (for existing target tables and overrides)."""
    base = pg_base(pg_type)
    if base in INT_RANGES:
        return "integer"
    if base in ("double precision", "real"):
        return "float"
    if base == "numeric":
        return "decimal"
    if base in ("varchar", "char", "text", "citext", "name"):
        return "text"
    if base in ("timestamp", "timestamptz"):
        return "timestamp"
    mapping = {
        "boolean": "boolean",
        "date": "date",
        "time": "time",
        "bytea": "bytes",
        "jsonb": "json",
        "json": "json",
        "uuid": "uuid",
        "vector": "vector",
        "halfvec": "vector",
    }
    return mapping.get(base, "text")


def normalise_declared(declared: str) -> str:
    """Upper-case, single spaces, UNSIGNED dropped: the form the rule table matches."""
    text = re.sub(r"\s+", " ", declared.strip().upper())
    text = re.sub(r"\bUNSIGNED\b(?! BIG INT)|\bSIGNED\b|\bZEROFILL\b", "", text).strip()
    return re.sub(r"\s*\(\s*", "(", re.sub(r"\s*\)", ")", text))


def declared_rule(declared: str) -> tuple[str, str, str] | None:
    """(pg_type, family, rule note) from the rule table, or None for an unknown type name."""
    norm = normalise_declared(declared)
    for rule in RULES:
        m = rule.match(norm)
        if m:
            params = {k: v for k, v in m.groupdict().items() if v is not None}
            return rule.pg_type.format(**params), rule.family, rule.note
    return None
