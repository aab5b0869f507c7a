"""Plan a rewrite: which values belong to which database, their new text, and a redacted diff.

A value belongs to a database when its key is the database's `env_key` (or the ${KEY:-default} of
it), one of its `split_keys`, or when it names the same database as its `source` (inline URLs).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from cutover import envkeys as keys
from cutover import redaction, urls
from cutover.envfiles import convert, dotenv, resolve, scan
from cutover.envfiles.convert import Placement, Target
from cutover.envfiles.resolve import Unresolved
from cutover.envfiles.scan import EnvFile
from cutover.envfiles.spans import Edit, Slot, apply_edits, value_slots
from cutover.errors import UsageError

_REFERENCED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# Password flags of the tools scripts call (sqlcmd/bcp -P, --password, --requirepass): their values
# may sit on a diff's context lines. Values that are only a $VAR or ${VAR} reference stay readable.
_FLAG_PASSWORD = re.compile(
    r"(?P<head>(?<!\S)(?:-P|--[\w-]*pass(?:word)?|--requirepass)(?:=|[ \t]+))"
    r"(?P<pw>(?![\"']?\$\{?[A-Za-z_]\w*\}?[\"']?(?:\s|$))(?:'[^']*'|\"[^\"]*\"|[^\s'\"]+))"
)


@dataclass(frozen=True)
class ValueChange:
    """One value rewritten; `before` and `after` are redacted."""

    path: str
    line: int
    key: str | None
    database: str
    before: str
    after: str
    context: str = ""


@dataclass
class FilePlan:
    """One file's rewrite: original and new text (never
    shown: they hold secrets) and the changes.
    """

    env_file: EnvFile
    bom: str
    before: str = field(repr=False)
    after: str = field(repr=False)
    changes: list[ValueChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the new text differs from the file."""
        return self.before != self.after


@dataclass
class _Compose:
    """What compose files tell about hosts: their services, and the one running Postgres."""

    services: set[str] = field(default_factory=set)
    postgres_services: set[str] = field(default_factory=set)
    reads: set[str] = field(default_factory=set)  # keys compose interpolates: ${KEY}
    reads_dotenv: bool = False  # a service loads .env with env_file

    @property
    def postgres(self) -> str | None:
        """The service a container reaches Postgres at (the first one, by name)."""
        return min(self.postgres_services, default=None)


def plan(
    env_files: list[EnvFile], targets: list[Target], *, literal_passwords: bool
) -> tuple[list[FilePlan], list[str], list[Unresolved]]:
    """The rewrite of every file (changed or not), notes for the user (redacted), and the
    rewritten values a consumer would not resolve to the target (`resolve`)."""
    texts = {f.path: scan.read_text(f.path) for f in env_files}
    targets = [_known_password(t, env_files, texts) for t in targets]
    parsed = {f.path: scan.slots_of(f.kind, texts[f.path][1]) for f in env_files}
    hosts = _Compose()
    for compose_slots, info in parsed.values():
        if info is not None:
            hosts.services |= set(info.images)
            hosts.postgres_services |= set(info.postgres_services)
            hosts.reads |= {
                name for slot in compose_slots for name in _REFERENCED.findall(slot.value)
            }
            hosts.reads_dotenv |= any(
                written.rsplit("/", 1)[-1] == ".env" for written, _line, _service in info.env_files
            )
    plans: list[FilePlan] = []
    planners: list[_FilePlanner] = []
    notes: list[str] = []
    compose_dirs = {f.path.parent for f in env_files if f.kind == "compose"}
    for env_file in env_files:
        bom, text = texts[env_file.path]
        slots, _info = parsed[env_file.path]
        planner = _FilePlanner(env_file, text, targets, hosts, literal_passwords)
        for slot in slots:
            planner.slot(slot)
        planner.define_encoded()
        after = apply_edits(text, planner.edits)
        plans.append(FilePlan(env_file, bom, text, after, planner.changes))
        notes += (
            planner.notes
            + _reference_notes(env_file, after, planner)
            + _unmatched(env_file, text, slots, planner.changes)
        )
        if env_file.path.name == ".env" and env_file.path.parent in compose_dirs and hosts.postgres:
            notes += _shared_dotenv_notes(env_file, planner.changes, hosts)
        planners.append(planner)
    return plans, notes, _unresolved(plans, planners, compose_dirs)


