"""The exception types for mistakes a user can make.

The CLI turns a :class:`UserError` into one line on stderr and a non-zero exit; any other
exception is a programming error and keeps its traceback. A :class:`SettingError` names
the setting by its Python name (``device``), as the library's callers know it; the CLI
shows it by its option (``--device``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class UserError(Exception):
    """A problem the user can fix: a bad file, option or combination of inputs.

    The message is shown as is, on one line, so it should name the file or option and say
    what is wrong with it.
    """


class SettingError(UserError):
    """A setting with a value that cannot be used.

    Attributes:
        setting: The setting's Python name (``init_checkpoint``).
        value: The value given.
        problem: What is wrong with it.
    """

    def __init__(self, setting: str, value: Any, problem: str) -> None:
        self.setting, self.value, self.problem = setting, value, problem
        super().__init__(self.message(setting))

    @property
    def option(self) -> str:
        """The command-line option of the setting (``--init-checkpoint``)."""
        return "--" + self.setting.replace("_", "-")

    def message(self, name: str) -> str:
        """The one-line message with the setting called ``name``."""
        shown = repr(self.value) if isinstance(self.value, str) else str(self.value)
        return f"{name} {shown}: {self.problem}"

    def cli_message(self) -> str:
        """The message as the command line shows it, naming the option."""
        return self.message(self.option)


def check_ranges(checks: Iterable[tuple[str, Any, bool]]) -> None:
    """Raise for the first ``(setting, value, ok)`` that is not ok.

    Raises:
        SettingError: ``<setting> <value>: out of range``.
    """
    for setting, value, ok in checks:
        if not ok:
            raise SettingError(setting, value, "out of range")
