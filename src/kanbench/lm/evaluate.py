"""Metrics of a generator's answers against the exact solver on held-out queries.

Usage::

    >>> from kanbench import KANBench
    >>> from kanbench.lm.corpus import read_corpus
    >>> from kanbench.lm.evaluate import evaluate
    >>> bench = KANBench("cifar10.h5")
    >>> test = read_corpus("corpus/cifar10").split("test")
    >>> answers, latencies = my_generator(test)          # one text and one duration in seconds per query
    >>> report = evaluate(test, answers, latencies, bench, "cifar10")
    >>> report.exact_match, report.accuracy_regret_mean_pp, report.latency_p95_sec

An answer is stripped of leading and trailing whitespace and then read
strictly: it is either exactly :data:`~kanbench.lm.prompt.REFUSAL` or
exactly a canonical architecture string. No other spacing, arrow or letter
case counts as valid.

Architecture metrics are fractions of the feasible queries (those the
exact solver answers with an architecture), so a refusal or a garbled answer
to a feasible query lowers each of them:

* ``validity``: the answer is a canonical string valid for the dataset;
* ``in_table``: it also has task metrics in the archive;
* ``feasibility``: it is valid and within every budget (an unknown value
  never satisfies a budget);
* ``exact_match`` and ``top_k_match``: it is the solver's top-1, or among its
  top ``k`` (5 by default).

Regrets use the feasible answers that have task metrics: accuracy regret is
the solver's test accuracy minus the answer's, in percentage points, and
score regret is the solver's score minus the answer's, in score units (see
:mod:`kanbench.generation.exact`). Both can be negative, because the solver
maximises the score and not accuracy alone. Refusal metrics use the
infeasible queries, and false refusals the feasible ones.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kanbench.errors import InfeasibleQueryError, KANBenchError
from kanbench.generation.exact import ExactSolver
from kanbench.lm.corpus import CorpusExample
from kanbench.lm.prompt import REFUSAL, budget_metric
from kanbench.query.table import MetricTable

if TYPE_CHECKING:
    from kanbench.query.bench import KANBench

logger = logging.getLogger(__name__)

DEFAULT_TOP_K = 5


class CorpusMismatchError(KANBenchError, ValueError):
    """A corpus example's labelled answer differs from the exact solver on the given archive."""


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """How one answer fared. ``accuracy_regret_pp`` and ``score_regret`` are None where undefined."""

    id: str
    answer: str
    expected: str
    feasible_query: bool
    refused: bool
    valid: bool
    in_table: bool
    within_budgets: bool
    exact_match: bool
    top_k_match: bool
    accuracy_regret_pp: float | None
    score_regret: float | None
    latency_sec: float | None


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Aggregate metrics of one evaluation, with each rate None when its denominator is 0.

    Rates are fractions in [0, 1]. Accuracy regrets are in percentage points
    of test accuracy, score regrets in score units, latencies in seconds.
    """

    dataset: str
    top_k: int
    num_queries: int
    num_feasible_queries: int
    num_infeasible_queries: int
    validity: float | None
    in_table: float | None
    feasibility: float | None
    exact_match: float | None
    top_k_match: float | None
    num_regret_answers: int
    accuracy_regret_mean_pp: float | None
    accuracy_regret_worst_pp: float | None
    score_regret_mean: float | None
    score_regret_worst: float | None
    refusal_accuracy: float | None
    false_refusal_rate: float | None
    num_correct_refusals: int
    num_missed_refusals: int
    num_false_refusals: int
    latency_p50_sec: float | None
    latency_p95_sec: float | None
    outcomes: tuple[QueryOutcome, ...] = field(default=(), repr=False)

    def to_dict(self, *, include_outcomes: bool = False) -> dict[str, object]:
        """Return the metrics as a JSON-serialisable dict, with one dict per query if ``include_outcomes``."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "outcomes"}
        if include_outcomes:
            data["outcomes"] = [asdict(outcome) for outcome in self.outcomes]
        return data


def evaluate(
    examples: Sequence[CorpusExample],
    answers: Sequence[str],
    latencies: Sequence[float] | None,
    bench: KANBench,
    dataset: str,
    *,
    top_k: int = DEFAULT_TOP_K,
) -> EvaluationReport:
    """Score ``answers[i]`` as the answer to ``examples[i]`` against the exact solver on ``bench``.

    Args:
        examples: labelled queries, usually the test split of a corpus.
        answers: the generator's text for each example.
        latencies: seconds per answer, or None when not recorded.
        bench: the archive the corpus was built from.
        dataset: the dataset of every example.
        top_k: how many of the solver's best entries count for ``top_k_match``.

    Raises:
        ValueError: the lengths differ, an example is of another dataset,
            ``top_k`` < 1, or a latency is negative or not finite.
        CorpusMismatchError: the solver on ``bench`` gives another answer
            than an example's label, so the corpus was built from another
            archive or dataset content.
        UnknownDatasetError: ``dataset`` is not in the archive.
    """
    _check_inputs(examples, answers, latencies, dataset, top_k)
    table = MetricTable(bench.archive.dataset(dataset))
    solver = ExactSolver(table)
    judge = _Judge(table, solver, top_k)

    outcomes = []
    for position, (example, answer) in enumerate(zip(examples, answers)):
        latency = None if latencies is None else float(latencies[position])
        outcomes.append(judge.judge(example, answer, latency))
    report = _aggregate(dataset, top_k, outcomes)
    logger.info(
        "evaluated %d answers on %s: exact match %s, validity %s",
        report.num_queries,
        dataset,
        report.exact_match,
        report.validity,
    )
    return report


