"""Simulated training data: labelled cutouts of two domains and HSC-like coadd patches.

Modules, one concept each:

* :mod:`~lensscan.simulate.photometry`: magnitudes and zero-point-27 fluxes.
* :mod:`~lensscan.simulate.presets`: survey presets (HSC Wide numbers in one place; "sim").
* :mod:`~lensscan.simulate.cosmology`: distances for Einstein radii and sizes.
* :mod:`~lensscan.simulate.colours`: observed colours of galaxy types and stars.
* :mod:`~lensscan.simulate.components`: the light-component interface and pixel sampling.
* :mod:`~lensscan.simulate.profiles`: Sersic, spiral-arm, ring and arc light profiles.
* :mod:`~lensscan.simulate.psf`: Moffat/Gaussian PSFs, kernels and point sources.
* :mod:`~lensscan.simulate.lensing`: SIE + external shear ray shooting, lensed sources.
* :mod:`~lensscan.simulate.galaxies`: real galaxy shapes cut from the Hubble Deep Field;
  :mod:`~lensscan.simulate.galaxy_cache` builds them on import, for worker processes.
* :mod:`~lensscan.simulate.noise`: sky noise at survey depth, correlated like a coadd.
* :mod:`~lensscan.simulate.conditions`: per-image PSF and depth drawn around the medians.
* :mod:`~lensscan.simulate.render`: pixel frames, component stamps, PSF convolution.
* :mod:`~lensscan.simulate.priors`: lens, source and central-galaxy populations.
* :mod:`~lensscan.simulate.contaminants`: neighbours, companions, stars and artefacts.
* :mod:`~lensscan.simulate.hsc_domain` / :mod:`~lensscan.simulate.sim_domain`: the domains.
* :mod:`~lensscan.simulate.domains`: the domain registry.
* :mod:`~lensscan.simulate.cutouts`: Dask-parallel cutout generation into a store.
* :mod:`~lensscan.simulate.field` / :mod:`~lensscan.simulate.calexp`: coadd patches.
"""
