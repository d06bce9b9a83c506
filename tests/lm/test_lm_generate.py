"""``KANBench.generate(backend="lm")``: modes, checks, fallback, errors, model resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install 'kanbench[llm]')")

from kanbench import KANBench
from kanbench.errors import InfeasibleQueryError, LanguageModelAnswerError, ModelNotFoundError
from kanbench.generation.exact import ExactSolver
from kanbench.generation.language_model import ModelAnswer, ModelGenerator, _read_answer
from kanbench.lm.backend import Completion
from kanbench.lm.prompt import REFUSAL
from kanbench.lm.resolve import MODEL_ENV, resolve_model
from kanbench.query.table import MetricTable
from kanbench.space import SearchSpace

BUDGETS = {"max_params": 20_000, "max_flops": 1_000_000}


@pytest.fixture(scope="module")
def bench():
    with KANBench() as opened:
        yield opened


@pytest.mark.parametrize("mode", ["constrained", "constrained-greedy"])
def test_constrained_answer_is_feasible_and_in_table(bench, tiny_gguf, mode):
    exact = bench.generate(**BUDGETS, alpha=0.4)
    result = bench.generate(**BUDGETS, alpha=0.4, backend="lm", model=tiny_gguf, mode=mode)

    assert result.backend == "lm"
    assert result.model == str(tiny_gguf)
    assert result.model_answer == result.architecture
    assert result.checks == {"valid": True, "in_table": True, "within_budgets": True}
    assert result.fallback_reason is None
    assert result.record.num_params <= 20_000
    assert result.record.num_flops <= 1_000_000
    assert result.margins == {
        "max_params": 20_000 - result.record.num_params,
        "max_flops": 1_000_000 - result.record.num_flops,
    }
    assert result.num_feasible == exact.num_feasible
    assert result.score <= exact.score
    assert result.arch_id == bench.space().index(result.architecture)


def test_lm_score_matches_the_solver(bench, tiny_gguf):
    result = bench.generate(**BUDGETS, alpha=0.7, backend="lm", model=tiny_gguf)
    top = bench.generate(**BUDGETS, alpha=0.7, k=result.num_feasible)
    scores = {entry.arch_id: entry.score for entry in top}
    assert result.score == scores[result.arch_id]


def test_constrained_infeasible_raises_without_model_call(bench, tiny_gguf):
    with pytest.raises(InfeasibleQueryError, match="no architecture with task metrics on 'digits' satisfies max_params=10"):
        bench.generate(max_params=10, alpha=0.5, backend="lm", model=tiny_gguf)
    generator = bench.model_generator("digits", tiny_gguf)
    answer = generator.answer(0.5, {"max_params": 10})
    assert answer == ModelAnswer(REFUSAL, None)


def test_free_mode_answer_is_checked(bench, tiny_gguf):
    space = SearchSpace.for_dataset("digits")
    generator = bench.model_generator("digits", tiny_gguf)
    for alpha in (0.1, 0.5, 0.9):
        answer = generator.answer(alpha, BUDGETS, "free")
        if answer.text == REFUSAL:
            with pytest.raises(LanguageModelAnswerError, match="refused a query that has feasible architectures"):
                bench.generate(**BUDGETS, alpha=alpha, backend="lm", model=tiny_gguf, mode="free")
            continue
        result = bench.generate(**BUDGETS, alpha=alpha, backend="lm", model=tiny_gguf, mode="free")
        arch_id = space.index_of_canonical(answer.text)
        record = bench.query(arch_id)
        assert result.architecture == answer.text
        assert result.checks["in_table"] == (not math.isnan(record.test_accuracy))
        assert result.checks["within_budgets"] == (record.num_params <= 20_000 and record.num_flops <= 1_000_000)


def test_fallback_replaces_a_failed_answer(bench, tiny_gguf):
    """A budget no 2-block head meets forces the free-mode answer to fail or to be the feasible one."""
    exact = bench.generate(max_params=3_000, alpha=0.5)
    result = bench.generate(max_params=3_000, alpha=0.5, backend="lm", model=tiny_gguf, mode="free", fallback=True)
    if result.fallback_reason is None:
        assert result.backend == "lm"
        assert all(result.checks.values())
    else:
        assert result.backend == "exact"
        assert result.arch_id == exact.arch_id
        assert result.model_answer is not None
        assert result.model == str(tiny_gguf)


def test_unusable_answers():
    space = SearchSpace.for_dataset("digits")
    stopped = Completion("x", "stop", 3, 0.01)
    truncated = Completion("Conv2d(k=1,p=0) ->", "length", 96, 0.5)
    assert _read_answer(ModelAnswer(REFUSAL, stopped), space) == (
        "the model refused a query that has feasible architectures",
        None,
    )
    assert _read_answer(ModelAnswer(truncated.text, truncated), space)[0] == (
        "the model stopped before its end-of-sequence token (finish_reason 'length')"
    )
    assert _read_answer(ModelAnswer("Conv2d(k=1,p=0)", stopped), space)[0] == (
        "the answer is not a canonical architecture string of the dataset's space"
    )
    assert _read_answer(ModelAnswer(space.format_id(42), stopped), space) == (None, 42)


def test_lm_backend_argument_errors(bench, tiny_gguf):
    with pytest.raises(ValueError, match="k is not supported with backend='lm'"):
        bench.generate(max_params=1e6, backend="lm", model=tiny_gguf, k=3)
    with pytest.raises(ValueError, match="backend 'gpt' is unknown; use 'exact' or 'lm'"):
        bench.generate(max_params=1e6, backend="gpt")
    with pytest.raises(ValueError, match="mode 'greedy' is unknown; use one of constrained, constrained-greedy, free"):
        bench.generate(max_params=1e6, backend="lm", model=tiny_gguf, mode="greedy")


def test_generator_is_cached_per_model(bench, tiny_gguf):
    assert bench.model_generator("digits", tiny_gguf) is bench.model_generator("digits", str(tiny_gguf))


def test_candidates_are_the_feasible_entries(bench, tiny_gguf):
    generator = bench.model_generator("digits", tiny_gguf)
    table = MetricTable(bench.archive.dataset("digits"))
    solver = ExactSolver(table)
    feasible = solver.feasible_ids(BUDGETS)
    mask = (table.scalar("num_params") <= 20_000) & (table.scalar("num_flops") <= 1_000_000) & table.has_task_metrics()
    np.testing.assert_array_equal(feasible, np.flatnonzero(mask))
    strings = {table.space.format_id(int(i)) for i in feasible}
    assert generator.answer(0.5, BUDGETS).text in strings
    assert generator.answer(0.5, BUDGETS, "constrained-greedy").text in strings


def test_resolution_order(tmp_path, tiny_gguf, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert resolve_model(tiny_gguf, dataset="digits").source == "argument"

    monkeypatch.setenv(MODEL_ENV, str(tiny_gguf))
    resolved = resolve_model(dataset="digits")
    assert (resolved.path, resolved.source) == (tiny_gguf, "environment")

    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "gone.gguf"))
    with pytest.raises(FileNotFoundError, match=r"gone.gguf' from \$KANBENCH_LM_MODEL does not exist"):
        resolve_model(dataset="digits")

    with pytest.raises(FileNotFoundError, match="from the model argument does not exist"):
        resolve_model(tmp_path / "other.gguf", dataset="digits")


def test_no_model_for_dataset(monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(ModelNotFoundError, match="no language model for dataset 'cifar10'"):
        resolve_model(dataset="cifar10")


def test_epoch_time_budget_margin(bench, tiny_gguf):
    result = bench.generate(max_epoch_time=0.5, alpha=0.5, backend="lm", model=tiny_gguf)
    mean_epoch_time = bench.query(result.arch_id).mean_epoch_time_sec
    assert result.margins["max_epoch_time"] == pytest.approx(0.5 - mean_epoch_time, rel=1e-12)
    assert result.checks["within_budgets"]
