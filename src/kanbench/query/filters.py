"""Vectorised constraints over a dataset's summary columns."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kanbench.query.table import MetricTable
from kanbench.space import ACTIVATIONS, GRID_SIZES, KERNEL_SIZES, MAX_DEPTH, MIN_DEPTH, SPLINE_ORDERS

UPPER_BOUNDS = {
    "max_params": "num_params",
    "max_flops": "num_flops",
    "max_train_time": "train_time_sec",
    "max_epoch_time": "epoch_time_sec",
}
"""Budget keyword -> scalar metric it bounds from above."""


def constraint_mask(
    table: MetricTable,
    *,
    max_params: float | None = None,
    max_flops: float | None = None,
    max_train_time: float | None = None,
    max_epoch_time: float | None = None,
    min_accuracy: float | None = None,
    depth: int | Iterable[int] | None = None,
    activation: str | Iterable[str] | None = None,
    spline_order: int | Iterable[int] | None = None,
    grid_size: int | Iterable[int] | None = None,
    kernel_size: int | Iterable[int] | None = None,
    with_task_metrics: bool | None = None,
) -> np.ndarray:
    """Boolean ``[N]`` mask of the architectures that satisfy every given constraint.

    Budgets (``max_*``, ``min_accuracy``) compare seed-averaged values; an
    architecture whose value is unknown (NaN) never satisfies a budget on
    it. ``kernel_size`` keeps architectures whose every conv uses one of the
    given kernel sizes. Choice constraints take one value or several.

    Raises:
        ValueError: a budget is negative or NaN, or a choice is not in the
            search space; the message names the value and the allowed ones.
    """
    mask = np.ones(len(table), dtype=bool)
    budgets = {"max_params": max_params, "max_flops": max_flops, "max_train_time": max_train_time, "max_epoch_time": max_epoch_time}
    for keyword, limit in budgets.items():
        if limit is not None:
            mask &= table.scalar(UPPER_BOUNDS[keyword]) <= check_budget(keyword, limit)

    if min_accuracy is not None:
        if not 0.0 <= float(min_accuracy) <= 1.0:
            raise ValueError(f"min_accuracy {min_accuracy!r} is outside [0, 1]; accuracies are fractions, e.g. 0.6")
        mask &= table.scalar("test_accuracy") >= float(min_accuracy)

    if depth is not None:
        mask &= np.isin(table.architecture_column("depth"), _choices("depth", depth, tuple(range(MIN_DEPTH, MAX_DEPTH + 1))))
    if spline_order is not None:
        mask &= np.isin(table.architecture_column("spline_order"), _choices("spline_order", spline_order, SPLINE_ORDERS))
    if grid_size is not None:
        mask &= np.isin(table.architecture_column("grid_size"), _choices("grid_size", grid_size, GRID_SIZES))
    if activation is not None:
        wanted = [ACTIVATIONS.index(name) for name in _activation_choices(activation)]
        mask &= np.isin(table.architecture_column("activation"), wanted)
    if kernel_size is not None:
        allowed = np.asarray(_choices("kernel_size", kernel_size, KERNEL_SIZES) + [0])
        mask &= np.isin(table.architecture_column("kernel_size"), allowed).all(axis=1)
    if with_task_metrics is not None:
        mask &= table.has_task_metrics() == bool(with_task_metrics)
    return mask


def check_budget(keyword: str, limit: float) -> float:
    """Return ``limit`` as float after checking that it is a non-negative number."""
    try:
        value = float(limit)
    except (TypeError, ValueError):
        raise ValueError(f"{keyword} must be a number, got {limit!r}") from None
    if not value >= 0:
        raise ValueError(f"{keyword} {limit!r} is invalid; a budget must be a non-negative number")
    return value


def _choices(name: str, value: int | Iterable[int], allowed: tuple[int, ...]) -> list[int]:
    values = [value] if isinstance(value, (int, np.integer)) else list(value)
    for item in values:
        if isinstance(item, bool) or item not in allowed:
            raise ValueError(f"invalid {name} {item!r}; the search space allows {', '.join(map(str, allowed))}")
    return [int(item) for item in values]


def _activation_choices(value: str | Iterable[str]) -> list[str]:
    values = [value] if isinstance(value, str) else list(value)
    by_lower = {name.lower(): name for name in ACTIVATIONS}
    result = []
    for item in values:
        canonical = by_lower.get(str(item).lower())
        if canonical is None:
            raise ValueError(f"invalid activation {item!r}; the search space allows {', '.join(ACTIVATIONS)}")
        result.append(canonical)
    return result
