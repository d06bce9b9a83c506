"""Evaluation metrics, checked against hand-computed values on the hand-made digits archive.

At alpha = 1 the score is the test accuracy, so with no budgets the solver
ranks arch_id 1200 (0.90) first and 7019 (0.88) second. Under
``max_params=6000`` the feasible entries are 0, 1, 120 and 600 and the best
is 1 (0.82). ``max_params=2000`` is below the cheapest entry (2,624).
"""

from __future__ import annotations

import json

import pytest

from kanbench.lm.corpus import CorpusExample, build_corpus
from kanbench.lm.evaluate import CorpusMismatchError, evaluate
from kanbench.lm.prompt import REFUSAL, format_prompt
from kanbench.space import SearchSpace

SPACE = SearchSpace.for_dataset("digits")
BEST = SPACE.format_id(1200)
SECOND = SPACE.format_id(7019)
SMALL_BEST = SPACE.format_id(1)
TOO_LARGE = SPACE.format_id(60)
NOT_IN_TABLE = SPACE.format_id(2)


def make_example(example_id: str, budgets: dict[str, float], answer: str, arch_id: int | None) -> CorpusExample:
    return CorpusExample(
        id=example_id,
        split="test",
        kind="random" if arch_id is not None else "infeasible",
        dataset="digits",
        alpha=1.0,
        budgets=budgets,
        prompt=format_prompt("digits", 1.0, budgets),
        answer=answer,
        arch_id=arch_id,
        feasible=arch_id is not None,
        num_feasible=0,
    )


OPEN = make_example("open", {}, BEST, 1200)
SMALL = make_example("small", {"max_params": 6000}, SMALL_BEST, 1)
NONE_FITS = make_example("none-fits", {"max_params": 2000}, REFUSAL, None)


def test_solver_answers_score_perfectly(digits_bench):
    report = evaluate([OPEN, SMALL, NONE_FITS], [BEST, SMALL_BEST, REFUSAL], None, digits_bench, "digits")
    assert report.num_queries == 3
    assert report.num_feasible_queries == 2
    assert report.num_infeasible_queries == 1
    assert report.validity == 1.0
    assert report.in_table == 1.0
    assert report.feasibility == 1.0
    assert report.exact_match == 1.0
    assert report.top_k_match == 1.0
    assert report.accuracy_regret_mean_pp == 0.0
    assert report.accuracy_regret_worst_pp == 0.0
    assert report.score_regret_mean == 0.0
    assert report.refusal_accuracy == 1.0
    assert report.false_refusal_rate == 0.0


def test_second_best_known_regret(digits_bench):
    report = evaluate([OPEN], [SECOND], None, digits_bench, "digits")
    assert report.exact_match == 0.0
    assert report.top_k_match == 1.0
    assert report.feasibility == 1.0
    assert report.accuracy_regret_mean_pp == pytest.approx(2.0)
    assert report.accuracy_regret_worst_pp == pytest.approx(2.0)
    assert report.score_regret_mean == pytest.approx(0.02)


def test_mean_and_worst_regret(digits_bench):
    report = evaluate([OPEN, OPEN], [SECOND, BEST], None, digits_bench, "digits")
    assert report.num_regret_answers == 2
    assert report.accuracy_regret_mean_pp == pytest.approx(1.0)
    assert report.accuracy_regret_worst_pp == pytest.approx(2.0)
    assert report.score_regret_worst == pytest.approx(0.02)


def test_top_k_limit_applies(digits_bench):
    # Under max_params=6000 the ranking is 1 (0.82), 0 (0.80), 600 (0.75), 120 (0.70).
    answer = SPACE.format_id(120)
    assert evaluate([SMALL], [answer], None, digits_bench, "digits").top_k_match == 1.0
    assert evaluate([SMALL], [answer], None, digits_bench, "digits", top_k=3).top_k_match == 0.0


def test_over_budget_answer_infeasible(digits_bench):
    report = evaluate([SMALL], [TOO_LARGE], None, digits_bench, "digits")
    assert report.validity == 1.0
    assert report.in_table == 1.0
    assert report.feasibility == 0.0
    assert report.exact_match == 0.0
    assert report.num_regret_answers == 0
    assert report.accuracy_regret_mean_pp is None


def test_answer_without_metrics(digits_bench):
    report = evaluate([SMALL], [NOT_IN_TABLE], None, digits_bench, "digits")
    assert report.validity == 1.0
    assert report.in_table == 0.0
    assert report.feasibility == 1.0
    assert report.num_regret_answers == 0


def test_unknown_time_never_feasible(digits_bench):
    example = make_example("timed", {"max_train_time": 1000.0}, BEST, 1200)
    report = evaluate([example], [NOT_IN_TABLE], None, digits_bench, "digits")
    assert report.validity == 1.0
    assert report.feasibility == 0.0


