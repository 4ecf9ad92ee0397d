"""How every command's settings are resolved: defaults, a TOML file, the environment, options.

Each command's settings are a frozen dataclass beside the package that runs it (for
example :class:`lensscan.scan.settings.ScanConfig`); this module is what they share.
:func:`resolve_config` builds one from its defaults, then a ``--config`` TOML file, then
``LENSSCAN_<COMMAND>_<SETTING>`` environment variables, then command-line options, and
:func:`config_to_dict` is how outputs record it.

A dataclass may group its settings by concern in tables: a field whose type is itself a
settings dataclass (``ScanConfig.detect``) is a table, written ``[detect]`` in a TOML file.
Every setting, in a table or not, also has one name of its own, unique among its command's
settings: the name of its command-line option, of its environment variable and of its
messages (``detect_threshold`` for ``ScanConfig.detect.threshold``, declared with
:func:`setting`; a field's own name where it is unique). A TOML file may give a setting in
its table or by that name at the top level.

Each dataclass checks its own values when it is made (ranges, allowed names, settings that
contradict each other), raising :class:`~lensscan.errors.SettingError` or
:class:`~lensscan.errors.UserError` that name settings by their own names, so that a bad
setting fails at once whoever builds it. What needs more than the settings (a model's
cutout size, files, the registries of encoders and methods) is checked by the command that
has it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from lensscan.errors import SettingError, UserError, setting_references

ConfigT = TypeVar("ConfigT")

ENV_COMMANDS = (
    "demo",
    "simulate",
    "simulate-field",
    "cutouts",
    "scan",
    "evaluate",
    "train",
    "adapt",
)
"""Commands whose settings environment variables ``LENSSCAN_<COMMAND>_<SETTING>`` set."""


def setting(default: Any = dataclasses.MISSING, *, name: str) -> Any:
    """A field of a settings table whose own name (option, variable, messages) is ``name``.

    For a field whose name inside its table would be ambiguous among all of a command's
    settings: ``threshold`` in ``[detect]`` is ``detect_threshold``.
    """
    return dataclasses.field(default=default, metadata={"setting": name})


@dataclasses.dataclass(frozen=True)
class Setting:
    """Where a setting lives in its command's settings dataclass.

    Attributes:
        table: The field of the table that holds it, or ``None`` at the top level.
        field: Its field in that table (or in the dataclass).
        annotation: Its type.
        default: Its default, or ``dataclasses.MISSING`` when it must be given.
    """

    table: str | None
    field: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        """Whether the setting has no default."""
        return self.default is dataclasses.MISSING


def _is_table(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def tables(cls: type[Any]) -> dict[str, type[Any]]:
    """The tables of a settings dataclass: field name -> the table's dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        field.name: hints[field.name]
        for field in dataclasses.fields(cls)
        if _is_table(hints[field.name])
    }


def settings_of(cls: type[Any]) -> dict[str, Setting]:
    """Every setting of a settings dataclass by its own name, tables' settings included.

    Raises:
        TypeError: If two settings share a name (a field needs :func:`setting`).
    """
    found: dict[str, Setting] = {}

    def add(owner: type[Any], table: str | None) -> None:
        hints = typing.get_type_hints(owner)
        for field in dataclasses.fields(owner):
            if table is None and _is_table(hints[field.name]):
                add(hints[field.name], field.name)
                continue
            name = field.metadata.get("setting", field.name)
            if name in found:
                raise TypeError(f"{cls.__name__}: two settings are named {name!r}")
            default = field.default
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            found[name] = Setting(table, field.name, hints[field.name], default)

    add(cls, None)
    return found


def env_prefix(command: str) -> str:
    """The environment-variable prefix of a command's settings (``LENSSCAN_SCAN_``)."""
    return f"LENSSCAN_{command.upper().replace('-', '_')}_"


def resolve_config(
    cls: type[ConfigT],
    toml_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    command: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigT:
    """Build a settings dataclass from defaults, a TOML file, the environment, then options.

    Args:
        cls: The frozen dataclass type.
        toml_path: Optional TOML file of settings: its tables (``[detect]``) hold their
            settings by field name, and its top-level keys are settings by their own names.
        overrides: Values given on the command line, by the settings' own names; ``None``
            values are ignored so an option left unset keeps the environment's, the file's
            or the default value.
        command: The command whose ``LENSSCAN_<COMMAND>_<SETTING>`` environment variables
            (``SETTING`` a setting's own name) apply; none without it. A value is read as a
            TOML value (``4096``, ``true``, ``["g", "r"]``), or as text where it is not one
            (``cuda:0``).
        environ: The environment (default: ``os.environ``).

    Returns:
        The resolved settings.

    Raises:
        UserError: If the file cannot be read, the file or the environment names an
            unknown setting or a value of the wrong type, or the dataclass refuses a
            value. The message of a value from the file or a variable starts with where
            it came from: ```config` run.toml: `threshold` 2: out of range``,
            ``LENSSCAN_SCAN_THRESHOLD='2': `threshold` 2: out of range``; an option's
            value keeps the dataclass's message.
        TypeError: If ``overrides`` names no setting of ``cls``.
    """
    known = settings_of(cls)
    values: dict[str, Any] = {}
    # Where each value from the file or the environment came from (options are not listed).
    origins: dict[str, str] = {}
    if toml_path is not None:
        path = Path(toml_path)
        found = _file_values(cls, known, path)
        values.update(found)
        origins.update(dict.fromkeys(found, f"`config` {path}"))
    if command is not None:
        variables = os.environ if environ is None else environ
        for name, (where, value) in _environment_values(known, command, variables).items():
            values[name] = value
            origins[name] = where
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}")
    values.update(given)
    for name in given:
        origins.pop(name, None)
    required = [name for name, found in known.items() if found.required and name not in values]
    if required:
        raise UserError(f"`{required[0]}`: required (an option or a `config` setting)")
    try:
        return _build(cls, known, values)
    except UserError as exc:
        # A SettingError is about its own setting; another error about the settings it names.
        suspects = [exc.setting] if isinstance(exc, SettingError) else setting_references(str(exc))
        named = [name for name in suspects if name in origins]
        if not named:
            raise
        # A value from the file or a variable is on no command line: say where it was.
        where = ", ".join(dict.fromkeys(origins[name] for name in named))
        raise UserError(f"{where}: {exc}") from exc


