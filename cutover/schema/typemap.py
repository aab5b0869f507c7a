"""Source type → Postgres type and coercion: a declarative rule table, refined by the data.

The rule table (schema/rules.py) is documented in docs/typemap.md. Every column
plan says why it got its type: `declared` (the rule table), `sampled` (the data
refined it), `override` (cutover.toml), or `catalog` (an existing target table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cutover.config import ColumnOverride, Settings
from cutover.schema import dynamic, vectors
from cutover.schema.model import Column, ColumnProfile, Finding, Table
from cutover.schema.rules import INT_RANGES, declared_rule, family_of, pg_base

BOOL_NAME = re.compile(
    r"^(is|has|can|should|was|allow|enable|use)_"
    r"|_(flag|enabled|active|deleted|archived|verified|visible|done)$"
    r"|^(enabled|active|deleted|archived|verified|visible|done|pinned|starred|published|hidden)$",
    re.IGNORECASE,
)
EPOCH_NAME = re.compile(r"(_at|_on|_time|_ts|time|date|timestamp|_when)$", re.IGNORECASE)

# Epoch magnitudes: seconds reach 1e10 in the year 2286; milliseconds and microseconds follow.
EPOCH_UNITS = (("seconds", 1e11), ("milliseconds", 1e14), ("microseconds", 1e17))


@dataclass
class ColumnPlan:
    """How one column moves: its target name and type, the coercion, and why."""

    source: str
    name: str
    pg_type: str
    family: str
    reason: str
    why: str
    nullable: bool = True
    default: str | None = None
    identity: bool = False
    coercion: str = "identity"
    options: dict[str, Any] = field(default_factory=dict)
    generated: str | None = None  # GENERATED ALWAYS AS (this) STORED: Postgres computes the value

    @property
    def base_type(self) -> str:
        return pg_base(self.pg_type)


def wanted_stats(
    column: Column,
    settings: Settings,
    override: ColumnOverride | None,
    *,
    nul_in_load: bool = False,
) -> set[str]:
    """Which profile statistics decide this column's type and coercion.

    nul_in_load: a text column's NULs are looked for by the load, a batch at a time in C
    (coerce.passes_guard "plain_text"), instead of by a scan of every value beforehand.
    """
    if override is not None and override.type:
        family, pg_type = family_of(override.type), override.type
    else:
        rule = declared_rule(column.declared_type) if column.declared_type.strip() else None
        family, pg_type = (rule[1], rule[0]) if rule else ("dynamic", "")
    # max(length()) walks every character; only a declared length limit needs it
    bounded = family == "text" and "(" in pg_type
    stats: set[str] = {
        "integer": {"int_range", "flag", "num_range"},
        # the storage classes: text among the numbers makes the column text (schema/dynamic.py)
        "float": {"classes"},
        "decimal": {"classes"},
        "boolean": {"bools"},
        # plain ISO text needs no scan: the loader checks each batch (see _choose_coercion)
        "timestamp": {"offsets", "num_range", "year_zero"},
        "date": {"num_range", "year_zero"},
        "time": set(),
        "text": ({"text_length"} if bounded else set())
        | (set() if nul_in_load else {"nul"})
        | ({"json", "dates", "uuid", "vector"} if settings.infer_types != "off" else set()),
        "bytes": {"blob_length"},
        "json": {"json", "json_invalid", "nul"},
        "uuid": {"blob_length"},
        "vector": {"blob_length", "json", "vector"},
        "dynamic": {
            "int_range",
            "nul",
            "json",
            "dates",
            "uuid",
            "vector",
            "blob_length",
            "num_range",
        },
    }[family]
    return stats


def plan_column(
    table: Table,
    column: Column,
    profile: ColumnProfile,
    settings: Settings,
    override: ColumnOverride | None,
    target_name: str,
    samples: list[Any] | None = None,
) -> tuple[ColumnPlan, list[Finding]]:
    """Decide one column's Postgres type and coercion from its declaration, data and override."""
    findings: list[Finding] = []
    tname, cname = table.name, column.name
    is_rowid_pk = table.rowid_alias == column.name
    declared = column.declared_type.strip()

    if override is not None and override.type:
        pg_type, family, reason, why = (
            override.type,
            family_of(override.type),
            "override",
            f"cutover.toml sets {override.type}",
        )
    elif is_rowid_pk:
        pg_type, family, reason, why = (
            "bigint",
            "integer",
            "declared",
            "INTEGER PRIMARY KEY (the rowid) → bigint identity keeping its values",
        )
    elif not declared:
        pg_type, family, why = _dynamic(profile)
        reason = "sampled"
    else:
        rule = declared_rule(declared)
        if rule is None:
            # SQLite kept the values as stored (a SpatiaLite POINT holds blobs): typed by them
            pg_type, family, why = _dynamic(profile)
            reason, why = "sampled", f"unknown type name {declared!r}: " + why.split("; ", 1)[-1]
            findings.append(
                Finding(
                    "warning",
                    "unknown_type",
                    f"{tname}.{cname}: unknown type {declared!r} carried as {pg_type} (by its "
                    "values)",
                    table=tname,
                    column=cname,
                    fix=f'override it in cutover.toml: columns."{tname}.{cname}" = "…"',
                )
            )
        else:
            pg_type, family, _note = rule
            reason, why = "declared", f"{declared} → {pg_type}"

    lossless = None
    if reason == "declared" and not is_rowid_pk and not column.autoincrement:
        lossless = dynamic.lossless_type(family, profile)
    if lossless is not None:
        findings.append(
            dynamic.dynamic_typing_finding(
                tname, cname, declared, pg_type, family, lossless, profile
            )
        )
        pg_type, family, reason, why = lossless.pg_type, lossless.family, "sampled", lossless.why

    if is_rowid_pk:
        # a rowid key that is also a foreign key (a 1:1 extension table) takes its parent's values
        identity = not any(column.name in fk.columns for fk in table.foreign_keys)
    else:  # SQL Server IDENTITY, declared for what it is
        identity = column.autoincrement and family == "integer" and reason != "override"
    plan = ColumnPlan(
        cname,
        target_name,
        pg_type,
        family,
        reason,
        why,
        nullable=column.nullable,
        identity=identity,
    )
    if reason != "override" and settings.infer_types != "off" and not identity and not lossless:
        _refine(plan, table, column, profile, settings, samples or [], findings)
    _choose_coercion(plan, profile, settings, findings, table, column, override)
    dynamic.mismatch_findings(plan.family, profile, findings, table, column)
    return plan, findings


