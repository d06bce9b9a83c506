"""The record returned by a query: every metric of one architecture."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np


@dataclass(slots=True)
class Record:
    """All metrics of one architecture on one dataset.

    Accuracies are fractions in [0, 1] and times are seconds. Task metrics
    are the mean over ``seeds`` by default. A query with ``seed=s`` gives one
    seed's values, and ``seed="all"`` gives arrays with one entry per seed
    (curves ``[S, E]``). Unknown values are NaN, and ``provenance`` says where
    every metric came from (``analytic``, ``imported:<source>``,
    ``trained:kanbench-<version>``, ``derived:<formula>`` or ``missing``).

    Records are plain values: changing one never changes the archive, and
    their arrays are read-only views.
    """

    dataset: str
    arch_id: int
    architecture: str
    num_params: int
    num_flops: int
    test_accuracy: float | np.ndarray
    test_precision: float | np.ndarray
    test_recall: float | np.ndarray
    test_f1: float | np.ndarray
    valid_accuracy: float | np.ndarray
    train_time_sec: float | np.ndarray
    train_loss: np.ndarray
    """Mean training loss per epoch, ``[E]`` (``[S, E]`` for all seeds)."""
    train_accuracy: np.ndarray
    epoch_time_sec: np.ndarray
    seeds: tuple[int, ...]
    """Seeds the values aggregate; empty when there are no task metrics."""
    has_task_metrics: bool
    provenance: Mapping[str, str]
    note: str = ""

    @property
    def mean_epoch_time_sec(self) -> float:
        """Wall time per epoch, mean over epochs (and seeds), in seconds."""
        times = np.asarray(self.epoch_time_sec, dtype=float)
        if times.size == 0 or bool(np.all(np.isnan(times))):
            return float("nan")
        return float(np.nanmean(times))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict; arrays become lists and NaN stays float NaN."""
        result: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            result[item.name] = value
        return result
