"""The phase 1 corpus: realistic projects in tests/examples/env/<case>/, each with its expected output.

A case holds `input/` (the project as users have it), `cutover.toml`, `case.toml` (options and
the secrets that must never be printed), `expected/` (the project after `env rewrite --apply`),
`rewrite.diff` (the redacted dry-run diff) and `scan.txt` (what `cutover env scan` prints).
Set CUTOVER_UPDATE_GOLDEN=1 to rewrite the expected files, then review them with `git diff`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tomllib
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from cutover import commands
from cutover import config as config_mod
from cutover.cli import cli
from cutover.envfiles.api import RewriteResult
from cutover.errors import CutoverError

EXAMPLES = Path(__file__).parent / "examples" / "env"
CASES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "case.toml").is_file())
UPDATE = os.environ.get("CUTOVER_UPDATE_GOLDEN") == "1"


def _case(name: str) -> dict:
    return tomllib.loads((EXAMPLES / name / "case.toml").read_text(encoding="utf-8"))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".cutover" not in p.parts and p.name != "cutover.toml"
    }


def _modes(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in root.rglob("*")
        if p.is_file() and ".cutover" not in p.parts
    }


def load_config(path: Path) -> config_mod.Config:
    """cutover.toml as phase 1 reads it."""
    return config_mod.load(path, environ={})


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Path]:
    """(case name, project folder holding a copy of input/ and cutover.toml, workdir)."""
    name = request.param
    project = tmp_path / "project"
    shutil.copytree(EXAMPLES / name / "input", project, symlinks=True)
    shutil.copy(EXAMPLES / name / "cutover.toml", project / "cutover.toml")
    return name, project, tmp_path / "workdir"


def _rewrite(name: str, project: Path, workdir: Path, *, apply: bool) -> RewriteResult:
    config = load_config(project / "cutover.toml")
    return commands.env_rewrite(
        config,
        root=project,
        workdir=workdir,
        apply=apply,
        literal_passwords=_case(name)["literal_passwords"],
        from_env=tuple(_case(name).get("from_env", ())),
    )


def _golden(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


def test_corpus_is_large_enough() -> None:
    inputs = [p for name in CASES for p in (EXAMPLES / name / "input").rglob("*") if p.is_file()]
    assert len(inputs) >= 15 and len(CASES) >= 5


def test_apply_gives_expected_files(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    modes = _modes(project)
    _rewrite(name, project, workdir, apply=True)
    expected = EXAMPLES / name / "expected"
    if UPDATE:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(project, expected, ignore=shutil.ignore_patterns("cutover.toml"))
    assert _tree(project) == _tree(expected)
    assert _modes(project) == modes


def test_untouched_files_are_byte_identical(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    before = _tree(project)
    result = _rewrite(name, project, workdir, apply=True)
    changed = {f.path for f in result.files}
    after = _tree(project)
    assert {p: b for p, b in after.items() if p not in changed} == {
        p: b for p, b in before.items() if p not in changed
    }
    assert all(after[p] != before[p] for p in changed)


def test_second_apply_changes_nothing(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    _rewrite(name, project, workdir, apply=True)
    once = _tree(project)
    again = _rewrite(name, project, workdir, apply=True)
    assert not again.changed and again.backup is None and again.diff == ""
    assert _tree(project) == once


def test_dry_run_changes_nothing_and_diff_is_expected(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    before = _tree(project)
    result = _rewrite(name, project, workdir, apply=False)
    assert _tree(project) == before and not workdir.exists()
    _golden(EXAMPLES / name / "rewrite.diff", result.diff)


def test_restore_brings_every_byte_back(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    before, modes = _tree(project), _modes(project)
    result = _rewrite(name, project, workdir, apply=True)
    if (
        not result.changed
    ):  # nothing written, so nothing to restore: no backup, every byte as it was
        assert result.backup is None and _tree(project) == before and _modes(project) == modes
        with pytest.raises(CutoverError):
            commands.env_restore(workdir)
        return
    restored = commands.env_restore(workdir)
    assert sorted(restored.restored) == sorted(f.path for f in result.files)
    assert _tree(project) == before and _modes(project) == modes


def test_scan_output_is_expected(case: tuple[str, Path, Path]) -> None:
    name, project, _workdir = case
    out = CliRunner().invoke(cli, ["env", "scan", str(project)])
    assert out.exit_code == 0, out.output
    _golden(EXAMPLES / name / "scan.txt", out.output.replace(str(project.resolve()), "<project>"))


def _secrets(name: str, project: Path) -> list[str]:
    """The case's listed secrets, every password in its cutover.toml, and their encoded forms."""
    found = list(_case(name)["secrets"])
    config = load_config(project / "cutover.toml")
    from cutover import urls

    for db in config.databases:
        for text in (db.source, db.target):
            password = urls.parse(text).password
            if password:
                found.append(password)
    return sorted({s for s in found} | {quote(s, safe="") for s in found})


def test_no_password_in_any_output(case: tuple[str, Path, Path]) -> None:
    name, project, workdir = case
    secrets = _secrets(name, project)
    runner = CliRunner()
    config_path = project / "cutover.toml"
    load_config(config_path)
    loadable = project.parent / "cutover-loadable.toml"
    cli_config = str(loadable if loadable.exists() else config_path)
    base = ["--config", cli_config, "--workdir", str(workdir)]
    literal = ["--literal-passwords"] if _case(name)["literal_passwords"] else []
    literal += [f"--from-env={n}" for n in _case(name).get("from_env", ())]
    outputs = [
        runner.invoke(cli, ["env", "scan", str(project)]).output,
        runner.invoke(cli, ["env", "scan", "--json", str(project)]).output,
        runner.invoke(cli, [*base, "env", "rewrite", str(project), *literal]).output,
        runner.invoke(
            cli, [*base, "env", "rewrite", str(project), "--apply", "--yes", *literal]
        ).output,
        runner.invoke(cli, [*base, "env", "restore"]).output,
    ]
    result = _rewrite(name, project, workdir, apply=True)
    outputs += [
        result.diff,
        repr(result),
        json.dumps([f.__dict__ for f in result.files], default=lambda o: o.__dict__),
    ]
    outputs += [n for n in result.notes]
    leaked = [(secret, text) for secret in secrets for text in outputs if secret in text]
    assert not leaked, f"secret {leaked[0][0]!r} printed"
