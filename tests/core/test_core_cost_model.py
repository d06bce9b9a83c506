"""The analytic cost model against hand arithmetic and against the published CIFAR-10 table."""

from __future__ import annotations

import numpy as np
import pytest

from kanbench.errors import OutOfSpaceError, UnknownDatasetError
from kanbench.space import DATASETS, Architecture, SearchSpace, cost


def test_every_csv_row_string_and_index(upstream_frame):
    space = SearchSpace.for_dataset("cifar10")
    rows = list(zip(upstream_frame["arch_id"], upstream_frame["architecture"]))

    assert len(rows) == 5_987
    assert [arch_id for arch_id, _ in rows] == list(range(5_987))
    wrong_string = [arch_id for arch_id, text in rows if str(space[arch_id]) != text]
    wrong_format_id = [arch_id for arch_id, text in rows if space.format_id(arch_id) != text]
    wrong_index = [arch_id for arch_id, text in rows if space.index(text) != arch_id]
    assert wrong_string == []
    assert wrong_format_id == []
    assert wrong_index == []


def test_every_csv_row_analytic_costs(upstream_frame):
    space = SearchSpace.for_dataset("cifar10")
    wrong_params, wrong_flops = [], []
    for arch_id, params, flops in zip(upstream_frame["arch_id"], upstream_frame["num_params"], upstream_frame["num_flops"]):
        report = cost.analyze(space[arch_id], "cifar10")
        if report.num_params != params:
            wrong_params.append(arch_id)
        if report.num_flops != flops:
            wrong_flops.append(arch_id)
    assert wrong_params == []
    assert wrong_flops == []


def test_every_csv_row_cost_columns(upstream_frame):
    columns = cost.cost_columns("cifar10")
    ids = upstream_frame["arch_id"].to_numpy()
    assert np.array_equal(columns["num_params"][ids], upstream_frame["num_params"].to_numpy())
    assert np.array_equal(columns["num_flops"][ids], upstream_frame["num_flops"].to_numpy())


def test_csv_row_scalar_functions(upstream_frame):
    space = SearchSpace.for_dataset("cifar10")
    for row in upstream_frame.iloc[::97].itertuples():
        arch = space[row.arch_id]
        assert cost.num_params(arch, "cifar10") == row.num_params, f"arch_id {row.arch_id}"
        assert cost.num_flops(arch, "cifar10") == row.num_flops, f"arch_id {row.arch_id}"


def test_arch_zero_cifar10_by_hand():
    report = cost.analyze(SearchSpace.for_dataset("cifar10")[0], "cifar10")
    # conv1: 3 -> 8 channels, k1 p0 on 32x32 keeps 32x32, pool -> 16x16.
    #   params 3*8*1*1 + 8 = 32; FLOPs 2*3*8*1*1*32*32 = 49,152
    # conv2: 8 -> 16 channels, k1 p0 on 16x16 keeps 16x16, pool -> 8x8.
    #   params 8*16 + 16 = 144; FLOPs 2*8*16*16*16 = 65,536
    # KAN: d_in = 16*8*8 = 1024, d_out = 10, order K = 2, grid G = 5.
    #   params 1024*10*(5+2+2) = 92,160
    #   per edge 9*2*(5+1.5*2) + 2*5 - 2.5*2 + 3 = 144 + 10 - 5 + 3 = 152
    #   FLOPs 1024 + 1024*10*152 = 1,557,504
    # totals: params 32 + 144 + 92,160 = 92,336; FLOPs 49,152 + 65,536 + 1,557,504 = 1,672,192
    assert report.kan_in_features == 1024
    assert [layer.name for layer in report.layers] == ["conv1", "conv2", "kan"]
    assert [layer.num_params for layer in report.layers] == [32, 144, 92_160]
    assert [layer.num_flops for layer in report.layers] == [49_152, 65_536, 1_557_504]
    assert report.layers[0].output_shape == (8, 16, 16)
    assert report.layers[1].output_shape == (16, 8, 8)
    assert report.layers[2].input_shape == (1024,)
    assert report.layers[2].output_shape == (10,)
    assert report.num_params == 92_336
    assert report.num_flops == 1_672_192


def test_mixed_kernels_cifar10_by_hand():
    report = cost.analyze(Architecture.parse("31.51.48S"), "cifar10")
    # conv1: 3 -> 8, k3 p1: 32-3+2+1 = 32, pool 16.  params 3*8*9 + 8 = 224; FLOPs 2*3*8*9*32*32 = 442,368
    # conv2: 8 -> 16, k5 p1: 16-5+2+1 = 14, pool 7.  params 8*16*25 + 16 = 3,216; FLOPs 2*8*16*25*14*14 = 1,254,400
    # KAN: d_in = 16*7*7 = 784, K = 4, G = 8.  params 784*10*(8+4+2) = 109,760
    #   per edge 9*4*(8+6) + 16 - 10 + 3 = 513; FLOPs 784 + 7,840*513 = 4,022,704
    assert report.kan_in_features == 784
    assert report.num_params == 224 + 3_216 + 109_760
    assert report.num_flops == 442_368 + 1_254_400 + 4_022_704


