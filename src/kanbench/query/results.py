"""Result sets: the architectures a filter or Pareto query selected."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from kanbench.query.pareto import non_dominated
from kanbench.query.table import MAXIMIZED_METRICS, SCALAR_METRICS
from kanbench.errors import UnknownMetricError

if TYPE_CHECKING:
    import pandas

    from kanbench.query.bench import KANBench
    from kanbench.query.records import Record


class ResultSet(Sequence):
    """An ordered selection of architectures of one dataset.

    Indexing gives :class:`~kanbench.query.records.Record` objects; slicing,
    :meth:`sort` and :meth:`head` give new result sets. Nothing is copied
    but the ``arch_ids`` array.
    """

    def __init__(self, bench: KANBench, dataset: str, arch_ids: np.ndarray):
        self._bench = bench
        self.dataset = dataset
        self.arch_ids = np.asarray(arch_ids, dtype=np.int64)
        self.arch_ids.flags.writeable = False

    def __len__(self) -> int:
        return len(self.arch_ids)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return ResultSet(self._bench, self.dataset, self.arch_ids[item])
        return self._bench.query(int(self.arch_ids[item]), dataset=self.dataset)

    def __iter__(self) -> Iterator[Record]:
        for arch_id in self.arch_ids:
            yield self._bench.query(int(arch_id), dataset=self.dataset)

    def __repr__(self) -> str:
        return f"ResultSet(dataset={self.dataset!r}, size={len(self)})"

    def values(self, metric: str) -> np.ndarray:
        """Seed-averaged values of a scalar metric, in result order."""
        return self._bench._table(self.dataset).scalar(metric)[self.arch_ids]

    def architectures(self) -> list[str]:
        """Canonical strings, in result order."""
        space = self._bench.space(self.dataset)
        return [str(space[int(arch_id)]) for arch_id in self.arch_ids]

    def sort(self, by: str = "test_accuracy", *, descending: bool | None = None) -> ResultSet:
        """Sort by a scalar metric; NaN values go last, ties keep arch_id order.

        ``descending`` defaults to True for accuracy-like metrics and False
        for costs and times.
        """
        if by not in SCALAR_METRICS:
            raise UnknownMetricError(f"cannot sort by {by!r}; sortable metrics are {', '.join(SCALAR_METRICS)}")
        if descending is None:
            descending = by in MAXIMIZED_METRICS
        values = self.values(by).astype(float)
        missing = np.isnan(values)
        keys = np.where(missing, 0.0, -values if descending else values)
        order = np.lexsort((self.arch_ids, keys, missing))
        return ResultSet(self._bench, self.dataset, self.arch_ids[order])

    def head(self, n: int = 10) -> ResultSet:
        return self[:n]

    def pareto(self, objectives: Sequence[str] | Mapping[str, str] = ("test_accuracy", "num_params")) -> ResultSet:
        """Select the non-dominated members of this set; see :meth:`KANBench.pareto`."""
        directions = objective_directions(objectives)
        matrix = np.column_stack(
            [self.values(name) * (-1.0 if direction == "max" else 1.0) for name, direction in directions.items()]
        ).astype(float)
        known = ~np.isnan(matrix).any(axis=1)
        front = non_dominated(matrix[known])
        return ResultSet(self._bench, self.dataset, self.arch_ids[known][front])

    def to_pandas(self, metrics: Sequence[str] | None = None) -> pandas.DataFrame:
        """Build a DataFrame with one row per architecture: arch_id, architecture, choices and seed-averaged metrics."""
        import pandas

        table = self._bench._table(self.dataset)
        ids = self.arch_ids
        frame = pandas.DataFrame(
            {
                "arch_id": ids,
                "architecture": self.architectures(),
                "depth": table.architecture_column("depth")[ids].astype(np.int64),
                "spline_order": table.architecture_column("spline_order")[ids].astype(np.int64),
                "grid_size": table.architecture_column("grid_size")[ids].astype(np.int64),
                "activation": np.asarray(table.activation_names(), dtype=object)[table.architecture_column("activation")[ids]],
            }
        )
        for metric in metrics or SCALAR_METRICS:
            frame[metric] = self.values(metric)
        return frame


def objective_directions(objectives: Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """Normalise objectives to ``{metric: "max" | "min"}``.

    A sequence of names uses each metric's natural direction (accuracies
    maximised, costs and times minimised).

    Raises:
        ValueError: fewer than one objective or an invalid direction.
        UnknownMetricError: a name is not a scalar metric.
    """
    if isinstance(objectives, str):
        objectives = [objectives]
    if isinstance(objectives, Mapping):
        directions = {name: str(direction).lower() for name, direction in objectives.items()}
    else:
        directions = {name: "max" if name in MAXIMIZED_METRICS else "min" for name in objectives}
    if not directions:
        raise ValueError("give at least one objective, e.g. ('test_accuracy', 'num_params')")
    for name, direction in directions.items():
        if name not in SCALAR_METRICS:
            raise UnknownMetricError(f"unknown objective {name!r}; scalar metrics are {', '.join(SCALAR_METRICS)}")
        if direction not in ("max", "min"):
            raise ValueError(f"direction {direction!r} of objective {name!r} is invalid; use 'max' or 'min'")
    return directions
