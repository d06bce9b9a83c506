"""KANLinear: a Kolmogorov-Arnold layer with learnable B-spline activations.

Usage::

    >>> import torch
    >>> from kanbench.models import KANLinear
    >>> layer = KANLinear(64, 10, grid_size=5, spline_order=3)
    >>> layer(torch.randn(32, 64)).shape
    torch.Size([32, 10])
    >>> layer.update_grid(torch.rand(256, 64))  # move the knots to the data
    >>> loss = layer.regularization_loss()

The layer follows the parameter layout and the formulas of efficient-kan's
``KANLinear`` (Blealtan/efficient-kan), so state dicts load into either
implementation. For an input ``x`` of shape ``[..., in]``::

    y = base_activation(x) @ base_weight.T
        + bases(x).flatten(-2) @ (spline_weight * spline_scaler[..., None]).flatten(1).T

``bases(x)`` has shape ``[..., in, grid_size + spline_order]``. It contains the
B-splines of degree ``spline_order`` on the knots of ``grid`` (one knot row per
input feature), and every basis is zero outside the knot span
``[grid[:, 0], grid[:, -1])``.

efficient-kan runs the Cox-de Boor recursion over all
``grid_size + 2 * spline_order`` knot intervals. This module runs it only for
the ``spline_order + 1`` bases that can be non-zero at each input, on the
stored knots around the input, and scatters them into the dense basis tensor
inside a custom autograd function. Each basis gets the float operations of the
full recursion, so the bases equal efficient-kan's bit for bit whenever both
put the input in the same knot interval. The input gradient uses the analytic
B-spline derivative and agrees to float rounding.

The knot interval of each input comes from ``floor((x - first knot) / spacing)``
on a uniform grid (the constructor's grid) and from a binary search on any
other grid (for example after :meth:`KANLinear.update_grid`). A closed-form
polynomial for uniform grids would be faster still. But float32 knots such as
``0.05 * j`` are not exactly equidistant, and ignoring that moved input
gradients by up to 5e-5 from efficient-kan's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["KANLinear", "b_spline_bases", "is_uniform_grid", "uniform_grid"]

# Maximum distance of a knot from the arithmetic progression of its row, in
# units of the row's mean knot spacing, for a grid to count as uniform. float32
# grids from uniform_grid deviate by about eps32 * max|knot| / spacing, 1e-6 for
# 20 intervals over [-1, 1]. Inputs closer than this to a knot may be put in
# the neighbouring interval (see _locate_slots).
UNIFORM_GRID_RTOL = 1e-5


def _check_int(name: str, value: object, minimum: int, rule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"{name} must be an int, got {value!r} of type {type(value).__name__}; pass an int"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}: {rule}")
    return value


def _check_grid_range(grid_range: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(bound) for bound in grid_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"grid_range must be a pair of numbers (low, high), got {grid_range!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"grid_range must be finite with low < high, got {grid_range!r}; "
            "pass the interval that the inputs mostly fall in, such as (-1, 1)"
        )
    return low, high


def uniform_grid(
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: Sequence[float] = (-1.0, 1.0),
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Return efficient-kan's initial knot grid, ``[in_features, grid_size + 2 * spline_order + 1]``.

    Each row contains ``grid_size`` equal intervals over ``grid_range``, extended by
    ``spline_order`` intervals of the same width on each side.
    """
    low, high = _check_grid_range(grid_range)
    step = (high - low) / grid_size
    knots = torch.arange(-spline_order, grid_size + spline_order + 1, dtype=dtype) * step + low
    return knots.expand(in_features, -1).contiguous()


