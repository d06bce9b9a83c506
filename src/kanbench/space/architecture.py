"""The ``Architecture`` value type and the choices of the search space.

Usage::

    >>> from kanbench.space import Architecture
    >>> arch = Architecture.parse("31.51.48S")
    >>> str(arch)
    'Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)'
    >>> arch.kernel_sizes, arch.spline_order
    ((3, 5), 4)

An architecture is a sequence of conv blocks, each Conv2d(kernel k, padding p,
stride 1) -> ReLU -> MaxPool2d(2), followed by one KAN layer with a spline
order, a grid size and a base activation. Channels are not a choice: they
double per block from 8. Whether the spatial size survives every block
depends on the input size, so that rule lives in :class:`SearchSpace`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kanbench.errors import InvalidArchitectureError

KERNEL_SIZES: tuple[int, ...] = (1, 3, 5, 7)
PADDINGS: tuple[int, ...] = (0, 1)
SPLINE_ORDERS: tuple[int, ...] = (2, 3, 4, 5)
GRID_SIZES: tuple[int, ...] = (5, 8, 10, 15, 20)
ACTIVATIONS: tuple[str, ...] = ("ReLU", "GELU", "SiLU")
MIN_DEPTH = 2
MAX_DEPTH = 7
FIRST_CHANNELS = 8
"""Output channels of the first conv block; each later block doubles them."""


@dataclass(frozen=True, slots=True)
class ConvLayer:
    """One conv block: Conv2d(kernel_size, padding, stride 1) -> ReLU -> MaxPool2d(2)."""

    kernel_size: int
    padding: int

    def __str__(self) -> str:
        return f"Conv2d(k={self.kernel_size},p={self.padding})"


@dataclass(frozen=True, slots=True, repr=False)
class Architecture:
    """An immutable Conv-KAN architecture.

    Construction checks every rule that does not depend on the input size:
    kernel sizes, paddings, depth, non-decreasing kernels and the KAN
    choices. ``str()`` gives the canonical string and :meth:`to_compact` the
    authors' compact notation.

    Raises:
        InvalidArchitectureError: a value is outside the search space; the
            message names the value, its position and the allowed values.
    """

    convs: tuple[ConvLayer, ...]
    spline_order: int
    grid_size: int
    activation: str

    def __post_init__(self) -> None:
        convs = tuple(self.convs)
        object.__setattr__(self, "convs", convs)
        _validate_convs(convs)
        _validate_choice("spline order", self.spline_order, SPLINE_ORDERS)
        _validate_choice("grid size", self.grid_size, GRID_SIZES)
        _validate_choice("activation", self.activation, ACTIVATIONS)

    @classmethod
    def from_choices(
        cls,
        kernel_sizes: tuple[int, ...] | list[int],
        paddings: tuple[int, ...] | list[int],
        spline_order: int,
        grid_size: int,
        activation: str,
    ) -> Architecture:
        """Build an architecture from per-conv kernel sizes and paddings."""
        if len(kernel_sizes) != len(paddings):
            raise InvalidArchitectureError(
                f"got {len(kernel_sizes)} kernel sizes but {len(paddings)} paddings; "
                "give one padding per conv block"
            )
        convs = tuple(ConvLayer(k, p) for k, p in zip(kernel_sizes, paddings))
        return cls(convs, spline_order, grid_size, activation)

    @classmethod
    def parse(cls, text: str, *, lenient: bool = False) -> Architecture:
        """Parse the canonical string or the compact notation.

        With ``lenient=True`` also accept text written by people or language
        models (see :func:`kanbench.space.notation.parse_lenient`).

        Raises:
            ArchitectureSyntaxError: the text is in no supported notation.
            InvalidArchitectureError: the text parses but breaks a rule.
        """
        from kanbench.space.notation import parse_architecture

        return parse_architecture(text, lenient=lenient)

    @property
    def depth(self) -> int:
        """Number of conv blocks."""
        return len(self.convs)

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(conv.kernel_size for conv in self.convs)

    @property
    def paddings(self) -> tuple[int, ...]:
        return tuple(conv.padding for conv in self.convs)

    @property
    def channels(self) -> tuple[int, ...]:
        """Output channels of each conv block: 8, 16, 32, ..."""
        return tuple(FIRST_CHANNELS << i for i in range(self.depth))

    def replace(self, **changes: object) -> Architecture:
        """Return a copy with some fields changed (``kernel_sizes``, ``paddings`` too)."""
        kernel_sizes = changes.pop("kernel_sizes", self.kernel_sizes)
        paddings = changes.pop("paddings", self.paddings)
        fields = {
            "spline_order": self.spline_order,
            "grid_size": self.grid_size,
            "activation": self.activation,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown architecture field(s): {', '.join(sorted(unknown))}")
        fields.update(changes)
        return Architecture.from_choices(kernel_sizes, paddings, **fields)  # type: ignore[arg-type]

    def to_compact(self) -> str:
        """Format in the authors' compact notation, e.g. ``31.51.48S``."""
        from kanbench.space.notation import format_compact

        return format_compact(self)

    def __str__(self) -> str:
        from kanbench.space.notation import format_canonical

        return format_canonical(self)

    def __repr__(self) -> str:
        return f"Architecture.parse({str(self)!r})"


def _validate_choice(name: str, value: object, allowed: tuple) -> None:
    # bool is an int subclass, and True == 1 would pass as a kernel size.
    if isinstance(value, bool) or value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise InvalidArchitectureError(f"invalid {name} {value!r}; the search space allows {choices}")


def _validate_convs(convs: tuple[ConvLayer, ...]) -> None:
    if not MIN_DEPTH <= len(convs) <= MAX_DEPTH:
        raise InvalidArchitectureError(
            f"invalid depth {len(convs)}; an architecture has {MIN_DEPTH} to {MAX_DEPTH} conv blocks"
        )

    for position, conv in enumerate(convs, start=1):
        if not isinstance(conv, ConvLayer):
            raise InvalidArchitectureError(f"conv {position} is {conv!r}, not a ConvLayer")
        _validate_choice(f"kernel size at conv {position}:", conv.kernel_size, KERNEL_SIZES)
        _validate_choice(f"padding at conv {position}:", conv.padding, PADDINGS)

    for position in range(1, len(convs)):
        before, after = convs[position - 1].kernel_size, convs[position].kernel_size
        if after < before:
            raise InvalidArchitectureError(
                f"kernel {before} at conv {position} is followed by kernel {after} at conv "
                f"{position + 1}; kernels must be non-decreasing"
            )
