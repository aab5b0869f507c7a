"""SQL Server's catalog (sys.*) queries, and their result rows turned into the neutral schema model.

The queries are constants with one parameter, the schema name; `reflect_rows` is a pure function of
their rows (tuples in the column order each query's comment gives), so every translation is tested
with rows shaped as SQL Server returns them. Findings follow AWS DMS's premigration assessment:
what cannot move as it is (computed columns, temporal and memory-optimized tables, columnstore
indexes, triggers, case-insensitive collations, identifiers that collide once folded) is reported.
Needs SQL Server 2016 (13.x) or later: temporal_type, is_hidden and generated_always_type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from cutover.schema.model import (
    CheckConstraint,
    Column,
    Finding,
    ForeignKey,
    Index,
    IndexColumn,
    Schema,
    Table,
    Trigger,
    UniqueConstraint,
    View,
)
from cutover.sources import mssql_findings as find
from cutover.sources.mssql_facts import DatabaseFacts, Row, TableInfo
from cutover.sources.mssql_sql import portable_expression, text_concatenation
from cutover.sources.mssql_types import (
    AS_TEXT,
    CHARS,
    INTEGERS,
    NCHARS,
    UDT,
    ColumnType,
    declared_type,
    key_part,
)

DEFAULT_SCHEMA = "dbo"

# object_id, name, temporal_type (0 none, 1 history, 2 system-versioned), history table name,
# is_memory_optimized, durability_desc
TABLES_SQL = """
SELECT t.object_id, t.name, t.temporal_type, OBJECT_NAME(t.history_table_id), t.is_memory_optimized,
    t.durability_desc
FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE s.name = {p} AND t.is_ms_shipped = 0
ORDER BY t.name
"""

# object_id, name, type name, max_length, precision, scale, collation_name, code page, is_nullable,
# is_identity,
# is_computed, is_hidden, generated_always_type, seed, increment, last_value, computed definition,
# is_persisted,
# default definition, user-defined type name
COLUMNS_SQL = """
SELECT c.object_id, c.name,
       CASE WHEN ty.is_assembly_type = 1 THEN CASE WHEN ty.is_user_defined = 1 THEN 'udt' ELSE
           ty.name END ELSE TYPE_NAME(c.system_type_id) END,
       c.max_length, c.precision, c.scale, c.collation_name,
           CAST(COLLATIONPROPERTY(c.collation_name, 'CodePage') AS int),
       c.is_nullable, c.is_identity, c.is_computed, c.is_hidden, c.generated_always_type,
       CAST(ic.seed_value AS decimal(38, 0)), CAST(ic.increment_value AS decimal(38, 0)),
           CAST(ic.last_value AS decimal(38, 0)),
       cc.definition, cc.is_persisted, dc.definition, CASE WHEN ty.is_user_defined = 1 THEN ty.name
           END
FROM sys.columns AS c
JOIN sys.tables AS t ON t.object_id = c.object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
JOIN sys.types AS ty ON ty.user_type_id = c.user_type_id
LEFT JOIN sys.identity_columns AS ic ON ic.object_id = c.object_id AND ic.column_id = c.column_id
LEFT JOIN sys.computed_columns AS cc ON cc.object_id = c.object_id AND cc.column_id = c.column_id
LEFT JOIN sys.default_constraints AS dc ON dc.object_id = c.default_object_id
WHERE s.name = {p} AND t.is_ms_shipped = 0
ORDER BY c.object_id, c.column_id
"""

# object_id, index name, type (1 clustered, 2 nonclustered, 3 XML, 4 spatial, 5/6 columnstore, 7
# hash),
# is_unique, is_primary_key, is_unique_constraint, filter_definition, is_disabled,
# key_ordinal, is_included_column, is_descending_key, column name
INDEXES_SQL = """
SELECT i.object_id, i.name, i.type, i.is_unique, i.is_primary_key, i.is_unique_constraint,
    i.filter_definition, i.is_disabled,
       ic.key_ordinal, ic.is_included_column, ic.is_descending_key, c.name
FROM sys.indexes AS i
JOIN sys.tables AS t ON t.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = t.schema_id
LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id
LEFT JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
WHERE s.name = {p} AND t.is_ms_shipped = 0 AND i.type > 0 AND i.is_hypothetical = 0
ORDER BY i.object_id, i.index_id, ic.is_included_column, ic.key_ordinal, ic.index_column_id
"""

# parent object_id, name, referenced schema, referenced table, delete action, update action,
# is_disabled,
# is_not_trusted, column, referenced column
FOREIGN_KEYS_SQL = """
SELECT fk.parent_object_id, fk.name, OBJECT_SCHEMA_NAME(fk.referenced_object_id),
    OBJECT_NAME(fk.referenced_object_id),
       fk.delete_referential_action_desc, fk.update_referential_action_desc, fk.is_disabled,
           fk.is_not_trusted, pc.name, rc.name