def is_uniform_grid(grid: torch.Tensor, rtol: float = UNIFORM_GRID_RTOL) -> bool:
    """Return whether every row of ``grid`` (``[in, n_knots]``) has equal, positive knot spacing.

    Each knot may lie up to ``rtol`` times the row's mean spacing away from
    the arithmetic progression between the row's first and last knot. Rows
    may differ in first knot and spacing. The check reads the tensor and so
    synchronizes with its device.
    """
    if grid.dim() != 2 or grid.size(1) < 2:
        return False
    knots = grid.double()
    mean_spacing = (knots[:, -1] - knots[:, 0]) / (knots.size(1) - 1)
    if not bool((mean_spacing > 0).all()):
        return False
    steps = torch.arange(knots.size(1), dtype=torch.float64, device=grid.device)
    progression = knots[:, :1] + steps * mean_spacing[:, None]
    deviation = (knots - progression).abs().amax(dim=1)
    return bool((deviation <= rtol * mean_spacing).all())


@dataclass(frozen=True)
class _GridTables:
    """Lookup tables for evaluating B-splines of one degree on one grid.

    Inputs are classified by ``slot = j + 1`` for knot interval ``j`` (with
    ``grid[i, j] <= x < grid[i, j + 1]``), ``slot = 0`` left of the knot span
    and ``slot = n_knots`` right of it.

    ``window[r, c]``, for ``r`` in ``0 .. 2 * order - 1``, is knot
    ``j - order + 1 + r`` of feature ``i``, at column ``c = window_start[i] + slot``.
    Rows ``2 * order ..`` hold whether each of the ``order + 1`` local bases
    (dense bases ``j - order .. j``) exists, as 0 or 1. When all rows of the
    grid are equal the table has one column per slot and ``window_start`` is
    None. Knots beyond the grid repeat the end spacing. They only reach bases
    that do not exist, as do the knots of the two outside slots.

    ``local_index[slot]`` contains the dense index of each local basis,
    clamped into range.
    """

    grid: torch.Tensor
    order: int
    uniform: bool
    repeated_knots: bool
    slot_offset: torch.Tensor
    inverse_spacing: torch.Tensor
    lower_bound: torch.Tensor
    upper_bound: torch.Tensor
    window: torch.Tensor
    window_start: torch.Tensor | None
    local_index: torch.Tensor

    @property
    def n_bases(self) -> int:
        return self.grid.size(1) - 1 - self.order


def _grid_tables(grid: torch.Tensor, order: int, uniform: bool | None = None) -> _GridTables:
    """Build the tables for ``grid`` (``[in, n_knots]``, non-decreasing rows) and degree ``order``."""
    in_features, n_knots = grid.shape
    n_bases = n_knots - 1 - order
    if uniform is None:
        uniform = is_uniform_grid(grid)
    shared_rows = bool((grid == grid[:1]).all())
    rows = grid[:1] if shared_rows else grid

    first_step = rows[:, 1:2] - rows[:, :1]
    last_step = rows[:, -1:] - rows[:, -2:-1]
    left_reach = torch.arange(order - 1, 0, -1, dtype=grid.dtype, device=grid.device)
    right_reach = torch.arange(1, order + 1, dtype=grid.dtype, device=grid.device)
    padded = torch.cat(
        [rows[:, :1] - first_step * left_reach, rows, rows[:, -1:] + last_step * right_reach], dim=1
    )
    knots = padded.unfold(1, 2 * order, 1)
    knots = torch.cat([knots[:, :1], knots], dim=1)

    slot = torch.arange(n_knots + 1, device=grid.device)[:, None]
    basis = slot - 1 - order + torch.arange(order + 1, device=grid.device)
    valid = (basis >= 0) & (basis < n_bases) & (slot > 0) & (slot < n_knots)
    valid = valid.to(grid.dtype).expand(rows.size(0), -1, -1)

    window = torch.cat([knots, valid], dim=2).permute(2, 0, 1).reshape(3 * order + 1, -1)
    window_start = None
    if not shared_rows:
        window_start = torch.arange(0, in_features * (n_knots + 1), n_knots + 1, device=grid.device)

    inverse_spacing = (n_knots - 1) / (grid[:, -1] - grid[:, 0])
    return _GridTables(
        grid=grid,
        order=order,
        uniform=uniform,
        repeated_knots=bool((grid.diff(dim=1) <= 0).any()),
        slot_offset=1 - grid[:, 0] * inverse_spacing,
        inverse_spacing=inverse_spacing,
        lower_bound=grid[:, 0] - first_step[:, 0],
        upper_bound=grid[:, -1] + last_step[:, 0],
        window=window.contiguous(),
        window_start=window_start,
        local_index=basis.clamp(0, n_bases - 1),
    )


