"""Profiling a SQLite table: what the data says, in
as few and as cheap passes as give exact answers.

SQLite evaluates every expression of a scan for every row, without shared subexpressions, so the
cost of a profile is the number and weight of its expressions. Three passes, each only as wide as
it must be:

1. **One scan of cheap aggregates**: per column `count`, `min` and `max`, plus what a statistic
   needs when the column holds one storage class (longest text, NULs, invalid JSON, blob sizes).
   SQLite orders values NULL < numbers < text < blob, so `min` and `max` of one class prove the
   column holds only that class; a count of reals splits numbers into integers and reals.
2. **The exact per-class scan, for the columns pass 1 found mixed** (text in an INTEGER column, a
   real among integers): the storage-class counts and ranges by `typeof`, as dirty data needs.
3. **Refinement probes** for text columns: "are all values JSON / ISO dates / UUIDs / arrays?" is
   answered by looking for one value that is not, which ordinary text shows in its first row. Only
   columns where every value qualifies are scanned to the end (and then, for dates and arrays, once
   more for the details). So `json_containers`, `iso_dates`, `date_only`, `tz_offsets`,
   `uuid_like`, `json_arrays` and (from the range) `zero_one` for "flag" are exact when they equal
   the column's text (or integer) count, and 0 when some value does not qualify (see ColumnProfile).
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cutover.schema.model import ColumnProfile, TableProfile

# The storage class SQLite orders a value by: NULL < numbers < text < blob ('null': no value at
# all).
_CLASS_RANK = {"integer": 0, "real": 0, "text": 1, "blob": 2}


class Scan:
    """Where a profile's statements run: one connection
    over the whole table, or one per key range at once.

    Every aggregate a profile uses merges across ranges: counts add up, min and max of the parts
    give the whole's, the storage class of the least (greatest) value is the least (greatest) of
    the parts', and "is there a counterexample" is whether any part has one.
    """

    def __init__(
        self,
        table_sql: str,
        conns: list[sqlite3.Connection],
        key: str | None = None,
        ranges: list[tuple[int, int]] | None = None,
    ) -> None:
        self.table_sql, self.conns, self.key = table_sql, conns, key
        self.ranges: list[tuple[int, int] | None] = list(ranges) if ranges else [None]

    def _run(self, select: str, where: str, limit: str = "") -> list[tuple[Any, ...] | None]:
        def one(conn: sqlite3.Connection, bounds: tuple[int, int] | None) -> tuple[Any, ...] | None:
            clauses = [where] if where else []
            if bounds is not None:
                clauses.append(f"{self.key} > ? AND {self.key} <= ?")
            sql = f"SELECT {select} FROM {self.table_sql}" + (
                f" WHERE {' AND '.join(clauses)}" if clauses else ""
            )
            return conn.execute(sql + limit, bounds or ()).fetchone()

        if len(self.ranges) == 1:
            return [one(self.conns[0], self.ranges[0])]
        with ThreadPoolExecutor(max_workers=len(self.ranges)) as pool:
            return list(pool.map(one, self.conns, self.ranges))

    def aggregate(self, exprs: list[str], where: str = "") -> list[Any]:
        """The values of aggregate expressions (count, min, max, typeof(min/max)) over the table."""
        parts = [row for row in self._run(", ".join(exprs), where) if row is not None]
        if len(parts) == 1:
            return list(parts[0])
        return [_merge(expr, [p[i] for p in parts]) for i, expr in enumerate(exprs)]

    def exists(self, where: str) -> bool:
        """Whether any row matches (each range stops at its first)."""
        return any(row is not None for row in self._run("1", where, " LIMIT 1"))


def _merge(expr: str, values: list[Any]) -> Any:
    """One aggregate of the whole table from its parts' values."""
    present = [v for v in values if v is not None]
    if expr.startswith("count("):
        return sum(int(v) for v in present)
    if expr.startswith(("typeof(min(", "typeof(max(")):
        ranked = [v for v in values if v in _CLASS_RANK]
        if not ranked:
            return "null"
        pick = min if expr.startswith("typeof(min(") else max
        return pick(ranked, key=lambda c: (_CLASS_RANK[c], c == "real"))
    if expr.startswith(("min(", "CASE WHEN typeof(min(")):
        return min(present) if present else None
    if expr.startswith(("max(", "CASE WHEN typeof(max(")):
        return max(present) if present else None
    raise ValueError(f"no rule merges {expr[:40]!r} across ranges")


