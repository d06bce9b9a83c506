"""Seeded sampling and one-choice neighbourhoods of the search space."""

from __future__ import annotations

import numpy as np
import pytest

from kanbench.errors import InvalidArchitectureError, OutOfSpaceError
from kanbench.space import Architecture, SearchSpace

CIFAR10 = SearchSpace.for_dataset("cifar10")
DIGITS = SearchSpace.for_dataset("digits")


def choices(arch: Architecture) -> tuple:
    """Every choice of an architecture as one flat tuple: per-conv kernel and padding, then the head."""
    return (*arch.kernel_sizes, *arch.paddings, arch.spline_order, arch.grid_size, arch.activation)


def choice_matrix(space: SearchSpace, depth: int) -> np.ndarray:
    """One row of encoded choices per arch_id of ``depth``, with the activation as its position in ACTIVATIONS."""
    rows = []
    for arch_id in space.depth_range(depth):
        arch = space[arch_id]
        rows.append((*choices(arch)[:-1], ("ReLU", "GELU", "SiLU").index(arch.activation)))
    return np.asarray(rows)


def brute_force_neighbours(space: SearchSpace, arch: Architecture, matrix: np.ndarray | None = None) -> list[int]:
    """arch_ids of the same depth whose choices differ from ``arch`` in exactly one place."""
    if matrix is None:
        matrix = choice_matrix(space, arch.depth)
    base = np.asarray((*choices(arch)[:-1], ("ReLU", "GELU", "SiLU").index(arch.activation)))
    differing = (matrix != base).sum(axis=1)
    return (np.flatnonzero(differing == 1) + space.depth_range(arch.depth).start).tolist()


def test_sample_reproducible_with_seed():
    first = CIFAR10.sample(25, seed=123)
    second = CIFAR10.sample(25, seed=123)
    assert first == second
    assert [CIFAR10.index(arch) for arch in first] == CIFAR10.sample_ids(25, seed=123).tolist()


def test_sample_seeds_differ():
    assert CIFAR10.sample_ids(25, seed=1).tolist() != CIFAR10.sample_ids(25, seed=2).tolist()


def test_sample_without_replacement_unique():
    ids = CIFAR10.sample_ids(5_000, seed=0)
    assert len(ids) == 5_000
    assert len(set(ids.tolist())) == 5_000
    assert ids.min() >= 0
    assert ids.max() < len(CIFAR10)


def test_sample_whole_space_is_permutation():
    ids = DIGITS.sample_ids(len(DIGITS), seed=5)
    assert sorted(ids.tolist()) == list(range(len(DIGITS)))


def test_sample_too_many_raises():
    with pytest.raises(ValueError, match="cannot draw 7021 architectures without replacement from a space of 7020"):
        DIGITS.sample_ids(7_021, seed=0)


def test_sample_with_replacement_allows_more():
    ids = DIGITS.sample_ids(8_000, seed=0, replace=True)
    assert len(ids) == 8_000
    assert len(set(ids.tolist())) < 8_000


def test_sample_returns_valid_architectures():
    for arch in SearchSpace.for_dataset("stl10").sample(50, seed=9):
        assert arch in SearchSpace.for_dataset("stl10")


def test_neighbours_known_count_cifar10():
    # 10.10.25R at 32x32: conv 1 may only change its padding (a larger kernel would precede kernel 1),
    # conv 2 may take kernel 3, 5 or 7 or padding 1: 5 conv neighbours.
    # The head gives 3 other orders + 4 other grids + 2 other activations = 9.
    neighbours = CIFAR10.neighbours("10.10.25R")
    assert len(neighbours) == 14


def test_neighbours_known_count_digits():
    # At 8x8 conv 1 (k1 p0) leaves 4x4, where conv 2 fits kernel 3 but not 5 or 7 with padding 0:
    # 3 conv neighbours (11.10, 10.11, 10.30) and the 9 head neighbours.
    neighbours = DIGITS.neighbours("10.10.25R")
    compact = {arch.to_compact() for arch in neighbours}
    assert len(neighbours) == 12
    assert "10.30.25R" in compact
    assert "10.50.25R" not in compact
    assert "11.10.25R" in compact


@pytest.mark.parametrize("arch_id", [0, 1_234, 2_399, 2_400, 9_000, 17_000, 25_979])
def test_neighbours_match_brute_force(arch_id):
    arch = CIFAR10[arch_id]
    neighbours = CIFAR10.neighbours(arch_id)
    assert [CIFAR10.index(other) for other in neighbours] == brute_force_neighbours(CIFAR10, arch)


def test_neighbours_all_digits_depth_two():
    matrix = choice_matrix(DIGITS, 2)
    mismatched = [
        arch_id
        for arch_id in DIGITS.depth_range(2)
        if [DIGITS.index(other) for other in DIGITS.neighbours(arch_id)]
        != brute_force_neighbours(DIGITS, DIGITS[arch_id], matrix)
    ]
    assert mismatched == []


@pytest.mark.parametrize("arch_id", [0, 5_000, 25_979])
def test_neighbours_properties(arch_id):
    arch = CIFAR10[arch_id]
    neighbours = CIFAR10.neighbours(arch)
    ids = [CIFAR10.index(other) for other in neighbours]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert arch_id not in ids
    for other in neighbours:
        assert other in CIFAR10, str(other)
        assert other.depth == arch.depth, str(other)
        assert list(other.kernel_sizes) == sorted(other.kernel_sizes), str(other)
        assert sum(a != b for a, b in zip(choices(arch), choices(other))) == 1, str(other)


def test_neighbours_accept_id_string_architecture():
    arch = CIFAR10[4_321]
    by_id = CIFAR10.neighbours(4_321)
    assert CIFAR10.neighbours(np.int64(4_321)) == by_id
    assert CIFAR10.neighbours(arch) == by_id
    assert CIFAR10.neighbours(str(arch)) == by_id
    assert CIFAR10.neighbours(arch.to_compact()) == by_id


def test_neighbours_reject_outside_space():
    with pytest.raises(OutOfSpaceError):
        DIGITS.neighbours("30.30.25R")
    with pytest.raises(InvalidArchitectureError):
        CIFAR10.neighbours("31.11.25R")
