"""``lensscan simulate --domain D``: a domain's labelled cutouts, made in parallel into a store.

Modules, one concept each:

* :mod:`~lensscan.simulate.cutouts.request`: the settings of a run, checked once.
* :mod:`~lensscan.simulate.cutouts.plan`: every item's seed, label and split, so that the
  same seed gives the same store however the work is shared out.
* :mod:`~lensscan.simulate.cutouts.blocks`: a block of items drawn, rendered and written
  into its own chunk of the store.
* :mod:`~lensscan.simulate.cutouts.workers`: worker processes, started early and warmed up.
* :mod:`~lensscan.simulate.cutouts.run`: the run, into a store written atomically.
"""
