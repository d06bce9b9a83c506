"""Exception types and messages for architectures outside the search space."""

from __future__ import annotations

import re

import pytest

from kanbench.errors import (
    ArchiveFormatError,
    ArchiveNotFoundError,
    ArchitectureSyntaxError,
    ChecksumMismatchError,
    ImportValidationError,
    InfeasibleQueryError,
    InvalidArchitectureError,
    KANBenchError,
    MissingMetricsError,
    OutOfSpaceError,
    UnknownDatasetError,
    UnknownMetricError,
)
from kanbench.space import Architecture, SearchSpace, get_dataset

CIFAR10 = SearchSpace.for_dataset("cifar10")


@pytest.mark.parametrize(
    "error_type",
    [
        InvalidArchitectureError,
        ArchitectureSyntaxError,
        OutOfSpaceError,
        ArchiveFormatError,
        ChecksumMismatchError,
        MissingMetricsError,
        InfeasibleQueryError,
        ImportValidationError,
    ],
)
def test_value_errors_subclass_valueerror(error_type):
    assert issubclass(error_type, ValueError)
    assert issubclass(error_type, KANBenchError)


def test_lookup_errors_subclass_keyerror():
    assert issubclass(UnknownDatasetError, KeyError)
    assert issubclass(UnknownMetricError, KeyError)


def test_missing_archive_is_filenotfounderror():
    assert issubclass(ArchiveNotFoundError, FileNotFoundError)


def test_error_hierarchy_specialises():
    assert issubclass(ArchitectureSyntaxError, InvalidArchitectureError)
    assert issubclass(OutOfSpaceError, InvalidArchitectureError)
    assert issubclass(ChecksumMismatchError, ArchiveFormatError)


def test_unknown_kernel_size_message():
    message = "invalid kernel size at conv 2: 4; the search space allows 1, 3, 5, 7"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((3, 4), (1, 1), 2, 5, "ReLU")


def test_unknown_padding_message():
    message = "invalid padding at conv 1: 2; the search space allows 0, 1"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((3, 3), (2, 1), 2, 5, "ReLU")


def test_bool_kernel_size_rejected():
    with pytest.raises(InvalidArchitectureError, match=re.escape("invalid kernel size at conv 1: True")):
        Architecture.from_choices((True, 3), (1, 1), 2, 5, "ReLU")


def test_decreasing_kernels_message():
    message = "kernel 5 at conv 2 is followed by kernel 3 at conv 3; kernels must be non-decreasing"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((3, 5, 3), (1, 1, 1), 2, 5, "ReLU")


def test_decreasing_kernels_from_string():
    message = "kernel 5 at conv 2 is followed by kernel 3 at conv 3; kernels must be non-decreasing"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.parse("31.51.31.25R")


def test_emptied_feature_map_names_block():
    arch = Architecture.from_choices((7,) * 7, (0,) * 7, 2, 5, "ReLU")
    # 32 -> conv 26 -> pool 13 -> conv 7 -> pool 3 -> conv -3, so the third block empties the map.
    message = "conv 3 (Conv2d(k=7,p=0)) followed by MaxPool2d(2) takes a 3x3 feature map to 0x0"
    with pytest.raises(OutOfSpaceError, match=re.escape(message)):
        CIFAR10.index(arch)
    with pytest.raises(OutOfSpaceError, match=re.escape("is invalid for input 3x32x32")):
        CIFAR10.validate(arch)
    with pytest.raises(OutOfSpaceError, match=re.escape(message)):
        CIFAR10.spatial_sizes(arch)


def test_emptied_feature_map_from_string():
    text = " -> ".join(["Conv2d(k=7,p=0)"] * 7) + " -> KAN(order=2,grid=5,act=ReLU)"
    with pytest.raises(OutOfSpaceError, match=re.escape("conv 3 (Conv2d(k=7,p=0))")):
        CIFAR10.index(text)


def test_digits_emptied_at_second_block():
    digits = SearchSpace.for_dataset("digits")
    # 8 -> conv 6 -> pool 3 -> conv 1 -> pool 0.
    message = "conv 2 (Conv2d(k=3,p=0)) followed by MaxPool2d(2) takes a 3x3 feature map to 0x0"
    with pytest.raises(OutOfSpaceError, match=re.escape(message)):
        digits.index("30.30.25R")


@pytest.mark.parametrize(
    ("grid", "order", "message"),
    [
        (6, 2, "invalid grid size 6; the search space allows 5, 8, 10, 15, 20"),
        (25, 2, "invalid grid size 25; the search space allows 5, 8, 10, 15, 20"),
        (5, 1, "invalid spline order 1; the search space allows 2, 3, 4, 5"),
        (5, 6, "invalid spline order 6; the search space allows 2, 3, 4, 5"),
    ],
)
def test_kan_choice_outside_space(grid, order, message):
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((3, 3), (1, 1), order, grid, "ReLU")


