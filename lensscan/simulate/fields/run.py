"""A ``lensscan simulate-field`` run: draw a patch, render it, write calexps and truth.

The folder appears only once complete: one calexp FITS per band, ``truth.ecsv`` (the
lenses) and ``objects.ecsv`` (every object).
"""

from __future__ import annotations

import time
from pathlib import Path

from lensscan.atomic import atomic_output, check_output_path
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.fields.calexp import calexp_name, write_calexp
from lensscan.simulate.fields.render import render_field
from lensscan.simulate.fields.request import FieldRequest, field_wcs
from lensscan.simulate.fields.scene import draw_field
from lensscan.simulate.fields.truth import PIXEL_CONVENTION, objects_table, truth_table


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
        truth_table(scene, request, wcs, meta).write(tmp / "truth.ecsv", format="ascii.ecsv")
        objects_table(scene, request, wcs, meta).write(tmp / "objects.ecsv", format="ascii.ecsv")
    elapsed = time.monotonic() - started
    return (
        f"wrote {out_path}: {request.size}x{request.size} px patch in {''.join(request.bands)}, "
        f"{len(scene.objects) - len(scene.lenses)} galaxies and stars, {len(scene.lenses)} lenses "
        f"(truth.ecsv); {elapsed:.1f} s"
    )
