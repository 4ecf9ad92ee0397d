"""Simulator families: how far each HSC-like generator varies around the survey's medians.

A lens finder is only as good as its figures on images from a generator it never saw. So
the HSC-like domain comes in three families that share the renderer and the physics but
differ the way another simulator or survey would:

* ``hsc`` (baseline): the HSC Wide medians with modest scatter, as the first target
  domain; kept unchanged so that earlier stores and figures reproduce.
* ``hsc-train`` (training): domain randomisation wider than one survey's medians (PSF
  FWHM per image and band, Moffat wings, PSF ellipticity, depth, noise correlation, lens
  and source colours, source sizes and morphology, Einstein radius and arc brightness,
  lens-light profile, contaminant rates), hard negatives weighted up (rings, mergers,
  spirals, edge-on disks, blue companions) and scan-aware negatives (empty sky,
  off-centre galaxies, bright-star halos, pieces of large galaxies). Real galaxy shapes:
  the even half of the library.
* ``hsc-heldout`` (out-of-family test): never used for training, tuning or selection.
  A PSF family absent from training (a core Gaussian with a Gaussian halo, not a Moffat),
  a five-tap Lanczos-like noise correlation, other prior ranges and mixtures, and the odd
  half of the real galaxy shapes, so no source or irregular galaxy shape is shared with
  training.

A family is plain data: the priors read it, none of its numbers lives elsewhere. The
classes of its parts live beside the code that reads them:
:class:`~lensscan.simulate.domains.conditions.ConditionsVariation`,
:class:`~lensscan.simulate.populations.population.Population` and
:class:`~lensscan.simulate.populations.contaminants.ContaminantRates`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lensscan.simulate.domains.conditions import ConditionsVariation
from lensscan.simulate.populations.contaminants import ContaminantRates
from lensscan.simulate.populations.population import Population


def lag1_kernel(a: float) -> tuple[float, float, float]:
    """The separable three-tap warping kernel ``(a, 1 - 2a, a)``."""
    return (a, 1.0 - 2.0 * a, a)


@dataclass(frozen=True)
class ScanNegatives:
    """Non-lens cutouts that look like what a scan meets between galaxies.

    Attributes:
        fraction: Fraction of non-lenses that are scan negatives (0: none).
        weights: Kind -> relative probability: ``empty_sky`` (no central),
            ``off_centre`` (a non-lens galaxy 1.5-5" from the centre), ``star_halo`` (a
            bright star within 10"), ``galaxy_piece`` (the outskirts of a large bright
            galaxy centred 4-12" away).
    """

    fraction: float = 0.0
    weights: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"empty_sky": 0.25, "off_centre": 0.35, "star_halo": 0.2, "galaxy_piece": 0.2}
        )
    )


@dataclass(frozen=True)
class SimulationFamily:
    """One HSC-like generator: conditions, populations, contaminants, centring.

    Attributes:
        name: The ``--domain`` name.
        description: One line for stores and help.
        conditions: PSF and noise variation; None: the survey preset's own scatter.
        population: Priors of lenses, sources and centrals.
        rates: Contaminant probabilities.
        rate_scatter: Each rate is multiplied by a factor drawn log-uniformly in
            ``[1 / (1 + s), 1 + s]`` per cutout (0: fixed rates).
        centre_jitter_px: Sigma of the central's offset from the cutout centre (pixels).
        scan_negatives: Scan-aware negatives.
    """

    name: str
    description: str
    conditions: ConditionsVariation | None = None
    population: Population = field(default_factory=Population)
    rates: ContaminantRates = field(default_factory=ContaminantRates)
    rate_scatter: float = 0.0
    centre_jitter_px: float = 0.3
    scan_negatives: ScanNegatives = field(default_factory=ScanNegatives)


BASELINE = SimulationFamily(
    name="hsc",
    description="HSC-SSP Wide-like: Moffat PSF, Wide depth, coadd-correlated noise",
)

TRAINING = SimulationFamily(
    name="hsc-train",
    description=(
        "HSC-like training family: randomised PSF, depth, noise correlation and priors; "
        "hard and scan-aware negatives; even half of the real shapes"
    ),
    conditions=ConditionsVariation(
        psf_kind="moffat",
        fwhm_image_scatter=0.22,
        fwhm_band_scatter=0.08,
        moffat_beta_range=(1.8, 6.0),
        max_ellipticity=0.12,
        depth_offset_range=(-1.0, 0.7),
        depth_band_scatter=0.2,
        noise_kernels=tuple(lag1_kernel(a) for a in (0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15)),
    ),
    population=Population(
        einstein_radius_range=(0.5, 3.0),
        discovery_ramp=(0.45, 0.6),
        source_mag_r_range=(21.5, 25.5),
        source_size_median=0.2,
        source_size_dex=0.28,
        source_size_limits=(0.04, 0.8),
        source_offset_fraction=0.7,
        real_source_fraction=0.5,
        lens_sersic_n_range=(2.0, 6.5),
        colour_scatter=2.0,
        central_weights=MappingProxyType(
            {
                "early_type": 0.30,
                "spiral": 0.18,
                "ring": 0.14,
                "merger": 0.14,
                "edge_on": 0.10,
                "irregular": 0.14,
            }
        ),
        shape_half=0,
    ),
    rates=ContaminantRates(
        blue_companions=0.35,
        bright_star=0.06,
        satellite_trail=0.03,
        ghost=0.04,
        sky_residual=0.3,
        no_data=0.04,
    ),
    rate_scatter=1.0,
    centre_jitter_px=0.8,
    scan_negatives=ScanNegatives(fraction=0.2),
)

# Lanczos-3 and bilinear resampling, as other coadd pipelines warp: a noise correlation
# reaching two pixels, with a negative lobe, which no training kernel has.
_LANCZOS_LIKE = (-0.04, 0.22, 0.64, 0.22, -0.04)
_BILINEAR_LIKE = (0.0, 0.25, 0.5, 0.25, 0.0)

HELDOUT = SimulationFamily(
    name="hsc-heldout",
    description=(
        "HSC-like held-out family for out-of-family figures: double-Gaussian PSF, "
        "five-tap noise correlation, other priors, odd half of the real shapes"
    ),
    conditions=ConditionsVariation(
        psf_kind="double_gaussian",
        fwhm_image_scatter=0.15,
        fwhm_band_scatter=0.06,
        moffat_beta_range=(2.5, 4.0),
        max_ellipticity=0.08,
        halo_fraction_range=(0.05, 0.25),
        halo_scale_range=(2.0, 3.5),
        depth_offset_range=(-0.5, 0.3),
        depth_band_scatter=0.12,
        noise_kernels=(_LANCZOS_LIKE, _BILINEAR_LIKE),
    ),
    population=Population(
        einstein_radius_range=(0.55, 2.6),
        discovery_ramp=(0.5, 0.9),
        source_mag_r_range=(22.0, 25.3),
        source_size_median=0.25,
        source_size_dex=0.25,
        source_size_limits=(0.05, 0.7),
        source_offset_fraction=0.55,
        real_source_fraction=0.6,
        lens_sersic_n_range=(2.5, 6.0),
        colour_scatter=1.5,
        central_weights=MappingProxyType(
            {
                "early_type": 0.32,
                "spiral": 0.24,
                "ring": 0.10,
                "merger": 0.12,
                "edge_on": 0.10,
                "irregular": 0.12,
            }
        ),
        shape_half=1,
    ),
    rates=ContaminantRates(
        blue_companions=0.4,
        bright_star=0.05,
        satellite_trail=0.02,
        ghost=0.02,
        sky_residual=0.25,
        no_data=0.03,
    ),
    centre_jitter_px=0.5,
)

FAMILIES: Mapping[str, SimulationFamily] = MappingProxyType(
    {family.name: family for family in (BASELINE, TRAINING, HELDOUT)}
)
