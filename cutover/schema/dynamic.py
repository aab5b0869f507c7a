"""SQLite's dynamic typing: the type the app reads back outranks the declared one.

SQLite keeps whatever the app stored, whatever the column says, and gives it back as stored. When
a column's values contradict its declared type (text in an INTEGER column, integers in a BLOB
column), the target type is one that holds every value as the app reads it, and the finding gives
the override that enforces the declared type instead (rejecting what does not fit).
"""

from __future__ import annotations

from dataclasses import dataclass

from cutover.schema.model import Column, ColumnProfile, Finding, Table


@dataclass(frozen=True)
class Lossless:
    """The type that holds every value of a column whose values contradict its declaration."""

    pg_type: str
    family: str
    why: str


def _classes(p: ColumnProfile, *, integral_reals_are_integers: bool) -> dict[str, int]:
    """Non-null values per storage class (integral reals counted as integers where they convert)."""
    whole = p.integral_reals if integral_reals_are_integers else 0
    counts = {
        "integer": p.integers + whole,
        "real": p.reals - whole,
        "text": p.texts,
        "blob": p.blobs,
    }
    return {k: v for k, v in counts.items() if v}


def _describe(classes: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {k}" for k, n in classes.items())


# The storage classes each declared family holds as the app reads them. Text holds numbers as
# text (SQLite's TEXT affinity stores them so); dates, booleans and JSON have findings of their own.
FITS = {
    "integer": {"integer"},
    "float": {"integer", "real"},
    "decimal": {"integer", "real"},
    "bytes": {"blob"},
}


# Families whose coercion goes through Python's datetime, which has no year 0 (1 BC).
DATED = {"timestamp", "date"}


def foreign_values(family: str, p: ColumnProfile) -> int:
    """How many values the declared `family` cannot hold as stored."""
    if family in DATED:
        return p.year_zero
    fits = FITS.get(family)
    if fits is None:
        return 0
    classes = _classes(p, integral_reals_are_integers=family == "integer")
    return sum(n for k, n in classes.items() if k not in fits)


def lossless_type(family: str, p: ColumnProfile) -> Lossless | None:
    """The type that holds every value as stored, when the declared `family` cannot; else None."""
    classes = _classes(p, integral_reals_are_integers=family == "integer")
    kinds = set(classes)
    if family in DATED and p.year_zero and "blob" not in kinds:
        return Lossless(
            "text",
            "text",
            f"{p.year_zero:,} value(s) dated in year 0 ('0000-…', 1 BC), which the {family} "
            "coercion cannot carry exactly → text, as the app reads them",
        )
    fits = FITS.get(family)
    if not kinds or fits is None:
        return None
    if kinds <= fits or "blob" in kinds:
        return None  # fits, or blobs mixed with other classes: no type holds both as read
    if family == "bytes" and "text" in kinds:
        return None  # bytea keeps text's exact bytes (text would lose any that are not UTF-8)
    found = _describe(classes)
    if kinds == {"integer"}:
        return Lossless("bigint", "integer", f"every value is an integer ({found}) → bigint")
    if kinds <= {"integer", "real"}:
        return Lossless(
            "numeric", "decimal", f"integers and reals ({found}) → numeric, exact for both"
        )
    return Lossless("text", "text", f"values include text ({found}) → text, as the app reads them")


def dynamic_typing_finding(
    table: str,
    column: str,
    declared: str,
    declared_pg: str,
    family: str,
    chosen: Lossless,
    p: ColumnProfile,
) -> Finding:
    """What plan says about a column carried as its values' type rather than its declared one."""
    classes = _classes(p, integral_reals_are_integers=False)
    foreign = foreign_values(family, p)
    return Finding(
        "warning",
        "dynamic_typing",
        f"{table}.{column}: declared {declared or 'untyped'} but holds {_describe(classes)}"
        + (f", {p.year_zero:,} dated in year 0 (1 BC)" if family in DATED and p.year_zero else "")
        + f"; carried as {chosen.pg_type} so every value reads back as the app stored it",
        table=table,
        column=column,
        count=foreign,
        fix=f"to enforce the declared type instead (rejecting the {foreign:,} values that do not "
        f'fit): columns."{table}.{column}" = "{declared_pg}" in cutover.toml',
    )


def mismatch_findings(
    family: str, p: ColumnProfile, findings: list[Finding], table: Table, column: Column
) -> None:
    """A `dynamic_typing` warning for values a column kept at its declared type cannot take."""
    foreign = {
        "integer": p.texts + p.blobs,
        "float": p.texts + p.blobs,
        "decimal": p.texts + p.blobs,
        "bytes": p.integers + p.reals,
    }.get(family, 0)
    if family == "integer":
        foreign += p.reals - p.integral_reals
    if foreign:
        findings.append(
            Finding(
                "warning",
                "dynamic_typing",
                f"{table.name}.{column.name}: {foreign:,} values do not match the declared "
                f"{column.declared_type or 'type'} (SQLite stored them anyway); convertible "
                "ones are converted, the rest rejected",
                table=table.name,
                column=column.name,
                count=foreign,
                fix="inspect them with: SELECT typeof(col), count(*) … GROUP BY 1",
            )
        )
