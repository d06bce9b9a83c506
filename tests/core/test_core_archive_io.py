"""Archive reading and writing: damaged files, checksums, atomic writes and lazy reads."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from kanbench import KANBench
from kanbench.archive import writer
from kanbench.archive.bundled import bundled_archive_path
from kanbench.archive.reader import Archive
from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.errors import (
    ArchiveError,
    ArchiveFormatError,
    ArchiveNotFoundError,
    ChecksumMismatchError,
    UnknownDatasetError,
    UnknownMetricError,
)


@pytest.fixture
def digits_archive(tmp_path: Path) -> Path:
    """A fresh archive with only the digits dataset (7,020 architectures, cost metrics only)."""
    return write_archive(tmp_path / "digits.h5", [DatasetTable.analytic("digits")], archive_version="test")


@pytest.fixture
def bundled_copy(tmp_path: Path) -> Path:
    path = tmp_path / "copy.h5"
    shutil.copyfile(bundled_archive_path(), path)
    return path


def test_missing_file_raises_not_found(tmp_path):
    missing = tmp_path / "absent.h5"
    with pytest.raises(ArchiveNotFoundError, match="archive not found"):
        Archive(missing)
    with pytest.raises(FileNotFoundError):
        KANBench(missing)


def test_text_file_raises_format_error(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("not an HDF5 file\n")
    with pytest.raises(ArchiveFormatError, match="cannot open .* as an HDF5 archive"):
        Archive(path)


def test_foreign_hdf5_raises_format_error(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file["values"] = np.arange(4)
    with pytest.raises(ArchiveFormatError, match="is not a kanbench archive"):
        Archive(path)


def test_newer_schema_version_rejected(bundled_copy):
    with h5py.File(bundled_copy, "r+") as file:
        file.attrs["schema_version"] = 2
    with pytest.raises(ArchiveFormatError, match="uses archive schema version 2, but this kanbench reads up to version 1"):
        Archive(bundled_copy)


def test_zero_schema_version_rejected(bundled_copy):
    with h5py.File(bundled_copy, "r+") as file:
        file.attrs["schema_version"] = 0
    with pytest.raises(ArchiveFormatError, match="invalid schema version 0"):
        Archive(bundled_copy)


def test_truncated_file_rejected(bundled_copy):
    size = bundled_copy.stat().st_size
    with open(bundled_copy, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(ArchiveFormatError):
        Archive(bundled_copy)


def test_missing_datasets_group_rejected(digits_archive):
    with h5py.File(digits_archive, "r+") as file:
        del file["datasets"]
    with pytest.raises(ArchiveFormatError, match="has no 'datasets' group"):
        Archive(digits_archive)


@pytest.mark.parametrize("attribute", ["content_sha256", "provenance", "num_architectures"])
def test_missing_dataset_attribute_rejected(digits_archive, attribute):
    with h5py.File(digits_archive, "r+") as file:
        del file["datasets/digits"].attrs[attribute]
    with pytest.raises(ArchiveFormatError, match=f"lacks the attribute '{attribute}'"):
        Archive(digits_archive)


def test_missing_array_rejected_on_read(digits_archive):
    with h5py.File(digits_archive, "r+") as file:
        del file["datasets/digits/metrics/num_flops"]
    view = Archive(digits_archive).dataset("digits")
    with pytest.raises(ArchiveFormatError, match="has no array 'metrics/num_flops'"):
        view.column("num_flops")


def test_wrong_architecture_count_rejected(digits_archive):
    with h5py.File(digits_archive, "r+") as file:
        file["datasets/digits"].attrs["num_architectures"] = 7_021
    with pytest.raises(ArchiveFormatError, match="has 7021 architectures but the search space"):
        Archive(digits_archive)


def test_fresh_archive_verifies(digits_archive):
    with Archive(digits_archive) as archive:
        digests = archive.verify()
        assert list(digests) == ["digits"]
        assert digests["digits"] == archive.dataset("digits").content_sha256


def test_modified_cost_value_fails_checksum(digits_archive):
    with h5py.File(digits_archive, "r+") as file:
        file["datasets/digits/metrics/num_params"][0] += 1
    with Archive(digits_archive) as archive:
        with pytest.raises(ChecksumMismatchError, match="dataset 'digits' in .* fails its checksum"):
            archive.verify()
    with KANBench(digits_archive) as bench:
        with pytest.raises(ChecksumMismatchError):
            bench.verify()


def test_modified_metric_value_fails_checksum(cifar10_archive, tmp_path):
    path = tmp_path / "cifar10.h5"
    shutil.copyfile(cifar10_archive, path)
    with Archive(path) as archive:
        assert archive.dataset("cifar10").verify() == archive.dataset("cifar10").content_sha256
    with h5py.File(path, "r+") as file:
        file["datasets/cifar10/metrics/test_accuracy"][5, 0] = 0.5
    with Archive(path) as archive:
        with pytest.raises(ChecksumMismatchError, match="dataset 'cifar10'"):
            archive.dataset("cifar10").verify()


def test_modified_protocol_fails_checksum(digits_archive):
    with h5py.File(digits_archive, "r+") as file:
        file["datasets/digits"].attrs["protocol"] = '{"note": "edited"}'
    with Archive(digits_archive) as archive:
        with pytest.raises(ChecksumMismatchError):
            archive.verify()


def test_unknown_dataset_in_archive(digits_archive):
    with Archive(digits_archive) as archive:
        with pytest.raises(UnknownDatasetError, match="dataset 'cifar10' is not in archive"):
            archive.dataset("cifar10")


def test_unknown_metric_column(digits_archive):
    with Archive(digits_archive) as archive:
        with pytest.raises(UnknownMetricError, match="unknown metric 'accuracy'"):
            archive.dataset("digits").column("accuracy")


def test_write_replaces_existing_file(digits_archive):
    before = digits_archive.read_bytes()
    write_archive(digits_archive, [DatasetTable.analytic("digits")], archive_version="second")
    with Archive(digits_archive) as archive:
        assert archive.archive_version == "second"
    assert digits_archive.read_bytes() != before
    assert os.listdir(digits_archive.parent) == [digits_archive.name]


def test_written_file_has_default_mode(tmp_path):
    # An archive is an ordinary data file: it gets the mode open() gives under the current umask,
    # not the owner-only mode of a temporary file.
    reference = tmp_path / "reference.bin"
    reference.write_bytes(b"")
    path = write_archive(tmp_path / "digits.h5", [DatasetTable.analytic("digits")], archive_version="test")
    assert oct(path.stat().st_mode & 0o777) == oct(reference.stat().st_mode & 0o777)


def test_invalid_table_keeps_existing_file(digits_archive):
    before = digits_archive.read_bytes()
    table = DatasetTable(
        name="digits",
        seeds=(0,),
        num_epochs=5,
        provenance={"test_accuracy": "imported:test"},
        metrics={"test_accuracy": np.zeros((7_020, 2))},
    )
    with pytest.raises(ArchiveError, match=r"has shape \(7020, 2\), expected \(7020, 1\)"):
        write_archive(digits_archive, [table], archive_version="broken")
    assert digits_archive.read_bytes() == before
    assert os.listdir(digits_archive.parent) == [digits_archive.name]


def test_failure_mid_write_keeps_existing_file(digits_archive, monkeypatch):
    before = digits_archive.read_bytes()
    original = writer._write_array
    calls = []

    def fail_on_third_array(group, array_path, values):
        calls.append(array_path)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        original(group, array_path, values)

    monkeypatch.setattr(writer, "_write_array", fail_on_third_array)
    with pytest.raises(OSError, match="disk full"):
        write_archive(digits_archive, [DatasetTable.analytic("digits")], archive_version="interrupted")
    assert len(calls) == 3
    assert digits_archive.read_bytes() == before
    assert os.listdir(digits_archive.parent) == [digits_archive.name]


def test_interrupt_mid_write_keeps_existing_file(digits_archive, monkeypatch):
    before = digits_archive.read_bytes()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_write_dataset", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_archive(digits_archive, [DatasetTable.analytic("digits")], archive_version="interrupted")
    assert digits_archive.read_bytes() == before
    assert os.listdir(digits_archive.parent) == [digits_archive.name]


def test_duplicate_table_names_rejected(tmp_path):
    tables = [DatasetTable.analytic("digits"), DatasetTable.analytic("digits")]
    with pytest.raises(ArchiveError, match="dataset names must be unique"):
        write_archive(tmp_path / "twice.h5", tables, archive_version="test")
    assert os.listdir(tmp_path) == []


def test_unknown_metric_in_table_rejected(tmp_path):
    table = DatasetTable(name="digits", provenance={"accuracy": "imported:test"}, metrics={"accuracy": np.zeros(7_020)})
    with pytest.raises(ArchiveError, match="unknown metric 'accuracy'"):
        write_archive(tmp_path / "bad.h5", [table], archive_version="test")


def test_metric_without_provenance_rejected(tmp_path):
    table = DatasetTable(name="digits", seeds=(0,), metrics={"test_accuracy": np.zeros((7_020, 1))})
    with pytest.raises(ArchiveError, match="has no provenance"):
        write_archive(tmp_path / "bad.h5", [table], archive_version="test")


def test_open_reads_no_columns(digits_archive):
    with Archive(digits_archive) as archive:
        view = archive.dataset("digits")
        assert view._columns == {}


def test_column_read_once_then_cached(digits_archive):
    with Archive(digits_archive) as archive:
        view = archive.dataset("digits")
        first = view.column("num_params")
        assert list(view._columns) == ["metrics/num_params"]
        assert view.column("num_params") is first
        assert first.flags.writeable is False


def test_bench_reads_columns_on_query(cifar10_archive):
    with KANBench(cifar10_archive) as bench:
        view = bench.archive.dataset("cifar10")
        assert view._columns == {}
        bench.query(0)
        assert "metrics/test_accuracy" in view._columns
