"""Robust statistics of pixel values, shared by every layer that estimates a noise level.

The normalisation, the simulators' detection masks, injection's sky estimate and the
colour composites of galleries and the inspection pages all turn a median absolute
deviation into a Gaussian sigma with the same factor.
"""

from __future__ import annotations

MAD_TO_SIGMA = 1.4826
"""1 / Phi^-1(3/4): turns a median absolute deviation into a Gaussian sigma."""
