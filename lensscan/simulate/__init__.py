"""Simulated data: labelled cutouts, HSC-like coadd patches, arcs injected into real cutouts.

Sub-packages, from the lowest layer up (each imports only the ones above it in this list):

* :mod:`~lensscan.simulate.physics`: how light is made and observed: photometry,
  cosmology, colours, light profiles and real galaxy shapes, PSFs, gravitational lensing,
  noise, and rendering onto pixels.
* :mod:`~lensscan.simulate.populations`: what is on the sky: lens systems and their
  sources, the centrals of non-lens cutouts, and the contaminants around them, drawn
  from a :class:`~lensscan.simulate.populations.population.Population`'s priors.
* :mod:`~lensscan.simulate.domains`: the generators ``lensscan simulate --domain`` names
  (``sim``, ``hsc`` and its families, ``hsc-galsim``), with the survey presets, the
  simulator families and each image's observing conditions.
* :mod:`~lensscan.simulate.cutouts`: ``lensscan simulate``: a domain's labelled cutouts,
  made in parallel into a cutout store.
* :mod:`~lensscan.simulate.fields`: ``lensscan simulate-field``: an HSC-like coadd
  patch with lenses, as calexp FITS files and truth catalogs.
* :mod:`~lensscan.simulate.inject`: ``lensscan simulate --domain inject``: simulated arcs
  painted onto real cutouts.
"""
