"""Turn run directories (or their exports) into archive tables.

Usage::

    >>> from kanbench.sweep.build import build_archive
    >>> build_archive(["runs/digits"], "digits.h5", archive_version="2026.12.1")

Results of one dataset must share one protocol. The same (arch_id, seed)
pair in two sources is kept once if both records agree on every metric
(times and host aside) and is an error otherwise.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kanbench.archive.importer import import_results_csv
from kanbench.archive.schema import PROVENANCE_TRAINED_PREFIX
from kanbench.archive.writer import DatasetTable, write_archive
from kanbench.errors import ArchiveError
from kanbench.space import DATASETS, SearchSpace, cost
from kanbench.sweep.run_dir import RunDirectory, read_export

logger = logging.getLogger(__name__)

_COMPARED_FIELDS = (
    "test_accuracy", "test_precision", "test_recall", "test_f1", "valid_accuracy", "train_loss", "train_accuracy",
)  # fmt: skip
_TASK_FIELDS = ("test_accuracy", "test_precision", "test_recall", "test_f1", "valid_accuracy", "train_time_sec")
_CURVE_FIELDS = ("train_loss", "train_accuracy", "epoch_time_sec")


@dataclass
class DatasetResults:
    """Successful results of one dataset gathered from several sources."""

    dataset: str
    protocol_name: str
    protocol: dict
    records: dict[tuple[int, int], dict] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def load_results(sources: list[str | os.PathLike]) -> dict[str, DatasetResults]:
    """Read run directories and ``.jsonl.gz`` exports, grouped by dataset.

    Raises:
        ArchiveError: two sources of one dataset use different protocols,
            or a pair has conflicting results.
    """
    grouped: dict[str, DatasetResults] = {}
    for source in sources:
        manifest, records = _read_source(Path(source))
        dataset = manifest["dataset"]
        group = grouped.setdefault(dataset, DatasetResults(dataset, manifest["protocol_name"], manifest["protocol"]))
        if (group.protocol_name, group.protocol) != (manifest["protocol_name"], manifest["protocol"]):
            raise ArchiveError(
                f"{source} was trained with protocol {manifest['protocol_name']!r} {manifest['protocol']}, but earlier "
                f"sources of {dataset!r} with {group.protocol_name!r} {group.protocol}; build them into separate archives"
            )
        group.sources.append(str(source))
        for record in records:
            if record.get("status") != "ok":
                continue
            key = (int(record["arch_id"]), int(record["seed"]))
            existing = group.records.get(key)
            if existing is not None and not _same_metrics(existing, record):
                raise ArchiveError(
                    f"arch_id {key[0]} seed {key[1]} of {dataset!r} has conflicting results in {source} and an earlier "
                    "source; remove one of them"
                )
            group.records[key] = existing or record
    return grouped


def table_from_results(results: DatasetResults) -> DatasetTable:
    """Arrays of the archive schema from gathered results; untrained pairs stay NaN.

    Raises:
        ArchiveError: a record's parameter count or architecture disagrees
            with the search space, or its curves have the wrong length.
    """
    space = SearchSpace.for_dataset(results.dataset)
    expected_params = cost.cost_columns(results.dataset)["num_params"]
    seeds = tuple(sorted({seed for _, seed in results.records}))
    num_epochs = int(results.protocol["epochs"])
    size = len(space)

    metrics = {name: np.full((size, len(seeds)), np.nan) for name in _TASK_FIELDS}
    metrics.update({name: np.full((size, len(seeds), num_epochs), np.nan) for name in _CURVE_FIELDS})
    versions = set()
    for (arch_id, seed), record in results.records.items():
        _check_record(record, space, expected_params, num_epochs)
        column = seeds.index(seed)
        for name in _TASK_FIELDS:
            metrics[name][arch_id, column] = _float(record[name])
        for name in _CURVE_FIELDS:
            metrics[name][arch_id, column, :] = [_float(value) for value in record[name]]
        versions.add(record.get("versions", {}).get("kanbench", "unknown"))

    label = PROVENANCE_TRAINED_PREFIX + "+".join(f"kanbench-{version}" for version in sorted(versions))
    protocol = {
        "name": results.protocol_name,
        **results.protocol,
        "trainer_protocol": _shared_trainer_protocol(results),
        "trained_runs": len(results.records),
    }
    return DatasetTable(
        name=results.dataset,
        seeds=seeds,
        num_epochs=num_epochs,
        protocol=protocol,
        provenance={name: label for name in metrics},
        metrics=metrics,
    )


def build_archive(
    sources: list[str | os.PathLike],
    out: str | os.PathLike,
    *,
    archive_version: str,
    csvs: list[str | os.PathLike] = (),
    include_analytic: bool = False,
    description: str = "",
) -> Path:
    """Write an archive from run directories, exports and imported CSVs.

    ``include_analytic`` adds every other built-in dataset with its cost
    metrics only, as in the bundled archive.

    Raises:
        ArchiveError: a dataset comes from both runs and a CSV, or the
            sources conflict.
    """
    tables = {name: table_from_results(results) for name, results in load_results(list(sources)).items()}
    for csv_path in csvs:
        table, report = import_results_csv(csv_path)
        if table.name in tables:
            raise ArchiveError(f"dataset {table.name!r} comes from both training runs and {csv_path}; keep one source")
        logger.info("%s", report.summary())
        tables[table.name] = table
    if include_analytic:
        for name in DATASETS:
            tables.setdefault(name, DatasetTable.analytic(name))

    ordered = [tables[name] for name in DATASETS if name in tables]
    return write_archive(out, ordered, archive_version=archive_version, description=description)


def _shared_trainer_protocol(results: DatasetResults) -> dict:
    """Return the trainer's protocol record without the choices of one architecture."""
    first = next(iter(results.records.values()), {})
    protocol = dict(first.get("protocol", {}))
    kan_kwargs = {
        key: value
        for key, value in protocol.get("kan_kwargs", {}).items()
        if key not in ("grid_size", "spline_order", "base_activation")
    }
    if kan_kwargs:
        protocol["kan_kwargs"] = kan_kwargs
    return protocol


def _read_source(path: Path) -> tuple[dict, list[dict]]:
    if path.is_dir():
        run_dir = RunDirectory(path)
        return run_dir.manifest(), list(run_dir.results())
    if path.name.endswith(".jsonl.gz"):
        return read_export(path)
    raise FileNotFoundError(f"{path} is neither a run directory nor a .jsonl.gz export")


def _check_record(record: dict, space: SearchSpace, expected_params: np.ndarray, num_epochs: int) -> None:
    arch_id = int(record["arch_id"])
    if space.format_id(arch_id) != record["architecture"]:
        raise ArchiveError(f"record of arch_id {arch_id} names {record['architecture']!r}, not {space.format_id(arch_id)!r}")
    if int(record["num_params"]) != int(expected_params[arch_id]):
        raise ArchiveError(
            f"record of arch_id {arch_id} has {record['num_params']} parameters, the analytic count is {expected_params[arch_id]}"
        )
    for name in _CURVE_FIELDS:
        if len(record[name]) != num_epochs:
            raise ArchiveError(f"record of arch_id {arch_id} has {len(record[name])} {name} values, expected {num_epochs}")


def _same_metrics(first: dict, second: dict) -> bool:
    return all(_normalise(first[name]) == _normalise(second[name]) for name in _COMPARED_FIELDS)


def _normalise(value):
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _float(value) -> float:
    return math.nan if value is None else float(value)
