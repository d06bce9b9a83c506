"""KANBench.generate against a brute-force ranking of the published CIFAR-10 table."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kanbench.errors import InfeasibleQueryError


@pytest.fixture(scope="module")
def table(upstream_frame):
    """Columns of the published rows. The CSV's epoch_time_sec is the wall time of the whole 5-epoch run."""
    return {
        "arch_id": upstream_frame["arch_id"].to_numpy(),
        "accuracy": upstream_frame["test_accuracy"].to_numpy(),
        "params": upstream_frame["num_params"].to_numpy().astype(float),
        "flops": upstream_frame["num_flops"].to_numpy().astype(float),
        "time": upstream_frame["epoch_time_sec"].to_numpy(),
        "architecture": upstream_frame["architecture"].tolist(),
    }


def normalise(values: np.ndarray) -> np.ndarray:
    return (values - values.min()) / (values.max() - values.min())


def brute_scores(table, alpha: float) -> np.ndarray:
    cost = 0.34 * normalise(table["params"]) + 0.33 * normalise(table["flops"]) + 0.33 * normalise(table["time"])
    return alpha * table["accuracy"] - (1 - alpha) * cost


def brute_ranking(table, alpha: float, feasible: np.ndarray) -> list[int]:
    """Feasible row positions, best first: higher score, then higher accuracy, fewer params, lower arch_id."""
    scores = brute_scores(table, alpha)
    positions = np.flatnonzero(feasible).tolist()
    return sorted(
        positions,
        key=lambda i: (-scores[i], -table["accuracy"][i], table["params"][i], table["arch_id"][i]),
    )


def test_csv_rows_all_have_metrics(table):
    assert len(table["arch_id"]) == 5_987
    assert not np.isnan(table["accuracy"]).any()
    assert not np.isnan(table["time"]).any()


def test_generate_one_million_params(bench_cifar10, table):
    result = bench_cifar10.generate(max_params=1e6, alpha=0.5)

    feasible = table["params"] <= 1e6
    best = brute_ranking(table, 0.5, feasible)[0]
    scores = brute_scores(table, 0.5)
    assert result.arch_id == table["arch_id"][best]
    assert result.architecture == table["architecture"][best]
    assert result.score == pytest.approx(scores[best], rel=1e-12, abs=1e-12)
    assert result.margins == {"max_params": 1e6 - table["params"][best]}
    assert result.binding == ()
    assert result.record.arch_id == result.arch_id
    assert result.record.test_accuracy == table["accuracy"][best]
    assert result.backend == "exact"
    assert result.rank == 1
    assert result.alpha == 0.5
    assert result.dataset == "cifar10"
    assert result.budgets == {"max_params": 1e6}


def test_generate_counts_feasible(bench_cifar10, table):
    result = bench_cifar10.generate(max_params=1e5, alpha=0.5)
    assert result.num_scored == 5_987
    assert result.num_feasible == int((table["params"] <= 1e5).sum())


def test_generate_top_k_order(bench_cifar10, table):
    results = bench_cifar10.generate(max_params=2e5, max_flops=4e6, alpha=0.7, k=10)
    feasible = (table["params"] <= 2e5) & (table["flops"] <= 4e6)
    expected = brute_ranking(table, 0.7, feasible)[:10]

    assert isinstance(results, list)
    assert [result.arch_id for result in results] == table["arch_id"][expected].tolist()
    assert [result.rank for result in results] == list(range(1, 11))
    scores = [result.score for result in results]
    assert scores == sorted(scores, reverse=True)
    assert scores == pytest.approx(brute_scores(table, 0.7)[expected].tolist(), rel=1e-12, abs=1e-12)


def test_generate_k_larger_than_feasible(bench_cifar10, table):
    feasible = table["params"] <= 18_000
    count = int(feasible.sum())
    assert 0 < count < 50
    results = bench_cifar10.generate(max_params=18_000, k=50)
    assert len(results) == count


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_generate_alpha_extremes(bench_cifar10, table, alpha):
    result = bench_cifar10.generate(max_params=3e5, alpha=alpha)
    expected = brute_ranking(table, alpha, table["params"] <= 3e5)[0]
    assert result.arch_id == table["arch_id"][expected]


def test_alpha_one_is_most_accurate(bench_cifar10, table):
    result = bench_cifar10.generate(max_params=3e5, alpha=1.0)
    feasible = table["params"] <= 3e5
    assert result.record.test_accuracy == table["accuracy"][feasible].max()


