"""The ``lensscan`` command line: one module per command, no logic of its own.

Each command module defines one function; :func:`_register` adds it to the Typer app and
turns a :class:`~lensscan.errors.UserError` into one line on stderr and exit status 2. Every
command and group uses the classes of :mod:`lensscan.cli.help`, so flags show as flags.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable
from typing import Any

import typer

from lensscan import __version__
from lensscan.cli import (
    adapt,
    benchmark,
    cutouts,
    demo,
    download,
    evaluate,
    grades,
    import_store,
    inspect,
    models,
    recipe,
    scan,
    simulate,
    simulate_field,
    train,
)
from lensscan.cli.help import Command, Group
from lensscan.errors import UserError
from lensscan.progress import configure_logging

USER_ERROR_EXIT_CODE = 2

app = typer.Typer(
    name="lensscan",
    help="Find strong gravitational lenses in Hyper Suprime-Cam survey images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=Group,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"lensscan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    """Find strong gravitational lenses in Hyper Suprime-Cam survey images."""


def _register(name: str, command: Callable[..., Any], group: typer.Typer | None = None) -> None:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        # Only the command line sends log records anywhere; the library only emits them.
        configure_logging()
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"lensscan: error: {exc.cli_message()}", err=True)
            raise typer.Exit(USER_ERROR_EXIT_CODE) from None

    (group or app).command(name, cls=Command)(run)


_register("demo", demo.demo)
_register("simulate", simulate.simulate)
_register("simulate-field", simulate_field.simulate_field)
_register("import", import_store.import_store)
_register("train", train.train)
_register("adapt", adapt.adapt)
_register("recipe", recipe.recipe)
_register("scan", scan.scan)
_register("cutouts", cutouts.cutouts)
_register("evaluate", evaluate.evaluate)
_register("benchmark", benchmark.benchmark)
_register("download", download.download)
_register("inspect", inspect.inspect)
app.add_typer(models.app, name="models")
for _name, _command in models.COMMANDS.items():
    _register(_name, _command, group=models.app)
app.add_typer(grades.app, name="grades")
for _name, _command in grades.COMMANDS.items():
    _register(_name, _command, group=grades.app)


def _terminated(signum: int, frame: Any) -> None:
    """Turn SIGTERM (a batch system's time limit, ``kill``) into an orderly exit."""
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point of the ``lensscan`` console script.

    SIGTERM raises ``SystemExit`` as Ctrl-C raises ``KeyboardInterrupt``, so a run that a
    batch system stops removes its temporary outputs as an interrupted one does.
    """
    signal.signal(signal.SIGTERM, _terminated)
    app(prog_name="lensscan")
