"""Adaptation methods by name: adding a method is one file and one line here."""

from __future__ import annotations

from collections.abc import Mapping

from lensscan.adapt.adabn import AdaBN
from lensscan.adapt.adamatch import AdaMatch
from lensscan.adapt.adda import ADDA
from lensscan.adapt.base import Method, MethodContext
from lensscan.adapt.dann import DANN
from lensscan.adapt.self_ensembling import SelfEnsembling
from lensscan.adapt.supervised import Supervised
from lensscan.errors import SettingError, UserError
from lensscan.naming import canonical_name

METHODS: dict[str, type[Method]] = {
    method.name: method for method in (Supervised, AdaBN, ADDA, AdaMatch, SelfEnsembling, DANN)
}


def method_class(name: str, option: str = "method") -> type[Method]:
    """Look up a method.

    Args:
        name: The method's name.
        option: The setting that gave the name (``method``), for messages.

    Raises:
        SettingError: Naming the valid methods, if ``name`` is not one.
    """
    key = canonical_name(name)
    if key not in METHODS:
        raise SettingError(option, name, f"unknown method; choose one of {', '.join(METHODS)}")
    return METHODS[key]


def check_options(name: str, options: Mapping[str, float]) -> dict[str, float]:
    """Validate method options against the method's defaults.

    Returns:
        The options as floats.

    Raises:
        UserError: If an option is unknown or not a number.
    """
    method = method_class(name)
    unknown = sorted(set(options) - set(method.defaults))
    if unknown:
        valid = ", ".join(sorted(method.defaults)) or "none"
        raise UserError(f"`option` {', '.join(unknown)}: not an option of {name} (valid: {valid})")
    try:
        return {key: float(value) for key, value in options.items()}
    except (TypeError, ValueError):
        raise UserError(
            f"`option`: values for {name} must be numbers, got {dict(options)}"
        ) from None


def build_method(name: str, context: MethodContext) -> Method:
    """Build a registered method."""
    return method_class(name)(context)
