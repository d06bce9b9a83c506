"""KANBench.filter, ResultSet sorting and export, against masks computed from the published table."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kanbench import ResultSet
from kanbench.errors import UnknownMetricError
from kanbench.space import SearchSpace, cost

METRIC_COLUMNS = [
    "num_params",
    "num_flops",
    "test_accuracy",
    "test_precision",
    "test_recall",
    "test_f1",
    "valid_accuracy",
    "train_time_sec",
    "epoch_time_sec",
]


@pytest.fixture(scope="module")
def frame(upstream_frame):
    """The published rows with depth, activation and kernels read from the architecture strings."""
    result = upstream_frame.copy()
    result["depth"] = result["architecture"].map(lambda text: text.count("Conv2d("))
    result["activation"] = result["architecture"].map(lambda text: re.search(r"act=(\w+)\)", text).group(1))
    result["kernels"] = result["architecture"].map(lambda text: {int(k) for k in re.findall(r"k=(\d+)", text)})
    result["order"] = result["architecture"].map(lambda text: int(re.search(r"order=(\d+)", text).group(1)))
    result["grid"] = result["architecture"].map(lambda text: int(re.search(r"grid=(\d+)", text).group(1)))
    return result


def ids_where(frame, mask) -> list[int]:
    return sorted(frame.loc[mask, "arch_id"].tolist())


def test_filter_params_and_accuracy(bench_cifar10, frame):
    result = bench_cifar10.filter(max_params=1e5, min_accuracy=0.6)
    expected = ids_where(frame, (frame["num_params"] <= 1e5) & (frame["test_accuracy"] >= 0.6))
    assert len(expected) > 0
    assert result.arch_ids.tolist() == expected


def test_filter_flops_depth_activation(bench_cifar10, frame):
    result = bench_cifar10.filter(max_flops=5e6, depth=3, activation="GELU", min_accuracy=0.0)
    mask = (frame["num_flops"] <= 5e6) & (frame["depth"] == 3) & (frame["activation"] == "GELU")
    expected = ids_where(frame, mask)
    assert len(expected) > 0
    assert result.arch_ids.tolist() == expected


def test_filter_epoch_time_is_run_over_five(bench_cifar10, frame):
    result = bench_cifar10.filter(max_epoch_time=19.0)
    expected = ids_where(frame, frame["epoch_time_sec"] / 5 <= 19.0)
    assert 0 < len(expected) < len(frame)
    assert result.arch_ids.tolist() == expected


def test_filter_train_time_whole_run(bench_cifar10, frame):
    result = bench_cifar10.filter(max_train_time=95.0)
    expected = ids_where(frame, frame["epoch_time_sec"] <= 95.0)
    assert 0 < len(expected) < len(frame)
    assert result.arch_ids.tolist() == expected


def test_filter_choice_lists(bench_cifar10, frame):
    result = bench_cifar10.filter(
        spline_order=[2, 5], grid_size=10, activation=["ReLU", "SiLU"], min_accuracy=0.55
    )
    mask = (
        frame["order"].isin([2, 5])
        & (frame["grid"] == 10)
        & frame["activation"].isin(["ReLU", "SiLU"])
        & (frame["test_accuracy"] >= 0.55)
    )
    assert result.arch_ids.tolist() == ids_where(frame, mask)


def test_filter_kernel_size_every_conv(bench_cifar10, frame):
    result = bench_cifar10.filter(kernel_size=[3, 5], with_task_metrics=True)
    expected = ids_where(frame, frame["kernels"].map(lambda kernels: kernels <= {3, 5}))
    assert len(expected) > 0
    assert result.arch_ids.tolist() == expected


def test_filter_params_only_covers_space(bench_cifar10, frame):
    result = bench_cifar10.filter(max_params=60_000)
    expected_all = np.flatnonzero(cost.cost_columns("cifar10")["num_params"] <= 60_000).tolist()
    expected_csv = ids_where(frame, frame["num_params"] <= 60_000)
    ids = result.arch_ids.tolist()
    assert ids == expected_all
    assert [arch_id for arch_id in ids if arch_id < 5_987] == expected_csv
    assert max(ids) >= 5_987


def test_filter_depth_counts_space(bench_cifar10):
    space = SearchSpace.for_dataset("cifar10")
    for depth in range(2, 8):
        result = bench_cifar10.filter(depth=depth)
        assert result.arch_ids.tolist() == list(space.depth_range(depth)), depth


def test_nan_never_satisfies_budget(bench_cifar10):
    assert len(bench_cifar10.filter(max_train_time=1e9)) == 5_987
    assert len(bench_cifar10.filter(max_epoch_time=1e9)) == 5_987
    assert len(bench_cifar10.filter(min_accuracy=0.0)) == 5_987
    assert bench_cifar10.filter(min_accuracy=0.0).arch_ids.tolist() == list(range(5_987))


def test_with_task_metrics_flag(bench_cifar10):
    assert bench_cifar10.filter(with_task_metrics=True).arch_ids.tolist() == list(range(5_987))
    assert bench_cifar10.filter(with_task_metrics=False).arch_ids.tolist() == list(range(5_987, 25_980))


def test_budgets_are_inclusive(bench_cifar10):
    # arch_id 0 has exactly 92,336 parameters.
    assert 0 in bench_cifar10.filter(max_params=92_336).arch_ids
    assert 0 not in bench_cifar10.filter(max_params=92_335).arch_ids


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"activation": "Tanh"}, "invalid activation 'Tanh'"),
        ({"activation": ["ReLU", "Swish"]}, "invalid activation 'Swish'"),
        ({"depth": 8}, "invalid depth 8"),
        ({"depth": [2, 1]}, "invalid depth 1"),
        ({"spline_order": 6}, "invalid spline_order 6"),
        ({"grid_size": 7}, "invalid grid_size 7"),
        ({"kernel_size": 2}, "invalid kernel_size 2"),
        ({"max_params": -1}, "max_params -1 is invalid"),
        ({"max_flops": float("nan")}, "max_flops nan is invalid"),
        ({"max_train_time": "fast"}, "max_train_time must be a number, got 'fast'"),
        ({"min_accuracy": 60}, "min_accuracy 60 is outside [0, 1]"),
    ],
)
def test_filter_invalid_arguments(bench_cifar10, keywords, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bench_cifar10.filter(**keywords)


def test_sort_accuracy_descending_nan_last(bench_cifar10):
    # Kernel size 1 everywhere spans depths 2..7, so the selection mixes measured and unmeasured rows.
    selection = bench_cifar10.filter(kernel_size=1)
    accuracy = selection.values("test_accuracy")
    assert np.isnan(accuracy).any()
    assert not np.isnan(accuracy).all()

    by_id = dict(zip(selection.arch_ids.tolist(), accuracy.tolist()))
    expected = sorted(by_id, key=lambda arch_id: (np.isnan(by_id[arch_id]), -np.nan_to_num(by_id[arch_id]), arch_id))
    ordered = selection.sort("test_accuracy")
    assert ordered.arch_ids.tolist() == expected
    values = ordered.values("test_accuracy")
    known = values[~np.isnan(values)]
    assert np.all(np.diff(known) <= 0)
    assert np.isnan(values[len(known):]).all()


def test_sort_ties_by_arch_id(bench_cifar10, frame):
    # Parameters do not depend on the activation, so every value is shared by at least three ids.
    ordered = bench_cifar10.filter(depth=2).sort("num_params")
    expected = frame.loc[frame["depth"] == 2].sort_values(["num_params", "arch_id"])["arch_id"].tolist()
    assert ordered.arch_ids.tolist() == expected


def test_sort_explicit_direction(bench_cifar10):
    ascending = bench_cifar10.filter(depth=2).sort("test_accuracy", descending=False).values("test_accuracy")
    descending = bench_cifar10.filter(depth=2).sort("num_flops", descending=True).values("num_flops")
    assert np.all(np.diff(ascending) >= 0)
    assert np.all(np.diff(descending) <= 0)


def test_sort_unknown_metric(bench_cifar10):
    with pytest.raises(UnknownMetricError, match="cannot sort by 'accuracy'"):
        bench_cifar10.filter(depth=2).sort("accuracy")


def test_best_accuracy_matches_csv(bench_cifar10, frame):
    top = bench_cifar10.filter(min_accuracy=0.0).sort().head(5)
    expected = frame.sort_values(["test_accuracy", "arch_id"], ascending=[False, True])["arch_id"].head(5).tolist()
    assert top.arch_ids.tolist() == expected


def test_result_set_sequence(bench_cifar10, frame):
    result = bench_cifar10.filter(max_params=1e5, min_accuracy=0.6)
    ids = result.arch_ids.tolist()
    assert isinstance(result[1:4], ResultSet)
    assert result[1:4].arch_ids.tolist() == ids[1:4]
    assert result.head(2).arch_ids.tolist() == ids[:2]
    assert result[0].arch_id == ids[0]
    assert result[-1].arch_id == ids[-1]
    assert [record.arch_id for record in result] == ids
    assert len(result) == len(ids)


def test_result_set_values_and_strings(bench_cifar10, frame):
    result = bench_cifar10.filter(depth=2, activation="SiLU")
    rows = frame.loc[(frame["depth"] == 2) & (frame["activation"] == "SiLU")]
    assert result.arch_ids.tolist() == rows["arch_id"].tolist()
    assert np.array_equal(result.values("test_accuracy"), rows["test_accuracy"].to_numpy())
    assert result.architectures() == rows["architecture"].tolist()


def test_result_arch_ids_read_only(bench_cifar10):
    result = bench_cifar10.filter(depth=2)
    with pytest.raises(ValueError):
        result.arch_ids[0] = 5


def test_to_pandas_columns(bench_cifar10):
    table = bench_cifar10.filter(depth=2).head(3).to_pandas()
    assert list(table.columns) == [
        "arch_id",
        "architecture",
        "depth",
        "spline_order",
        "grid_size",
        "activation",
        *METRIC_COLUMNS,
    ]
    assert len(table) == 3


def test_to_pandas_values_equal_csv(bench_cifar10, frame):
    table = bench_cifar10.filter(depth=3, grid_size=15, min_accuracy=0.0).to_pandas()
    rows = frame.loc[(frame["depth"] == 3) & (frame["grid"] == 15)].reset_index(drop=True)
    assert table["arch_id"].tolist() == rows["arch_id"].tolist()
    assert table["architecture"].tolist() == rows["architecture"].tolist()
    assert table["activation"].tolist() == rows["activation"].tolist()
    assert table["spline_order"].tolist() == rows["order"].tolist()
    assert (table["depth"] == 3).all()
    assert table["test_accuracy"].tolist() == rows["test_accuracy"].tolist()
    assert table["train_time_sec"].tolist() == rows["epoch_time_sec"].tolist()
    assert np.allclose(table["epoch_time_sec"], rows["epoch_time_sec"] / 5, rtol=1e-12, atol=0)


def test_to_pandas_chosen_metrics(bench_cifar10):
    table = bench_cifar10.filter(depth=2).head(2).to_pandas(metrics=["test_accuracy"])
    assert list(table.columns)[-1] == "test_accuracy"
    assert "num_flops" not in table.columns
