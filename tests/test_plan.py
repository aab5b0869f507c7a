"""`cutover plan`: the assessment, its findings and blockers, its JSON schema; it loads nothing."""

from __future__ import annotations

import json
import random
import struct
import uuid
from pathlib import Path

import jsonschema
from click.testing import CliRunner
from conftest import rows
from psycopg import sql

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.demo import build_chat_db
from cutover.phases.plan import schema
from cutover.phases.plan_checks import RESERVED_WORDS
from cutover.urls import with_database


def write_config(tmp_path: Path, source: Path, target: str, extra: str = "") -> Path:
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        f'[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///{source}"\ntarget = "{target}"\n{extra}\n',
        encoding="utf-8",
    )
    return cfg


def invoke(cfg: Path, workdir: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(cfg), "--workdir", str(workdir), *args])


def test_plan_json_of_the_demo_database_validates_and_loads_nothing(tmp_path, pg_url, pg):
    build_chat_db(tmp_path / "chat.db", messages=300)
    (tmp_path / ".env").write_text("RSL_DATABASE_URL=sqlite:///chat.db\n")
    cfg = tmp_path / "cutover.toml"
    commands.init(
        cfg, source="sqlite:///chat.db", target=pg_url, name="chat", env_key="RSL_DATABASE_URL"
    )
    result = invoke(cfg, tmp_path / "w", "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.validate(data, schema())
    assert data["ok"] and data["summary"]["blocker"] == 0
    (db,) = data["databases"]
    assert (
        db["source"]["kind"] == "sqlite"
        and db["source"]["readable"]
        and db["source"]["size_bytes"] > 0
    )
    assert (
        db["target"]["reachable"]
        and db["target"]["can_create"]
        and db["target"]["version"].startswith("18")
    )
    assert [t["source"] for t in db["tables"]] == [
        "users",
        "conversations",
        "messages",
        "attachments",
        "message_embeddings",
    ]
    messages = next(t for t in db["tables"] if t["source"] == "messages")
    assert (
        messages["rows"] == 304
        and messages["sampled_rows"] == 304
        and messages["rows_per_second"] > 0
    )
    tokens = next(c for c in messages["columns"] if c["source"] == "tokens")
    # one message stored text in it: carried as text, as the app reads it back (issue 13 item 3)
    assert (tokens["declared"], tokens["pg_type"], tokens["coercion"], tokens["reason"]) == (
        "INTEGER",
        "text",
        "text",
        "sampled",
    )
    codes = {f["code"] for f in db["findings"]}
    assert {"invalid_json", "nul_in_text", "dynamic_typing", "suggested_type"} <= codes
    # its view translates: revision <db>_0003_views creates it, so it is no finding
    assert not codes & {"view", "view_untranslated"}
    assert (
        db["estimate"]["measured"] == "read, coerce, digest and COPY"
        and db["estimate"]["total_seconds"] > 0
    )
    assert [(c["path"], c["key"], c["before"]) for c in data["env"]["changes"]] == [
        (".env", "RSL_DATABASE_URL", "sqlite:///chat.db")
    ]
    assert "cutover run --phase 1" in data["next"]
    # nothing was loaded: no table, no state schema in the target
    assert (
        rows(
            pg,
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname IN ('public', '_cutover') AND relkind = 'r'",
        )
        == []
    )
    saved = json.loads((tmp_path / "w" / "plan.json").read_text())
    jsonschema.validate(saved, schema())


def test_plan_text_and_markdown_read_in_five_minutes(tmp_path, pg_url):
    build_chat_db(tmp_path / "chat.db", messages=200)
    cfg = tmp_path / "cutover.toml"
    commands.init(
        cfg, source="sqlite:///chat.db", target=pg_url, name="chat", env_key="RSL_DATABASE_URL"
    )
    text = invoke(cfg, tmp_path / "w", "plan")
    assert text.exit_code == 0, text.output
    for words in (
        "Database chat (RSL_DATABASE_URL)",
        "phase 2 estimate",
        "Findings",
        "warning",
        "Columns",
        "source type",
        "INTEGER PRIMARY KEY",
        "Next",
    ):
        assert words in text.stdout, words
    assert "plan: 0 blocker(s)" in text.output and "next: `cutover run --phase 1`" in text.output
    md = invoke(
        cfg, tmp_path / "w", "plan", "--format", "markdown", "--output", str(tmp_path / "plan.md")
    )
    assert md.exit_code == 0 and "wrote" in md.output
    page = (tmp_path / "plan.md").read_text()
    assert (
        page.startswith("# cutover plan")
        and "| severity | code |" in page
        and "### messages" in page
    )


def test_the_plan_finds_reserved_words_blobs_embeddings_and_invalid_utf8(
    make_sqlite, tmp_path, pg_url
):
    rng = random.Random(1)
    vec = [round(rng.uniform(-1, 1), 6) for _ in range(64)]
    src = make_sqlite(
        """
        CREATE TABLE "user" (id INTEGER PRIMARY KEY, "order" INTEGER, name TEXT);
        CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, emb_json TEXT, emb_blob BLOB, file BLOB);
        CREATE TABLE log (msg TEXT);
        INSERT INTO "user" VALUES (1, 2, 'kim');
        INSERT INTO log VALUES ('hello');
        INSERT INTO docs (id, body) VALUES (99, CAST(X'C328' AS TEXT));
        """,
        rows={
            "INSERT INTO docs (id, body, emb_json, emb_blob, file) VALUES (?, ?, ?, ?, ?)": [
                (
                    i,
                    f"doc {i}",
                    json.dumps(vec),
                    struct.pack("<64f", *vec),
                    rng.randbytes(2_100_000 if i == 1 else 100),
                )
                for i in range(1, 6)
            ]
        },
    )
    cfg = write_config(tmp_path, src, pg_url)
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    found = {(f.code, f.table, f.column): f for f in p.databases[0].findings}
    assert found[("reserved_word", "user", None)].severity == "warning"
    assert ("reserved_word", "user", "order") in found
    assert found[("no_primary_key", "log", None)].severity == "warning"
    blob = found[("large_blob", "docs", "file")]
    assert (
        blob.severity == "warning"
        and "2.0 MiB" in blob.message
        and "batch_size = " in (blob.fix or "")
    )
    emb_json = found[("embeddings", "docs", "emb_json")]
    assert (
        emb_json.severity == "info"
        and "64 numbers" in emb_json.message
        and "vector(64)" in (emb_json.fix or "")
    )
    emb_blob = found[("embeddings", "docs", "emb_blob")]
    assert "64 float32" in emb_blob.message and 'blob_format = "float32le"' in (emb_blob.fix or "")
    assert (
        "embeddings",
        "docs",
        "file",
    ) not in found  # random bytes of varying length are not embeddings
    utf8 = found[("invalid_utf8", "docs", "body")]
    assert (
        utf8.severity == "warning"
        and utf8.count == 1
        and "invalid_utf8 = 'replace'" in (utf8.fix or "")
    )
    assert p.ok
    jsonschema.validate(p.to_dict(), schema())


def test_blockers_exit_1_and_the_password_never_shows(make_sqlite, tmp_path):
    cfg = tmp_path / "cutover.toml"
    cfg.write_text(
        '[[databases]]\nname = "app"\nenv_key = "DATABASE_URL"\nsource = "sqlite:///missing.db"\ntarget = "postgresql://app:hunter2@127.0.0.1:9/db"\n'
    )
    for fmt in ("text", "json", "markdown"):
        result = invoke(cfg, tmp_path / "w", "plan", "--format", fmt)
        assert result.exit_code == 1, result.output
        assert "hunter2" not in result.output and "Traceback" not in result.output
    data = json.loads(
        result.stdout
        if fmt == "json"
        else invoke(cfg, tmp_path / "w", "plan", "--format", "json").stdout
    )
    jsonschema.validate(data, schema())
    codes = {f["code"]: f for f in data["databases"][0]["findings"]}
    assert (
        codes["target_unreachable"]["severity"] == "blocker"
        and codes["source_unreadable"]["severity"] == "blocker"
    )
    assert not data["ok"] and "fix the blockers" in data["next"]
    assert "next: fix the blockers" in result.output
    for path in (tmp_path / "w").rglob("*"):
        if path.is_file():
            assert "hunter2" not in path.read_text(errors="replace"), path


def test_a_user_without_create_privilege_is_a_blocker_with_the_grant(
    make_sqlite, tmp_path, pg_url, pg
):
    role = f"ro_{uuid.uuid4().hex[:8]}"
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'ro-pass-9'").format(sql.Identifier(role)))
    try:
        src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
        target = pg_url.replace("postgresql://postgres@", f"postgresql://{role}:ro-pass-9@")
        cfg = write_config(tmp_path, src, target)
        result = invoke(cfg, tmp_path / "w", "plan", "--format", "json")
        assert result.exit_code == 1, result.output
        data = json.loads(result.stdout)
        blocker = next(
            f for f in data["databases"][0]["findings"] if f["code"] == "no_create_privilege"
        )
        assert (
            blocker["severity"] == "blocker"
            and f"TO {role}" in blocker["fix"]
            and "GRANT CREATE" in blocker["fix"]
        )
        assert data["databases"][0]["target"]["can_create"] is False
        assert "ro-pass-9" not in result.output
    finally:
        pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_a_missing_target_database_is_created_by_phase_2(make_sqlite, tmp_path, pg_server):
    src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    cfg = write_config(tmp_path, src, with_database(pg_server, f"new_{uuid.uuid4().hex[:8]}"))
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    assert p.ok and not p.databases[0].target.database_exists
    assert "database_missing" in {f.code for f in p.databases[0].findings}


def test_tables_already_in_the_target_are_a_warning_until_cutover_loaded_them(
    make_sqlite, tmp_path, pg_url, pg
):
    src = make_sqlite(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a');"
    )
    cfg = write_config(tmp_path, src, pg_url)
    pg.execute("CREATE TABLE t (x int)")
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    existing = next(f for f in p.databases[0].findings if f.code == "existing_tables")
    assert existing.severity == "warning" and "dropped and replaced: t" in existing.message
    assert p.databases[0].target.existing_tables == ["t"]
    commands.run_phase2(config_mod.load(cfg), tmp_path / "w", yes=True)
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    again = next(f for f in p.databases[0].findings if f.code == "existing_tables")
    assert again.severity == "info" and "loaded by cutover" in again.message


def test_reserved_words_are_the_servers(pg):
    server = {
        r[0].upper()
        for r in rows(pg, "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')")
    }
    assert RESERVED_WORDS == server


def test_env_references_no_database_covers_are_warned_about(make_sqlite, tmp_path, pg_url):
    src = make_sqlite("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=sqlite:///{src}\nANALYTICS_URL=sqlite:///analytics.db\n"
    )
    (tmp_path / "backup.sh").write_text("#!/bin/sh\nsqlite3 app.db .dump > dump.sql\n")
    cfg = write_config(tmp_path, src, pg_url)
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    codes = [(f.code, f.severity) for f in p.env.findings]
    assert ("env_unconfigured", "warning") in codes and ("env_leftover", "warning") in codes
    assert any("ANALYTICS_URL" in f.message for f in p.env.findings)
    assert [c.key for c in p.env.changes] == ["DATABASE_URL"]


def test_a_vector_column_without_pgvector_on_the_server_is_a_blocker(make_sqlite, tmp_path, pg_url):
    from cutover.load.target import ServerInfo
    from cutover.phases import plan as plan_mod
    from cutover.schema.mapping import map_schema
    from cutover.sources import open_source

    src = make_sqlite(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, emb TEXT); INSERT INTO docs VALUES (1, '[0.1, 0.2]');"
    )
    cfg = config_mod.load(write_config(tmp_path, src, pg_url, 'columns."docs.emb" = "vector(2)"'))
    db = cfg.databases[0]
    source = open_source(db.source)
    try:
        splan = map_schema(source, db, cfg.settings)
    finally:
        source.close()
    result = plan_mod.DatabasePlan(
        db.name,
        db.env_key,
        db.schema_mode,
        db.target_schema,
        plan_mod.SourceCheck("", "sqlite"),
        plan_mod.TargetCheck(""),
    )
    without = ServerInfo(
        "16.4", 160004, "app", "app", True, None, None
    )  # what server_info reads from a server without pgvector
    plan_mod._target_findings(db, splan, None, without, result)
    blocker = next(f for f in result.findings if f.code == "pgvector_missing")
    assert blocker.severity == "blocker" and "docs.emb" in blocker.message
    assert "postgresql-16-pgvector" in (blocker.fix or "") and result.target.vector_needed


def test_names_that_collide_after_snake_case_are_reported(make_sqlite, tmp_path):
    src = make_sqlite(
        'CREATE TABLE "Orders" (id INTEGER PRIMARY KEY, "UserID" INTEGER, user_id INTEGER);'
    )
    cfg = write_config(tmp_path, src, "postgresql://postgres@127.0.0.1:9/x", "snake_case = true")
    p = commands.plan(config_mod.load(cfg), tmp_path / "w")
    found = next(f for f in p.databases[0].findings if f.code == "name_collision")
    assert found.severity == "warning" and (found.table, found.column) == ("Orders", "user_id")
    assert "named orders.user_id_2" in found.message
    assert any(
        f.code == "target_unreachable"
        and f.message.startswith("cannot connect to postgresql://postgres@127.0.0.1:9/x")
        for f in p.databases[0].findings
    )
