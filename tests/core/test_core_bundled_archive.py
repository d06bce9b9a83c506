"""The archive shipped inside the package: contents, checksums and reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kanbench import KANBench
from kanbench.archive.bundled import build_bundled_archive, bundled_archive_path
from kanbench.archive.reader import Archive
from kanbench.archive.schema import COST_METRICS, CURVE_METRICS, TASK_METRICS
from kanbench.errors import MissingMetricsError
from kanbench.space import DATASETS, SearchSpace, cost
from kanbench.sweep.run_dir import read_export

ALL_DATASETS = ("mnist", "cifar10", "cifar100", "svhn", "stl10", "digits")
UNTRAINED = ("mnist", "cifar10", "cifar100", "svhn", "stl10")
RUN_EXPORTS = sorted((Path(__file__).resolve().parents[2] / "data" / "runs").glob("*.jsonl.gz"))


@pytest.fixture(scope="module")
def bundled():
    archive = Archive(bundled_archive_path())
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    path = build_bundled_archive(tmp_path_factory.mktemp("rebuilt") / "kanbench.h5", RUN_EXPORTS)
    archive = Archive(path)
    yield archive
    archive.close()


@pytest.fixture(scope="module")
def digits_runs():
    """Successful digits runs of the committed exports, keyed by (arch_id, seed)."""
    runs = {}
    for export in RUN_EXPORTS:
        _, results = read_export(export)
        runs.update({(r["arch_id"], r["seed"]): r for r in results if r["status"] == "ok"})
    return runs


def test_bundled_path_is_package_file():
    path = bundled_archive_path()
    assert path.name == "kanbench.h5"
    assert path.parent.name == "data"
    assert path.is_file()


def test_run_exports_committed():
    assert [path.name for path in RUN_EXPORTS] == ["digits-v1-seed0.jsonl.gz"]


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


@pytest.mark.parametrize("dataset", UNTRAINED)
def test_untrained_task_metrics_all_nan(bundled, dataset):
    view = bundled.dataset(dataset)
    for metric in TASK_METRICS + CURVE_METRICS:
        values = view.column(metric)
        assert values.shape[0] == view.num_architectures, metric
        assert np.isnan(values).all(), metric
        assert view.provenance[metric] == "missing", metric
        assert not view.has_values(metric), metric


def test_digits_provenance_trained(bundled):
    view = bundled.dataset("digits")
    for metric in TASK_METRICS + CURVE_METRICS:
        assert view.provenance[metric] == "trained:kanbench-0.1.0", metric
    assert view.seeds == (0,)
    assert view.num_epochs == 5
    assert view.protocol["name"] == "digits-v1"
    assert view.protocol["learning_rate"] == 3e-3


def test_digits_values_equal_runs(bundled, digits_runs):
    view = bundled.dataset("digits")
    accuracy = view.column("test_accuracy")[:, 0]
    loss = view.column("train_loss")[:, 0, :]
    for (arch_id, _), run in digits_runs.items():
        assert accuracy[arch_id] == run["test_accuracy"], arch_id
        assert loss[arch_id].tolist() == run["train_loss"], arch_id


def test_digits_coverage_equals_runs(bundled, digits_runs):
    with KANBench() as bench:
        coverage = bench.coverage("digits")
    assert len(digits_runs) == 7020
    assert coverage.with_task_metrics == 7020
    assert coverage.per_seed == {0: 7020}
    assert not np.isnan(bundled.dataset("digits").column("test_accuracy")).any()


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_rebuild_gives_committed_digests(bundled, rebuilt, dataset):
    assert rebuilt.dataset(dataset).content_sha256 == bundled.dataset(dataset).content_sha256


def test_rebuild_verifies(rebuilt):
    assert set(rebuilt.verify()) == set(ALL_DATASETS)


def test_bundled_bench_defaults_to_digits():
    with KANBench() as bench:
        assert bench.default_dataset == "digits"
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
        with pytest.raises(MissingMetricsError, match="dataset 'cifar10' has no task metrics"):
            bench.generate(max_params=1e6, dataset="cifar10")


def test_bundled_generate_matches_brute_force(digits_runs):
    ids = np.array(sorted(arch_id for arch_id, _ in digits_runs))
    accuracy = np.array([digits_runs[(i, 0)]["test_accuracy"] for i in ids])
    train_time = np.array([digits_runs[(i, 0)]["train_time_sec"] for i in ids])
    columns = cost.cost_columns("digits")
    params = columns["num_params"][ids].astype(float)
    flops = columns["num_flops"][ids].astype(float)

    def normalise(values):
        return (values - values.min()) / (values.max() - values.min())

    score = 0.5 * accuracy - 0.5 * (0.34 * normalise(params) + 0.33 * normalise(flops) + 0.33 * normalise(train_time))
    score[params > 1e6] = -np.inf
    best = ids[np.argmax(score)]

    with KANBench() as bench:
        result = bench.generate(max_params=1e6, alpha=0.5)
    assert result.dataset == "digits"
    assert result.arch_id == best
    assert result.score == pytest.approx(score.max(), abs=1e-12)


@pytest.mark.parametrize("arch_id", [0, 200, 1000])
def test_train_reproduces_bundled(arch_id):
    with KANBench() as bench:
        stored = bench.query(arch_id, seed=0)
        record = bench.train(arch_id, seed=0, progress=False)
    assert record.test_accuracy == stored.test_accuracy
    assert record.test_f1 == stored.test_f1
    assert record.valid_accuracy == stored.valid_accuracy
    assert record.train_loss == stored.train_loss.tolist()