def _dynamic(profile: ColumnProfile) -> tuple[str, str, str]:
    classes = {
        k: v
        for k, v in (
            ("integer", profile.integers),
            ("real", profile.reals),
            ("text", profile.texts),
            ("blob", profile.blobs),
        )
        if v
    }
    if not classes:
        return "text", "text", "no declared type and no values → text"
    if set(classes) == {"integer"}:
        return "bigint", "integer", "no declared type; all values are integers → bigint"
    if set(classes) <= {"integer", "real"}:
        return "double precision", "float", "no declared type; numeric values → double precision"
    if set(classes) == {"blob"}:
        return "bytea", "bytes", "no declared type; all values are blobs → bytea"
    return "text", "text", f"no declared type; mixed values ({', '.join(sorted(classes))}) → text"


def _refine(
    plan: ColumnPlan,
    table: Table,
    column: Column,
    p: ColumnProfile,
    settings: Settings,
    samples: list[Any],
    findings: list[Finding],
) -> None:
    """What the data says about the declared type, for columns where the whole column would convert.

    Widening an integer is always applied: the app sees the same values. A change of type the app
    would see (text → jsonb, integer → boolean, text → timestamp or uuid) is applied only with
    infer_types = "apply" or for a column with no declared type; otherwise it is suggested, with the
    override that applies it, because an app reading the column through its old type breaks.
    """
    tname, cname = table.name, column.name
    only_text = p.texts > 0 and p.integers == p.reals == p.blobs == 0

    def propose(pg_type: str, family: str, why: str) -> None:
        if settings.infer_types == "apply" or not column.declared_type.strip():
            plan.pg_type, plan.family, plan.reason, plan.why = pg_type, family, "sampled", why
            return
        spec = (
            f'"{pg_type}"'
            if "blob_format" not in plan.options
            else f'{{ type = "{pg_type}", blob_format = "{plan.options.pop("blob_format")}" }}'
        )
        findings.append(
            Finding(
                "info",
                "suggested_type",
                f"{tname}.{cname}: {why}; kept as {plan.pg_type} so the app's "
                f"{column.declared_type} reads and writes keep working",
                table=tname,
                column=cname,
                fix=f'columns."{tname}.{cname}" = {spec} in cutover.toml (or infer_types = '
                '"apply")',
            )
        )

    vector_type = settings.vector_type
    if (
        plan.family == "text"
        and only_text
        and plan.base_type == "text"
        and p.json_arrays == p.texts
    ):
        found, why_not = vectors.detect_text(samples, p.min_array_len, p.max_array_len)
        if found is not None:
            return propose(
                f"{vector_type}({found.dims})",
                "vector",
                f"all {p.texts:,} values are arrays of {found.dims} numbers (embeddings) → "
                f"{vector_type}({found.dims})",
            )
        if why_not:
            findings.append(
                Finding(
                    "warning",
                    "vector_unusable",
                    f"{tname}.{cname} looks like embeddings but {why_not}; kept as {plan.pg_type}",
                    table=tname,
                    column=cname,
                    count=p.texts,
                    fix="fix the rows at the source, or override the column type",
                )
            )
    if plan.family == "bytes" and p.blobs and p.blobs == p.non_null:
        found, why_not = vectors.detect_blob(samples, p.min_blob_length, p.max_blob_length)
        if found is not None:
            plan.options["blob_format"] = found.blob_format
            return propose(
                f"{vector_type}({found.dims})",
                "vector",
                f"all {p.blobs:,} values are {found.dims} packed {found.blob_format} numbers "
                f"(embeddings) → {vector_type}({found.dims})",
            )
        if why_not:
            findings.append(
                Finding(
                    "warning",
                    "vector_unusable",
                    f"{tname}.{cname} looks like embeddings but {why_not}; kept as {plan.pg_type}",
                    table=tname,
                    column=cname,
                    count=p.blobs,
                )
            )
    if plan.family == "text" and only_text:
        unbounded = plan.base_type == "text"
        if unbounded and p.json_containers == p.texts:
            return propose(
                "jsonb", "json", f"all {p.texts:,} values are JSON objects or arrays → jsonb"
            )
        if p.uuid_like == p.texts:
            return propose("uuid", "uuid", f"all {p.texts:,} values are UUIDs → uuid")
        if unbounded and p.iso_dates == p.texts and samples:
            kind = _date_kind(samples, p, settings)
            if kind:
                return propose(
                    kind,
                    "date" if kind == "date" else "timestamp",
                    f"all {p.texts:,} values are ISO-8601 "
                    f"{'dates' if kind == 'date' else 'timestamps'} → {kind}",
                )
    if plan.family == "integer" and not table.primary_key == [column.name]:
        if p.non_null and p.zero_one == p.non_null and BOOL_NAME.search(cname):
            propose(
                "boolean",
                "boolean",
                f"only 0/1 in a flag-named {column.declared_type or 'untyped'} column → boolean",
            )
            if plan.family == "boolean":
                return
        low, high = (
            INT_RANGES[plan.base_type] if plan.base_type in INT_RANGES else INT_RANGES["bigint"]
        )
        if (
            p.max_int is not None
            and p.min_int is not None
            and (p.max_int > high or p.min_int < low)
        ):
            wider = (
                "integer"
                if plan.base_type == "smallint" and -(2**31) <= p.min_int and p.max_int < 2**31
                else "bigint"
            )
            plan.why = (
                f"{column.declared_type} values reach "
                f"{p.max_int if p.max_int > high else p.min_int:,} → {wider}"
            )
            plan.pg_type, plan.reason = wider, "sampled"
        if (
            p.integers
            and p.min_num is not None
            and EPOCH_NAME.search(cname)
            and 1e8 <= float(p.min_num)
            and float(p.max_num or 0) < 1e14
        ):
            unit = _epoch_unit(float(p.max_num or 0))
            findings.append(
                Finding(
                    "info",
                    "epoch_integers",
                    f"{tname}.{cname} looks like epoch {unit} "
                    f"({column.declared_type or 'untyped'}); kept as integers, which is what "
                    "the app reads",
                    table=tname,
                    column=cname,
                    count=p.integers,
                    fix="only if the app is changed to read timestamps: "
                    f'columns."{tname}.{cname}" = "timestamptz"',
                )
            )
    if plan.family == "timestamp" and plan.base_type == "timestamp":
        if settings.timestamps == "timestamptz":
            plan.pg_type, plan.why = (
                "timestamptz",
                plan.why
                + "; timestamps='timestamptz' (naive values read as "
                + settings.naive_timezone
                + ")",
            )
        elif p.texts and p.tz_offsets == p.texts and not (p.integers or p.reals):
            propose(
                "timestamptz",
                "timestamp",
                f"all {p.texts:,} values carry a UTC offset → timestamptz",
            )