def display_text(kind: str, text: str) -> str:
    """`text` as it may be shown: secret values masked, URL and keyword passwords redacted."""
    try:
        slots, _ = scan.slots_of(kind, text)
    except UsageError:
        slots = []
    masks = [
        Edit(s.start, s.end, redaction.REDACTED)
        for s in slots
        if s.key
        and (keys.is_secret(s.key) or keys.role_of(s.key) == "password")
        and s.value
        and not redaction.is_reference(s.value)
    ]
    shown = urls.redact(apply_edits(text, masks))
    shown = _FLAG_PASSWORD.sub(lambda m: m["head"] + redaction.REDACTED, shown)
    return shown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def diff(plans: list[FilePlan]) -> str:
    """A unified diff of every changed file, passwords redacted."""
    chunks: list[str] = []
    for item in plans:
        if not item.changed:
            continue
        before = display_text(item.env_file.kind, item.before).splitlines()
        after = display_text(item.env_file.kind, item.after).splitlines()
        rel = item.env_file.rel
        chunks += difflib.unified_diff(before, after, f"a/{rel}", f"b/{rel}", lineterm="")
    return "\n".join(chunks) + ("\n" if chunks else "")


class _FilePlanner:
    """Collects the edits, changes and notes of one file."""

    def __init__(
        self, env_file: EnvFile, text: str, targets: list[Target], hosts: _Compose, literal: bool
    ) -> None:
        self.env_file = env_file
        self.text = text
        self.targets = targets
        self.hosts = hosts
        self.literal = literal
        self.edits: list[Edit] = []
        self.changes: list[ValueChange] = []
        self.notes: list[str] = []
        self.references_written: set[str] = set()
        self.lines_reading: list[tuple[int, str]] = []  # (line, variable) of references written

    def slot(self, slot: Slot) -> None:
        """Plan the edits for one slot: a split key, a
        database's own key, or a URL naming its source.
        """
        if slot.fmt == "compose" and slot.context and slot.context in self.hosts.postgres_services:
            # the Postgres server's own settings (POSTGRES_USER, POSTGRES_DB) configure the server,
            # not an app
            return
        for target in self.targets:
            split = target.split_target(slot.key) if slot.key else None
            if split is not None and split[0] not in ("url", "dsn"):
                self._split(slot, target, *split)
                return
            if split is not None:
                self._urls(slot, target, split[1])
                return
        inners = value_slots(self.text, slot)
        for inner in inners:
            owner = self._owner(inner, slot)
            if owner is not None:
                self._url(inner, owner, None, by_key=(inner.key or slot.key) == owner.env_key)
        if (
            not inners
            and slot.key
            and not redaction.is_reference(slot.value)
            and any(slot.key == t.env_key for t in self.targets)
        ):
            shown = urls.redact(slot.value)
            self.notes.append(
                f"{self._where(slot)}: {slot.key} is not a connection string ({shown!r}); left "
                "as is"
            )

    def _urls(self, slot: Slot, target: Target, new_key: str) -> None:
        for inner in value_slots(self.text, slot):
            self._url(inner, target, new_key if inner.start == slot.start else None)

    def _owner(self, inner: Slot, slot: Slot) -> Target | None:
        key = inner.key or slot.key
        for target in self.targets:
            if key == target.env_key:
                return target
        try:
            parsed = urls.parse(inner.value)
        except (UsageError, ValueError):
            return None
        same = [
            t
            for t in self.targets
            if t.source is not None and convert.same_database(parsed, t.source)
        ]
        if not same and inner.key is None and parsed.kind == "sqlite":
            # container paths differ from host paths: an inline sqlite URL matches by file name when
            # unique
            name = (parsed.database or "").rsplit("/", 1)[-1]
            same = [
                t
                for t in self.targets
                if t.source
                and t.source.kind == "sqlite"
                and (t.source.database or "").rsplit("/", 1)[-1] == name
            ]
        return same[0] if len(same) == 1 else None

    def _url(
        self, inner: Slot, target: Target, new_key: str | None, *, by_key: bool = False
    ) -> None:
        old_host = _host_of(inner.value)
        place = self._placement(old_host)
        if not self._resolves_here(target, inner.line):
            place = replace(place, literal_passwords=True)
        value, dropped = convert.url_value(inner.value, inner.key, target, place, by_key=by_key)
        for note in dropped:
            self.notes.append(f"{self._where(inner)}: {note}")
        if self.env_file.kind == "compose" and place.host is None and convert.is_local(target.url):
            self.notes.append(
                f"{self._where(inner)}: {target.url.host or 'localhost'} inside a container is "
                "the container itself; "
                "add a Postgres service to this compose file (see cutover's docker-compose.yml) "
                "or use a reachable host"
            )
        self._set(inner, target, value, new_key, "url")

    def _split(self, slot: Slot, target: Target, role: str, new_key: str) -> None:
        place = self._placement(slot.value if role == "host" else None)
        value = convert.split_value(role, new_key, target, place, renamed=new_key != slot.key)
        if role == "host" and slot.value in convert.LOCAL_HOSTS and value in convert.LOCAL_HOSTS:
            value = slot.value  # 127.0.0.1 and localhost are the same server: no churn
        if role == "password" and value == "" and not self.env_file.committed:
            self.notes.append(
                f"{self._where(slot)}: {new_key} is left empty (the old value was "
                f"{slot.key}'s); set it, or rerun with --literal-passwords"
            )
        stale = (
            role == "password"
            and value is None
            and slot.value
            and not redaction.is_reference(slot.value)
            and slot.value != target.url.password
        )
        if stale and not self.env_file.committed:
            self.notes.append(
                f"{self._where(slot)}: {slot.key} keeps its value, which is not the target's "
                "password; set it, or rerun with --literal-passwords"
            )
        self._set(slot, target, slot.value if value is None else value, new_key, role)

    def _placement(self, old_host: str | None) -> Placement:
        in_compose = (
            self.env_file.kind == "compose"
            or self.env_file.container
            or (old_host is not None and old_host in self.hosts.services)
        )
        host = self.hosts.postgres if in_compose else None
        return Placement(self.env_file.committed, self.literal, host)

    def _set(self, slot: Slot, target: Target, value: str, new_key: str | None, role: str) -> None:
        renamed = new_key if new_key and new_key != slot.key else None
        if value == slot.value and not renamed:
            return
        edits = scan.edits_for(
            slot,
            value,
            new_key=renamed,
            live_refs=not (self.literal and not self.env_file.committed),
        )
        if edits is None:
            self.notes.append(
                f"{self._where(slot)}: the new value of {slot.key or 'this URL'} cannot be "
                "written in this quoting; edit it by hand"
            )
            return
        self.edits += edits
        for name in (target.password_env, target.password_env + resolve.ENCODED_SUFFIX):
            if "${" + name + "}" in value:
                self.references_written.add(name)
                self.lines_reading.append((slot.line, name))
        self.changes.append(
            ValueChange(
                path=self.env_file.rel,
                line=slot.line,
                key=(f"{slot.key} → {renamed}" if renamed else slot.key),
                database=target.name,
                before=scan.display_value(slot.key, role, slot.value),
                after=scan.display_value(renamed or slot.key, role, value),
                context=slot.context,
            )
        )

    def _where(self, slot: Slot) -> str:
        return f"{self.env_file.rel}:{slot.line}"

    def _local_dotenv(self) -> bool:
        return (
            self.env_file.kind == "dotenv"
            and not self.env_file.committed
            and not self.env_file.container
        )

    def _resolves_here(self, target: Target, line: int) -> bool:
        """False when this local .env holds the password but python-dotenv would not read it
        into the reference on `line` (assigned below it, or not in the form a URL needs)."""
        password = target.url.password
        if not self._local_dotenv() or self.literal or not password:
            return True
        name = resolve.url_variable(target.password_env, password)
        held = [
            value
            for key in (name, target.password_env)
            for _line, value in resolve.dotenv_definitions(self.text, key)
            if value  # an empty one is a placeholder (a renamed split key's), not the password
        ]
        if not held:
            return True  # the file does not hold it: the app's environment does (see the notes)
        above = resolve.dotenv_value_above(self.text, name, line)
        wanted = password if name == target.password_env else resolve.encoded(password)
        return above == wanted

    def define_encoded(self) -> None:
        """In a local .env holding a password a URL cannot carry as is, add the variable URLs
        read (`<password_env>_URLENCODED`, the encoded form) right after it."""
        if not self._local_dotenv():
            return
        for target in self.targets:
            password = target.url.password
            name = resolve.url_variable(target.password_env, password)
            if password is None or name == target.password_env:
                continue
            if resolve.dotenv_definitions(self.text, name) or any(
                c.key == name for c in self.changes
            ):
                continue
            slots = [s for s in dotenv.slots(self.text) if s.key == target.password_env and s.value]
            if not slots:
                continue
            eol = re.compile(r"\r\n|\n").search(self.text, slots[-1].end)
            line = f"{name}={resolve.encoded(password)}"
            if eol is None:
                newline = "\r\n" if "\r\n" in self.text else "\n"
                self.edits.append(Edit(len(self.text), len(self.text), newline + line))
            else:
                self.edits.append(Edit(eol.end(), eol.end(), line + eol.group(0)))
            self.changes.append(
                ValueChange(
                    self.env_file.rel,
                    slots[-1].line + 1,
                    name,
                    target.name,
                    "",
                    redaction.REDACTED,
                    "added: URLs read the password percent-encoded from it",
                )
            )