@pytest.mark.parametrize(
    "answer",
    [
        "hello",
        "",
        "31.48S",
        BEST.replace("ReLU", "relu"),
        BEST.replace(" -> ", "->"),
        "Conv2d(k=5,p=0) -> Conv2d(k=5,p=0) -> KAN(order=2,grid=5,act=ReLU)",
        "Conv2d(k=3,p=1) -> Conv2d(k=1,p=1) -> KAN(order=2,grid=5,act=ReLU)",
    ],
)
def test_invalid_answer_zero_validity(digits_bench, answer):
    report = evaluate([OPEN], [answer], None, digits_bench, "digits")
    assert report.validity == 0.0
    assert report.in_table == 0.0
    assert report.feasibility == 0.0
    assert report.exact_match == 0.0
    assert report.top_k_match == 0.0


def test_surrounding_whitespace_ignored(digits_bench):
    report = evaluate([OPEN, NONE_FITS], [f"  {BEST}\n", f"{REFUSAL}\n"], None, digits_bench, "digits")
    assert report.exact_match == 1.0
    assert report.refusal_accuracy == 1.0


def test_refusal_metrics(digits_bench):
    examples = [OPEN, SMALL, NONE_FITS, NONE_FITS]
    answers = [REFUSAL, SMALL_BEST, REFUSAL, BEST]
    report = evaluate(examples, answers, None, digits_bench, "digits")
    assert report.num_false_refusals == 1
    assert report.false_refusal_rate == 0.5
    assert report.num_correct_refusals == 1
    assert report.num_missed_refusals == 1
    assert report.refusal_accuracy == 0.5
    assert report.validity == 0.5
    assert report.exact_match == 0.5


def test_latency_percentiles(digits_bench):
    examples = [OPEN] * 5
    report = evaluate(examples, [BEST] * 5, [0.1, 0.2, 0.3, 0.4, 1.0], digits_bench, "digits")
    assert report.latency_p50_sec == pytest.approx(0.3)
    assert report.latency_p95_sec == pytest.approx(0.88)


def test_no_latencies_gives_none(digits_bench):
    report = evaluate([OPEN], [BEST], None, digits_bench, "digits")
    assert report.latency_p50_sec is None
    assert report.latency_p95_sec is None


def test_rates_none_without_queries(digits_bench):
    report = evaluate([NONE_FITS], [REFUSAL], None, digits_bench, "digits")
    assert report.validity is None
    assert report.exact_match is None
    assert report.false_refusal_rate is None
    assert report.refusal_accuracy == 1.0


def test_report_to_dict_is_json(digits_bench):
    report = evaluate([OPEN, NONE_FITS], [SECOND, REFUSAL], [0.5, 0.25], digits_bench, "digits")
    data = json.loads(json.dumps(report.to_dict(include_outcomes=True)))
    assert data["exact_match"] == 0.0
    assert data["top_k"] == 5
    assert "outcomes" not in report.to_dict()
    assert [outcome["id"] for outcome in data["outcomes"]] == ["open", "none-fits"]
    assert data["outcomes"][0]["accuracy_regret_pp"] == pytest.approx(2.0)
    assert data["outcomes"][1]["refused"] is True


def test_mislabelled_example_rejected(digits_bench):
    wrong = make_example("wrong", {}, SECOND, 7019)
    with pytest.raises(CorpusMismatchError, match="'wrong'"):
        evaluate([wrong], [SECOND], None, digits_bench, "digits")


def test_length_mismatch_rejected(digits_bench):
    with pytest.raises(ValueError, match="2 answers for 1 examples"):
        evaluate([OPEN], [BEST, BEST], None, digits_bench, "digits")


def test_negative_latency_rejected(digits_bench):
    with pytest.raises(ValueError, match="latency -1.0"):
        evaluate([OPEN], [BEST], [-1.0], digits_bench, "digits")


def test_other_dataset_rejected(digits_bench):
    with pytest.raises(ValueError, match="not 'cifar10'"):
        evaluate([OPEN], [BEST], None, digits_bench, "cifar10")


def test_corpus_test_split_perfect(digits_bench):
    test = build_corpus(digits_bench, "digits", num_queries=100, seed=1).split("test")
    report = evaluate(test, [example.answer for example in test], [0.01] * len(test), digits_bench, "digits")
    assert report.num_queries == len(test)
    assert report.exact_match == 1.0
    assert report.refusal_accuracy == 1.0
    assert report.accuracy_regret_worst_pp == 0.0


def test_cifar10_second_best_regret(bench_cifar10):
    test = build_corpus(bench_cifar10, "cifar10", num_queries=200, seed=2).split("test")
    feasible = [example for example in test if example.feasible]
    answers, expected_regrets = [], []
    for example in feasible:
        ranked = bench_cifar10.generate(**example.budgets, alpha=example.alpha, dataset="cifar10", k=2)
        chosen = ranked[-1]
        answers.append(chosen.architecture)
        expected_regrets.append(100 * (ranked[0].record.test_accuracy - chosen.record.test_accuracy))

    report = evaluate(feasible, answers, None, bench_cifar10, "cifar10")
    single = sum(len(bench_cifar10.generate(**e.budgets, alpha=e.alpha, dataset="cifar10", k=2)) == 1 for e in feasible)
    assert report.top_k_match == 1.0
    assert report.exact_match == pytest.approx(single / len(feasible))
    assert report.accuracy_regret_mean_pp == pytest.approx(sum(expected_regrets) / len(expected_regrets))
    assert report.score_regret_worst >= 0.0