def _build(cls: type[ConfigT], known: Mapping[str, Setting], values: Mapping[str, Any]) -> ConfigT:
    """The dataclass of ``values`` (settings by their own names), its tables made first."""
    top: dict[str, Any] = {}
    table_values: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        where = known[name]
        if where.table is None:
            top[where.field] = value
        else:
            table_values.setdefault(where.table, {})[where.field] = value
    table_classes = tables(cls)
    for table, fields in table_values.items():
        top[table] = table_classes[table](**fields)
    return cls(**top)


def accepts(annotation: Any, value: Any) -> bool:
    """Whether a TOML value fits a settings field's annotation (ints count as floats).

    Lists are checked item by item against ``tuple[X, ...]`` and tables value by value
    against ``Mapping[str, X]``, so a wrong type inside them is caught here too.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(arg, value) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is Any:
        return True
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(accepts, args, value))
        return not args or all(accepts(args[0], item) for item in value)
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            return False
        key_type, value_type = args or (Any, Any)
        return all(accepts(key_type, k) and accepts(value_type, v) for k, v in value.items())
    if origin is not None:
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def type_name(annotation: Any) -> str:
    """An annotation as a user reads it: ``int``, ``tuple[str, ...] | None``."""
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("collections.abc.", "").replace("typing.", "")


def _file_values(cls: type[Any], known: Mapping[str, Setting], path: Path) -> dict[str, Any]:
    """The file's settings by their own names, type-checked, lists made tuples.

    Raises:
        UserError: Naming the file, for an unreadable file, an unknown setting, a setting
            given twice (in its table and by its own name) or a value of the wrong type.
    """
    try:
        loaded = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"`config` {path}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"`config` {path}: cannot read TOML ({exc})") from None
    in_tables = {(s.table, s.field): name for name, s in known.items() if s.table is not None}
    table_names = set(tables(cls))
    entries: list[tuple[str, Any]] = []
    unknown: list[str] = []
    for key, value in loaded.items():
        # ``cluster = "slurm"`` is a setting, ``[cluster]`` its table.
        if key in table_names and isinstance(value, Mapping):
            for field, item in value.items():
                name = in_tables.get((key, field))
                if name is None:
                    unknown.append(f"[{key}] {field}")
                else:
                    entries.append((name, item))
        elif key in known:
            entries.append((key, value))
        else:
            unknown.append(key)
    if unknown:
        valid = sorted([*known, *(f"[{table}]" for table in table_names)])
        raise UserError(
            f"`config` {path}: unknown setting(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    values: dict[str, Any] = {}
    for name, value in entries:
        if name in values:
            raise UserError(f"`config` {path}: setting {name} given twice")
        problem = f"`config` {path}: setting {name}: {value!r} does not fit its type"
        values[name] = _fitted(known[name].annotation, value, problem)
    return values


def _fitted(annotation: Any, value: Any, problem: str) -> Any:
    """``value`` as a setting of type ``annotation`` stores it (lists made tuples).

    Raises:
        UserError: ``problem`` and the expected type, if the value does not fit.
    """
    if not accepts(annotation, value):
        raise UserError(f"{problem} ({type_name(annotation)})")
    return tuple(value) if isinstance(value, list) else value


def _environment_values(
    known: Mapping[str, Setting], command: str, environ: Mapping[str, str]
) -> dict[str, tuple[str, Any]]:
    """The settings given as ``LENSSCAN_<COMMAND>_<SETTING>`` variables, type-checked.

    Returns:
        Setting -> (the variable as messages name it, ``NAME='text'``, and its value).

    Raises:
        UserError: Naming the variable, for an unknown setting or a value of the wrong type.
    """
    prefix = env_prefix(command)
    # Longer prefixes of other commands (LENSSCAN_SIMULATE_FIELD_ under LENSSCAN_SIMULATE_).
    others = [env_prefix(c) for c in ENV_COMMANDS if env_prefix(c).startswith(prefix)]
    others.remove(prefix)
    values: dict[str, tuple[str, Any]] = {}
    for key, text in environ.items():
        if not key.startswith(prefix) or any(key.startswith(other) for other in others):
            continue
        name = key[len(prefix) :].lower()
        if name not in known:
            raise UserError(f"{key}: unknown setting {name}; valid: {', '.join(sorted(known))}")
        annotation = known[name].annotation
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        if not accepts(annotation, value) and accepts(annotation, text):
            value = text  # a number-like text for a text setting, e.g. a tract "9813"
        where = f"{key}={text!r}"
        values[name] = (where, _fitted(annotation, value, f"{where}: does not fit setting {name}"))
    return values


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a JSON/TOML-friendly dictionary of a settings dataclass (tables as tables)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}
