"""Architecture columns of an archive: the search space as integer arrays."""

from __future__ import annotations

import numpy as np

from kanbench.space import ACTIVATIONS, MAX_DEPTH, SearchSpace
from kanbench.space.search_space import HEADS


def architecture_columns(space: SearchSpace) -> dict[str, np.ndarray]:
    """Encode every architecture of ``space`` as columns indexed by arch_id.

    ``kernel_size`` and ``padding`` are ``[N, 7]`` arrays with 0 and -1 past
    the architecture's depth; ``activation`` indexes ``ACTIVATIONS``.
    """
    sequences = [key for by_depth in space.conv_sequences for key in by_depth]
    num_heads = len(HEADS)

    depth = np.empty(len(sequences), dtype=np.int8)
    kernel_size = np.zeros((len(sequences), MAX_DEPTH), dtype=np.int8)
    padding = np.full((len(sequences), MAX_DEPTH), -1, dtype=np.int8)
    for row, (kernels, paddings) in enumerate(sequences):
        depth[row] = len(kernels)
        kernel_size[row, : len(kernels)] = kernels
        padding[row, : len(paddings)] = paddings

    head_order = np.asarray([order for order, _, _ in HEADS], dtype=np.int8)
    head_grid = np.asarray([grid for _, grid, _ in HEADS], dtype=np.int8)
    head_activation = np.asarray([ACTIVATIONS.index(act) for _, _, act in HEADS], dtype=np.int8)
    num_sequences = len(sequences)

    return {
        "depth": np.repeat(depth, num_heads),
        "kernel_size": np.repeat(kernel_size, num_heads, axis=0),
        "padding": np.repeat(padding, num_heads, axis=0),
        "spline_order": np.tile(head_order, num_sequences),
        "grid_size": np.tile(head_grid, num_sequences),
        "activation": np.tile(head_activation, num_sequences),
    }
