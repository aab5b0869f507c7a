"""Checklist templates (package data, stable ids) and the state that ticks them."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from cutover.errors import UnknownChoiceError, UsageError
from cutover.phases import checklists
from cutover.phases.checklists import PROJECT, State

# the items `cutover run` ticks; every other item needs a person
AUTO = {
    "p1.scan",
    "p1.rewrite",
    "p1.backup",
    "p2.preflight",
    "p2.schema",
    "p2.data",
    "p2.rejects",
    "p2.keys",
    "p3.parity",
    "p3.schema",
    "p3.env-leftovers",
    "p3.code-leftovers",
    "p3.code",
    "p3.app-tests",
    "p3.report",
}


def test_templates_ship_as_package_data_with_unique_stable_ids():
    folder = resources.files("cutover.checklists")
    assert all(folder.joinpath(f"phase{n}.md").is_file() for n in (1, 2, 3))
    found = checklists.items()
    ids = [i.id for i in found]
    assert len(ids) == len(set(ids))
    assert all(i.id.startswith(f"p{i.phase}.") for i in found)
    assert {i.id for i in found if i.auto} == AUTO


@pytest.mark.parametrize(
    "item_id, words",
    [
        ("p1.environments", ["dev", "stg", "prod"]),
        ("p1.secrets", ["secret store"]),
        ("p1.pool-retry", ["retries", "pool"]),
        ("p1.monitoring", ["monitored"]),
        ("p2.pg-dump", ["pg_dump"]),
        ("p2.ddl-order", ["alembic upgrade head"]),
        ("p2.schema", ["DDL order"]),
        ("p2.rollback", ["rollback", "cutover env restore"]),
        ("p3.docs", ["PostgreSQL"]),
    ],
)
def test_templates_cover_the_users_runbooks(item_id, words):
    text = checklists.item(item_id).text
    assert all(w in text for w in words), text


def test_unknown_item_lists_the_ids():
    with pytest.raises(UnknownChoiceError) as exc:
        checklists.item("p9.nothing")
    assert "p1.secrets" in str(exc.value)


def test_auto_item_is_done_when_every_database_has_it_done(tmp_path):
    state = State.load(tmp_path)
    state.set_databases(["chat", "registry"])
    state.record("p2.data", "chat", "done", ["messages: rows 3 = 3"])
    view = state.view(checklists.item("p2.data"))
    assert view.status == "open" and view.evidence == ["chat: messages: rows 3 = 3"]
    state.record("p2.data", "registry", "done", ["models: rows 2 = 2"])
    assert state.view(checklists.item("p2.data")).status == "done"
    state.record("p2.data", "registry", "failed", ["models: rows 2 = 1"])
    assert state.view(checklists.item("p2.data")).status == "failed"


def test_project_items_need_one_result(tmp_path):
    state = State.load(tmp_path)
    state.set_databases(["chat", "registry"])
    state.record("p3.env-leftovers", PROJECT, "done", ["none"])
    view = state.view(checklists.item("p3.env-leftovers"))
    assert view.status == "done" and view.evidence == ["none"]


def test_a_person_ticks_with_a_note_and_a_failed_check_needs_force(tmp_path):
    state = State.load(tmp_path)
    state.set_databases(["chat"])
    with pytest.raises(UsageError):
        state.check("p1.secrets", "  ")
    view = state.check("p1.secrets", "Vault path secret/chat; pipeline injects POSTGRES_PASSWORD")
    assert (view.status, view.by) == ("done", "person")
    state.record("p3.parity", "chat", "failed", ["messages: source 3 − rejected 0 = 3, target 2"])
    with pytest.raises(UsageError, match="failed its last automatic check"):
        state.check("p3.parity", "looked at it")
    assert state.check(
        "p3.parity", "accepted: row 3 was deleted on purpose", force=True
    ).note.endswith("(over a failed check)")
    state.record("p3.parity", "chat", "failed", ["again"])  # a new run supersedes the manual tick
    assert state.view(checklists.item("p3.parity")).status == "failed"
    state.record("p2.data", "chat", "done", ["ok"])
    with pytest.raises(UsageError, match="already done"):
        state.check("p2.data", "me too")
    assert state.uncheck("p1.secrets").status == "open"


def test_save_writes_state_json_and_markdown_copies_without_secrets(tmp_path):
    state = State.load(tmp_path)
    state.set_databases(["chat"])
    state.record(
        "p2.preflight", "chat", "done", ["PostgreSQL 18 at postgresql://app:hunter2@db/chat"]
    )
    state.check(
        "p2.rollback", "rollback: cutover env restore; source kept read-only; password=hunter2"
    )
    state.set_run(
        2, "chat", "failed", "x", error="cannot connect to postgresql://app:hunter2@db/chat"
    )
    state.save()
    text = (tmp_path / "state.json").read_text()
    data = json.loads(text)
    assert data["items"]["p2.preflight"]["status"] == "done"
    assert data["phases"]["2"]["status"] == "failed"
    copy = (tmp_path / "checklists" / "phase2.md").read_text()
    assert (
        "- [x] `p2.preflight`" in copy
        and "- [ ] `p2.schema`" in copy
        and "checked by a person: rollback" in copy
    )
    for path in (tmp_path / "state.json", *(tmp_path / "checklists").iterdir()):
        assert "hunter2" not in path.read_text(), path
    again = State.load(tmp_path)
    assert again.view(checklists.item("p2.rollback")).status == "done"


def test_phase_status(tmp_path):
    state = State.load(tmp_path)
    state.set_databases(["a", "b"])
    assert state.phase_status(1) == "pending"
    state.set_run(1, "a", "done", "ok")
    assert state.phase_status(1) == "partial"
    state.set_run(1, "b", "done", "ok")
    assert state.phase_status(1) == "done" and state.phase_done(1, "a")
    state.set_run(2, "a", "declined", "no")
    assert state.phase_status(2) == "declined"
