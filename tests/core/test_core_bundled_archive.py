"""The archive shipped inside the package: contents, checksums and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from kanbench import KANBench
from kanbench.archive.bundled import build_bundled_archive, bundled_archive_path
from kanbench.archive.reader import Archive
from kanbench.archive.schema import COST_METRICS, CURVE_METRICS, TASK_METRICS
from kanbench.errors import MissingMetricsError
from kanbench.space import DATASETS, SearchSpace, cost

ALL_DATASETS = ("mnist", "cifar10", "cifar100", "svhn", "stl10", "digits")


@pytest.fixture(scope="module")
def bundled():
    archive = Archive(bundled_archive_path())
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    path = build_bundled_archive(tmp_path_factory.mktemp("rebuilt") / "kanbench.h5")
    archive = Archive(path)
    yield archive
    archive.close()


def test_bundled_path_is_package_file():
    path = bundled_archive_path()
    assert path.name == "kanbench.h5"
    assert path.parent.name == "data"
    assert path.is_file()


def test_bundled_has_six_datasets(bundled):
    assert bundled.datasets == ALL_DATASETS
    assert bundled.schema_version == 1


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_bundled_sizes_match_space(bundled, dataset):
    view = bundled.dataset(dataset)
    assert view.num_architectures == len(SearchSpace.for_dataset(dataset))
    assert view.input_shape == DATASETS[dataset].input_shape
    assert view.num_classes == DATASETS[dataset].num_classes


def test_bundled_verify_all(bundled):
    digests = bundled.verify()
    assert set(digests) == set(ALL_DATASETS)


def test_bundled_digests_distinct_per_dataset(bundled):
    # cifar10 and svhn share a search space and costs, but the name is part of the content hash.
    digests = [bundled.dataset(name).content_sha256 for name in ALL_DATASETS]
    assert len(set(digests)) == len(ALL_DATASETS)


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_bundled_cost_columns_analytic(bundled, dataset):
    view = bundled.dataset(dataset)
    expected = cost.cost_columns(dataset)
    for metric in COST_METRICS:
        assert np.array_equal(view.column(metric), expected[metric]), metric
        assert view.provenance[metric] == "analytic", metric


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_bundled_task_metrics_all_nan(bundled, dataset):
    view = bundled.dataset(dataset)
    for metric in TASK_METRICS + CURVE_METRICS:
        values = view.column(metric)
        assert values.shape[0] == view.num_architectures, metric
        assert np.isnan(values).all(), metric
        assert view.provenance[metric] == "missing", metric
        assert not view.has_values(metric), metric


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_rebuild_gives_committed_digests(bundled, rebuilt, dataset):
    assert rebuilt.dataset(dataset).content_sha256 == bundled.dataset(dataset).content_sha256


def test_rebuild_verifies(rebuilt):
    assert set(rebuilt.verify()) == set(ALL_DATASETS)


def test_bundled_bench_defaults_to_mnist():
    with KANBench() as bench:
        assert bench.default_dataset == "mnist"
        assert bench.datasets == ALL_DATASETS


def test_bundled_query_has_costs_only():
    with KANBench() as bench:
        record = bench.query("31.51.48S", dataset="cifar10")
        assert record.num_params == 113_200
        assert record.num_flops == 5_719_472
        assert np.isnan(record.test_accuracy)
        assert record.has_task_metrics is False


def test_bundled_coverage_is_zero():
    with KANBench() as bench:
        coverage = bench.coverage("stl10")
        assert coverage.num_architectures == 94_020
        assert coverage.with_task_metrics == 0
        assert coverage.fraction == 0.0


def test_bundled_generate_needs_metrics():
    with KANBench() as bench:
        with pytest.raises(MissingMetricsError, match="dataset 'mnist' has no task metrics"):
            bench.generate(max_params=1e6)
        with pytest.raises(MissingMetricsError, match="dataset 'cifar10' has no task metrics"):
            bench.generate(max_params=1e6, dataset="cifar10")
