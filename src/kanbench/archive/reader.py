"""Reading archives: read-only, lazy, and strict about the format.

Usage::

    >>> from kanbench.archive.reader import Archive
    >>> archive = Archive("kanbench.h5")
    >>> table = archive.dataset("cifar10")
    >>> table.column("num_params")[:3]
    array([92336, 92336, 92336])

Opening reads only attributes. A column is read from disk the first time it
is requested and kept in memory afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from kanbench.archive.checksum import HASHED_ATTRIBUTES, content_sha256
from kanbench.archive.schema import ARCHITECTURE_COLUMNS, FORMAT_NAME, METRICS, SCHEMA_VERSION
from kanbench.errors import (
    ArchiveFormatError,
    ArchiveNotFoundError,
    ChecksumMismatchError,
    UnknownDatasetError,
    UnknownMetricError,
)
from kanbench.space import SearchSpace, get_dataset

_JSON_ATTRIBUTES = ("input_shape", "seeds", "protocol", "provenance")


class DatasetView:
    """One dataset of an open archive: its attributes and lazily read columns."""

    def __init__(self, archive_path: Path, group: h5py.Group):
        self.name: str = group.name.rsplit("/", 1)[-1]
        self._path = archive_path
        self._group = group
        self._columns: dict[str, np.ndarray] = {}

        attributes = _read_attributes(group, archive_path)
        self.input_shape: tuple[int, int, int] = tuple(attributes["input_shape"])
        self.num_classes: int = int(attributes["num_classes"])
        self.num_architectures: int = int(attributes["num_architectures"])
        self.seeds: tuple[int, ...] = tuple(int(s) for s in attributes["seeds"])
        self.num_epochs: int = int(attributes["num_epochs"])
        self.protocol: dict = attributes["protocol"]
        self.provenance: dict[str, str] = attributes["provenance"]
        self.content_sha256: str = str(attributes["content_sha256"])
        self._attributes = attributes
        self._check_against_space()

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.for_shape(self.input_shape)

    def has_values(self, metric: str) -> bool:
        """Return whether the archive contains any value of ``metric`` for this dataset."""
        return self.provenance.get(metric, "missing") != "missing"

    def column(self, metric: str) -> np.ndarray:
        """Return the full array of ``metric``, indexed by arch_id (read once, then cached).

        Raises:
            UnknownMetricError: ``metric`` is not in the schema.
            ArchiveFormatError: the array is missing or unreadable.
        """
        if metric not in METRICS:
            raise UnknownMetricError(f"unknown metric {metric!r}; known metrics are {', '.join(METRICS)}")
        return self._read(f"metrics/{metric}")

    def architecture_column(self, name: str) -> np.ndarray:
        """Return one column of the architecture encoding (``depth``, ``kernel_size``, ...)."""
        if name not in ARCHITECTURE_COLUMNS:
            raise KeyError(f"unknown architecture column {name!r}; known: {', '.join(ARCHITECTURE_COLUMNS)}")
        return self._read(f"architectures/{name}")

    def compute_sha256(self) -> str:
        """Hash the content as stored on disk now (reads every array)."""
        arrays: list[tuple[str, np.ndarray]] = []
        self._group.visititems(
            lambda path, item: arrays.append((path, self._read_uncached(path))) if isinstance(item, h5py.Dataset) else None
        )
        return content_sha256(self.name, self._attributes, arrays)

    def verify(self) -> str:
        """Compare the stored SHA-256 with the content; return the digest.

        Raises:
            ChecksumMismatchError: the content differs from the stored digest.
        """
        actual = self.compute_sha256()
        if actual != self.content_sha256:
            raise ChecksumMismatchError(
                f"dataset {self.name!r} in {self._path} fails its checksum: stored {self.content_sha256[:16]}..., "
                f"content {actual[:16]}...; the file is corrupt or was modified, so rebuild or download it again"
            )
        return actual

    def _read(self, path: str) -> np.ndarray:
        cached = self._columns.get(path)
        if cached is None:
            cached = self._read_uncached(path)
            cached.flags.writeable = False
            self._columns[path] = cached
        return cached

    def _read_uncached(self, path: str) -> np.ndarray:
        try:
            return self._group[path][()]
        except KeyError:
            raise ArchiveFormatError(
                f"{self._path} has no array {path!r} for dataset {self.name!r}; the archive is incomplete, rebuild it"
            ) from None
        except OSError as error:
            raise ArchiveFormatError(
                f"cannot read {path!r} of dataset {self.name!r} from {self._path}: {error}; the file is damaged, "
                "rebuild or download it again"
            ) from error

    def _check_against_space(self) -> None:
        expected = len(SearchSpace.for_shape(self.input_shape))
        if self.num_architectures != expected:
            raise ArchiveFormatError(
                f"dataset {self.name!r} in {self._path} has {self.num_architectures} architectures but the search "
                f"space of input {self.input_shape} has {expected}; the archive was made with another space definition"
            )


class Archive:
    """A kanbench archive opened read-only.

    Raises:
        ArchiveNotFoundError: ``path`` does not exist.
        ArchiveFormatError: the file is not HDF5, is truncated, lacks a
            required group or attribute, or has a newer schema version.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise ArchiveNotFoundError(
                f"archive not found: {self.path}; pass the path of an existing .h5 archive, or call KANBench() "
                "without a path for the bundled one"
            )
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise ArchiveFormatError(
                f"cannot open {self.path} as an HDF5 archive ({error}); the file is truncated or not an archive"
            ) from error

        try:
            self._read_root()
        except BaseException:
            self._file.close()
            raise

    def _read_root(self) -> None:
        attributes = self._file.attrs
        format_name = attributes.get("format")
        if format_name != FORMAT_NAME:
            raise ArchiveFormatError(f"{self.path} is not a kanbench archive (format attribute {format_name!r})")

        version = int(attributes.get("schema_version", -1))
        if version > SCHEMA_VERSION:
            raise ArchiveFormatError(
                f"{self.path} uses archive schema version {version}, but this kanbench reads up to version "
                f"{SCHEMA_VERSION}; upgrade kanbench (pip install -U kanbench)"
            )
        if version < 1:
            raise ArchiveFormatError(f"{self.path} has an invalid schema version {version}")

        self.schema_version = version
        self.archive_version = str(attributes.get("archive_version", ""))
        self.created_utc = str(attributes.get("created_utc", ""))
        self.kanbench_version = str(attributes.get("kanbench_version", ""))
        self.description = str(attributes.get("description", ""))
        self.search_space = json.loads(attributes.get("search_space", "{}"))

        if "datasets" not in self._file:
            raise ArchiveFormatError(f"{self.path} has no 'datasets' group; the archive is incomplete, rebuild it")
        self._views: dict[str, DatasetView] = {}
        for name, group in self._file["datasets"].items():
            get_dataset(name)
            self._views[name] = DatasetView(self.path, group)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Names of the datasets in this archive, in stored order."""
        return tuple(self._views)

    def dataset(self, name: str) -> DatasetView:
        """Return the dataset called ``name``.

        Raises:
            UnknownDatasetError: the archive has no such dataset.
        """
        view = self._views.get(name)
        if view is None:
            raise UnknownDatasetError(
                f"dataset {name!r} is not in archive {self.path}; it contains {', '.join(self.datasets) or 'no datasets'}"
            )
        return view

    def verify(self) -> dict[str, str]:
        """Verify every dataset's SHA-256; return name -> digest.

        Raises:
            ChecksumMismatchError: a dataset's content differs from its digest.
        """
        return {name: view.verify() for name, view in self._views.items()}

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_attributes(group: h5py.Group, path: Path) -> dict[str, object]:
    attributes: dict[str, object] = {}
    for name in (*HASHED_ATTRIBUTES, "content_sha256"):
        if name not in group.attrs:
            raise ArchiveFormatError(
                f"dataset group {group.name!r} in {path} lacks the attribute {name!r}; the archive is incomplete, rebuild it"
            )
        value = group.attrs[name]
        if name in _JSON_ATTRIBUTES:
            value = json.loads(value)
        elif hasattr(value, "item"):
            value = value.item()
        attributes[name] = value
    return attributes
