"""Search-space sizes and the canonical arch_id enumeration, checked against an independent enumerator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kanbench.space import DATASETS, Architecture, SearchSpace
from kanbench.space.search_space import HEADS

EXPECTED_SIZES = {
    "mnist": 22_260,
    "cifar10": 25_980,
    "cifar100": 25_980,
    "svhn": 25_980,
    "stl10": 94_020,
    "digits": 7_020,
}

KERNELS = (1, 3, 5, 7)
PADDINGS = (0, 1)
ORDERS = (2, 3, 4, 5)
GRIDS = (5, 8, 10, 15, 20)
ACTIVATIONS = ("ReLU", "GELU", "SiLU")


def reference_sequences(height: int, width: int) -> dict[int, list[tuple[tuple[int, int], ...]]]:
    """Valid conv sequences per depth, as tuples of (kernel, padding), in itertools.product order.

    Written without kanbench code, from the rules of the space: kernels
    never decrease, and after each Conv2d(stride 1) the feature map must be
    at least 2 pixels so that MaxPool2d(2) leaves at least 1.
    """
    by_depth = {}
    for depth in range(2, 8):
        found = []
        for kernels in itertools.combinations_with_replacement(KERNELS, depth):
            for paddings in itertools.product(PADDINGS, repeat=depth):
                h, w = height, width
                valid = True
                for kernel, padding in zip(kernels, paddings):
                    conv_h = h - kernel + 2 * padding + 1
                    conv_w = w - kernel + 2 * padding + 1
                    if conv_h < 2 or conv_w < 2:
                        valid = False
                        break
                    h, w = conv_h // 2, conv_w // 2
                if valid:
                    found.append(tuple(zip(kernels, paddings)))
        # Sorting tuples of (kernel, padding) pairs gives itertools.product order over the pairs.
        by_depth[depth] = sorted(found)
    return by_depth


def reference_strings(height: int, width: int) -> list[str]:
    """Canonical strings of every architecture, in arch_id order."""
    heads = [
        f"KAN(order={order},grid={grid},act={act})"
        for order in ORDERS
        for grid in GRIDS
        for act in ACTIVATIONS
    ]
    strings = []
    for sequences in reference_sequences(height, width).values():
        for sequence in sequences:
            prefix = "".join(f"Conv2d(k={k},p={p}) -> " for k, p in sequence)
            strings.extend(prefix + head for head in heads)
    return strings


def sample_ids(space: SearchSpace, n: int = 1500) -> list[int]:
    rng = np.random.default_rng(20261204)
    ids = set(rng.integers(0, len(space), size=n).tolist())
    for depth in range(2, 8):
        ids.add(space.depth_range(depth).start)
        ids.add(space.depth_range(depth).stop - 1)
    return sorted(ids)


@pytest.mark.parametrize(("dataset", "expected"), sorted(EXPECTED_SIZES.items()))
def test_space_size_per_dataset(dataset, expected):
    assert len(SearchSpace.for_dataset(dataset)) == expected


def test_datasets_are_the_six_builtins():
    assert list(DATASETS) == ["mnist", "cifar10", "cifar100", "svhn", "stl10", "digits"]


def test_heads_are_sixty_in_order():
    assert len(HEADS) == 60
    assert HEADS[0] == (2, 5, "ReLU")
    assert HEADS[1] == (2, 5, "GELU")
    assert HEADS[3] == (2, 8, "ReLU")
    assert HEADS[-1] == (5, 20, "SiLU")


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_enumeration_matches_reference(dataset):
    space = SearchSpace.for_dataset(dataset)
    _, height, width = DATASETS[dataset].input_shape
    expected = reference_strings(height, width)

    assert len(space) == len(expected)
    actual = [space.format_id(arch_id) for arch_id in range(len(space))]
    mismatched = [arch_id for arch_id, (a, b) in enumerate(zip(actual, expected)) if a != b]
    assert mismatched == []


@pytest.mark.parametrize("input_shape", [(1, 16, 8), (3, 8, 16), (1, 12, 12)])
def test_other_shapes_match_reference(input_shape):
    space = SearchSpace.for_shape(input_shape)
    expected = reference_strings(input_shape[1], input_shape[2])
    assert [space.format_id(arch_id) for arch_id in range(len(space))] == expected


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_depth_ranges_match_reference(dataset):
    space = SearchSpace.for_dataset(dataset)
    _, height, width = DATASETS[dataset].input_shape
    sequences = reference_sequences(height, width)

    start = 0
    for depth in range(2, 8):
        expected = range(start, start + 60 * len(sequences[depth]))
        assert space.depth_range(depth) == expected, f"depth {depth}"
        start = expected.stop
    assert start == len(space)


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_depth_boundaries_have_right_depth(dataset):
    space = SearchSpace.for_dataset(dataset)
    for depth in range(2, 8):
        ids = space.depth_range(depth)
        first, last = space[ids.start], space[ids.stop - 1]
        assert first.depth == depth
        assert last.depth == depth
        # The first architecture of a depth has the smallest conv pairs and the first head.
        assert (first.spline_order, first.grid_size, first.activation) == (2, 5, "ReLU")
        assert (last.spline_order, last.grid_size, last.activation) == (5, 20, "SiLU")
        if depth > 2:
            assert space[ids.start - 1].depth == depth - 1


def test_cifar10_first_and_last_ids():
    space = SearchSpace.for_dataset("cifar10")
    assert str(space[0]) == "Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=5,act=ReLU)"
    assert str(space[1]) == "Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=5,act=GELU)"
    assert str(space[3]) == "Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=8,act=ReLU)"
    assert str(space[60]) == "Conv2d(k=1,p=0) -> Conv2d(k=1,p=1) -> KAN(order=2,grid=5,act=ReLU)"
    # 10 non-decreasing kernel pairs x 4 padding pairs x 60 heads = 2,400 depth-2 ids, all valid at 32x32.
    assert str(space[2399]) == "Conv2d(k=7,p=1) -> Conv2d(k=7,p=1) -> KAN(order=5,grid=20,act=SiLU)"
    assert str(space[2400]) == (
        "Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> Conv2d(k=1,p=0) -> KAN(order=2,grid=5,act=ReLU)"
    )


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_index_round_trip_sample(dataset):
    space = SearchSpace.for_dataset(dataset)
    ids = sample_ids(space)
    by_architecture = [arch_id for arch_id in ids if space.index(space[arch_id]) != arch_id]
    by_string = [arch_id for arch_id in ids if space.index(str(space[arch_id])) != arch_id]
    by_compact = [arch_id for arch_id in ids if space.index(space[arch_id].to_compact()) != arch_id]
    assert by_architecture == []
    assert by_string == []
    assert by_compact == []


def test_index_round_trip_all_digits():
    space = SearchSpace.for_dataset("digits")
    architectures = list(space)
    assert len(architectures) == 7_020
    assert [space.index(arch) for arch in architectures] == list(range(7_020))
    assert len(set(architectures)) == 7_020


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_kernels_non_decreasing_sample(dataset):
    space = SearchSpace.for_dataset(dataset)
    decreasing = [
        arch_id
        for arch_id in sample_ids(space)
        if list(space[arch_id].kernel_sizes) != sorted(space[arch_id].kernel_sizes)
    ]
    assert decreasing == []


@pytest.mark.parametrize("dataset", list(EXPECTED_SIZES))
def test_spatial_sizes_stay_positive(dataset):
    space = SearchSpace.for_dataset(dataset)
    _, height, width = DATASETS[dataset].input_shape
    for arch_id in sample_ids(space, n=300):
        arch = space[arch_id]
        expected = []
        h, w = height, width
        for kernel, padding in zip(arch.kernel_sizes, arch.paddings):
            h, w = (h - kernel + 2 * padding + 1) // 2, (w - kernel + 2 * padding + 1) // 2
            expected.append((h, w))
        sizes = space.spatial_sizes(arch)
        assert sizes == expected, f"arch_id {arch_id}"
        assert min(min(pair) for pair in sizes) >= 1, f"arch_id {arch_id}"


def test_spatial_sizes_hand_computed():
    space = SearchSpace.for_dataset("cifar10")
    # 32 -> conv k3p0 gives 30 -> pool 15, then conv k3p0 gives 13 -> pool 6 (floor).
    assert space.spatial_sizes(Architecture.parse("30.30.25R")) == [(15, 15), (6, 6)]
    # stl10: 96 -> k5p0 gives 92 -> pool 46, then k7p1 gives 42 -> pool 21.
    stl10 = SearchSpace.for_dataset("stl10")
    assert stl10.spatial_sizes(Architecture.parse("50.71.25R")) == [(46, 46), (21, 21)]


def test_channels_double_from_eight():
    arch = SearchSpace.for_dataset("cifar10")[25_979]
    assert arch.depth == 7
    assert arch.channels == (8, 16, 32, 64, 128, 256, 512)


def test_contains_depends_on_input_size():
    cifar10 = SearchSpace.for_dataset("cifar10")
    digits = SearchSpace.for_dataset("digits")
    # digits: 8 -> (8-3+1)//2 = 3 -> (3-3+1)//2 = 0, so the second block empties the map.
    arch = Architecture.parse("30.30.30.25R")
    assert arch in cifar10
    assert arch not in digits
    assert "30.30.30.25R" in cifar10
    assert "30.30.30.25R" not in digits
    assert "not an architecture" not in cifar10


def test_format_id_equals_str():
    space = SearchSpace.for_dataset("stl10")
    for arch_id in sample_ids(space, n=200):
        assert space.format_id(arch_id) == str(space[arch_id])


def test_for_dataset_is_cached():
    assert SearchSpace.for_dataset("cifar10") is SearchSpace.for_dataset("cifar10")
    assert SearchSpace.for_dataset("cifar10") is SearchSpace.for_dataset("svhn")
    assert SearchSpace.for_dataset("cifar10") is not SearchSpace.for_dataset("mnist")


def test_index_of_last_id_large_space():
    space = SearchSpace.for_dataset("stl10")
    assert space.index(space[94_019]) == 94_019
    assert space.index_of_choices(*_choices(space[94_019])) == 94_019
    assert space.index_of_choices((1, 1), (0, 0), 2, 5, "ReLU") == 0


def test_to_dict_describes_space():
    definition = SearchSpace.for_dataset("stl10").to_dict()
    assert definition["input_shape"] == [3, 96, 96]
    assert definition["size"] == 94_020
    assert definition["kernel_sizes"] == [1, 3, 5, 7]
    assert definition["paddings"] == [0, 1]
    assert definition["spline_orders"] == [2, 3, 4, 5]
    assert definition["grid_sizes"] == [5, 8, 10, 15, 20]
    assert definition["activations"] == ["ReLU", "GELU", "SiLU"]
    assert (definition["min_depth"], definition["max_depth"]) == (2, 7)


def _choices(arch: Architecture):
    return arch.kernel_sizes, arch.paddings, arch.spline_order, arch.grid_size, arch.activation
