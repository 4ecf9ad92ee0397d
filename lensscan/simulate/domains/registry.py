"""The domain registry: ``domain`` name -> generator of labelled cutouts.

A domain draws a scene for one item from its own random stream (:meth:`Domain.draw`),
reports the scene's parameters as one row of the store's parameter table, and renders
it with noise from a second stream (:meth:`Domain.render`). Both streams come from the
item's seed alone, so an item is the same whichever worker makes it. A new domain is one
module and one registry line.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lensscan.errors import SettingError
from lensscan.simulate.domains.presets import SurveyPreset, get_preset


class Scene(Protocol):
    """What a domain draws for one item."""

    params: dict[str, Any]


class Domain(Protocol):
    """A generator of labelled cutouts."""

    preset: SurveyPreset

    def param_schema(self, bands: Sequence[str]) -> dict[str, np.dtype]:
        """Every parameter column this domain writes, with its dtype."""
        ...

    def draw(self, rng: np.random.Generator, bands: Sequence[str], is_lens: bool) -> Scene:
        """Draw one item's scene."""
        ...

    def render(self, scene: Scene, rng: np.random.Generator) -> np.ndarray:
        """Render a scene with noise as (n_bands, size, size) float32."""
        ...


@dataclass(frozen=True)
class DomainSpec:
    """Where a domain's generator lives, named rather than imported.

    Worker processes can then load a domain's modules before they are handed any work.

    Attributes:
        generator: ``module:class`` of the generator, built with the survey preset (and
            the simulator family, if any).
        preset: Name of the survey preset (:data:`~lensscan.simulate.domains.presets.PRESETS`).
        family: Name of the simulator family
            (:data:`~lensscan.simulate.domains.families.FAMILIES`), or None for generators
            without families.
        caches: Modules whose import builds process-wide caches the generator uses.
        default_lens_fraction: Lens fraction without ``--lens-fraction``; None: the
            preset's.
    """

    generator: str
    preset: str
    family: str | None = None
    caches: tuple[str, ...] = ()
    default_lens_fraction: float | None = None

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module a process making this domain's items imports up front."""
        return (self.generator.partition(":")[0], *self.caches)


_HSC_GENERATOR = "lensscan.simulate.domains.hsc:HscDomain"
_GALAXY_CACHE = ("lensscan.simulate.physics.galaxy_cache",)

DOMAINS: Mapping[str, DomainSpec] = {
    "sim": DomainSpec("lensscan.simulate.domains.sim:SimDomain", preset="sim"),
    "hsc": DomainSpec(_HSC_GENERATOR, preset="hsc", family="hsc", caches=_GALAXY_CACHE),
    # Training sets are balanced; the class prior belongs to the survey, not the model.
    "hsc-train": DomainSpec(
        _HSC_GENERATOR,
        preset="hsc",
        family="hsc-train",
        caches=_GALAXY_CACHE,
        default_lens_fraction=0.5,
    ),
    "hsc-heldout": DomainSpec(
        _HSC_GENERATOR, preset="hsc", family="hsc-heldout", caches=_GALAXY_CACHE
    ),
    # An independent test family: GalSim rendering, lenstronomy power-law lenses, its own
    # populations and hard negatives; for testing only.
    "hsc-galsim": DomainSpec(
        "lensscan.simulate.domains.hsc_galsim.domain:GalSimDomain", preset="hsc"
    ),
}


def domain_spec(name: str, option: str = "domain") -> DomainSpec:
    """The registry entry of the domain called ``name``.

    Args:
        name: The domain's name.
        option: The setting that named it, for messages.

    Raises:
        SettingError: If there is no such domain.
    """
    if name not in DOMAINS:
        raise SettingError(option, name, f"unknown domain; choose one of {', '.join(DOMAINS)}")
    return DOMAINS[name]


def get_domain(name: str, option: str = "domain") -> Domain:
    """Build the domain called ``name``.

    Args:
        name: The domain's name.
        option: The setting that named it, for messages.

    Raises:
        SettingError: If there is no such domain.
    """
    spec = domain_spec(name, option)
    module, _, generator = spec.generator.partition(":")
    build = getattr(importlib.import_module(module), generator)
    if spec.family is None:
        return build(get_preset(spec.preset))
    from lensscan.simulate.domains.families import FAMILIES

    return build(get_preset(spec.preset), FAMILIES[spec.family])


def domain_preset(name: str, option: str = "domain") -> SurveyPreset:
    """The survey preset of the domain called ``name``.

    Args:
        name: The domain's name.
        option: The setting that named it, for messages.

    Raises:
        SettingError: If there is no such domain.
    """
    return get_preset(domain_spec(name, option).preset)


def fill_value(dtype: np.dtype) -> Any:
    """The value a column holds for items without that parameter (NaN or -1)."""
    return np.nan if np.issubdtype(dtype, np.floating) else -1


def params_row(fills: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """One table row in schema order, missing parameters filled.

    Args:
        fills: Column name -> fill value (from :func:`fill_value`), in schema order.
        params: The drawn parameters.

    Raises:
        KeyError: If ``params`` holds a name the schema lacks (a programming error).
    """
    unknown = params.keys() - fills.keys()
    if unknown:
        raise KeyError(f"parameters missing from the schema: {sorted(unknown)}")
    return {name: params.get(name, fill) for name, fill in fills.items()}
