"""The command line: parse options, call one function in commands.py, render the result."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from cutover import __version__, commands
from cutover import config as config_mod
from cutover.errors import EXIT_RUNTIME, CutoverError
from cutover.urls import redact

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Globals:
    """Options every command shares."""

    config_path: Path
    workdir: Path

    def load(self) -> config_mod.Config:
        return config_mod.load(self.config_path)


def handle_errors(fn: F) -> F:
    """Turn a CutoverError into a clean message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CutoverError as exc:
            click.echo(redact(f"error: {exc.render()}"), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=config_mod.DEFAULT_CONFIG, show_default=True, help="The cutover.toml to use.")
@click.option("--workdir", type=click.Path(path_type=Path), default=config_mod.DEFAULT_WORKDIR, show_default=True, help="Where runs keep state, rejects and reports.")
@click.version_option(__version__, prog_name="cutover")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, workdir: Path) -> None:
    """Cut an application over from SQLite or SQL Server to PostgreSQL, and prove it."""
    ctx.obj = Globals(config_path=config_path, workdir=workdir)


pass_globals = click.make_pass_decorator(Globals)


@cli.command()
@click.option("--source", required=True, help="Source database URL (sqlite:///app.db, mssql+pyodbc://…).")
@click.option("--target", required=True, help="Target PostgreSQL URL (postgresql://user@host:5432/db).")
@click.option("--name", help="Name of this database in cutover.toml (default: from the source).")
@click.option("--env-key", help="The env key the application reads this database from (default DATABASE_URL).")
@click.option("--yes", is_flag=True, help="Replace an existing entry of the same name.")
@pass_globals
@handle_errors
def init(g: Globals, source: str, target: str, name: str | None, env_key: str | None, yes: bool) -> None:
    """Write cutover.toml with a source and target database."""
    result = commands.init(g.config_path, source=source, target=target, name=name, env_key=env_key, replace=yes)
    verb = "created" if result.created else "updated"
    click.echo(f"{verb} {result.path}: database {result.database.name!r} ({result.database.env_key})")
    click.echo(f"  source  {redact(result.database.source)}")
    click.echo(f"  target  {redact(result.database.target)}")
    click.echo("next: `cutover run --phase 2` to create the schema and load the data")


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="cutover")
    except CutoverError as exc:  # errors raised outside a command body
        click.echo(redact(f"error: {exc.render()}"), err=True)
        sys.exit(getattr(exc, "exit_code", EXIT_RUNTIME))