def _date_kind(samples: list[Any], p: ColumnProfile, settings: Settings) -> str | None:
    from cutover.values.coerce import parse_datetime_text

    texts = [s for s in samples if isinstance(s, str)]
    if not texts:
        return None
    if p.date_only == p.texts:
        return "date"
    for s in texts:
        try:
            parse_datetime_text(s)
        except ValueError:
            return None
    if p.tz_offsets == p.texts or settings.timestamps == "timestamptz":
        return "timestamptz"
    if p.tz_offsets:
        return "timestamptz"
    return "timestamp"


def _epoch_unit(max_value: float) -> str:
    for unit, limit in EPOCH_UNITS:
        if abs(max_value) < limit:
            return unit
    return "microseconds"


def _choose_coercion(
    plan: ColumnPlan,
    p: ColumnProfile,
    settings: Settings,
    findings: list[Finding],
    table: Table,
    column: Column,
    override: ColumnOverride | None,
) -> None:
    """Identity where the values already fit; a named coercion otherwise (see coerce.py)."""
    tname, cname = table.name, column.name
    fam, base = plan.family, plan.base_type
    opts = plan.options
    if fam == "integer":
        low, high = INT_RANGES.get(base, INT_RANGES["bigint"])
        fits = p.min_int is None or (low <= p.min_int and (p.max_int or 0) <= high)
        if p.reals or p.texts or p.blobs or not fits:
            plan.coercion = "integer"
            opts.update(low=low, high=high, pg_type=base)
    elif fam == "float":
        if p.texts or p.blobs:
            plan.coercion = "float"
    elif fam == "decimal":
        if p.texts or p.blobs or p.reals:
            plan.coercion = "decimal"
    elif fam == "boolean":
        if p.non_null and p.zero_one == p.non_null:
            plan.coercion = "identity"
        else:
            plan.coercion = "boolean"
            bad = p.non_null - p.zero_one - p.bool_words
            if p.bool_words:
                findings.append(
                    Finding(
                        "info",
                        "boolean_words",
                        f"{tname}.{cname}: {p.bool_words:,} booleans stored as words ('true', "
                        "'yes', 't' …) become true/false",
                        table=tname,
                        column=cname,
                        count=p.bool_words,
                    )
                )
            if bad > 0 and (p.zero_one or p.bool_words):
                findings.append(
                    Finding(
                        "warning",
                        "not_boolean",
                        f"{tname}.{cname}: {bad:,} values are neither 0/1 nor boolean words; "
                        "those rows are rejected",
                        table=tname,
                        column=cname,
                        count=bad,
                        fix="fix them at the source or override the column type",
                    )
                )
    elif fam in ("timestamp", "date", "time"):
        if p.integers or p.reals:
            unit = _epoch_unit(float(max(abs(p.min_num or 0), abs(p.max_num or 0))))
            if 1e6 <= abs(float(p.max_num or 0)) < 3e6 and p.reals:
                unit = "julian"
            opts["epoch"] = unit
            findings.append(
                Finding(
                    "info",
                    "epoch_detected",
                    f"{tname}.{cname}: {p.integers + p.reals:,} values are "
                    f"{('Julian day numbers' if unit == 'julian' else 'epoch ' + unit)}; "
                    f"converted to {plan.pg_type}",
                    table=tname,
                    column=cname,
                    count=p.integers + p.reals,
                )
            )
        needs_python = bool(p.integers or p.reals or p.blobs)
        if needs_python or (p.texts and fam != "time"):
            plan.coercion = fam if fam != "timestamp" else base
            opts["naive_timezone"] = settings.naive_timezone
        if not needs_python and p.texts and fam != "time":
            # Text goes to Postgres as it is only in batches where every value has the one ISO form
            # Postgres reads exactly as the coercion would (coerce.GUARDS); any other batch is
            # coerced.
            # Postgres' own input would drop a date's time of day, or a naive timestamp's offset,
            # silently, and read a naive timestamptz in the session's zone, not naive_timezone.
            opts["guard"] = (
                "iso_date"
                if fam == "date"
                else "iso_offset"
                if base == "timestamptz"
                else "iso_naive"
            )
    elif fam == "text":
        limit = None
        m = re.search(r"\((\d+)\)", plan.pg_type)
        if base in ("varchar", "char") and m:
            limit = int(m.group(1))
        too_long = limit is not None and (p.max_text_length or 0) > limit
        if p.blobs or p.nul_chars or too_long:
            plan.coercion = "text"
            opts.update(max_length=limit, nul=settings.nul_in_text)
        elif p.nul_chars is None and p.texts:
            # not scanned for NULs: batches of plain text without one go to Postgres untouched,
            # others are coerced
            plan.coercion = "text"
            opts.update(max_length=limit, nul=settings.nul_in_text, guard="plain_text")
        if too_long:
            findings.append(
                Finding(
                    "warning",
                    "over_length",
                    f"{tname}.{cname}: values up to {p.max_text_length:,} characters exceed "
                    f"{plan.pg_type}; longer values are rejected",
                    table=tname,
                    column=cname,
                    fix=f'widen it: columns."{tname}.{cname}" = "text" (or varchar(n))',
                )
            )
        if p.nul_chars:
            verb = "stripped of NUL" if settings.nul_in_text == "strip" else "rejected"
            findings.append(
                Finding(
                    "warning",
                    "nul_in_text",
                    f"{tname}.{cname}: {p.nul_chars:,} values contain NUL (\\x00), which "
                    f"Postgres text cannot hold; they are {verb}",
                    table=tname,
                    column=cname,
                    count=p.nul_chars,
                    fix="nul_in_text = 'strip' in [settings] to keep them without the NUL",
                )
            )
        if p.blobs:
            findings.append(
                Finding(
                    "warning",
                    "blob_in_text",
                    f"{tname}.{cname}: {p.blobs:,} blob values in a text column are decoded as "
                    "UTF-8 (rejected when not UTF-8)",
                    table=tname,
                    column=cname,
                    count=p.blobs,
                )
            )
    elif fam == "json":
        if p.json_invalid or p.integers or p.reals or p.blobs or p.nul_chars:
            plan.coercion = "json"
        if p.json_invalid:
            findings.append(
                Finding(
                    "warning",
                    "invalid_json",
                    f"{tname}.{cname}: {p.json_invalid:,} values are not valid JSON; those rows "
                    "are rejected",
                    table=tname,
                    column=cname,
                    count=p.json_invalid,
                    fix="fix them at the source, or override the column to text",
                )
            )
    elif fam == "bytes":
        if p.texts or p.integers or p.reals:
            plan.coercion = "bytes"
    elif fam == "uuid":
        plan.coercion = "uuid" if (p.blobs or p.integers or p.reals) else "identity"
    elif fam == "vector":
        m = re.search(r"\((\d+)\)", plan.pg_type)
        opts["dims"] = int(m.group(1)) if m else None
        if override is not None and override.blob_format:
            opts["blob_format"] = override.blob_format
        # JSON text is pgvector's own text form: the server checks it, no per-element Python work
        plan.coercion = "vector" if (p.blobs or p.integers or p.reals) else "identity"
        if opts.get("dims") and opts["dims"] > vectors.MAX_INDEX_DIMS.get(plan.base_type, 2000):
            findings.append(
                Finding(
                    "warning",
                    "vector_not_indexable",
                    f"{tname}.{cname}: {opts['dims']} dimensions is over what HNSW/IVFFlat can "
                    f"index for {plan.base_type} "
                    f"({vectors.MAX_INDEX_DIMS.get(plan.base_type, 2000)}); no vector index is "
                    "created",
                    table=tname,
                    column=cname,
                    fix='use halfvec (vector_type = "halfvec", up to 4,000 dimensions)',
                )
            )
