"""Views and triggers on Postgres: translated for revision 3, and their findings in the plan.

Phase 2 passes `objects_hook(config)` to the load, which calls it with the planned schema; the
plan calls `fit_objects` for the same findings. A view or trigger that translates is created by
revision 3 and leaves no finding; one that does not is a `view_untranslated` /
`trigger_untranslated` warning carrying its SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cutover import urls
from cutover.appcode import Proof, prove
from cutover.appcode.views import ObjectDDL, quote, translate_triggers, translate_views
from cutover.config import Config, DatabaseConfig
from cutover.errors import CutoverError
from cutover.load.run import ObjectsHook
from cutover.phases.app_code import has_views, proving_sides, target_schema
from cutover.proof.results import VerifyResult, ViewParity
from cutover.schema.migrations import Objects, ObjectSQL
from cutover.schema.model import Finding
from cutover.schema.target_plan import SchemaPlan
from cutover.sources import open_source

REPLACED = ("view", "trigger")  # the sources' "not carried" findings, replaced here
SQL_SHOWN_CHARS = 2000  # of a view's or trigger's SQL in its finding (the source has the rest)


def translate_objects(plan: SchemaPlan, dialect: str) -> list[ObjectDDL]:
    """Every view (in dependency order) and trigger of the plan, translated or with the reason."""
    schema = target_schema(plan)
    views = translate_views(plan.views, schema, dialect, plan.target_schema)
    if dialect == "sqlite":
        triggers = translate_triggers(plan.triggers, schema, plan.target_schema)
    else:
        triggers = [
            ObjectDDL("trigger", t.name, t.table, t.sql or "", reason="a T-SQL trigger body")
            for t in plan.triggers
        ]
    return views + triggers


def fit_objects(plan: SchemaPlan, dialect: str) -> Objects:
    """The DDL of revision 3; the plan's view and trigger
    findings become those of what does not translate.
    """
    found = translate_objects(plan, dialect)
    plan.findings = [f for f in plan.findings if f.code not in REPLACED]
    objects = Objects()
    for obj in found:
        if obj.ok:
            objects.items.append(
                ObjectSQL(obj.kind, obj.name, obj.creates, obj.drops, obj.source_sql)
            )
        else:
            plan.findings.append(untranslated(obj))
    return objects


def untranslated(obj: ObjectDDL) -> Finding:
    """`view_untranslated` / `trigger_untranslated`: the reason, and the SQL to rewrite by hand."""
    where = f" on {obj.table}" if obj.table else ""
    return Finding(
        "warning",
        f"{obj.kind}_untranslated",
        f"{obj.kind} {obj.name}{where} is not created: {obj.reason}. Its SQL: "
        + " ".join(obj.source_sql.split())[:SQL_SHOWN_CHARS],
        table=obj.table or obj.name,
        fix="write it for Postgres in a revision after <db>_0003_views (`alembic revision`)",
        subject=f"{obj.kind}:{obj.name}",
    )


def dialect_of(source_url: str) -> str:
    """sqlite or tsql: the SQL dialect of a source URL."""
    try:
        return "tsql" if urls.parse(source_url).kind == "mssql" else "sqlite"
    except CutoverError:
        return "sqlite"


def objects_hook(config: Config) -> ObjectsHook:
    """The load's hook: the planned schema of a database → revision 3's views and triggers."""
    dialects = {db.name: dialect_of(db.source) for db in config.databases}

    def build(plan: SchemaPlan) -> Objects:
        return fit_objects(plan, dialects.get(plan.database, "sqlite"))

    return build


@dataclass
class ViewProof:
    """A view's rows on the source against the view revision 3 created on the target."""

    database: str
    name: str
    proof: Proof

    def to_dict(self) -> dict[str, Any]:
        """database, view, and the proof (status, reason, first differing rows)."""
        return {"database": self.database, "view": self.name, "proof": self.proof.to_dict()}

    def line(self) -> str:
        """`view NAME: rows N = N`, or what differs."""
        if self.proof.status == "same":
            return f"view {self.name}: rows {self.proof.rows:,} = {self.proof.rows:,}"
        return f"view {self.name}: {self.proof.status} — {self.proof.reason}"


def with_views(config: Config, database: str | None = None) -> list[str]:
    """The selected databases whose SQLite source holds a view (a cheap catalog read)."""
    return [db.name for db in config.database(database) if has_views(config, db)]


def source_views(config: Config, db: DatabaseConfig) -> list[str]:
    """The names of the source's views, from its catalog (no profile, no plan)."""
    source = open_source(db.source, config.base_dir)
    try:
        return [v.name for v in source.reflect().views]
    finally:
        source.close()


def prove_views(config: Config, databases: Iterable[str]) -> list[ViewProof]:
    """Compare the rows of every source view phase 2 created on the target, as a multiset, as
    verify does a table's.

    A view keeps its name on Postgres; one that did not translate, or that Postgres refused in
    phase 2, is not there (its `view_untranslated` finding says why) and is not compared.
    """
    out: list[ViewProof] = []
    for name in databases:
        db = config.database(name)[0]
        views = source_views(config, db)
        if not views:
            continue
        with proving_sides(config, db) as (source, target):
            present = {
                r[0]
                for r in target.execute(
                    "SELECT viewname FROM pg_views WHERE schemaname = %s", (db.target_schema,)
                )
            }
            target.commit()
            for view in views:
                if view not in present:
                    continue
                query = f"SELECT * FROM {quote(view)}"
                proof = (
                    prove(source, target, query, query)
                    if source is not None
                    else Proof("manual", "a SQL Server view is compared by hand")
                )
                out.append(ViewProof(name, view, proof))
    return out


def excuse_rejects(views: list[ViewProof], rejected: dict[str, list[str]]) -> None:
    """A view that differs where the load rejected rows is for a person to judge.

    The source side still holds the rejected rows: its status becomes `manual`, with both reasons.
    """
    for view in views:
        tables = rejected.get(view.database) or []
        if view.proof.status == "different" and tables:
            view.proof.status = "manual"
            view.proof.reason = (
                f"{view.proof.reason}; the load rejected rows of {', '.join(tables)}, "
                "which the source side still holds: compare by hand"
            )


def attach_views(result: VerifyResult, views: list[ViewProof]) -> None:
    """Each database's view comparisons into verify's result (its ok, JSON, JUnit and report)."""
    for dbp in result.databases:
        dbp.views = [
            ViewParity(
                v.name,
                v.proof.status,
                v.proof.rows,
                v.proof.reason,
                v.proof.to_dict()["source_row"],
                v.proof.to_dict()["target_row"],
            )
            for v in views
            if v.database == dbp.database
        ]
