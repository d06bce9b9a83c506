"""Writing archives: one :class:`DatasetTable` per dataset, written atomically.

Usage::

    >>> from kanbench.archive.writer import DatasetTable, write_archive
    >>> table = DatasetTable.analytic("digits")      # cost metrics only
    >>> write_archive("digits.h5", [table], archive_version="2026.12")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from kanbench._version import __version__
from kanbench.archive.checksum import content_sha256
from kanbench.atomic import atomic_output
from kanbench.archive.columns import architecture_columns
from kanbench.archive.schema import (
    COST_METRICS,
    CURVE_METRICS,
    FORMAT_NAME,
    METRICS,
    PROVENANCE_ANALYTIC,
    PROVENANCE_MISSING,
    SCHEMA_VERSION,
    TASK_METRICS,
)
from kanbench.errors import ArchiveError
from kanbench.space import SearchSpace, cost, get_dataset

_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


@dataclass
class DatasetTable:
    """Everything stored for one dataset, in memory, before writing.

    ``metrics`` maps metric names to arrays of the schema's shape: ``[N, S]``
    for task metrics and ``[N, S, E]`` for curves, with ``S = len(seeds)``
    and ``E = num_epochs``. A task or curve metric left out of ``metrics`` is
    stored as all NaN with provenance ``missing``. Cost metrics are always
    computed analytically and need not be given.
    """

    name: str
    seeds: tuple[int, ...] = ()
    num_epochs: int = 0
    protocol: dict = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def analytic(cls, name: str) -> DatasetTable:
        """Make a table with the analytic cost metrics of every architecture and no task metrics."""
        return cls(name=name, protocol={"note": "no task metrics; cost metrics are analytic"})

    def validate(self) -> None:
        """Check names and shapes against the schema.

        Raises:
            ArchiveError: a metric name is unknown, an array has the wrong
                shape, or a present metric has no provenance.
        """
        size = len(SearchSpace.for_dataset(self.name))
        for metric, values in self.metrics.items():
            if metric not in METRICS:
                raise ArchiveError(f"unknown metric {metric!r} in table {self.name!r}; known: {', '.join(METRICS)}")
            expected = self._expected_shape(metric, size)
            if tuple(np.shape(values)) != expected:
                raise ArchiveError(
                    f"metric {metric!r} of {self.name!r} has shape {tuple(np.shape(values))}, expected {expected} "
                    "(architectures, seeds[, epochs])"
                )
            if metric not in self.provenance:
                raise ArchiveError(f"metric {metric!r} of {self.name!r} has no provenance; say where it came from")

    def _expected_shape(self, metric: str, size: int) -> tuple[int, ...]:
        kind = METRICS[metric].kind
        if kind == "cost":
            return (size,)
        if kind == "task":
            return (size, len(self.seeds))
        return (size, len(self.seeds), self.num_epochs)

    def full_provenance(self) -> dict[str, str]:
        """Provenance of every schema metric, ``missing`` where no values exist."""
        provenance = {metric: PROVENANCE_ANALYTIC for metric in COST_METRICS}
        for metric in TASK_METRICS + CURVE_METRICS:
            has_values = metric in self.metrics and bool(np.any(~np.isnan(self.metrics[metric])))
            provenance[metric] = self.provenance[metric] if has_values else PROVENANCE_MISSING
        return provenance


def write_archive(
    path: str | os.PathLike,
    tables: list[DatasetTable],
    *,
    archive_version: str,
    description: str = "",
) -> Path:
    """Write ``tables`` to a new archive at ``path``, atomically.

    The file is written to a temporary name in the same directory and renamed
    over ``path`` only when complete, so a crash never leaves a half-written
    archive and never destroys an existing one.

    Returns:
        The path written.

    Raises:
        ArchiveError: a table is invalid or two tables share a dataset name.
        UnknownDatasetError: a table names a dataset that is not built in.
    """
    path = Path(path)
    names = [table.name for table in tables]
    if len(set(names)) != len(names):
        raise ArchiveError(f"dataset names must be unique in an archive, got {names}")
    for table in tables:
        get_dataset(table.name)
        table.validate()

    with atomic_output(path) as temporary, h5py.File(temporary, "w", track_order=True) as file:
        _write_root_attributes(file, archive_version, description)
        datasets_group = file.create_group("datasets", track_order=True)
        for table in tables:
            _write_dataset(datasets_group, table)
    return path


def _write_root_attributes(file: h5py.File, archive_version: str, description: str) -> None:
    file.attrs["format"] = FORMAT_NAME
    file.attrs["schema_version"] = SCHEMA_VERSION
    file.attrs["archive_version"] = archive_version
    file.attrs["created_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    file.attrs["kanbench_version"] = __version__
    file.attrs["description"] = description
    file.attrs["metrics"] = json.dumps(
        {name: {"kind": m.kind, "dtype": m.dtype, "unit": m.unit, "description": m.description} for name, m in METRICS.items()}
    )
    definition = SearchSpace.for_dataset("cifar10").to_dict()
    definition.pop("input_shape")
    definition.pop("size")
    file.attrs["search_space"] = json.dumps(definition)


def _write_dataset(parent: h5py.Group, table: DatasetTable) -> None:
    spec = get_dataset(table.name)
    space = SearchSpace.for_dataset(table.name)
    size = len(space)
    arrays = _dataset_arrays(table, size)

    attributes = {
        "input_shape": list(spec.input_shape),
        "num_classes": spec.num_classes,
        "num_architectures": size,
        "seeds": [int(seed) for seed in table.seeds],
        "num_epochs": int(table.num_epochs),
        "protocol": table.protocol,
        "provenance": table.full_provenance(),
    }

    group = parent.create_group(table.name, track_order=True)
    group.attrs["description"] = spec.description
    group.attrs["search_space_size"] = size
    for name, value in attributes.items():
        group.attrs[name] = json.dumps(value) if isinstance(value, (dict, list)) else value
    group.attrs["content_sha256"] = content_sha256(table.name, attributes, arrays.items())

    for array_path, values in arrays.items():
        _write_array(group, array_path, values)


def _dataset_arrays(table: DatasetTable, size: int) -> dict[str, np.ndarray]:
    arrays = {f"architectures/{name}": values for name, values in architecture_columns(SearchSpace.for_dataset(table.name)).items()}
    for name, values in cost.cost_columns(table.name).items():
        if name in COST_METRICS:
            arrays[f"metrics/{name}"] = values

    for metric in TASK_METRICS + CURVE_METRICS:
        shape = table._expected_shape(metric, size)
        values = table.metrics.get(metric)
        arrays[f"metrics/{metric}"] = (
            np.full(shape, np.nan, dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64)
        )
    return arrays


def _write_array(group: h5py.Group, array_path: str, values: np.ndarray) -> None:
    if values.size == 0:
        group.create_dataset(array_path, shape=values.shape, dtype=values.dtype)
        return
    if values.dtype.kind == "f" and bool(np.all(np.isnan(values))):
        # Unwritten chunks read back as the fill value and take no disk space.
        group.create_dataset(array_path, shape=values.shape, dtype=values.dtype, fillvalue=np.nan, chunks=True, **_COMPRESSION)
        return
    fill = {"fillvalue": np.nan} if values.dtype.kind == "f" else {}
    group.create_dataset(array_path, data=values, chunks=True, **fill, **_COMPRESSION)
