"""Import of the NAS-KAN authors' published result tables into archive tables.

Usage::

    >>> from kanbench.archive.importer import import_results_csv
    >>> table, report = import_results_csv("nas_cnn_kan_cifar10_results.csv")
    >>> report.rows_imported
    5987

Each row is validated before it is imported: the architecture string parses,
its enumeration index equals ``arch_id``, and ``num_params`` and
``num_flops`` equal the analytic values. Rows that fail are left out and
listed in the :class:`ImportReport`; with ``strict=True`` any failure raises.

Two of the authors' conventions are converted here. Their ``epoch_time_sec``
is the wall time of the whole 5-epoch run, so it is stored as
``train_time_sec``, and a per-epoch time is derived by division and marked
``derived``. Their ``train_acc_epoch_*`` is in percent and is stored as a
fraction.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kanbench.archive.schema import PROVENANCE_DERIVED_PREFIX, PROVENANCE_IMPORTED_PREFIX
from kanbench.archive.writer import DatasetTable
from kanbench.errors import ImportValidationError, InvalidArchitectureError, UnknownDatasetError
from kanbench.space import Architecture, SearchSpace, cost, get_dataset

_FILE_NAME = re.compile(r"nas_cnn_kan_(\w+?)_results\.csv")
_TASK_COLUMNS = {
    "test_accuracy": "test_accuracy",
    "test_precision": "test_precision",
    "test_recall": "test_recall",
    "test_f1_score": "test_f1",
    "epoch_time_sec": "train_time_sec",
}
_FRACTION_COLUMNS = ("test_accuracy", "test_precision", "test_recall", "test_f1_score")

AUTHORS_PROTOCOL = {
    "source": "NAS-KAN authors' published results",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 64,
    "epochs": 5,
    "loss": "cross-entropy",
    "transform": "ToTensor() only, no normalisation or augmentation",
    "validation_split": "none",
    "seed": "one seed, value not published; stored as seed 0",
    "kan_layer": "efficient-kan KANLinear, scale_noise=0.01, scale_base=1, scale_spline=1, grid_eps=0.02, grid_range=[0, 1]",
    "hardware": "the authors' GPU",
    "time_note": "the published epoch_time_sec is the whole 5-epoch run; stored as train_time_sec",
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One rejected row: its 1-based line in the file, arch_id and reason."""

    line: int
    arch_id: str
    kind: str
    """``unparseable``, ``mismatch``, ``duplicate`` or ``invalid_value``."""
    message: str