def evaluate_model(
    bench: KANBench,
    dataset: str,
    *,
    model: str | os.PathLike | None = None,
    corpus_dir: str | os.PathLike | None = None,
    num_queries: int | None = None,
    mode: str = "constrained",
    top_k: int = DEFAULT_TOP_K,
) -> EvaluationReport:
    """Answer a corpus's held-out test queries with a GGUF model and score the answers.

    Each latency covers the whole answer as ``generate(backend="lm")``
    computes it: finding the feasible candidates, building the grammar,
    reading the prompt and decoding. A truncated answer is scored as
    invalid.

    Args:
        bench: the archive the model was trained on.
        dataset: the dataset to evaluate on.
        model: the model file; resolved as ``generate`` does when None.
        corpus_dir: a corpus whose test split to use. When None, the corpus
            the model was trained on is rebuilt from the seed and size
            stored in the model file, which needs the same archive.
        num_queries: the first ``num_queries`` test examples; all when None.
        mode: ``"constrained"``, ``"constrained-greedy"`` or ``"free"``.
        top_k: how many of the solver's best entries count for ``top_k_match``.

    Raises:
        ValueError: no corpus is given and the model file does not record
            its corpus, or ``num_queries`` < 1.
        CorpusMismatchError: the corpus was built from another archive.
        ModelNotFoundError: no model file is found.
    """
    from tqdm.auto import tqdm

    generator = bench.model_generator(dataset, model)
    examples = _test_examples(bench, dataset, generator.model.metadata, corpus_dir)
    if num_queries is not None:
        if num_queries < 1:
            raise ValueError(f"num_queries {num_queries} is invalid; evaluate at least 1 query")
        examples = examples[:num_queries]

    answers, latencies = [], []
    for example in tqdm(examples, desc="evaluating", unit="query"):
        started = time.perf_counter()
        answer = generator.answer(example.alpha, example.budgets, mode)
        latencies.append(time.perf_counter() - started)
        truncated = answer.completion is not None and answer.completion.truncated
        answers.append(f"<truncated: {answer.text}>" if truncated else answer.text)
    return evaluate(examples, answers, latencies, bench, dataset, top_k=top_k)


def _test_examples(bench: KANBench, dataset: str, metadata: dict, corpus_dir) -> list[CorpusExample]:
    from kanbench.lm.corpus import build_corpus, read_corpus

    if corpus_dir is not None:
        return read_corpus(corpus_dir).split("test")
    seed, size = metadata.get("kanbench.corpus_seed"), metadata.get("kanbench.corpus_num_queries")
    if seed is None or size is None or metadata.get("kanbench.dataset") != dataset:
        raise ValueError(
            f"the model file does not record a training corpus for {dataset!r}; pass the corpus directory it was "
            "trained on (corpus_dir / --corpus) so that only held-out queries are used"
        )
    return build_corpus(bench, dataset, num_queries=int(size), seed=int(seed)).split("test")