def test_grid_outside_space_in_canonical_string():
    text = "Conv2d(k=3,p=1) -> Conv2d(k=3,p=1) -> KAN(order=2,grid=6,act=ReLU)"
    with pytest.raises(InvalidArchitectureError, match=re.escape("invalid grid size 6")):
        CIFAR10.index(text)


def test_grid_outside_space_in_compact():
    with pytest.raises(InvalidArchitectureError, match=re.escape("grid size 6 in KAN group '26R'")):
        Architecture.parse("31.31.26R")


def test_unknown_activation_message():
    message = "invalid activation 'Tanh'; the search space allows ReLU, GELU, SiLU"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((3, 3), (1, 1), 2, 5, "Tanh")


@pytest.mark.parametrize("depth", [1, 8])
def test_depth_outside_two_to_seven(depth):
    message = f"invalid depth {depth}; an architecture has 2 to 7 conv blocks"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.from_choices((1,) * depth, (1,) * depth, 2, 5, "ReLU")


@pytest.mark.parametrize("text", ["11.25R", "11.11.11.11.11.11.11.11.25R"])
def test_depth_outside_range_compact(text):
    with pytest.raises(InvalidArchitectureError, match=re.escape("an architecture has 2 to 7 conv blocks")):
        Architecture.parse(text)


def test_mismatched_choice_lengths():
    with pytest.raises(InvalidArchitectureError, match=re.escape("got 2 kernel sizes but 3 paddings")):
        Architecture.from_choices((3, 3), (1, 1, 1), 2, 5, "ReLU")


@pytest.mark.parametrize("arch_id", [25_980, 10**9, -1])
def test_arch_id_out_of_range(arch_id):
    message = f"arch_id {arch_id} is out of range; this space has arch_ids 0 to 25979"
    with pytest.raises(OutOfSpaceError, match=re.escape(message)):
        CIFAR10[arch_id]


def test_arch_id_must_be_int():
    with pytest.raises(TypeError, match="arch_id must be an int"):
        CIFAR10["7"]
    with pytest.raises(TypeError, match="arch_id must be an int"):
        CIFAR10[True]


def test_depth_range_rejects_depth():
    with pytest.raises(ValueError, match=re.escape("invalid depth 8")):
        CIFAR10.depth_range(8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # A missing field: the padding of conv 1.
        (
            "Conv2d(k=3) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
            "part 1 of 'Conv2d(k=3) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)' is 'Conv2d(k=3)'",
        ),
        # A typo in a layer name.
        (
            "Conv2d(k=3,p=1) -> Cnv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)",
            "is 'Cnv2d(k=5,p=1)'",
        ),
        # A missing KAN layer.
        ("Conv2d(k=3,p=1) -> Conv2d(k=5,p=1)", "it must read 'KAN(order=K,grid=G,act=A)'"),
        # An extra layer after the KAN layer.
        (
            "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU) -> Softmax()",
            "is 'KAN(order=4,grid=8,act=SiLU)'; every part before the last must read 'Conv2d(k=K,p=P)'",
        ),
        # A missing grid field.
        ("Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,act=SiLU)", "the last part of"),
        ("   ", "contains no architecture"),
    ],
)
def test_lenient_rejects_syntax(text, message):
    with pytest.raises(ArchitectureSyntaxError, match=re.escape(message)):
        Architecture.parse(text, lenient=True)


def test_lenient_rejects_unknown_activation():
    text = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=Tanh)"
    with pytest.raises(InvalidArchitectureError, match=re.escape("invalid activation 'Tanh'")):
        Architecture.parse(text, lenient=True)


def test_lenient_rejects_misspelt_activation():
    text = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLu_)"
    with pytest.raises(InvalidArchitectureError, match=re.escape("invalid activation 'SiLu_'")):
        Architecture.parse(text, lenient=True)


def test_lenient_keeps_space_rules():
    message = "kernel 5 at conv 1 is followed by kernel 3 at conv 2; kernels must be non-decreasing"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        Architecture.parse("conv2d(k=5,p=1) → conv2d(k=3,p=1) → kan(order=4,grid=8,act=silu)", lenient=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3.51.48S", "conv group 1 of '3.51.48S' is '3'"),
        ("31.51.48X", "activation initial 'X' in '31.51.48X' is unknown"),
        ("31.51.S", "KAN group 'S' of '31.51.S' is invalid"),
        ("48S", "is not in compact notation"),
    ],
)
def test_compact_syntax_messages(text, message):
    with pytest.raises(ArchitectureSyntaxError, match=re.escape(message)):
        Architecture.parse(text)


def test_unknown_dataset_message():
    with pytest.raises(UnknownDatasetError, match=re.escape("unknown dataset 'imagenet'; built-in datasets are mnist")):
        get_dataset("imagenet")
    with pytest.raises(KeyError):
        SearchSpace.for_dataset("imagenet")


def test_unknown_dataset_str_unquoted():
    with pytest.raises(UnknownDatasetError) as caught:
        get_dataset("imagenet")
    assert str(caught.value).startswith("unknown dataset 'imagenet'")
