"""What the rewrite passes share while they fit one statement to the planned schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from cutover.appcode.model import TargetColumn, TargetSchema, TargetTable


@dataclass
class Context:
    """What the passes share: the planned schema, the statement's tables, the changes so far."""

    schema: TargetSchema | None
    dialect: str
    tables: dict[str, tuple[str, TargetTable | None]] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def note(self, change: str) -> None:
        """Record a change once."""
        if change not in self.changes:
            self.changes.append(change)

    def resolve(self, column: exp.Column) -> tuple[TargetTable, str, TargetColumn] | None:
        """(planned table, source column spelling, planned column) of a column reference."""
        qualifier = column.table
        if qualifier:
            candidates = (
                [self.tables[qualifier.casefold()]] if qualifier.casefold() in self.tables else []
            )
        else:
            candidates = list({id(t): (n, t) for n, t in self.tables.values()}.values())
        hits = []
        for _, table in candidates:
            if table is None:
                continue
            target = table.column(column.name)
            if target is not None:
                hits.append((table, table.source_name(column.name) or column.name, target))
        return hits[0] if len(hits) == 1 else None

    def lookup(self, column: exp.Column) -> TargetColumn | None:
        """The planned column of a column reference, or None."""
        hit = self.resolve(column)
        return hit[2] if hit else None

    def family(self, node: exp.Expr) -> str | None:
        """The planned type family of a column reference, or None for anything else."""
        col = self.lookup(node) if isinstance(node, exp.Column) else None
        return col.family if col else None
