"""The exception types for mistakes a user can make, and how messages name settings.

The CLI turns a :class:`UserError` into one line on stderr and a non-zero exit; any other
exception is a programming error and keeps its traceback.

Library messages (errors and log records) name a setting by its Python name in backticks
(```overwrite```), as the library's callers know it; :func:`as_options` turns each such
reference into the command-line option (``--overwrite``), which is what the CLI shows. A
:class:`SettingError` starts with its setting and value (```device` 'tpu': not a device``,
shown as ``--device 'tpu': not a device``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SETTING_REFERENCE = re.compile(r"(?<![`:\w])`([a-z][a-z0-9_]*)`(?!`)")


def option_name(setting: str) -> str:
    """The command-line option of a setting: ``init_checkpoint`` -> ``--init-checkpoint``."""
    return "--" + setting.replace("_", "-")


def setting_references(text: str) -> list[str]:
    """The settings a message names in backticks, in order."""
    return _SETTING_REFERENCE.findall(text)


def as_options(text: str) -> str:
    """A library message as the command line shows it: each ```setting``` as its option."""
    return _SETTING_REFERENCE.sub(lambda match: option_name(match.group(1)), text)


class UserError(Exception):
    """A problem the user can fix: a bad file, option or combination of inputs.

    The message is shown on one line, so it should name the file or setting and say what is
    wrong with it. Settings are named in backticks (```out```); the CLI shows them as
    options (``--out``).
    """

    def cli_message(self) -> str:
        """The message as the command line shows it, naming options."""
        return as_options(str(self))


class SettingError(UserError):
    """A setting with a value that cannot be used.

    Attributes:
        setting: The setting's Python name (``init_checkpoint``).
        value: The value given.
        problem: What is wrong with it.
    """

    def __init__(self, setting: str, value: Any, problem: str) -> None:
        self.setting, self.value, self.problem = setting, value, problem
        shown = repr(value) if isinstance(value, str) else str(value)
        super().__init__(f"`{setting}` {shown}: {problem}")


def check_ranges(checks: Iterable[tuple[str, Any, bool]]) -> None:
    """Raise for the first ``(setting, value, ok)`` that is not ok.

    Raises:
        SettingError: ```<setting>` <value>: out of range``.
    """
    for setting, value, ok in checks:
        if not ok:
            raise SettingError(setting, value, "out of range")
