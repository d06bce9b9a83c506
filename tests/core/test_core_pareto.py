"""Non-dominated sorting against an O(n^2) reference, and Pareto fronts of the CIFAR-10 archive."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kanbench.errors import UnknownMetricError
from kanbench.query.pareto import non_dominated


def reference_front(costs: np.ndarray) -> list[int]:
    """Rows that no other row dominates (all columns minimised), by pairwise comparison."""
    front = []
    for i in range(len(costs)):
        dominated = any(
            np.all(costs[j] <= costs[i]) and np.any(costs[j] < costs[i]) for j in range(len(costs)) if j != i
        )
        if not dominated:
            front.append(i)
    return front


@st.composite
def cost_matrices(draw):
    objectives = draw(st.integers(1, 3))
    rows = draw(st.integers(0, 40))
    # Values 0..4 make ties and duplicate rows common.
    return draw(hnp.arrays(np.int64, (rows, objectives), elements=st.integers(0, 4)))


@settings(max_examples=300, deadline=None)
@given(cost_matrices())
def test_non_dominated_matches_reference(costs):
    front = non_dominated(costs)
    assert front.tolist() == reference_front(costs)
    assert front.dtype == np.int64


@pytest.mark.parametrize(
    ("costs", "expected"),
    [
        # Duplicates on the front are all kept.
        ([[1, 2], [1, 2], [2, 1]], [0, 1, 2]),
        # Equal first objective, larger second: dominated.
        ([[1, 2], [1, 3]], [0]),
        # Equal second objective, larger first: dominated.
        ([[1, 2], [2, 2]], [0]),
        ([[3], [1], [1], [2]], [1, 2]),
        ([[1, 2, 3], [3, 2, 1], [2, 2, 2], [2, 2, 3]], [0, 1, 2]),
    ],
)
def test_non_dominated_hand_cases(costs, expected):
    assert non_dominated(np.asarray(costs)).tolist() == expected


def test_non_dominated_empty():
    assert non_dominated(np.empty((0, 2))).tolist() == []


def test_non_dominated_rejects_one_dimension():
    with pytest.raises(ValueError, match="costs must be a 2-D array"):
        non_dominated(np.arange(4))


def test_non_dominated_random_floats():
    rng = np.random.default_rng(11)
    costs = rng.normal(size=(300, 3))
    assert non_dominated(costs).tolist() == reference_front(costs)


def test_bench_pareto_equals_csv_front(bench_cifar10, upstream_frame):
    accuracy = upstream_frame["test_accuracy"].to_numpy()
    params = upstream_frame["num_params"].to_numpy().astype(float)
    ids = upstream_frame["arch_id"].to_numpy()

    expected = []
    for i in range(len(ids)):
        no_worse = (accuracy >= accuracy[i]) & (params <= params[i])
        better = (accuracy > accuracy[i]) | (params < params[i])
        if not (no_worse & better).any():
            expected.append(int(ids[i]))

    front = bench_cifar10.pareto()
    assert len(expected) > 1
    assert sorted(front.arch_ids.tolist()) == expected


def test_bench_pareto_mapping_directions(bench_cifar10, upstream_frame):
    # Both objectives maximised, so the reference negates both columns.
    front = bench_cifar10.pareto(objectives={"test_accuracy": "max", "num_params": "max"})
    accuracy = upstream_frame["test_accuracy"].to_numpy()
    params = upstream_frame["num_params"].to_numpy().astype(float)
    expected = non_dominated(np.column_stack([-accuracy, -params]))
    assert sorted(front.arch_ids.tolist()) == upstream_frame["arch_id"].to_numpy()[expected].tolist()


def test_bench_pareto_skips_unknown_values(bench_cifar10):
    front = bench_cifar10.pareto(objectives=("test_accuracy", "num_flops"))
    assert len(front) > 0
    assert max(front.arch_ids) < 5_987


def test_pareto_of_cost_only_covers_space(bench_cifar10):
    # Costs are known for every architecture, so the front may include unmeasured ones.
    front = bench_cifar10.pareto(objectives=("num_params", "num_flops"))
    params = bench_cifar10.all().values("num_params").astype(float)
    flops = bench_cifar10.all().values("num_flops").astype(float)
    assert front.arch_ids.tolist() == non_dominated(np.column_stack([params, flops])).tolist()


def test_pareto_invalid_objectives(bench_cifar10):
    with pytest.raises(UnknownMetricError, match="unknown objective 'speed'"):
        bench_cifar10.pareto(objectives=("test_accuracy", "speed"))
    with pytest.raises(ValueError, match="direction 'up' of objective 'test_accuracy' is invalid"):
        bench_cifar10.pareto(objectives={"test_accuracy": "up"})
    with pytest.raises(ValueError, match="give at least one objective"):
        bench_cifar10.pareto(objectives=())
