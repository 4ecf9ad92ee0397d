"""What is on the sky: the galaxies, lenses and contaminants a cutout or patch holds.

Every draw takes a :class:`numpy.random.Generator` and a family's priors
(:class:`~lensscan.simulate.populations.population.Population`) and returns light
components (:mod:`lensscan.simulate.physics`) plus the drawn parameters.

Modules, one concept each:

* :mod:`~lensscan.simulate.populations.population`: the priors, and what a draw returns.
* :mod:`~lensscan.simulate.populations.early_types`: massive early types, the lens
  galaxies and their non-lens twins.
* :mod:`~lensscan.simulate.populations.lenses`: strong lens systems: Einstein radii and
  lensed sources.
* :mod:`~lensscan.simulate.populations.centrals`: the centrals of non-lens cutouts
  (spirals, rings, mergers, edge-on disks, irregulars ...).
* :mod:`~lensscan.simulate.populations.contaminants`: neighbours, blue companions, stars
  and image artefacts.
"""
