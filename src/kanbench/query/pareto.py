"""Non-dominated sorting for Pareto fronts."""

from __future__ import annotations

import numpy as np


def non_dominated(costs: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``costs`` that no other row dominates (all minimised).

    Row ``a`` dominates row ``b`` when ``a <= b`` in every column and
    ``a < b`` in at least one. Identical rows do not dominate each other, so
    duplicates on the front are all kept. ``costs`` must not contain NaN.

    Returns:
        Sorted row indices, int64.
    """
    costs = np.asarray(costs, dtype=float)
    if costs.ndim != 2:
        raise ValueError(f"costs must be a 2-D array [rows, objectives], got shape {costs.shape}")
    if costs.shape[0] == 0:
        return np.empty(0, dtype=np.int64)

    # Lexicographic order: a row can only be dominated by rows before it.
    order = np.lexsort(costs.T[::-1])
    ordered = costs[order]
    if costs.shape[1] == 1:
        keep = ordered[:, 0] == ordered[0, 0]
    elif costs.shape[1] == 2:
        keep = _front_2d(ordered)
    else:
        keep = _front_nd(ordered)
    return np.sort(order[keep]).astype(np.int64)


def _front_2d(ordered: np.ndarray) -> np.ndarray:
    first, second = ordered[:, 0], ordered[:, 1]
    best_second = np.minimum.accumulate(second)
    previous_best = np.concatenate(([np.inf], best_second[:-1]))

    # The earliest row reaching each running minimum has the smallest first
    # objective among rows with that second objective value.
    reaches = second < previous_best
    first_at_best = np.maximum.accumulate(np.where(reaches, np.arange(len(first)), 0))
    first_of_previous_best = np.concatenate(([np.inf], first[first_at_best][:-1]))

    strictly_worse = second > previous_best
    tied_but_worse = (second == previous_best) & (first_of_previous_best < first)
    return ~(strictly_worse | tied_but_worse)


def _front_nd(ordered: np.ndarray) -> np.ndarray:
    keep = np.zeros(len(ordered), dtype=bool)
    front = np.empty((0, ordered.shape[1]))
    for row, point in enumerate(ordered):
        dominated = np.any(np.all(front <= point, axis=1) & np.any(front < point, axis=1))
        if not dominated:
            keep[row] = True
            front = np.vstack([front, point])
    return keep
