"""``lensscan simulate-field``: HSC-like coadd patches to scan, with lenses at known places.

Modules, one concept each:

* :mod:`~lensscan.simulate.fields.request`: the settings of a run and the patch's WCS.
* :mod:`~lensscan.simulate.fields.scene`: every galaxy, star, artefact and lens of a
  patch, drawn.
* :mod:`~lensscan.simulate.fields.render`: the drawn patch rendered with PSF, noise,
  masks and variance.
* :mod:`~lensscan.simulate.fields.truth`: the truth catalogs and their pixel convention.
* :mod:`~lensscan.simulate.fields.calexp`: FITS files laid out like HSC ``calexp`` files.
* :mod:`~lensscan.simulate.fields.run`: the run, into a folder written atomically.
"""
