"""The AUROCs DeepLense published for its domain-adaptation comparison, for side-by-side tables.

DeepLense trained on simulations and tested on real Hyper Suprime-Cam cutouts: a single
band, 94 known lenses against 8,000 non-lenses. Its test set differs from the benchmark's
simulated HSC-like test split (three bands, about 100 non-lenses per lens), so the numbers
are a reference for the ordering of methods and encoders, not a target to match.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

REFERENCE_NAME = "DeepLense"
REFERENCE_DESCRIPTION = (
    "AUROC published by DeepLense on real HSC (single band, 94 lenses vs 8,000 non-lenses)"
)

#: method registry name -> encoder registry name -> published AUROC.
DEEPLENSE_AUROC: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "supervised": MappingProxyType({"efficientnet_b2": 0.816}),
        "adda": MappingProxyType(
            {"efficientnet_b2": 0.835, "resnet34": 0.797, "densenet121": 0.798, "ecnn": 0.879}
        ),
        "self_ensembling": MappingProxyType(
            {"efficientnet_b2": 0.604, "resnet34": 0.445, "densenet121": 0.537, "ecnn": 0.449}
        ),
        "adamatch": MappingProxyType(
            {"efficientnet_b2": 0.824, "resnet34": 0.800, "densenet121": 0.763, "ecnn": 0.795}
        ),
    }
)


def reference_auroc(method: str, encoder: str) -> float | None:
    """DeepLense's published AUROC of a cell, or None if it did not report one."""
    return DEEPLENSE_AUROC.get(method, {}).get(encoder)


def reference_encoders() -> tuple[str, ...]:
    """Encoders with at least one published number, in first-seen order."""
    seen: dict[str, None] = {}
    for row in DEEPLENSE_AUROC.values():
        seen.update(dict.fromkeys(row))
    return tuple(seen)
