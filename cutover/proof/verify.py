"""Parity: prove the Postgres copy equals the source, table by table, and name the first differences.

The load summed per-bucket digests of every row it wrote (cutover.rows.digest); verify streams the
target once, sums the same digests, and compares. Only when the source changed since the load
(its fingerprint moved) or the load's digests are missing does it stream the source again. A
differing bucket is narrowed row by row to keys, columns and values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from cutover import urls
from cutover.config import Config, DatabaseConfig
from cutover.errors import UsageError
from cutover.load import state
from cutover.load import target as tgt
from cutover.load.rejects import table_file
from cutover.rows.digest import DIGEST_VERSION, NULL, RANGE_WIDTH, Digests, RowHasher
from cutover.schema.typemap import pg_base
from cutover.sources import open_source
from cutover.sources.base import PROBE_ROWS, Source, rows_within_budget
from cutover.values.coerce import InvalidText, Reject, build, compile_row, json_safe

STREAM_BATCH = 5000  # rows per fetch from a server-side cursor at most (and about BATCH_BYTES): bounded memory on any table
MAX_DIFFERENCES = 10  # differing rows reported per table
MAX_NARROWED_BUCKETS = 20  # differing buckets examined row by row per table
PREVIEW = 80  # characters of a value shown in a difference


@dataclass
class Difference:
    """One row that differs: missing on the target, extra there, duplicated, or changed in a column."""

    kind: str
    key: dict[str, Any]
    column: str | None = None
    source: str | None = None
    target: str | None = None


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

    @property
    def expected_rows(self) -> int:
        return self.source_rows - self.rejected

    @property
    def ok(self) -> bool:
        return self.target_rows == self.expected_rows and not self.differing_buckets


@dataclass
class SchemaIssue:
    """A source object without its target counterpart (and no recorded reason)."""

    table: str
    subject: str
    problem: str


@dataclass
class Accepted:
    """A difference the load recorded on purpose, with its reason."""

    table: str | None
    subject: str | None
    reason: str


@dataclass
class DatabaseParity:
    """Everything verify found for one database."""

    database: str
    target: str
    stale_source: bool
    tables: list[TableParity] = field(default_factory=list)
    schema_issues: list[SchemaIssue] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.schema_issues and all(t.ok for t in self.tables)


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
                tests=str(len(db.tables) + 1),
                failures=str(sum(not t.ok for t in db.tables) + bool(db.schema_issues)),
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
        return ET.tostring(suites, encoding="unicode")


def table_summary(t: TableParity) -> str:
    """One line: counts, and what differs."""
    if t.ok:
        return f"{t.table}: {t.target_rows:,} rows match"
    parts = [
        f"{t.table}: source {t.source_rows:,} − rejected {t.rejected:,} = {t.expected_rows:,}, target {t.target_rows:,}"
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


# -- the work ------------------------------------------------------------------------------------


def verify(
    config: Config, workdir: Path, *, database: str | None = None, table: str | None = None
) -> VerifyResult:
    """Compare source and target of every selected database; see VerifyResult.ok."""
    return VerifyResult(
        [_verify_db(config, db, workdir, table) for db in config.database(database)]
    )


def _verify_db(
    config: Config, db: DatabaseConfig, workdir: Path, only_table: str | None
) -> DatabaseParity:
    source = open_source(db.source, config.base_dir)
    conn = tgt.connect(db.target)
    try:
        set_json_loads(_json_text, conn)
        manifest = _manifest(conn, db)
        stale = source.fingerprint() != manifest["source_fingerprint"]
        result = DatabaseParity(db.name, urls.redact(db.target), stale)
        tables = manifest["tables"]
        if only_table is not None:
            tables = [t for t in tables if only_table in (t["source"], t["target"])]
            if not tables:
                from cutover.errors import UnknownChoiceError

                raise UnknownChoiceError(
                    "table", only_table, [t["source"] for t in manifest["tables"]], database=db.name
                )
        result.accepted = [
            Accepted(o["table"], o["subject"], o["reason"]) for o in manifest["omissions"]
        ]
        result.schema_issues = _schema_parity(conn, source, db, manifest, tables)
        rejects_dir = workdir / "rejects" / db.name
        for t in tables:
            result.tables.append(_table_parity(conn, source, manifest, t, stale, rejects_dir))
        return result
    finally:
        conn.close()
        source.close()


def _json_text(data: str | bytes) -> str:
    return data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data


def _manifest(conn: psycopg.Connection[Any], db: DatabaseConfig) -> dict[str, Any]:
    found = state.read_manifest(conn, db.name)
    if found is None:
        raise UsageError(
            f"no load of {db.name} is recorded in the target",
            database=db.name,
            hint="run `cutover run --phase 2` first; verify compares what it loaded",
        )
    manifest, complete = found
    if not complete:
        raise UsageError(
            f"the load of {db.name} did not finish",
            database=db.name,
            hint="run `cutover run --phase 2` to resume it, then verify",
        )
    return manifest


def _hasher(t: dict[str, Any], naive_timezone: str) -> RowHasher:
    names = [c["target"] for c in t["columns"]]
    return RowHasher(
        [c["pg_type"] for c in t["columns"]],
        [names.index(k) for k in t["key"] if k in names],
        naive_timezone,
    )


def _rejected_count(conn: psycopg.Connection[Any], database: str, table: str) -> int:
    chunks = state.load_chunks(conn, database, table)
    conn.rollback()
    return sum(c.rows_rejected for c in chunks)


def _target_batches(
    conn: psycopg.Connection[Any],
    schema: str,
    t: dict[str, Any],
    where: sql.Composable | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """The target's rows from a server-side cursor, in fetches of at most STREAM_BATCH rows and about BATCH_BYTES."""
    cols = sql.SQL(", ").join(sql.Identifier(c["target"]) for c in t["columns"])
    query = sql.SQL("SELECT {} FROM {}").format(cols, tgt.qualified(schema, t["target"]))
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    with conn.transaction(), conn.cursor(name=f"cutover_verify_{id(t)}") as cur:
        cur.execute(query)
        size = PROBE_ROWS  # a small first fetch measures the row width, as a source read does
        while batch := cur.fetchmany(size):
            yield batch
            size = rows_within_budget(batch, STREAM_BATCH)


