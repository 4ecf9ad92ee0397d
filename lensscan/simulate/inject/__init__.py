"""Simulated lensed arcs painted onto real cutouts: ``lensscan simulate --domain inject``.

The galaxies, neighbours, artefacts and noise of each training image are then the
survey's own and only the arcs are simulated, as the lens searches that found the most
real lenses trained (HOLISMOKES on HSC, Jacobs and Rojas on DES). For each background
chosen to be a lens:

1. **Deflector from the galaxy's light.** The sky level and noise of every band are
   measured (sigma-clipped median and MAD), an inverse-variance-weighted detection image
   is made, and sep's object nearest the centre (within 15% of the cutout side) gives the
   deflector's centre, axis ratio and position angle. Without such an object, the mass
   sits at the centre with the prior's axis ratio (``deflector_from_light`` = 0).
2. **Einstein radius.** From the family's prior (the lensing-weighted velocity-dispersion
   function and redshifts, as simulated lenses are drawn), or, when the background's
   parameters hold a redshift and an i magnitude, from the Faber-Jackson velocity
   dispersion of that galaxy and a drawn source redshift; radii below
   ``min_einstein_radius`` (0.75", HOLISMOKES' lower bound) are redrawn.
3. **Source and arc.** A source of the family's population (real HDF shapes, or Sersic
   with clumps) behind an SIE plus shear aligned with the light, ray-traced on a
   sub-sampled grid, convolved with the background's PSF (a PSF image, or a Moffat of the
   FWHM the background or a setting gives, or HSC's median seeing), in zero-point-27
   flux and then in the background's own units: ``10**(0.4 (ZP - 27))`` per unit, or,
   for per-band min-max-normalised cutouts (values spanning exactly 0 to 1), the
   measured sky noise over HSC Wide's median sky noise in that band.
4. **Visibility.** The arc's matched-filter signal-to-noise against the measured sky
   noise, ``sqrt(sum(arc**2 / sigma**2))`` over bands and pixels, must reach
   ``min_arc_snr`` and its magnification ``min_magnification``; up to
   :data:`~lensscan.simulate.inject.injector.ARC_ATTEMPTS` arcs are drawn, and if none
   passes, the best one is brightened to the S/N cut (``arc_brightening`` records by how
   many magnitudes).
5. **Noise.** Poisson noise of the added flux, from a gain (a setting, else HSC Wide's
   sky-limited effective gain in the background's units), is added only where the arc
   adds flux, so the background is untouched beyond the arc's noise. Min-max-normalised
   cutouts are min-max-normalised again, so that they keep their format
   (``renormalised`` = 1 where the arc changed a band's range by more than 1%).

Negatives are the untouched backgrounds. With ``rotations``, backgrounds are reused
under the 8 flips and 90-degree rotations, so a run can hold up to 8 items per
background. Splits are drawn per background, so one background never sits in two
splits. An item depends only on the seed, its index and the backgrounds, never on the
order of work.

Modules, one concept each:

* :mod:`~lensscan.simulate.inject.request`: the settings of a run, checked once.
* :mod:`~lensscan.simulate.inject.backgrounds`: the real cutouts, from stores, folders
  or files, and what they say of their bands, pixel scale, zero points and PSFs.
* :mod:`~lensscan.simulate.inject.calibration`: bands, units, PSFs and gain of the arcs.
* :mod:`~lensscan.simulate.inject.deflector`: the sky and the deflector measured from a
  background's light.
* :mod:`~lensscan.simulate.inject.injector`: one item: an arc drawn, rendered, checked
  for visibility and painted with its noise.
* :mod:`~lensscan.simulate.inject.plan`: which background, flip or rotation, label and
  split each item gets.
* :mod:`~lensscan.simulate.inject.run`: the run, into a cutout store.
"""
