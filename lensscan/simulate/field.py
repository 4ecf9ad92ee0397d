"""HSC-like coadd patches to scan: many galaxies and stars, artefacts and injected lenses.

A patch is drawn from the same populations and rendered with the same components as the
``hsc`` cutout domain (no duplicated physics): galaxies from i-band number counts
(brighter than i = 21 drawn as cutout centrals: early types, spirals, rings, mergers ...),
stars with spikes, ghosts and dark sky-subtraction halos around bright stars, an
occasional satellite trail, no-data strips along the patch edge, and lens systems at
known positions. Each object is rendered as a stamp added in place; each band is then
convolved with its PSF, and correlated sky noise and shot noise are added.

Pixel convention of the truth catalogs (the one place it is defined): see
:data:`PIXEL_CONVENTION`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.bands import DEFAULT_BANDS
from lensscan.config import MIN_FIELD_SIZE
from lensscan.errors import SettingError, UserError
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.robust import MAD_TO_SIGMA
from lensscan.simulate.calexp import calexp_name, mask_bit, write_calexp
from lensscan.simulate.components import Component
from lensscan.simulate.conditions import ObservingConditions, draw_conditions
from lensscan.simulate.contaminants import (
    ARCSEC2_PER_DEG2,
    GALAXY_COUNT_AT_25,
    GALAXY_COUNT_SLOPE,
    STAR_COUNT_AT_20,
    STAR_COUNT_SLOPE,
    SkyResidual,
    draw_count_magnitudes,
    draw_field_galaxies,
    draw_ghost,
    draw_star,
    draw_trail,
)
from lensscan.simulate.families import FAMILIES
from lensscan.simulate.photometry import flux_to_mag
from lensscan.simulate.presets import HSC_WIDE, parse_bands
from lensscan.simulate.priors import draw_lens_system, draw_nonlens_central
from lensscan.simulate.psf import kernel_size, psf_kernels
from lensscan.simulate.render import Frame, add_components, convolve_large

PIXEL_CONVENTION = (
    "x, y: numpy 0-based pixel coordinates of the IMAGE array (x = column, y = row); "
    "(0, 0) is the centre of the first pixel. ra, dec = WCS.pixel_to_world(x, y) with "
    "astropy's 0-based pixel API (ICRS degrees). FITS 1-based pixels are x + 1, y + 1."
)
"""How truth x, y relate to pixels and to RA/Dec: numpy 0-based pixel centres."""

PATCH_SIZE = 4200
LENSES_PER_PATCH = 50
BRIGHT_GALAXY_MAG = 21.0  # brighter galaxies are drawn as cutout centrals (all types)
GALAXY_MAG_RANGE = (16.0, 26.0)
STAR_MAG_RANGE = (16.0, 25.0)
BRIGHT_STARS_PER_DEG2 = 50.0  # stars with i = 12-16 at high galactic latitude
SPIKE_MAG, GHOST_MAG, MASK_MAG = 18.5, 15.0, 17.5
SATURATION_FLUX = 1000.0  # noiseless pixel flux above which a single visit saturates
LENS_MARGIN_PX = 48
MIN_LENS_SEPARATION_PX = 80
EDGE_WIDTH_PX = 20
_STREAMS = ("conditions", "edges", "galaxies", "lenses", "stars", "artefacts", "noise")


@dataclass(frozen=True)
class FieldRequest:
    """A ``lensscan simulate-field`` request that validates itself on construction.

    Every default is written here once; text forms are accepted where options give text
    (``bands`` as ``"gri"`` or ``"g,r,i"``, ``patch`` as ``"4,4"``), and a bad value raises
    one :class:`UserError` naming the setting.

    Attributes:
        size: Patch side in pixels.
        bands: Bands, one calexp file each.
        n_lenses: Lenses to inject (default: 50 per 4200 x 4200 px, by area; at least 1).
        ra: RA of the patch centre (deg).
        dec: Dec of the patch centre (deg).
        tract: Tract number (file names, headers).
        patch: Patch (x, y) index.
        seed: The run's seed.
        family: Simulator family of the objects and conditions (``hsc``, ``hsc-train`` or
            ``hsc-heldout``; see :mod:`lensscan.simulate.families`).
    """

    size: int = PATCH_SIZE
    bands: tuple[str, ...] | str = DEFAULT_BANDS
    n_lenses: int | None = None
    ra: float = 150.0
    dec: float = 2.2
    tract: int = 9813
    patch: tuple[int, int] | str = (4, 4)
    seed: int = 0
    family: str = "hsc"

    def __post_init__(self) -> None:
        if self.size < MIN_FIELD_SIZE:
            raise SettingError("size", self.size, f"must be at least {MIN_FIELD_SIZE} pixels")
        n_lenses = self.n_lenses
        if n_lenses is None:
            n_lenses = max(1, round(LENSES_PER_PATCH * (self.size / PATCH_SIZE) ** 2))
        if n_lenses < 0:
            raise SettingError("n_lenses", n_lenses, "must be >= 0")
        if not 0.0 <= self.ra < 360.0:
            # :g shows the value as it is usually typed (150, not 150.0).
            raise UserError(f"`ra` {self.ra:g}: must be in [0, 360)")
        if not -90.0 <= self.dec <= 90.0:
            raise UserError(f"`dec` {self.dec:g}: must be in [-90, 90]")
        if self.tract < 0:
            raise SettingError("tract", self.tract, "must be >= 0")
        if self.seed < 0:
            raise SettingError("seed", self.seed, "must be >= 0")
        patch = self.patch
        if isinstance(patch, str):
            try:
                patch = tuple(int(part) for part in patch.split(","))
            except ValueError:
                patch = ()
        if len(patch) != 2 or min(patch) < 0:
            raise SettingError(
                "patch", self.patch, "expected two non-negative integers 'x,y', e.g. '4,4'"
            )
        if self.family not in FAMILIES:
            raise SettingError("family", self.family, f"choose one of {', '.join(FAMILIES)}")
        bands = self.bands if isinstance(self.bands, tuple) else parse_bands(self.bands, HSC_WIDE)
        object.__setattr__(self, "bands", bands)
        object.__setattr__(self, "n_lenses", n_lenses)
        object.__setattr__(self, "patch", (int(patch[0]), int(patch[1])))

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings for provenance."""
        return {
            "size": self.size,
            "bands": list(self.bands),
            "n_lenses": self.n_lenses,
            "ra": self.ra,
            "dec": self.dec,
            "tract": self.tract,
            "patch": list(self.patch),
            "seed": self.seed,
            "family": self.family,
        }