def _target_rows(
    conn: psycopg.Connection[Any],
    schema: str,
    t: dict[str, Any],
    where: sql.Composable | None = None,
) -> Iterator[tuple[Any, ...]]:
    for batch in _target_batches(conn, schema, t, where):
        yield from batch


def _source_batches(
    source: Source, schema_table: Any, t: dict[str, Any], excluded: set[str]
) -> Iterator[list[tuple[tuple[Any, ...], dict[str, Any]]]]:
    """The source's rows as the load would have written them (coerced), minus recorded rejects, a source batch at a time."""
    keys = source.key_columns(schema_table)
    width = len(keys)
    columns = [c["source"] for c in t["columns"]]
    coercions = [build(c["coercion"], c["options"]) for c in t["columns"]]
    transform = compile_row(width, coercions)
    pk = [c for c in schema_table.primary_key if c in columns]
    for batch in source.read(schema_table, columns, batch_size=STREAM_BATCH):
        out = []
        for row in batch.rows:
            key = {k: json_safe(v) for k, v in zip(keys, row[:width])}
            pk_key = {c: json_safe(row[width + columns.index(c)]) for c in pk}
            if excluded and (
                _key_text(key) in excluded or (pk_key and _key_text(pk_key) in excluded)
            ):
                continue
            if any(isinstance(v, InvalidText) for v in row):
                continue
            try:
                out.append((transform(row), pk_key or key))
            except Reject:
                continue
        yield out


def _source_rows(
    source: Source, schema_table: Any, t: dict[str, Any], excluded: set[str]
) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    for batch in _source_batches(source, schema_table, t, excluded):
        yield from batch


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _excluded_keys(rejects_dir: Path, table: str) -> set[str]:
    path = table_file(rejects_dir, table)
    if not path.exists():
        return set()
    keys = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            keys.add(_key_text(json.loads(line)["key"]))
    return keys


