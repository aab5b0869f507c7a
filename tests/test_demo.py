"""`cutover demo`: builds its database, starts its own embedded Postgres, and loads it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from click.testing import CliRunner

from cutover import commands
from cutover.cli import cli


def test_demo_end_to_end():
    workdir = Path(tempfile.mkdtemp(prefix="cutover-test-demo-"))
    try:
        result = commands.demo(workdir, messages=400)
        (rep,) = result.phase2.reports
        by = {r.table: r for r in rep.results}
        assert all(r.reconciled for r in rep.results)
        # the text in messages.tokens is carried (as text); NUL, a non-date and an orphan are not
        assert (by["messages"].written, by["messages"].rejected) == (401, 3)
        assert by["users"].rejected == 1 and by["attachments"].written == 4
        url = result.psql.split()[-1]
        with psycopg.connect(url) as conn:
            assert (
                conn.execute("SELECT count(*) FROM messages WHERE content ~ '[가-힣]'").fetchone()[
                    0
                ]
                > 0
            )
            assert conn.execute(
                "SELECT pg_typeof(metadata)::text FROM messages LIMIT 1"
            ).fetchone() == ("jsonb",)
        # a second demo run replaces the first cleanly
        again = commands.demo(workdir, messages=400)
        assert again.phase2.reports[0].results[2].written == 401
        # the stop command it prints runs without the virtualenv on PATH
        stop = shlex.split(again.stop_hint.partition("  (or:")[0])
        done = subprocess.run(stop, env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        assert CliRunner().invoke(cli, ["--workdir", str(workdir), "demo", "--stop"]).exit_code == 0
        shutil.rmtree(workdir, ignore_errors=True)