# A text value dated in year 0 (1 BC), which a timestamp coercion through Python cannot carry.
_YEAR_ZERO = "typeof({q}) = 'text' AND substr({q}, 1, 5) = '0000-'"

# Statistics pass 1 answers for a one-class column; (field, aggregate of q) each.
_PURE: dict[str, list[tuple[str, str]]] = {
    "text_length": [("max_text_length", "max(length({q}))")],
    "nul": [
        ("nul_chars", "count(CASE WHEN instr({q}, char(0)) > 0 THEN 1 END)")
    ],  # instr sees NULs inside text; a BLOB cast would copy every value
    "json_invalid": [
        (
            "json_invalid",
            "count(CASE WHEN {q} IS NULL THEN NULL WHEN NOT json_valid({q}) THEN 1 END)",
        )
    ],  # json_valid(NULL) is 0
    "year_zero": [("year_zero", f"count(CASE WHEN {_YEAR_ZERO} THEN 1 END)")],
    "blob_length": [
        ("min_blob_length", "min(length({q}))"),
        ("max_blob_length", "max(length({q}))"),
    ],
}
_NUMERIC = {
    "int_range",
    "num_range",
    "bools",
    "flag",
}  # statistics that need integers told from reals
_PROBED = (
    "json",
    "uuid",
    "vector",
    "dates",
    "offsets",
)  # "all values are …" questions, answered by a counterexample
_CLASS = {"integer": "integers", "real": "reals", "text": "texts", "blob": "blobs"}

# substr(…, 1, 1) reads one character; ltrim() would copy the value
_OPENS_JSON = "substr({q}, 1, 1) IN ('{{', '[')"
_ISO_PREFIX = "{q} GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*'"
_ISO = (
    f"(CASE WHEN {_ISO_PREFIX} THEN length({{q}}) <= 35 AND rtrim(substr({{q}}, 11), "
    "'0123456789:. TZ+-') = '' ELSE 0 END)"
)
_OFFSET = (
    "(substr({q}, -1) IN ('Z', 'z') OR (substr({q}, -6, 1) IN ('+', '-') AND substr({q}, "
    "-3, 1) = ':') OR (length({q}) > 19 AND substr({q}, -5) GLOB "
    "'[+-][0-9][0-9][0-9][0-9]'))"
)
_HEX8 = "[0-9a-fA-F]" * 8
_UUID = (
    f"(CASE WHEN NOT {{q}} GLOB '{_HEX8}*' THEN 0 "
    "WHEN length({q}) = 32 THEN NOT {q} GLOB '*[^0-9a-fA-F]*' "
    "WHEN length({q}) = 36 THEN {q} GLOB '????????-????-????-????-????????????' AND NOT "
    "replace({q}, '-', '') GLOB '*[^0-9a-fA-F]*' ELSE 0 END)"
)
# nested CASE: SQLite does not promise to stop an AND early, and json_type() fails on bad JSON
_ARRAY_LENGTH = (
    "(CASE WHEN substr({q}, 1, 1) = '[' THEN CASE WHEN json_valid({q}) THEN CASE "
    "WHEN json_type({q}) = 'array' THEN json_array_length({q}) END END END)"
)
# A value that is not what the statistic asks about (CASE, so long text is never parsed as JSON).
_COUNTEREXAMPLE = {
    "json": f"CASE WHEN {_OPENS_JSON} THEN NOT json_valid({{q}}) ELSE 1 END",
    "uuid": f"NOT {_UUID}",
    "vector": f"{_ARRAY_LENGTH} IS NULL",
    "dates": f"NOT {_ISO}",
    "offsets": f"NOT {_OFFSET}",
}