@dataclass
class ImportReport:
    """Outcome of importing one result table."""

    source: str
    dataset: str
    rows_read: int = 0
    rows_imported: int = 0
    space_size: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of rejected rows per problem kind."""
        totals: dict[str, int] = {}
        for problem in self.problems:
            totals[problem.kind] = totals.get(problem.kind, 0) + 1
        return totals

    def summary(self, max_examples: int = 5) -> str:
        """Format counts, coverage and the first problems as a few lines of text."""
        lines = [
            f"{self.source}: {self.rows_imported} of {self.rows_read} rows imported for {self.dataset!r}; "
            f"task metrics for {self.rows_imported} of {self.space_size} architectures"
        ]
        for kind, count in sorted(self.counts().items()):
            lines.append(f"  rejected {count} row(s) as {kind}")
        for problem in self.problems[:max_examples]:
            lines.append(f"  line {problem.line} (arch_id {problem.arch_id}): {problem.message}")
        if len(self.problems) > max_examples:
            lines.append(f"  ... and {len(self.problems) - max_examples} more")
        return "\n".join(lines)


def dataset_from_file_name(path: str | os.PathLike) -> str:
    """Dataset name from ``nas_cnn_kan_<dataset>_results.csv``.

    Raises:
        UnknownDatasetError: the name does not follow that pattern or names
            no built-in dataset; pass the dataset explicitly instead.
    """
    match = _FILE_NAME.fullmatch(Path(path).name)
    if match is None:
        raise UnknownDatasetError(
            f"cannot tell the dataset from the file name {Path(path).name!r}; name the file "
            "nas_cnn_kan_<dataset>_results.csv or pass the dataset (--dataset)"
        )
    return get_dataset(match.group(1)).name


def import_results_csv(
    path: str | os.PathLike,
    dataset: str | None = None,
    *,
    strict: bool = False,
    source: str | None = None,
) -> tuple[DatasetTable, ImportReport]:
    """Validate and convert one of the authors' result CSVs.

    Args:
        path: the CSV file.
        dataset: dataset name; taken from the file name when omitted.
        strict: raise on the first pass if any row is rejected.
        source: provenance label after ``imported:``; the file name by default.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ImportValidationError: ``strict`` is set and rows were rejected, or
            the file lacks required columns.
    """
    path = Path(path)
    name = get_dataset(dataset).name if dataset is not None else dataset_from_file_name(path)
    source = source or path.name
    space = SearchSpace.for_dataset(name)
    costs = cost.cost_columns(name)

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        num_epochs = _count_epochs(columns, path)
        rows = list(reader)

    report = ImportReport(source=source, dataset=name, rows_read=len(rows), space_size=len(space))
    accepted: dict[int, tuple[int, dict[str, str]]] = {}
    for line, row in enumerate(rows, start=2):
        arch_id, problem = _validate_row(row, line, space, costs, num_epochs)
        if problem is not None:
            report.problems.append(problem)
        elif arch_id in accepted:
            report.problems.append(
                RowProblem(line, str(arch_id), "duplicate", f"arch_id {arch_id} already imported from line {accepted[arch_id][0]}")
            )
        else:
            accepted[arch_id] = (line, row)

    if strict and report.problems:
        raise ImportValidationError(f"strict import rejected {len(report.problems)} row(s)\n{report.summary()}")

    table = _build_table(name, source, len(space), num_epochs, accepted)
    report.rows_imported = len(accepted)
    return table, report


def _count_epochs(columns: list[str], path: Path) -> int:
    required = ["arch_id", "architecture", "num_params", "num_flops", *_TASK_COLUMNS]
    missing = [column for column in required if column not in columns]
    if missing:
        raise ImportValidationError(f"{path} lacks the column(s) {', '.join(missing)}; is it a NAS-KAN result table?")
    epochs = 0
    while f"train_loss_epoch_{epochs + 1}" in columns and f"train_acc_epoch_{epochs + 1}" in columns:
        epochs += 1
    return epochs


def _validate_row(
    row: dict[str, str], line: int, space: SearchSpace, costs: dict[str, np.ndarray], num_epochs: int
) -> tuple[int, RowProblem | None]:
    raw_id = (row.get("arch_id") or "").strip()
    try:
        arch_id = int(raw_id)
    except ValueError:
        return -1, RowProblem(line, raw_id, "unparseable", f"arch_id {raw_id!r} is not an integer")

    try:
        arch = Architecture.parse(row.get("architecture") or "")
        index = space.index(arch)
    except InvalidArchitectureError as error:
        return arch_id, RowProblem(line, raw_id, "unparseable", f"architecture is invalid: {error}")
    if index != arch_id:
        return arch_id, RowProblem(
            line, raw_id, "mismatch", f"architecture {row['architecture']!r} has arch_id {index}, not {arch_id}"
        )

    for column in ("num_params", "num_flops"):
        expected = int(costs[column][arch_id])
        try:
            stated = float(row[column])
        except ValueError:
            return arch_id, RowProblem(line, raw_id, "unparseable", f"{column} {row[column]!r} is not a number")
        if stated != expected:
            return arch_id, RowProblem(
                line, raw_id, "mismatch", f"{column} is {row[column]}, but the analytic value is {expected}"
            )

    value_columns = [*_TASK_COLUMNS] + [
        f"train_{kind}_epoch_{epoch}" for epoch in range(1, num_epochs + 1) for kind in ("loss", "acc")
    ]
    for column in value_columns:
        problem = _check_value(row.get(column, ""), column, line, raw_id)
        if problem is not None:
            return arch_id, problem
    return arch_id, None


def _check_value(text: str, column: str, line: int, raw_id: str) -> RowProblem | None:
    try:
        value = float(text)
    except ValueError:
        return RowProblem(line, raw_id, "unparseable", f"{column} {text!r} is not a number")
    if math.isnan(value):
        return None
    limit = math.inf
    if column in _FRACTION_COLUMNS:
        limit = 1.0
    elif column.startswith("train_acc"):
        limit = 100.0
    if not 0.0 <= value <= limit:
        return RowProblem(line, raw_id, "invalid_value", f"{column} {value} is outside [0, {limit}]")
    return None


def _build_table(
    name: str, source: str, size: int, num_epochs: int, accepted: dict[int, tuple[int, dict[str, str]]]
) -> DatasetTable:
    ids = np.fromiter(accepted, dtype=np.int64, count=len(accepted))
    rows = [row for _, row in accepted.values()]

    metrics: dict[str, np.ndarray] = {}
    for column, metric in _TASK_COLUMNS.items():
        values = np.full((size, 1), np.nan)
        values[ids, 0] = [float(row[column]) for row in rows]
        metrics[metric] = values

    loss = np.full((size, 1, num_epochs), np.nan)
    accuracy = np.full((size, 1, num_epochs), np.nan)
    for epoch in range(num_epochs):
        loss[ids, 0, epoch] = [float(row[f"train_loss_epoch_{epoch + 1}"]) for row in rows]
        accuracy[ids, 0, epoch] = [float(row[f"train_acc_epoch_{epoch + 1}"]) / 100.0 for row in rows]
    metrics["train_loss"] = loss
    metrics["train_accuracy"] = accuracy
    metrics["epoch_time_sec"] = np.repeat(metrics["train_time_sec"][:, :, None] / max(num_epochs, 1), num_epochs, axis=2)

    imported = f"{PROVENANCE_IMPORTED_PREFIX}{source}"
    provenance = {metric: imported for metric in metrics}
    provenance["epoch_time_sec"] = f"{PROVENANCE_DERIVED_PREFIX}train_time_sec / {num_epochs} ({imported})"
    protocol = dict(AUTHORS_PROTOCOL, epochs=num_epochs, imported_rows=len(accepted))
    return DatasetTable(
        name=name, seeds=(0,), num_epochs=num_epochs, protocol=protocol, provenance=provenance, metrics=metrics
    )
