"""Domain-adaptation methods, each a small class on the shared training loop."""

from lensscan.adapt.base import Batch, Method, MethodContext
from lensscan.adapt.registry import METHODS, build_method, check_options, method_class

__all__ = [
    "METHODS",
    "Batch",
    "Method",
    "MethodContext",
    "build_method",
    "check_options",
    "method_class",
]
