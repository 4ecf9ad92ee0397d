"""How light is made and observed: the physics every HSC-like image is rendered with.

Modules, one concept each:

* :mod:`~lensscan.simulate.physics.photometry`: magnitudes and zero-point-27 fluxes.
* :mod:`~lensscan.simulate.physics.cosmology`: distances for Einstein radii and sizes.
* :mod:`~lensscan.simulate.physics.colours`: observed colours of galaxy types and stars.
* :mod:`~lensscan.simulate.physics.components`: the light-component interface and pixel
  sampling.
* :mod:`~lensscan.simulate.physics.profiles`: Sersic, spiral-arm, ring and arc light
  profiles.
* :mod:`~lensscan.simulate.physics.galaxies`: real galaxy shapes cut from the Hubble Deep
  Field; :mod:`~lensscan.simulate.physics.galaxy_cache` builds them on import, for
  worker processes.
* :mod:`~lensscan.simulate.physics.psf`: Moffat and Gaussian PSFs, kernels and point
  sources.
* :mod:`~lensscan.simulate.physics.lensing`: SIE + external shear ray shooting, lensed
  sources.
* :mod:`~lensscan.simulate.physics.noise`: sky noise at survey depth, correlated like a
  coadd, and shot noise.
* :mod:`~lensscan.simulate.physics.render`: pixel frames, component stamps, PSF
  convolution.

Nothing here knows about surveys, populations or stores: the layers above choose the
numbers.
"""