def field_wcs(request: FieldRequest) -> Any:
    """TAN WCS at 0.168"/px, north up, east left, centred on (ra, dec)."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [request.ra, request.dec]
    wcs.wcs.crpix = [(request.size + 1) / 2, (request.size + 1) / 2]  # FITS 1-based centre
    scale = HSC_WIDE.pixel_scale / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


@dataclass
class FieldScene:
    """Everything drawn for one patch.

    Attributes:
        conditions: One PSF and depth per band for the whole patch.
        galaxies: Galaxy and lens components (convolved with the PSF).
        direct: Stars, spikes, ghosts, halos and trails (already PSF-shaped).
        no_data: Per band, (H, W) boolean mask of pixels without data.
        lenses: Truth rows of the injected lenses.
        objects: Rows of every injected object (galaxies, stars, lenses).
        bright_stars: (x, y, radius) in pixels of BRIGHT_OBJECT masks.
    """

    conditions: ObservingConditions
    galaxies: list[Component]
    direct: list[Component]
    no_data: np.ndarray
    lenses: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    bright_stars: list[tuple[float, float, float]]


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)
    }


def _no_data_masks(rng: np.random.Generator, size: int, n_bands: int) -> np.ndarray:
    """Strips without data along one or two patch edges, a few pixels different per band.

    A patch at the edge of a tract or of the survey has no inputs along its border; the
    coadds of different bands cover slightly different areas.
    """
    masks = np.zeros((n_bands, size, size), bool)
    sides = rng.permutation(4)[: 1 + int(rng.uniform() < 0.5)]
    rows = np.arange(size)
    for side in sides:
        width = rng.uniform(0.01, 0.06) * size
        wobble = rng.uniform(0.0, 0.01) * size * np.sin(rows / size * 2 * np.pi * rng.uniform(1, 3))
        for band in range(n_bands):
            edge = np.clip(width + wobble + rng.uniform(-3, 3), 0, size)
            strip = np.arange(size)[None, :] < edge[:, None]  # (along edge, into patch)
            oriented = {0: strip, 1: strip[:, ::-1], 2: strip.T, 3: strip.T[::-1, :]}[int(side)]
            masks[band] |= oriented
    return masks


def _place_lenses(rng: np.random.Generator, n: int, size: int, no_data: np.ndarray) -> np.ndarray:
    """Lens centres (n, 2) in pixels, away from edges, no-data and each other."""
    usable = ~no_data.any(axis=0)
    positions: list[np.ndarray] = []
    for _ in range(200 * max(n, 1)):
        if len(positions) == n:
            break
        candidate = rng.uniform(LENS_MARGIN_PX, size - 1 - LENS_MARGIN_PX, 2)
        col, row = int(candidate[0]), int(candidate[1])
        window = usable[
            max(row - LENS_MARGIN_PX, 0) : row + LENS_MARGIN_PX,
            max(col - LENS_MARGIN_PX, 0) : col + LENS_MARGIN_PX,
        ]
        if not window.all():
            continue
        if (
            positions
            and np.min(np.hypot(*(np.array(positions) - candidate).T)) < MIN_LENS_SEPARATION_PX
        ):
            continue
        positions.append(candidate)
    if len(positions) < n:
        raise SettingError("n_lenses", n, f"too many lenses for a {size}x{size} px patch")
    return np.array(positions).reshape(n, 2)


def _mag_entries(prefix: str, fluxes: np.ndarray, bands: Sequence[str]) -> dict[str, float]:
    return {
        f"{prefix}_{band}": float(m) for band, m in zip(bands, flux_to_mag(fluxes), strict=True)
    }


def draw_field(request: FieldRequest) -> FieldScene:
    """Draw every object, artefact and lens of a patch."""
    rngs = _streams(request.seed)
    bands, size, scale = request.bands, request.size, HSC_WIDE.pixel_scale
    family = FAMILIES[request.family]
    population = family.population
    conditions = draw_conditions(rngs["conditions"], HSC_WIDE, bands, family.conditions)
    no_data = _no_data_masks(rngs["edges"], size, len(bands))
    side = size * scale
    area = side**2 / ARCSEC2_PER_DEG2
    galaxies: list[Component] = []
    objects: list[dict[str, Any]] = []

    rng = rngs["galaxies"]
    mags = draw_count_magnitudes(
        rng, area, GALAXY_MAG_RANGE, GALAXY_COUNT_SLOPE, GALAXY_COUNT_AT_25, 25.0
    )
    xs, ys = rng.uniform(0, side, (2, len(mags)))
    bright = mags < BRIGHT_GALAXY_MAG
    for x, y in zip(xs[bright], ys[bright], strict=True):
        components, params = draw_nonlens_central(rng, bands, float(x), float(y), population)
        galaxies += components
        objects.append(
            {
                "kind": "galaxy",
                "x": x / scale,
                "y": y / scale,
                **{f"mag_{b}": params[f"mag_central_{b}"] for b in bands},
            }
        )
    faint = draw_field_galaxies(
        rng, bands, xs[~bright], ys[~bright], mags[~bright], population.shape_half
    )
    galaxies += faint
    objects += [
        {
            "kind": "galaxy",
            "x": g.x0 / scale,
            "y": g.y0 / scale,
            **_mag_entries("mag", g.fluxes, bands),
        }
        for g in faint
    ]

    lenses: list[dict[str, Any]] = []
    rng = rngs["lenses"]
    for index, (col, row) in enumerate(_place_lenses(rng, request.n_lenses, size, no_data)):
        components, params = draw_lens_system(
            rng, bands, scale, float(col * scale), float(row * scale), population
        )
        galaxies += components
        lenses.append({"id": index, "x": float(col), "y": float(row), **params})
        objects.append(
            {
                "kind": "lens",
                "x": float(col),
                "y": float(row),
                **{f"mag_{b}": params[f"mag_central_{b}"] for b in bands},
            }
        )

    direct: list[Component] = []
    bright_stars: list[tuple[float, float, float]] = []
    rng = rngs["stars"]
    sigma = conditions.noise.pixel_sigma
    floor = 0.1 * float(sigma.min()) / scale**2
    star_mags = np.concatenate(
        [
            draw_count_magnitudes(
                rng, area, STAR_MAG_RANGE, STAR_COUNT_SLOPE, STAR_COUNT_AT_20, 20.0
            ),
            rng.uniform(12.0, 16.0, rng.poisson(BRIGHT_STARS_PER_DEG2 * area)),
        ]
    )
    for mag in star_mags:
        x, y = rng.uniform(0, side, 2)
        star = draw_star(rng, bands, conditions.psfs, float(x), float(y), float(mag), floor)
        direct += star
        objects.append(
            {
                "kind": "star",
                "x": x / scale,
                "y": y / scale,
                **_mag_entries("mag", star[0].fluxes, bands),
            }
        )
        if mag < MASK_MAG:
            bright_stars.append(
                (x / scale, y / scale, 5.0 * 10 ** (0.2 * (MASK_MAG - mag)) / scale)
            )
        if mag < GHOST_MAG:
            offset = rng.uniform(10.0, 60.0) * np.exp(1j * rng.uniform(0, 2 * np.pi))
            direct.append(draw_ghost(rng, bands, x + offset.real, y + offset.imag, sigma, scale))
            # Background over-subtraction leaves a dark halo around very bright stars.
            halo = rng.uniform(5.0, 15.0)
            amplitude = rng.uniform(0.2, 0.6) * sigma / scale**2
            direct.append(
                SkyResidual(float(x), float(y), halo, 0.0, np.inf, amplitude, extent=4 * halo)
            )

    rng = rngs["artefacts"]
    if rng.uniform() < 0.3:
        direct.append(draw_trail(rng, bands, sigma, scale, side / 2))
    return FieldScene(conditions, galaxies, direct, no_data, lenses, objects, bright_stars)


def render_field(
    scene: FieldScene, request: FieldRequest
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render a patch.

    Returns:
        image (C, H, W) float32, mask (C, H, W) int32, variance (C, H, W) float32 and the
        PSF kernels (C, k, k).
    """
    from scipy import ndimage

    size, scale = request.size, HSC_WIDE.pixel_scale
    frame = Frame(scale, 0.0, 0.0, size, size)
    n_bands = len(request.bands)
    canvas = np.zeros((n_bands, size, size), np.float32)
    add_components(canvas, frame, scene.galaxies)
    psfs = scene.conditions.psfs
    kernels = psf_kernels(psfs, scale, min(kernel_size(psfs, scale, 1e-3), 2 * (size // 2) - 1))
    model = convolve_large(canvas, kernels)
    del canvas
    add_components(model, frame, scene.direct)
    noise_rng = _streams(request.seed)["noise"]
    noise = scene.conditions.noise
    image = model + noise.sample(model, noise_rng)
    variance = (noise.pixel_sigma[:, None, None] ** 2 + noise.shot_variance(model)).astype(
        np.float32
    )
    mask = np.zeros(image.shape, np.int32)
    mask[model > SATURATION_FLUX] |= mask_bit("SAT") | mask_bit("INTRP")
    rows, cols = np.ogrid[:size, :size]
    for x, y, radius in scene.bright_stars:
        r0, r1 = max(int(y - radius), 0), min(int(y + radius) + 1, size)
        c0, c1 = max(int(x - radius), 0), min(int(x + radius) + 1, size)
        if r0 < r1 and c0 < c1:
            inside = (rows[r0:r1] - y) ** 2 + (cols[:, c0:c1] - x) ** 2 <= radius**2
            mask[:, r0:r1, c0:c1] |= np.where(inside, mask_bit("BRIGHT_OBJECT"), 0).astype(np.int32)
    for band in range(n_bands):
        sigma_px = psfs[band].fwhm / 2.355 / scale
        smoothed = ndimage.gaussian_filter(image[band], sigma_px)
        # Noise of the smoothed image, measured robustly from the image itself.
        noise_level = MAD_TO_SIGMA * np.median(
            np.abs(smoothed[::7, ::7] - np.median(smoothed[::7, ::7]))
        )
        mask[band][smoothed > 5.0 * noise_level] |= mask_bit("DETECTED")
        no_data = scene.no_data[band]
        edge = ndimage.binary_dilation(no_data, iterations=EDGE_WIDTH_PX) & ~no_data
        mask[band][edge] |= mask_bit("EDGE")
        mask[band][no_data] = mask_bit("NO_DATA")
        image[band][no_data] = 0.0
        variance[band][no_data] = np.inf
    return image.astype(np.float32), mask, variance, kernels


def _truth_table(scene: FieldScene, request: FieldRequest, wcs: Any, meta: dict[str, Any]) -> Any:
    from astropy import units as u
    from astropy.table import Table

    bands = request.bands
    columns = [
        "id",
        "ra",
        "dec",
        "x",
        "y",
        "einstein_radius_arcsec",
        "z_lens",
        "z_source",
        "velocity_dispersion",
        "magnification",
        "lens_mass_q",
        "shear",
        "source_real_shape",
    ]
    columns += [
        f"{prefix}_{band}" for prefix in ("mag_lens", "mag_source", "mag_arc") for band in bands
    ]
    rows = []
    for lens in scene.lenses:
        world = wcs.pixel_to_world(lens["x"], lens["y"])
        rows.append(
            {
                "id": lens["id"],
                "ra": float(world.ra.deg),
                "dec": float(world.dec.deg),
                "x": lens["x"],
                "y": lens["y"],
                "einstein_radius_arcsec": lens["einstein_radius"],
                "z_lens": lens["z_central"],
                "z_source": lens["z_source"],
                "velocity_dispersion": lens["velocity_dispersion"],
                "magnification": lens["magnification"],
                "lens_mass_q": lens["lens_mass_q"],
                "shear": lens["shear"],
                "source_real_shape": lens["source_real_shape"],
                **{f"mag_lens_{b}": lens[f"mag_central_{b}"] for b in bands},
                **{f"mag_source_{b}": lens[f"mag_source_{b}"] for b in bands},
                **{f"mag_arc_{b}": lens[f"mag_arc_{b}"] for b in bands},
            }
        )
    table = (
        Table(rows=rows, names=columns)
        if rows
        else Table(names=columns, dtype=[int] + [float] * (len(columns) - 1))
    )
    units = {
        "ra": u.deg,
        "dec": u.deg,
        "x": u.pix,
        "y": u.pix,
        "einstein_radius_arcsec": u.arcsec,
        "velocity_dispersion": u.km / u.s,
    }
    units.update({c: u.mag for c in columns if c.startswith("mag_")})
    for name, unit in units.items():
        table[name].unit = unit
    table.meta.update(meta)
    return table


def _objects_table(scene: FieldScene, request: FieldRequest, wcs: Any, meta: dict[str, Any]) -> Any:
    from astropy import units as u
    from astropy.table import Table

    table = Table(
        rows=scene.objects, names=["kind", "x", "y", *(f"mag_{b}" for b in request.bands)]
    )
    world = wcs.pixel_to_world(np.asarray(table["x"]), np.asarray(table["y"]))
    table["ra"] = world.ra.deg * u.deg
    table["dec"] = world.dec.deg * u.deg
    table["x"].unit = table["y"].unit = u.pix
    table.meta.update(meta)
    return table


def simulate_field_patch(request: FieldRequest, out: str | Path, *, overwrite: bool = False) -> str:
    """Simulate a patch into folder ``out`` (calexp per band, truth.ecsv, objects.ecsv).

    Raises:
        UserError: If ``out`` exists without ``overwrite``, cannot be written, or the
            lenses do not fit.
    """
    out_path = check_output_path(out, overwrite=overwrite, option="out")
    started = time.monotonic()
    scene = draw_field(request)
    logger.info(
        "simulate-field: rendering %d px: %d galaxy components, %d stars/artefacts, %d lenses",
        request.size,
        len(scene.galaxies),
        len(scene.direct),
        len(scene.lenses),
    )
    image, mask, variance, kernels = render_field(scene, request)
    wcs = field_wcs(request)
    record = provenance(command="simulate-field", settings=request.settings(), seed=request.seed)
    with_data = ~scene.no_data.any(axis=0)
    meta = {
        "pixel_convention": PIXEL_CONVENTION,
        "area_deg2": float(with_data.sum()) * HSC_WIDE.pixel_scale**2 / 3600.0**2,
        "seed": request.seed,
        "bands": list(request.bands),
        "pixel_scale": HSC_WIDE.pixel_scale,
        "tract": request.tract,
        "patch": f"{request.patch[0]},{request.patch[1]}",
        "files": {b: calexp_name(b, request.tract, request.patch) for b in request.bands},
        "psf_fwhm": {
            b: psf.fwhm for b, psf in zip(request.bands, scene.conditions.psfs, strict=True)
        },
        "provenance": record,
    }
    patch_origin = (request.patch[0] * 4000, request.patch[1] * 4000)
    with atomic_output(out_path) as tmp:
        tmp.mkdir()
        for k, band in enumerate(request.bands):
            psf = scene.conditions.psfs[k]
            write_calexp(
                tmp / calexp_name(band, request.tract, request.patch),
                band=band,
                image=image[k],
                mask=mask[k],
                variance=variance[k],
                psf_image=kernels[k],
                wcs_header=wcs.to_header(),
                tract=request.tract,
                patch=request.patch,
                patch_origin=patch_origin,
                extra={
                    "PSFFWHM": (psf.fwhm, "PSF FWHM (arcsec)"),
                    "PSFBETA": (psf.beta or 0.0, "Moffat beta of the PSF"),
                    "DEPTH5": (
                        float(scene.conditions.depths[k]),
                        "5 sigma 2 arcsec aperture depth (mag)",
                    ),
                    "LSSEED": (request.seed, "lensscan simulate-field seed"),
                    "LSVERS": (record["lensscan_version"], "lensscan version"),
                },
            )
        _truth_table(scene, request, wcs, meta).write(tmp / "truth.ecsv", format="ascii.ecsv")
        _objects_table(scene, request, wcs, meta).write(tmp / "objects.ecsv", format="ascii.ecsv")
    elapsed = time.monotonic() - started
    return (
        f"wrote {out_path}: {request.size}x{request.size} px patch in {''.join(request.bands)}, "
        f"{len(scene.objects) - len(scene.lenses)} galaxies and stars, {len(scene.lenses)} lenses "
        f"(truth.ecsv); {elapsed:.1f} s"
    )
