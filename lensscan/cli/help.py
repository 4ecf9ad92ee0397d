"""How ``--help`` shows options: the command and group classes every lensscan command uses.

Typer's rich help prints each option's type beside it, boolean flags included (``--overwrite
<bool>``), which reads as if the flag took a value. These classes blank the type of every
flag, ``--help`` and ``--version`` among them, and leave every other option as Typer shows it.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core


def _blank_flag_types(params: list[Any]) -> list[Any]:
    """Give every flag without a metavar an empty one, in place; returns ``params``."""
    for param in params:
        if isinstance(param, typer.core.TyperOption) and param.is_flag and param.metavar is None:
            # An empty metavar is what the help table prints in the type column; a flag
            # never shows a metavar anywhere else (usage lines and errors name its option).
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    """A Typer command whose help shows boolean flags without a value type."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        """The command's parameters, with ``--help`` added and flag types blanked."""
        return _blank_flag_types(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    """A Typer group (the root, ``models``, ``grades``) showing flags as :class:`Command` does."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        """The group's parameters, with ``--help`` added and flag types blanked."""
        return _blank_flag_types(super().get_params(ctx))
