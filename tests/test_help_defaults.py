"""Every default an option's help states is its setting's default in the settings dataclass.

A setting's default is written once, in its command's settings dataclass; the help text of
its option says it again in words (``(default 0.5)``, ``(1.5)``, ``(1000; 0 for none)``).
This test reads every number a help text gives as a default and compares it with the
dataclass, so the two cannot drift apart. Defaults that depend on the run (``None`` in the
dataclass: half the cutout, the model's bands) are described in words and left alone.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import typer.main

from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.cli import app
from lensscan.config import settings_of
from lensscan.demo import DemoConfig
from lensscan.evaluate.settings import EvaluateConfig
from lensscan.scan.settings import CutoutsConfig, ScanConfig
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.inject.request import InjectionRequest
from lensscan.survey_adapt.settings import AdaptConfig
from lensscan.training.settings import TrainConfig

#: Each command's settings dataclasses (``simulate`` resolves one of two).
COMMAND_SETTINGS: dict[str, tuple[type[Any], ...]] = {
    "scan": (ScanConfig,),
    "cutouts": (CutoutsConfig,),
    "demo": (DemoConfig,),
    "evaluate": (EvaluateConfig,),
    "train": (TrainConfig,),
    "adapt": (AdaptConfig,),
    "benchmark": (BenchmarkConfig,),
    "simulate": (CutoutRequest, InjectionRequest),
    "simulate-field": (FieldRequest,),
}

NUMBER = r"[-+]?\d[\d_]*(?:\.\d+)?(?:e[-+]?\d+)?"
# "(default 0.5", "(default: 1", or a number alone in parentheses or before/after a
# semicolon in them: "(1.5)", "(1000; 0 for none)", "(square; 4200)".
STATED = re.compile(rf"\(default:?\s+({NUMBER})|[(;]\s*({NUMBER})\s*[;)]")


def _command(name: str) -> Any:
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def _default(classes: tuple[type[Any], ...], name: str) -> Any:
    """The dataclass default of the setting ``name`` (``...`` if no class has it)."""
    for cls in classes:
        found = settings_of(cls).get(name)
        if found is not None:
            return ... if found.required else found.default
    return ...


def _stated(help_text: str) -> float | None:
    match = STATED.search(help_text)
    if match is None:
        return None
    return float((match.group(1) or match.group(2)).replace("_", ""))


@pytest.mark.parametrize("command", sorted(COMMAND_SETTINGS))
def test_help_states_the_settings_defaults(command: str) -> None:
    classes = COMMAND_SETTINGS[command]
    checked, wrong = 0, []
    for param in _command(command).params:
        flags = [o for o in param.opts if o.startswith("--")]
        if not flags or param.param_type_name != "option" or param.is_flag:
            continue
        name = flags[0][2:].replace("-", "_")
        default = _default(classes, name)
        stated = _stated(param.help or "")
        if stated is None or not isinstance(default, int | float) or isinstance(default, bool):
            continue
        checked += 1
        if not math.isclose(stated, default):
            wrong.append(f"{flags[0]}: help says {stated:g}, the settings {default}")
    assert not wrong, wrong
    assert checked, f"{command}: no default checked"


@pytest.mark.parametrize(
    ("help_text", "stated"),
    [
        ("Lowest score listed, 0 to 1 (default 0.5).", 0.5),
        ("Detection threshold in noise sigmas (1.5).", 1.5),
        ("Bootstrap replicates for 95% intervals (1000; 0 for none).", 1000.0),
        ("Patch size in pixels (square; 4200).", 4200.0),
        ("Learning rate (default 1e-3).", 0.001),
        ("Local Dask worker processes (default 1; 0 = run in this process).", 1.0),
        ("Window step in pixels (default: half the cutout).", None),
        ("Memory per batch job, e.g. 32GB.", None),
    ],
)
def test_the_stated_default_is_read_as_written(help_text: str, stated: float | None) -> None:
    assert _stated(help_text) == stated


def test_every_option_of_a_command_with_settings_is_a_setting() -> None:
    """Options name settings by their own names, so the two can be compared at all."""
    unknown = []
    for command, classes in COMMAND_SETTINGS.items():
        names = set().union(*(settings_of(cls) for cls in classes))
        for param in _command(command).params:
            flags = [o for o in param.opts if o.startswith("--")]
            if flags and flags[0] != "--config" and flags[0][2:].replace("-", "_") not in names:
                unknown.append(f"{command} {flags[0]}")
    assert sorted(unknown) == sorted(NOT_SETTINGS)


#: Options that are not a setting of the same name, and why.
NOT_SETTINGS = {
    "scan --field-list": "where the fields come from, not how they are scanned",
    "scan --hsc-patches": "where the fields come from",
    "scan --hsc-root": "where the fields come from",
    "scan --band": "a field given as one file per band",
    "cutouts --band": "a field given as one file per band",
    "evaluate --model": "repeated, it fills the setting `models`",
    "train --option": "repeated KEY=VALUE, it fills the setting `method_options`",
    "train --no-amp": "turns the setting `amp` off",
    "simulate --out": "the store to write, an argument of the run, not of the request",
    "simulate --overwrite": "an argument of the run, not of the request",
    "simulate-field --out": "the folder to write, an argument of the run",
    "simulate-field --overwrite": "an argument of the run, not of the request",
}
