"""Baseline KANLinear that evaluates B-splines the way efficient-kan does, for benchmarks and tests.

Usage::

    from kanbench.models import KANLinear
    from reference_kan import ReferenceKANLinear   # with benchmarks/ on sys.path

    layer = KANLinear(256, 10, grid_size=5, spline_order=3)
    baseline = ReferenceKANLinear.from_layer(layer)   # same parameters and grid
    y = baseline(x)                                   # equals layer(x) to float32 rounding

This is the speed and memory baseline, written independently of efficient-kan
(Blealtan/efficient-kan) but with the same algorithm: the full Cox-de Boor
recursion over all ``grid_size + 2 * spline_order`` knot intervals of every
input feature, with full-size temporaries at each degree, differentiated by
autograd. It has the same parameter names and ``grid`` buffer as
``kanbench.models.KANLinear``, so state dicts load either way. It has no
initialisation, grid update or regularizer of its own; build it from a layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def cox_de_boor_bases(x: torch.Tensor, grid: torch.Tensor, spline_order: int) -> torch.Tensor:
    """Evaluate all B-spline bases of degree ``spline_order`` by the full recursion.

    ``x`` is ``[batch, in]`` and ``grid`` ``[in, n_knots]``. Returns
    ``[batch, in, n_knots - 1 - spline_order]``. Degree 0 is the indicator of
    ``grid[j] <= x < grid[j + 1]``, and each higher degree combines neighbouring
    bases with the knot ratios. Like efficient-kan, a repeated knot gives 0/0
    and so NaN.
    """
    x = x.unsqueeze(-1)
    bases = ((x >= grid[:, :-1]) & (x < grid[:, 1:])).to(x.dtype)
    for degree in range(1, spline_order + 1):
        rising = (x - grid[:, : -(degree + 1)]) / (grid[:, degree:-1] - grid[:, : -(degree + 1)])
        falling = (grid[:, degree + 1 :] - x) / (grid[:, degree + 1 :] - grid[:, 1:-degree])
        bases = rising * bases[:, :, :-1] + falling * bases[:, :, 1:]
    return bases.contiguous()


class ReferenceKANLinear(nn.Module):
    """Baseline layer: ``base_activation(x) @ base_weight.T`` plus the spline term of the full recursion.

    Parameters and buffer have the shapes of ``KANLinear`` and start as zeros.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        enable_standalone_scale_spline: bool = True,
        base_activation: Callable[[], nn.Module] = nn.SiLU,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.enable_standalone_scale_spline = enable_standalone_scale_spline

        n_bases = grid_size + spline_order
        self.register_buffer("grid", torch.zeros(in_features, n_bases + spline_order + 1))
        self.base_weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.spline_weight = nn.Parameter(torch.zeros(out_features, in_features, n_bases))
        if enable_standalone_scale_spline:
            self.spline_scaler = nn.Parameter(torch.zeros(out_features, in_features))
        self.base_activation = base_activation()

    @classmethod
    def from_layer(cls, layer: nn.Module) -> ReferenceKANLinear:
        """Build a baseline with a copy of the grid, the parameters and the activation of ``layer``.

        The copy has the dtype and device of ``layer.base_weight``.
        """
        baseline = cls(
            layer.in_features,
            layer.out_features,
            layer.grid_size,
            layer.spline_order,
            layer.enable_standalone_scale_spline,
            type(layer.base_activation),
        )
        baseline.to(layer.base_weight)
        baseline.load_state_dict(layer.state_dict())
        return baseline

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` ``[..., in_features]``, returning ``[..., out_features]``."""
        leading_shape = x.shape[:-1]
        x = x.reshape(-1, self.in_features)

        spline_weight = self.spline_weight
        if self.enable_standalone_scale_spline:
            spline_weight = spline_weight * self.spline_scaler.unsqueeze(-1)

        base_output = F.linear(self.base_activation(x), self.base_weight)
        bases = cox_de_boor_bases(x, self.grid, self.spline_order)
        spline_output = F.linear(
            bases.view(x.size(0), -1), spline_weight.view(self.out_features, -1)
        )
        return (base_output + spline_output).reshape(*leading_shape, self.out_features)
