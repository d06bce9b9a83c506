"""Parsing and formatting of architecture strings.

Three notations are supported:

* canonical: ``Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)``,
  the only form :func:`format_canonical` writes;
* compact, the authors' notation in their result tables: one two-digit group
  ``kp`` per conv block, then spline order, grid size and the activation's
  initial (R, G, S), dot-separated, e.g. ``31.51.48S`` or ``70.70.210G``;
* lenient, for text written by people or language models: any spacing, the
  separators ``->``, ``→``, ``=>`` or ``-``, any letter case, and an optional
  leading ``Architecture:`` label.

Every parser returns the canonical :class:`Architecture` or raises. The lenient
parser normalises spelling only; it never maps text to a different
architecture.
"""

from __future__ import annotations

import re

from kanbench.errors import ArchitectureSyntaxError
from kanbench.space.architecture import (
    ACTIVATIONS,
    GRID_SIZES,
    KERNEL_SIZES,
    PADDINGS,
    SPLINE_ORDERS,
    Architecture,
)

_CANONICAL_CONV = re.compile(r"Conv2d\(k=(\d+),p=(\d+)\)")
_CANONICAL = re.compile(
    r"((?:Conv2d\(k=\d+,p=\d+\) -> )+)KAN\(order=(\d+),grid=(\d+),act=(\w+)\)"
)

_CONV_TOKENS = {f"Conv2d(k={k},p={p})": (k, p) for k in KERNEL_SIZES for p in PADDINGS}
_HEAD_TOKENS = {
    f"KAN(order={order},grid={grid},act={act})": (order, grid, act)
    for order in SPLINE_ORDERS
    for grid in GRID_SIZES
    for act in ACTIVATIONS
}

_COMPACT_HEAD = re.compile(r"(\d)(\d+)([A-Za-z])")
_INITIAL_TO_ACTIVATION = {name[0]: name for name in ACTIVATIONS}
_ACTIVATION_TO_INITIAL = {name: name[0] for name in ACTIVATIONS}
_ACTIVATION_BY_LOWER = {name.lower(): name for name in ACTIVATIONS}

_LENIENT_LABEL = re.compile(r"^\s*architecture\s*:\s*", re.IGNORECASE)
_LENIENT_SEPARATOR = re.compile(r"->|=>|→|⟶|➔|-")
_LENIENT_CONV = re.compile(r"conv2d\(k=(\d+),p=(\d+)\)", re.IGNORECASE)
_LENIENT_KAN = re.compile(r"kan\(order=(\d+),grid=(\d+),act=(\w+)\)", re.IGNORECASE)


def format_canonical(arch: Architecture) -> str:
    """Format ``arch`` as the canonical string."""
    return format_choices(arch.kernel_sizes, arch.paddings, arch.spline_order, arch.grid_size, arch.activation)


def format_choices(
    kernel_sizes: tuple[int, ...], paddings: tuple[int, ...], spline_order: int, grid_size: int, activation: str
) -> str:
    """Format raw choices as the canonical string, without validating them."""
    convs = " -> ".join(f"Conv2d(k={k},p={p})" for k, p in zip(kernel_sizes, paddings))
    return f"{convs} -> KAN(order={spline_order},grid={grid_size},act={activation})"


def format_compact(arch: Architecture) -> str:
    """Format ``arch`` in the authors' compact notation, e.g. ``31.31.515R``."""
    groups = [f"{conv.kernel_size}{conv.padding}" for conv in arch.convs]
    head = f"{arch.spline_order}{arch.grid_size}{_ACTIVATION_TO_INITIAL[arch.activation]}"
    return ".".join([*groups, head])


def parse_canonical_choices(text: str) -> tuple[tuple[int, ...], tuple[int, ...], int, int, str] | None:
    """Split a canonical string into its choices without validating them.

    Returns ``(kernel_sizes, paddings, spline_order, grid_size, activation)``
    or None when ``text`` is not in canonical form. This is the fast path of
    lookups by string; callers validate the choices.
    """
    tokens = text.split(" -> ")
    head = _HEAD_TOKENS.get(tokens[-1])
    convs = [_CONV_TOKENS.get(token) for token in tokens[:-1]]
    if head is not None and None not in convs:
        return tuple(k for k, _ in convs), tuple(p for _, p in convs), *head

    # Slow path: canonical syntax with values outside the space, which the
    # caller's validation reports precisely.
    match = _CANONICAL.fullmatch(text)
    if match is None:
        return None
    pairs = _CANONICAL_CONV.findall(match.group(1))
    kernel_sizes = tuple(int(k) for k, _ in pairs)
    paddings = tuple(int(p) for _, p in pairs)
    return kernel_sizes, paddings, int(match.group(2)), int(match.group(3)), match.group(4)


def parse_canonical(text: str) -> Architecture:
    """Parse the canonical string.

    Raises:
        ArchitectureSyntaxError: ``text`` is not in canonical form.
        InvalidArchitectureError: a value breaks a rule of the search space.
    """
    choices = parse_canonical_choices(text)
    if choices is None:
        raise ArchitectureSyntaxError(
            f"{text!r} is not a canonical architecture string; expected e.g. "
            "'Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)'"
        )
    return Architecture.from_choices(*choices)


