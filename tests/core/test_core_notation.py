"""Canonical, compact and lenient architecture notation: round trips over every space and fixed examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kanbench.errors import ArchitectureSyntaxError
from kanbench.space import DATASETS, Architecture, SearchSpace
from kanbench.space.notation import (
    format_canonical,
    format_compact,
    parse_canonical,
    parse_canonical_choices,
    parse_compact,
    parse_lenient,
)

SPACES = {name: SearchSpace.for_dataset(name) for name in DATASETS}
ROUND_TRIP = settings(max_examples=150, deadline=None)
SEPARATORS = ("->", "→", "=>", "-")
WHITESPACE = st.text(alphabet=" \t\n", max_size=3)


@st.composite
def architectures(draw):
    """An architecture drawn by arch_id from the whole space of one built-in dataset."""
    dataset = draw(st.sampled_from(sorted(SPACES)))
    space = SPACES[dataset]
    return space[draw(st.integers(0, len(space) - 1))]


def recase(draw, word: str) -> str:
    return draw(st.sampled_from([word, word.lower(), word.upper()]))


@st.composite
def lenient_texts(draw):
    """An architecture and a loosely written form of it: spacing, separators, letter case, label."""
    arch = draw(architectures())
    parts = [f"{recase(draw, 'Conv2d')}(k={k},p={p})" for k, p in zip(arch.kernel_sizes, arch.paddings)]
    parts.append(
        f"{recase(draw, 'KAN')}(order={arch.spline_order},grid={arch.grid_size},act={recase(draw, arch.activation)})"
    )

    text = parts[0]
    for part in parts[1:]:
        text += draw(WHITESPACE) + draw(st.sampled_from(SEPARATORS)) + draw(WHITESPACE) + part

    # Whitespace anywhere inside the body, at positions drawn from the text.
    positions = draw(st.lists(st.integers(0, len(text)), max_size=6))
    for position in sorted(positions, reverse=True):
        text = text[:position] + draw(st.sampled_from([" ", "  ", "\t"])) + text[position:]

    label = draw(st.sampled_from(["", "Architecture:", "architecture :", "ARCHITECTURE:  ", "  Architecture:\n"]))
    return arch, label + draw(WHITESPACE) + text + draw(WHITESPACE)


@ROUND_TRIP
@given(architectures())
def test_canonical_round_trip(arch):
    text = str(arch)
    assert Architecture.parse(text) == arch
    assert parse_canonical(text) == arch
    assert format_canonical(parse_canonical(text)) == text


@ROUND_TRIP
@given(architectures())
def test_compact_round_trip(arch):
    text = arch.to_compact()
    assert Architecture.parse(text) == arch
    assert parse_compact(text) == arch
    assert format_compact(parse_compact(text)) == text


@ROUND_TRIP
@given(lenient_texts())
def test_lenient_perturbed_round_trip(case):
    arch, text = case
    assert Architecture.parse(text, lenient=True) == arch
    assert parse_lenient(text) == arch


@ROUND_TRIP
@given(architectures())
def test_lenient_accepts_compact(arch):
    assert Architecture.parse(f" Architecture: {arch.to_compact()} ", lenient=True) == arch


@pytest.mark.parametrize(
    ("compact", "canonical"),
    [
        ("31.31.28R", "Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(order=2,grid=8,act=ReLU)"),
        ("31.31.515R", "Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(order=5,grid=15,act=ReLU)"),
        ("70.70.210G", "Conv2d(k=7,p=0) -> Conv2d(k=7,p=0) -> KAN(order=2,grid=10,act=GELU)"),
        ("31.51.48S", "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)"),
        ("10.11.30.520S", "Conv2d(k=1,p=0) -> Conv2d(k=1,p=1) -> Conv2d(k=3,p=0) -> KAN(order=5,grid=20,act=SiLU)"),
    ],
)
def test_compact_examples(compact, canonical):
    arch = Architecture.parse(compact)
    assert str(arch) == canonical
    assert arch.to_compact() == compact
    assert Architecture.parse(canonical).to_compact() == compact


def test_compact_grid_fifteen_fields():
    arch = Architecture.parse("31.31.515R")
    assert arch.kernel_sizes == (3, 3)
    assert arch.paddings == (1, 1)
    assert arch.spline_order == 5
    assert arch.grid_size == 15
    assert arch.activation == "ReLU"


def test_compact_order_two_grid_ten():
    arch = Architecture.parse("70.70.210G")
    assert arch.spline_order == 2
    assert arch.grid_size == 10
    assert arch.activation == "GELU"


def test_lenient_fixed_examples():
    expected = Architecture.parse("31.51.48S")
    texts = [
        "Architecture: Conv2d(k=3,p=1) → Conv2d(k=5,p=1) → KAN(order=4,grid=8,act=silu)",
        "conv2d(k=3, p=1) => CONV2D(k=5, p=1) => kan(order=4, grid=8, act=SILU)",
        "Conv2d( k = 3 , p = 1 ) - Conv2d( k = 5 , p = 1 ) - KAN( order = 4 , grid = 8 , act = SiLU )",
        "  Conv2d(k=3,p=1)\n -> Conv2d(k=5,p=1)\n -> KAN(order=4,grid=8,act=SiLU)\n",
    ]
    for text in texts:
        assert Architecture.parse(text, lenient=True) == expected, text


def test_strict_parse_rejects_loose_text():
    with pytest.raises(ArchitectureSyntaxError, match="pass lenient=True"):
        Architecture.parse("conv2d(k=3,p=1) -> conv2d(k=5,p=1) -> kan(order=4,grid=8,act=silu)")


def test_canonical_parser_rejects_compact():
    with pytest.raises(ArchitectureSyntaxError, match="is not a canonical architecture string"):
        parse_canonical("31.51.48S")


def test_parse_rejects_non_string():
    with pytest.raises(TypeError, match="must be str, not int"):
        Architecture.parse(3)


def test_canonical_choices_unvalidated():
    assert parse_canonical_choices("Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)") == (
        (3, 5),
        (1, 1),
        4,
        8,
        "SiLU",
    )
    # Values outside the space still split, so the caller can report the rule they break.
    assert parse_canonical_choices("Conv2d(k=4,p=1) -> Conv2d(k=5,p=1) -> KAN(order=9,grid=8,act=Tanh)") == (
        (4, 5),
        (1, 1),
        9,
        8,
        "Tanh",
    )
    assert parse_canonical_choices("31.51.48S") is None


def test_architecture_is_frozen_value():
    arch = Architecture.parse("31.51.48S")
    assert arch == Architecture.from_choices((3, 5), (1, 1), 4, 8, "SiLU")
    assert hash(arch) == hash(Architecture.from_choices([3, 5], [1, 1], 4, 8, "SiLU"))
    with pytest.raises(AttributeError):
        arch.grid_size = 5


def test_replace_changes_one_field():
    arch = Architecture.parse("31.51.48S")
    assert arch.replace(grid_size=20).to_compact() == "31.51.420S"
    assert arch.replace(kernel_sizes=(1, 7)).to_compact() == "11.71.48S"
    assert arch.to_compact() == "31.51.48S"
    with pytest.raises(TypeError, match="unknown architecture field"):
        arch.replace(depth=3)


def test_repr_evaluates_to_same():
    arch = Architecture.parse("31.51.48S")
    assert eval(repr(arch), {"Architecture": Architecture}) == arch
