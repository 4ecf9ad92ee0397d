"""``hsc-galsim``: an independent HSC-like test family, rendered by GalSim.

A test family that shares the training family's renderer, source library and arc model
flatters a model: the held-out family (``hsc-heldout``) differs in its priors and PSF
family but is drawn and rendered by the same code. This family shares none of that code.
Nothing here imports lensscan's own simulation physics, populations or other domains
(:mod:`lensscan.simulate.physics`, :mod:`lensscan.simulate.populations`); only the
survey's numbers (pixel scale, median seeing, depth and sky per band) come from the
``hsc`` preset (:mod:`lensscan.simulate.domains.presets`).

* Rendering: GalSim (pinned, ``lensscan[testfamily]``) draws every galaxy, star and PSF,
  convolves by its own FFTs and integrates over pixels.
* PSF: atmospheric Kolmogorov turbulence convolved with the Airy pattern of an 8.2 m
  pupil with a central obscuration, sheared a little: wings neither Moffat (training) nor
  a Gaussian core and halo (held-out).
* Lensing: lenstronomy's elliptical power-law mass (slope 1.8-2.2, not an isothermal
  ellipsoid) plus external shear, ray-traced at 4x4 sub-pixels.
* Sources: GalSim exponential disks with GalSim ``RandomKnots`` star-forming clumps,
  each with its own spectral template; neither Sersic-with-clumps nor the Hubble Deep
  Field shapes used in training.
* Colours: GalSim's Coleman-Wu-Weedman templates (E, Sbc, Scd, Im) redshifted through
  GalSim's LSST g, r, i, z, y throughputs, with K-corrections computed from the
  templates; distances from astropy's FlatLambdaCDM.
* Populations: deflectors from a velocity-dispersion prior with Faber-Jackson light and
  a size-dispersion relation; non-lenses of six kinds, each a known false positive:
  lens-like ellipticals drawn from the same prior as the deflectors (so brightness and
  size say nothing of the class), clumpy disks, ring galaxies (a bulge in a blue ring
  made as a difference of exponentials), edge-on disks, mergers and ellipticals with
  small blue companions at 1-3"; field galaxies and stars around every cutout.
* Noise: white sky noise at the band's depth resampled by a Lanczos-3 interpolant at a
  random sub-pixel shift and rotation, the correlation a warped coadd has, plus the
  objects' shot noise at the gain implied by the sky level.

Visible-arc criterion: a lens is kept only if its lensed source reaches a magnification
of at least 2 and a matched-filter signal-to-noise of at least
:data:`~lensscan.simulate.domains.hsc_galsim.population.MIN_ARC_SNR` against the sky noise,
counting only the pixels where the arc is at least as bright as the lens galaxy
(bands in quadrature, after the PSF): an arc buried in the deflector's light does not
pass. Otherwise the source, and after a few tries the whole system, is drawn again.

The family is for testing only: no command trains on it. Its validation split may choose
models; its test split only reports.
"""