def _locate_slots(x: torch.Tensor, tables: _GridTables) -> torch.Tensor:
    """Return the slot of each input (knot interval + 1, see :class:`_GridTables`), ``[batch, in]``.

    On a uniform grid the slot is ``floor(1 + (x - grid[:, 0]) / spacing)``,
    clamped to ``0 .. n_knots``. On other grids a binary search finds it.

    NOTE: on a uniform grid an input closer to a knot than about
    ``UNIFORM_GRID_RTOL`` times the spacing may land in the neighbouring
    interval. Its bases then differ from the full recursion's by about that
    relative amount for degree 1, and far less for higher degrees because
    the pieces meet smoothly. For degree 1 its derivative is then the
    one-sided derivative from the other side.
    """
    n_knots = tables.grid.size(1)
    if tables.uniform:
        position = torch.addcmul(tables.slot_offset, x, tables.inverse_spacing).floor_()
        # The integer clamp catches NaN, whose conversion to int64 is undefined.
        return position.clamp_(0, n_knots).long().clamp_(0, n_knots)
    return torch.searchsorted(tables.grid, x.T.contiguous(), right=True).T.contiguous()


def _local_bases(
    x: torch.Tensor, window: torch.Tensor, tables: _GridTables, with_slopes: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Evaluate the ``order + 1`` B-splines that can be non-zero at each input.

    ``window`` (``[2 * order, batch, in]``) contains the knots ``j - order + 1 ..
    j + order`` around each input in interval ``j``. Returns the values
    ``[order + 1, batch, in]`` (row ``m`` is basis ``j - order + m``) and, when
    ``with_slopes``, their derivatives in ``x`` divided by ``order``, of the
    same shape. Entries of bases that do not exist, and of inputs outside the
    knot span, are finite but meaningless, and the caller masks them.

    Degree ``k`` combines the bases of degree ``k - 1`` with the same float
    operations as the full Cox-de Boor recursion, which gets exact zeros for
    all other bases. A term whose knot difference is zero (a repeated knot)
    counts as zero, the usual convention for 0/0 in that recursion.
    """
    order = tables.order
    batch, in_features = x.shape

    # Rows order - k .. order - 1 hold x - t for the rising terms of degree k
    # and rows order .. order + k - 1 hold t - x for the falling terms. Inputs
    # outside the span are clamped next to it so that their values stay finite.
    x = torch.clamp(x, tables.lower_bound, tables.upper_bound)
    numerators = x.new_empty(2 * order, batch, in_features)
    torch.sub(x, window[:order], out=numerators[:order])
    torch.sub(window[order:], x, out=numerators[order:])

    bases = lower = width = None
    for degree in range(1, order + 1):
        width = window[order : order + degree] - window[order - degree : order]
        if tables.repeated_knots:
            width.masked_fill_(width == 0, math.inf)
        terms = numerators[order - degree : order + degree].view(2, degree, batch, in_features)
        terms = terms / width
        if bases is not None:
            terms *= bases
        rising, falling = terms[0], terms[1]

        lower = bases
        bases = x.new_empty(degree + 1, batch, in_features)
        bases[:degree] = falling
        bases[degree] = rising[-1]
        bases[1:degree] += rising[:-1]

    slopes = None
    if with_slopes:
        share = (lower / width) if lower is not None else 1 / width
        slopes = x.new_empty(order + 1, batch, in_features)
        torch.neg(share, out=slopes[:order])
        slopes[order] = share[-1]
        slopes[1:order] += share[:-1]
    return bases, slopes


class _DenseBSplineBases(torch.autograd.Function):
    """Scatter the local B-spline bases into ``[batch, in, n_bases]``, with the derivative in ``x``.

    The backward pass gathers the ``order + 1`` entries of the incoming
    gradient that belong to each input. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, tables: _GridTables) -> torch.Tensor:
        with_slopes = ctx.needs_input_grad[0]
        x = x.contiguous()
        batch, in_features = x.shape
        order = tables.order

        slot = _locate_slots(x, tables)
        column = slot if tables.window_start is None else slot + tables.window_start
        window = tables.window.index_select(1, column.view(-1)).view(-1, batch, in_features)
        values, slopes = _local_bases(x, window[: 2 * order], tables, with_slopes)
        valid = window[2 * order :]

        # Missing bases are zeroed and added, not written, because their
        # clamped indices coincide with those of existing bases.
        index = tables.local_index.index_select(0, slot.view(-1))
        dense = x.new_zeros(batch * in_features, tables.n_bases)
        dense.scatter_add_(1, index, (values * valid).view(order + 1, -1).T)

        if with_slopes:
            ctx.save_for_backward(index, slopes.mul_(valid))
            ctx.order = order
        return dense.view(batch, in_features, tables.n_bases)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_dense: torch.Tensor):
        index, slopes = ctx.saved_tensors
        batch, in_features, n_bases = grad_dense.shape
        grad_local = grad_dense.reshape(-1, n_bases).gather(1, index)
        slopes = slopes.view(ctx.order + 1, -1)

        grad_x = grad_local[:, 0] * slopes[0]
        for m in range(1, ctx.order + 1):
            grad_x.addcmul_(grad_local[:, m], slopes[m])
        return grad_x.mul_(ctx.order).view(batch, in_features), None