def profile_table(scan: Scan, wanted: dict[str, set[str]], quote: Any) -> TableProfile:
    """Profile one table for the statistics `wanted` names per column."""
    columns = {c: s for c, s in wanted.items() if s}
    cheap: list[tuple[str, str, str]] = []  # (column, slot, aggregate)
    for col, stats in columns.items():
        q = quote(col)
        # the storage class of the least and the greatest value; the values themselves only when
        # numbers (SQLite computes each aggregate once however often it is named)
        low, high = f"min({q} COLLATE BINARY)", f"max({q} COLLATE BINARY)"
        cheap += [
            (col, "count", f"count({q})"),
            (col, "min_class", f"typeof({low})"),
            (col, "max_class", f"typeof({high})"),
        ]
        if stats & (_NUMERIC | {"classes"}):
            cheap += [
                (col, "min", f"CASE WHEN typeof({low}) IN ('integer', 'real') THEN {low} END"),
                (col, "max", f"CASE WHEN typeof({high}) IN ('integer', 'real') THEN {high} END"),
            ]
            cheap.append((col, "reals", f"count(CASE WHEN typeof({q}) = 'real' THEN 1 END)"))
        for stat in sorted(stats & set(_PURE)):
            cheap += [(col, name, sql.format(q=q)) for name, sql in _PURE[stat]]
    row = scan.aggregate(["count(*)"] + [sql for _, _, sql in cheap])
    result = TableProfile(rows=int(row[0]))
    found: dict[str, dict[str, Any]] = {c: {} for c in columns}
    for (col, slot, _), value in zip(cheap, row[1:]):
        found[col][slot] = value
    for values in (
        found.values()
    ):  # a part's least number is the table's least value only if no part's is lesser
        for bound in ("min", "max"):
            if values.get(f"{bound}_class") not in ("integer", "real"):
                values.pop(bound, None)
    mixed = []
    for col, stats in columns.items():
        prof = _from_pure(result.rows, found[col], stats)
        if prof is None:
            mixed.append(col)
        else:
            result.columns[col] = prof
    if mixed:
        result.columns.update(_exact(scan, {c: columns[c] for c in mixed}, quote))
    for col, stats in columns.items():
        prof = result.columns[col]
        if prof.texts and prof.texts == prof.non_null:
            _probe_text(scan, quote(col), prof, stats)
    return result


def _from_pure(rows: int, found: dict[str, Any], stats: set[str]) -> ColumnProfile | None:
    """The column's profile when it holds one storage
    class (numbers count as one); None when mixed.
    """
    count = int(found["count"])
    prof = ColumnProfile(nulls=rows - count)
    if count == 0:
        return prof
    low, high = found.get("min"), found.get("max")
    kinds = {_CLASS[found["min_class"]], _CLASS[found["max_class"]]}
    if kinds <= {"integers", "reals"}:
        reals = int(found.get("reals") or 0)
        if reals and not stats & _NUMERIC and low is not None and high is not None:
            prof.integers, prof.reals = count - reals, reals  # only the classes were asked for
            return prof
        if "reals" not in found or found["reals"] or low is None or high is None:
            # reals among integers (or numbers a text statistic did not expect): count them exactly
            return None
        prof.integers = count
        if stats & {"int_range", "bools"}:
            prof.min_int, prof.max_int = low, high
        if "num_range" in stats:
            prof.min_num, prof.max_num = low, high
        if stats & {"bools", "flag"}:
            if 0 <= low and high <= 1:
                prof.zero_one = count
            elif "bools" in stats:
                return None  # a declared boolean holding other numbers: count the 0s and 1s exactly
        return prof
    if len(kinds) != 1:
        return None
    if kinds == {"texts"}:
        prof.texts = count
        if "bools" in stats:
            return None  # booleans stored as words: counted word by word
        prof.max_text_length = found.get("max_text_length")
        if "nul" in stats:
            prof.nul_chars = int(found.get("nul_chars") or 0)
        prof.json_invalid = int(found.get("json_invalid") or 0)
        prof.year_zero = int(found.get("year_zero") or 0)
    else:
        prof.blobs = count
        prof.min_blob_length, prof.max_blob_length = (
            found.get("min_blob_length"),
            found.get("max_blob_length"),
        )
        if "json_invalid" in stats:
            prof.json_invalid = count  # a blob is never JSON text
    return prof


def _exact(scan: Scan, columns: dict[str, set[str]], quote: Any) -> dict[str, ColumnProfile]:
    """One scan counting, per value, its storage class
    and the statistics of its class (mixed columns).
    """
    exprs: list[str] = []
    slots: list[tuple[str, str]] = []
    for col, stats in columns.items():
        q = quote(col)
        for stat in sorted((stats - set(_PROBED)) | {"classes"}):
            for field_name, sql in _exact_sql(stat, q):
                exprs.append(sql)
                slots.append((col, field_name))
    row = scan.aggregate(exprs)
    out: dict[str, ColumnProfile] = {c: ColumnProfile() for c in columns}
    for (col, field_name), value in zip(slots, row):
        setattr(
            out[col],
            field_name,
            value if field_name.startswith(("min_", "max_")) else int(value or 0),
        )
    return out


