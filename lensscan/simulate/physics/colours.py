"""Observed HSC colours of galaxy types and stars, and magnitudes in every band.

Colours are given as ``(g-r, r-i, i-z, z-y)``; a magnitude in one band plus colours gives
all five bands. The early-type track approximates the red sequence seen in HSC
(passive galaxies redden quickly with redshift in g-r and r-i); star-forming galaxies and
lensed sources have flat, blue spectra; the stellar locus is a piecewise fit to the main
sequence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lensscan.simulate.physics.photometry import mag_to_flux

# Red-sequence (passive) colours versus redshift.
_EARLY_Z = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5])
_EARLY_COLOURS = np.array(
    [
        [0.75, 0.38, 0.20, 0.10],
        [0.95, 0.42, 0.22, 0.11],
        [1.20, 0.47, 0.25, 0.13],
        [1.45, 0.55, 0.30, 0.15],
        [1.65, 0.68, 0.35, 0.17],
        [1.80, 0.85, 0.40, 0.20],
        [1.90, 1.00, 0.46, 0.24],
        [1.95, 1.15, 0.55, 0.28],
        [1.95, 1.30, 0.65, 0.33],
        [1.90, 1.40, 0.80, 0.45],
        [1.50, 1.20, 0.90, 0.60],
    ]
)
# K-correction from rest-frame r to observed i for passive galaxies (mag).
_EARLY_K_RI = np.array([-0.38, -0.33, -0.25, -0.12, 0.05, 0.25, 0.45, 0.70, 0.95, 1.40, 2.2])

# Star-forming colours: from a starburst (t=0) to an Sb/Sc disk (t=1) at low redshift.
_BLUE_COLOURS = np.array([0.05, 0.05, 0.00, 0.00])
_DISK_COLOURS = np.array([0.65, 0.35, 0.20, 0.10])


def early_type_colours(z: float | np.ndarray) -> np.ndarray:
    """Red-sequence colours ``(g-r, r-i, i-z, z-y)`` at redshift ``z`` (shape (..., 4))."""
    return np.stack([np.interp(z, _EARLY_Z, _EARLY_COLOURS[:, k]) for k in range(4)], axis=-1)


def early_type_k_correction(z: float) -> float:
    """Observed-i minus rest-frame-r K-correction of a passive galaxy at ``z``."""
    return float(np.interp(z, _EARLY_Z, _EARLY_K_RI))


def star_forming_colours(t: float | np.ndarray, z: float | np.ndarray = 0.3) -> np.ndarray:
    """Colours of a star-forming galaxy (shape (..., 4)).

    Args:
        t: 0 for a blue starburst, 1 for an Sb/Sc disk.
        z: Redshift; disks redden a little with redshift in g-r.
    """
    t = np.asarray(t, dtype=float)[..., None]
    colours = (1 - t) * _BLUE_COLOURS + t * _DISK_COLOURS
    colours[..., 0] += 0.3 * t[..., 0] * np.minimum(z, 1.0)
    return colours


def stellar_locus_colours(g_minus_r: float) -> np.ndarray:
    """Main-sequence star colours for a given g-r (0.2 hot ... 1.5 M dwarf)."""
    r_minus_i = 0.38 * g_minus_r - 0.05 if g_minus_r < 1.3 else 0.44 + 2.5 * (g_minus_r - 1.3)
    i_minus_z = 0.45 * r_minus_i
    z_minus_y = 0.35 * i_minus_z
    return np.array([g_minus_r, r_minus_i, i_minus_z, z_minus_y])


def magnitudes(anchor_band: str, anchor_mag: float, colours: Sequence[float]) -> dict[str, float]:
    """All five magnitudes from one band's magnitude and colours ``(g-r, r-i, i-z, z-y)``."""
    g_r, r_i, i_z, z_y = (float(c) for c in colours)
    # Offsets of each band from i: m_band = m_i + offset.
    offsets = {"g": g_r + r_i, "r": r_i, "i": 0.0, "z": -i_z, "y": -i_z - z_y}
    m_i = anchor_mag - offsets[anchor_band]
    return {band: m_i + offset for band, offset in offsets.items()}


_OFFSET_FROM_I = {
    "g": np.array([1.0, 1.0, 0.0, 0.0]),
    "r": np.array([0.0, 1.0, 0.0, 0.0]),
    "i": np.array([0.0, 0.0, 0.0, 0.0]),
    "z": np.array([0.0, 0.0, -1.0, 0.0]),
    "y": np.array([0.0, 0.0, -1.0, -1.0]),
}


def fluxes_from_i(mag_i: np.ndarray, colours: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """Fluxes (n, n_bands) of n objects from i magnitudes (n,) and colours (n, 4)."""
    offsets = np.stack([_OFFSET_FROM_I[band] for band in bands], axis=1)
    return mag_to_flux(np.asarray(mag_i)[:, None] + colours @ offsets)


def band_fluxes(mags: Mapping[str, float], bands: Sequence[str]) -> np.ndarray:
    """Fluxes (zero-point 27) in ``bands`` from a magnitude dictionary."""
    return mag_to_flux(np.array([mags[band] for band in bands]))
