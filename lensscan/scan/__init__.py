"""Scanning survey fields: FITS inputs, tiling geometry, Dask scanner and candidates.

``fits_io`` opens inputs memory-mapped, ``tiling`` is the pure window/chunk geometry,
``workstore`` is the per-field Zarr work store, ``detect`` finds and preselects galaxies
with sep, ``chunks`` and ``detect_job`` are the per-chunk tasks of the grid/positions and
detect modes, ``scanner`` runs them on Dask, ``candidates`` turns score maps into ranked,
sky-located candidates, ``lock`` keeps two scans out of one catalog, and ``cutouts``
writes fields' objects into a cutout store.
"""