class _Judge:
    """Compares one answer with the solver's ranking of its query."""

    def __init__(self, table: MetricTable, solver: ExactSolver, top_k: int):
        self.table = table
        self.solver = solver
        self.top_k = top_k
        self.has_metrics = table.has_task_metrics()
        self.accuracy = table.scalar("test_accuracy")

    def judge(self, example: CorpusExample, answer: str, latency: float | None) -> QueryOutcome:
        text = answer.strip() if isinstance(answer, str) else ""
        refused = text == REFUSAL
        arch_id = None if refused else self.table.space.index_of_canonical(text)
        valid = arch_id is not None
        in_table = valid and bool(self.has_metrics[arch_id])
        within = valid and self._within_budgets(arch_id, example.budgets)

        ranked = self._rank(example)
        ranked_ids = [entry[0] for entry in ranked]
        exact = valid and bool(ranked_ids) and arch_id == ranked_ids[0]
        top_k = valid and arch_id in ranked_ids

        accuracy_regret = score_regret = None
        if ranked and within and in_table:
            accuracy_regret = 100.0 * float(self.accuracy[ranked_ids[0]] - self.accuracy[arch_id])
            answer_score = self._score(arch_id, example.alpha)
            if answer_score is not None:
                score_regret = ranked[0][1] - answer_score

        return QueryOutcome(
            id=example.id,
            answer=answer if isinstance(answer, str) else repr(answer),
            expected=example.answer,
            feasible_query=bool(ranked),
            refused=refused,
            valid=valid,
            in_table=in_table,
            within_budgets=within,
            exact_match=exact,
            top_k_match=top_k,
            accuracy_regret_pp=accuracy_regret,
            score_regret=score_regret,
            latency_sec=latency,
        )

    def _rank(self, example: CorpusExample) -> list[tuple]:
        try:
            ranked, _num_feasible = self.solver.rank(example.budgets, example.alpha, self.top_k)
        except InfeasibleQueryError:
            ranked = []

        solver_answer = self.table.space.format_id(ranked[0][0]) if ranked else REFUSAL
        if solver_answer != example.answer:
            raise CorpusMismatchError(
                f"example {example.id!r} is labelled {example.answer!r}, but the exact solver on {self.table.name!r} "
                f"of this archive answers {solver_answer!r}; evaluate with the archive the corpus was built from "
                "(see content_sha256 in its manifest), or rebuild the corpus"
            )
        return ranked

    def _within_budgets(self, arch_id: int, budgets: dict[str, float]) -> bool:
        for keyword, limit in budgets.items():
            value = self.table.scalar(budget_metric(keyword))[arch_id]
            if not value <= limit:
                return False
        return True

    def _score(self, arch_id: int, alpha: float) -> float | None:
        position = int(np.searchsorted(self.solver.ids, arch_id))
        if position >= len(self.solver.ids) or self.solver.ids[position] != arch_id:
            return None
        return float(self.solver.scores(alpha)[position])


def _aggregate(dataset: str, top_k: int, outcomes: list[QueryOutcome]) -> EvaluationReport:
    feasible = [outcome for outcome in outcomes if outcome.feasible_query]
    infeasible = [outcome for outcome in outcomes if not outcome.feasible_query]
    accuracy_regrets = [o.accuracy_regret_pp for o in feasible if o.accuracy_regret_pp is not None]
    score_regrets = [o.score_regret for o in feasible if o.score_regret is not None]
    latencies = [o.latency_sec for o in outcomes if o.latency_sec is not None]

    num_correct_refusals = sum(outcome.refused for outcome in infeasible)
    num_false_refusals = sum(outcome.refused for outcome in feasible)
    return EvaluationReport(
        dataset=dataset,
        top_k=top_k,
        num_queries=len(outcomes),
        num_feasible_queries=len(feasible),
        num_infeasible_queries=len(infeasible),
        validity=_rate(sum(o.valid for o in feasible), len(feasible)),
        in_table=_rate(sum(o.in_table for o in feasible), len(feasible)),
        feasibility=_rate(sum(o.within_budgets for o in feasible), len(feasible)),
        exact_match=_rate(sum(o.exact_match for o in feasible), len(feasible)),
        top_k_match=_rate(sum(o.top_k_match for o in feasible), len(feasible)),
        num_regret_answers=len(accuracy_regrets),
        accuracy_regret_mean_pp=_mean(accuracy_regrets),
        accuracy_regret_worst_pp=max(accuracy_regrets) if accuracy_regrets else None,
        score_regret_mean=_mean(score_regrets),
        score_regret_worst=max(score_regrets) if score_regrets else None,
        refusal_accuracy=_rate(num_correct_refusals, len(infeasible)),
        false_refusal_rate=_rate(num_false_refusals, len(feasible)),
        num_correct_refusals=num_correct_refusals,
        num_missed_refusals=len(infeasible) - num_correct_refusals,
        num_false_refusals=num_false_refusals,
        latency_p50_sec=_percentile(latencies, 50),
        latency_p95_sec=_percentile(latencies, 95),
        outcomes=tuple(outcomes),
    )


def _check_inputs(examples, answers, latencies, dataset: str, top_k: int) -> None:
    if len(answers) != len(examples):
        raise ValueError(f"got {len(answers)} answers for {len(examples)} examples; pass one answer per example")
    if latencies is not None:
        if len(latencies) != len(examples):
            raise ValueError(
                f"got {len(latencies)} latencies for {len(examples)} examples; pass one duration per example, or None"
            )
        for position, latency in enumerate(latencies):
            if not math.isfinite(float(latency)) or float(latency) < 0:
                raise ValueError(
                    f"latency {latency!r} of example {examples[position].id!r} is invalid; record a finite "
                    "non-negative duration in seconds"
                )
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k {top_k!r} is invalid; count at least the solver's best entry (top_k >= 1)")
    for example in examples:
        if example.dataset != dataset:
            raise ValueError(
                f"example {example.id!r} is a {example.dataset!r} query, not {dataset!r}; evaluate each dataset "
                "separately"
            )


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _percentile(values: list[float], percent: float) -> float | None:
    """Linear-interpolation percentile (numpy's default method), or None without values."""
    return float(np.percentile(values, percent)) if values else None
