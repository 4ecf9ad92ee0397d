"""A population's priors, and what every draw of a galaxy returns.

A simulator family (:mod:`lensscan.simulate.domains.families`) holds one
:class:`Population`, and every draw of this package reads it. A draw takes a
:class:`numpy.random.Generator` and returns light components plus a flat dictionary of
the drawn parameters (a row of the store's parameter table).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from lensscan.simulate.physics.components import Component

Params = dict[str, Any]
"""Drawn parameters: column name -> value, one row of a store's parameter table."""
Draw = tuple[list[Component], Params]
"""What a galaxy draw returns: its light components and its parameters."""


@dataclass(frozen=True)
class Population:
    """Priors of lenses, sources and non-lens centrals.

    Attributes:
        einstein_radius_range: Einstein radii kept (arcsec).
        discovery_ramp: ``(start, width)`` of the ramp in Einstein radius (arcsec) by
            which lenses whose arcs hide in the seeing are thinned.
        source_mag_r_range: Unlensed source r magnitudes.
        source_size_median: Median source half-light radius (arcsec).
        source_size_dex: Log-normal scatter of the source size (dex).
        source_size_limits: Smallest and largest source size (arcsec).
        source_offset_fraction: Largest source-plane offset in Einstein radii.
        real_source_fraction: Fraction of sources with a real galaxy shape.
        lens_sersic_n_range: Sersic index of early types (lens galaxies and their twins).
        colour_scatter: Scale of the per-galaxy colour scatter (1: the red sequence's).
        central_weights: Non-lens central type -> relative probability.
        shape_half: Real galaxy shapes used: 0 (even library indices), 1 (odd), None (all).
    """

    einstein_radius_range: tuple[float, float] = (0.6, 2.8)
    discovery_ramp: tuple[float, float] = (0.5, 0.7)
    source_mag_r_range: tuple[float, float] = (22.5, 25.0)
    source_size_median: float = 0.2
    source_size_dex: float = 0.22
    source_size_limits: tuple[float, float] = (0.05, 0.6)
    source_offset_fraction: float = 0.6
    real_source_fraction: float = 0.4
    lens_sersic_n_range: tuple[float, float] = (3.0, 5.5)
    colour_scatter: float = 1.0
    central_weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {
                "early_type": 0.40,
                "spiral": 0.20,
                "ring": 0.08,
                "merger": 0.10,
                "edge_on": 0.08,
                "irregular": 0.14,
            }
        )
    )
    shape_half: int | None = None


BASELINE_POPULATION = Population()
"""The priors of the baseline HSC-like domain (and of simulated fields)."""


def magnitude_columns(
    prefix: str, mags: Mapping[str, float] | None, bands: Sequence[str]
) -> Params:
    """``{prefix}_{band}`` parameter columns of per-band magnitudes (NaN without ``mags``)."""
    return {f"{prefix}_{band}": (np.nan if mags is None else float(mags[band])) for band in bands}
