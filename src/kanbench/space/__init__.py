"""Search space, architecture strings and the analytic cost model."""

from kanbench.space import cost
from kanbench.space.architecture import (
    ACTIVATIONS,
    GRID_SIZES,
    KERNEL_SIZES,
    MAX_DEPTH,
    MIN_DEPTH,
    PADDINGS,
    SPLINE_ORDERS,
    Architecture,
    ConvLayer,
)
from kanbench.space.datasets import DATASETS, DatasetSpec, get_dataset
from kanbench.space.notation import format_canonical, format_compact, parse_architecture
from kanbench.space.search_space import HEADS, SearchSpace

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "GRID_SIZES",
    "HEADS",
    "KERNEL_SIZES",
    "MAX_DEPTH",
    "MIN_DEPTH",
    "PADDINGS",
    "SPLINE_ORDERS",
    "Architecture",
    "ConvLayer",
    "DatasetSpec",
    "SearchSpace",
    "cost",
    "format_canonical",
    "format_compact",
    "get_dataset",
    "parse_architecture",
]