def parse_compact(text: str) -> Architecture:
    """Parse the compact notation, e.g. ``31.31.28R`` or ``70.70.210G``.

    Raises:
        ArchitectureSyntaxError: ``text`` is not in compact form; the message
            names the group that fails.
        InvalidArchitectureError: a value breaks a rule of the search space.
    """
    groups = text.strip().split(".")
    if len(groups) < 2:
        raise ArchitectureSyntaxError(
            f"{text!r} is not in compact notation; expected dot-separated groups such as '31.51.48S'"
        )

    kernel_sizes, paddings = [], []
    for position, group in enumerate(groups[:-1], start=1):
        if len(group) != 2 or not group.isdigit():
            raise ArchitectureSyntaxError(
                f"conv group {position} of {text!r} is {group!r}; each conv group is two digits, "
                "kernel size then padding, e.g. '31'"
            )
        kernel_sizes.append(int(group[0]))
        paddings.append(int(group[1]))

    spline_order, grid_size, activation = _parse_compact_head(groups[-1], text)
    return Architecture.from_choices(kernel_sizes, paddings, spline_order, grid_size, activation)


def _parse_compact_head(group: str, text: str) -> tuple[int, int, str]:
    match = _COMPACT_HEAD.fullmatch(group)
    initials = ", ".join(f"{initial} ({name})" for initial, name in _INITIAL_TO_ACTIVATION.items())
    if match is None:
        raise ArchitectureSyntaxError(
            f"KAN group {group!r} of {text!r} is invalid; it is the spline order digit, the grid size "
            f"and the activation's initial, e.g. '48S' or '210G'"
        )

    order, grid, initial = match.groups()
    if initial.upper() not in _INITIAL_TO_ACTIVATION:
        raise ArchitectureSyntaxError(
            f"activation initial {initial!r} in {text!r} is unknown; use {initials}"
        )
    if int(grid) not in GRID_SIZES:
        allowed = ", ".join(str(g) for g in GRID_SIZES)
        raise ArchitectureSyntaxError(
            f"grid size {grid} in KAN group {group!r} of {text!r} is invalid; the search space allows {allowed}"
        )
    return int(order), int(grid), _INITIAL_TO_ACTIVATION[initial.upper()]


def parse_lenient(text: str) -> Architecture:
    """Parse loosely written text into the canonical architecture.

    Accepted variations: whitespace anywhere, ``->``, ``→``, ``=>`` or ``-``
    between layers, any letter case in layer names and the activation, a
    leading ``Architecture:`` label, and the compact notation. Nothing else
    is repaired: a missing field, an extra token or an unknown value raises.

    Raises:
        ArchitectureSyntaxError: a part matches no layer form; the message
            quotes it.
        InvalidArchitectureError: a value breaks a rule of the search space.
    """
    body = _LENIENT_LABEL.sub("", text, count=1)
    squeezed = "".join(body.split())
    if not squeezed:
        raise ArchitectureSyntaxError(f"{text!r} contains no architecture")
    if "(" not in squeezed:
        return parse_compact(squeezed)

    parts = _LENIENT_SEPARATOR.split(squeezed)
    kernel_sizes, paddings = [], []
    for position, part in enumerate(parts[:-1], start=1):
        match = _LENIENT_CONV.fullmatch(part)
        if match is None:
            raise ArchitectureSyntaxError(
                f"part {position} of {text!r} is {part!r}; every part before the last must read "
                "'Conv2d(k=K,p=P)'"
            )
        kernel_sizes.append(int(match.group(1)))
        paddings.append(int(match.group(2)))

    head = _LENIENT_KAN.fullmatch(parts[-1])
    if head is None:
        raise ArchitectureSyntaxError(
            f"the last part of {text!r} is {parts[-1]!r}; it must read 'KAN(order=K,grid=G,act=A)'"
        )
    activation = _ACTIVATION_BY_LOWER.get(head.group(3).lower(), head.group(3))
    return Architecture.from_choices(
        kernel_sizes, paddings, int(head.group(1)), int(head.group(2)), activation
    )


def parse_architecture(text: str, *, lenient: bool = False) -> Architecture:
    """Parse the canonical string or compact notation, or any text with ``lenient=True``.

    Raises:
        TypeError: ``text`` is not a string.
        ArchitectureSyntaxError: the text is in no accepted notation.
        InvalidArchitectureError: the text parses but breaks a rule.
    """
    if not isinstance(text, str):
        raise TypeError(f"an architecture string must be str, not {type(text).__name__}")
    if lenient:
        return parse_lenient(text)
    if text.startswith("Conv2d("):
        return parse_canonical(text)
    if "(" not in text:
        return parse_compact(text)
    raise ArchitectureSyntaxError(
        f"{text!r} is neither a canonical string nor compact notation; pass lenient=True to accept "
        "free spacing, other arrows and letter case"
    )