class _ScaledSplineLinear(torch.autograd.Function):
    """Compute ``bases @ (spline_weight * spline_scaler[..., None]).flatten(1).T`` with a lean backward.

    ``bases`` is ``[batch, in * n_bases]``. Autograd would allocate the
    weight gradient, its product with the scaler and its product with the
    spline weight as three tensors of the weight's size. This backward
    computes the scaler gradient as a contraction and scales the weight
    gradient in place. Not twice differentiable.
    """

    @staticmethod
    def forward(
        ctx, bases: torch.Tensor, spline_weight: torch.Tensor, spline_scaler: torch.Tensor
    ) -> torch.Tensor:
        weight = spline_weight * spline_scaler[..., None]
        ctx.save_for_backward(bases, spline_weight, spline_scaler, weight)
        return F.linear(bases, weight.view(weight.size(0), -1))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        bases, spline_weight, spline_scaler, weight = ctx.saved_tensors
        grad_bases = grad_spline_weight = grad_spline_scaler = None
        if ctx.needs_input_grad[0]:
            grad_bases = grad_output @ weight.view(weight.size(0), -1)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_weight = (grad_output.T @ bases).view_as(spline_weight)
            if ctx.needs_input_grad[2]:
                grad_spline_scaler = torch.einsum("oic,oic->oi", grad_weight, spline_weight)
            if ctx.needs_input_grad[1]:
                grad_spline_weight = grad_weight.mul_(spline_scaler[..., None])
        return grad_bases, grad_spline_weight, grad_spline_scaler


def _check_bases_arguments(x: torch.Tensor, grid: torch.Tensor, spline_order: int) -> None:
    if x.dim() != 2 or grid.dim() != 2 or x.size(1) != grid.size(0):
        raise ValueError(
            f"x must be [batch, in] and grid [in, n_knots] with the same in, "
            f"got x {tuple(x.shape)} and grid {tuple(grid.shape)}"
        )
    if grid.size(1) < spline_order + 2:
        raise ValueError(
            f"grid has {grid.size(1)} knots per row, but degree {spline_order} needs at least "
            f"{spline_order + 2}; add knots or lower spline_order"
        )


