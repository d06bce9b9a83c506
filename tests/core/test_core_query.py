"""KANBench.query and coverage on the imported CIFAR-10 archive, checked against the published table."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from kanbench import KANBench
from kanbench.errors import InvalidArchitectureError, OutOfSpaceError, UnknownDatasetError
from kanbench.space import Architecture, SearchSpace, cost

CANONICAL = "Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=8,act=SiLU)"


def csv_row(frame, arch_id: int):
    row = frame.loc[frame["arch_id"] == arch_id]
    assert len(row) == 1
    return row.iloc[0]


def test_default_dataset_is_cifar10(bench_cifar10):
    assert bench_cifar10.default_dataset == "cifar10"
    assert bench_cifar10.datasets == ("cifar10",)


def test_query_forms_give_same_record(bench_cifar10):
    arch_id = SearchSpace.for_dataset("cifar10").index(CANONICAL)
    expected = bench_cifar10.query(arch_id).to_dict()
    forms = [
        CANONICAL,
        "31.51.48S",
        "Architecture: conv2d(k=3, p=1) → CONV2D(k=5, p=1) → kan(order=4, grid=8, act=silu)",
        Architecture.parse(CANONICAL),
        np.int64(arch_id),
    ]
    for form in forms:
        np.testing.assert_equal(bench_cifar10.query(form, dataset="cifar10").to_dict(), expected)


def test_query_record_identity(bench_cifar10):
    record = bench_cifar10.query("31.51.48S")
    assert record.dataset == "cifar10"
    assert record.architecture == CANONICAL
    assert record.arch_id == SearchSpace.for_dataset("cifar10").index(CANONICAL)
    assert record.num_params == 113_200
    assert record.num_flops == 5_719_472


@pytest.mark.parametrize("arch_id", [0, 1, 1_321, 2_399, 2_400, 4_000, 5_986])
def test_query_values_equal_csv(bench_cifar10, upstream_frame, arch_id):
    row = csv_row(upstream_frame, arch_id)
    record = bench_cifar10.query(arch_id)
    assert record.architecture == row["architecture"]
    assert record.num_params == row["num_params"]
    assert record.num_flops == row["num_flops"]
    assert record.test_accuracy == row["test_accuracy"]
    assert record.test_precision == row["test_precision"]
    assert record.test_recall == row["test_recall"]
    assert record.test_f1 == row["test_f1_score"]
    assert record.train_time_sec == row["epoch_time_sec"]
    assert np.isnan(record.valid_accuracy)
    assert record.has_task_metrics is True
    assert record.seeds == (0,)
    assert record.note == ""


def test_query_curves_equal_csv(bench_cifar10, upstream_frame):
    row = csv_row(upstream_frame, 0)
    record = bench_cifar10.query(0)
    losses = [row[f"train_loss_epoch_{epoch}"] for epoch in range(1, 6)]
    accuracies = [row[f"train_acc_epoch_{epoch}"] / 100.0 for epoch in range(1, 6)]
    assert record.train_loss.tolist() == losses
    assert record.train_accuracy.tolist() == accuracies
    assert record.epoch_time_sec.shape == (5,)
    assert record.epoch_time_sec == pytest.approx([row["epoch_time_sec"] / 5] * 5, rel=1e-12)
    assert record.mean_epoch_time_sec == pytest.approx(row["epoch_time_sec"] / 5, rel=1e-12)


def test_query_sample_equal_csv(bench_cifar10, upstream_frame):
    sample = upstream_frame.sample(n=200, random_state=3)
    for row in sample.itertuples():
        record = bench_cifar10.query(row.arch_id)
        assert record.test_accuracy == row.test_accuracy, row.arch_id
        assert record.test_f1 == row.test_f1_score, row.arch_id
        assert record.num_params == row.num_params, row.arch_id


def test_query_seed_zero_scalars(bench_cifar10, upstream_frame):
    row = csv_row(upstream_frame, 1_321)
    record = bench_cifar10.query(1_321, seed=0)
    assert record.seeds == (0,)
    assert isinstance(record.test_accuracy, float)
    assert record.test_accuracy == row["test_accuracy"]
    assert record.train_loss.shape == (5,)
    assert record.has_task_metrics is True


def test_query_seed_all_arrays(bench_cifar10, upstream_frame):
    row = csv_row(upstream_frame, 1_321)
    record = bench_cifar10.query(1_321, seed="all")
    assert record.seeds == (0,)
    assert record.test_accuracy.shape == (1,)
    assert record.test_accuracy[0] == row["test_accuracy"]
    assert record.train_loss.shape == (1, 5)
    assert record.train_accuracy.shape == (1, 5)
    assert record.epoch_time_sec.shape == (1, 5)


def test_query_unknown_seed(bench_cifar10):
    with pytest.raises(KeyError, match=re.escape("seed 7 is not in dataset 'cifar10'; its seeds are [0]")):
        bench_cifar10.query(0, seed=7)


def test_query_unknown_dataset(bench_cifar10):
    with pytest.raises(UnknownDatasetError, match="dataset 'mnist' is not in archive"):
        bench_cifar10.query(0, dataset="mnist")


def test_query_decreasing_kernels_reason(bench_cifar10):
    message = "kernel 5 at conv 1 is followed by kernel 3 at conv 2; kernels must be non-decreasing"
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        bench_cifar10.query("Conv2d(k=5,p=1) -> Conv2d(k=3,p=1) -> KAN(order=4,grid=8,act=SiLU)")
    with pytest.raises(InvalidArchitectureError, match=re.escape(message)):
        bench_cifar10.query("51.31.48S")


def test_query_emptied_map_reason(bench_cifar10):
    text = " -> ".join(["Conv2d(k=7,p=0)"] * 7) + " -> KAN(order=2,grid=5,act=ReLU)"
    with pytest.raises(OutOfSpaceError, match=re.escape("conv 3 (Conv2d(k=7,p=0)) followed by MaxPool2d(2)")):
        bench_cifar10.query(text)


def test_query_grid_outside_space(bench_cifar10):
    with pytest.raises(InvalidArchitectureError, match=re.escape("invalid grid size 7")):
        bench_cifar10.query("Conv2d(k=3,p=1) -> Conv2d(k=5,p=1) -> KAN(order=4,grid=7,act=SiLU)")


def test_query_arch_id_out_of_range(bench_cifar10):
    with pytest.raises(OutOfSpaceError, match=re.escape("arch_id 25980 is out of range")):
        bench_cifar10.query(25_980)


def test_query_without_task_metrics(bench_cifar10):
    space = SearchSpace.for_dataset("cifar10")
    record = bench_cifar10.query(25_979)
    assert record.architecture == str(space[25_979])
    assert np.isnan(record.test_accuracy)
    assert np.isnan(record.train_time_sec)
    assert np.isnan(record.train_loss).all()
    assert record.has_task_metrics is False
    assert "no task metrics" in record.note
    assert record.seeds == ()
    assert record.num_params == cost.num_params(space[25_979], "cifar10")
    assert record.num_flops == cost.num_flops(space[25_979], "cifar10")


def test_query_first_row_without_metrics(bench_cifar10):
    # The published table stops at arch_id 5986, part-way through depth 3.
    assert bench_cifar10.query(5_986).has_task_metrics is True
    assert bench_cifar10.query(5_987).has_task_metrics is False


def test_record_provenance(bench_cifar10):
    provenance = bench_cifar10.query(0).provenance
    assert provenance["num_params"] == "analytic"
    assert provenance["test_accuracy"] == "imported:nas_cnn_kan_cifar10_results.csv"
    assert provenance["valid_accuracy"] == "missing"


def test_record_arrays_read_only(bench_cifar10):
    record = bench_cifar10.query(0)
    with pytest.raises(ValueError):
        record.train_loss[0] = 0.0
    assert bench_cifar10.query(0).train_loss[0] != 0.0


def test_coverage_cifar10(bench_cifar10):
    coverage = bench_cifar10.coverage()
    assert coverage.dataset == "cifar10"
    assert coverage.num_architectures == 25_980
    assert coverage.with_task_metrics == 5_987
    assert coverage.per_seed == {0: 5_987}
    assert coverage.per_metric["test_accuracy"] == 5_987
    assert coverage.per_metric["train_time_sec"] == 5_987
    assert coverage.per_metric["valid_accuracy"] == 0
    assert coverage.fraction == pytest.approx(5_987 / 25_980)


def test_query_does_not_import_torch():
    code = "import sys, kanbench; kanbench.KANBench().query(0); assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_filter_does_not_import_torch(cifar10_archive):
    code = (
        "import sys, kanbench; bench = kanbench.KANBench(sys.argv[1]); "
        "bench.filter(max_params=1e5).sort().head(3).to_pandas(); bench.generate(max_params=1e6); "
        "assert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code, str(cifar10_archive)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_bench_repr_names_datasets(bench_cifar10):
    assert "datasets=['cifar10']" in repr(bench_cifar10)


def test_bench_with_named_default(cifar10_archive):
    with KANBench(cifar10_archive, dataset="cifar10") as bench:
        assert bench.default_dataset == "cifar10"
    with pytest.raises(UnknownDatasetError):
        KANBench(cifar10_archive, dataset="svhn")
