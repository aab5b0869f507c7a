"""Phase 1, the environment: `env scan`, `env rewrite`,
`env restore`, `env template` as plain functions.

Each returns a dataclass and prints nothing; every value in a result is redacted (passwords never
leave these functions except into the files they are asked to write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cutover import config as config_mod
from cutover.envfiles import backup, convert, proposals, rewrite, scan, templates
from cutover.envfiles.proposals import Proposal
from cutover.envfiles.rewrite import ValueChange
from cutover.envfiles.scan import CodeReference, EnvFile, EnvReference
from cutover.errors import UnresolvedError, UsageError


@dataclass(frozen=True)
class ScannedFile:
    """A file the scan read: path relative to the root, format, committed or local."""

    path: str
    kind: str
    committed: bool


@dataclass
class ScanResult:
    """What `cutover env scan` found under `root`."""

    root: Path
    files: list[ScannedFile]
    references: list[EnvReference]
    leftovers: list[CodeReference]
    proposals: list[Proposal]
    notes: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    """One file of a rewrite: path, format, and the values changed in it."""

    path: str
    kind: str
    changes: list[ValueChange]


@dataclass
class RewriteResult:
    """What `cutover env rewrite` changed (or, without apply, would change)."""

    root: Path
    applied: bool
    files: list[FileResult]
    diff: str
    notes: list[str] = field(default_factory=list)
    backup: str | None = None
    unchanged: int = 0
    unresolved: list[str] = field(default_factory=list)  # values a consumer would not resolve

    @property
    def changed(self) -> bool:
        """True when at least one file has a change."""
        return bool(self.files)


@dataclass
class RestoreResult:
    """What `cutover env restore` put back."""

    backup: str
    restored: list[str]
    unchanged: list[str]
    remaining: int = 0


@dataclass
class TemplateResult:
    """A rendered .env template."""

    env: str
    template: Path
    text: str
    databases: list[str]
    written: Path | None = None


def env_scan(root: Path, *, workdir: Path | None = None) -> ScanResult:
    """Find database references in env files, compose files and scripts under `root`, and
    leftovers elsewhere.
    """
    root = _existing(root)
    env_files, code_files = _files(root, workdir)
    found: list[scan.Found] = []
    leftovers: list[CodeReference] = []
    notes: list[str] = []
    for env_file in env_files:
        _bom, text = scan.read_text(env_file.path)
        slots, info = scan.slots_of(env_file.kind, text)
        found += scan.references(env_file, text, slots)
        leftovers += scan.leftovers(env_file.rel, text, env_file.kind)
        if info is not None:
            notes += [f"{env_file.rel}:{line}: {why}" for line, why in info.skipped]
    for code_file in code_files:
        _bom, text = scan.read_text(code_file.path)
        leftovers += scan.leftovers(code_file.rel, text, "code")
    proposed, proposal_notes = proposals.propose(found, root if root.is_dir() else root.parent)
    return ScanResult(
        root=root,
        files=[ScannedFile(f.rel, f.kind, f.committed) for f in env_files],
        references=[f.ref for f in found],
        leftovers=leftovers,
        proposals=proposed,
        notes=notes + proposal_notes,
    )


def env_rewrite(
    config: config_mod.Config,
    *,
    root: Path | None = None,
    workdir: Path = config_mod.DEFAULT_WORKDIR,
    apply: bool = False,
    literal_passwords: bool = False,
    database: str | None = None,
    from_env: tuple[str, ...] = (),
) -> RewriteResult:
    """Point every env value of the configured databases
    at Postgres; without `apply`, only the diff.

    A value its consumer (python-dotenv, docker compose, bash) would not resolve to the target
    stops `apply` before any file changes, unless its variable is in `from_env` (or the
    `from_environment` setting): the environment the app runs in provides it.
    """
    root = _existing(root or config.base_dir)
    targets = [convert.target_from_config(db) for db in config.database(database)]
    env_files, _code = _files(root, workdir)
    plans, notes, unresolved = rewrite.plan(env_files, targets, literal_passwords=literal_passwords)
    provided = set(from_env) | set(config.settings.from_environment)
    blocking = [u for u in unresolved if u.name not in provided]
    if apply:
        refuse_unresolved([u.message() for u in blocking])
    changed = [p for p in plans if p.changed]
    result = RewriteResult(
        root=root,
        applied=False,
        files=[FileResult(p.env_file.rel, p.env_file.kind, p.changes) for p in changed],
        diff=rewrite.diff(changed),
        notes=notes + [f"{u.message()}; the environment must provide it" for u in unresolved],
        unchanged=len(plans) - len(changed),
        unresolved=[u.message() for u in blocking],
    )
    if apply and changed:
        written = [
            backup.Written(
                p.env_file.path,
                p.env_file.rel,
                scan.to_bytes(p.bom, p.before),
                scan.to_bytes(p.bom, p.after),
            )
            for p in changed
        ]
        folder = backup.save(workdir, root, written)
        for item in written:
            backup.write_atomic(item.path, item.after)
        result.backup = folder.name
    result.applied = apply
    return result


def refuse_unresolved(unresolved: list[str]) -> None:
    """Stop before any file changes when rewritten values would not resolve where they are read."""
    if not unresolved:
        return
    named = re.search(r"\$\{(\w+)\}", unresolved[0])
    name = named[1] if named else "NAME"
    raise UnresolvedError(
        "these rewritten values would not resolve to the target where they are read:\n  "
        + "\n  ".join(unresolved),
        hint="source the env file in the script (set -a; . ./.env; set +a) or define the "
        "variable in the project's .env; if the environment the app runs in exports it, "
        f"say so: --from-env {name} (or [settings] from_environment)",
    )


def env_restore(
    workdir: Path = config_mod.DEFAULT_WORKDIR, *, backup_id: str | None = None, force: bool = False
) -> RestoreResult:
    """Put back the files of the latest (or the named) env backup."""
    done = backup.restore(workdir, backup_id, force=force)
    return RestoreResult(done.backup, list(done.restored), list(done.unchanged), done.remaining)


def env_template(
    config: config_mod.Config, env: str, *, output: Path | None = None, force: bool = False
) -> TemplateResult:
    """Render the .env template of `env` (dev, stg, prod…) for this project's databases."""
    path = templates.template_path(env, config.base_dir)
    targets = [convert.target_from_config(db) for db in config.databases]
    bom, text = scan.read_text(path)
    rendered = templates.render(text, targets)
    result = TemplateResult(env, path, rendered, [t.name for t in targets])
    if output is not None:
        if output.exists() and not force:
            raise UsageError(
                f"{output} already exists",
                path=str(output),
                hint="choose another --output, or --force to overwrite it",
            )
        backup.write_atomic(output, scan.to_bytes(bom, rendered))
        result.written = output
    return result


def _existing(root: Path) -> Path:
    if not root.exists():
        raise UsageError(f"no such file or folder: {root}", path=str(root))
    return root.resolve()


def _files(root: Path, workdir: Path | None) -> tuple[list[EnvFile], list[EnvFile]]:
    """Env files (compose `env_file:` targets included) and code files under `root`."""
    env_files, code_files = scan.walk(root, skip=(workdir,) if workdir else ())
    return scan.with_compose_env_files(
        root if root.is_dir() else root.parent, env_files
    ), code_files
