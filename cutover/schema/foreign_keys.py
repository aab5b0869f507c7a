"""Foreign keys between target tables: which are carried, how their column types are matched, and
the findings for those that are not (a parent not in the load, not unique, of another type)."""

from __future__ import annotations

from cutover.config import ColumnOverride, Settings
from cutover.schema.model import ColumnProfile, Finding
from cutover.schema.naming import Namer, shorten
from cutover.schema.target_plan import ForeignKeyPlan, TablePlan
from cutover.schema.typemap import plan_column


def foreign_keys(
    tp: TablePlan,
    by_source: dict[str, TablePlan],
    relations: Namer,
    findings: list[Finding],
    settings: Settings,
) -> None:
    """Carry each foreign key of `tp` whose parent is in the load, or say why not."""
    t = tp.source
    cols = {c.source: c for c in tp.columns}
    for fk in t.foreign_keys:
        parent = by_source.get(fk.ref_table) or next(
            (p for p in by_source.values() if p.source.name.lower() == fk.ref_table.lower()), None
        )
        if parent is None:
            findings.append(
                Finding(
                    "warning",
                    "fk_dangling",
                    f"{t.name}: foreign key to {fk.ref_table}, which does not exist; not created",
                    table=t.name,
                    subject=fk_subject(fk.columns),
                )
            )
            continue
        try:
            ref_cols = [parent.column(c).name for c in fk.ref_columns]
            fk_cols = [cols[c].name for c in fk.columns]
        except KeyError:
            findings.append(
                Finding(
                    "warning",
                    "fk_dangling",
                    f"{t.name}: foreign key to {fk.ref_table}({', '.join(fk.ref_columns)}) "
                    "names missing columns; not created",
                    table=t.name,
                    subject=fk_subject(fk.columns),
                )
            )
            continue
        if sorted(ref_cols) not in [sorted(k) for k in parent.unique_keys]:
            findings.append(
                Finding(
                    "warning",
                    "fk_not_unique",
                    f"{t.name}: foreign key to {parent.name}({', '.join(ref_cols)}), which is "
                    "not a primary key or unique; Postgres cannot enforce it, not created",
                    table=t.name,
                    fix="add a unique constraint on the referenced columns",
                    subject=fk_subject(fk.columns),
                )
            )
            continue
        mismatch = _match_key_types(tp, fk_cols, parent, ref_cols, settings)
        if mismatch:
            findings.append(
                Finding(
                    "warning",
                    "fk_type_mismatch",
                    f"{t.name}: foreign key to {parent.name} not created: {mismatch}",
                    table=t.name,
                    fix="override both columns to the same type",
                    subject=fk_subject(fk.columns),
                )
            )
            continue
        name = relations.name(
            fk.name or shorten(f"{tp.name}_{'_'.join(fk_cols)}_fkey"), "constraint", convert=False
        )
        tp.foreign_keys.append(
            ForeignKeyPlan(
                name,
                fk_cols,
                parent.name,
                ref_cols,
                fk.on_delete,
                fk.on_update,
                fk.deferrable,
                fk.initially_deferred,
            )
        )


def fk_subject(columns: list[str]) -> str:
    """How a foreign key is named in findings and the manifest: by its source columns."""
    return "fk:" + ",".join(columns)


def _match_key_types(
    child: TablePlan,
    columns: list[str],
    parent: TablePlan,
    ref_columns: list[str],
    settings: Settings,
) -> str | None:
    """Give foreign key columns their referenced column's type; returns why not, when it cannot."""
    widths = {"smallint": 0, "integer": 1, "bigint": 2}
    by_name = {c.name: c for c in child.columns}
    parent_cols = {c.name: c for c in parent.columns}
    for col_name, ref_name in zip(columns, ref_columns):
        col, ref = by_name[col_name], parent_cols[ref_name]
        if col.pg_type == ref.pg_type or (
            col.base_type in widths
            and ref.base_type in widths
            and widths[col.base_type] >= widths[ref.base_type]
        ):
            continue
        if col.reason == "override":
            if col.family != ref.family:
                return (
                    f"{child.name}.{col.name} is {col.pg_type} (override) but "
                    f"{parent.name}.{ref.name} is {ref.pg_type}"
                )
            continue
        index = child.columns.index(col)
        new, _ = plan_column(
            child.source,
            child.source.column(col.source),
            child.profile.get(col.source, ColumnProfile()),
            settings,
            ColumnOverride(type=ref.pg_type),
            col.name,
        )
        new.reason, new.why = (
            col.reason,
            f"{col.why}; {ref.pg_type} like the key it references ({parent.name}.{ref.name})",
        )
        new.nullable, new.default = col.nullable, col.default
        child.columns[index] = new
    return None