FROM sys.foreign_keys AS fk
JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id
JOIN sys.columns AS pc ON pc.object_id = fkc.parent_object_id AND pc.column_id =
    fkc.parent_column_id
JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id =
    fkc.referenced_column_id
WHERE fk.schema_id = SCHEMA_ID({p})
ORDER BY fk.parent_object_id, fk.object_id, fkc.constraint_column_id
"""

# parent object_id, name, definition, is_disabled, is_not_trusted
CHECKS_SQL = """
SELECT cc.parent_object_id, cc.name, cc.definition, cc.is_disabled, cc.is_not_trusted
FROM sys.check_constraints AS cc WHERE cc.schema_id = SCHEMA_ID({p})
ORDER BY cc.parent_object_id, cc.name
"""

# parent object_id, name, is_disabled, is_instead_of_trigger, definition
TRIGGERS_SQL = """
SELECT tr.parent_id, tr.name, tr.is_disabled, tr.is_instead_of_trigger,
    OBJECT_DEFINITION(tr.object_id)
FROM sys.triggers AS tr JOIN sys.tables AS t ON t.object_id = tr.parent_id JOIN sys.schemas AS s ON
    s.schema_id = t.schema_id
WHERE s.name = {p}
ORDER BY tr.parent_id, tr.name
"""

# type (V view, P procedure, FN/IF/TF function, SO sequence, SN synonym), name, definition
OBJECTS_SQL = """
SELECT RTRIM(o.type), o.name, OBJECT_DEFINITION(o.object_id) FROM sys.objects AS o
WHERE o.schema_id = SCHEMA_ID({p}) AND o.is_ms_shipped = 0 AND o.type IN ('V', 'P', 'FN', 'IF',
    'TF', 'SO', 'SN')
ORDER BY o.type, o.name
"""

# schema name, user tables in it
SCHEMAS_SQL = """
SELECT s.name, COUNT(*) FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE t.is_ms_shipped = 0 GROUP BY s.name ORDER BY s.name
"""

# database, product version, edition, collation, its code page, snapshot isolation, read committed
# snapshot,
# compatibility level, data file bytes
DATABASE_SQL = """
SELECT DB_NAME(), CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)),
    CAST(SERVERPROPERTY('Edition') AS nvarchar(128)),
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)),
       CAST(COLLATIONPROPERTY(CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS nvarchar(128)),
           'CodePage') AS int),
       d.snapshot_isolation_state_desc, d.is_read_committed_snapshot_on, d.compatibility_level,
       (SELECT SUM(CAST(f.size AS bigint)) * 8192 FROM sys.database_files AS f)
FROM sys.databases AS d WHERE d.database_id = DB_ID()
"""

_ACTIONS = {
    "CASCADE": "CASCADE",
    "SET_NULL": "SET NULL",
    "SET_DEFAULT": "SET DEFAULT",
    "NO_ACTION": None,
}


@dataclass
class CatalogRows:
    """The rows of every catalog query for one schema."""

    tables: list[Row]
    columns: list[Row]
    indexes: list[Row] = field(default_factory=list)
    foreign_keys: list[Row] = field(default_factory=list)
    checks: list[Row] = field(default_factory=list)
    triggers: list[Row] = field(default_factory=list)
    objects: list[Row] = field(default_factory=list)
    schemas: list[Row] = field(default_factory=list)


@dataclass
class Reflection:
    """A reflected schema and the reader's facts about each of its tables."""

    schema: Schema
    tables: dict[str, TableInfo]

    def sequence_floors(self) -> dict[str, int]:
        """Per table, the identity value the Postgres identity must continue after."""
        floors = {}
        for name, info in self.tables.items():
            if info.identity is not None:
                _col, seed, increment, last = info.identity
                floors[name] = last if last is not None else seed - increment
        return floors


