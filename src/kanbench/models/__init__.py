"""Model layers for kanbench's Conv-KAN classifiers."""

from kanbench.models.kan_linear import KANLinear

__all__ = ["KANLinear"]
from kanbench.models.builder import build_model  # noqa: E402