def _probe_text(scan: Scan, q: str, prof: ColumnProfile, stats: set[str]) -> None:
    """Answer the "are all values …" statistics of an all-text column, stopping at the first
    value that is not.
    """
    for stat in _PROBED:
        if stat not in stats:
            continue
        counter = _COUNTEREXAMPLE[stat].format(q=q)
        if scan.exists(f"{q} IS NOT NULL AND ({counter})"):
            continue
        if stat == "json":
            prof.json_containers = prof.texts
        elif stat == "offsets":
            prof.tz_offsets = prof.texts
        elif stat == "uuid":
            prof.uuid_like = prof.texts
        elif stat == "vector":
            length = _ARRAY_LENGTH.format(q=q)
            prof.json_arrays = prof.texts
            prof.min_array_len, prof.max_array_len = scan.aggregate(
                [f"min({length})", f"max({length})"]
            )
        else:
            prof.iso_dates = prof.texts
            date_only, offsets = scan.aggregate(
                [
                    f"count(CASE WHEN length({q}) = 10 THEN 1 END)",
                    f"count(CASE WHEN {_OFFSET.format(q=q)} THEN 1 END)",
                ],
                f"{q} IS NOT NULL",
            )
            prof.date_only, prof.tz_offsets = int(date_only), int(offsets)


def _exact_sql(stat: str, q: str) -> list[tuple[str, str]]:
    t = f"typeof({q})"
    if stat == "classes":
        return [
            ("nulls", f"count(*) - count({q})"),
            ("integers", f"count(CASE WHEN {t} = 'integer' THEN 1 END)"),
            ("reals", f"count(CASE WHEN {t} = 'real' THEN 1 END)"),
            ("texts", f"count(CASE WHEN {t} = 'text' THEN 1 END)"),
            ("blobs", f"count(CASE WHEN {t} = 'blob' THEN 1 END)"),
        ]
    if stat == "int_range":
        return [
            ("min_int", f"min(CASE WHEN {t} = 'integer' THEN {q} END)"),
            ("max_int", f"max(CASE WHEN {t} = 'integer' THEN {q} END)"),
            (
                "integral_reals",
                f"count(CASE WHEN {t} = 'real' AND {q} = CAST({q} AS INTEGER) THEN 1 END)",
            ),
        ]
    if stat == "num_range":
        return [
            ("min_num", f"min(CASE WHEN {t} IN ('integer', 'real') THEN {q} END)"),
            ("max_num", f"max(CASE WHEN {t} IN ('integer', 'real') THEN {q} END)"),
        ]
    if stat == "text_length":
        return [("max_text_length", f"max(CASE WHEN {t} = 'text' THEN length({q}) END)")]
    if stat == "json_invalid":
        return [
            (
                "json_invalid",
                f"count(CASE WHEN {t} = 'text' THEN CASE WHEN NOT json_valid({q}) THEN 1 END END)",
            )
        ]
    if stat in ("bools", "flag"):
        exprs = [("zero_one", f"count(CASE WHEN {t} = 'integer' AND {q} IN (0, 1) THEN 1 END)")]
        if stat == "bools":
            exprs.append(
                (
                    "bool_words",
                    f"count(CASE WHEN {t} = 'text' AND lower(trim({q})) IN ('true', 'false', "
                    "'t', 'f', 'yes', 'no', 'y', 'n', 'on', 'off', '0', '1') THEN 1 END)",
                )
            )
        return exprs
    if stat == "nul":
        return [
            (
                "nul_chars",
                f"count(CASE WHEN {t} = 'text' THEN CASE WHEN instr({q}, char(0)) > 0 THEN 1 "
                "END END)",
            )
        ]
    if stat == "blob_length":
        return [
            ("min_blob_length", f"min(CASE WHEN {t} = 'blob' THEN length({q}) END)"),
            ("max_blob_length", f"max(CASE WHEN {t} = 'blob' THEN length({q}) END)"),
        ]
    if stat == "year_zero":
        return [("year_zero", f"count(CASE WHEN {_YEAR_ZERO.format(q=q)} THEN 1 END)")]
    raise ValueError(f"unknown profile statistic {stat!r}")
