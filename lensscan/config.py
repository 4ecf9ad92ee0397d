"""Every run's settings as frozen dataclasses, with all defaults in one place.

Each command resolves its settings into one of these (TOML file, then command-line
options) and saves the resolved settings beside its output.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from lensscan.errors import UserError

ConfigT = TypeVar("ConfigT")


def resolve_config(
    cls: type[ConfigT],
    toml_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ConfigT:
    """Build a settings dataclass from defaults, a TOML file, then explicit overrides.

    Args:
        cls: The frozen dataclass type.
        toml_path: Optional TOML file whose top-level keys are field names.
        overrides: Values given on the command line; ``None`` values are ignored so an
            option left unset keeps the file's or the default value.

    Returns:
        The resolved settings.

    Raises:
        UserError: If the file cannot be read or names an unknown setting.
    """
    values: dict[str, Any] = {}
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if toml_path is not None:
        path = Path(toml_path)
        try:
            loaded = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"--config {path}: no such file") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"--config {path}: cannot read TOML ({exc})") from None
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise UserError(
                f"--config {path}: unknown setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(names))}"
            )
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a JSON/TOML-friendly dictionary of a settings dataclass."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}