def _table_parity(
    conn: psycopg.Connection[Any],
    source: Source,
    manifest: dict[str, Any],
    t: dict[str, Any],
    stale: bool,
    rejects_dir: Path,
) -> TableParity:
    started = time.monotonic()
    database, schema = manifest["database"], manifest["target_schema"]
    schema_table = source.reflect().table(t["source"])
    res = TableParity(
        t["source"],
        t["target"],
        source_rows=source.count(schema_table),
        rejected=_rejected_count(conn, database, t["target"]),
    )
    hasher = _hasher(t, manifest["naive_timezone"])
    stored = None
    same_hash = manifest.get("digest") == DIGEST_VERSION
    if not stale and same_hash:
        stored = state.stored_digests(conn, database, t["target"])
        conn.rollback()
    excluded = _excluded_keys(rejects_dir, t["source"])
    if stored is None:
        res.digests_from = "recomputed"
        if stale:
            res.note = "the source changed since the load; its rows were read again"
        elif manifest.get("digest") is None:
            res.note = 'the load stored no row digests (digests = "verify"); the source was read'
        else:
            res.note = (
                "the load's digests were made by another cutover version; the source was read again"
            )
        stored = Digests()
        for pairs in _source_batches(source, schema_table, t, excluded):
            stored.add_rows(hasher, [row for row, _key in pairs])
        if stale:
            res.rejected = res.source_rows - stored.rows
    actual = Digests()
    try:
        for rows in _target_batches(conn, schema, t):
            actual.add_rows(hasher, rows)
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        res.note = f"target table {t['target']} does not exist"
        res.differing_buckets = ["(whole table)"]
        res.seconds = time.monotonic() - started
        return res
    except psycopg.errors.UndefinedColumn as exc:
        conn.rollback()
        res.note = f"cannot read the target: {exc.diag.message_primary}"
        res.differing_buckets = ["(whole table)"]
        res.target_rows = tgt.row_count(conn, schema, t["target"])
        conn.rollback()
        res.seconds = time.monotonic() - started
        return res
    res.target_rows = actual.rows
    differing = stored.differing(actual)
    res.differing_buckets = [hasher.describe_bucket(b) for b in differing]
    if differing:
        res.differences = _narrow(
            conn,
            source,
            schema_table,
            manifest,
            t,
            hasher,
            differing[:MAX_NARROWED_BUCKETS],
            excluded,
        )
    res.seconds = time.monotonic() - started
    return res


def _narrow(
    conn: psycopg.Connection[Any],
    source: Source,
    schema_table: Any,
    manifest: dict[str, Any],
    t: dict[str, Any],
    hasher: RowHasher,
    buckets: list[int],
    excluded: set[str],
) -> list[Difference]:
    """Compare the rows of the differing buckets one by one."""
    wanted = set(buckets)
    names = [c["target"] for c in t["columns"]]
    sources_by_key: dict[tuple[str, ...], list[list[str]]] = {}
    readable: dict[tuple[str, ...], dict[str, Any]] = {}
    for row, key in _source_rows(source, schema_table, t, excluded):
        if hasher.bucket(row) in wanted:
            k = hasher.key(row)
            sources_by_key.setdefault(k, []).append(hasher.parts(row))
            readable[k] = key
    where = None
    if hasher.ranged:
        col = sql.Identifier(names[hasher.key_positions[0]])
        where = sql.SQL(" OR ").join(
            sql.SQL("({} >= {} AND {} < {})").format(
                col, sql.Literal(b * RANGE_WIDTH), col, sql.Literal((b + 1) * RANGE_WIDTH)
            )
            for b in buckets
        )
    targets_by_key: dict[tuple[str, ...], list[list[str]]] = {}
    for row in _target_rows(conn, manifest["target_schema"], t, where):
        if hasher.bucket(row) in wanted:
            k = hasher.key(row)
            targets_by_key.setdefault(k, []).append(hasher.parts(row))
            readable.setdefault(
                k,
                {names[i]: json_safe(row[i]) for i in hasher.key_positions} or {"row": "(no key)"},
            )
    diffs: list[Difference] = []
    for k in sorted(set(sources_by_key) | set(targets_by_key)):
        src, dst = sources_by_key.get(k, []), targets_by_key.get(k, [])
        key = readable.get(k, {})
        if not hasher.key_positions:
            key = {"row": _show("|".join(k))}
        if len(src) == len(dst) == 1:
            if src[0] != dst[0]:
                i = next(i for i, (a, b) in enumerate(zip(src[0], dst[0])) if a != b)
                shown = _show_pair(src[0][i], dst[0][i])
                diffs.append(Difference("changed", key, t["columns"][i]["source"], *shown))
        elif not dst:
            diffs.append(
                Difference(
                    "missing", key, None, f"{len(src)} row(s) in the source are not in the target"
                )
            )
        elif not src:
            diffs.append(
                Difference(
                    "extra",
                    key,
                    None,
                    None,
                    f"{len(dst)} row(s) in the target are not in the source",
                )
            )
        elif len(src) != len(dst):
            diffs.append(
                Difference(
                    "duplicated",
                    key,
                    None,
                    f"{len(src)} in the source",
                    f"{len(dst)} in the target",
                )
            )
        elif sorted(src) != sorted(dst):
            diffs.append(Difference("changed", key, None, "rows with this key differ", None))
        if len(diffs) >= MAX_DIFFERENCES:
            break
    return diffs


