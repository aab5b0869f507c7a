"""One base exception; every failure the user can meet is a CutoverError with context and a hint."""

from __future__ import annotations

from typing import Any

# Exit codes (DESIGN.md): 0 done, 1 checks failed, 2 usage or configuration, 3 runtime failure.
EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_USAGE = 2
EXIT_RUNTIME = 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT (128 + 2)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15): a supervisor, `kill` or `docker stop`


class CutoverError(Exception):
    """Base error: a message, context attributes (table, column, key, path, line) and a hint."""

    exit_code = EXIT_RUNTIME
    transient = False

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = {k: v for k, v in context.items() if v is not None}
        for key, value in self.context.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.context.items() if k in _SHOWN_CONTEXT)
        text = f"{self.message} ({where})" if where else self.message
        return text

    def render(self) -> str:
        """The message, then the hint on its own line, as the CLI shows it."""
        return f"{self}\n  hint: {self.hint}" if self.hint else str(self)


_SHOWN_CONTEXT = ("path", "line", "database", "table", "column", "key")


class ConfigError(CutoverError):
    """cutover.toml is missing, malformed or inconsistent."""

    exit_code = EXIT_USAGE


class UsageError(CutoverError):
    """A command was asked for something it cannot do as asked."""

    exit_code = EXIT_USAGE


class UnknownChoiceError(UsageError):
    """A lookup failed; the message lists the valid choices."""

    def __init__(
        self, what: str, value: str, choices: list[str] | tuple[str, ...], **context: Any
    ) -> None:
        listed = ", ".join(sorted(choices)) or "(none)"
        super().__init__(f"unknown {what} {value!r}; expected one of: {listed}", **context)
        self.choices = list(choices)


class UnresolvedError(UsageError):
    """A rewritten env value would not resolve to the target where the app reads it."""


class SourceError(CutoverError):
    """The source database cannot be opened or read."""


class TargetError(CutoverError):
    """The target Postgres refused something: connection, permission, DDL."""


class TransientError(TargetError):
    """A failure worth retrying: connection reset, admin shutdown, serialization failure."""

    transient = True


class SchemaMismatchError(CutoverError):
    """Source and an existing target schema do not fit; nothing was loaded."""

    exit_code = EXIT_CHECKS_FAILED


class BadValueError(CutoverError):
    """A value cannot be carried and the policy is to abort (--on-error=abort)."""

    exit_code = EXIT_CHECKS_FAILED


class ChecksFailed(CutoverError):
    """The run finished but something did not reconcile (rejects, parity, blockers)."""

    exit_code = EXIT_CHECKS_FAILED


class FileError(CutoverError):
    """A file or folder cutover needs cannot be read or written (permissions, full disk)."""


_FILE_HINTS = {
    13: "make it writable for this user (chmod/chown), or pass --workdir DIR elsewhere",
    30: "the file system is read-only: pass --workdir DIR on a writable one",
    28: "free some space there, or pass --workdir DIR on a disk with room",
    2: "check the path (is the folder there?)",
}


def file_error(exc: OSError, doing: str | None = None) -> FileError:
    """An OSError as a one-line FileError naming the path (and what cutover was doing)."""
    path = exc.filename if exc.filename is not None else None
    reason = exc.strerror or type(exc).__name__
    text = f"{doing}: {reason}" if doing else reason
    if path is not None:
        text += f": {path}"
        if exc.filename2 is not None:
            text += f" → {exc.filename2}"
    return FileError(text, hint=_FILE_HINTS.get(exc.errno or 0))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is so it stops as after Ctrl-C: the phase is recorded as
    interrupted, phase 2's committed batches stay, and `cutover status` says what resumes it.
    """

    how = "terminated (SIGTERM)"


class ReaderStopped(Exception):
    """A columnar reader gave up on a source (a value of another type, a collation it lacks).

    Never reaches a user: the load hands the rest of the key range to the Python row path.
    """
