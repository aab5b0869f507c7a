"""What verify found: per table counts, digests and differing rows; per database schema issues.

Plain data with its renderings (one line per table, details per row, JSON and JUnit for CI).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from cutover.proof.schema_parity import SchemaIssue


@dataclass
class Difference:
    """One row that differs: missing on the target,
    extra there, duplicated, or changed in a column.
    """

    kind: str
    key: dict[str, Any]
    column: str | None = None
    source: str | None = None
    target: str | None = None


@dataclass
class PolicyChange:
    """Values the load changed on purpose, under a
    policy the user chose (rounding, UTF-8 repair).
    """

    column: str
    policy: str
    values: int


@dataclass
class TableParity:
    """Counts and digests of one table on both sides."""

    table: str
    target: str
    source_rows: int = 0
    rejected: int = 0
    target_rows: int = 0
    digests_from: str = "load"
    differing_buckets: list[str] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    seconds: float = 0.0
    note: str | None = None
    changed: list[PolicyChange] = field(default_factory=list)

    @property
    def expected_rows(self) -> int:
        return self.source_rows - self.rejected

    @property
    def ok(self) -> bool:
        return self.target_rows == self.expected_rows and not self.differing_buckets


@dataclass
class Accepted:
    """A difference the load recorded on purpose, with its reason."""

    table: str | None
    subject: str | None
    reason: str


@dataclass
class ViewParity:
    """A view's rows on both sides as a multiset, compared by the caller that can run SQL on both
    (`cutover.phases` hands them in: the app-code comparison, canonical values by target type)."""

    view: str
    status: str  # same | different | failed | manual (left to a person, with the reason)
    rows: int = 0
    reason: str = ""
    source_row: list[Any] | None = None
    target_row: list[Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("same", "manual")


@dataclass
class DatabaseParity:
    """Everything verify found for one database."""

    database: str
    target: str
    stale_source: bool
    compared_with: str = "the source, read now"
    tables: list[TableParity] = field(default_factory=list)
    schema_issues: list[SchemaIssue] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    views: list[ViewParity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.schema_issues
            and all(t.ok for t in self.tables)
            and all(v.ok for v in self.views)
        )


@dataclass
class VerifyResult:
    """Parity of every selected database."""

    databases: list[DatabaseParity]

    @property
    def ok(self) -> bool:
        return all(d.ok for d in self.databases)

    def to_json(self) -> str:
        """Machine-readable form for CI."""
        data = {
            "ok": self.ok,
            "databases": [
                {
                    **asdict(d),
                    "ok": d.ok,
                    "tables": [
                        {**asdict(t), "ok": t.ok, "expected_rows": t.expected_rows}
                        for t in d.tables
                    ],
                }
                for d in self.databases
            ],
        }
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)

    def to_junit(self) -> str:
        """JUnit XML: a suite per database, a case per table plus one for the schema."""
        suites = ET.Element("testsuites", name="cutover parity")
        for db in self.databases:
            suite = ET.SubElement(
                suites,
                "testsuite",
                name=f"parity.{db.database}",
                tests=str(len(db.tables) + len(db.views) + 1),
                failures=str(
                    sum(not t.ok for t in db.tables)
                    + sum(not v.ok for v in db.views)
                    + bool(db.schema_issues)
                ),
            )
            case = ET.SubElement(
                suite, "testcase", classname=f"parity.{db.database}", name="schema"
            )
            if db.schema_issues:
                ET.SubElement(
                    case, "failure", message=f"{len(db.schema_issues)} schema differences"
                ).text = "\n".join(f"{i.table}: {i.subject}: {i.problem}" for i in db.schema_issues)
            for t in db.tables:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=f"parity.{db.database}",
                    name=t.table,
                    time=f"{t.seconds:.3f}",
                )
                if not t.ok:
                    ET.SubElement(case, "failure", message=table_summary(t)).text = table_details(t)
            for v in db.views:
                case = ET.SubElement(
                    suite, "testcase", classname=f"parity.{db.database}", name=f"view {v.view}"
                )
                if not v.ok:
                    ET.SubElement(
                        case, "failure", message=f"{v.status}: {v.reason}"
                    ).text = f"source: {v.source_row}\ntarget: {v.target_row}"
        return ET.tostring(suites, encoding="unicode")


def table_summary(t: TableParity) -> str:
    """One line: counts, and what differs."""
    under = "; ".join(f"{c.values:,} value(s) of {c.column} under {c.policy}" for c in t.changed)
    if t.ok:
        return f"{t.table}: {t.target_rows:,} rows match" + (
            f", equal under {under}" if under else ""
        )
    parts = [
        f"{t.table}: source {t.source_rows:,} − rejected {t.rejected:,} = {t.expected_rows:,}, "
        f"target {t.target_rows:,}"
    ]
    if t.differing_buckets:
        parts.append(
            f"{len(t.differing_buckets)} differing range(s): {', '.join(t.differing_buckets[:3])}"
        )
    return "; ".join(parts)


def table_details(t: TableParity) -> str:
    """The differing rows, one per line."""
    lines = [table_summary(t)]
    if t.note:
        lines.append(t.note)
    for d in t.differences:
        key = json.dumps(d.key, ensure_ascii=False, default=str)
        if d.kind == "changed":
            lines.append(
                f"  changed {key} column {d.column}: source {d.source} ≠ target {d.target}"
            )
        else:
            lines.append(
                f"  {d.kind} {key}"
                + (f": {d.source or d.target}" if (d.source or d.target) else "")
            )
    return "\n".join(lines)
