"""What `cutover plan` finds, as plain data: the
source, the target, the tables, the env, the code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cutover.appcode import CodeItem
from cutover.phases.plan_estimate import Estimate, TableRow
from cutover.schema.model import SEVERITIES, Finding

# of plan --format json (schemas/plan.schema.json); bumped when a field is removed or changes
# meaning
PLAN_FORMAT_VERSION = 1


@dataclass
class SourceCheck:
    """The source database: kind, version, size, and whether it could be read."""

    url: str
    kind: str
    readable: bool = False
    version: str | None = None
    size_bytes: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class TargetCheck:
    """The target server: reachable, version, privileges, pgvector, tables already there."""

    url: str
    reachable: bool = False
    error: str | None = None
    version: str | None = None
    database: str | None = None
    database_exists: bool = True
    user: str | None = None
    can_create: bool | None = None
    vector_available: str | None = None
    vector_installed: str | None = None
    vector_needed: bool = False
    vector_hint: str | None = None
    existing_tables: list[str] = field(default_factory=list)


@dataclass
class DatabasePlan:
    """Everything the plan found for one database."""

    name: str
    env_key: str
    mode: str
    target_schema: str
    source: SourceCheck
    target: TargetCheck
    tables: list[TableRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    estimate: Estimate | None = None


@dataclass
class EnvChange:
    """One env value phase 1 would rewrite (both sides redacted)."""

    path: str
    kind: str
    line: int
    key: str | None
    database: str
    before: str
    after: str


@dataclass
class EnvPlan:
    """The env files, compose files and scripts, and the rewrite each would get."""

    root: str
    files: int = 0
    changes: list[EnvChange] = field(default_factory=list)
    code_leftovers: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The assessment of a whole cutover."""

    generated_at: str
    config: str
    databases: list[DatabasePlan]
    env: EnvPlan
    code: list[CodeItem] = field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return [f for db in self.databases for f in db.findings] + self.env.findings

    @property
    def counts(self) -> dict[str, int]:
        found = self.all_findings()
        return {s: sum(f.severity == s for f in found) for s in SEVERITIES}

    @property
    def ok(self) -> bool:
        """No blocker."""
        return self.counts["blocker"] == 0

    @property
    def next_step(self) -> str:
        if not self.ok:
            return "fix the blockers above, then run `cutover plan` again"
        return (
            "`cutover run --phase 1` rewrites the env files to PostgreSQL (it shows the diff "
            "and asks first)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (schemas/plan.schema.json)."""
        data = {"version": PLAN_FORMAT_VERSION, **asdict(self)}
        for db, raw in zip(self.databases, data["databases"]):
            if db.estimate is not None:
                raw["estimate"]["total_seconds"] = round(db.estimate.total_seconds, 3)
        data.update(ok=self.ok, summary=self.counts, next=self.next_step)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
