"""Analytic cost model: parameter counts, FLOPs and layer shapes.

Usage::

    >>> from kanbench.space import Architecture, cost
    >>> arch = Architecture.parse("10.10.25R")
    >>> cost.num_params(arch, "cifar10"), cost.num_flops(arch, "cifar10")
    (92336, 1672192)

Conventions (those of the NAS-KAN authors' result tables):

* Parameters: conv weights and biases, plus the KAN layer in efficient-kan's
  ``KANLinear`` layout, ``in * out * (grid + order + 2)`` (base weight,
  spline weights and spline scaler; no bias).
* FLOPs: ``2 * C_in * C_out * k * k * H_out * W_out`` per conv (a multiply and
  an add per MAC, H_out x W_out the conv output before pooling), plus, for
  the KAN layer, ``d_in + d_in * d_out * (9K(G + 1.5K) + 2G - 2.5K + 3)``
  with spline order K and grid size G, the formula of Yu et al., "KAN or MLP:
  A Fairer Comparison" (2024), with the base activation counted as one FLOP
  per input. Pooling, ReLU and biases are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kanbench.space.architecture import Architecture
from kanbench.space.datasets import DatasetSpec, get_dataset
from kanbench.space.search_space import HEADS, SearchSpace


@dataclass(frozen=True, slots=True)
class LayerCost:
    """Shapes and cost of one layer; shapes are ``(channels, height, width)`` or ``(features,)``."""

    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    num_params: int
    num_flops: int


@dataclass(frozen=True, slots=True)
class CostReport:
    """Per-layer costs of one architecture on one dataset, with totals."""

    layers: tuple[LayerCost, ...]
    kan_in_features: int

    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.layers)

    @property
    def num_flops(self) -> int:
        return sum(layer.num_flops for layer in self.layers)


def kan_params(in_features: int, out_features: int, spline_order: int, grid_size: int):
    """Parameters of a ``KANLinear``: base weight, spline weights and scaler.

    Works on ints and on numpy arrays alike.
    """
    return in_features * out_features * (grid_size + spline_order + 2)


def kan_flops(in_features, out_features, spline_order, grid_size):
    """FLOPs of one ``KANLinear`` forward pass for one input (Yu et al. 2024).

    ``9K(G + 1.5K) + 2G - 2.5K + 3`` per edge is computed as
    ``9KG + 2G + 3 + K(27K - 5) / 2``, where ``K(27K - 5)`` is always even, so
    the result is an exact integer. Works on ints and numpy arrays.
    """
    per_edge = 9 * spline_order * grid_size + 2 * grid_size + 3 + spline_order * (27 * spline_order - 5) // 2
    return in_features + in_features * out_features * per_edge


def analyze(arch: Architecture, dataset: str | DatasetSpec) -> CostReport:
    """Compute every layer's shapes, parameters and FLOPs.

    Raises:
        UnknownDatasetError: ``dataset`` is not built in.
        OutOfSpaceError: the architecture is invalid for the dataset's input.
    """
    spec = dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)
    sizes = SearchSpace.for_shape(spec.input_shape).spatial_sizes(arch)

    layers = []
    channels, height, width = spec.input_shape
    for position, (conv, out_channels, (pooled_h, pooled_w)) in enumerate(
        zip(arch.convs, arch.channels, sizes), start=1
    ):
        conv_h = height - conv.kernel_size + 2 * conv.padding + 1
        conv_w = width - conv.kernel_size + 2 * conv.padding + 1
        params = channels * out_channels * conv.kernel_size**2 + out_channels
        flops = 2 * channels * out_channels * conv.kernel_size**2 * conv_h * conv_w
        layers.append(
            LayerCost(
                f"conv{position}", (channels, height, width), (out_channels, pooled_h, pooled_w), params, flops
            )
        )
        channels, height, width = out_channels, pooled_h, pooled_w

    in_features = channels * height * width
    layers.append(
        LayerCost(
            "kan",
            (in_features,),
            (spec.num_classes,),
            kan_params(in_features, spec.num_classes, arch.spline_order, arch.grid_size),
            kan_flops(in_features, spec.num_classes, arch.spline_order, arch.grid_size),
        )
    )
    return CostReport(tuple(layers), in_features)


def num_params(arch: Architecture, dataset: str | DatasetSpec) -> int:
    """Trainable parameters of ``arch`` on ``dataset``; see :func:`analyze`."""
    return analyze(arch, dataset).num_params


def num_flops(arch: Architecture, dataset: str | DatasetSpec) -> int:
    """FLOPs of one forward pass on one image; see the module docstring."""
    return analyze(arch, dataset).num_flops


def cost_columns(dataset: str | DatasetSpec) -> dict[str, np.ndarray]:
    """``num_params``, ``num_flops`` and ``kan_in_features`` of every arch_id (int64 arrays)."""
    spec = dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)
    space = SearchSpace.for_shape(spec.input_shape)

    conv_params, conv_flops, in_features = [], [], []
    for kernels, paddings in (key for sequences in space.conv_sequences for key in sequences):
        params = flops = 0
        channels, height, width = spec.input_shape
        for position, (kernel, padding) in enumerate(zip(kernels, paddings)):
            out_channels = 8 << position
            conv_h = height - kernel + 2 * padding + 1
            conv_w = width - kernel + 2 * padding + 1
            params += channels * out_channels * kernel * kernel + out_channels
            flops += 2 * channels * out_channels * kernel * kernel * conv_h * conv_w
            channels, height, width = out_channels, conv_h // 2, conv_w // 2
        conv_params.append(params)
        conv_flops.append(flops)
        in_features.append(channels * height * width)

    conv_params_col = np.asarray(conv_params, dtype=np.int64)[:, None]
    conv_flops_col = np.asarray(conv_flops, dtype=np.int64)[:, None]
    in_col = np.asarray(in_features, dtype=np.int64)[:, None]
    orders = np.asarray([order for order, _, _ in HEADS], dtype=np.int64)[None, :]
    grids = np.asarray([grid for _, grid, _ in HEADS], dtype=np.int64)[None, :]

    return {
        "num_params": (conv_params_col + kan_params(in_col, spec.num_classes, orders, grids)).ravel(),
        "num_flops": (conv_flops_col + kan_flops(in_col, spec.num_classes, orders, grids)).ravel(),
        "kan_in_features": np.broadcast_to(in_col, (in_col.shape[0], len(HEADS))).ravel().copy(),
    }

