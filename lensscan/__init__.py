"""lensscan: domain-adapted strong-lens finding for Hyper Suprime-Cam survey images.

Importing the package stays light: heavy pieces (torch, lenstronomy, dask) load in the
modules that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
