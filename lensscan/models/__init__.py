"""Lens-finding models: encoder registry, heads, model cards, weights and the LensFinder.

Scan and evaluate use only what this package exports::

    from lensscan.models import load_model, create_lens_finder, save_model, LensFinder, ModelCard
"""

from lensscan.models.card import ModelCard
from lensscan.models.finder import LensFinder, create_lens_finder, select_device
from lensscan.models.network import LensNet, build_network
from lensscan.models.registry import ENCODERS, create_encoder, register_encoder
from lensscan.models.weights import (
    DEFAULT_MODEL,
    load_model,
    resolve_model_path,
    save_model,
    weights_search_path,
)

__all__ = [
    "DEFAULT_MODEL",
    "ENCODERS",
    "LensFinder",
    "LensNet",
    "ModelCard",
    "build_network",
    "create_encoder",
    "create_lens_finder",
    "load_model",
    "register_encoder",
    "resolve_model_path",
    "save_model",
    "select_device",
    "weights_search_path",
]