def _known_password(target: Target, env_files: list[EnvFile], texts: dict) -> Target:
    """The target with its password; when cutover.toml's is empty (its variable is not exported),
    the one the project's local .env files assign to the password variable."""
    if target.url.password != "":
        return target
    for env_file in env_files:
        local = env_file.kind == "dotenv" and not env_file.committed and not env_file.container
        found = (
            dotenv.assignments(texts[env_file.path][1]).get(target.password_env) if local else None
        )
        if found and not redaction.is_reference(found):
            return replace(target, url=replace(target.url, password=found))
    return target


def _unresolved(
    plans: list[FilePlan], planners: list[_FilePlanner], compose_dirs: set
) -> list[Unresolved]:
    """References written into committed files (compose, scripts) their consumer would not find."""
    after = {p.env_file.path.resolve(): p.after for p in plans}
    found: list[Unresolved] = []
    for item, planner in zip(plans, planners, strict=True):
        env_file = item.env_file
        for line, name in planner.lines_reading:
            if env_file.kind == "shell":
                ok, why = resolve.shell_check(item.after, name, line, env_file.path, after)
                consumer = "bash"
            elif env_file.kind == "compose" or env_file.container:
                folders = [d for d in compose_dirs if d in env_file.path.parents]
                project = (
                    max(folders or [env_file.path.parent], key=lambda d: len(d.parts)) / ".env"
                )
                text = after.get(project.resolve())
                if text is None and project.is_file():
                    text = scan.read_text(project)[1]
                ok, why = resolve.compose_check(name, text, ".env")
                ok = ok or (env_file.container and name in dotenv.assignments(item.after))
                consumer = "docker compose"
            else:
                continue  # .env: python-dotenv (handled while planning); examples are templates
            if not ok:
                found.append(Unresolved(env_file.rel, line, name, consumer, why))
    return found


