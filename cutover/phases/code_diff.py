"""`cutover code diff`: the app's SQL replaced by its proven rewrites, as a patch (or applied).

A statement is replaced only when its rewrite is `rewritten` and running both sides on the loaded
data proved it `same`; every other statement is left alone and listed with the reason. Engine
options only SQLite knows (`connect_args={"check_same_thread": False}`) are dropped, and SQLite
test fixtures read the database's env key instead. `--apply` writes the files, keeping a backup
first as phase 1 does (`cutover env restore` rolls it back); applying again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cutover.appcode import scan_engine_options
from cutover.appcode.engine_options import DIALECT_OPTIONS
from cutover.appcode.patch import (
    Replacement,
    apply_spans,
    engine_spans,
    literal_spans,
    unified_diff,
)
from cutover.config import Config
from cutover.envfiles.backup import Written, save, write_atomic
from cutover.phases.app_code import CodeProof, planned_schemas, proof_line, prove_app_code


@dataclass
class CodeDiff:
    """The patch, the files it changes, what was left alone and why, and the backup if applied."""

    diff: str
    files: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    backup: Path | None = None
    applied: bool = False


def code_diff(
    config: Config, workdir: Path, *, apply: bool = False, database: str | None = None
) -> CodeDiff:
    """Prove every statement, then replace the proven rewrites in the app's files."""
    proofs = prove_app_code(config, planned_schemas(config, database))
    root = config.base_dir
    by_file: dict[str, list[Replacement]] = {}
    result = CodeDiff("")
    for proof in proofs:
        statement, rewrite = proof.entry.statement, proof.entry.rewrite
        why = _left_alone(proof)
        if why is not None:
            if why:
                result.left.append(why)
            continue
        assert rewrite.postgres_sql is not None
        by_file.setdefault(statement.path, []).append(
            Replacement(statement.line, statement.sql, rewrite.postgres_sql)
        )
        result.replaced.append(f"{statement.path}:{statement.line}")
    options: dict[str, tuple[set[int], set[int]]] = {}
    for finding in scan_engine_options(root):
        if finding.code in ("dialect_option", "sqlite_fixture"):
            lines = options.setdefault(finding.path, (set(), set()))
            lines[finding.code == "sqlite_fixture"].add(finding.line)
    env_key = config.databases[0].env_key if config.databases else "DATABASE_URL"
    written: list[Written] = []
    diffs: list[str] = []
    for rel in sorted(set(by_file) | set(options)):
        path = root / rel
        before = path.read_bytes()
        text = before.decode("utf-8")
        spans, missing = literal_spans(text, by_file.get(rel, []))
        for miss in missing:
            result.left.append(f"{rel}:{miss.line} not found where the scan saw it: file changed?")
            result.replaced.remove(f"{rel}:{miss.line}")
        if rel in options:
            option_lines, fixture_lines = options[rel]
            more, fixed = engine_spans(
                text, option_lines, fixture_lines, set(DIALECT_OPTIONS), env_key
            )
            spans += more
            result.replaced += [f"{rel}:{line} (engine option / test fixture)" for line in fixed]
        after_text = apply_spans(text, spans)
        after = after_text.encode("utf-8")
        if after != before:
            written.append(Written(path, rel, before, after))
            diffs.append(unified_diff(rel, text, after_text))
    result.diff = "".join(diffs)
    result.files = [w.rel for w in written]
    if apply and written:
        result.backup = save(workdir, root, written)
        for item in written:
            write_atomic(item.path, item.after)
        result.applied = True
    return result


def _left_alone(proof: CodeProof) -> str | None:
    """Why a statement keeps its SQL, or None when its proven rewrite replaces it."""
    if proof.entry.rewrite.status == "compatible" and proof.proof.status == "same":
        return ""  # runs on Postgres as it is: nothing to replace, nothing to say
    if proof.entry.rewrite.status != "rewritten" or proof.proof.status != "same":
        return proof_line(proof.entry, proof.proof)
    return None
