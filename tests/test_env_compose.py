"""The compose reader: environment maps and lists, anchors, env_file, inline URLs, exact spans."""

from __future__ import annotations

import pytest

from cutover.envfiles import compose
from cutover.envfiles.spans import apply_edits, value_slots

COMPOSE = """\
version: "3.9"
x-db-env: &db-env
  RSL_DATABASE_URL: ${RSL_DATABASE_URL:-mssql+pyodbc://sa:${MSSQL_SA_PASSWORD}@mssql:1433/rsl?driver=ODBC+Driver+18+for+SQL+Server}
services:
  api:
    image: ghcr.io/acme/rsl-api:latest
    env_file:
      - .env
      - path: ./config/registry.env
        required: false
    environment:
      <<: *db-env
      MODEL_REGISTRY_URL: "mssql+pymssql://registry:${REGISTRY_PW}@mssql/registry"  # 레지스트리
      'QUOTED_KEY': 'it''s'
    command: ["alembic", "-x", "url=sqlite:///data/rsl.db", "upgrade", "head"]
  worker:
    image: ghcr.io/acme/rsl-worker
    env_file: .env
    environment:
    - ROUTING_GROUPS_DATABASE_URL=sqlite+aiosqlite:////data/routing.db
    - "DATABASE_URL=mssql+pyodbc://u:p@mssql/app?driver=ODBC+Driver+18+for+SQL+Server"
    - "ESCAPED=a\\"b"
    - PASS_THROUGH
    command: >
      python -m worker --db sqlite:///x.db
  db:
    image: pgvector/pgvector:pg16
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
"""


def _by_key(info: compose.ComposeFile) -> dict[str, compose.Slot]:
    return {s.key: s for s in info.slots if s.key}


def test_finds_env_values_in_maps_lists_and_anchors() -> None:
    info = compose.parse(COMPOSE)
    found = _by_key(info)
    assert found["RSL_DATABASE_URL"].line == 3
    assert (
        found["MODEL_REGISTRY_URL"].value
        == "mssql+pymssql://registry:${REGISTRY_PW}@mssql/registry"
    )
    assert found["MODEL_REGISTRY_URL"].context == "api"
    assert found["QUOTED_KEY"].value == "it's"
    assert (
        found["ROUTING_GROUPS_DATABASE_URL"].embedded
        and found["ROUTING_GROUPS_DATABASE_URL"].context == "worker"
    )
    assert found["DATABASE_URL"].quote == '"' and found["DATABASE_URL"].embedded
    assert found["ESCAPED"].lead == "ESCAPED=" and found["ESCAPED"].value == 'a"b'
    assert "PASS_THROUGH" not in found


def test_env_files_images_and_postgres_services() -> None:
    info = compose.parse(COMPOSE)
    assert [(path, service) for path, _line, service in info.env_files] == [
        (".env", "api"),
        ("./config/registry.env", "api"),
        (".env", "worker"),
    ]
    assert info.images["db"] == "pgvector/pgvector:pg16"
    assert info.postgres_services == ["db"]


def test_spans_are_exact() -> None:
    info = compose.parse(COMPOSE)
    for slot in info.slots:
        raw = COMPOSE[slot.start : slot.end]
        if slot.embedded or not slot.quote:
            assert raw == slot.value or slot.lead
        else:
            assert raw[0] == raw[-1] == slot.quote


def test_inline_urls_in_flow_sequences_and_block_scalars() -> None:
    info = compose.parse(COMPOSE)
    inline = [
        (inner.line, inner.value)
        for slot in info.slots
        if slot.key is None
        for inner in value_slots(COMPOSE, slot)
    ]
    assert inline == [(15, "sqlite:///data/rsl.db"), (25, "sqlite:///x.db")]
    for slot in info.slots:
        for inner in value_slots(COMPOSE, slot):
            assert COMPOSE[inner.start : inner.end] == inner.value or inner is slot


def test_default_of_reference_is_its_own_slot() -> None:
    info = compose.parse(COMPOSE)
    (inner,) = value_slots(COMPOSE, _by_key(info)["RSL_DATABASE_URL"])
    assert inner.context == "default of ${RSL_DATABASE_URL}"
    assert COMPOSE[inner.start : inner.end] == inner.value


@pytest.mark.parametrize(
    ("key", "value", "expected_line"),
    [
        (
            "MODEL_REGISTRY_URL",
            "postgresql+psycopg://r:${POSTGRES_PASSWORD}@db:5432/registry",
            '      MODEL_REGISTRY_URL: "postgresql+psycopg://r:${POSTGRES_PASSWORD}@db:5432/registry"  # 레지스트리',
        ),
        (
            "ROUTING_GROUPS_DATABASE_URL",
            "postgresql+psycopg://u@db:5432/routing",
            "    - ROUTING_GROUPS_DATABASE_URL=postgresql+psycopg://u@db:5432/routing",
        ),
        (
            "DATABASE_URL",
            "postgresql+psycopg://u:${P}@db/app",
            '    - "DATABASE_URL=postgresql+psycopg://u:${P}@db/app"',
        ),
        ("ESCAPED", 'x"y', '    - "ESCAPED=x\\"y"'),
        ("QUOTED_KEY", "new 'one'", "      'QUOTED_KEY': 'new ''one'''"),
    ],
)
def test_edits_change_only_the_value(key: str, value: str, expected_line: str) -> None:
    slot = _by_key(compose.parse(COMPOSE))[key]
    edits = compose.edits_for(slot, value)
    assert edits is not None
    new = apply_edits(COMPOSE, edits)
    changed = [(a, b) for a, b in zip(COMPOSE.splitlines(), new.splitlines()) if a != b]
    assert [b for _a, b in changed] == [expected_line]
    assert _by_key(compose.parse(new))[key].value == value


def test_rename_in_map_and_list() -> None:
    text = "services:\n  app:\n    environment:\n      MSSQL_HOST: sql01\n  other:\n    environment:\n      - MSSQL_PORT=1433\n"
    found = _by_key(compose.parse(text))
    edits = (compose.edits_for(found["MSSQL_HOST"], "db", new_key="POSTGRES_HOST") or []) + (
        compose.edits_for(found["MSSQL_PORT"], "5432", new_key="POSTGRES_PORT") or []
    )
    assert (
        apply_edits(text, edits)
        == "services:\n  app:\n    environment:\n      POSTGRES_HOST: db\n  other:\n    environment:\n      - POSTGRES_PORT=5432\n"
    )


def test_yaml_reads_edited_values_back() -> None:
    import yaml

    info = compose.parse(COMPOSE)
    edits = []
    for slot in info.slots:
        if slot.key in ("MODEL_REGISTRY_URL", "DATABASE_URL", "ESCAPED", "QUOTED_KEY"):
            edits += compose.edits_for(slot, "p://u:${P}@h/d?a=1&b='2'\"") or []
    data = yaml.safe_load(apply_edits(COMPOSE, edits))
    assert (
        data["services"]["api"]["environment"]["MODEL_REGISTRY_URL"] == "p://u:${P}@h/d?a=1&b='2'\""
    )


def test_crlf_and_comments_survive() -> None:
    text = "services:\r\n  app:\r\n    environment:\r\n      # 데이터베이스\r\n      DATABASE_URL: sqlite:///app.db # old\r\n"
    (slot,) = [s for s in compose.parse(text).slots if s.key]
    new = apply_edits(text, compose.edits_for(slot, "postgresql://u@h/app") or [])
    assert new == text.replace("sqlite:///app.db", "postgresql://u@h/app")