def b_spline_bases(
    x: torch.Tensor, grid: torch.Tensor, spline_order: int, uniform: bool | None = None
) -> torch.Tensor:
    """Evaluate the B-spline bases of degree ``spline_order`` on ``grid`` at ``x``.

    ``x`` is ``[batch, in]`` and ``grid`` ``[in, n_knots]`` with non-decreasing
    rows. Returns ``[batch, in, n_knots - 1 - spline_order]``; every basis is
    zero for inputs outside ``[grid[:, 0], grid[:, -1])``, and a NaN input gives
    NaN bases. Differentiable once in ``x``, not in ``grid``.

    ``uniform`` selects how knot intervals are found. ``None`` checks the grid
    with :func:`is_uniform_grid`. ``True`` computes them arithmetically, which
    is exact only if the grid passes that check. ``False`` always uses binary
    search.

    Raises ValueError if the shapes do not match or a row has fewer than
    ``spline_order + 2`` knots.
    """
    _check_int("spline_order", spline_order, 1, "degree 0 splines have no derivative")
    _check_bases_arguments(x, grid, spline_order)
    tables = _grid_tables(grid.to(x.dtype), spline_order, uniform)
    return _DenseBSplineBases.apply(x, tables)


class KANLinear(nn.Module):
    """Kolmogorov-Arnold linear layer, compatible with efficient-kan's ``KANLinear``.

    Parameters (no bias):

    * ``base_weight`` ``[out, in]``: weights of ``base_activation(x)``.
    * ``spline_weight`` ``[out, in, grid_size + spline_order]``: B-spline coefficients.
    * ``spline_scaler`` ``[out, in]``: per-edge scale of the spline term, present
      only when ``enable_standalone_scale_spline``.

    Buffer ``grid`` ``[in, grid_size + 2 * spline_order + 1]``: knots per input
    feature, uniform over ``grid_range`` and extended by ``spline_order`` knots
    on each side until :meth:`update_grid` moves them.

    Initialisation follows efficient-kan and draws from the global torch
    generator in the same order: ``base_weight`` is Kaiming-uniform with
    ``a = sqrt(5) * scale_base``. ``spline_weight`` is the least-squares fit of
    uniform noise of amplitude ``scale_noise / grid_size`` at the grid points,
    times ``scale_spline`` unless the standalone scaler is enabled. The
    ``spline_scaler`` is Kaiming-uniform with ``a = sqrt(5) * scale_spline``.

    Raises ValueError for ``in_features`` or ``out_features`` below 1,
    ``grid_size`` below 1, ``spline_order`` below 1, ``grid_eps`` outside
    ``[0, 1]`` or a ``grid_range`` that is not a finite interval.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        enable_standalone_scale_spline: bool = True,
        base_activation: Callable[[], nn.Module] = nn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1.0, 1.0),
    ) -> None:
        super().__init__()
        self.in_features = _check_int("in_features", in_features, 1, "the layer needs an input")
        self.out_features = _check_int("out_features", out_features, 1, "the layer needs an output")
        self.grid_size = _check_int(
            "grid_size", grid_size, 1, "the knot span needs at least one interval"
        )
        self.spline_order = _check_int(
            "spline_order",
            spline_order,
            1,
            "degree 0 splines are piecewise constant, so they pass no gradient to the "
            "input and efficient-kan cannot initialise them; use 1 (linear) or more",
        )
        if not 0.0 <= grid_eps <= 1.0:
            raise ValueError(
                f"grid_eps must lie in [0, 1], got {grid_eps!r}: it is the weight of the "
                "uniform grid against the data percentiles in update_grid"
            )

        self.register_buffer("grid", uniform_grid(in_features, grid_size, spline_order, grid_range))
        self.base_weight = nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = nn.Parameter(
            torch.empty(out_features, in_features, grid_size + spline_order)
        )
        if enable_standalone_scale_spline:
            self.spline_scaler = nn.Parameter(torch.empty(out_features, in_features))

        self.scale_noise = scale_noise
        self.scale_base = scale_base
        self.scale_spline = scale_spline
        self.enable_standalone_scale_spline = enable_standalone_scale_spline
        self.base_activation = base_activation()
        self.grid_eps = grid_eps

        # The grid tensor and its version counter when the cached tables were
        # built, so that they are rebuilt only after the grid changed.
        self._cached_tables: tuple[torch.Tensor, int, _GridTables] | None = None

        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new parameters as the constructor does; the grid stays as it is."""
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        with torch.no_grad():
            noise = (
                (torch.rand(self.grid_size + 1, self.in_features, self.out_features) - 0.5)
                * self.scale_noise
                / self.grid_size
            )
            points = self.grid.T[self.spline_order : -self.spline_order]
            spline_gain = 1.0 if self.enable_standalone_scale_spline else self.scale_spline
            self.spline_weight.copy_(spline_gain * self.curve2coeff(points, noise))
            if self.enable_standalone_scale_spline:
                nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"grid_size={self.grid_size}, spline_order={self.spline_order}"
        )

    @property
    def scaled_spline_weight(self) -> torch.Tensor:
        """Spline coefficients times the standalone scaler, ``[out, in, grid_size + spline_order]``."""
        if self.enable_standalone_scale_spline:
            return self.spline_weight * self.spline_scaler[..., None]
        return self.spline_weight

    @property
    def grid_is_uniform(self) -> bool:
        """Whether the knots are equally spaced per feature, which selects the arithmetic lookup."""
        return self._grid_tables(self.grid.dtype).uniform

    def _grid_tables(self, dtype: torch.dtype) -> _GridTables:
        # NOTE: the cache notices a replaced grid tensor and in-place changes
        # through the tensor itself (copy_, load_state_dict). A write through
        # grid.data bypasses the version counter and leaves stale tables.
        grid = self.grid
        cached = self._cached_tables
        if cached is not None:
            source, version, tables = cached
            if source is grid and version == grid._version and tables.grid.dtype == dtype:
                return tables
        tables = _grid_tables(grid.to(dtype), self.spline_order)
        self._cached_tables = (grid, grid._version, tables)
        return tables

    def b_splines(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the B-spline bases at ``x`` ``[batch, in]``.

        Returns ``[batch, in, grid_size + spline_order]``. Raises ValueError
        for any other input shape.
        """
        if x.dim() != 2 or x.size(1) != self.in_features:
            raise ValueError(
                f"x must be [batch, in_features={self.in_features}], got shape {tuple(x.shape)}"
            )
        return _DenseBSplineBases.apply(x, self._grid_tables(x.dtype))

    def curve2coeff(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fit spline coefficients to samples by least squares, per input feature.

        ``x`` is ``[batch, in]`` and ``y`` ``[batch, in, out]``. Returns the
        minimum-norm solution, ``[out, in, grid_size + spline_order]``. It stays
        finite when the bases are rank-deficient, as with fewer samples than
        coefficients, repeated samples or empty knot intervals. The fit runs in
        float64 through a pseudo-inverse that drops singular values below
        ``eps(dtype) * max(batch, n_bases)`` times the largest.
        """
        if y.dim() != 3 or y.shape[:2] != x.shape or y.size(2) != self.out_features:
            raise ValueError(
                f"y must be [batch, in, out] = [{x.size(0)}, {self.in_features}, "
                f"{self.out_features}] to match x, got {tuple(y.shape)}"
            )
        bases = self.b_splines(x).transpose(0, 1).double()
        targets = y.transpose(0, 1).double()
        rtol = torch.finfo(self.spline_weight.dtype).eps * max(bases.size(1), bases.size(2))
        solution = torch.linalg.pinv(bases, rtol=rtol) @ targets
        return solution.permute(2, 0, 1).to(self.spline_weight.dtype).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``x`` ``[..., in_features]``, returning ``[..., out_features]``."""
        self._check_features(x)
        leading_shape = x.shape[:-1]
        x = x.reshape(-1, self.in_features)

        base_output = F.linear(self.base_activation(x), self.base_weight)
        bases = self.b_splines(x).view(x.size(0), -1)
        if self.enable_standalone_scale_spline:
            spline_output = _ScaledSplineLinear.apply(bases, self.spline_weight, self.spline_scaler)
        else:
            spline_output = F.linear(bases, self.spline_weight.view(self.out_features, -1))
        return (base_output + spline_output).reshape(*leading_shape, self.out_features)

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Move the knots towards the distribution of ``x`` and refit the spline weights.

        ``x`` is ``[..., in_features]``. For each feature the new interior knots
        are ``grid_eps`` times a uniform grid over ``[min - margin, max + margin]``
        plus ``1 - grid_eps`` times ``grid_size + 1`` sample percentiles, and
        ``spline_order`` knots of the uniform step extend each side.

        The spline weights are refit by least squares so that, on ``x``, the
        spline term before ``spline_scaler`` stays as close as the new knots
        allow. The scaler therefore still applies once (efficient-kan refits the
        already scaled output, which applies it twice).

        Raises ValueError if ``x`` is empty, has non-finite values or the wrong
        feature count, ``margin`` is negative, or ``margin`` is 0 while a
        feature is constant over the batch (the grid would have zero width).
        """
        self._check_features(x)
        x = x.reshape(-1, self.in_features)
        if x.size(0) == 0:
            raise ValueError("update_grid needs at least one sample, got an empty batch")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("update_grid needs finite inputs, but x contains NaN or inf")
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be finite and >= 0, got {margin!r}")

        bases = self.b_splines(x)
        unscaled_output = torch.einsum("bic,oic->bio", bases, self.spline_weight)

        self.grid.copy_(self._adaptive_grid(x, margin))
        self.spline_weight.copy_(self.curve2coeff(x, unscaled_output))

    def _adaptive_grid(self, x: torch.Tensor, margin: float) -> torch.Tensor:
        """Return the knots for :meth:`update_grid`, ``[in, grid_size + 2 * spline_order + 1]``."""
        batch = x.size(0)
        x_sorted = x.sort(dim=0).values
        percentile_rows = torch.linspace(
            0, batch - 1, self.grid_size + 1, dtype=torch.int64, device=x.device
        )
        adaptive = x_sorted[percentile_rows]

        uniform_step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / self.grid_size
        if not bool((uniform_step > 0).all()):
            constant = torch.nonzero(uniform_step <= 0).flatten().tolist()
            raise ValueError(
                f"features {constant} are constant over the batch and margin is 0, so the new "
                "grid would have zero width; pass margin > 0"
            )
        steps = torch.arange(self.grid_size + 1, dtype=x.dtype, device=x.device)[:, None]
        uniform = steps * uniform_step + x_sorted[0] - margin
        interior = self.grid_eps * uniform + (1 - self.grid_eps) * adaptive

        reach = torch.arange(1, self.spline_order + 1, dtype=x.dtype, device=x.device)[:, None]
        grid = torch.cat(
            [
                interior[:1] - uniform_step * reach.flip(0),
                interior,
                interior[-1:] + uniform_step * reach,
            ],
            dim=0,
        )
        return grid.T.to(self.grid.dtype)

    def regularization_loss(
        self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0
    ) -> torch.Tensor:
        """Return efficient-kan's spline regularizer, a scalar tensor.

        With ``l1 = spline_weight.abs().mean(-1)`` (``[out, in]``), the loss is
        ``regularize_activation * l1.sum() + regularize_entropy * H(l1 / l1.sum())``
        with ``H(p) = -sum(p * log p)``. Zero entries of ``p`` add zero, where
        efficient-kan would return NaN.
        """
        tiny = torch.finfo(self.spline_weight.dtype).tiny
        l1 = self.spline_weight.abs().mean(-1)
        activation_loss = l1.sum()
        p = l1 / activation_loss.clamp_min(tiny)
        entropy_loss = -torch.sum(p * p.clamp_min(tiny).log())
        return regularize_activation * activation_loss + regularize_entropy * entropy_loss

    def _check_features(self, x: torch.Tensor) -> None:
        if x.dim() < 1 or x.size(-1) != self.in_features:
            raise ValueError(
                f"x must have in_features={self.in_features} in its last dimension, "
                f"got shape {tuple(x.shape)}"
            )
