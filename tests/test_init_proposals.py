"""`cutover init` from a scan proposes what the app really has."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from cutover import commands
from cutover import config as config_mod

ENV = """\
RSL_DATABASE_URL=sqlite:///./data/rsl.db
RSL_READONLY_URL=sqlite:///data/rsl.db
MODEL_REGISTRY_URL=sqlite:///data/registry.db
POSTGRES_USER=app
POSTGRES_HOST=pg.internal
POSTGRES_PORT=6432
POSTGRES_PASSWORD=Tr0ub4dor-3
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rsl.db").write_bytes(b"")
    (tmp_path / ".env").write_text(ENV)
    return tmp_path


def test_one_database_per_source_targets_from_the_apps_postgres_keys(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = commands.init_from_scan(project / "cutover.toml", project)
    by_name = {db.name: db for db in result.added}
    assert len(by_name) == 2, by_name  # two keys, one SQLite file: one database
    rsl = next(db for db in result.added if db.env_key == "RSL_DATABASE_URL")
    assert rsl.target.startswith("postgresql://app:${POSTGRES_PASSWORD:-}@pg.internal:6432/")
    assert any("RSL_READONLY_URL names the same database" in n for n in result.notes)
    missing = [n for n in result.notes if "does not exist" in n]
    assert len(missing) == 1 and "data/registry.db" in missing[0]


def test_every_key_of_a_merged_database_is_rewritten(tmp_path: Path) -> None:
    project = _project(tmp_path)
    commands.init_from_scan(project / "cutover.toml", project)
    config = config_mod.load(project / "cutover.toml", environ={})
    commands.env_rewrite(config, root=project, workdir=project / ".cutover", apply=True)
    values = dotenv_values(project / ".env")
    assert values["RSL_DATABASE_URL"] == values["RSL_READONLY_URL"]
    assert (values["RSL_DATABASE_URL"] or "").startswith("postgresql+psycopg://app:")
    assert "@pg.internal:6432/" in (values["RSL_DATABASE_URL"] or "")
