"""Import of the authors' published result tables: conversions, provenance and row validation."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from kanbench.archive.importer import dataset_from_file_name, import_results_csv
from kanbench.archive.reader import Archive
from kanbench.errors import ImportValidationError, UnknownDatasetError

SOURCE = "imported:nas_cnn_kan_cifar10_results.csv"


@pytest.fixture(scope="module")
def imported(upstream_csv):
    return import_results_csv(upstream_csv)


@pytest.fixture(scope="module")
def upstream_rows(upstream_csv) -> list[dict[str, str]]:
    with open(upstream_csv, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    return path


def test_import_counts_all_rows(imported):
    table, report = imported
    assert report.rows_read == 5_987
    assert report.rows_imported == 5_987
    assert report.problems == []
    assert report.space_size == 25_980
    assert report.dataset == "cifar10"
    assert table.name == "cifar10"
    assert table.seeds == (0,)
    assert table.num_epochs == 5


def test_import_summary_line(imported):
    _, report = imported
    assert report.summary() == (
        "nas_cnn_kan_cifar10_results.csv: 5987 of 5987 rows imported for 'cifar10'; "
        "task metrics for 5987 of 25980 architectures"
    )


def test_import_shapes(imported):
    table, _ = imported
    assert table.metrics["test_accuracy"].shape == (25_980, 1)
    assert table.metrics["train_time_sec"].shape == (25_980, 1)
    assert table.metrics["train_loss"].shape == (25_980, 1, 5)
    assert table.metrics["train_accuracy"].shape == (25_980, 1, 5)
    assert table.metrics["epoch_time_sec"].shape == (25_980, 1, 5)


def test_import_provenance_labels(imported):
    table, _ = imported
    provenance = table.full_provenance()
    assert provenance["num_params"] == "analytic"
    assert provenance["num_flops"] == "analytic"
    for metric in ("test_accuracy", "test_precision", "test_recall", "test_f1", "train_time_sec", "train_loss", "train_accuracy"):
        assert provenance[metric] == SOURCE, metric
    assert provenance["epoch_time_sec"].startswith("derived:")
    assert SOURCE in provenance["epoch_time_sec"]
    assert provenance["valid_accuracy"] == "missing"


def test_archive_provenance_labels(bench_cifar10):
    view = bench_cifar10.archive.dataset("cifar10")
    assert view.provenance["test_accuracy"] == SOURCE
    assert view.provenance["epoch_time_sec"].startswith("derived:")
    assert view.provenance["valid_accuracy"] == "missing"
    assert view.has_values("test_accuracy")
    assert not view.has_values("valid_accuracy")


def test_import_custom_source_label(upstream_csv):
    table, report = import_results_csv(upstream_csv, source="nas-kan-dff263f")
    assert report.source == "nas-kan-dff263f"
    assert table.full_provenance()["test_accuracy"] == "imported:nas-kan-dff263f"


def test_train_accuracy_percent_to_fraction(imported):
    table, _ = imported
    # Row 0 reports 33.898 (percent) after epoch 1.
    assert table.metrics["train_accuracy"][0, 0, 0] == pytest.approx(0.33898, rel=1e-12)
    assert table.metrics["train_accuracy"][0, 0, 4] == pytest.approx(0.50908, rel=1e-12)


def test_train_curves_equal_csv(imported, upstream_frame):
    table, _ = imported
    ids = upstream_frame["arch_id"].to_numpy()
    for epoch in range(1, 6):
        loss = upstream_frame[f"train_loss_epoch_{epoch}"].to_numpy()
        accuracy = upstream_frame[f"train_acc_epoch_{epoch}"].to_numpy() / 100.0
        assert np.array_equal(table.metrics["train_loss"][ids, 0, epoch - 1], loss), epoch
        assert np.array_equal(table.metrics["train_accuracy"][ids, 0, epoch - 1], accuracy), epoch
    assert table.metrics["train_accuracy"][ids].max() <= 1.0


def test_train_time_is_whole_run(imported, upstream_frame):
    table, _ = imported
    ids = upstream_frame["arch_id"].to_numpy()
    assert np.array_equal(table.metrics["train_time_sec"][ids, 0], upstream_frame["epoch_time_sec"].to_numpy())


def test_epoch_time_is_fifth_of_run(imported):
    table, _ = imported
    expected = np.repeat(table.metrics["train_time_sec"][:, :, None] / 5, 5, axis=2)
    assert np.array_equal(table.metrics["epoch_time_sec"], expected, equal_nan=True)
    assert table.metrics["epoch_time_sec"][0, 0, 0] == pytest.approx(90.98902011 / 5, rel=1e-12)


def test_test_metrics_equal_csv(imported, upstream_frame):
    table, _ = imported
    ids = upstream_frame["arch_id"].to_numpy()
    pairs = {
        "test_accuracy": "test_accuracy",
        "test_precision": "test_precision",
        "test_recall": "test_recall",
        "test_f1": "test_f1_score",
    }
    for metric, column in pairs.items():
        assert np.array_equal(table.metrics[metric][ids, 0], upstream_frame[column].to_numpy()), metric


def test_rows_outside_csv_are_nan(imported):
    table, _ = imported
    for metric in ("test_accuracy", "train_time_sec", "train_loss", "epoch_time_sec"):
        assert np.isnan(table.metrics[metric][5_987:]).all(), metric
        assert not np.isnan(table.metrics[metric][:5_987]).any(), metric


def test_archive_round_trip_equals_csv(cifar10_archive, upstream_frame):
    ids = upstream_frame["arch_id"].to_numpy()
    with Archive(cifar10_archive) as archive:
        view = archive.dataset("cifar10")
        assert view.seeds == (0,)
        assert view.num_epochs == 5
        assert np.array_equal(view.column("test_accuracy")[ids, 0], upstream_frame["test_accuracy"].to_numpy())
        assert np.array_equal(view.column("test_f1")[ids, 0], upstream_frame["test_f1_score"].to_numpy())
        assert np.array_equal(view.column("train_time_sec")[ids, 0], upstream_frame["epoch_time_sec"].to_numpy())
        assert np.array_equal(view.column("num_params")[ids], upstream_frame["num_params"].to_numpy())
        assert view.protocol["epochs"] == 5
        assert view.protocol["imported_rows"] == 5_987


def test_imported_archive_verifies(cifar10_archive):
    with Archive(cifar10_archive) as archive:
        assert list(archive.verify()) == ["cifar10"]


@pytest.fixture
def doctored_csv(tmp_path, upstream_rows) -> Path:
    """Seven rows: two valid, then one of each problem kind (two mismatches)."""
    rows = [dict(row) for row in upstream_rows[:8]]
    valid_first, valid_last = rows[0], rows[6]

    wrong_id = dict(rows[1], architecture=rows[2]["architecture"])  # arch_id 1 with arch_id 2's string
    wrong_params = dict(rows[3], num_params=str(int(rows[3]["num_params"]) + 1))
    duplicate = dict(rows[0], test_accuracy="0.1")
    unparseable = dict(rows[4], architecture="Conv2d(k=1,p=0) -> Linear(out=10)")
    out_of_range = dict(rows[5], test_accuracy="1.5")

    return write_rows(
        tmp_path / "nas_cnn_kan_cifar10_results.csv",
        [valid_first, wrong_id, wrong_params, duplicate, unparseable, out_of_range, valid_last],
    )


def test_doctored_counts_per_kind(doctored_csv):
    _, report = import_results_csv(doctored_csv)
    assert report.rows_read == 7
    assert report.rows_imported == 2
    assert report.counts() == {"mismatch": 2, "duplicate": 1, "unparseable": 1, "invalid_value": 1}


def test_doctored_lines_and_kinds(doctored_csv):
    _, report = import_results_csv(doctored_csv)
    # Line 1 is the header, so the second data row is line 3.
    assert [(problem.line, problem.kind) for problem in report.problems] == [
        (3, "mismatch"),
        (4, "mismatch"),
        (5, "duplicate"),
        (6, "unparseable"),
        (7, "invalid_value"),
    ]
    assert [problem.arch_id for problem in report.problems] == ["1", "3", "0", "4", "5"]


def test_doctored_messages_name_problem(doctored_csv, upstream_rows):
    _, report = import_results_csv(doctored_csv)
    messages = [problem.message for problem in report.problems]
    params = int(upstream_rows[3]["num_params"])
    assert "has arch_id 2, not 1" in messages[0]
    assert f"num_params is {params + 1}, but the analytic value is {params}" in messages[1]
    assert "already imported from line 2" in messages[2]
    assert "architecture is invalid" in messages[3]
    assert "test_accuracy 1.5 is outside [0, 1.0]" in messages[4]


def test_doctored_rows_not_imported(doctored_csv, upstream_rows):
    table, _ = import_results_csv(doctored_csv)
    accuracy = table.metrics["test_accuracy"][:, 0]
    # The first row of arch_id 0 stays; the duplicate's 0.1 is not imported.
    assert accuracy[0] == float(upstream_rows[0]["test_accuracy"])
    assert accuracy[6] == float(upstream_rows[6]["test_accuracy"])
    for arch_id in (1, 2, 3, 4, 5):
        assert np.isnan(accuracy[arch_id]), arch_id
    assert int((~np.isnan(accuracy)).sum()) == 2
    assert table.protocol["imported_rows"] == 2


def test_doctored_strict_raises(doctored_csv):
    with pytest.raises(ImportValidationError, match=r"strict import rejected 5 row\(s\)"):
        import_results_csv(doctored_csv, strict=True)


def test_strict_passes_clean_file(tmp_path, upstream_rows):
    path = write_rows(tmp_path / "clean.csv", upstream_rows[:10])
    _, report = import_results_csv(path, dataset="cifar10", strict=True)
    assert report.rows_imported == 10


def test_unparseable_arch_id_reported(tmp_path, upstream_rows):
    path = write_rows(tmp_path / "ids.csv", [dict(upstream_rows[0], arch_id="zero")])
    _, report = import_results_csv(path, dataset="cifar10")
    assert report.counts() == {"unparseable": 1}
    assert report.rows_imported == 0


def test_missing_column_rejected(tmp_path, upstream_rows):
    rows = [{key: value for key, value in row.items() if key != "test_f1_score"} for row in upstream_rows[:3]]
    path = write_rows(tmp_path / "nas_cnn_kan_cifar10_results.csv", rows)
    with pytest.raises(ImportValidationError, match="lacks the column"):
        import_results_csv(path)


@pytest.mark.parametrize(
    ("file_name", "dataset"),
    [
        ("nas_cnn_kan_cifar10_results.csv", "cifar10"),
        ("nas_cnn_kan_cifar100_results.csv", "cifar100"),
        ("nas_cnn_kan_mnist_results.csv", "mnist"),
        ("nas_cnn_kan_svhn_results.csv", "svhn"),
        ("nas_cnn_kan_stl10_results.csv", "stl10"),
        ("some/folder/nas_cnn_kan_digits_results.csv", "digits"),
    ],
)
def test_dataset_from_file_name(file_name, dataset):
    assert dataset_from_file_name(file_name) == dataset


@pytest.mark.parametrize("file_name", ["results.csv", "nas_cnn_kan_cifar10_results.txt", "cifar10.csv"])
def test_file_name_without_pattern(file_name):
    with pytest.raises(UnknownDatasetError, match="cannot tell the dataset from the file name"):
        dataset_from_file_name(file_name)


def test_file_name_unknown_dataset():
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'imagenet'"):
        dataset_from_file_name("nas_cnn_kan_imagenet_results.csv")


def test_import_needs_dataset_for_odd_name(tmp_path, upstream_rows):
    path = write_rows(tmp_path / "results.csv", upstream_rows[:2])
    with pytest.raises(UnknownDatasetError):
        import_results_csv(path)
    table, report = import_results_csv(path, dataset="cifar10")
    assert report.rows_imported == 2
    assert table.name == "cifar10"