def _host_of(value: str) -> str | None:
    try:
        return urls.parse(value).host
    except (UsageError, ValueError):
        return None


def _unmatched(
    env_file: EnvFile, text: str, slots: list[Slot], changes: list[ValueChange]
) -> list[str]:
    """SQLite/MSSQL connection strings no database of cutover.toml claimed."""
    changed = {c.line for c in changes}
    return [
        f"{env_file.rel}:{found.ref.line}: {found.ref.key or 'inline URL'} ({found.ref.kind}) "
        "is not a database of cutover.toml; left as is"
        for found in scan.references(env_file, text, slots)
        if found.ref.role in ("url", "dsn")
        and found.ref.kind in urls.SOURCE_KINDS
        and found.ref.line not in changed
    ]


def _shared_dotenv_notes(
    env_file: EnvFile, changes: list[ValueChange], hosts: _Compose
) -> list[str]:
    """A project's .env serves both the host and docker
    compose; a local host only works on the host.
    """
    local = [
        c
        for c in changes
        if any(f"@{h}" in c.after or f"Host={h}" in c.after for h in convert.LOCAL_HOSTS)
    ]
    return [
        f"{env_file.rel}:{c.line}: {c.key} points at localhost, right on the host; docker "
        "compose also reads it "
        f"from {env_file.rel}, and inside its containers Postgres is {hosts.postgres}:5432"
        for c in local
        if hosts.reads_dotenv or c.key in hosts.reads
    ]


def _reference_notes(env_file: EnvFile, after: str, planner: _FilePlanner) -> list[str]:
    """Warn when a local .env now reads ${POSTGRES_PASSWORD} but does not define it."""
    if (
        env_file.kind != "dotenv"
        or env_file.committed
        or env_file.container
        or not planner.references_written
    ):
        # committed files must not define it; compose interpolates container env files itself
        return []
    defined = set(dotenv.assignments(after))
    return [
        f"{env_file.rel} now reads ${{{name}}}, which it does not define: export {name}, add it "
        f"to {env_file.rel}, "
        "or rerun with --literal-passwords"
        for name in sorted(planner.references_written - defined)
    ]