def _show_pair(a: str, b: str) -> tuple[str, str]:
    """Both values, cut to a window around their first differing character."""
    if a is NULL or b is NULL or (len(repr(a)) <= PREVIEW and len(repr(b)) <= PREVIEW):
        return _show(a), _show(b)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, first - PREVIEW // 2)

    def cut(s: Any) -> str:
        return (
            ("…" if start else "")
            + _show(s[start : start + PREVIEW - 10])
            + ("…" if start + PREVIEW - 10 < len(s) else "")
            + f" (differs at character {first + 1:,} of {len(s):,})"
        )

    return cut(a), cut(b)


def _show(canonical: str) -> str:
    text = "NULL" if canonical is NULL else repr(canonical)
    text = urls.redact(text)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


# -- schema parity -------------------------------------------------------------------------------


def _norm_type(pg_type: str) -> str:
    base = pg_base(pg_type)
    params = pg_type[pg_type.find("(") :].replace(" ", "") if "(" in pg_type else ""
    if base in ("timestamp", "timestamptz", "time") and params == "(6)":
        params = ""
    return base + params


def _constraints(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    rows = conn.execute(
        """
        SELECT c.relname, con.conname, con.contype,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o)::text[]
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s
        """,
        (schema,),
    ).fetchall()
    indexes = conn.execute(
        "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
    ).fetchall()
    conn.rollback()
    found: dict[str, Any] = {"p": {}, "u": set(), "f": set(), "c": set(), "i": set()}
    for table, name, kind, cols in rows:
        if kind == "p":
            found["p"][table] = list(cols)
        elif kind in ("u", "f", "c"):
            found[kind].add((table, name))
    for table, name in indexes:
        found["i"].add((table, name))
    return found


def _schema_parity(
    conn: psycopg.Connection[Any],
    source: Source,
    db: DatabaseConfig,
    manifest: dict[str, Any],
    tables: list[dict[str, Any]],
) -> list[SchemaIssue]:
    schema = manifest["target_schema"]
    catalog = tgt.catalog(conn, schema, generated=True)
    cons = _constraints(conn, schema)
    omitted = {(o["table"], o["subject"]) for o in manifest["omissions"]}
    source_schema = source.reflect()
    issues: list[SchemaIssue] = []
    carried = {t["source"] for t in manifest["tables"]}
    by_name = {x.name: x for x in source_schema.tables}
    for new in source_schema.tables:
        if new.name not in carried and (db.tables is None or new.name in db.tables):
            issues.append(
                SchemaIssue(new.name, "table", "source table was not loaded (new since the load?)")
            )
    for t in tables:
        name = t["target"]
        if name not in catalog:
            issues.append(SchemaIssue(t["source"], "table", f"target table {name} is missing"))
            continue
        cols = catalog[name]
        st = by_name.get(t["source"])
        if st is not None:
            known = {c["source"] for c in t["columns"]}
            for c in st.columns:
                if c.name not in known:
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"column {c.name}",
                            "source column was not loaded (new since the load?)",
                        )
                    )
        for c in t["columns"]:
            found = cols.get(c["target"])
            if found is None:
                issues.append(
                    SchemaIssue(
                        t["source"],
                        f"column {c['source']}",
                        f"target column {c['target']} is missing",
                    )
                )
                continue
            if _norm_type(found.pg_type) != _norm_type(c["pg_type"]):
                issues.append(
                    SchemaIssue(
                        t["source"],
                        f"column {c['source']}",
                        f"type is {found.pg_type}, the load made it {c['pg_type']}",
                    )
                )
            if not c["nullable"] and found.nullable:
                issues.append(
                    SchemaIssue(t["source"], f"column {c['source']}", "NOT NULL was dropped")
                )
        if t["key"] and cons["p"].get(name) != t["key"]:
            issues.append(
                SchemaIssue(
                    t["source"],
                    "primary key",
                    f"expected ({', '.join(t['key'])}), found ({', '.join(cons['p'].get(name) or ['none'])})",
                )
            )
        if manifest["mode"] != "create":
            continue
        for u in t["uniques"]:
            if (name, u) not in cons["u"] and (name, u) not in cons["i"]:
                issues.append(
                    SchemaIssue(t["source"], f"unique {u}", "unique constraint is missing")
                )
        for idx in t["indexes"]:
            if (name, idx["name"]) not in cons["i"]:
                issues.append(
                    SchemaIssue(
                        t["source"], f"index {idx['source']}", f"index {idx['name']} is missing"
                    )
                )
        for check in t.get("checks", []):
            if (name, check["name"]) not in cons["c"]:
                issues.append(
                    SchemaIssue(
                        t["source"], f"check {check['name']}", "check constraint is missing"
                    )
                )
        for fk in t["foreign_keys"]:
            if (name, fk["name"]) not in cons["f"]:
                issues.append(
                    SchemaIssue(t["source"], f"foreign key {fk['name']}", "foreign key is missing")
                )
        if st is not None:
            carried_idx = {i["source"] for i in t["indexes"]}
            for idx in st.indexes:
                if idx.name not in carried_idx and (st.name, f"index:{idx.name}") not in omitted:
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"index {idx.name}",
                            "source index has no target index and no recorded reason",
                        )
                    )
            carried_checks = {c["source"] for c in t.get("checks", [])}
            for check in st.checks:
                implied = (
                    check.expression not in carried_checks
                    and (st.name, f"check:{check.name or check.expression}") not in omitted
                )
                if implied and not _is_boolean_domain_check(check.expression, t):
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"check {check.name or check.expression}",
                            "source CHECK has no target constraint and no recorded reason",
                        )
                    )
            carried_fk = {tuple(f["source_columns"]) for f in t["foreign_keys"]}
            for fk in st.foreign_keys:
                if (
                    tuple(fk.columns) not in carried_fk
                    and (st.name, "fk:" + ",".join(fk.columns)) not in omitted
                ):
                    issues.append(
                        SchemaIssue(
                            t["source"],
                            f"foreign key ({', '.join(fk.columns)})",
                            "source foreign key has no target foreign key and no recorded reason",
                        )
                    )
    return issues


def _is_boolean_domain_check(expression: str, t: dict[str, Any]) -> bool:
    """`flag IN (0, 1)` on a column loaded as boolean: the type enforces it."""
    from cutover.schema.sqltext import tokenize

    tokens = tokenize(expression)
    booleans = {c["source"] for c in t["columns"] if pg_base(c["pg_type"]) == "boolean"}
    return len(tokens) == 7 and tokens[0].ident in booleans and tokens[1].upper == "IN"