def reflect_rows(schema_name: str, rows: CatalogRows, db: DatabaseFacts) -> Reflection:
    """Turn the catalog rows of one schema into tables, views, triggers and findings."""
    schema = Schema(tables=[])
    infos: dict[str, TableInfo] = {}
    by_id: dict[int, Table] = {}
    history_of: dict[str, str] = {r[3]: r[1] for r in rows.tables if r[3]}
    columns_by_table: dict[int, list[Row]] = {}
    for r in rows.columns:
        columns_by_table.setdefault(int(r[0]), []).append(r)
    for object_id, name, temporal_type, history, memory_optimized, durability in rows.tables:
        table = Table(name=name, columns=[], schema=schema_name, has_rowid=False)
        info = TableInfo(int(object_id), schema_name, name, {}, bool(memory_optimized))
        _columns(table, info, columns_by_table.get(int(object_id), []), schema.findings)
        schema.tables.append(table)
        infos[name] = info
        by_id[int(object_id)] = table
        if temporal_type == 2:
            period = [c.name for c in table.columns if c.hidden or c.generated == "period"]
            schema.findings.append(find.temporal(name, history, period))
        elif temporal_type == 1:
            schema.findings.append(find.history_table(name, history_of.get(name)))
        if memory_optimized:
            schema.findings.append(find.memory_optimized(name, durability or ""))
    _indexes(by_id, rows.indexes, schema.findings)
    _foreign_keys(by_id, rows.foreign_keys, schema_name, schema.findings)
    _checks(by_id, infos, rows.checks, schema.findings)
    for parent_id, name, disabled, instead_of, definition in rows.triggers:
        table_name = by_id[int(parent_id)].name if int(parent_id) in by_id else "?"
        schema.triggers.append(Trigger(name, table_name, definition))
        schema.findings.append(find.trigger(name, table_name, bool(disabled), bool(instead_of)))
    _objects(schema, rows.objects)
    for table in schema.tables:
        infos[table.name].key = choose_key(table, infos[table.name].types, db.code_page)
        schema.findings += find.table_findings(table, infos[table.name])
    schema.findings += find.identifier_findings(schema.tables)
    schema.findings += find.database_findings(
        schema_name, rows.schemas, db, any(i.memory_optimized for i in infos.values())
    )
    return Reflection(schema, infos)


def _columns(table: Table, info: TableInfo, rows: list[Row], findings: list[Finding]) -> None:
    for r in rows:
        (
            _oid,
            name,
            type_name,
            max_length,
            precision,
            scale,
            collation,
            code_page,
            nullable,
            identity,
            computed,
            hidden,
            generated_always,
            seed,
            increment,
            last_value,
            computed_sql,
            _persisted,
            default,
            user_type,
        ) = r
        ct = ColumnType(
            str(type_name).lower(),
            int(max_length or 0),
            int(precision or 0),
            int(scale or 0),
            collation,
            int(code_page) if code_page else None,
        )
        info.types[name] = ct
        col = Column(
            name=name,
            declared_type=declared_type(ct),
            nullable=bool(nullable),
            default=default,
            collation=collation,
            hidden=bool(hidden),
        )
        if computed:
            col.generated = computed_sql or "computed"
        elif generated_always:
            col.generated = "period"  # GENERATED ALWAYS AS ROW START/END of a temporal table
        if identity:
            if ct.name in INTEGERS:
                col.autoincrement = True
                info.identity = (
                    name,
                    int(seed if seed is not None else 1),
                    int(increment if increment is not None else 1),
                    int(last_value) if last_value is not None else None,
                )
            else:
                findings.append(find.identity_not_integer(table.name, name, declared_type(ct)))
        if user_type and ct.name != UDT:
            col.declared_type = declared_type(
                ct
            )  # alias types (CREATE TYPE … FROM varchar(20)) move as their base type
        table.columns.append(col)