def test_margins_every_budget(bench_cifar10, table):
    budgets = {"max_params": 2e5, "max_flops": 5e6, "max_train_time": 120.0, "max_epoch_time": 24.0}
    result = bench_cifar10.generate(**budgets, alpha=0.5)
    position = int(np.flatnonzero(table["arch_id"] == result.arch_id)[0])

    assert set(result.margins) == set(budgets)
    assert result.margins["max_params"] == 2e5 - table["params"][position]
    assert result.margins["max_flops"] == 5e6 - table["flops"][position]
    assert result.margins["max_train_time"] == pytest.approx(120.0 - table["time"][position], rel=1e-12)
    assert result.margins["max_epoch_time"] == pytest.approx(24.0 - table["time"][position] / 5, rel=1e-12)
    for keyword, margin in result.margins.items():
        assert margin >= 0, keyword


def test_epoch_budget_uses_run_over_five(bench_cifar10, table):
    result = bench_cifar10.generate(max_epoch_time=18.5, alpha=0.5)
    expected = brute_ranking(table, 0.5, table["time"] / 5 <= 18.5)[0]
    assert result.arch_id == table["arch_id"][expected]


def test_binding_on_constructed_case(bench_cifar10, table):
    scores = brute_scores(table, 0.5)
    unconstrained = brute_ranking(table, 0.5, np.ones(len(scores), bool))[0]
    assert bench_cifar10.generate(alpha=0.5).arch_id == table["arch_id"][unconstrained]

    # Exclude the unconstrained best by one parameter. The loose FLOP budget excludes nothing better.
    max_params = table["params"][unconstrained] - 1
    result = bench_cifar10.generate(max_params=max_params, max_flops=1e12, alpha=0.5)
    assert result.arch_id != table["arch_id"][unconstrained]
    assert result.binding == ("max_params",)


def test_binding_matches_brute_force(bench_cifar10, table):
    budgets = {"max_params": 6e4, "max_flops": 2e6, "max_train_time": 95.0}
    result = bench_cifar10.generate(**budgets, alpha=0.6)
    scores = brute_scores(table, 0.6)
    satisfied = {
        "max_params": table["params"] <= budgets["max_params"],
        "max_flops": table["flops"] <= budgets["max_flops"],
        "max_train_time": table["time"] <= budgets["max_train_time"],
    }
    expected = []
    for keyword in budgets:
        others = np.logical_and.reduce([mask for name, mask in satisfied.items() if name != keyword])
        if (scores[others] > result.score + 1e-12).any():
            expected.append(keyword)
    # The case is chosen so that some, but not all, budgets bind.
    assert 0 < len(expected) < len(budgets)
    assert result.binding == tuple(expected)


def test_infeasible_names_nearest(bench_cifar10, table):
    # Relative excess over a 1,000-parameter budget ranks rows by parameter count.
    nearest = table["arch_id"][np.argsort(table["params"], kind="stable")[:3]].tolist()
    with pytest.raises(InfeasibleQueryError) as caught:
        bench_cifar10.generate(max_params=1_000)
    message = str(caught.value)
    assert "no architecture with task metrics on 'cifar10' satisfies max_params=1000" in message
    for arch_id in nearest:
        assert f"arch_id {arch_id} (" in message, arch_id


def test_infeasible_zero_budget_names_nearest(bench_cifar10, table):
    # A zero budget is exceeded by every entry, and infinitely so in relative terms.
    # The nearest entries are still those with the fewest parameters.
    nearest = table["arch_id"][np.argsort(table["params"], kind="stable")[:3]].tolist()
    with pytest.raises(InfeasibleQueryError) as caught:
        bench_cifar10.generate(max_params=0)
    message = str(caught.value)
    for arch_id in nearest:
        assert f"arch_id {arch_id} (" in message, arch_id


def test_infeasible_is_valueerror(bench_cifar10):
    with pytest.raises(ValueError, match="Relax a budget"):
        bench_cifar10.generate(max_train_time=10.0)


@pytest.mark.parametrize("alpha", [1.5, -0.1, float("nan")])
def test_alpha_outside_unit_interval(bench_cifar10, alpha):
    with pytest.raises(ValueError, match=re.escape(f"alpha {alpha!r} is outside [0, 1]")):
        bench_cifar10.generate(max_params=1e6, alpha=alpha)


def test_generate_invalid_k_and_budget(bench_cifar10):
    with pytest.raises(ValueError, match=re.escape("k 0 is invalid")):
        bench_cifar10.generate(max_params=1e6, k=0)
    with pytest.raises(ValueError, match=re.escape("max_flops -5 is invalid")):
        bench_cifar10.generate(max_flops=-5)
