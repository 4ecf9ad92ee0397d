"""The domains of ``lensscan simulate --domain``: generators of labelled cutouts.

A domain draws one item's scene from its own random stream and renders it with noise
from a second (:class:`~lensscan.simulate.domains.registry.Domain`).

Modules, one concept each:

* :mod:`~lensscan.simulate.domains.registry`: domain name -> generator, and the
  protocol every domain follows.
* :mod:`~lensscan.simulate.domains.presets`: survey presets (HSC Wide's numbers in one
  place; "sim").
* :mod:`~lensscan.simulate.domains.families`: the simulator families of the HSC-like
  domain (``hsc``, ``hsc-train``, ``hsc-heldout``): how far each varies.
* :mod:`~lensscan.simulate.domains.conditions`: each image's PSF and depth, drawn around
  the preset's medians as its family says.
* :mod:`~lensscan.simulate.domains.hsc`: the HSC Wide-like domains.
* :mod:`~lensscan.simulate.domains.sim`: the simple source domain (lenstronomy, as in
  the DeepLense simulations).
* :mod:`~lensscan.simulate.domains.hsc_galsim`: ``hsc-galsim``, an independent test
  family that shares no simulation code with the others, rendered by GalSim.
"""
