"""Scanning survey fields for lens candidates, one module per stage.

- FITS inputs: :mod:`~lensscan.scan.inputs` opens and checks a field for ``scan`` and
  ``cutouts`` alike, through :mod:`~lensscan.scan.fits_io` (layouts, region reads),
  :mod:`~lensscan.scan.hdu`, :mod:`~lensscan.scan.survey_files` and
  :mod:`~lensscan.scan.domain`; :mod:`~lensscan.scan.fieldlist` expands a command line's
  fields.
- Geometry: :mod:`~lensscan.scan.geometry` (centred windows inside a field, placing sky
  positions, pixel <-> sky) and :mod:`~lensscan.scan.tiling` (the window grid, chunks).
- Detections: :mod:`~lensscan.scan.detect` (background, extraction, photometry,
  preselection) and :mod:`~lensscan.scan.detections` (detect mode's chunk job).
- Modes and chunk jobs: :mod:`~lensscan.scan.modes` (detect, grid, positions behind one
  protocol) and :mod:`~lensscan.scan.chunks` (the grid and positions jobs, the chunk tasks).
- Cutouts: :mod:`~lensscan.scan.cutouts` (``lensscan cutouts``: a field's objects as a
  cutout store).
- Scoring: :mod:`~lensscan.scan.scoring` (the batched forward pass), run in process or on
  Dask by :mod:`~lensscan.scan.runner` and :mod:`~lensscan.scan.cluster`.
- Candidates and catalogs: :mod:`~lensscan.scan.candidates` (suppression, grouping, peaks),
  :mod:`~lensscan.scan.finalize` (a field's catalog and side outputs),
  :mod:`~lensscan.scan.combine` (a run's combined catalog), :mod:`~lensscan.scan.outputs`
  (where they go) and :mod:`~lensscan.scan.summary`.
- The run: :mod:`~lensscan.scan.plan` plans each field over its
  :mod:`~lensscan.scan.workstore` under :mod:`~lensscan.scan.lock`'s locks, and
  :mod:`~lensscan.scan.scanner` orchestrates the stages.
"""
