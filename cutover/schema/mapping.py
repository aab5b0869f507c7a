"""From a reflected source to a target plan: every
table, column, key and index with its Postgres form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg import sql

from cutover.config import ColumnOverride, DatabaseConfig, Settings
from cutover.errors import SchemaMismatchError
from cutover.schema import sqltext
from cutover.schema.foreign_keys import foreign_keys
from cutover.schema.generated import plan_generated
from cutover.schema.model import ColumnProfile, Finding, Schema, Table
from cutover.schema.naming import PG_SYSTEM_COLUMNS, Namer, shorten, snake_case
from cutover.schema.search import search_indexes
from cutover.schema.target_plan import (
    Catalog,
    CheckPlan,
    IndexPlan,
    SchemaPlan,
    TablePlan,
    UniquePlan,
)
from cutover.schema.typemap import ColumnPlan, plan_column, wanted_stats
from cutover.sources.base import Source

DATE_SAMPLE_ROWS = (
    200  # ISO shape is checked on every row; the sample only confirms the values parse
)
VECTOR_SAMPLE_ROWS = (
    100  # lengths are checked on every row; the sample checks the numbers are finite
)


def map_schema(
    source: Source,
    db: DatabaseConfig,
    settings: Settings,
    catalog: Catalog | None = None,
    *,
    load: bool = False,
) -> SchemaPlan:
    """Reflect, profile and map every source table; with a catalog, fit an existing target schema.

    load: the plan is for a load, which checks text for
    NULs itself (a plan for `cutover plan` counts them).
    """
    schema = source.reflect()
    tables = [t for t in schema.tables if db.tables is None or t.name in db.tables]
    mode = "existing" if catalog is not None else "create"
    plan = SchemaPlan(
        db.name,
        db.target_schema,
        mode,
        [],
        list(schema.findings),
        views=schema.views,
        triggers=schema.triggers,
    )
    relations = Namer(db.snake_case)
    floors: dict[str, int] = getattr(source, "sequence_values", lambda: {})()
    for table in tables:
        if catalog is not None:
            target_name = _match_name(table.name, catalog, db.snake_case)
            if target_name is None:
                raise SchemaMismatchError(
                    f"table {table.name} has no counterpart in the existing target schema "
                    f"{db.target_schema}",
                    table=table.name,
                    hint="create it with the app's migrations first, or list the tables to move "
                    "in cutover.toml (tables = [...])",
                )
            relations.taken.add(target_name)
        else:
            target_name = relations.name(table.name, "table")
        plan.tables.append(
            _map_table(
                source, table, target_name, db, settings, plan.findings, floors, catalog, load
            )
        )
    if catalog is None:
        by_source = {t.source.name: t for t in plan.tables}
        for tp in plan.tables:
            _keys_and_indexes(tp, relations, plan.findings)
            plan_generated(tp.source.name, tp.columns, _generated_of(tp.source), plan.findings)
            _vector_indexes(tp, db, settings, relations)
        for tp in plan.tables:
            foreign_keys(tp, by_source, relations, plan.findings, settings)
    plan.renames = relations.changes + [r for t in plan.tables for r in t.renames]
    _case_collisions(plan)
    _framework_hints(plan, schema, settings)
    return plan


def _framework_hints(plan: SchemaPlan, schema: Schema, settings: Settings) -> None:
    """Advice that depends on the framework that made the database."""
    names = {t.name for t in schema.tables}
    if "django_migrations" in names and settings.timestamps == "keep" and plan.mode == "create":
        plan.findings.append(
            Finding(
                "warning",
                "django_timezones",
                "this is a Django database: with USE_TZ = True (Django's default) Django "
                "expects timestamptz on Postgres, and naive timestamp columns make aware/naive "
                "arithmetic fail",
                fix='timestamps = "timestamptz" in [settings] (the values are UTC, as Django '
                "wrote them)",
            )
        )


def _match_name(name: str, names: dict[str, Any] | set[str], snake: bool) -> str | None:
    if name in names:
        return name
    for candidate in (name.lower(), snake_case(name)):
        if candidate in names:
            return candidate
    folded = {n.lower(): n for n in names}
    return folded.get(name.lower())


def _map_table(
    source: Source,
    table: Table,
    target_name: str,
    db: DatabaseConfig,
    settings: Settings,
    findings: list[Finding],
    floors: dict[str, int],
    catalog: Catalog | None,
    load: bool = False,
) -> TablePlan:
    existing = catalog[target_name] if catalog is not None else None
    overrides: dict[str, ColumnOverride | None] = {}
    for col in table.columns:
        ov = db.override(table.name, col.name)
        if existing is not None:
            tcol = _match_name(ov.rename if ov and ov.rename else col.name, existing, db.snake_case)
            if tcol is not None:
                ov = ColumnOverride(type=existing[tcol].pg_type, rename=tcol)
        overrides[col.name] = ov
    # the rowid alias is an integer by SQLite's own rule: nothing to learn by scanning it
    wanted = {
        c.name: (
            set()
            if c.name == table.rowid_alias
            else wanted_stats(c, settings, overrides[c.name], nul_in_load=load)
        )
        for c in table.columns
    }
    profile = source.profile(table, wanted)
    columns: list[ColumnPlan] = []
    namer = Namer(db.snake_case, reserved=PG_SYSTEM_COLUMNS)
    missing: list[str] = []
    # a source whose defaults are not SQLite's (SQL Server's getdate(), newid()) translates its own
    translate_default = getattr(source, "translate_default", sqltext.translate_default)
    for col in table.columns:
        ov = overrides[col.name]
        if existing is not None:
            if ov is None or ov.rename is None:
                missing.append(col.name)
                continue
            name = ov.rename
        else:
            name = namer.name(
                ov.rename if ov and ov.rename else col.name,
                "column",
                convert=not (ov and ov.rename),
            )
        cprof = profile.columns.get(col.name, ColumnProfile())
        samples = None
        dates = cprof.texts and cprof.iso_dates == cprof.texts
        arrays = cprof.texts and cprof.json_arrays == cprof.texts
        packed = cprof.blobs and cprof.blobs == cprof.non_null
        if dates or arrays or packed:
            samples = source.sample(
                table,
                col.name,
                min(
                    settings.sample_rows,
                    VECTOR_SAMPLE_ROWS if (arrays or packed) else DATE_SAMPLE_ROWS,
                ),
            )
        cplan, cfind = plan_column(table, col, cprof, settings, ov, name, samples)
        if existing is not None:
            found = existing[name]
            cplan.reason, cplan.why = "catalog", f"existing target column {name} {found.pg_type}"
            cplan.nullable, cplan.identity = found.nullable, found.identity
        elif col.default is not None and not cplan.identity:
            translated = translate_default(col.default, cplan.pg_type)
            cplan.default = translated.sql
            if translated.reason:
                findings.append(
                    Finding(
                        "warning",
                        "default_untranslated",
                        f"{table.name}.{col.name}: {translated.reason}; the column gets no default",
                        table=table.name,
                        column=col.name,
                        fix="add the default in the schema revision by hand if the app relies "
                        "on it",
                    )
                )
        findings.extend(cfind)
        columns.append(cplan)
    if missing:
        raise SchemaMismatchError(
            f"source columns without a target column in {target_name}: {', '.join(missing)}",
            table=table.name,
            column=missing[0],
            hint='add them with a migration, or map them with columns."table.col" = { rename = '
            '"target_col" } in cutover.toml',
        )
    if existing is not None:
        carried = {c.name for c in columns}
        required = [
            n
            for n, c in existing.items()
            if n not in carried and not c.nullable and not c.has_default and not c.identity
        ]
        if required:
            raise SchemaMismatchError(
                f"target columns {', '.join(required)} of {target_name} are NOT NULL without a "
                "default and have no source column",
                table=table.name,
                column=required[0],
            )
    tp = TablePlan(table, target_name, columns, rows=profile.rows, profile=profile.columns)
    tp.renames = [(k, f"{table.name}.{s}", f"{target_name}.{t}") for k, s, t in namer.changes]
    tp.primary_key = [
        tp.column(c).name for c in table.primary_key if any(cp.source == c for cp in columns)
    ]
    if not table.primary_key:
        findings.append(
            Finding(
                "warning",
                "no_primary_key",
                f"table {table.name} has no primary key",
                table=table.name,
                fix="add one before the app relies on row identity (rejects and resume use the "
                "rowid meanwhile)",
            )
        )
    if tp.identity_column is not None and table.name in floors:
        tp.sequence_floor = floors[table.name]
    return tp


def _generated_of(table: Table) -> dict[str, str]:
    """SQLite's generated columns and their expressions
    (SQL Server's computed ones are reported).
    """
    return {
        c.name: c.generated_expression or ""
        for c in table.columns
        if c.generated in ("virtual", "stored")
    }


def _keys_and_indexes(tp: TablePlan, relations: Namer, findings: list[Finding]) -> None:
    t = tp.source
    cols = {c.source: c for c in tp.columns}
    if tp.primary_key:
        tp.pk_name = relations.name(t.pk_name or f"{tp.name}_pkey", "constraint", convert=False)
    keys = [tuple(tp.primary_key)]
    nocase = {
        c.name
        for c in t.columns
        if (c.collation or "").upper() == "NOCASE"
        and cols[c.name].base_type not in ("citext",)
        and cols[c.name].family == "text"
    }
    for name in sorted(nocase):
        findings.append(
            Finding(
                "warning",
                "nocase",
                f"{t.name}.{name} is COLLATE NOCASE: SQLite compares it ignoring case, Postgres "
                f"will not (WHERE {name} = 'KIM' stops finding 'kim'); unique keys on it are "
                "kept case-insensitive with lower()",
                table=t.name,
                column=name,
                fix=f'columns."{t.name}.{name}" = "citext" (and CREATE EXTENSION citext) to '
                "keep case-insensitive comparisons",
            )
        )
    for u in t.uniques:
        names = [cols[c].name for c in u.columns]
        label = relations.name(
            u.name or f"{tp.name}_{'_'.join(names)}_key", "constraint", convert=False
        )
        if nocase & set(u.columns):
            # uniqueness ignoring case, as SQLite enforced it: a unique index on lower(col)
            elements = [
                f"lower({sql.Identifier(cols[c].name).as_string()})"
                if c in nocase
                else sql.Identifier(cols[c].name).as_string()
                for c in u.columns
            ]
            tp.indexes.append(
                IndexPlan(label, label, elements, [], True, None, [False] * len(elements))
            )
            continue
        tp.uniques.append(UniquePlan(label, names))
        keys.append(tuple(names))
    booleans = {c.source for c in tp.columns if c.family == "boolean"}

    def rename(name: str) -> str | None:
        col = cols.get(name)
        return sql.Identifier(col.name).as_string() if col else None

    for idx in t.indexes:
        elements, plain, desc = [], [], []
        ok = True
        for el in idx.columns:
            if el.expression is not None:
                translated = sqltext.translate_expression(el.expression, rename, booleans)
                if translated is None:
                    ok = False
                    break
                elements.append(f"({translated})")
            else:
                if el.name not in cols:
                    ok = False
                    break
                quoted = sql.Identifier(cols[el.name].name).as_string()
                if (
                    idx.unique
                    and ((el.collation or "").upper() == "NOCASE" or el.name in nocase)
                    and cols[el.name].family == "text"
                    and cols[el.name].base_type != "citext"
                ):
                    elements.append(f"lower({quoted})" + (" DESC" if el.descending else ""))
                else:
                    elements.append(quoted + (" DESC" if el.descending else ""))
                    plain.append(cols[el.name].name)
            desc.append(el.descending)
        where = None
        if ok and idx.where:
            where = sqltext.translate_expression(idx.where, rename, booleans)
            ok = where is not None
        if not ok:
            findings.append(
                Finding(
                    "warning",
                    "index_untranslated",
                    f"index {idx.name} on {t.name} uses SQL cutover cannot translate safely; it "
                    "is not created",
                    table=t.name,
                    fix="recreate it by hand in the second Alembic revision",
                    subject=f"index:{idx.name}",
                )
            )
            continue
        name = relations.name(idx.name, "index")
        tp.indexes.append(IndexPlan(name, idx.name, elements, plain, idx.unique, where, desc))
        if idx.unique and not where and len(plain) == len(elements):
            keys.append(tuple(plain))
    tp.unique_keys = keys
    indexes, notes = search_indexes(t, tp.name, {c.source: (c.name, c.family) for c in tp.columns})
    findings.extend(notes)
    for si in indexes:
        name = relations.name(si.name, "index", convert=False)
        columns = [si.column] if si.column else []
        tp.indexes.append(
            IndexPlan(name, name, [si.element], columns, False, None, [False], "gin", si.ops)
        )
    for check in t.checks:
        _check(tp, check.name, check.expression, rename, booleans, relations, findings)


def _check(
    tp: TablePlan,
    name: str | None,
    expression: str,
    rename: Callable[[str], str | None],
    booleans: set[str],
    relations: Namer,
    findings: list[Finding],
) -> None:
    """Carry one CHECK constraint, or say why not."""
    tokens = sqltext.tokenize(expression)
    words = [t.upper if t.kind == "word" else t.text for t in tokens]
    if (
        len(tokens) == 7
        and tokens[0].ident in booleans
        and words[1:3] == ["IN", "("]
        and sorted(words[3:6:2]) == ["0", "1"]
    ):
        # "flag IN (0, 1)": what SQLAlchemy's Boolean adds on SQLite; the boolean type says it
        # already
        return
    translated = sqltext.translate_expression(expression, rename, booleans)
    subject = f"check:{name or expression}"
    if translated is None:
        findings.append(
            Finding(
                "warning",
                "check_untranslated",
                f"CHECK ({expression}) on {tp.source.name} uses SQL cutover cannot translate "
                "safely; it is not created",
                table=tp.source.name,
                fix="add it by hand in the second Alembic revision",
                subject=subject,
            )
        )
        return
    columns = {t.ident for t in tokens if t.ident and rename(t.ident)}
    default = f"{tp.name}_{next(iter(columns))}_check" if len(columns) == 1 else f"{tp.name}_check"
    tp.checks.append(
        CheckPlan(
            relations.name(name or shorten(default), "constraint", convert=False),
            translated,
            expression,
        )
    )


def _vector_indexes(
    tp: TablePlan, db: DatabaseConfig, settings: Settings, relations: Namer
) -> None:
    """An HNSW (or IVFFlat) index per vector column, with the opclass of its distance."""
    from cutover.schema import vectors

    for col in tp.columns:
        if col.family != "vector" or not col.options.get("dims"):
            continue
        override = db.override(tp.source.name, col.source)
        method = (override.index if override and override.index else None) or settings.vector_index
        distance = (
            override.distance if override and override.distance else None
        ) or settings.vector_distance
        if method == "none" or col.options["dims"] > vectors.MAX_INDEX_DIMS.get(
            col.base_type, 2000
        ):
            continue
        name = relations.name(shorten(f"{tp.name}_{col.name}_{method}_idx"), "index", convert=False)
        options = {"lists": vectors.ivfflat_lists(tp.rows)} if method == "ivfflat" else {}
        tp.indexes.append(
            IndexPlan(
                name,
                name,
                [sql.Identifier(col.name).as_string()],
                [col.name],
                False,
                None,
                [False],
                method,
                vectors.opclass(col.pg_type, distance),
                options,
            )
        )


def _case_collisions(plan: SchemaPlan) -> None:
    seen: dict[str, str] = {}
    for tp in plan.tables:
        key = tp.name.lower()
        if key in seen and seen[key] != tp.name:
            plan.findings.append(
                Finding(
                    "warning",
                    "case_collision",
                    f"tables {seen[key]} and {tp.name} differ only in case; in Postgres they "
                    "stay apart only while quoted",
                    table=tp.name,
                    fix="rename one, or keep quoting both in the app's SQL",
                )
            )
        seen[key] = tp.name
    for kind, old, new in plan.renames:
        if len(old.split(".")[-1].encode()) > 63:
            plan.findings.append(
                Finding(
                    "info",
                    "long_identifier",
                    f"{kind} {old} is longer than 63 bytes; named {new}",
                    fix="rename it at the source, or accept the shortened name",
                )
            )


def tables_in_load_order(plan: SchemaPlan) -> list[TablePlan]:
    """Parents before children (cycles broken by the
    original order); FKs come after the load anyway.
    """
    ordered: list[TablePlan] = []
    done: set[str] = set()
    by_name = {t.name: t for t in plan.tables}

    def visit(tp: TablePlan, stack: set[str]) -> None:
        if tp.name in done or tp.name in stack:
            return
        stack.add(tp.name)
        for fk in tp.foreign_keys:
            parent = by_name.get(fk.ref_table)
            if parent is not None and parent is not tp:
                visit(parent, stack)
        done.add(tp.name)
        ordered.append(tp)

    for tp in plan.tables:
        visit(tp, set())
    return ordered


Renamer = Callable[[str], str | None]
