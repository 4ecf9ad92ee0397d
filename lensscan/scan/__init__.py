"""Scanning survey fields: FITS inputs, tiling geometry, Dask scanner and candidates.

``fits_io`` opens inputs memory-mapped, ``tiling`` is the pure window/chunk geometry,
``workstore`` is the per-field Zarr work store, ``scanner`` runs chunks on Dask and
``candidates`` turns score maps into ranked, sky-located candidates.
"""
