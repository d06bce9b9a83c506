"""The language-model backend of ``KANBench.generate``: a GGUF model answers, the table checks.

Usage::

    >>> from kanbench import KANBench
    >>> bench = KANBench()
    >>> result = bench.generate(max_params=20000, alpha=0.5, backend="lm")
    >>> result.backend, result.model, result.checks

Three modes:

* ``constrained`` (the default): the model chooses among the feasible
  architectures with task metrics only, by likelihood: the candidate whose
  tokens have the highest total log-probability after the prompt (see
  :meth:`kanbench.lm.backend.LlamaCppModel.rank`). Its answer is valid, in
  the table and within budget by construction.
* ``constrained-greedy``: the same candidates, decoded greedily under a
  grammar that accepts exactly them. At each branch it takes the single
  most likely next token, so the total probability of the answer need not
  be the highest.
* ``free``: the model decodes under the grammar of the whole search space
  plus the refusal, so its answer is always a valid architecture or
  ``NO_FEASIBLE_ARCHITECTURE``; whether it is in the table and within budget
  is checked afterwards.

:func:`generate_with_model` runs the exact solver first, so a query that no
entry with task metrics satisfies raises
:class:`~kanbench.errors.InfeasibleQueryError` in every mode without a model
call. :meth:`ModelGenerator.answer`, which the evaluation uses, returns the
refusal for such a query in the constrained modes and asks the model in
free mode. An answer that fails a check is returned with the failed check
in ``checks``, or replaced by the exact solver's answer when
``fallback=True``. A truncated or unparseable answer, or a refusal of a
feasible query, raises :class:`~kanbench.errors.LanguageModelAnswerError`
unless ``fallback=True``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from kanbench.errors import LanguageModelAnswerError
from kanbench.generation.exact import ExactSolver, GenerationResult
from kanbench.lm.backend import Completion, LlamaCppModel
from kanbench.lm.grammar import architecture_grammar, candidates_grammar
from kanbench.lm.prompt import REFUSAL, budget_metric, format_prompt
from kanbench.query.table import MetricTable

logger = logging.getLogger(__name__)

MODES = ("constrained", "constrained-greedy", "free")


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """The model's output for one query. ``completion`` is None when the model was not called."""

    text: str
    completion: Completion | None


class ModelGenerator:
    """Generator of language-model answers to the budget queries of one dataset, in any of the :data:`MODES`.

    Args:
        model: a loaded model.
        table: the dataset's metric table.
        solver: the dataset's exact solver (defines the feasible candidates).
    """

    def __init__(self, model: LlamaCppModel, table: MetricTable, solver: ExactSolver):
        self.model = model
        self.table = table
        self.solver = solver
        self._strings = np.array([table.space.format_id(int(arch_id)) for arch_id in solver.ids], dtype=object)
        self._free_grammar = architecture_grammar(table.name, allow_refusal=True)

    def answer(self, alpha: float, budgets: dict[str, float | None], mode: str = "constrained") -> ModelAnswer:
        """Return the model's answer text for one query.

        In constrained mode with no feasible candidate the answer is the
        refusal and the model is not called.

        Raises:
            ValueError: ``mode`` is unknown, alpha or a budget is invalid.
        """
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is unknown; use one of {', '.join(MODES)}")
        limits = {keyword: limit for keyword, limit in budgets.items() if limit is not None}
        prompt = format_prompt(self.table.name, alpha, limits)

        if mode == "free":
            return ModelAnswer(*self._complete(prompt, self._free_grammar))

        feasible = self.solver.feasible_mask(limits)
        if not feasible.any():
            return ModelAnswer(REFUSAL, None)
        candidates = self._strings[feasible].tolist()
        if mode == "constrained":
            completion = self.model.rank(prompt, candidates)
            return ModelAnswer(completion.text, completion)
        return ModelAnswer(*self._complete(prompt, candidates_grammar(candidates)))

    def _complete(self, prompt: str, grammar_text: str) -> tuple[str, Completion]:
        completion = self.model.complete(prompt, grammar_text)
        return completion.text, completion


def generate_with_model(
    generator: ModelGenerator,
    exact_result,
    budgets: dict[str, float | None],
    alpha: float,
    *,
    mode: str,
    fallback: bool,
    record_for,
) -> GenerationResult:
    """Answer one query with the model and check the answer against the table.

    Args:
        generator: the dataset's model generator.
        exact_result: a callable returning the exact solver's
            :class:`GenerationResult` (raises ``InfeasibleQueryError`` when
            nothing is feasible).
        budgets: ``KANBench.generate``'s budget keywords to limits.
        alpha: weight of accuracy in the score.
        mode: ``"constrained"`` or ``"free"``.
        fallback: return the exact solver's answer when the model's fails a check.
        record_for: a callable from arch_id to the entry's seed-mean record.

    Raises:
        InfeasibleQueryError: no entry with task metrics is feasible.
        LanguageModelAnswerError: the answer is unusable and ``fallback`` is False.
    """
    reference = exact_result()
    answer = generator.answer(alpha, budgets, mode)
    model_path = str(generator.model.path)

    problem, arch_id = _read_answer(answer, generator.table.space)
    if problem is not None:
        if fallback:
            logger.info("model answer %r rejected (%s); using the exact solver", answer.text, problem)
            return replace(reference, model=model_path, model_answer=answer.text, fallback_reason=problem)
        raise LanguageModelAnswerError(
            f"the model's answer {answer.text!r} cannot be used: {problem}; pass fallback=True to get the exact "
            "solver's answer instead",
            answer=answer.text,
            reason=problem,
        )

    record = record_for(arch_id)
    table = generator.table
    margins = {
        keyword: float(limit - table.scalar(budget_metric(keyword))[arch_id]) for keyword, limit in reference.budgets.items()
    }
    checks = {
        "valid": True,
        "in_table": bool(not math.isnan(record.test_accuracy)),
        "within_budgets": all(margin >= 0 for margin in margins.values()),
    }
    result = replace(
        reference,
        architecture=answer.text,
        arch_id=arch_id,
        score=generator.solver.score_of(arch_id, alpha),
        margins=margins,
        record=record,
        backend="lm",
        model=model_path,
        model_answer=answer.text,
        checks=checks,
    )
    failed = [name for name, passed in checks.items() if not passed]
    if failed and fallback:
        reason = f"the answer failed the check(s) {', '.join(failed)}"
        logger.info("model answer %r rejected (%s); using the exact solver", answer.text, reason)
        return replace(reference, model=model_path, model_answer=answer.text, checks=checks, fallback_reason=reason)
    return result


def _read_answer(answer: ModelAnswer, space) -> tuple[str | None, int | None]:
    """Why the answer is unusable (or None), and its arch_id when usable."""
    if answer.completion is not None and answer.completion.truncated:
        return f"the model stopped before its end-of-sequence token (finish_reason {answer.completion.finish_reason!r})", None
    if answer.text == REFUSAL:
        return "the model refused a query that has feasible architectures", None
    arch_id = space.index_of_canonical(answer.text)
    if arch_id is None:
        return "the answer is not a canonical architecture string of the dataset's space", None
    return None, arch_id