def _per_object(by_id: dict[int, Table], rows: list[Row]) -> Iterator[tuple[Table, str, list[Row]]]:
    """Rows of multi-column objects (indexes, foreign keys), grouped by (table object_id, name)."""
    groups: dict[tuple[int, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((int(r[0]), r[1]), []).append(r)
    for (object_id, name), members in groups.items():
        if object_id in by_id:
            yield by_id[object_id], name, members


def _indexes(by_id: dict[int, Table], rows: list[Row], findings: list[Finding]) -> None:
    for table, name, members in _per_object(by_id, rows):
        first = members[0]
        kind, unique, primary, constraint, where, disabled = (
            first[2],
            bool(first[3]),
            bool(first[4]),
            bool(first[5]),
            first[6],
            bool(first[7]),
        )
        keys = [m for m in members if m[11] is not None and not m[9] and (m[8] or 0) > 0]
        if kind in (5, 6):
            findings.append(find.columnstore(table.name, name, kind == 5))
            continue
        if kind in (3, 4):
            findings.append(find.special_index(table.name, name, "XML" if kind == 3 else "spatial"))
            continue
        if disabled:
            findings.append(find.disabled("index", table.name, name))
            continue
        columns = [m[11] for m in keys]
        if primary:
            table.primary_key, table.pk_name = columns, name
            for col in table.columns:
                if col.name in columns:
                    col.nullable = False
            continue
        if constraint:
            table.uniques.append(UniqueConstraint(name, columns))
            continue
        filter_sql = None
        if where:
            filter_sql = portable_expression(where)
            if filter_sql is None:
                findings.append(
                    Finding(
                        "warning",
                        "index_untranslated",
                        f"index {name} on {table.name} has a filter ({where}) cutover cannot "
                        "translate safely; it is not created",
                        table=table.name,
                        fix="recreate it by hand in the second Alembic revision",
                        subject=f"index:{name}",
                    )
                )
                continue
        table.indexes.append(
            Index(
                name, [IndexColumn(m[11], descending=bool(m[10])) for m in keys], unique, filter_sql
            )
        )


def _foreign_keys(
    by_id: dict[int, Table], rows: list[Row], schema_name: str, findings: list[Finding]
) -> None:
    for table, name, members in _per_object(by_id, rows):
        _pid, _name, ref_schema, ref_table, on_delete, on_update, disabled, untrusted = members[0][
            :8
        ]
        if disabled:
            findings.append(
                find.disabled(
                    "foreign key", table.name, name, subject="fk:" + ",".join(m[8] for m in members)
                )
            )
            continue
        if untrusted:
            findings.append(find.untrusted("foreign key", table.name, name))
        ref = ref_table if ref_schema == schema_name else f"{ref_schema}.{ref_table}"
        table.foreign_keys.append(
            ForeignKey(
                name,
                [m[8] for m in members],
                ref,
                [m[9] for m in members],
                _ACTIONS.get(on_delete or "NO_ACTION"),
                _ACTIONS.get(on_update or "NO_ACTION"),
            )
        )


def _checks(
    by_id: dict[int, Table], infos: dict[str, TableInfo], rows: list[Row], findings: list[Finding]
) -> None:
    for parent_id, name, definition, disabled, untrusted in rows:
        table = by_id.get(int(parent_id))
        if table is None:
            continue
        if disabled:
            findings.append(find.disabled("check", table.name, name, subject=f"check:{name}"))
            continue
        texts = {
            c
            for c, ct in infos[table.name].types.items()
            if ct.name in CHARS | NCHARS or ct.name in AS_TEXT
        }
        portable = portable_expression(definition)
        if portable is None or text_concatenation(portable, texts):
            findings.append(
                Finding(
                    "warning",
                    "check_untranslated",
                    f"CHECK {definition} on {table.name} uses T-SQL cutover cannot translate "
                    "safely; it is not created",
                    table=table.name,
                    fix="add it by hand in the second Alembic revision",
                    subject=f"check:{name}",
                )
            )
            continue
        if untrusted:
            findings.append(find.untrusted("check", table.name, name))
        table.checks.append(CheckConstraint(name, portable))


def _objects(schema: Schema, rows: list[Row]) -> None:
    kinds: dict[str, list[str]] = {}
    for kind, name, definition in rows:
        if kind == "V":
            schema.views.append(View(name, definition))
            schema.findings.append(
                Finding(
                    "warning",
                    "view",
                    f"view {name} is not carried",
                    table=name,
                    fix="recreate it in a follow-up Alembic revision (T-SQL → Postgres SQL)",
                )
            )
        else:
            kinds.setdefault(kind, []).append(name)
    if kinds:
        schema.findings.append(find.modules(kinds))


def choose_key(
    table: Table, types: dict[str, ColumnType], database_code_page: int | None
) -> list[str]:
    """The columns rows are paged by: the primary key,
    else a unique key of NOT NULL columns; [] for none.

    A key qualifies only when every column can be compared as a parameter exactly (see key_part).
    """
    nullable = {c.name for c in table.columns if c.nullable}
    candidates = (
        [table.primary_key]
        + [u.columns for u in table.uniques]
        + [
            i.column_names
            for i in table.indexes
            if i.unique and not i.where and not i.has_expressions
        ]
    )
    for cols in candidates:
        if (
            cols
            and not (set(cols) & nullable)
            and all(key_part(types[c], "[k]", "?", database_code_page) is not None for c in cols)
        ):
            return list(cols)
    return []