def test_odd_sizes_floor_by_hand():
    report = cost.analyze(Architecture.parse("30.30.25R"), "cifar10")
    # conv1: k3 p0 on 32: 30x30, pool 15.  params 224; FLOPs 2*3*8*9*900 = 388,800
    # conv2: k3 p0 on 15: 13x13, pool 6 (floor of 6.5).  params 8*16*9 + 16 = 1,168; FLOPs 2*8*16*9*169 = 389,376
    # KAN: d_in = 16*6*6 = 576.  params 576*10*9 = 51,840; FLOPs 576 + 5,760*152 = 876,096
    assert report.kan_in_features == 576
    assert report.num_params == 53_232
    assert report.num_flops == 1_654_272


def test_mnist_one_channel_by_hand():
    report = cost.analyze(Architecture.parse("10.10.25R"), "mnist")
    # conv1: 1 -> 8, k1 p0 on 28: params 16; FLOPs 2*1*8*784 = 12,544; pool 14
    # conv2: 8 -> 16 on 14: params 144; FLOPs 2*8*16*196 = 50,176; pool 7
    # KAN: d_in = 16*49 = 784; params 784*10*9 = 70,560; FLOPs 784 + 7,840*152 = 1,192,464
    assert report.kan_in_features == 784
    assert report.num_params == 70_720
    assert report.num_flops == 1_255_184


def test_cifar100_hundred_outputs_by_hand():
    report = cost.analyze(Architecture.parse("10.10.25R"), "cifar100")
    # Same convs as arch 0 on cifar10 (176 params, 114,688 FLOPs), KAN to 100 logits:
    # params 1024*100*9 = 921,600; FLOPs 1024 + 102,400*152 = 15,565,824
    assert report.layers[-1].output_shape == (100,)
    assert report.num_params == 921_776
    assert report.num_flops == 15_680_512


def test_digits_depth_three_by_hand():
    report = cost.analyze(Architecture.parse("10.10.10.25R"), "digits")
    # 8 -> 4 -> 2 -> 1 pixels; channels 8, 16, 32, so d_in = 32.
    # params 16 + 144 + (16*32 + 32 = 544) + 32*10*9 = 3,584
    # FLOPs 2*8*64 + 2*8*16*16 + 2*16*32*4 + (32 + 320*152) = 1,024 + 4,096 + 4,096 + 48,672 = 57,888
    assert report.kan_in_features == 32
    assert report.num_params == 3_584
    assert report.num_flops == 57_888


@pytest.mark.parametrize("order", [2, 3, 4, 5])
@pytest.mark.parametrize("grid", [5, 8, 10, 15, 20])
def test_kan_formulas_match_float_formula(order, grid):
    in_features, out_features = 1024, 10
    per_edge = 9 * order * (grid + 1.5 * order) + 2 * grid - 2.5 * order + 3
    assert cost.kan_flops(in_features, out_features, order, grid) == in_features + in_features * out_features * per_edge
    assert cost.kan_params(in_features, out_features, order, grid) == in_features * out_features * (grid + order + 2)


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_cost_columns_match_analyze(dataset):
    space = SearchSpace.for_dataset(dataset)
    columns = cost.cost_columns(dataset)
    rng = np.random.default_rng(7)
    ids = sorted(set(rng.integers(0, len(space), size=150).tolist()) | {0, len(space) - 1})

    assert set(columns) == {"num_params", "num_flops", "kan_in_features"}
    for name in columns:
        assert columns[name].shape == (len(space),), name
        assert columns[name].dtype == np.int64, name
    for arch_id in ids:
        report = cost.analyze(space[arch_id], dataset)
        assert columns["num_params"][arch_id] == report.num_params, f"arch_id {arch_id}"
        assert columns["num_flops"][arch_id] == report.num_flops, f"arch_id {arch_id}"
        assert columns["kan_in_features"][arch_id] == report.kan_in_features, f"arch_id {arch_id}"


def test_analyze_rejects_emptied_feature_map():
    arch = Architecture.parse("30.30.30.25R")
    with pytest.raises(OutOfSpaceError):
        cost.analyze(arch, "digits")


def test_analyze_rejects_unknown_dataset():
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'imagenet'"):
        cost.analyze(Architecture.parse("10.10.25R"), "imagenet")
