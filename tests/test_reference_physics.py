"""The simulator's physics against independent implementations.

Distances against astropy.cosmology, the Sersic profile against astropy.modeling, the Moffat
PSF against lenstronomy (whose ellipticity convention, product-averaged radii, is ours), in
the way tests/test_simulate.py checks the SIE deflection against lenstronomy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.cosmology import FlatLambdaCDM
from astropy.modeling.models import Moffat2D, Sersic2D
from scipy import integrate
from scipy.special import gammaincinv

from lensscan.simulate.physics import cosmology
from lensscan.simulate.physics.profiles import Sersic
from lensscan.simulate.physics.psf import PSF

#: The cosmology of lensscan.simulate.physics.cosmology; no radiation, as in its table.
ASTROPY = FlatLambdaCDM(H0=cosmology.H0, Om0=cosmology.OMEGA_M, Tcmb0=0.0)

REDSHIFTS = np.array([0.01, 0.1, 0.3, 0.5, 0.8, 1.0, 1.7, 2.5, 4.0, 5.9])


def test_comoving_and_angular_diameter_distances_match_astropy() -> None:
    np.testing.assert_allclose(
        cosmology.comoving_distance(REDSHIFTS),
        ASTROPY.comoving_distance(REDSHIFTS).to_value(u.Mpc),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        cosmology.angular_diameter_distance(REDSHIFTS),
        ASTROPY.angular_diameter_distance(REDSHIFTS).to_value(u.Mpc),
        rtol=1e-6,
    )


def test_distance_modulus_and_physical_scale_match_astropy() -> None:
    np.testing.assert_allclose(
        cosmology.distance_modulus(REDSHIFTS), ASTROPY.distmod(REDSHIFTS).value, atol=1e-5
    )
    np.testing.assert_allclose(
        cosmology.kpc_per_arcsec(REDSHIFTS),
        ASTROPY.kpc_proper_per_arcmin(REDSHIFTS).to_value(u.kpc / u.arcsec),
        rtol=1e-5,
    )


@pytest.mark.parametrize(("z_lens", "z_source"), [(0.2, 0.6), (0.5, 2.0), (1.0, 1.2), (0.3, 5.5)])
def test_lensing_distance_ratio_matches_astropy(z_lens: float, z_source: float) -> None:
    try:
        d_ls = ASTROPY.angular_diameter_distance(z_lens, z_source)  # astropy >= 8
    except TypeError:
        d_ls = ASTROPY.angular_diameter_distance_z1z2(z_lens, z_source)
    expected = (d_ls / ASTROPY.angular_diameter_distance(z_source)).to_value(u.one)
    assert cosmology.lensing_distance_ratio(z_lens, z_source) == pytest.approx(expected, rel=1e-6)
    assert cosmology.lensing_distance_ratio(z_source, z_lens) == 0.0


@pytest.mark.parametrize(
    ("n", "q", "pa", "rtol"),
    [
        # The Ciotti & Bertin b_n is asymptotic: 4e-4 off the exact value at n = 0.5.
        (0.5, 0.7, 0.4, 5e-3),
        (1.0, 0.5, 2.1, 1e-3),
        (2.5, 0.9, -0.7, 1e-4),
        (4.0, 0.6, 1.2, 1e-4),
    ],
)
def test_sersic_matches_astropy_modeling(n: float, q: float, pa: float, rtol: float) -> None:
    r_eff = 0.7
    ours = Sersic(0.3, -0.2, r_eff, n, q, pa, np.ones(1))
    # astropy's r_eff is the major-axis radius; ours the product-averaged one, sqrt(a b).
    major = r_eff / math.sqrt(q)
    b_n = gammaincinv(2 * n, 0.5)
    # The unit-flux surface brightness at r_eff, from the exact b_n.
    at_r_eff = b_n ** (2 * n) / (2 * math.pi * n * r_eff**2 * math.exp(b_n) * math.gamma(2 * n))
    reference = Sersic2D(at_r_eff, major, n, 0.3, -0.2, ellip=1 - q, theta=pa)
    # Within two half-light radii of the centre, where nearly all of the light is.
    x, y = np.random.default_rng(1).uniform(-1.4, 1.4, (2, 400)) + np.array([[0.3], [-0.2]])
    np.testing.assert_allclose(ours.shape(x, y), reference(x, y), rtol=rtol)


@pytest.mark.parametrize(("fwhm", "beta"), [(0.6, 2.5), (0.77, 4.0), (1.1, 1.8)])
def test_round_moffat_psf_matches_lenstronomy_and_astropy(fwhm: float, beta: float) -> None:
    from lenstronomy.LightModel.Profiles.moffat import Moffat

    psf = PSF(fwhm, beta)
    assert Moffat2D(1.0, 0.0, 0.0, psf.width, beta).fwhm == pytest.approx(fwhm, rel=1e-12)
    flux, _ = integrate.quad(
        lambda r: 2 * math.pi * r * Moffat().function(r, 0.0, 1.0, psf.width, beta), 0, np.inf
    )
    x, y = np.random.default_rng(2).uniform(-3, 3, (2, 400))
    reference = Moffat().function(x, y, 1.0 / flux, psf.width, beta)
    np.testing.assert_allclose(psf.profile(x, y), reference, rtol=1e-6)


@pytest.mark.parametrize(("q", "pa"), [(0.8, 0.3), (0.6, 2.0)])
def test_elliptical_moffat_psf_uses_lenstronomy_product_averaged_radii(q: float, pa: float) -> None:
    from lenstronomy.LightModel.Profiles.moffat import Moffat
    from lenstronomy.Util.param_util import phi_q2_ellipticity, transform_e1e2_product_average

    psf = PSF(0.7, 3.0, q=q, pa=pa)
    round_psf = PSF(0.7, 3.0)
    x, y = np.random.default_rng(3).uniform(-2, 2, (2, 400))
    e1, e2 = phi_q2_ellipticity(pa, q)
    x_round, y_round = transform_e1e2_product_average(x, y, e1, e2, 0.0, 0.0)
    # The same flux on ellipses of the same area: the round profile at the round radius.
    expected = round_psf.profile(x_round, y_round)
    np.testing.assert_allclose(psf.profile(x, y), expected, rtol=1e-6)
    lenstronomy_round = Moffat().function(x_round, y_round, 1.0, psf.width, 3.0)
    np.testing.assert_allclose(psf.profile(x, y) / lenstronomy_round, expected / lenstronomy_round)
