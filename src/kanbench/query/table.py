"""Seed-aggregated, in-memory views of one dataset's columns.

A :class:`MetricTable` wraps a :class:`~kanbench.archive.reader.DatasetView`
and computes each summary column (seed mean, epoch mean) once, on first use,
so that every later query, filter or ranking is plain numpy indexing.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from kanbench.archive.reader import DatasetView
from kanbench.archive.schema import COST_METRICS, CURVE_METRICS, METRICS, TASK_METRICS
from kanbench.errors import UnknownMetricError
from kanbench.space import ACTIVATIONS, SearchSpace

SCALAR_METRICS: dict[str, str] = {
    **{name: METRICS[name].description for name in COST_METRICS + TASK_METRICS},
    "epoch_time_sec": "wall time per training epoch, mean over epochs (seconds)",
}
"""Metrics with one value per architecture after seed averaging; these can be
filtered, sorted and used as Pareto objectives."""

MAXIMIZED_METRICS = frozenset({"test_accuracy", "test_precision", "test_recall", "test_f1", "valid_accuracy"})


def nan_mean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN where every value is NaN (no warning)."""
    known = ~np.isnan(values)
    count = known.sum(axis=axis)
    total = np.where(known, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class MetricTable:
    """Summary columns of one dataset, computed lazily and cached."""

    def __init__(self, view: DatasetView):
        self.view = view
        self.name = view.name
        self.space: SearchSpace = view.space
        self.provenance = MappingProxyType(dict(view.provenance))
        self._summaries: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self.view.num_architectures

    def scalar(self, metric: str) -> np.ndarray:
        """Per-architecture value of a scalar metric, averaged over seeds (and epochs).

        Raises:
            UnknownMetricError: ``metric`` is not in :data:`SCALAR_METRICS`.
        """
        cached = self._summaries.get(metric)
        if cached is not None:
            return cached
        if metric not in SCALAR_METRICS:
            raise UnknownMetricError(
                f"unknown metric {metric!r}; metrics with one value per architecture are {', '.join(SCALAR_METRICS)}"
            )

        if metric in COST_METRICS:
            values = self.view.column(metric)
        elif metric == "epoch_time_sec":
            values = nan_mean(self.curve("epoch_time_sec"), axis=1)
        else:
            values = nan_mean(self.view.column(metric), axis=1) if self.view.seeds else self._all_nan()
        return self._store(metric, values)

    def curve(self, metric: str) -> np.ndarray:
        """Per-epoch curve ``[N, E]`` averaged over seeds."""
        key = f"curve:{metric}"
        cached = self._summaries.get(key)
        if cached is not None:
            return cached
        if metric not in CURVE_METRICS:
            raise UnknownMetricError(f"unknown curve {metric!r}; curves are {', '.join(CURVE_METRICS)}")
        raw = self.view.column(metric)
        values = nan_mean(raw, axis=1) if self.view.seeds else np.full((len(self), self.view.num_epochs), np.nan)
        return self._store(key, values)

    def has_task_metrics(self) -> np.ndarray:
        """Boolean ``[N]``: the architecture has a test accuracy for at least one seed."""
        cached = self._summaries.get("has_task_metrics")
        if cached is None:
            cached = self._store("has_task_metrics", ~np.isnan(self.scalar("test_accuracy")))
        return cached

    def record_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gather the values of seed-mean records once, so that a lookup only indexes.

        Returns ``(scalars, train_loss, train_accuracy, epoch_time_sec)``.
        ``scalars`` is float64 ``[N, 9]``: num_params, num_flops, the task
        metrics in schema order and the number of seeds with a test
        accuracy. One row per architecture keeps a lookup to one contiguous
        read (counts below 2**53 are exact in float64).
        """
        cached = self._summaries.get("record_rows")
        if cached is None:
            columns = [self.scalar(name) for name in COST_METRICS + TASK_METRICS] + [self.seeds_with_results()]
            scalars = np.column_stack([np.asarray(column, dtype=np.float64) for column in columns])
            scalars.flags.writeable = False
            cached = (scalars, *(self.curve(name) for name in CURVE_METRICS))
            self._summaries["record_rows"] = cached
        return cached

    def seeds_with_results(self) -> np.ndarray:
        """Number of seeds with a test accuracy, per architecture (int64 ``[N]``)."""
        cached = self._summaries.get("seeds_with_results")
        if cached is None:
            known = ~np.isnan(self.view.column("test_accuracy"))
            cached = self._store("seeds_with_results", known.sum(axis=1).astype(np.int64))
        return cached

    def architecture_column(self, name: str) -> np.ndarray:
        return self.view.architecture_column(name)

    def activation_names(self) -> tuple[str, ...]:
        return ACTIVATIONS

    def _all_nan(self) -> np.ndarray:
        return np.full(len(self), np.nan)

    def _store(self, key: str, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        values.flags.writeable = False
        self._summaries[key] = values
        return values
