"""The search space of one input size and its canonical enumeration.

Usage::

    >>> from kanbench.space import SearchSpace
    >>> space = SearchSpace.for_dataset("cifar10")
    >>> len(space)
    25980
    >>> space[3]
    Architecture(...)
    >>> space.index("Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=8,act=ReLU)")
    3

Enumeration order (this is the ``arch_id`` of the authors' tables): depth 2
to 7; within a depth, the conv blocks in ``itertools.product`` order over the
(kernel, padding) pairs (1,0), (1,1), (3,0), ..., (7,1), keeping only valid
sequences; then spline order 2..5, grid size 5, 8, 10, 15, 20 and activation
ReLU, GELU, SiLU, the activation varying fastest.

A sequence is valid when its kernels never decrease (constraint II) and the
spatial size stays at least 1 after every Conv2d(stride 1) + MaxPool2d(2)
block (constraint I): ``size -> (size - kernel + 2 * padding + 1) // 2``.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator

import numpy as np

from kanbench.errors import OutOfSpaceError
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
from kanbench.space.datasets import get_dataset

CONV_PAIRS: tuple[tuple[int, int], ...] = tuple((k, p) for k in KERNEL_SIZES for p in PADDINGS)
HEADS: tuple[tuple[int, int, str], ...] = tuple(
    (order, grid, act) for order in SPLINE_ORDERS for grid in GRID_SIZES for act in ACTIVATIONS
)
"""(spline_order, grid_size, activation) in enumeration order; 60 heads."""

_HEAD_RANK = {head: rank for rank, head in enumerate(HEADS)}
_HEAD_STRINGS = tuple(f"KAN(order={order},grid={grid},act={act})" for order, grid, act in HEADS)
_HEAD_INDEX_BY_STRING = {string: index for index, string in enumerate(_HEAD_STRINGS)}

ConvKey = tuple[tuple[int, ...], tuple[int, ...]]
"""(kernel_sizes, paddings) of a conv sequence."""


def conv_output_size(size: int, kernel_size: int, padding: int) -> int:
    """Spatial size after Conv2d(stride 1) and MaxPool2d(2), in pixels."""
    return (size - kernel_size + 2 * padding + 1) // 2


@functools.lru_cache(maxsize=None)
def _enumerate_conv_sequences(height: int, width: int) -> tuple[tuple[ConvKey, ...], ...]:
    """Valid conv sequences per depth (index 0 is depth 2), in product order."""
    by_depth: list[list[ConvKey]] = [[] for _ in range(MIN_DEPTH, MAX_DEPTH + 1)]

    def extend(pairs: list[tuple[int, int]], h: int, w: int) -> None:
        depth = len(pairs)
        if depth >= MIN_DEPTH:
            kernels = tuple(k for k, _ in pairs)
            paddings = tuple(p for _, p in pairs)
            by_depth[depth - MIN_DEPTH].append((kernels, paddings))
        if depth == MAX_DEPTH:
            return
        for kernel, padding in CONV_PAIRS:
            if pairs and kernel < pairs[-1][0]:
                continue
            next_h, next_w = conv_output_size(h, kernel, padding), conv_output_size(w, kernel, padding)
            if next_h >= 1 and next_w >= 1:
                extend([*pairs, (kernel, padding)], next_h, next_w)

    # Depth-first search in pair order visits sequences of one depth in
    # itertools.product order, so sorting by depth alone keeps the order.
    extend([], height, width)
    return tuple(tuple(sequences) for sequences in by_depth)


class SearchSpace:
    """All valid architectures for one input shape, indexed by ``arch_id``.

    ``space[arch_id]``, ``space.index(arch)`` and ``arch in space`` take
    constant time. Iteration yields architectures in ``arch_id`` order.

    Args:
        input_shape: ``(channels, height, width)`` of the input images.
    """

    def __init__(self, input_shape: tuple[int, int, int]):
        channels, height, width = (int(v) for v in input_shape)
        if min(channels, height, width) < 1:
            raise ValueError(f"invalid input shape {input_shape!r}; channels, height and width must be >= 1")
        self.input_shape = (channels, height, width)
        self.conv_sequences = _enumerate_conv_sequences(height, width)
        self._conv_rank: dict[ConvKey, int] = {}
        self._depth_offsets: list[int] = []
        offset = 0
        for sequences in self.conv_sequences:
            self._depth_offsets.append(offset)
            for rank, key in enumerate(sequences):
                self._conv_rank[key] = offset // len(HEADS) + rank
            offset += len(sequences) * len(HEADS)
        self._size = offset
        self._flat_sequences: tuple[ConvKey, ...] = tuple(k for seqs in self.conv_sequences for k in seqs)
        self._conv_strings: dict[int, str] = {}
        self._prefix_index: dict[str, int] | None = None

    @classmethod
    def for_dataset(cls, name: str) -> SearchSpace:
        """Return the (cached) search space of a built-in dataset.

        Raises:
            UnknownDatasetError: ``name`` is not a built-in dataset.
        """
        return cls.for_shape(get_dataset(name).input_shape)

    @staticmethod
    def for_shape(input_shape: tuple[int, int, int]) -> SearchSpace:
        """Return the (cached) search space of an input shape ``(channels, height, width)``."""
        return _space_for_shape(tuple(int(v) for v in input_shape))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Architecture]:
        for arch_id in range(self._size):
            yield self[arch_id]

    def __contains__(self, arch: object) -> bool:
        if isinstance(arch, str):
            try:
                arch = Architecture.parse(arch)
            except ValueError:
                return False
        if not isinstance(arch, Architecture):
            return False
        return (arch.kernel_sizes, arch.paddings) in self._conv_rank

    def __getitem__(self, arch_id: int) -> Architecture:
        conv_index, head_index = self._split_id(arch_id)
        kernels, paddings = self._flat_sequences[conv_index]
        order, grid, activation = HEADS[head_index]
        convs = tuple(ConvLayer(k, p) for k, p in zip(kernels, paddings))
        return Architecture(convs, order, grid, activation)

    def __repr__(self) -> str:
        c, h, w = self.input_shape
        return f"SearchSpace(input_shape=({c}, {h}, {w}), size={self._size})"

    def check_id(self, arch_id: int) -> int:
        """Return ``arch_id`` as an int after checking its type and range.

        Raises:
            TypeError: ``arch_id`` is not an integer.
            OutOfSpaceError: ``arch_id`` is outside ``0 .. len(self) - 1``.
        """
        self._split_id(arch_id)
        return int(arch_id)

    def index_of_canonical(self, text: str) -> int | None:
        """``arch_id`` of an exact canonical string, or None for any other text.

        Two dictionary lookups; the fast path of lookups by string. Callers
        fall back to :meth:`index` for None, which parses leniently and
        raises the precise error.
        """
        split = text.rfind(" -> KAN(")
        if split < 0:
            return None
        if self._prefix_index is None:
            self._prefix_index = {self._conv_prefix(index)[:-4]: index for index in range(len(self._flat_sequences))}
        conv_index = self._prefix_index.get(text[:split])
        head_index = _HEAD_INDEX_BY_STRING.get(text[split + 4 :])
        if conv_index is None or head_index is None:
            return None
        return conv_index * len(HEADS) + head_index

    def format_id(self, arch_id: int) -> str:
        """Canonical string of ``arch_id``; faster than ``str(space[arch_id])``."""
        conv_index, head_index = self._split_id(arch_id)
        return self._conv_prefix(conv_index) + _HEAD_STRINGS[head_index]

    def _conv_prefix(self, conv_index: int) -> str:
        prefix = self._conv_strings.get(conv_index)
        if prefix is None:
            kernels, paddings = self._flat_sequences[conv_index]
            prefix = "".join(f"Conv2d(k={k},p={p}) -> " for k, p in zip(kernels, paddings))
            self._conv_strings[conv_index] = prefix
        return prefix

    @property
    def num_conv_sequences(self) -> int:
        return len(self._flat_sequences)

    def depth_range(self, depth: int) -> range:
        """Return the ``arch_id`` range of all architectures with ``depth`` conv blocks."""
        if not MIN_DEPTH <= depth <= MAX_DEPTH:
            raise ValueError(f"invalid depth {depth}; the search space has depths {MIN_DEPTH} to {MAX_DEPTH}")
        start = self._depth_offsets[depth - MIN_DEPTH]
        return range(start, start + len(self.conv_sequences[depth - MIN_DEPTH]) * len(HEADS))

    def index(self, arch: Architecture | str) -> int:
        """Return the ``arch_id`` of an architecture or architecture string.

        Raises:
            ArchitectureSyntaxError: a string is in no supported notation.
            InvalidArchitectureError: the architecture breaks a rule.
            OutOfSpaceError: the spatial size reaches 0 for this input size.
        """
        if isinstance(arch, str):
            arch = Architecture.parse(arch)
        if not isinstance(arch, Architecture):
            raise TypeError(f"expected an Architecture or str, not {type(arch).__name__}")
        return self.index_of_choices(
            arch.kernel_sizes, arch.paddings, arch.spline_order, arch.grid_size, arch.activation
        )

    def index_of_choices(
        self,
        kernel_sizes: tuple[int, ...],
        paddings: tuple[int, ...],
        spline_order: int,
        grid_size: int,
        activation: str,
    ) -> int:
        """Return the ``arch_id`` of raw choices; the fast path of lookups.

        Raises:
            InvalidArchitectureError: a choice breaks a rule of the space.
            OutOfSpaceError: the spatial size reaches 0 for this input size.
        """
        conv_index = self._conv_rank.get((kernel_sizes, paddings))
        head_index = _HEAD_RANK.get((spline_order, grid_size, activation))
        if conv_index is None or head_index is None:
            # Building the Architecture raises the precise rule that is broken.
            arch = Architecture.from_choices(kernel_sizes, paddings, spline_order, grid_size, activation)
            self.validate(arch)
            raise AssertionError(f"{arch} passed validation but is not enumerated")  # pragma: no cover
        return conv_index * len(HEADS) + head_index

    def validate(self, arch: Architecture) -> None:
        """Check constraint I (spatial size) for this input size.

        Raises:
            OutOfSpaceError: the spatial size reaches 0; the message names the
                conv block and the sizes.
        """
        _, height, width = self.input_shape
        for position, conv in enumerate(arch.convs, start=1):
            next_h = conv_output_size(height, conv.kernel_size, conv.padding)
            next_w = conv_output_size(width, conv.kernel_size, conv.padding)
            if next_h < 1 or next_w < 1:
                c, h, w = self.input_shape
                raise OutOfSpaceError(
                    f"{arch} is invalid for input {c}x{h}x{w}: conv {position} ({conv}) followed by "
                    f"MaxPool2d(2) takes a {height}x{width} feature map to {max(next_h, 0)}x{max(next_w, 0)}; "
                    "use fewer conv blocks, smaller kernels or padding 1"
                )
            height, width = next_h, next_w

    def spatial_sizes(self, arch: Architecture) -> list[tuple[int, int]]:
        """Feature-map (height, width) after each conv block, in pixels.

        Raises:
            OutOfSpaceError: the spatial size reaches 0.
        """
        self.validate(arch)
        _, height, width = self.input_shape
        sizes = []
        for conv in arch.convs:
            height = conv_output_size(height, conv.kernel_size, conv.padding)
            width = conv_output_size(width, conv.kernel_size, conv.padding)
            sizes.append((height, width))
        return sizes

    def sample(self, n: int, seed: int | None = None, *, replace: bool = False) -> list[Architecture]:
        """Draw ``n`` architectures uniformly at random.

        The same ``seed`` gives the same architectures. Without replacement
        (the default) ``n`` may not exceed ``len(self)``.
        """
        return [self[int(i)] for i in self.sample_ids(n, seed, replace=replace)]

    def sample_ids(self, n: int, seed: int | None = None, *, replace: bool = False) -> np.ndarray:
        """Draw ``n`` arch_ids uniformly at random; see :meth:`sample`."""
        if n < 0 or (not replace and n > self._size):
            raise ValueError(
                f"cannot draw {n} architectures without replacement from a space of {self._size}; "
                "ask for fewer or pass replace=True"
            )
        rng = np.random.default_rng(seed)
        return rng.choice(self._size, size=n, replace=replace)

    def neighbours(self, arch: Architecture | str | int) -> list[Architecture]:
        """Valid architectures that differ from ``arch`` in exactly one choice.

        A choice is one conv block's kernel size or padding, the spline order,
        the grid size or the activation; depth does not change. The result is
        sorted by ``arch_id``.
        """
        base = self[arch] if isinstance(arch, (int, np.integer)) else self._coerce(arch)
        candidates: list[Architecture] = []
        kernels, paddings = list(base.kernel_sizes), list(base.paddings)

        for position in range(base.depth):
            for kernel in KERNEL_SIZES:
                if kernel != kernels[position]:
                    changed = kernels.copy()
                    changed[position] = kernel
                    candidates.extend(self._valid_replacement(base, kernel_sizes=tuple(changed)))
            for padding in PADDINGS:
                if padding != paddings[position]:
                    changed = paddings.copy()
                    changed[position] = padding
                    candidates.extend(self._valid_replacement(base, paddings=tuple(changed)))

        for order in SPLINE_ORDERS:
            if order != base.spline_order:
                candidates.append(base.replace(spline_order=order))
        for grid in GRID_SIZES:
            if grid != base.grid_size:
                candidates.append(base.replace(grid_size=grid))
        for activation in ACTIVATIONS:
            if activation != base.activation:
                candidates.append(base.replace(activation=activation))

        return sorted(candidates, key=self.index)

    def to_dict(self) -> dict:
        """JSON-serialisable definition of the space, stored in archives."""
        return {
            "input_shape": list(self.input_shape),
            "kernel_sizes": list(KERNEL_SIZES),
            "paddings": list(PADDINGS),
            "min_depth": MIN_DEPTH,
            "max_depth": MAX_DEPTH,
            "spline_orders": list(SPLINE_ORDERS),
            "grid_sizes": list(GRID_SIZES),
            "activations": list(ACTIVATIONS),
            "first_channels": 8,
            "channel_rule": "double per conv block",
            "block": "Conv2d(stride=1) -> ReLU -> MaxPool2d(2)",
            "constraints": [
                "kernel sizes non-decreasing along depth",
                "spatial size (size - kernel + 2 * padding + 1) // 2 >= 1 after every block",
            ],
            "enumeration": "depth; itertools.product of (kernel, padding) pairs; spline order; grid size; activation",
            "size": self._size,
        }

    def _coerce(self, arch: Architecture | str) -> Architecture:
        if isinstance(arch, str):
            arch = Architecture.parse(arch)
        self.index(arch)
        return arch

    def _valid_replacement(self, base: Architecture, **changes) -> list[Architecture]:
        kernels = changes.get("kernel_sizes", base.kernel_sizes)
        if list(kernels) != sorted(kernels):
            return []
        candidate = base.replace(**changes)
        return [candidate] if (candidate.kernel_sizes, candidate.paddings) in self._conv_rank else []

    def _split_id(self, arch_id: int) -> tuple[int, int]:
        if isinstance(arch_id, bool) or not isinstance(arch_id, (int, np.integer)):
            raise TypeError(f"arch_id must be an int, not {type(arch_id).__name__}")
        if not 0 <= arch_id < self._size:  # also rejects negative indices
            raise OutOfSpaceError(
                f"arch_id {arch_id} is out of range; this space has arch_ids 0 to {self._size - 1}"
            )
        return divmod(int(arch_id), len(HEADS))


@functools.lru_cache(maxsize=None)
def _space_for_shape(input_shape: tuple[int, int, int]) -> SearchSpace:
    return SearchSpace(input_shape)
