"""The shell reader: export lines, `KEY=… cmd`, docker -e, defaults, heredocs, inline URLs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cutover.envfiles import shell
from cutover.envfiles.spans import apply_edits, value_slots

SCRIPT = """\
#!/usr/bin/env bash
# 모든 서비스 시작
set -euo pipefail
export RSL_DATABASE_URL="mssql+pyodbc://sa:${MSSQL_SA_PASSWORD}@localhost:1433/rsl?driver=ODBC+Driver+18+for+SQL+Server"
export ROUTING_GROUPS_DATABASE_URL='sqlite:///./data/routing.db'
: "${MODEL_REGISTRY_URL:=sqlite:///./data/registry.db}"
MODEL_REGISTRY_URL=mssql+pymssql://reg:pw@sqlhost/registry uvicorn app.main:app --port 8000 &
docker run -d -e "DATABASE_URL=mssql+pyodbc://u:p@h/db" -e X=1 image # DATABASE_URL=comment
alembic -x dburl=sqlite:///data/app.db upgrade head
cat > .env <<'EOF'
RSL_DATABASE_URL=sqlite:///data/rsl.db
EOF
python - <<EOF2
print("sqlite:///in/python.db")
EOF2
FOO=a"b"'c'\\ d
echo "$(date) \\"quoted\\" ${HOME:-/root}" \\
  --url=sqlite:///continued.db
"""


def _by_key(text: str) -> dict[str | None, list[shell.Slot]]:
    found: dict[str | None, list[shell.Slot]] = {}
    for slot in shell.slots(text):
        found.setdefault(slot.key, []).append(slot)
    return found


def test_assignments_and_their_quoting() -> None:
    found = _by_key(SCRIPT)
    (rsl_export,) = [s for s in found["RSL_DATABASE_URL"] if s.fmt == "shell"]
    assert (rsl_export.line, rsl_export.quote) == (4, '"')
    assert found["ROUTING_GROUPS_DATABASE_URL"][0].quote == "'"
    (registry,) = found["MODEL_REGISTRY_URL"]
    assert (registry.line, registry.quote, registry.value) == (
        7,
        "",
        "mssql+pymssql://reg:pw@sqlhost/registry",
    )
    (docker_env,) = found["DATABASE_URL"]  # the one in the comment is not a value
    assert (
        docker_env.embedded
        and SCRIPT[docker_env.start : docker_env.end] == "mssql+pyodbc://u:p@h/db"
    )
    assert found["FOO"][0].quote == "mixed" and found["FOO"][0].value == "abc d"


def test_heredoc_lines_are_dotenv_slots() -> None:
    (heredoc,) = [s for s in _by_key(SCRIPT)["RSL_DATABASE_URL"] if s.fmt == "dotenv"]
    assert (heredoc.line, heredoc.value) == (11, "sqlite:///data/rsl.db")


def test_inline_urls_and_defaults() -> None:
    inners = [
        (inner.key, inner.line, inner.value)
        for slot in shell.slots(SCRIPT)
        for inner in value_slots(SCRIPT, slot)
        if slot.key in (None, "dburl")
    ]
    assert ("MODEL_REGISTRY_URL", 6, "sqlite:///./data/registry.db") in inners
    assert ("dburl", 9, "sqlite:///data/app.db") in inners
    assert (None, 18, "sqlite:///continued.db") in inners
    assert all(
        "python.db" not in value for _k, _l, value in inners
    )  # heredoc body of another program


@pytest.mark.parametrize(
    ("line", "value", "expected"),
    [
        (
            "export K='old'",
            "postgresql://u:${POSTGRES_PASSWORD}@h/db",
            'export K="postgresql://u:${POSTGRES_PASSWORD}@h/db"',
        ),
        ("export K='old'", "postgresql://u@h/db", "export K='postgresql://u@h/db'"),
        ("K=old cmd", "postgresql://u:${P}@h:5432/db", "K=postgresql://u:${P}@h:5432/db cmd"),
        (
            "K=old cmd",
            "postgresql://u@h/db?sslmode=require&connect_timeout=5",
            'K="postgresql://u@h/db?sslmode=require&connect_timeout=5" cmd',
        ),
        ('K="old"', 'a"b`c$d\\e', 'K="a\\"b\\`c\\$d\\\\e"'),
    ],
)
def test_encode_keeps_or_upgrades_quoting(line: str, value: str, expected: str) -> None:
    (slot,) = [s for s in shell.slots(line) if s.key == "K"]
    assert apply_edits(line, shell.edits_for(slot, value) or []) == expected


def test_rename_key() -> None:
    line = "export MSSQL_HOST=sql01  # 서버"
    (slot,) = shell.slots(line)
    assert (
        apply_edits(line, shell.edits_for(slot, "pg01", new_key="POSTGRES_HOST") or [])
        == "export POSTGRES_HOST=pg01  # 서버"
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to read the script back")
@pytest.mark.parametrize("quote", ["", "'", '"'])
@pytest.mark.parametrize(
    "value",
    [
        "postgresql+psycopg://app:${POSTGRES_PASSWORD}@db:5432/rsl?sslmode=require&connect_timeout=10",
        "Host=db;Port=5432;Database=rsl;Username=app;Password=${POSTGRES_PASSWORD}",
        "host=db dbname=rsl password='a b'",
        'odd $HOME `x` "q" \\ end',
    ],
)
def test_bash_reads_the_written_value(quote: str, value: str) -> None:
    script = f'export K={quote}old{quote}\nprintf %s "$K"\n'
    (slot,) = [s for s in shell.slots(script) if s.key == "K"]
    new = apply_edits(script, shell.edits_for(slot, value) or [])
    out = subprocess.run(
        ["bash", "-c", new],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "pw", "HOME": "/h"},
        check=True,
    )
    assert out.stdout == value.replace("${POSTGRES_PASSWORD}", "pw")
